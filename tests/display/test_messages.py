"""Short messages a user reads: renames, a missing key, config typos, row numbers, retries."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

import reverie as rv
from reverie.errors import ServiceError
from reverie.exec.pools import Pool
from reverie.functions import reve


def test_rename_column_prints_a_line(catalog, capsys):
    t = rv.create_table('scenes', {'prompt': rv.String})
    capsys.readouterr()
    t.rename_column('prompt', 'caption')
    assert capsys.readouterr().out == "Renamed column 'prompt' to 'caption' in table 'scenes'.\n"


def test_missing_api_key_names_the_real_home_and_ends_once(catalog):
    home = Path(os.environ['REVERIE_HOME'])
    t = rv.create_table('scenes', {'prompt': rv.String})
    t.insert(prompt='a fox', print_stats=False)
    with pytest.raises(rv.Error) as exc:
        t.add_computed_column(image=reve.create(t.prompt), print_stats=False)
    message = str(exc.value)
    assert f'[reve] api_key in {home / "config.toml"}. ' in message
    assert '~/.reverie' not in message
    assert '..' not in message


@pytest.mark.parametrize(
    ('toml', 'named'),
    [
        pytest.param('[reve]\napi_kye = "papi.x"\n', "unknown key 'api_kye' in [reve]", id='key'),
        pytest.param('[database]\nurl = "sqlite://"\n', 'unknown section [database]', id='section'),
        pytest.param('progress = true\n', 'unknown section [progress]', id='top-level'),
    ],
)
def test_unknown_config_keys_are_named(toml, named):
    home = Path(os.environ['REVERIE_HOME'])
    home.mkdir(parents=True, exist_ok=True)
    (home / 'config.toml').write_text(toml)
    with pytest.raises(rv.InvalidValueError, match='known') as exc:
        rv.init()
    assert named in str(exc.value)
    assert str(home / 'config.toml') in str(exc.value)


def test_known_config_keys_still_load():
    home = Path(os.environ['REVERIE_HOME'])
    home.mkdir(parents=True, exist_ok=True)
    (home / 'config.toml').write_text(
        '[db]\nurl = "sqlite:///' + str(home / 'x.db') + '"\n[display]\nprogress = false\n'
        '[reve]\nbase_url = "http://127.0.0.1:1"\nmax_concurrency = 2\ntimeout = 5\n'
    )
    rv.init().close()


@rv.udf
def fails_on_two(n: int) -> int:
    if n == 2:
        raise ValueError('two is bad')
    return n


def test_insert_and_compute_errors_count_rows_the_same_way(catalog):
    t = rv.create_table('rows', {'n': rv.Int})
    # an insert error names the row by its position in the list given to insert()
    with pytest.raises(rv.InvalidValueError, match=r'row 1\)'):
        t.insert([{'n': 1}, {'n': 'two'}], print_stats=False)
    # a compute error during an insert names the same position
    t.add_computed_column(m=fails_on_two(t.n), print_stats=False)
    with pytest.raises(
        rv.Error, match=r'failed for row 1: ValueError: two is bad\. The 2 inserted rows were kept'
    ):
        t.insert([{'n': 1}, {'n': 2}], print_stats=False)
    # over existing rows: the position in the table, as t.collect() lists them
    t2 = rv.create_table('rows2', {'n': rv.Int})
    t2.insert([{'n': 1}, {'n': 2}, {'n': 3}], print_stats=False)
    with pytest.raises(rv.Error, match=r'failed for row 1: '):
        t2.add_computed_column(m=fails_on_two(t2.n), print_stats=False)
    assert t2.collect()[1]['n'] == 2


def test_persistent_500s_get_a_word_while_retrying(caplog):
    calls = 0

    async def always_500() -> None:
        nonlocal calls
        calls += 1
        raise ServiceError('boom', status=500, retryable=True, retry_after=0)

    pool = Pool('reve', max_retries=3)
    with caplog.at_level(logging.WARNING, logger='reverie'), pytest.raises(ServiceError):
        asyncio.run(pool.run(always_500))
    assert calls == 4
    notes = [r.getMessage() for r in caplog.records if r.name == 'reverie']
    assert len(notes) == 1  # once, not per attempt
    assert notes[0].startswith('reve: the service answered 500 2 times in a row; retrying')
