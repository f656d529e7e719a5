"""Invariant 3: an API key never reaches the database, media, files under REVERIE_HOME, logs
(DEBUG), reprs, tracebacks or error messages, through a successful call, a 401 and a 500."""

from __future__ import annotations

import asyncio
import base64
import importlib
import logging
import traceback
from pathlib import Path

import pytest

import reverie as rv
from reverie.catalog.catalog import Catalog
from reverie.config import Config
from reverie.exec import pools
from reverie.functions import reve
from reverie.functions.reve.client import ReveClient
from reverie.reve_server import ServerOptions, serve_in_thread

# The module, not the package's provider() function of the same name.
reve_provider = importlib.import_module('reverie.functions.reve.provider')

KEY = 'papi.ZqX7secretKEYw9vB3nLr5tY8uI2oP4aS6dF1gH0jK'


def _needles() -> list[bytes]:
    distinctive = KEY.split('.', 1)[1]
    raw = [KEY, distinctive, distinctive[:12], distinctive[-12:]]
    out = [s.encode() for s in raw]
    out += [base64.b64encode(KEY.encode()), s_utf16 := KEY.encode('utf-16-le')]
    del s_utf16
    return out


def _leaks(blob: bytes) -> list[bytes]:
    return [n for n in _needles() if n in blob]


@pytest.mark.slow
def test_api_key_never_leaks(
    catalog: Catalog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(pools, 'BASE_BACKOFF', 0.01)  # speed only; retries still happen
    monkeypatch.setenv('REVE_API_KEY', KEY)
    texts: list[str] = []
    home = Path(Config.load().home)
    with serve_in_thread(ServerOptions(megapixels=0.01, api_keys={KEY})) as ok_server:
        monkeypatch.setenv('REVE_API_URL', ok_server.url)
        t = rv.create_table('secrets', {'prompt': rv.String})
        t.insert([{'prompt': 'a quiet lake'}, {'prompt': 'a loud city'}])
        t.add_computed_column(img=reve.create(t.prompt, aspect_ratio='1:1'))
        assert t.where(t.img != None).count() == 2  # noqa: E711
        texts += [repr(c) for c in reve_provider._clients.values()]
    with serve_in_thread(ServerOptions(megapixels=0.01, api_keys={'papi.someone-else'})) as bad_key:
        monkeypatch.setenv('REVE_API_URL', bad_key.url)
        t2 = rv.create_table('secrets401', {'prompt': rv.String})
        t2.insert([{'prompt': 'x'}])
        try:
            t2.add_computed_column(img=reve.create(t2.prompt))  # on_error='abort' -> raises
        except rv.Error as e:
            texts += [str(e), repr(e), ''.join(traceback.format_exception(e))]
        else:
            pytest.fail('a 401 did not raise with on_error=abort')
        assert 'img' not in t2.columns()  # no cell computed: the column is not left behind
        t2.add_computed_column(img=reve.create(t2.prompt), on_error='ignore')
        texts += [str(r) for r in t2.select(t2.img.errortype, t2.img.errormsg).collect().raw_rows()]
    with serve_in_thread(ServerOptions(megapixels=0.01, fail_500_rate=1.0)) as failing:
        monkeypatch.setenv('REVE_API_URL', failing.url)
        t3 = rv.create_table('secrets500', {'prompt': rv.String})
        t3.insert([{'prompt': 'y'}])
        t3.add_computed_column(img=reve.create(t3.prompt), on_error='ignore')
        texts += [str(r) for r in t3.select(t3.img.errortype, t3.img.errormsg).collect().raw_rows()]

        async def direct() -> None:
            client = ReveClient(KEY, failing.url)
            texts.append(repr(client))
            try:
                await client.create('z')
            except Exception as e:
                texts.extend(
                    [str(e), repr(e), ''.join(traceback.format_exception(e)), repr(e.__dict__)]
                )
            finally:
                await client.aclose()

        asyncio.run(direct())
    texts += [
        repr(Config.load()),
        repr(Config.load().reve),
        repr(t),
        repr(catalog),
        t._repr_html_(),
    ]
    texts += [rec.getMessage() + repr(rec.args) for rec in caplog.records]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]

    leaks = [i for i, s in enumerate(texts) if _leaks(s.encode())]
    assert leaks == [], [texts[i][:300] for i in leaks]
    files = [p for root in (home, tmp_path) for p in root.rglob('*') if p.is_file()]
    catalog.store.dispose()  # flush SQLite WAL into the main file as well
    leaked_files = [p for p in files if p.exists() and _leaks(p.read_bytes())]
    assert leaked_files == []
    if catalog.store.engine.dialect.name == 'postgresql':
        import sqlalchemy as sa

        with catalog.store.read() as conn:
            tables = (
                conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))
                .scalars()
                .all()
            )
            dump = ''.join(
                str(conn.execute(sa.text(f'SELECT * FROM "{tb}"')).all()) for tb in tables
            )
        assert not _leaks(dump.encode())
    assert len(caplog.records) > 0, 'DEBUG logging captured nothing; the log check proves nothing'
    print(
        f'RELIABILITY secrets {catalog.store.engine.dialect.name}: texts_checked={len(texts)} '
        f'files_checked={len(files)} log_records={len(caplog.records)} leaks=0'
    )
