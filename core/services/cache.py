"""This machine's content-addressed cache in use (issue 18): ComfyUI asks for a model file of the library
(a link in a view resolves into ``models/``), and gets the cached copy on the fast local disk, filled on
that first use from the share and verified by hash; later loads read the local copy. A workflow's models
can be cached before a run (``prefetch``). Without ``MODEL_LIBRARY_CACHE`` every path is left as it is.

A file that cannot be cached (larger than the budget, the cache full of files in use, the share's bytes
not the catalog's) is loaded from the share, and the reason logged: a load never fails because of the
cache.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..cache.store import ContentCache
from ..catalog.sidecar import SIDECAR_NAME
from ..catalog.store import Catalog
from ..config import LibraryConfig
from ..errors import ModelLibraryError
from ..models import Model, ModelFile

log = logging.getLogger(__name__)
MAX_REMEMBERED = 20_000  # model folders whose record's id is kept in memory


class CacheService:
    def __init__(self, config: LibraryConfig, repo: Catalog) -> None:
        self._config = config
        self._repo = repo
        self._models = os.path.join(os.path.realpath(config.models_dir), "")
        self.store: ContentCache | None = (
            ContentCache(config.cache_dir, config.cache_budget) if config.cache_dir is not None else None
        )
        # metadata.json path -> (its size, mtime and inode when read, the model id it names): a lookup
        # (also on ComfyUI's event loop) stats the record instead of reading and parsing it each time.
        self._ids: dict[Path, tuple[tuple[int, int, int], str]] = {}

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def route(self, path: str, *, fill: bool = True) -> str:
        """The path ComfyUI should read for ``path``: the cached copy of a library model's file (cached
        now if it is not yet, unless ``fill`` is False: a caller that must not wait), else ``path``."""
        if self.store is None or not path:
            return path
        real = os.path.realpath(path)
        if not real.startswith(self._models):
            return path  # not the library's (a user's own file): not ours to cache
        found = self._file_at(Path(real))
        if found is None:
            return path
        model, file = found
        if not fill:
            hit = self.store.lookup(file)
            return str(hit) if hit is not None else path
        try:
            return str(self.store.fill(file, Path(real)))
        except ModelLibraryError as exc:
            log.warning("model library: %s is loaded from the share: %s", model.name, exc)
            return path

    def _file_at(self, real: Path) -> tuple[Model, ModelFile] | None:
        """The model and file of a library file, from the nearest metadata.json above it."""
        for folder in real.parents:
            if not str(folder).startswith(self._models.rstrip(os.sep)):
                return None
            sidecar = folder / SIDECAR_NAME
            try:
                st = sidecar.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            model_id = self._model_id(sidecar, (st.st_size, st.st_mtime_ns, st.st_ino))
            if model_id is None:
                return None
            model = self._repo.find(model_id)
            if model is None:
                return None
            rel = real.relative_to(folder).as_posix()
            file = next((f for f in model.files if f.path == rel), None)
            return (model, file) if file is not None else None
        return None

    def _model_id(self, sidecar: Path, key: tuple[int, int, int]) -> str | None:
        known = self._ids.get(sidecar)
        if known is not None and known[0] == key:
            return known[1]
        try:
            model_id = str(json.loads(sidecar.read_text(encoding="utf-8"))["id"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if len(self._ids) >= MAX_REMEMBERED:
            self._ids.clear()
        self._ids[sidecar] = (key, model_id)
        return model_id

    def prefetch(self, model_ids: Sequence[str]) -> dict[str, Any]:
        """Cache these models' files now (before a run). -> what was cached, and what was not and why."""
        cached: list[str] = []
        skipped: list[dict[str, str]] = []
        if self.store is None:
            return {"enabled": False, "cached": cached, "skipped": skipped}
        for model_id in model_ids:
            model = self._repo.find(model_id)
            if model is None or model.location != "library":
                skipped.append({"id": model_id, "reason": "not a model of the library's folders"})
                continue
            folder = self._config.root / model.rel_dir
            try:
                for file in model.files:
                    self.store.fill(file, folder / file.path)
                cached.append(model_id)
            except ModelLibraryError as exc:
                skipped.append({"id": model_id, "reason": str(exc)})
        return {"enabled": True, "cached": cached, "skipped": skipped}

    def status(self) -> dict[str, Any]:
        if self.store is None:
            return {"enabled": False}
        entries = self.store.entries()
        return {
            "enabled": True,
            "root": str(self.store.root),
            "budget": self.store.budget,
            "used": sum(e.size for e in entries),
            "files": len(entries),
        }

    def clear(self) -> dict[str, Any]:
        """Remove every cached file no process holds (they load from the share until cached again)."""
        if self.store is None:
            return {"enabled": False, "removed": 0}
        removed = self.store.evict_all()
        return {"enabled": True, "removed": len(removed), "freed": sum(e.size for e in removed)}
