"""reverie: tables of media whose columns compute themselves.

>>> import reverie as rv
>>> rv.String
StringType(nullable=False)
"""

from __future__ import annotations

import importlib
import typing as _typing

from reverie.errors import (
    AlreadyExistsError,
    ContentViolationError,
    Error,
    ExecutionError,
    InvalidValueError,
    NotFoundError,
    RunStoppedError,
    ServiceError,
    TypeMismatchError,
)
from reverie.types import (
    Array,
    Bool,
    ColumnType,
    Date,
    Float,
    Image,
    Int,
    Json,
    Required,
    String,
    Timestamp,
)

if _typing.TYPE_CHECKING:
    from reverie import functions, io
    from reverie.api import (
        budgets,
        calls,
        create_dir,
        create_snapshot,
        create_table,
        create_view,
        drop_dir,
        drop_table,
        get_dir_contents,
        get_table,
        init,
        list_dirs,
        list_tables,
        move,
        set_budget,
        workers,
    )
    from reverie.catalog.status import UpdateStatus
    from reverie.catalog.table import Table
    from reverie.display.resultset import ResultSet
    from reverie.exprs.expr import Expr
    from reverie.functions.paid import Budget
    from reverie.functions.udf import Batch, Function, udf

# Everything past types and errors loads on first use (`import reverie` stays near the cost
# of SQLAlchemy alone): a public name comes from the module named here, else reverie.api.
_LAZY = {
    'UpdateStatus': 'reverie.catalog.status',
    'Table': 'reverie.catalog.table',
    'ResultSet': 'reverie.display.resultset',
    'Expr': 'reverie.exprs.expr',
    'Budget': 'reverie.functions.paid',
    'Batch': 'reverie.functions.udf',
    'Function': 'reverie.functions.udf',
    'udf': 'reverie.functions.udf',
}
_SUBPACKAGES = ('functions', 'io')


def __getattr__(name: str) -> _typing.Any:
    """Import a public name's module the first time the name is read (PEP 562)."""
    if name in _SUBPACKAGES:
        value: _typing.Any = importlib.import_module(f'reverie.{name}')
    elif name in __all__:
        value = getattr(importlib.import_module(_LAZY.get(name, 'reverie.api')), name)
    else:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = '0.1.0'

__all__ = [
    'AlreadyExistsError',
    'Array',
    'Batch',
    'Bool',
    'Budget',
    'ColumnType',
    'ContentViolationError',
    'Date',
    'Error',
    'ExecutionError',
    'Expr',
    'Float',
    'Function',
    'Image',
    'Int',
    'InvalidValueError',
    'Json',
    'NotFoundError',
    'Required',
    'ResultSet',
    'RunStoppedError',
    'ServiceError',
    'String',
    'Table',
    'Timestamp',
    'TypeMismatchError',
    'UpdateStatus',
    'budgets',
    'calls',
    'create_dir',
    'create_snapshot',
    'create_table',
    'create_view',
    'drop_dir',
    'drop_table',
    'functions',
    'get_dir_contents',
    'get_table',
    'init',
    'io',
    'list_dirs',
    'list_tables',
    'move',
    'set_budget',
    'udf',
    'workers',
]
