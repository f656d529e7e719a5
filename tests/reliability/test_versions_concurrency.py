"""Versions across processes: a second process sees the versions a first one made, and one
process inserting while another reverts loses nothing and corrupts nothing. SQLite file and
PostgreSQL."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

import reverie as rv
from reverie.catalog.catalog import Catalog
from tests.reliability._udfs import twice
from tests.reliability._util import PYTHON, ROOT, child_env, integrity, spawn

SECONDS = 4.0

WRITER = r"""
import reverie as rv
t = rv.get_table('vc/t')
t.insert([{'a': 10}, {'a': 20}], print_stats=False)
t.update({'a': 11}, where=t.a == 10)
t.add_column(note=rv.String | None)
"""

READER = r"""
import json
import reverie as rv
t = rv.get_table('vc/t')
print(json.dumps({
    'kinds': [v['kind'] for v in t.get_versions()],
    'at_1': sorted(rv.get_table('vc/t:1').collect()['a']),
    'now': sorted(t.collect()['a']),
    'columns': t.columns(),
}))
"""

INSERTER = r"""
import sys, time
import reverie as rv
t = rv.get_table('vc/t')
log = open(sys.argv[1], 'a')
end = time.monotonic() + float(sys.argv[2])
i = 0
while time.monotonic() < end:
    i += 1
    t.insert([{'a': i}], print_stats=False)
    log.write(f'{i}\n')
    log.flush()
print('INSERTS', i)
"""

REVERTER = r"""
import contextlib, io, re, sys, time
import reverie as rv
t = rv.get_table('vc/t')
end = time.monotonic() + float(sys.argv[1])
kinds, refused = [], 0
while time.monotonic() < end:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            t.revert()
    except rv.InvalidValueError as e:
        assert 'snapshot' in str(e), str(e)  # the only refusal: the pin at version 1
        refused += 1
    else:
        kinds.append(re.search(r'Reverted version \d+ \((\w+)\)', out.getvalue()).group(1))
    time.sleep(0.02)
print('REVERTED', ' '.join(kinds) or '-', 'REFUSED', refused)
"""


def _env(catalog: Catalog, tmp_path: Path) -> dict[str, str]:
    return child_env(
        tmp_path / 'home',
        REVERIE_DB_URL=catalog.store.engine.url.render_as_string(hide_password=False),
        REVERIE_MEDIA_DIR=str(catalog.media.root),
    )


def _run(script: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [PYTHON, str(script)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_a_second_process_sees_the_versions_of_the_first(catalog: Catalog, tmp_path: Path) -> None:
    rv.create_dir('vc')
    t = rv.create_table('vc/t', {'a': rv.Int})
    env = _env(catalog, tmp_path)
    writer, reader = tmp_path / 'writer.py', tmp_path / 'reader.py'
    writer.write_text(WRITER)
    reader.write_text(READER)
    _run(writer, env)
    # This process, with its handle made before, sees the other's versions.
    assert [v['kind'] for v in t.get_versions()] == ['add_column', 'update', 'insert', 'create']
    assert t.columns() == ['a', 'note']
    assert sorted(rv.get_table('vc/t:1').collect()['a']) == [10, 20]
    assert sorted(t.collect()['a']) == [11, 20]
    t.revert()
    t.revert()  # the update: 10 is back
    seen = json.loads(_run(reader, env))
    assert seen == {
        'kinds': ['insert', 'create'],
        'at_1': [10, 20],
        'now': [10, 20],
        'columns': ['a'],
    }


@pytest.mark.slow
def test_inserting_and_reverting_at_once_lose_and_corrupt_nothing(
    catalog: Catalog, tmp_path: Path
) -> None:
    rv.create_dir('vc')
    t = rv.create_table('vc/t', {'a': rv.Int})
    t.add_computed_column(c=twice(t.a), print_stats=False)  # version 1
    rv.create_snapshot('vc/pin', t)  # reverts stop at version 1
    env = _env(catalog, tmp_path)
    inserter, reverter = tmp_path / 'inserter.py', tmp_path / 'reverter.py'
    inserter.write_text(INSERTER)
    reverter.write_text(REVERTER)
    log = tmp_path / 'inserted.txt'

    procs = [
        spawn(env, str(inserter), str(log), str(SECONDS)),
        spawn(env, str(reverter), str(SECONDS)),
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    words = outs[1][0].split()
    reverted = [] if words[1] == '-' else words[1 : words.index('REFUSED')]
    inserted = [int(line) for line in log.read_text().split()]
    assert set(reverted) <= {'insert'}, reverted
    assert inserted and reverted, 'the two processes did not overlap'

    if catalog.store.is_sqlite:
        db = Path(catalog.store.engine.url.database or '')
        assert integrity(db) == 'ok'
    present = sorted(t.collect()['a'])
    assert len(present) == len(set(present)), 'a row is there twice'
    assert set(present) <= set(inserted), 'a row nobody inserted'
    assert len(present) == len(inserted) - len(reverted), 'rows lost or reverted twice'
    assert all(r['c'] == 2 * r['a'] for r in t.select(t.a, t.c).collect())

    versions = t.get_versions()
    latest = versions[0]['version']
    assert [v['version'] for v in versions] == list(range(latest, -1, -1))
    inserts = [v for v in versions if v['kind'] == 'insert']
    assert [v['kind'] for v in versions[len(inserts) :]] == ['add_column', 'create']
    assert all((v['inserted'], v['computed']) == (1, 1) for v in inserts)
    assert latest == len(present) + 1
    assert sorted(rv.get_table(f'vc/t:{latest}').collect()['a']) == present
    table_id = catalog.table_id('vc/t')
    with catalog.store.read() as conn:
        row_versions = conn.execute(sa.text(f'SELECT _v FROM rvt_{table_id}')).scalars().all()
        rowids = conn.execute(sa.text(f'SELECT _rowid FROM rvt_{table_id}')).scalars().all()
        late = conn.execute(
            sa.text(f'SELECT count(*) FROM rvh_{table_id} WHERE _v_end > :v'), {'v': latest}
        ).scalar()
    assert sorted(row_versions) == sorted(v['version'] for v in inserts)
    assert len(rowids) == len(set(rowids))
    assert late == 0
    print(
        f'RELIABILITY versions {catalog.store.engine.dialect.name}: inserts={len(inserted)} '
        f'reverted={len(reverted)} refused={words[-1]} rows={len(present)}'
    )
