"""Settings from the environment and ``REVERIE_HOME/config.toml``.

Environment variables win over the file:

| variable            | config.toml            | default                          |
|---------------------|------------------------|----------------------------------|
| ``REVERIE_HOME``    | (location of the file) | ``~/.reverie``                   |
| ``REVERIE_DB_URL``  | ``[db] url``           | SQLite file ``REVERIE_HOME/reverie.db`` |
| ``REVERIE_MEDIA_DIR`` | ``[media] dir``      | ``REVERIE_HOME/media``           |
| ``REVERIE_PROGRESS``| ``[display] progress`` | on when stderr is a terminal     |
| ``REVE_API_KEY``    | ``[reve] api_key``     | none                             |
| ``REVE_API_URL``    | ``[reve] base_url``    | ``https://api.reve.com``         |
| ``REVE_MAX_CONCURRENCY`` | ``[reve] max_concurrency`` | 8                       |
| ``REVE_REQUESTS_PER_MINUTE`` | ``[reve] requests_per_minute`` | none (no cap)   |
| ``REVE_TIMEOUT``    | ``[reve] timeout``     | 180 (total seconds one attempt may take) |
| ``REVERIE_BUDGET_CREDITS`` | ``[budget] credits`` | none (no cap per operation)   |
| ``REVERIE_MAYBE_CHARGED_RETRIES`` | ``[paid] maybe_charged_retries`` | 1              |
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reverie.errors import InvalidValueError

DEFAULT_REVE_URL = 'https://api.reve.com'


@dataclass(frozen=True)
class ReveSettings:
    """How to reach a Reve-compatible service; the key is never shown in a repr."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_REVE_URL
    max_concurrency: int = 8
    requests_per_minute: float | None = None
    timeout: float = 180.0

    def __repr__(self) -> str:
        key = "'***'" if self.api_key else 'None'
        return (
            f'ReveSettings(api_key={key}, base_url={self.base_url!r}, '
            f'max_concurrency={self.max_concurrency}, '
            f'requests_per_minute={self.requests_per_minute}, timeout={self.timeout})'
        )


@dataclass(frozen=True)
class Config:
    """Everything reverie reads from the environment and the config file."""

    home: Path
    db_url: str
    media_dir: Path
    progress: bool | None
    reve: ReveSettings
    budget_credits: float | None = None  # default budget of each operation (paid-call layer)
    maybe_charged_retries: int = 1

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None) -> Config:
        """Read the environment and ``REVERIE_HOME/config.toml``; ``overrides`` win over both."""
        overrides = dict(overrides or {})
        env = os.environ
        home = Path(overrides.pop('home', None) or env.get('REVERIE_HOME') or '~/.reverie')
        home = home.expanduser()
        file = _read_toml(home / 'config.toml')
        db = file.get('db', {})
        media = file.get('media', {})
        display = file.get('display', {})
        reve = file.get('reve', {})
        budget = file.get('budget', {})
        paid = file.get('paid', {})

        db_url = overrides.pop('db_url', None) or env.get('REVERIE_DB_URL') or db.get('url')
        if not db_url:
            db_url = f'sqlite:///{home / "reverie.db"}'
        media_dir = Path(
            overrides.pop('media_dir', None)
            or env.get('REVERIE_MEDIA_DIR')
            or media.get('dir')
            or home / 'media'
        ).expanduser()
        progress_raw = overrides.pop('progress', None)
        if progress_raw is None:
            progress_raw = env.get('REVERIE_PROGRESS', display.get('progress'))
        reve_settings = ReveSettings(
            api_key=env.get('REVE_API_KEY') or reve.get('api_key') or None,
            base_url=(env.get('REVE_API_URL') or reve.get('base_url') or DEFAULT_REVE_URL).rstrip(
                '/'
            ),
            max_concurrency=_positive_int(
                env.get('REVE_MAX_CONCURRENCY') or reve.get('max_concurrency') or 8,
                'max_concurrency',
            ),
            requests_per_minute=_optional_float(
                env.get('REVE_REQUESTS_PER_MINUTE') or reve.get('requests_per_minute'),
                'requests_per_minute',
            ),
            timeout=_optional_float(env.get('REVE_TIMEOUT') or reve.get('timeout'), 'timeout')
            or 180.0,
        )
        if overrides:
            names = ', '.join(sorted(overrides))
            raise InvalidValueError(
                f'Unknown setting(s) {names}; known: home, db_url, media_dir, progress.'
            )
        return cls(
            home=home,
            db_url=str(db_url),
            media_dir=media_dir,
            progress=_optional_bool(progress_raw),
            reve=reve_settings,
            budget_credits=_optional_float(
                env.get('REVERIE_BUDGET_CREDITS') or budget.get('credits'), 'credits', '[budget]'
            ),
            maybe_charged_retries=_count(
                env.get('REVERIE_MAYBE_CHARGED_RETRIES', paid.get('maybe_charged_retries', 1)),
                '[paid] maybe_charged_retries',
            ),
        )

    def refreshed(self) -> Config:
        """These settings with the services' part (``[reve]``, ``[budget]``) read again.

        Keys, URLs and budgets may change between operations (a notebook sets
        ``REVE_API_URL`` after ``rv.init()``); the database and media folder do not.
        """
        current = Config.load({'home': self.home})
        return replace(
            self,
            reve=current.reve,
            budget_credits=current.budget_credits,
            maybe_charged_retries=current.maybe_charged_retries,
        )


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open('rb') as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise InvalidValueError(f'Config file {str(path)!r} is not valid TOML: {e}.') from None


def _positive_int(value: object, name: str) -> int:
    try:
        n = int(str(value))
    except ValueError:
        n = 0
    if n < 1:
        raise InvalidValueError(f'[reve] {name} must be a positive integer, got {value!r}.')
    return n


def _optional_float(value: object, name: str, section: str = '[reve]') -> float | None:
    if value in (None, ''):
        return None
    try:
        x = float(str(value))
    except ValueError:
        x = -1.0
    if x <= 0:
        raise InvalidValueError(f'{section} {name} must be a positive number, got {value!r}.')
    return x


def _count(value: object, name: str) -> int:
    try:
        n = int(str(value))
    except ValueError:
        n = -1
    if n < 0:
        raise InvalidValueError(f'{name} must be a whole number >= 0, got {value!r}.')
    return n


def _optional_bool(value: object) -> bool | None:
    if value is None or value == '':
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in ('0', 'false', 'no', 'off')
