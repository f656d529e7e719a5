"""``@rv.udf``: types from hints, call checking, repr."""

from __future__ import annotations

import datetime

import PIL.Image
import pytest

import reverie as rv


def test_types_from_hints():
    @rv.udf
    def f(
        a: str, b: int, c: float, d: bool, e: datetime.datetime, g: dict, h: PIL.Image.Image
    ) -> list:
        return []

    assert [str(p.col_type) for p in f.params] == [
        'String',
        'Int',
        'Float',
        'Bool',
        'Timestamp',
        'Json',
        'Image',
    ]
    assert f.return_type == rv.Json
    assert not f.is_async
    assert f.batch_size is None and f.resource_pool is None


def test_optional_and_default_params_are_nullable():
    @rv.udf
    def f(a: str | None, b: int = 3) -> str:
        return ''

    assert [p.col_type for p in f.params] == [rv.String | None, rv.Int | None]
    f(None)  # allowed: a is Optional


def test_return_hint_required():
    with pytest.raises(
        rv.InvalidValueError,
        match=r"UDF 'f' needs a return type hint, e.g. \"def f\(...\) -> str:\"",
    ):

        @rv.udf
        def f(a: str):
            return a


def test_unsupported_hint():
    with pytest.raises(rv.InvalidValueError, match='No column type for'):

        @rv.udf
        def f(a: complex) -> str:
            return ''


def test_batch_size_checked():
    with pytest.raises(rv.InvalidValueError, match='batch_size must be at least 1'):

        @rv.udf(batch_size=0)
        def f(a: rv.Batch[str]) -> rv.Batch[str]:
            return a


def test_batched_types_unwrap():
    @rv.udf(batch_size=8)
    def f(a: rv.Batch[str]) -> rv.Batch[int]:
        return [len(x) for x in a]

    assert f.params[0].col_type == rv.Required[rv.String]
    assert f.return_type == rv.Int
    assert f.batch_size == 8


def test_async_udf_gets_a_pool():
    @rv.udf(resource_pool='svc', max_concurrency=2, requests_per_minute=60)
    async def f(a: str) -> str:
        return a

    assert f.is_async
    assert f.resource_pool == 'svc'
    assert f.pool is not None and f.pool.max_concurrency == 2 and f.pool.requests_per_minute == 60


def test_repr():
    @rv.udf
    async def fetch(url: str, n: int = 1) -> str:
        return url

    assert repr(fetch) == (
        '<Function async tests.functions.test_udf.test_repr.<locals>.fetch'
        '(url: String, n: Int | None) -> String>'
    )


@pytest.mark.parametrize(
    ('call', 'match'),
    [
        pytest.param(lambda f: f(1), r"Argument 's' of f\(\) expects String, got 1", id='literal'),
        pytest.param(lambda f: f(None), r"Argument 's' of f\(\) must not be None", id='none'),
        pytest.param(lambda f: f('a', 'b'), r'f\(\): too many positional arguments', id='arity'),
        pytest.param(lambda f: f(t='a'), r"f\(\): missing a required argument: 's'", id='keyword'),
    ],
)
def test_call_checked_when_built(call, match):
    @rv.udf
    def f(s: str) -> str:
        return s

    with pytest.raises(rv.TypeMismatchError, match=match):
        call(f)


def test_call_builds_expression():
    @rv.udf
    def f(s: str, k: int = 2) -> str:
        return s * k

    e = f('ab', k=3)
    assert isinstance(e, rv.Expr)
    assert e.col_type == rv.String
