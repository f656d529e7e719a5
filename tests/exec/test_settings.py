"""Settings reach the calls from the open catalog: its own home, never another's."""

from __future__ import annotations

import os

import pytest

import reverie as rv
from reverie.functions import images
from tests.functions.providers.openai_server import OpenAIStandIn


@pytest.fixture(autouse=True)
def no_provider_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(('OPENAI_', 'GEMINI_', 'GOOGLE_API_KEY', 'BFL_')):
            monkeypatch.delenv(key)


def _config(home, url: str, key: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / 'config.toml').write_text(f'[openai]\napi_key = "{key}"\nbase_url = "{url}/v1"\n')


def test_settings_of_rv_init_home_reach_the_calls(tmp_path, monkeypatch):
    with OpenAIStandIn() as server, OpenAIStandIn() as wrong_server:
        # The process-wide default home points at another server with another key.
        default_home = tmp_path / 'default-home'
        _config(default_home, wrong_server.url, 'sk-wrong')
        monkeypatch.setenv('REVERIE_HOME', str(default_home))
        mine = tmp_path / 'my-home'
        _config(mine, server.url, server.key)
        cat = rv.init({'home': str(mine)})
        try:
            t = rv.create_table('scenes', {'prompt': rv.String})
            t.insert([{'prompt': 'a fox'}, {'prompt': 'a heron'}], print_stats=False)
            t.add_computed_column(
                img=images.create(t.prompt, model='openai/gpt-image-2'), print_stats=False
            )
            assert all(img is not None for img in t.collect()['img'])
        finally:
            cat.close()
        assert len(server.paid_calls()) == 2
        assert wrong_server.calls == []


def test_a_key_set_after_opening_the_catalog_is_used(catalog, monkeypatch):
    with OpenAIStandIn() as server:
        t = rv.create_table('late', {'prompt': rv.String})
        monkeypatch.setenv('OPENAI_API_KEY', server.key)  # a notebook sets it late
        monkeypatch.setenv('OPENAI_BASE_URL', f'{server.url}/v1')
        t.insert([{'prompt': 'a cat'}], print_stats=False)
        t.add_computed_column(
            img=images.create(t.prompt, model='openai/gpt-image-2'), print_stats=False
        )
        assert t.collect()['img'][0] is not None
        assert len(server.paid_calls()) == 1
