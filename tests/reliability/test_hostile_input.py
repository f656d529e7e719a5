"""Invariant 2: hostile input either gets a clear ``rv.Error`` and changes nothing, or is
stored and round-trips exactly. Names that could inject SQL are refused; values are bound
and round-trip verbatim; media references can never leave the media root."""

from __future__ import annotations

import contextlib
import io
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import PIL.Image
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reverie as rv
from reverie.catalog.catalog import Catalog

COUNTS: dict[str, int] = {}

SCHEMA = {
    's': rv.String | None,
    'i': rv.Int | None,
    'f': rv.Float | None,
    'j': rv.Json | None,
    'img': rv.Image | None,
}
HSETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

INJECTIONS = [
    "'; DROP TABLE rv_tables; --",
    'x" OR "1"="1',
    "Robert'); DELETE FROM rv_columns; --",
    '1; UPDATE rv_tables SET path = NULL',
    '%s %(x)s :name ? $1',
]


def _count(kind: str) -> None:
    COUNTS[kind] = COUNTS.get(kind, 0) + 1


def _snapshot(t: rv.Table) -> list[tuple[Any, ...]]:
    rows = t.select(s=t.s, i=t.i, f=t.f, j=t.j, img=t.img.fileurl).collect()
    return [tuple(repr(v) for v in r.values()) for r in rows]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b  # exact: int == float compares the exact values
    return type(a) is type(b) and a == b


def _png(w: int = 4, h: int = 3) -> bytes:
    buf = io.BytesIO()
    PIL.Image.new('RGB', (w, h), (10, 20, 30)).save(buf, format='PNG')
    return buf.getvalue()


def _bomb_png(w: int = 100_000, h: int = 100_000) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
        )

    ihdr = struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)
    return (
        b'\x89PNG\r\n\x1a\n'
        + chunk(b'IHDR', ihdr)
        + chunk(b'IDAT', zlib.compress(b'\0' * 64))
        + chunk(b'IEND', b'')
    )


@pytest.fixture
def table(catalog: Catalog) -> rv.Table:
    t = rv.create_table('hostile', SCHEMA)
    t.insert([{'s': 'base', 'i': 1, 'f': 1.5, 'j': {'k': [1, 2]}, 'img': _png()}])
    return t


def _try_insert(t: rv.Table, row: dict[str, Any]) -> None:
    """Insert one hostile row: rv.Error and nothing changed, or stored exactly."""
    before = _snapshot(t)
    try:
        t.insert([row], print_stats=False)
    except rv.Error as e:
        assert str(e), 'an error without a message'
        assert _snapshot(t) == before, f'a refused insert changed the table: {row!r}'
        _count('refused')
        return
    _count('stored')
    ((col, value),) = row.items()
    after = _snapshot(t)
    assert len(after) == len(before) + 1
    got = t.select(v=t[col]).order_by(t.i).collect()  # the new row has i NULL
    stored = [r['v'] for r in got]
    assert any(_same(value, s) for s in stored), (
        f'{col}: {value!r} stored as something else: {stored!r}'
    )
    t.delete(t.i == None if col == 's' else t.s == None)  # noqa: E711
    assert _snapshot(t) == before


any_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**70),
    st.integers(min_value=-(2**70), max_value=-(2**63) + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet=st.sampled_from(['\x00', "'", '"', ';', '\u202e', '\ud7ff', '😀', '\\', '%'])),
    st.binary(max_size=64),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sampled_from(INJECTIONS),
)


@given(col=st.sampled_from(['s', 'i', 'f', 'j']), value=any_value)
@HSETTINGS
def test_hypothesis_insert_values(table: rv.Table, col: str, value: Any) -> None:
    _count('hypothesis_insert')
    _try_insert(table, {col: value})


@given(value=any_value)
@HSETTINGS
def test_hypothesis_update_and_query_values(table: rv.Table, value: Any) -> None:
    _count('hypothesis_update_query')
    for col in ('s', 'i', 'f', 'j'):
        before = _snapshot(table)
        with contextlib.suppress(rv.Error):
            table.where(table[col] == value).count()
        assert _snapshot(table) == before
        try:
            table.update({col: value}, where=table.s == 'base')
        except rv.Error:
            assert _snapshot(table) == before, (
                f'a refused update changed the table: {col}={value!r}'
            )
            continue
        got = (
            table.select(v=table[col]).where(table.s == ('base' if col != 's' else value)).collect()
        )
        if col == 's':
            assert [r['v'] for r in got] == [value]
            table.update({'s': 'base'}, where=table.s == value)
        else:
            assert len(got) == 1 and _same(value, got[0]['v']), (col, value, got)


