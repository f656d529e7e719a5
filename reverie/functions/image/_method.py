"""Image functions as ``Function`` objects and methods; result types from the arguments."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from reverie import types as ts
from reverie.exprs import nodes as n
from reverie.functions.udf import CallType, Function, method_function

# Stored expressions find each function by this path, whatever module defines it.
PACKAGE = 'reverie.functions.image'
IMG = ts.Required[ts.Image]

# Sentinel for "this argument is not a literal".
UNKNOWN = object()


def image_method(
    py_fn: Callable[..., Any],
    *,
    param_types: dict[str, ts.ColumnType] | None = None,
    return_type: ts.ColumnType | None = None,
    call_type: CallType | None = None,
) -> Function:
    """``py_fn`` as ``t.img.<name>(...)``, ``name`` being its own without the underscore.

    Its first parameter is a ``Required[Image]`` unless ``param_types`` says otherwise.
    """
    name = py_fn.__name__.lstrip('_')
    first = next(iter(inspect.signature(py_fn).parameters))
    return method_function(
        'Image',
        py_fn,
        name=name,
        path=f'{PACKAGE}.{name}',
        param_types={first: IMG, **(param_types or {})},
        return_type=return_type,
        call_type=call_type,
    )


def literal(
    args: tuple[n.Node, ...], kwargs: dict[str, n.Node], pos: int, name: str, default: Any
) -> Any:
    """The literal value of an argument (by position or name).

    Its default when absent; UNKNOWN when it is computed per row.
    """
    node = args[pos] if pos < len(args) else kwargs.get(name)
    if node is None:
        return default
    return node.value if isinstance(node, n.Literal) else UNKNOWN


def input_type(args: tuple[n.Node, ...]) -> ts.ImageType:
    """The image type of the first argument (unconstrained when it is not an image)."""
    t = args[0].col_type if args else None
    return t if isinstance(t, ts.ImageType) else ts.ImageType()


def image_type(size: Any, mode: Any) -> ts.ImageType:
    """An Image type with the size and mode that are known (UNKNOWN or None: unconstrained)."""
    known_size = None
    if isinstance(size, list | tuple) and len(size) == 2 and all(type(v) is int for v in size):
        known_size = (int(size[0]), int(size[1]))
    return ts.ImageType(size=known_size, mode=mode if isinstance(mode, str) else None)
