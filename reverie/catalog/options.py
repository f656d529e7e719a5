"""Option values (``if_exists=``, ``if_not_exists=``, ...) checked once, at the boundary.

A misspelt option must never fall through to some branch: ``if_exists='invalid'`` once
dropped and recreated a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

from reverie.errors import AlreadyExistsError, InvalidValueError

IfExists = Literal['error', 'ignore', 'replace', 'replace_force']
IfNotExists = Literal['error', 'ignore']

IF_EXISTS: tuple[IfExists, ...] = ('error', 'ignore', 'replace', 'replace_force')
IF_NOT_EXISTS: tuple[IfNotExists, ...] = ('error', 'ignore')

S = TypeVar('S', bound=str)


def check_option(what: str, value: object, allowed: Sequence[S]) -> S:
    """``value`` when it is one of ``allowed``; else InvalidValueError listing them."""
    for choice in allowed:
        if value == choice and isinstance(value, str):
            return choice
    choices = ', '.join(repr(a) for a in allowed)
    raise InvalidValueError(f'{what} must be one of {choices}; got {value!r}.')


def check_if_exists(value: object) -> IfExists:
    """``if_exists=``: ``'error'``, ``'ignore'``, ``'replace'`` or ``'replace_force'``."""
    return check_option('if_exists', value, IF_EXISTS)


def check_if_not_exists(value: object) -> IfNotExists:
    """``if_not_exists=``: ``'error'`` or ``'ignore'``."""
    return check_option('if_not_exists', value, IF_NOT_EXISTS)


def keep_existing(if_exists: str, taken: str) -> bool:
    """What ``if_exists`` says of something already there: keep it (True) or replace it.

    ``'ignore'`` keeps it; ``'error'`` raises ``AlreadyExistsError`` with the message
    ``taken``; the others (``'replace'``, ``'replace_force'``) replace it.
    """
    if if_exists == 'ignore':
        return True
    if if_exists == 'error':
        raise AlreadyExistsError(taken)
    return False
