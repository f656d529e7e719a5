"""Find a stored function again: by dotted path, or from the source kept for it.

Functions defined in an importable module are found by importing it. Functions defined in
a script or notebook (``__main__``) keep their source in the catalog; they are rebuilt
from it in a new process. When neither works, ``NotFoundError`` says which function and
what to do.
"""

from __future__ import annotations

import importlib
from typing import Any

from reverie import types as ts
from reverie.errors import NotFoundError
from reverie.exprs import serialize
from reverie.functions.udf import Function, PoolSettings


def load_function(d: dict[str, Any]) -> Function:
    """The function described by ``Function.to_json()`` output."""
    path: str = d['path']
    source: str | None = d.get('source')
    live = _import_path(path)
    if isinstance(live, Function) and (source is None or live.source == source):
        return live
    if source is not None:
        return _from_source(d)
    if callable(live) and d.get('return_type') is not None:
        # A plain function given to ``expr.apply()`` (``json.dumps``, ``len``, ...).
        return Function(
            live,
            name=d.get('name'),
            path=path,
            return_type=ts.ColumnType.from_json(d['return_type']),
            param_types={
                k: ts.ColumnType.from_json(t) for k, t in (d.get('param_types') or {}).items()
            },
        )
    raise NotFoundError(
        f'Function {path!r} cannot be found: its module is not importable or no longer '
        'defines it. Make it importable again (or define it again and recompute the column).'
    )


def _import_path(path: str) -> Any:
    module_name, _, attr = path.rpartition('.')
    parts = attr.split('.')
    # Qualified names may include classes: try successively shorter module paths.
    while module_name:
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError:
            module_name, _, head = module_name.rpartition('.')
            parts.insert(0, head)
            continue
        for part in parts:
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        return obj
    return None


def _from_source(d: dict[str, Any]) -> Function:
    path: str = d['path']
    name: str = d.get('name') or path.rpartition('.')[2]
    namespace: dict[str, Any] = {'__name__': f'reverie_udf_{name}'}
    try:
        for alias, module in (d.get('globals') or {}).items():
            namespace[alias] = importlib.import_module(module)
        exec(compile(d['source'], f'<udf {path}>', 'exec'), namespace)
    except Exception as e:
        raise NotFoundError(
            f'Function {path!r} cannot be rebuilt from its stored source '
            f'({type(e).__name__}: {e}). Define it again and recompute the column.'
        ) from None
    py_fn = namespace.get(name)
    if not callable(py_fn):
        raise NotFoundError(f'The stored source of {path!r} does not define {name!r}.')
    pool_d = d.get('pool')
    pool = (
        PoolSettings(
            name=pool_d['name'],
            max_concurrency=pool_d.get('max_concurrency'),
            requests_per_minute=pool_d.get('requests_per_minute'),
        )
        if pool_d
        else None
    )
    return Function(
        py_fn,
        name=name,
        path=path,
        batch_size=d.get('batch_size'),
        pool=pool,
        source=d['source'],
        source_globals=d.get('globals') or {},
    )


serialize.set_function_loader(load_function)
