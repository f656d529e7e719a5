"""Embedding indexes: definition, similarity() in queries, and the index following every write.

A deterministic fake embedding (letter counts, 26 dims) stands in for a model; expected
answers come from a brute-force twin computed here with plain numpy.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reverie as rv
from reverie.catalog.catalog import Catalog

CALLS: list[str] = []


@rv.udf
def letters(s: str) -> rv.Array[(26,), rv.Float]:
    """Counts of a..z (plus a small constant so no vector is zero)."""
    CALLS.append(s)
    v = np.full(26, 0.01, dtype=np.float32)
    for ch in s.lower():
        if ch in string.ascii_lowercase:
            v[ord(ch) - 97] += 1
    return v


def vec(s: str) -> np.ndarray:
    v = np.full(26, 0.01)
    for ch in s.lower():
        if ch in string.ascii_lowercase:
            v[ord(ch) - 97] += 1
    return v


def brute(words: dict[int, str], query: str, metric: str) -> list[tuple[int, float]]:
    """(row key, value) for every word, best first: the twin the index must agree with."""
    q = vec(query)
    out = []
    for key, w in words.items():
        x = vec(w)
        if metric == 'cosine':
            value = float(x @ q / np.linalg.norm(x) / np.linalg.norm(q))
        elif metric == 'ip':
            value = float(x @ q)
        else:
            value = float(np.linalg.norm(x - q))
        out.append((key, value))
    return sorted(out, key=lambda kv: (-kv[1] if metric != 'l2' else kv[1], kv[0]))


WORDS = ['apple', 'banana', 'cherry', 'date', 'elderberry', 'fig', 'grape', 'kiwi', 'lemon']


def _table(name: str = 'words', metric: str = 'cosine') -> rv.Table:
    t = rv.create_table(name, {'k': rv.Int, 'w': rv.String})
    t.insert([{'k': i, 'w': w} for i, w in enumerate(WORDS)], print_stats=False)
    t.add_embedding_index('w', embedding=letters, metric=metric)  # type: ignore[arg-type]
    return t


def _top(t: rv.Table, query: str, k: int, *, asc: bool = False, where: Any = None) -> list[Any]:
    sim = t.w.similarity(query)
    q = t.where(where) if where is not None else t
    rs = q.order_by(sim, asc=asc).limit(k).select(t.k, sim).collect()
    return list(zip(rs['k'], rs['similarity'], strict=True))


@pytest.mark.parametrize('metric', ['cosine', 'ip', 'l2'])
def test_top_k_matches_brute_force(catalog: Catalog, metric: str) -> None:
    t = _table(metric=metric)
    words = dict(enumerate(WORDS))
    want = brute(words, 'berry', metric)[:4]
    got = _top(t, 'berry', 4, asc=metric == 'l2')
    assert [k for k, _ in got] == [k for k, _ in want]
    assert np.allclose([v for _, v in got], [v for _, v in want], atol=1e-5)


def test_where_applies_with_the_search(catalog: Catalog) -> None:
    t = _table()
    words = {i: w for i, w in enumerate(WORDS) if i % 2 == 1}
    got = _top(t, 'berry', 3, where=t.k % 2 == 1)
    assert [k for k, _ in got] == [k for k, _ in brute(words, 'berry', 'cosine')[:3]]


def test_similarity_in_select_without_order(catalog: Catalog) -> None:
    t = _table()
    rs = t.select(t.k, score=t.w.similarity('lemon')).collect()
    want = dict(brute(dict(enumerate(WORDS)), 'lemon', 'cosine'))
    assert np.allclose(rs['score'], [want[k] for k in rs['k']], atol=1e-5)


def test_each_row_embedded_once_and_updates_reembed(catalog: Catalog) -> None:
    CALLS.clear()
    t = _table()
    assert sorted(CALLS) == sorted(WORDS)  # the rows there when the index was added
    CALLS.clear()
    t.insert(k=100, w='zzz', print_stats=False)
    assert CALLS == ['zzz']
    assert _top(t, 'zz', 1)[0][0] == 100
    CALLS.clear()
    t.update({'k': 101}, where=t.k == 100)  # another column: the vector is kept
    assert CALLS == []
    t.update({'w': 'apple'}, where=t.k == 101)  # the indexed cell: embedded again
    assert CALLS == ['apple']
    assert _top(t, 'zz', 1)[0][0] != 101
    t.delete(where=t.k == 0)
    got = _top(t, 'apple', 2)
    assert [k for k, _ in got] == [
        101,
        *[
            k
            for k, _ in brute({i: w for i, w in enumerate(WORDS) if i != 0}, 'apple', 'cosine')[:1]
        ],
    ]


def test_revert_and_time_travel(catalog: Catalog) -> None:
    t = _table()
    v_before = t.get_metadata()['version']
    t.update({'w': 'zzzz'}, where=t.k == 3)
    assert _top(t, 'zz', 1)[0][0] == 3
    old = rv.get_table(f'words:{v_before}')
    assert _top(old, 'zz', 1)[0][0] != 3  # the table as it was: 'date'
    assert _top(old, 'date', 1)[0][0] == 3
    t.revert()
    assert _top(t, 'date', 1)[0][0] == 3
    assert _top(t, 'zz', 1)[0][0] != 3
    t.update({'w': 'xxxx'}, where=t.k == 5)  # the same version number, other content
    assert _top(t, 'xx', 1)[0][0] == 5
    assert _top(t, 'fig', 1)[0][0] != 5


def test_reopened_catalog_sees_the_index(catalog: Catalog) -> None:
    _table()
    url = str(catalog.store.engine.url.render_as_string(hide_password=False))
    other = rv.init({'db_url': url, 'media_dir': str(catalog.media.root)})
    t = rv.get_table('words')
    t.insert(k=50, w='kiwikiwi', print_stats=False)
    assert _top(t, 'kiwi', 2)[0][0] in (7, 50)
    other.close()


def test_names_errors_and_drop(catalog: Catalog) -> None:
    t = _table()
    t.add_embedding_index('w', embedding=letters, metric='l2')  # type: ignore[arg-type]
    with pytest.raises(rv.Error, match='several embedding indexes'):
        _top(t, 'x', 1)
    rs = t.order_by(t.w.similarity('fig', idx='idx1')).limit(1).select(t.k).collect()
    assert rs['k'] == [5]
    with pytest.raises(rv.AlreadyExistsError, match="Index 'idx0' already exists"):
        t.add_embedding_index('w', idx_name='idx0', embedding=letters)  # type: ignore[arg-type]
    t.add_embedding_index('w', idx_name='idx0', embedding=letters, if_exists='ignore')  # type: ignore[arg-type]
    with pytest.raises(rv.InvalidValueError, match='exactly one of column= or idx_name='):
        t.drop_embedding_index()
    t.drop_embedding_index(idx_name='idx1')
    t.drop_embedding_index(column='w')
    with pytest.raises(rv.NotFoundError, match='has no embedding index'):
        _top(t, 'x', 1)
    t.drop_embedding_index(column='w', if_not_exists='ignore')
    with pytest.raises(rv.InvalidValueError, match='metric'):
        t.add_embedding_index('w', embedding=letters, metric='dot')  # type: ignore[arg-type]


def test_near_duplicates(catalog: Catalog) -> None:
    t = rv.create_table('dups', {'w': rv.String})
    t.insert(
        [{'w': w} for w in ['listen', 'silent', 'enlist', 'banana', 'bananas', 'kiwi']],
        print_stats=False,
    )
    t.add_embedding_index('w', embedding=letters)  # type: ignore[arg-type]
    rs = t.near_duplicates('w', threshold=0.95)
    assert rs['cluster'] == [0, 0, 0, 1, 1]
    assert rs['w'] == ['listen', 'silent', 'enlist', 'banana', 'bananas']
    rs = t.near_duplicates(t.w, threshold=0.95, select=[t.w.upper()])
    assert rs.column_names == ['cluster', 'col_0']
    assert rs['col_0'][:1] == ['LISTEN']
    assert len(t.near_duplicates('w', threshold=0.9999)) == 3  # the anagrams only


def test_index_on_a_view_follows_its_base(catalog: Catalog) -> None:
    t = rv.create_table('base', {'k': rv.Int, 'w': rv.String})
    t.insert([{'k': i, 'w': w} for i, w in enumerate(WORDS)], print_stats=False)
    v = rv.create_view('odd', t.where(t.k % 2 == 1))
    v.add_embedding_index('w', embedding=letters)  # type: ignore[arg-type]
    odd = {i: w for i, w in enumerate(WORDS) if i % 2 == 1}
    assert [k for k, _ in _top(v, 'berry', 2)] == [k for k, _ in brute(odd, 'berry', 'cosine')[:2]]
    t.insert(k=11, w='zzzz', print_stats=False)  # reaches the view
    t.update({'w': 'yyyy'}, where=t.k == 3)
    assert _top(v, 'zz', 1)[0][0] == 11
    assert _top(v, 'yy', 1)[0][0] == 3
    t.delete(where=t.k == 11)
    assert _top(v, 'zz', 1)[0][0] != 11


def test_ann_path_matches_exact_and_keeps_its_file(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reverie.catalog import embeddings as indexes

    rng = np.random.default_rng(3)
    words = [''.join(rng.choice(list('abcdefghij'), size=8)) for _ in range(400)]
    t = rv.create_table('many', {'k': rv.Int, 'w': rv.String})
    t.insert([{'k': i, 'w': w} for i, w in enumerate(words)], print_stats=False)
    t.add_embedding_index('w', embedding=letters)  # type: ignore[arg-type]
    exact = _top(t, 'abcabc', 10)
    monkeypatch.setattr(indexes, 'ANN_THRESHOLD', 100)
    t.insert(k=1000, w='cbacba', print_stats=False)
    got = _top(t, 'abcabc', 10)
    assert got[0][0] == 1000
    truth = brute({**dict(enumerate(words)), 1000: 'cbacba'}, 'abcabc', 'cosine')[:10]
    tenth = truth[-1][1] - 1e-5  # ties abound in letter counts: compare values
    assert sum(v >= tenth for _, v in got) >= 9  # recall@10 on a tiny set
    exact_tenth = brute(dict(enumerate(words)), 'abcabc', 'cosine')[9][1] - 1e-5
    assert sum(v >= exact_tenth for _, v in exact) == 10  # the exact path: all of them
    files = list((Path(catalog.config.home) / 'vectors').rglob('*.usearch'))
    assert len(files) == 1
    filtered = _top(t, 'abcabc', 5, where=t.k < 200)
    assert all(k < 200 for k, _ in filtered) and len(filtered) == 5
    t.drop_embedding_index(column='w')
    assert not list((Path(catalog.config.home) / 'vectors').rglob('*.usearch'))


def test_similarity_in_where_and_count(catalog: Catalog) -> None:
    t = _table()
    sim = t.w.similarity('berry')
    want = [k for k, v in brute(dict(enumerate(WORDS)), 'berry', 'cosine') if v > 0.5]
    rs = t.where(sim > 0.5).select(t.k).collect()
    assert sorted(rs['k']) == sorted(want)
    assert t.where(sim > 0.5).count() == len(want)
    assert t.order_by(sim, asc=False).limit(3).count() == 3
    assert "w.similarity('berry') desc" in repr(t.order_by(sim, asc=False).limit(3))
    with pytest.raises(rv.InvalidValueError, match='cannot be computed into a column'):
        t.add_computed_column(s=sim)
    with pytest.raises(rv.InvalidValueError, match='cannot be used with group_by'):
        t.group_by(t.w).select(t.w).where(sim > 0).collect()


_EXAMPLE = iter(range(10**6))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    words=st.lists(st.text(alphabet='abcdefgh', min_size=1, max_size=8), min_size=1, max_size=40),
    query=st.text(alphabet='abcdefgh', min_size=1, max_size=8),
    k=st.integers(1, 12),
    metric=st.sampled_from(['cosine', 'ip', 'l2']),
    parity=st.sampled_from([None, 0, 1]),
)
def test_table_search_is_the_true_top_k(
    sqlite_catalog: Catalog, words: list[str], query: str, k: int, metric: str, parity: int | None
) -> None:
    """Through the whole road (insert, index, where, order_by, limit) against the twin."""
    t = rv.create_table(f'h{next(_EXAMPLE)}', {'k': rv.Int, 'w': rv.String})
    t.insert([{'k': i, 'w': w} for i, w in enumerate(words)], print_stats=False)
    t.add_embedding_index('w', embedding=letters, metric=metric)  # type: ignore[arg-type]
    where = None if parity is None else t.k % 2 == parity
    got = _top(t, query, k, asc=metric == 'l2', where=where)
    allowed = {i: w for i, w in enumerate(words) if parity is None or i % 2 == parity}
    want = brute(allowed, query, metric)[:k]
    assert len(got) == len(want)
    values = dict(brute(allowed, query, metric))
    assert np.allclose([v for _, v in got], [v for _, v in want], atol=1e-4)  # ties: values
    assert all(abs(values[key] - v) < 1e-4 for key, v in got)


def test_a_new_index_never_takes_a_dropped_ones_id(catalog: Catalog) -> None:
    from reverie.store.vector_tables import indexes_table

    t = _table()
    with catalog.store.read() as conn:
        first = conn.execute(sa.select(indexes_table.c.id)).scalar_one()
    t.drop_embedding_index(column='w')
    t.add_embedding_index('w', embedding=letters)  # type: ignore[arg-type]
    with catalog.store.read() as conn:
        assert conn.execute(sa.select(indexes_table.c.id)).scalar_one() > first


def test_ann_files_leave_with_the_table_the_column_and_the_index(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reverie.catalog import embeddings as indexes

    monkeypatch.setattr(indexes, 'ANN_THRESHOLD', 5)
    folder = Path(catalog.config.home) / 'vectors'

    def files() -> list[str]:
        return sorted(p.name for p in folder.rglob('*') if p.is_file())

    tables = {name: _table(name) for name in ('a', 'b', 'c')}
    rv.create_view('a_view', tables['a']).add_embedding_index('w', embedding=letters)  # type: ignore[arg-type]
    for t in [*tables.values(), rv.get_table('a_view')]:
        assert _top(t, 'berry', 3)[0][0] == 4  # searched through the ANN path: files made
    assert len(files()) == 8  # per index: the graph, and its row ids with the search depth
    rv.drop_table('a', force=True)  # with its view
    assert len(files()) == 4
    tables['b'].drop_column('w')
    assert len(files()) == 2
    tables['c'].drop_embedding_index(column='w')
    assert files() == []


def test_sweep_removes_ann_files_of_indexes_dropped_elsewhere(catalog: Catalog) -> None:
    from reverie.store.vector_tables import ann_files, ann_folder, sweep_ann_files

    _table()
    folder = ann_folder(Path(catalog.config.home), catalog.store.engine.url)
    folder.mkdir(parents=True)
    with catalog.store.read() as conn:
        live = conn.execute(sa.text('SELECT id FROM rv_indexes')).scalar_one()
        for path in ann_files(folder, live) + ann_files(folder, live + 100):
            path.write_bytes(b'x')
        (folder / f'{live}.usearch.keys.npy').write_bytes(b'x')  # an older layout
        (folder / 'notes.txt').write_bytes(b'x')  # not ours
        gone = sweep_ann_files(conn, folder)
    assert sorted(p.name for p in gone) == sorted(
        [f'{live + 100}.usearch', f'{live + 100}.usearch.keys.npz', f'{live}.usearch.keys.npy']
    )
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ['notes.txt', *(p.name for p in ann_files(folder, live))]
    )
