"""``@rv.udf``: Python functions that computed columns can call.

Types come from the type hints. Calling a ``Function`` with column expressions builds an
expression (nothing runs until rows are computed). Functions may be sync, async or
batched (``batch_size=``, parameters and result annotated ``Batch[...]``), and may name
a resource pool whose concurrency and rate limit all columns that use it share.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import types as pytypes
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, overload

from reverie import types as ts
from reverie.errors import InvalidValueError, TypeMismatchError
from reverie.exprs import nodes as n
from reverie.exprs.expr import Expr, as_node, register_method
from reverie.exprs.to_sql import SqlTwin

T = TypeVar('T')

# The result type of one call, when its arguments say more than the return hint (an image
# resized to a literal size has that size); None keeps the hint's type.
CallType = Callable[[tuple[n.Node, ...], dict[str, n.Node]], ts.ColumnType | None]


class Batch(list[T], Generic[T]):
    """Annotation for batched UDFs: ``def f(x: Batch[str]) -> Batch[int]``."""


@dataclass(frozen=True)
class Param:
    """One parameter of a function."""

    name: str
    col_type: ts.ColumnType | None
    kind: Literal['positional', 'keyword', 'varargs']
    has_default: bool
    default: Any = None


@dataclass(frozen=True)
class PoolSettings:
    """Limits shared by every call through one resource pool.

    ``paid``: its calls cost money, so the pool starts small and widens on answers (slow
    start); a pool of unpaid work starts at ``max_concurrency``.
    """

    name: str
    max_concurrency: int | None = None
    requests_per_minute: float | None = None
    max_retries: int = 6
    paid: bool = False


class Function:
    """A function that expressions can call.

    Attributes:
        name: short name shown in messages.
        path: dotted path (module.qualname) used to find the function again.
        return_type: column type of the result.
        params: the parameters with their column types.
        is_async: whether ``py_fn`` is a coroutine function.
        batch_size: rows per call for batched functions, else None.
        resource_pool: pool name shared by calls to one external service, else None.
        sql_twin: for a builtin with an exact SQL twin, the SQL computing a call of it
            (``exprs.to_sql.SqlTwin``); the planner lets the database compute such calls.
    """

    def __init__(
        self,
        py_fn: Callable[..., Any],
        *,
        name: str | None = None,
        path: str | None = None,
        return_type: ts.ColumnType | None = None,
        param_types: dict[str, ts.ColumnType] | None = None,
        batch_size: int | None = None,
        pool: PoolSettings | None = None,
        source: str | None = None,
        source_globals: dict[str, str] | None = None,
        check_call: Callable[[tuple[n.Node, ...], dict[str, n.Node]], None] | None = None,
        call_type: CallType | None = None,
        sql_twin: SqlTwin | None = None,
    ) -> None:
        self.py_fn = py_fn
        self.sql_twin = sql_twin
        self.name = name or py_fn.__name__
        self.path = path or f'{py_fn.__module__}.{py_fn.__qualname__}'
        self.is_async = inspect.iscoroutinefunction(py_fn)
        self.batch_size = batch_size
        self._pool = pool
        self._check_call = check_call
        self._call_type = call_type
        hints = _hints(py_fn)
        self.param_types = dict(param_types or {})
        self.params = _params(py_fn, hints, self.param_types, batched=batch_size is not None)
        self.return_type = return_type or _return_type(self.name, hints, batch_size)
        self.source = source
        self.source_globals = source_globals
        if source is None and _needs_source(py_fn):
            self.source, self.source_globals = capture_source(py_fn)

    @property
    def pool(self) -> PoolSettings | None:
        """Limits of the resource pool calls go through, or None."""
        return self._pool

    @property
    def resource_pool(self) -> str | None:
        """Name of the resource pool, or None."""
        pool = self.pool
        return pool.name if pool else None

    def __repr__(self) -> str:
        kind = 'async ' if self.is_async else ''
        params = ', '.join(f'{p.name}: {p.col_type}' for p in self.params)
        return f'<Function {kind}{self.path}({params}) -> {self.return_type}>'

    def __call__(self, *args: Any, **kwargs: Any) -> Expr:
        """Build a call expression; types are checked now, the function runs later."""
        bound = self._bind(args, kwargs)
        arg_nodes: list[n.Node] = []
        kw_nodes: list[tuple[str, n.Node]] = []
        skipped = False  # after a skipped parameter, later ones are passed by name
        for param in self.params:
            if param.name not in bound:
                skipped = True
                continue
            values = bound[param.name]
            for value in values if param.kind == 'varargs' else [values]:
                node = self._check_arg(param, value)
                if param.kind == 'keyword' or skipped:
                    # By position, f(x, d=5, b=2) would run as f(x, 2, 5).
                    kw_nodes.append((param.name, node))
                else:
                    arg_nodes.append(node)
        if self._check_call is not None:
            self._check_call(tuple(arg_nodes), dict(kw_nodes))
        result_type = self.return_type
        if self._call_type is not None:
            known = self._call_type(tuple(arg_nodes), dict(kw_nodes))
            if known is not None:
                result_type = known
        call = n.FunctionCall(self, tuple(arg_nodes), tuple(kw_nodes), result_type)
        # As in Pixeltable: None where the declared result or an argument can be None.
        nullable = n.may_be_none(call)
        return Expr(dataclasses.replace(call, result_type=result_type.copy(nullable=nullable)))

    def to_json(self) -> dict[str, Any]:
        """What the catalog stores to find this function again."""
        d: dict[str, Any] = {
            'path': self.path,
            'name': self.name,
            'return_type': self.return_type.to_json(),
        }
        if self.param_types:
            d['param_types'] = {k: t.to_json() for k, t in self.param_types.items()}
        if self.source is not None:
            d['source'] = self.source
            d['globals'] = self.source_globals or {}
            d['batch_size'] = self.batch_size
            if self._pool is not None:
                d['pool'] = {
                    'name': self._pool.name,
                    'max_concurrency': self._pool.max_concurrency,
                    'requests_per_minute': self._pool.requests_per_minute,
                }
        return d

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            sig = inspect.signature(self.py_fn)
            bound = sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeMismatchError(f'{self.name}(): {e}.') from None
        return dict(bound.arguments)

    def _check_arg(self, param: Param, value: Any) -> n.Node:
        node = as_node(value)
        want = param.col_type
        got = node.col_type
        if want is None or got is None:
            if (
                got is None
                and isinstance(node, n.Literal)
                and want is not None
                and not want.nullable
            ):
                raise TypeMismatchError(
                    f'Argument {param.name!r} of {self.name}() must not be None ({want}).'
                )
            return node
        if isinstance(node, n.Literal):
            try:
                want.validate(node.value)
            except (TypeError, ValueError) as e:
                raise TypeMismatchError(
                    f'Argument {param.name!r} of {self.name}() expects {want}, '
                    f'got {node.value!r} ({e}).'
                ) from None
            return node
        if not want.accepts(got) and not want.dynamic:
            raise TypeMismatchError(
                f'Argument {param.name!r} of {self.name}() expects {want}, but {Expr(node)!r} '
                f'has type {got}.'
            )
        return node


def _hints(py_fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(py_fn)
    except Exception:  # unresolvable forward references: fall back to raw annotations
        return dict(getattr(py_fn, '__annotations__', {}))


def _unbatch(hint: Any) -> Any:
    if typing.get_origin(hint) is Batch:
        return typing.get_args(hint)[0]
    return hint


def _params(
    py_fn: Callable[..., Any],
    hints: dict[str, Any],
    overrides: dict[str, ts.ColumnType],
    *,
    batched: bool,
) -> tuple[Param, ...]:
    params: list[Param] = []
    for p in inspect.signature(py_fn).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            continue
        if p.name in overrides:
            col_type: ts.ColumnType | None = overrides[p.name]
        elif p.name in hints:
            hint = _unbatch(hints[p.name]) if batched else hints[p.name]
            col_type = ts.to_column_type(hint) if hint is not Any else None
        else:
            col_type = None
        if col_type is not None and p.default is not p.empty:
            col_type = col_type.copy(nullable=True)  # a parameter with a default takes None
        kind: Literal['positional', 'keyword', 'varargs'] = (
            'varargs'
            if p.kind is p.VAR_POSITIONAL
            else 'keyword'
            if p.kind is p.KEYWORD_ONLY
            else 'positional'
        )
        params.append(
            Param(
                p.name,
                col_type,
                kind,
                p.default is not p.empty,
                None if p.default is p.empty else p.default,
            )
        )
    return tuple(params)


def _return_type(name: str, hints: dict[str, Any], batch_size: int | None) -> ts.ColumnType:
    if 'return' not in hints:
        raise InvalidValueError(
            f'UDF {name!r} needs a return type hint, e.g. "def {name}(...) -> str:".'
        )
    hint = hints['return']
    return ts.to_column_type(_unbatch(hint) if batch_size else hint)


def _needs_source(py_fn: Callable[..., Any]) -> bool:
    return py_fn.__module__ == '__main__' or '<locals>' in py_fn.__qualname__


def capture_source(py_fn: Callable[..., Any]) -> tuple[str | None, dict[str, str]]:
    """Source text of ``py_fn`` (decorators removed) and the modules its code names."""
    try:
        text = textwrap.dedent(inspect.getsource(py_fn))
    except (OSError, TypeError):
        return None, {}
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.decorator_list = []
    source = ast.unparse(tree)
    modules: dict[str, str] = {}
    fn_globals = getattr(py_fn, '__globals__', {})
    names = _code_names(py_fn.__code__) | {
        node.id for node in ast.walk(tree) if isinstance(node, ast.Name)
    }
    for name in names:
        value = fn_globals.get(name)
        if isinstance(value, pytypes.ModuleType):
            modules[name] = value.__name__
    return source, modules


def _code_names(code: Any) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, 'co_names'):
            names |= _code_names(const)
    return names


@overload
def udf(fn: Callable[..., Any], /) -> Function: ...


@overload
def udf(
    *,
    batch_size: int | None = None,
    resource_pool: str | None = None,
    max_concurrency: int | None = None,
    requests_per_minute: float | None = None,
    max_retries: int = 6,
    return_type: Any = None,
) -> Callable[[Callable[..., Any]], Function]: ...


def udf(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    batch_size: int | None = None,
    resource_pool: str | None = None,
    max_concurrency: int | None = None,
    requests_per_minute: float | None = None,
    max_retries: int = 6,
    return_type: Any = None,
) -> Function | Callable[[Callable[..., Any]], Function]:
    """Turn a Python function into one that computed columns can call.

    Args:
        fn: the function (when used as plain ``@rv.udf``).
        batch_size: call the function with lists of up to this many rows at once.
        resource_pool: name shared by every function calling the same external service.
        max_concurrency: calls in flight at once through the pool (None: no limit).
        requests_per_minute: optional cap on call starts through the pool.
        max_retries: retries of a call that failed with a retryable error.
        return_type: column type of the result when the hint is not enough.

    Examples:
        >>> import reverie as rv
        >>> @rv.udf
        ... def shout(s: str) -> str:
        ...     return s.upper() + '!'
        >>> shout.return_type
        StringType(nullable=False)
    """

    def wrap(py_fn: Callable[..., Any]) -> Function:
        if batch_size is not None and batch_size < 1:
            raise InvalidValueError(f'batch_size must be at least 1, got {batch_size!r}.')
        _check_batching(py_fn.__name__, _hints(py_fn), batch_size)
        pool = None
        if resource_pool is not None or inspect.iscoroutinefunction(py_fn):
            pool = PoolSettings(
                name=resource_pool or f'udf:{py_fn.__module__}.{py_fn.__qualname__}',
                max_concurrency=max_concurrency,
                requests_per_minute=requests_per_minute,
                max_retries=max_retries,
            )
        made = Function(
            py_fn,
            return_type=ts.to_column_type(return_type) if return_type is not None else None,
            batch_size=batch_size,
            pool=pool,
        )
        _check_defaults(made)
        made.__doc__ = py_fn.__doc__  # help(f) shows the UDF's own docstring
        return made

    return wrap(fn) if fn is not None else wrap


def _check_batching(name: str, hints: dict[str, Any], batch_size: int | None) -> None:
    """As in Pixeltable: ``batch_size`` goes with ``Batch[...]`` hints, and only with them."""
    batched = [k for k, h in hints.items() if k != 'return' and typing.get_origin(h) is Batch]
    returns_batch = typing.get_origin(hints.get('return')) is Batch
    if batch_size is not None and not returns_batch:
        raise InvalidValueError(
            f'{name}(): batch_size is specified; the return type hint must be a Batch, '
            'e.g. "-> rv.Batch[str]".'
        )
    if batch_size is not None and not batched:
        raise InvalidValueError(
            f'{name}(): batch_size is specified; at least one parameter must be a Batch, '
            'e.g. "texts: rv.Batch[str]".'
        )
    if batch_size is None and (batched or returns_batch):
        raise InvalidValueError(f'{name}(): Batch[...] hints need batch_size=, e.g. 16.')


def _check_defaults(fn: Function) -> None:
    """A default must be a value of its parameter's type (None always is)."""
    for p in fn.params:
        if not p.has_default or p.default is None or p.col_type is None:
            continue
        try:
            p.col_type.validate(p.default)
        except (TypeError, ValueError):
            raise InvalidValueError(
                f'{fn.name}(): the default of parameter {p.name!r} is {p.default!r}, which is '
                f'not of type {p.col_type}.'
            ) from None


def method_function(
    type_name: str, py_fn: Callable[..., Any], *, name: str, path: str, **options: Any
) -> Function:
    """``py_fn`` as the ``Function`` at ``path``, and as a method: ``t.img.resize(...)``.

    ``options`` are ``Function``'s; the method is ``name`` on expressions of ``type_name``.
    """
    fn = Function(py_fn, name=name, path=path, **options)

    def build(self: Expr, *args: Any, **kwargs: Any) -> Expr:
        return fn(self, *args, **kwargs)

    register_method(type_name, fn.name, build)
    return fn


@dataclass(frozen=True)
class CellValue:
    """A function result plus facts kept beside the cell (``t.col.cellmeta``).

    Reve functions return one, so each cell keeps its request id, model version and
    credits used.
    """

    value: Any
    meta: dict[str, Any]
