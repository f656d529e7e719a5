"""What running expressions needs, passed down from the open catalog."""

from __future__ import annotations

from dataclasses import dataclass

from reverie.config import Config
from reverie.exec.pools import PoolRegistry
from reverie.store.db import Store
from reverie.store.media import MediaStore


@dataclass
class ExecContext:
    """The open catalog's database, media store, pools and settings.

    Functions get their settings (keys, URLs, limits) from ``config`` here, never by reading
    the environment or ``config.toml`` themselves.
    """

    store: Store
    media: MediaStore
    pools: PoolRegistry
    config: Config
    progress: bool | None = None