@given(
    name=st.one_of(
        st.text(max_size=20),
        st.sampled_from([*INJECTIONS, 'a\x00b', 'ü', 'rv_tables', '_rowid', 'a' * 64]),
    )
)
@HSETTINGS
def test_hypothesis_names(catalog: Catalog, name: str) -> None:
    _count('hypothesis_names')
    tables_before = sorted(rv.list_tables())
    try:
        t = rv.create_table(name, {'x': rv.Int})
    except rv.Error:
        assert sorted(rv.list_tables()) == tables_before
    else:
        assert rv.get_table(name).count() == 0
        rv.drop_table(name)
    t = rv.create_table('names_probe', {'x': rv.Int}, if_exists='replace')
    try:
        t.add_column(**{name: rv.String | None})
    except rv.Error:
        assert t.columns() == ['x']
    else:
        t.insert([{'x': 1, name: "v'; --"}], print_stats=False)
        assert t.select(v=t[name]).collect()[0]['v'] == "v'; --"
    # Injection strings as names are always refused (not a valid identifier).
    if name in INJECTIONS:
        assert t.columns() == ['x']


def test_injection_values_round_trip(table: rv.Table) -> None:
    for s in INJECTIONS:
        table.insert([{'s': s, 'j': {s: [s]}}], print_stats=False)
        _count('explicit')
    got = table.select(s=table.s, j=table.j).where(table.s.isin(INJECTIONS)).collect()
    assert sorted(r['s'] for r in got) == sorted(INJECTIONS)
    assert all(r['j'] == {r['s']: [r['s']]} for r in got)
    assert table.where(table.s == INJECTIONS[0]).count() == 1
    assert len(rv.list_tables()) >= 1


def test_hostile_images(table: rv.Table, tmp_path: Path, catalog: Catalog) -> None:
    png = _png()
    files = {
        'zero.png': b'',
        'truncated.png': png[: len(png) // 2],
        'corrupt.png': b'\x89PNG\r\n\x1a\n' + b'garbage' * 20,
        'bomb.png': _bomb_png(),
        'text.png': b'hello, not an image',
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    cases: list[Any] = [tmp_path / n for n in files] + [str(tmp_path / n) for n in files]
    cases += [v for v in files.values()]
    cases += [
        'http://127.0.0.1:9/x.png',
        'https://nonexistent.invalid/x.png',
        'ftp://example.org/x.png',
        'javascript:alert(1)',
        'data:image/png;base64,' + __import__('base64').b64encode(png).decode(),
        'file:///etc/passwd',
        '../../../../etc/passwd',
        str(tmp_path / 'sub' / '..' / '..' / 'missing.png'),
        'ab/../../x.png',
        '',
        'x' * 5000,
        'nul\x00.png',
        12,
        3.5,
        ['a'],
    ]
    for value in cases:
        _count('explicit')
        _try_insert(table, {'img': value})
    # A legitimate path with '..' is just a path: allowed, stored as the same image.
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'ok.png').write_bytes(png)
    table.insert(
        [{'img': str(tmp_path / 'sub' / '..' / 'ok.png'), 's': 'dotdot'}], print_stats=False
    )
    _count('explicit')
    ref_img = table.select(i=table.img).where(table.s == 'dotdot').collect()[0]['i']
    assert ref_img.size == (4, 3)
    # Media references can never escape the root.
    for ref in [
        '../x',
        '../../etc/passwd',
        '/etc/passwd',
        'ab/../../x.png',
        'ab/' + 'a' * 64 + '.png/../..',
        '',
    ]:
        _count('explicit')
        with pytest.raises(rv.Error):
            catalog.media.path(ref)


def test_zz_report_counts() -> None:
    total = sum(v for k, v in COUNTS.items() if k not in ('refused', 'stored'))
    print(f'RELIABILITY hostile: cases={total} detail={COUNTS}')
