"""Settings from the environment and ``REVERIE_HOME/config.toml``.

Environment variables win over the file:

| variable            | config.toml            | default                          |
|---------------------|------------------------|----------------------------------|
| ``REVERIE_HOME``    | (location of the file) | ``~/.reverie``                   |
| ``REVERIE_DB_URL``  | ``[db] url``           | SQLite file ``REVERIE_HOME/reverie.db`` |
| ``REVERIE_MEDIA_DIR`` | ``[media] dir``      | ``REVERIE_HOME/media``           |
| ``REVERIE_MEDIA_URL`` | ``[media] url``        | none (the folder above); ``s3://bucket/prefix`` |
| ``REVERIE_MEDIA_CACHE_SIZE`` | ``[media] cache_size`` | ``2GiB`` (``REVERIE_HOME/cache/media``) |
| ``REVERIE_ALLOW_PRIVATE_URLS`` | ``[media] allow_private_urls`` | off (private hosts refused) |
| ``REVERIE_PROGRESS``| ``[display] progress`` | on when stderr is a terminal     |
| ``REVE_API_KEY``    | ``[reve] api_key``     | none                             |
| ``REVE_API_URL``    | ``[reve] base_url``    | ``https://api.reve.com``         |
| ``REVE_MAX_CONCURRENCY`` | ``[reve] max_concurrency`` | 64 (ceiling; starts at 8) |
| ``REVE_REQUESTS_PER_MINUTE`` | ``[reve] requests_per_minute`` | none (no cap)   |
| ``REVE_TIMEOUT``    | ``[reve] timeout``     | 180 (total seconds one attempt may take) |
| ``REVERIE_BUDGET_CREDITS`` | ``[budget] credits`` | none (no cap per operation)   |
| ``REVERIE_MAYBE_CHARGED_RETRIES`` | ``[paid] maybe_charged_retries`` | 1              |
| ``REVERIE_IMAGE_MODEL`` | ``[images] model`` | none (``images.*`` then need ``model=``) |
| ``OPENAI_API_KEY``  | ``[openai] api_key``   | none                             |
| ``OPENAI_BASE_URL`` | ``[openai] base_url``  | ``https://api.openai.com/v1``    |
| ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``) | ``[gemini] api_key`` | none       |
| ``GEMINI_BASE_URL`` | ``[gemini] base_url``  | ``https://generativelanguage.googleapis.com`` |
| ``BFL_API_KEY``     | ``[bfl] api_key``      | none                             |
| ``BFL_API_URL``     | ``[bfl] base_url``     | ``https://api.bfl.ai``           |

``REVERIE_MEDIA_URL`` keeps media in an S3-compatible object store; its endpoint, region and
credentials are the standard ``AWS_*`` settings (see ``reverie/store/s3.py``), and a host
reads it through a local cache of at most ``cache_size`` (least recently used files go).

Each provider section (``[openai]``, ``[gemini]``, ``[bfl]``, ``[reve]``) also takes
``max_concurrency``, ``requests_per_minute`` and ``timeout``: one entry each of
``Config.providers``.
| ``REVERIE_LOCAL_DEVICE`` | ``[local] device`` | ``auto``: CUDA, Apple MPS, else CPU |
| ``REVERIE_LOCAL_DTYPE`` | ``[local] dtype``   | ``auto``: 16-bit on a GPU, float32 on CPU |
| ``REVERIE_LOCAL_CPU_OFFLOAD`` | ``[local] cpu_offload`` | off                   |
| ``REVERIE_LOCAL_STEPS`` | ``[local] steps``   | 4 for a step-distilled model, else the model's |
| ``REVERIE_LOCAL_MEGAPIXELS`` | ``[local] megapixels`` | the model's (1 for FLUX.2) |
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reverie.errors import InvalidValueError

_LOCAL_DTYPES = ('auto', 'float32', 'float16', 'bfloat16')
DEFAULT_CACHE_BYTES = 2 << 30  # the read cache of an object store: 2 GiB
_SIZE = re.compile(r'\A(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\Z')
_UNITS = {'': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40}


def parse_size(value: object) -> int:
    """Bytes from ``2147483648``, ``'500MB'``, ``'2 GiB'`` or ``'1.5g'``; ValueError otherwise."""
    match = _SIZE.match(str(value).strip().lower())
    if isinstance(value, bool) or match is None:
        raise ValueError(value)
    return int(float(match[1]) * _UNITS[match[2]])


@dataclass(frozen=True)
class LocalSettings:
    """How the local diffusers model runs (``model='local/<path or Hugging Face id>'``)."""

    device: str = 'auto'  # 'auto', 'cpu', 'cuda', 'cuda:1', 'mps'
    dtype: str = 'auto'
    cpu_offload: bool = False
    steps: int | None = None
    megapixels: float | None = None


DEFAULT_REVE_URL = 'https://api.reve.com'

# Every hosted provider, Reve included: (key variables, URL variable, default URL, default
# concurrency, prefix of its limit variables). BFL runs at most 24 active tasks per account;
# OpenAI and Gemini limit by requests/tokens; Reve's pool starts at 8 and probes up to 64.
_PROVIDERS: dict[str, tuple[tuple[str, ...], str, str, int, str | None]] = {
    'openai': (('OPENAI_API_KEY',), 'OPENAI_BASE_URL', 'https://api.openai.com/v1', 8, None),
    'gemini': (
        ('GEMINI_API_KEY', 'GOOGLE_API_KEY'),
        'GEMINI_BASE_URL',
        'https://generativelanguage.googleapis.com',
        8,
        None,
    ),
    'bfl': (('BFL_API_KEY',), 'BFL_API_URL', 'https://api.bfl.ai', 24, None),
    'reve': (('REVE_API_KEY',), 'REVE_API_URL', DEFAULT_REVE_URL, 64, 'REVE'),
}


@dataclass(frozen=True)
class ProviderSettings:
    """How to reach one hosted provider (Reve included); the key is never shown in a repr."""

    name: str
    api_key: str | None = field(default=None, repr=False)
    base_url: str = ''
    max_concurrency: int = 8
    requests_per_minute: float | None = None
    timeout: float = 180.0
    key_variable: str = ''  # where the key comes from, for messages
    config_file: str = '~/.reverie/config.toml'  # where its section is read from, for messages

    def __repr__(self) -> str:
        key = "'***'" if self.api_key else 'None'
        return (
            f'ProviderSettings(name={self.name!r}, api_key={key}, base_url={self.base_url!r}, '
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
    image_model: str | None = None
    providers: Mapping[str, ProviderSettings] = field(default_factory=dict)
    allow_private_urls: bool = False
    local: LocalSettings = field(default_factory=LocalSettings)
    budget_credits: float | None = None  # default budget of each operation (paid-call layer)
    maybe_charged_retries: int = 1
    media_url: str | None = None  # s3://bucket/prefix: media in an object store, not media_dir
    media_cache_size: int = DEFAULT_CACHE_BYTES  # bytes of the object store's read cache

    @property
    def media_location(self) -> str:
        """Where media live: ``media_url`` when set, else the folder ``media_dir``."""
        return self.media_url or str(self.media_dir)

    @property
    def media_cache_dir(self) -> Path:
        """The read cache of an object store's media (``REVERIE_HOME/cache/media``)."""
        return self.home / 'cache' / 'media'

    def provider(self, name: str) -> ProviderSettings:
        """Settings of the hosted provider ``name`` (``openai``, ``gemini``, ``bfl``, ``reve``)."""
        settings = self.providers.get(name)
        return settings if settings is not None else ProviderSettings(name)

    @property
    def reve(self) -> ProviderSettings:
        """Settings of the Reve-compatible service (``[reve]``, ``REVE_API_KEY``...)."""
        return self.provider('reve')

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None) -> Config:
        """Read the environment and ``REVERIE_HOME/config.toml``; ``overrides`` win over both."""
        overrides = dict(overrides or {})
        env = os.environ
        home = Path(overrides.pop('home', None) or env.get('REVERIE_HOME') or '~/.reverie')
        home = home.expanduser()
        file = _read_toml(home / 'config.toml')
        _check_keys(file, home / 'config.toml')
        db = file.get('db', {})
        media = file.get('media', {})
        display = file.get('display', {})
        budget = file.get('budget', {})
        paid = file.get('paid', {})

        db_url = overrides.pop('db_url', None) or env.get('REVERIE_DB_URL') or db.get('url')
        if not db_url:
            db_url = f'sqlite:///{home / "reverie.db"}'
        # An explicit folder (init's media_dir) beats a URL from the environment or file.
        folder_given = 'media_dir' in overrides and 'media_url' not in overrides
        media_url = _media_url(overrides, media)
        media_dir = Path(
            overrides.pop('media_dir', None)
            or env.get('REVERIE_MEDIA_DIR')
            or media.get('dir')
            or home / 'media'
        ).expanduser()
        cache_raw = env.get('REVERIE_MEDIA_CACHE_SIZE') or media.get('cache_size')
        allow_private = overrides.pop('allow_private_urls', None)
        if allow_private is None:
            allow_private = env.get('REVERIE_ALLOW_PRIVATE_URLS', media.get('allow_private_urls'))
        progress_raw = overrides.pop('progress', None)
        if progress_raw is None:
            progress_raw = env.get('REVERIE_PROGRESS', display.get('progress'))
        if overrides:
            names = ', '.join(sorted(overrides))
            raise InvalidValueError(
                f'Unknown setting(s) {names}; known: home, db_url, media_dir, media_url, '
                'progress, allow_private_urls.'
            )
        return cls(
            home=home,
            db_url=str(db_url),
            media_dir=media_dir,
            media_url=None if folder_given else media_url,
            media_cache_size=_cache_size(cache_raw),
            progress=_optional_bool(progress_raw),
            image_model=env.get('REVERIE_IMAGE_MODEL') or file.get('images', {}).get('model'),
            providers={
                name: _provider_settings(name, file.get(name, {}), home) for name in _PROVIDERS
            },
            allow_private_urls=bool(_optional_bool(allow_private)),
            local=_local_settings(file.get('local', {})),
            budget_credits=_optional_float(
                env.get('REVERIE_BUDGET_CREDITS') or budget.get('credits'), 'credits', 'budget'
            ),
            maybe_charged_retries=_count(
                env.get('REVERIE_MAYBE_CHARGED_RETRIES', paid.get('maybe_charged_retries', 1)),
                '[paid] maybe_charged_retries',
            ),
        )


