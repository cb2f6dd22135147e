"""The Civitai client of a library, built on first use (httpx and the client load only then), sharing
the catalog's HTTP metadata cache; its guard applies the same host policy as the Hub's, with Civitai's
endpoint allowed and its key sent to Civitai's API alone."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..catalog.db import Database
from ..config import LibraryConfig

if TYPE_CHECKING:
    from ..civitai.client import CivitaiClient

DEFAULT_ENDPOINT = "https://civitai.com"


class LazyCivitai:
    """Call it for the client (built once); ``close()`` releases its connections."""

    def __init__(self, config: LibraryConfig, db: Database) -> None:
        self.config = config
        self.db = db
        self._client: CivitaiClient | None = None
        self._lock = threading.Lock()

    def __call__(self) -> CivitaiClient:
        with self._lock:
            if self._client is None:
                from ..civitai.client import CivitaiClient
                from ..net.cache import HttpCache
                from ..net.transport import NetworkGuard

                self._client = CivitaiClient(
                    self.config.civitai_endpoint or DEFAULT_ENDPOINT,
                    api_key=self.config.civitai_api_key,
                    guard=NetworkGuard.from_config(self.config),
                    cache=HttpCache(self.db),
                    retrier=None,
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
