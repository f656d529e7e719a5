"""Fixtures: each provider's stand-in on loopback, with reverie pointed at it."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator

import PIL.Image
import pytest

from reverie.config import Config
from reverie.functions.images.calls import check_request
from reverie.functions.images.provider import ImageAnswer, ImageRequest
from reverie.functions.images.registry import get_provider
from tests.functions.providers.bfl_server import BFLStandIn
from tests.functions.providers.gemini_server import GeminiStandIn
from tests.functions.providers.openai_server import OpenAIStandIn

_PROVIDER_VARS = ('OPENAI_', 'GEMINI_', 'GOOGLE_API_KEY', 'BFL_')


@pytest.fixture(autouse=True)
def no_provider_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real provider key or URL from the environment reaches these tests."""
    for key in list(os.environ):
        if key.startswith(_PROVIDER_VARS):
            monkeypatch.delenv(key)


@pytest.fixture
def openai_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStandIn]:
    with OpenAIStandIn() as server:
        monkeypatch.setenv('OPENAI_API_KEY', server.key)
        monkeypatch.setenv('OPENAI_BASE_URL', f'{server.url}/v1')
        yield server


@pytest.fixture
def gemini_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as server:
        monkeypatch.setenv('GEMINI_API_KEY', server.key)
        monkeypatch.setenv('GEMINI_BASE_URL', server.url)
        yield server


@pytest.fixture
def bfl_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[BFLStandIn]:
    with BFLStandIn() as server:
        monkeypatch.setenv('BFL_API_KEY', server.key)
        monkeypatch.setenv('BFL_API_URL', server.url)
        yield server


def send(provider: str, request: ImageRequest) -> ImageAnswer:
    """One attempt through the provider, as the engine makes it."""
    impl = get_provider(provider)
    check_request(impl, request)

    async def run() -> ImageAnswer:
        return await impl.send(request, Config.load())

    return asyncio.run(run())


def png_bytes(width: int = 40, height: int = 30, color: str = 'red') -> bytes:
    buf = io.BytesIO()
    PIL.Image.new('RGB', (width, height), color).save(buf, format='PNG')
    return buf.getvalue()


def size_of(data: bytes) -> tuple[int, int]:
    with PIL.Image.open(io.BytesIO(data)) as img:
        return img.size
