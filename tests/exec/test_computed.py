"""Computed columns: dependency order, incremental inserts, error cells, type checks."""

from __future__ import annotations

import pytest

import reverie as rv

CALLS: dict[str, int] = {}
BROKEN: set[int] = set()


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


@rv.udf
def shout(s: str) -> str:
    _count('shout')
    return s.upper()


@rv.udf
def length(s: str) -> int:
    _count('length')
    return len(s)


@rv.udf
def repeat(s: str, k: int) -> str:
    _count('repeat')
    return s * k


@rv.udf
def describe_row(loud: str, size: int, rep: str) -> str:
    _count('describe_row')
    return f'{loud}:{size}:{rep}'


@rv.udf
def fragile(n: int) -> int:
    _count('fragile')
    if n in BROKEN:
        raise ValueError(f'cannot handle {n}')
    return n * 100


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()
    BROKEN.clear()
    yield
    BROKEN.clear()


def test_dag_of_computed_columns(catalog):
    t = rv.create_table('words', {'w': rv.String, 'k': rv.Int})
    t.insert([{'w': 'ab', 'k': 2}, {'w': 'c', 'k': 3}], print_stats=False)
    # Added in dependency order; each reads the ones before it.
    t.add_computed_column(loud=shout(t.w), print_stats=False)
    t.add_computed_column(size=length(t.loud), print_stats=False)
    t.add_computed_column(rep=repeat(t.loud, t.size + t.k), print_stats=False)
    t.add_computed_column(summary=describe_row(t.loud, t.size, t.rep), print_stats=False)
    t.add_computed_column(total=t.size * 10 + t.k, print_stats=False)
    t.insert(w='xyz', k=0, print_stats=False)
    rs = t.select(t.loud, t.size, t.rep, t.summary, t.total).collect()
    assert rs['loud'] == ['AB', 'C', 'XYZ']
    assert rs['size'] == [2, 1, 3]
    assert rs['rep'] == ['ABABABAB', 'CCCC', 'XYZXYZXYZ']
    assert rs['summary'] == ['AB:2:ABABABAB', 'C:1:CCCC', 'XYZ:3:XYZXYZXYZ']
    assert rs['total'] == [22, 13, 30]
    assert CALLS == {'shout': 3, 'length': 3, 'repeat': 3, 'describe_row': 3}


def test_incremental_insert_computes_only_new_rows(catalog, capsys):
    t = rv.create_table('inc', {'w': rv.String})
    t.insert([{'w': 'a'}, {'w': 'b'}, {'w': 'c'}], print_stats=False)
    capsys.readouterr()
    status = t.add_computed_column(loud=shout(t.w))
    assert status.num_computed_values == 3
    assert 'Added 3 column values with 0 errors in' in capsys.readouterr().out
    assert CALLS == {'shout': 3}
    t.insert([{'w': 'd'}, {'w': 'e'}], print_stats=False)
    assert CALLS == {'shout': 5}
    t.insert(w='f', print_stats=False)
    assert CALLS == {'shout': 6}
    assert t.collect()['loud'] == ['A', 'B', 'C', 'D', 'E', 'F']
    # Recomputing is only on request.
    t.recompute_columns('loud')
    assert CALLS == {'shout': 12}


def test_null_input_gives_null_without_call(catalog):
    t = rv.create_table('nulls', {'w': rv.String | None})
    t.insert([{'w': None}, {'w': 'a'}], print_stats=False)
    t.add_computed_column(loud=shout(t.w), print_stats=False)
    assert t.collect()['loud'] == [None, 'A']
    assert t.select(t.loud.errortype).collect()['loud_errortype'] == [None, None]


def test_error_cells_ignore(catalog):
    t = rv.create_table('errs', {'n': rv.Int, 'w': rv.String})
    BROKEN.update({2, 4})
    t.insert([{'n': i, 'w': f'w{i}'} for i in range(6)], print_stats=False)
    t.add_computed_column(loud=shout(t.w), print_stats=False)
    status = t.add_computed_column(big=fragile(t.n), on_error='ignore', print_stats=False)
    assert status.num_excs == 2
    assert status.cols_with_excs == ['big']
    rs = t.select(t.n, t.big, t.big.errortype, t.big.errormsg, t.loud).collect()
    assert rs['big'] == [0, 100, None, 300, None, 500]
    assert rs['big_errortype'] == [None, None, 'ValueError', None, 'ValueError', None]
    assert rs['big_errormsg'][2] is not None and 'cannot handle 2' in rs['big_errormsg'][2]
    assert rs['big_errormsg'][0] is None
    assert rs['loud'] == [f'W{i}' for i in range(6)]  # other cells unaffected
    assert t.where(t.big.errortype != None).count() == 2  # noqa: E711

    # After the fix, only the error cells run again.
    BROKEN.clear()
    CALLS.clear()
    t.recompute_columns('big', errors_only=True)
    assert CALLS == {'fragile': 2}
    rs = t.select(t.big, t.big.errortype).collect()
    assert rs['big'] == [0, 100, 200, 300, 400, 500]
    assert rs['big_errortype'] == [None] * 6


