"""Opening the catalog as a library needs it: damage is repaired, a full disk is no damage.

- A missing, empty (0 bytes) or damaged catalog beside stored models is damage, never an empty library:
  the file is set aside (never deleted), the newest good backup comes back, and the caller rebuilds
  from the metadata.json files on top of it (so nothing imported after the backup is lost).
- A catalog that cannot be written because its disk is full opens read-only: reading commands work,
  writes fail with ``InsufficientSpace`` naming the disk and what to free.
- A catalog that cannot be read for another reason (permissions, a failing drive) raises
  ``CatalogUnavailable``: nothing is set aside or rebuilt, since the file may well be sound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CatalogCorrupt
from ..records.files import has_records
from .backup import backups, backups_dir, newest_good, restore
from .db import Database
from .sidecar import iter_sidecar_dirs, set_aside_corrupt


@dataclass
class OpenedCatalog:
    db: Database
    rebuild: bool = False  # the caller rebuilds from the files (the catalog was lost or damaged)
    notes: list[str] = field(default_factory=list)  # what was done, for the user


def holds_models(models_dir: Path) -> bool:
    """True when at least one model folder (a metadata.json) exists: stops at the first one found."""
    return next(iter_sidecar_dirs(models_dir), None) is not None


def had_catalog(db_path: Path, models_dir: Path) -> bool:
    """True when this library had a catalog worth rebuilding: models, backups or records/ exist (so a
    missing or 0-byte catalog is a lost one, never a new library's)."""
    return holds_models(models_dir) or bool(backups(backups_dir(db_path))) or has_records(db_path.parent)


def open_catalog(db_path: Path, models_dir: Path, *, read_only_fallback: bool = True) -> OpenedCatalog:
    db_path = Path(db_path)
    damage: str | None = None
    if not db_path.exists():
        if had_catalog(db_path, models_dir):
            damage = "the catalog file was missing"
    elif db_path.stat().st_size == 0 and had_catalog(db_path, models_dir):
        damage = "the catalog file was empty (0 bytes)"
    if damage is None:
        try:
            return OpenedCatalog(Database(db_path, read_only_fallback=read_only_fallback))
        except CatalogCorrupt as exc:
            damage = f"the catalog was damaged ({exc.__cause__ or exc})"
    db, notes, _ = replace_damaged(db_path, damage)
    return OpenedCatalog(db, rebuild=True, notes=notes)


def replace_damaged(db_path: Path, damage: str) -> tuple[Database, list[str], Path | None]:
    """Set the damaged catalog aside, restore the newest good backup if any; the caller rebuilds.
    Returns the new catalog, what was done, and where the damaged file went."""
    notes: list[str] = []
    moved = set_aside_corrupt(db_path)
    kept = f"; the old file is kept as {moved.name}" if moved is not None else ""
    good = newest_good(backups_dir(db_path))
    if good is not None:
        restore(good, db_path)
        notes.append(
            f"{damage}{kept}. Restored the backup {good.name} and brought it up to date from the "
            "models' metadata.json files."
        )
    else:
        notes.append(f"{damage}{kept}. Rebuilt it from the models' metadata.json files.")
    return Database(db_path), notes, moved