# Every key config.toml may hold, by section; anything else is a typo to report.
KNOWN_KEYS: dict[str, frozenset[str]] = {
    'db': frozenset({'url'}),
    'media': frozenset({'dir', 'url', 'cache_size', 'allow_private_urls'}),
    'display': frozenset({'progress'}),
    'images': frozenset({'model'}),
    **{
        provider: frozenset(
            {'api_key', 'base_url', 'max_concurrency', 'requests_per_minute', 'timeout'}
        )
        for provider in _PROVIDERS
    },
    'local': frozenset({'device', 'dtype', 'cpu_offload', 'steps', 'megapixels'}),
    'budget': frozenset({'credits'}),
    'paid': frozenset({'maybe_charged_retries'}),
}


def _check_keys(file: dict[str, Any], path: Path) -> None:
    """Refuse sections and keys reverie does not read, naming them and the known ones."""
    for section, values in file.items():
        known = KNOWN_KEYS.get(section)
        if known is None:
            raise InvalidValueError(
                f'Config file {str(path)!r} has an unknown section [{section}]; known sections '
                f'are {", ".join(f"[{s}]" for s in KNOWN_KEYS)}.'
            )
        if not isinstance(values, dict):
            raise InvalidValueError(
                f'Config file {str(path)!r}: {section!r} must be a [{section}] section, '
                f'got a {type(values).__name__}.'
            )
        for key in values:
            if key not in known:
                raise InvalidValueError(
                    f'Config file {str(path)!r} has an unknown key {key!r} in [{section}]; '
                    f'known keys there: {", ".join(sorted(known))}.'
                )


