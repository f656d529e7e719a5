"""The cell codec: what a computed value becomes in the database, and its error messages."""

from __future__ import annotations

import pytest

import reverie as rv
from reverie.exec.codec import encode_result


def _deep(levels: int) -> list[object]:
    value: list[object] = []
    for _ in range(levels):
        value = [value]
    return value


def test_a_deeply_nested_value_gives_the_message_not_a_recursion_error(tmp_path):
    # repr() of a list nested 100 000 deep raises RecursionError; the message must not.
    with pytest.raises(TypeError, match=r"expected String for column 'c', got list \[\[\[\["):
        encode_result(rv.String, 'c', _deep(100_000), None)  # type: ignore[arg-type]


@rv.udf
def nested(s: str) -> str:
    return _deep(100_000)  # type: ignore[return-value]  # the bug under test


def test_a_udf_returning_a_deeply_nested_value_makes_an_error_cell(sqlite_catalog):
    t = rv.create_table('deep', {'s': rv.String})
    t.insert([{'s': 'a'}], print_stats=False)
    t.add_computed_column(c=nested(t.s), on_error='ignore', print_stats=False)
    rs = t.select(t.c.errortype, t.c.errormsg).collect()
    assert rs['c_errortype'] == ['TypeError']
    assert "expected String for column 'c', got list [[[[" in rs['c_errormsg'][0]
