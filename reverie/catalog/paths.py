"""Table and directory paths: ``dir/sub/table`` or ``dir.sub.table``, names validated."""

from __future__ import annotations

import re

from reverie.errors import InvalidValueError

_NAME = re.compile(r'\A[A-Za-z_][A-Za-z0-9_]{0,62}\Z')
# Table and directory names may also hold hyphens (as Pixeltable's do); column names may
# not, since ``t.my-col`` could not be written. A leading ``_`` is refused as in Pixeltable.
_PATH_PART = re.compile(r'\A[A-Za-z][A-Za-z0-9_-]{0,62}\Z')


def normalize_path(path: str, *, what: str = 'path', allow_root: bool = False) -> str:
    """``'a.b.t'`` and ``'a/b/t'`` both become ``'a/b/t'``; every part must be a name."""
    if not isinstance(path, str):
        # Not the value's repr: a Table's repr is its whole schema.
        raise InvalidValueError(
            f'A {what} must be a string such as "dir/table", got a {type(path).__name__}.'
        )
    if path == '' and allow_root:
        return ''
    parts = re.split(r'[./]', path)
    for part in parts:
        if not _PATH_PART.match(part):
            raise InvalidValueError(
                f'Invalid {what} {path!r}: {part!r} is not a valid name. Names start with a '
                'letter, contain only letters, digits, _ and -, and are at most 63 long '
                '(e.g. "reve_demo/scenes").'
            )
    return '/'.join(parts)


# Names a column may not have, as in Pixeltable: the public methods of a table (``t.insert``
# must stay the method) and of a query. ``name`` and ``path`` are allowed: the table's own
# name and path are ``get_metadata()['name']`` and ``['path']``. tests/catalog/test_names.py
# checks every public attribute of Table is here.
RESERVED_NAMES = frozenset(
    {
        'add_column',
        'add_columns',
        'add_computed_column',
        'add_embedding_index',
        'add_index',
        'batch_update',
        'collect',
        'columns',
        'count',
        'credits_used',
        'delete',
        'describe',
        'distinct',
        'drop_column',
        'drop_embedding_index',
        'drop_index',
        'get_metadata',
        'get_versions',
        'group_by',
        'head',
        'history',
        'insert',
        'join',
        'limit',
        'list_views',
        'near_duplicates',
        'order_by',
        'recompute_columns',
        'rename_column',
        'revert',
        'sample',
        'select',
        'show',
        'spend',
        'tail',
        'to_pandas',
        'update',
        'where',
    }
)


_VERSION = re.compile(r'\A[0-9]{1,18}\Z')  # ASCII digits only: '٣' is not a version


def split_version(path: str) -> tuple[str, int | None]:
    """``'dir/t:3'`` -> ``('dir/t', 3)``; a path without a version -> ``(path, None)``.

    Examples:
        >>> split_version('dir/t:3'), split_version('dir/t')
        (('dir/t', 3), ('dir/t', None))
    """
    if not isinstance(path, str) or ':' not in path:  # a wrong type is refused later
        return path, None
    name, _, version = path.rpartition(':')
    if not _VERSION.match(version):
        raise InvalidValueError(
            f'{path!r}: after ":" comes a version number in ASCII digits 0-9, e.g. '
            f'"{name}:3" (see t.history()).'
        )
    return name, int(version)


def check_column_name(name: object) -> str:
    """A valid column name, else InvalidValueError saying why."""
    if not isinstance(name, str) or not _NAME.match(name) or name.startswith('_'):
        raise InvalidValueError(
            f'Invalid column name {name!r}: use letters, digits and _, starting with a letter '
            '(at most 63 characters).'
        )
    if name in RESERVED_NAMES:
        raise InvalidValueError(
            f'Column name {name!r} is reserved: t.{name} is a Table method. Choose another '
            f'name, e.g. {name + "_"!r}.'
        )
    return name


def parent_of(path: str) -> str:
    """``'a/b/t'`` -> ``'a/b'``; top-level paths have parent ``''``."""
    return path.rpartition('/')[0]


def name_of(path: str) -> str:
    """Last part of a path."""
    return path.rpartition('/')[2]
