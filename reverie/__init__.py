"""reverie: tables of media whose columns compute themselves.

>>> import reverie as rv
>>> rv.String
StringType(nullable=True)
"""

from __future__ import annotations

from reverie import functions, io
from reverie.api import (
    calls,
    create_dir,
    create_snapshot,
    create_table,
    create_view,
    drop_dir,
    drop_table,
    get_table,
    init,
    list_dirs,
    list_tables,
    move,
    workers,
)
from reverie.catalog.status import UpdateStatus
from reverie.catalog.table import Table
from reverie.display.resultset import ResultSet
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
from reverie.exprs.expr import Expr
from reverie.functions.udf import Batch, Function, udf
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

__version__ = '0.1.0'

__all__ = [
    'AlreadyExistsError',
    'Array',
    'Batch',
    'Bool',
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
    'calls',
    'create_dir',
    'create_snapshot',
    'create_table',
    'create_view',
    'drop_dir',
    'drop_table',
    'functions',
    'get_table',
    'init',
    'io',
    'list_dirs',
    'list_tables',
    'move',
    'udf',
    'workers',
]