def test_error_cells_abort_keeps_finished(catalog):
    t = rv.create_table('abort', {'n': rv.Int})
    t.add_computed_column(big=fragile(t.n), print_stats=False)
    BROKEN.add(3)
    with pytest.raises(
        rv.ExecutionError,
        match=(
            r"Computing column 'big' of table 'abort' failed for row \d+: "
            r'ValueError: cannot handle 3'
        ),
    ) as info:
        t.insert([{'n': i} for i in range(6)], print_stats=False)
    assert 'recompute_columns(errors_only=True)' in str(info.value)
    assert t.count() == 6  # rows are kept
    rs = t.select(t.n, t.big, t.big.errortype).collect()
    assert rs['big'][3] is None
    assert rs['big_errortype'][3] == 'ValueError'
    done = [b for b in rs['big'] if b is not None]
    assert done == [n * 100 for n, b in zip(rs['n'], rs['big'], strict=True) if b is not None]
    BROKEN.clear()
    t.recompute_columns(errors_only=True)
    t.recompute_columns('big', errors_only=True)
    assert t.collect()['big'] == [0, 100, 200, 300, 400, 500]


def test_type_error_at_definition_touches_nothing(catalog):
    t = rv.create_table('typed', {'n': rv.Int, 'w': rv.String})
    t.insert(n=1, w='a', print_stats=False)
    before = t.collect()
    with pytest.raises(
        rv.TypeMismatchError,
        match=r"Argument 's' of shout\(\) expects String, but n has type Int",
    ):
        t.add_computed_column(bad=shout(t.n))
    with pytest.raises(rv.TypeMismatchError, match="Argument 's' of shout"):
        shout(5)
    assert t.columns() == ['n', 'w']
    assert t.collect() == before
    assert CALLS == {}


def test_drop_column_refused_while_used(catalog, capsys):
    t = rv.create_table('deps', {'w': rv.String})
    t.add_computed_column(loud=shout(t.w), print_stats=False)
    t.add_computed_column(size=length(t.loud), print_stats=False)
    with pytest.raises(
        rv.InvalidValueError,
        match=r"Cannot drop column 'w': computed column\(s\) 'loud', 'size' use it",
    ):
        t.drop_column('w')
    with pytest.raises(rv.InvalidValueError, match=r"computed column\(s\) 'size' use it"):
        t.drop_column('loud')
    t.drop_column('size')
    t.drop_column('loud')
    assert "Dropped column 'loud' from table 'deps'." in capsys.readouterr().out
    assert t.columns() == ['w']


def test_computed_column_errors(catalog):
    t = rv.create_table('misc', {'w': rv.String})
    t.add_computed_column(loud=shout(t.w), print_stats=False)
    with pytest.raises(rv.AlreadyExistsError, match="already has a column 'loud'"):
        t.add_computed_column(loud=shout(t.w))
    with pytest.raises(
        rv.InvalidValueError, match=r"Column 'loud' \(table 'misc', row 0\) is computed"
    ):
        t.insert(w='a', loud='b')
    with pytest.raises(rv.TypeMismatchError, match='available on computed columns only'):
        _ = t.w.errortype


@rv.udf(batch_size=4)
def batched_upper(s: rv.Batch[str]) -> rv.Batch[str]:
    BATCH_SIZES.append(len(s))
    return [x.upper() for x in s]


BATCH_SIZES: list[int] = []


def test_batched_udf(catalog):
    BATCH_SIZES.clear()
    t = rv.create_table('batch', {'w': rv.String})
    t.insert([{'w': f'w{i}'} for i in range(10)], print_stats=False)
    t.add_computed_column(up=batched_upper(t.w), print_stats=False)
    assert t.collect()['up'] == [f'W{i}' for i in range(10)]
    assert sum(BATCH_SIZES) == 10
    assert max(BATCH_SIZES) <= 4
    assert len(BATCH_SIZES) >= 3
    BATCH_SIZES.clear()
    t.insert([{'w': 'x'}, {'w': 'y'}], print_stats=False)
    assert BATCH_SIZES == [2]
