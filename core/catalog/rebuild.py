"""Rebuild the catalog from the files on disk: every library model row from its ``metadata.json``, then
what only the catalog knew (sources, links, installs, pending lookups) from ``records/``.

Above both :mod:`.sidecar` and :mod:`..records.restore` (which reaches the sources, the links and the
hub service); nothing below imports it.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..io.paths import lexically_at_or_under
from ..models import Model
from ..records.restore import restore_records
from .db import Database
from .repository import ModelRepository
from .sidecar import SIDECAR_NAME, files_present, iter_sidecar_dirs, read_sidecar_file
from .store import ORIGIN_KINDS, CatalogStore, Origin

_BATCH = 2000


@dataclass(frozen=True)
class RebuildReport:
    models: int
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (sidecar path, reason)
    missing: int = 0  # models whose files are gone or changed size (state "missing")
    took_s: float = 0.0
    restored: dict[str, Any] = field(default_factory=dict)  # from records/ (see core/records/restore.py)

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": self.models,
            "missing": self.missing,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "took_s": round(self.took_s, 3),
            "restored": self.restored,
        }


def rebuild_catalog(
    db: Database, models_dir: Path, library_root: Path, store: CatalogStore[Any] | None = None
) -> RebuildReport:
    """Replace every library model row with what the sidecars under ``models_dir`` say.

    Runs in one write transaction: readers see the old catalog until the new one is complete. Models
    catalogued in place (location "source") are kept. Unreadable sidecars and duplicates are skipped with
    a reason; a model whose files are gone or changed size is kept with state "missing".
    """
    started = time.perf_counter()
    repo = store if store is not None else ModelRepository(db)
    skipped: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    count = missing = 0
    root, models_dir = Path(library_root), Path(models_dir)
    if not lexically_at_or_under(models_dir, root):
        raise InvalidInput(f"The models folder {models_dir} is not inside the library root {root}.")
    prefix = os.path.join(str(root), "")
    with repo.bulk():
        repo.delete_all(location="library")
        folders = iter_sidecar_dirs(models_dir)
        while chunk := list(itertools.islice(folders, _BATCH)):
            batch: list[Model] = []
            sidecars: dict[str, str] = {}
            origins: dict[str, list[Origin]] = {}
            for folder in chunk:
                sidecar = os.path.join(folder, SIDECAR_NAME)
                rel_dir = folder[len(prefix) :].replace(os.sep, "/")
                try:
                    model, model_origins = read_sidecar_file(sidecar, rel_dir)
                except InvalidInput as exc:
                    skipped.append((sidecar, str(exc)))
                    continue
                if model.hashes.blake3 in seen or model.id in seen:
                    first = seen.get(model.hashes.blake3) or seen[model.id]
                    skipped.append((sidecar, f"the same model is already catalogued from {first}"))
                    continue
                seen[model.hashes.blake3] = seen[model.id] = rel_dir
                if not files_present(folder, model):
                    model = model.replace(state="missing")
                    missing += 1
                batch.append(model)
                sidecars[model.id] = sidecar
                origins[model.id] = [o for o in model_origins if o[1] in ORIGIN_KINDS]
            count += _add_batch(repo, batch, origins, sidecars, skipped)
    restored = restore_records(db, root).to_dict()
    return RebuildReport(count, skipped, missing, time.perf_counter() - started, restored)


def _add_batch(
    repo: CatalogStore[Any],
    batch: list[Model],
    origins: dict[str, list[Origin]],
    sidecars: dict[str, str],
    skipped: list[tuple[str, str]],
) -> int:
    """Add a batch; one model the store refuses (a NUL character a PostgreSQL catalog cannot hold) is
    skipped with its reason, never the whole rebuild."""
    try:
        return repo.add_many(batch, origins=origins)
    except InvalidInput:
        added = 0
        for model in batch:
            try:
                added += repo.add_many([model], origins={model.id: origins.get(model.id, [])})
            except InvalidInput as exc:
                skipped.append((sidecars[model.id], str(exc)))
        return added
