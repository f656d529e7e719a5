"""What running expressions needs, passed down from the open catalog."""

from __future__ import annotations

from dataclasses import dataclass

from reverie.config import Config
from reverie.exec.pools import PoolRegistry
from reverie.store.db import Store
from reverie.store.ledger import Ledger
from reverie.store.media import MediaStore


@dataclass
class ExecContext:
    """The open catalog's database, media store, pools and settings.

    Functions get their settings (keys, URLs, limits) from ``settings()`` here, never by
    reading the environment or ``config.toml`` themselves.
    """

    store: Store
    media: MediaStore
    pools: PoolRegistry
    config: Config
    progress: bool | None
    ledger: Ledger  # the paid-call layer's record of every paid attempt

    def settings(self) -> Config:
        """Service settings as they are now, from the open catalog's home.

        Read again at each use, as a notebook may set ``OPENAI_API_KEY`` after opening the
        catalog; always from this catalog's ``REVERIE_HOME/config.toml``, whatever the
        process-wide default is.
        """
        return Config.load(
            {
                'home': str(self.config.home),
                'db_url': self.config.db_url,
                'media_dir': str(self.config.media_dir),
            }
        )