def _media_url(overrides: dict[str, Any], section: dict[str, Any]) -> str | None:
    """The object store URL of media (``media_url``, ``REVERIE_MEDIA_URL``, ``[media] url``)."""
    url = overrides.pop('media_url', None)
    if url is None:
        url = os.environ.get('REVERIE_MEDIA_URL') or section.get('url')
    url = str(url).strip() if url else None
    if url and not url.startswith('s3://'):
        raise InvalidValueError(
            f'REVERIE_MEDIA_URL (or [media] url) must look like s3://bucket/prefix, got {url!r}; '
            'for a folder set REVERIE_MEDIA_DIR (or [media] dir).'
        )
    return url or None


def _cache_size(value: object) -> int:
    if value in (None, ''):
        return DEFAULT_CACHE_BYTES
    try:
        return parse_size(value)
    except ValueError:
        raise InvalidValueError(
            f'[media] cache_size must be a size such as 2GiB, 500MB or a number of bytes, '
            f'got {value!r}.'
        ) from None


def _provider_settings(name: str, section: dict[str, Any], home: Path) -> ProviderSettings:
    key_vars, url_var, default_url, concurrency, prefix = _PROVIDERS[name]
    env = os.environ

    def limit(key: str) -> Any:
        value = env.get(f'{prefix}_{key.upper()}') if prefix else None
        return value or section.get(key)

    key = next((env[v] for v in key_vars if env.get(v)), None) or section.get('api_key')
    url = env.get(url_var) or section.get('base_url') or default_url
    return ProviderSettings(
        name=name,
        api_key=key or None,
        base_url=str(url).rstrip('/'),
        max_concurrency=_positive_int(
            limit('max_concurrency') or concurrency, 'max_concurrency', name
        ),
        requests_per_minute=_optional_float(
            limit('requests_per_minute'), 'requests_per_minute', name
        ),
        timeout=_optional_float(limit('timeout'), 'timeout', name) or 180.0,
        key_variable=f'{key_vars[0]} or [{name}] api_key',
        config_file=str(home / 'config.toml'),
    )


