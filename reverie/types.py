"""Column types: small frozen objects with a ``nullable`` flag.

``String``, ``Int``, ... are instances and, as in Pixeltable 0.7, required (no None);
``String | None`` is the nullable variant (``Required[String]`` is the same as ``String``)
and ``Image[(512, 512), 'RGB']`` an image with a size and mode constraint. Each type
validates and coerces Python values (``validate``), says which SQL type stores it
(``sql_type``) and converts to and from what the database holds (``to_db``/``from_db``).
"""

from __future__ import annotations

import datetime
import json
import math
import reprlib
import typing
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import PIL.Image
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.compiler import compiles

from reverie.errors import InvalidValueError

_INT64 = 2**63


@dataclass(frozen=True)
class ColumnType:
    """Base of every column type."""

    nullable: bool = False
    name: ClassVar[str] = 'Any'
    # What each type says about itself, so that the engine asks the type instead of
    # listing types (the codec, the planner and the writers read these):
    python_type: ClassVar[type | None] = None  # the Python type values have, when stored as is
    db_is_python: ClassVar[bool] = False  # the database value already is the Python value
    driver_native: ClassVar[bool] = False  # the SQLite driver stores the value as it is
    scalar: ClassVar[bool] = False  # one value Python and SQL compare and order alike
    numeric: ClassVar[bool] = False  # takes part in arithmetic (Int, Float)
    dynamic: ClassVar[bool] = False  # any JSON value: its kind is known per row only
    subscriptable: ClassVar[bool] = False  # e[...] reads inside it (Json, Array)
    sql_exact: ClassVar[bool] = False  # SQL computes its arithmetic exactly like Python
    indexable: ClassVar[bool] = False  # a plain database index serves its lookups
    is_media: ClassVar[bool] = False  # stored as a media reference (a file), not a value
    # The column's SQLAlchemy type, when it takes no arguments (else sql_type says).
    sql_class: ClassVar[type[sa.types.TypeEngine[Any]] | None] = None

    def __str__(self) -> str:
        return self.spelled(self.name)

    def spelled(self, inner: str) -> str:
        """``inner`` (the type's name with its arguments) with `` | None`` when nullable."""
        return f'{inner} | None' if self.nullable else inner

    def __or__(self, other: Any) -> ColumnType:
        """``rv.String | None``: the nullable variant."""
        if other is None or other is type(None):
            return self.copy(nullable=True)
        raise InvalidValueError(
            f'{self} | {other!r}: a column type can only be joined with None '
            f'(e.g. rv.String | None for a nullable column).'
        )

    def __ror__(self, other: Any) -> ColumnType:
        return self.__or__(other)

    def copy(self, *, nullable: bool) -> ColumnType:
        """This type with another ``nullable`` flag."""
        return replace(self, nullable=nullable)

    def validate(self, value: Any) -> Any:
        """Check and coerce a non-null Python value; raise ValueError with a short reason."""
        return value

    def sql_type(self) -> sa.types.TypeEngine[Any]:
        """The SQLAlchemy type of the column that stores values of this type."""
        if self.sql_class is None:
            raise NotImplementedError
        return self.sql_class()

    def to_db(self, value: Any) -> Any:
        """Convert a validated value into what the database column holds."""
        return value

    def from_db(self, value: Any) -> Any:
        """Convert what the database returned into the Python value users see."""
        return value

    def cast(self, value: Any) -> Any:
        """``value`` converted to this type for ``astype`` (TypeError/ValueError if it cannot)."""
        raise TypeError(f'nothing converts to {self}')

    def value_from_json(self, value: Any) -> Any:
        """A literal of this type from the JSON the catalog stores (see ``exprs/serialize``)."""
        return value

    def accepts(self, other: ColumnType) -> bool:
        """Whether values of ``other`` can be used where this type is expected."""
        return type(self) is type(other) or (
            isinstance(self, FloatType) and isinstance(other, IntType)
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form stored in the catalog."""
        return {'type': self.name, 'nullable': self.nullable}

    @staticmethod
    def from_json(d: dict[str, Any]) -> ColumnType:
        """Inverse of ``to_json``."""
        cls = _BY_NAME[d['type']]
        # Every stored type says whether it is nullable; one that does not was written when
        # every column was nullable.
        kwargs = {'nullable': True, **{k: v for k, v in d.items() if k != 'type'}}
        if 'size' in kwargs and kwargs['size'] is not None:
            kwargs['size'] = tuple(kwargs['size'])
        if 'shape' in kwargs and kwargs['shape'] is not None:
            kwargs['shape'] = tuple(kwargs['shape'])
        if kwargs.get('type_schema') is not None:
            kwargs['type_schema'] = _canonical(kwargs['type_schema'])
        return cls(**kwargs)


@dataclass(frozen=True)
class _Scalar(ColumnType):
    """A single value that Python and SQL compare and order alike; an index serves it."""

    scalar: ClassVar[bool] = True
    indexable: ClassVar[bool] = True


@dataclass(frozen=True)
class _Plain(_Scalar):
    """A str, int, float or bool the database holds as it is and computes on as Python does."""

    python_type: ClassVar[type]
    db_is_python: ClassVar[bool] = True
    driver_native: ClassVar[bool] = True
    sql_exact: ClassVar[bool] = True

    def cast(self, value: Any) -> Any:
        return self.python_type(value)


@dataclass(frozen=True)
class StringType(_Plain):
    """Unicode text (no NUL characters, as PostgreSQL cannot store them)."""

    name: ClassVar[str] = 'String'
    sql_class: ClassVar[type[sa.types.TypeEngine[Any]] | None] = sa.Text
    python_type: ClassVar[type] = str

    def validate(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise TypeError('str')
        if '\x00' in value:
            raise ValueError('a string without NUL characters (\\x00)')
        if not value.isascii():
            try:
                value.encode('utf-8')
            except UnicodeEncodeError:
                raise ValueError('a string of valid unicode (no lone surrogates)') from None
        return value

    def cast(self, value: Any) -> Any:
        return json.dumps(value) if isinstance(value, dict | list) else str(value)


@dataclass(frozen=True)
class IntType(_Plain):
    """64-bit signed integer."""

    name: ClassVar[str] = 'Int'
    sql_class: ClassVar[type[sa.types.TypeEngine[Any]] | None] = sa.BigInteger
    python_type: ClassVar[type] = int
    numeric: ClassVar[bool] = True

    def validate(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            if hasattr(value, '__index__') and not isinstance(value, bool):
                value = value.__index__()
            else:
                raise TypeError('int')
        if not -_INT64 <= value < _INT64:
            raise ValueError('an integer within the 64-bit range')
        return int(value)


@dataclass(frozen=True)
class FloatType(_Plain):
    """Double-precision float; NaN is refused (use None for a missing value)."""

    name: ClassVar[str] = 'Float'
    sql_class: ClassVar[type[sa.types.TypeEngine[Any]] | None] = sa.Double
    python_type: ClassVar[type] = float
    numeric: ClassVar[bool] = True
    db_is_python: ClassVar[bool] = False  # from_db makes every number read a float

    def validate(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            if type(value).__name__.startswith('float'):  # numpy floats
                value = float(value)
            else:
                raise TypeError('float')
        if isinstance(value, int) and not isinstance(value, bool):
            as_float = float(value) if abs(value) < 2**1024 else math.inf
            if as_float != value:
                raise ValueError('a number a float holds exactly (this integer would be rounded)')
        value = float(value)
        if math.isnan(value):
            raise ValueError('a number, not NaN (use None for a missing value)')
        return value

    def from_db(self, value: Any) -> Any:
        return None if value is None else float(value)


@dataclass(frozen=True)
class BoolType(_Plain):
    """True or False."""

    name: ClassVar[str] = 'Bool'
    sql_class: ClassVar[type[sa.types.TypeEngine[Any]] | None] = sa.Boolean
    python_type: ClassVar[type] = bool

    def validate(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise TypeError('bool')
        return value


@dataclass(frozen=True)
class TimestampType(_Scalar):
    """A point in time; values come back timezone-aware in UTC (naive ones are read as UTC)."""

    name: ClassVar[str] = 'Timestamp'
    sql_class: ClassVar[type[sa.types.TypeEngine[Any]] | None] = sa.DateTime

    def validate(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = datetime.datetime.fromisoformat(value)
            except ValueError:
                raise ValueError('an ISO-8601 timestamp such as 2026-01-31T12:00:00') from None
        if not isinstance(value, datetime.datetime):
            raise TypeError('datetime')
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC)

    def value_from_json(self, value: Any) -> Any:
        return datetime.datetime.fromisoformat(value) if isinstance(value, str) else value

    def to_db(self, value: Any) -> Any:
        return value.astimezone(datetime.UTC).replace(tzinfo=None)

    def from_db(self, value: Any) -> Any:
        return None if value is None else value.replace(tzinfo=datetime.UTC)


@dataclass(frozen=True)
class DateType(_Scalar):
    """A calendar date."""

    name: ClassVar[str] = 'Date'
    sql_class: ClassVar[type[sa.types.TypeEngine[Any]] | None] = sa.Date
    db_is_python: ClassVar[bool] = True

    def validate(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return datetime.date.fromisoformat(value)
            except ValueError:
                raise ValueError('an ISO-8601 date such as 2026-01-31') from None
        if isinstance(value, datetime.datetime) or not isinstance(value, datetime.date):
            raise TypeError('date')
        return value

    def value_from_json(self, value: Any) -> Any:
        return datetime.date.fromisoformat(value) if isinstance(value, str) else value


MAX_JSON_DEPTH = 64

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 4, 60, 60


def short_repr(value: Any, limit: int = 80) -> str:
    """A repr for error messages: cut at ``limit`` characters and at 4 levels of nesting.

    A value nested thousands deep must give a message, not a RecursionError from ``repr``.
    """
    text = _REPR.repr(value)
    if '\n' in text:  # a Table, ResultSet or DataFrame shows itself as a whole text table
        return f'<{type(value).__name__}>'
    return text if len(text) <= limit else text[: limit - 3] + '...'


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f'JSON nested at most {MAX_JSON_DEPTH} levels deep')
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str):
            StringType().validate(value)
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError('JSON without NaN or infinity')
        return
    if isinstance(value, list | tuple):
        for v in value:
            _check_json(v, depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f'JSON object keys that are strings, not {type(k).__name__}')
            StringType().validate(k)
            _check_json(v, depth + 1)
        return
    raise TypeError('JSON-serialisable value (dict, list, str, int, float, bool, None)')


class _SqliteJsonText(sqlite.JSON):
    """SQLite JSON declared as TEXT.

    A column declared ``JSON`` gets NUMERIC affinity, which turns a stored top-level number
    such as ``9223372036854775809`` or ``1.0`` into a different number before it is read back.
    """

    cache_ok = True


@compiles(_SqliteJsonText, 'sqlite')
def _sqlite_json_text(type_: Any, compiler: Any, **kw: Any) -> str:
    return 'TEXT'


def _canonical(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, separators=(',', ':'))


def _json_sql_type() -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=True).with_variant(_SqliteJsonText(none_as_null=True), 'sqlite')


@dataclass(frozen=True)
class JsonType(ColumnType):
    """Any JSON value: dicts, lists, strings, numbers, booleans.

    ``Json[schema]`` (a JSON schema dict or a TypedDict) only takes values matching it.
    """

    type_schema: str | None = None  # the JSON schema as canonical JSON text (hashable)
    name: ClassVar[str] = 'Json'
    db_is_python: ClassVar[bool] = True
    dynamic: ClassVar[bool] = True
    subscriptable: ClassVar[bool] = True

    def __str__(self) -> str:
        return self.spelled('Json' if self.type_schema is None else f'Json[{self.type_schema}]')

    def __getitem__(self, spec: Any) -> JsonType:
        from reverie import json_schema

        return replace(self, type_schema=_canonical(json_schema.to_schema(spec)))

    def validate(self, value: Any) -> Any:
        _check_json(value)
        value = json.loads(json.dumps(value))  # tuples become lists, as they come back
        if self.type_schema is not None:
            from reverie import json_schema

            json_schema.check(value, json.loads(self.type_schema))
        return value

    def to_json(self) -> dict[str, Any]:
        d = super().to_json()
        if self.type_schema is not None:
            d['type_schema'] = json.loads(self.type_schema)
        return d

    def sql_type(self) -> sa.types.TypeEngine[Any]:
        return _json_sql_type()

    def cast(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class ArrayType(ColumnType):
    """A rectangular array of numbers, kept as nested lists (numpy arrays are accepted)."""

    shape: tuple[int | None, ...] | None = None
    dtype: str = 'float'
    name: ClassVar[str] = 'Array'
    db_is_python: ClassVar[bool] = True
    subscriptable: ClassVar[bool] = True

    def __str__(self) -> str:
        inner = f'Array[{self.shape}, {self.dtype}]' if self.shape else f'Array[{self.dtype}]'
        return self.spelled(inner)

    def __getitem__(self, spec: Any) -> ArrayType:
        if isinstance(spec, ColumnType | type):
            spec = (None, spec)  # Array[Float]: a dtype, any shape
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], ColumnType | type):
            spec = (spec[1], spec[0])  # Array[Float, (6,)], Pixeltable 0.7's order
        shape, dtype = spec if isinstance(spec, tuple) and len(spec) == 2 else (spec, None)
        dname = getattr(dtype, 'name', None) or getattr(dtype, '__name__', None) or 'float'
        dname = {'Int': 'int', 'Float': 'float', 'Bool': 'bool'}.get(dname, dname)
        return replace(self, shape=tuple(shape) if shape is not None else None, dtype=dname)

    def validate(self, value: Any) -> Any:
        if hasattr(value, 'tolist') and not isinstance(value, list):
            value = value.tolist()
        if not isinstance(value, list | tuple):
            raise TypeError('list or numpy array')
        shape = _array_shape(value)
        if self.shape is not None and (
            len(shape) != len(self.shape)
            or any(
                want is not None and want != got
                for want, got in zip(self.shape, shape, strict=True)
            )
        ):
            raise ValueError(f'an array of shape {self.shape}, not {tuple(shape)}')
        _check_dtype(value, self.dtype)
        _check_json(value)
        return json.loads(json.dumps(value))

    def sql_type(self) -> sa.types.TypeEngine[Any]:
        return _json_sql_type()

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), 'shape': self.shape, 'dtype': self.dtype}


def _check_dtype(value: Any, dtype: str) -> None:
    """An Int array holds ints only (1.5 or 2.0 is refused), a Bool array bools only."""
    if isinstance(value, list | tuple):
        for v in value:
            _check_dtype(v, dtype)
    elif dtype == 'int' and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f'ints in an Int array, not {type(value).__name__} {value!r}')
    elif dtype == 'bool' and not isinstance(value, bool):
        raise ValueError(f'bools in a Bool array, not {type(value).__name__} {value!r}')


def _array_shape(value: Any) -> list[int]:
    if not isinstance(value, list | tuple):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f'numbers in the array, not {type(value).__name__}')
        return []
    if not value:
        return [0]
    inner = [_array_shape(v) for v in value]
    if any(s != inner[0] for s in inner):
        raise ValueError('a rectangular array (all rows the same length)')
    return [len(value), *inner[0]]


@dataclass(frozen=True)
class ImageType(ColumnType):
    """An image kept as a file in the media store; ``Image[(w, h), 'RGB']`` constrains it."""

    size: tuple[int, int] | None = None
    mode: str | None = None
    name: ClassVar[str] = 'Image'
    sql_class: ClassVar[type[sa.types.TypeEngine[Any]] | None] = sa.Text
    driver_native: ClassVar[bool] = True  # its media reference
    is_media: ClassVar[bool] = True

    def __str__(self) -> str:
        parts = [str(self.size)] if self.size else []
        if self.mode:
            parts.append(repr(self.mode))
        return self.spelled(f'Image[{", ".join(parts)}]' if parts else 'Image')

    def __getitem__(self, spec: Any) -> ImageType:
        items = spec if isinstance(spec, tuple) and not _is_size(spec) else (spec,)
        size, mode = None, None
        for item in items:
            if isinstance(item, str):
                mode = item
            elif _is_size(item):
                size = (int(item[0]), int(item[1]))
            else:
                raise InvalidValueError(
                    f'Image[...] takes a size (width, height) and/or a mode such as "RGB", '
                    f'got {item!r}.'
                )
        return replace(self, size=size, mode=mode)

    def cast(self, value: Any) -> Any:
        """``value`` converted to this type for ``astype`` (TypeError/ValueError if it cannot)."""
        raise TypeError(f'nothing converts to {self}')

    def value_from_json(self, value: Any) -> Any:
        """A literal of this type from the JSON the catalog stores (see ``exprs/serialize``)."""
        return value

    def accepts(self, other: ColumnType) -> bool:
        if not isinstance(other, ImageType):
            return False
        return (self.size is None or self.size == other.size) and (
            self.mode is None or self.mode == other.mode
        )

    def check_image(self, img: PIL.Image.Image) -> None:
        """Raise ValueError when ``img`` does not meet the size/mode constraint."""
        if self.size is not None and img.size != self.size:
            raise ValueError(f'an image of size {self.size}, not {img.size}')
        if self.mode is not None and img.mode != self.mode:
            raise ValueError(f'an image of mode {self.mode!r}, not {img.mode!r}')

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), 'size': self.size, 'mode': self.mode}


def _is_size(x: Any) -> bool:
    return (
        isinstance(x, tuple | list)
        and len(x) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in x)
    )


_BY_NAME: dict[str, type[ColumnType]] = {
    cls.name: cls
    for cls in (
        StringType,
        IntType,
        FloatType,
        BoolType,
        TimestampType,
        DateType,
        JsonType,
        ArrayType,
        ImageType,
    )
}


def column_type_classes() -> tuple[type[ColumnType], ...]:
    """Every column type class, in the order ``type_names`` lists them."""
    return tuple(_BY_NAME.values())


def type_names() -> list[str]:
    """Names of every column type: ``['String', 'Int', ...]``."""
    return list(_BY_NAME)


String = StringType()
Int = IntType()
Float = FloatType()
Bool = BoolType()
Timestamp = TimestampType()
Date = DateType()
Json = JsonType()
Array = ArrayType()
Image = ImageType()


class _RequiredFactory:
    """``Required[String]``: the non-nullable variant of a column type (a bare type already is).

    Kept for code written when bare types were nullable; ``Required[String | None]`` is
    ``String``.
    """

    def __getitem__(self, t: Any) -> ColumnType:
        return to_column_type(t).copy(nullable=False)

    def __repr__(self) -> str:
        return 'Required'


Required = _RequiredFactory()

_PY_TYPES: dict[Any, ColumnType] = {
    str: String,
    int: Int,
    float: Float,
    bool: Bool,
    datetime.datetime: Timestamp,
    datetime.date: Date,
    dict: Json,
    list: Json,
    PIL.Image.Image: Image,
}


def to_column_type(t: Any) -> ColumnType:
    """Normalise a column type given as ``rv.String``, a class, or a Python type."""
    if isinstance(t, ColumnType):
        return t
    if isinstance(t, type) and issubclass(t, ColumnType):
        return t()
    return from_python_type(t)


def from_python_type(t: Any) -> ColumnType:
    """``from_python_type(int)`` is ``Int`` (required); ``str | None`` is ``String | None``.

    A column type (``rv.Image``, ``rv.Array[rv.Float, (6,)]``) is taken as it is, so UDF
    hints can name them.
    """
    if isinstance(t, ColumnType):
        return t
    if isinstance(t, type) and issubclass(t, ColumnType):
        return t()
    origin = typing.get_origin(t)
    if origin in (typing.Union, getattr(__import__('types'), 'UnionType', None)):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        if len(args) == 1:
            return from_python_type(args[0]).copy(nullable=True)
    if origin in (list, dict):
        return Json
    if isinstance(t, typing.Hashable) and t in _PY_TYPES:
        return _PY_TYPES[t]
    if isinstance(t, type) and issubclass(t, PIL.Image.Image):
        return Image
    raise InvalidValueError(
        f'No column type for {t!r}; use one of String, Int, Float, Bool, Timestamp, Date, '
        'Json, Array, Image (or str, int, float, bool, datetime, date, dict, list, PIL.Image).'
    )


def infer_type(value: Any) -> ColumnType | None:
    """The column type of a literal value, or None when it has none."""
    if value is None:
        return None
    if isinstance(value, bool):
        return Bool
    for py, ct in _PY_TYPES.items():
        if isinstance(value, py) and not (
            py is datetime.date and isinstance(value, datetime.datetime)
        ):
            return ct
    if isinstance(value, tuple):
        return Json
    return None


# Python types that a String/Int/Float/Bool column stores as they are (each type's
# ``python_type``; kept as a mapping for callers that look types up by class).
PLAIN_PYTHON_TYPES: dict[type[ColumnType], type] = {
    cls: cls.python_type for cls in _BY_NAME.values() if cls.python_type is not None
}


def plain_value_ok(value: Any) -> bool:
    """Whether a str/int/float/bool passes its column type's checks unchanged.

    A fast path for the common case: False means "ask ``validate``", not "invalid".
    """
    vtype = type(value)
    if vtype is str:
        return bool(value.isascii() and '\x00' not in value)
    if vtype is int:
        return bool(-_INT64 <= value < _INT64)
    if vtype is float:
        return bool(value == value)  # not NaN
    return vtype is bool


def plain_column_ok(vtype: type, values: Sequence[Any]) -> bool:
    """``plain_value_ok`` over a column whose values are all exactly ``vtype``, at C speed.

    One join, one min/max or one NaN scan; False means "check them one by one".
    """
    if vtype is str:
        joined = ''.join(values)
        return bool(joined.isascii() and '\x00' not in joined)
    if vtype is int:
        return not values or bool(min(values) >= -_INT64 and max(values) < _INT64)
    if vtype is float:
        return not any(map(math.isnan, values))
    return vtype is bool
