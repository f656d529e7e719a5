"""Provider tests: no real provider settings, and one attempt through a provider.

Each provider's stand-in on loopback, with reverie pointed at it (``openai_server``,
``gemini_server``, ``bfl_server``), is a fixture of ``tests/conftest.py``: the paid-call
tests use them too.
"""

from __future__ import annotations

import asyncio
import io
import os

import PIL.Image
import pytest

from reverie.config import Config
from reverie.functions.images.calls import check_request
from reverie.functions.images.provider import ImageAnswer, ImageRequest
from reverie.functions.images.registry import get_provider

_PROVIDER_VARS = ('OPENAI_', 'GEMINI_', 'GOOGLE_API_KEY', 'BFL_')


@pytest.fixture(autouse=True)
def no_provider_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real provider key or URL from the environment reaches these tests."""
    for key in list(os.environ):
        if key.startswith(_PROVIDER_VARS):
            monkeypatch.delenv(key)


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