def _local_settings(section: dict[str, Any]) -> LocalSettings:
    env = os.environ

    def get(name: str) -> Any:
        value = env.get(f'REVERIE_LOCAL_{name.upper()}')
        return section.get(name) if value in (None, '') else value

    device = str(get('device') or 'auto').strip().lower()
    dtype = str(get('dtype') or 'auto').strip().lower()
    if dtype not in _LOCAL_DTYPES:
        raise InvalidValueError(
            f'[local] dtype must be one of {", ".join(_LOCAL_DTYPES)}, got {dtype!r}.'
        )
    steps = get('steps')
    megapixels = _optional_float(get('megapixels'), 'megapixels', 'local')
    return LocalSettings(
        device=device,
        dtype=dtype,
        cpu_offload=bool(_optional_bool(get('cpu_offload'))),
        steps=None if steps in (None, '') else _positive_int(steps, 'steps', 'local'),
        megapixels=megapixels,
    )


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open('rb') as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise InvalidValueError(f'Config file {str(path)!r} is not valid TOML: {e}.') from None


def _positive_int(value: object, name: str, section: str = 'reve') -> int:
    try:
        n = int(str(value))
    except ValueError:
        n = 0
    if n < 1:
        raise InvalidValueError(f'[{section}] {name} must be a positive integer, got {value!r}.')
    return n


def _optional_float(value: object, name: str, section: str = 'reve') -> float | None:
    if value in (None, ''):
        return None
    try:
        x = float(str(value))
    except ValueError:
        x = -1.0
    if x <= 0:
        raise InvalidValueError(f'[{section}] {name} must be a positive number, got {value!r}.')
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
