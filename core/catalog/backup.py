"""Rolling online backups of the catalog, and restoring the newest good one.

A backup is taken with SQLite's online backup API (readers and the writer go on meanwhile) into
``<library>/.backups/`` under a temporary name, then renamed into place, so a half-written backup never
looks like one. They are taken before each migration and at most once a day (at open), never when the
disk is short of room, and never by two processes at once (a file lock; the loser skips). A few of each
kind are kept. When the catalog is damaged or lost, the newest backup that passes ``quick_check`` comes
back first; a rebuild from the metadata.json files then brings the models up to date, so a backup adds
what files alone may not hold and never hides a model imported after it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from ..io.fileops import fsync_dir
from .diagnose import integrity_ok

log = logging.getLogger(__name__)

DAILY = 24 * 3600
KEEP = 3  # of each kind: daily, before-<migration>
_PREFIX = "catalog-"
_SUFFIX = ".sqlite"


def backups(folder: Path) -> list[Path]:
    """The backups in ``folder``, newest first."""
    try:
        found = [p for p in Path(folder).iterdir() if p.name.startswith(_PREFIX) and p.name.endswith(_SUFFIX)]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.name, reverse=True)


def backup_due(folder: Path, *, now: float | None = None, every: float = DAILY) -> bool:
    """True when no daily backup is younger than ``every`` seconds (a cheap listing, no file read)."""
    now = time.time() if now is None else now
    for path in backups(folder):
        if "-daily" in path.name:
            try:
                return now - path.stat().st_mtime >= every
            except OSError:
                continue
    return True


def take_backup(conn: sqlite3.Connection, db_path: Path, folder: Path, kind: str) -> Path | None:
    """Copy the catalog behind ``conn`` into ``folder`` as ``catalog-<stamp>-<kind>.sqlite``.

    Returns the backup, or None when it was skipped (another process is taking one, or the disk has no
    room for it: twice the catalog's size must stay free). Never raises for a backup that could not be
    made: the caller's work goes on, a warning is logged.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        size = _catalog_size(db_path)
        free = shutil.disk_usage(folder).free
        need = 2 * size + 16 * 1024 * 1024  # the copy, room for the catalog to grow, and headroom
        if free < need:
            log.warning(
                "catalog backup skipped: %s has %d bytes free, a backup wants %d free", folder, free, need
            )
            return None
        lock = FileLock(str(folder / ".lock"), timeout=0)
        with lock:
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            final = folder / f"{_PREFIX}{stamp}-{kind}{_SUFFIX}"
            partial = folder / f".partial-{final.name}"
            dest = sqlite3.connect(partial)
            try:
                conn.backup(dest)
                dest.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            finally:
                dest.close()
            with open(partial, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(partial, final)
            fsync_dir(folder)
        _prune(folder, kind)
        return final
    except Timeout:
        return None
    except (OSError, sqlite3.Error) as exc:
        log.warning("catalog backup into %s failed: %s", folder, exc)
        for leftover in folder.glob(".partial-*"):
            leftover.unlink(missing_ok=True)
        return None


def _catalog_size(db_path: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.stat(str(db_path) + suffix).st_size
        except OSError:
            pass
    return total


def _prune(folder: Path, kind: str) -> None:
    """Keep the KEEP newest backups of ``kind`` (daily, or before-<any migration>)."""
    family = "-daily" if kind == "daily" else "-before-"
    same = [p for p in backups(folder) if family in p.name]
    for old in same[KEEP:]:
        old.unlink(missing_ok=True)


def newest_good(folder: Path) -> Path | None:
    """The newest backup that passes ``quick_check``; damaged ones are skipped (and kept)."""
    for path in backups(folder):
        if integrity_ok(path):
            return path
        log.warning("catalog backup %s is damaged; trying an older one", path)
    return None


def restore(backup: Path, db_path: Path) -> None:
    """Put ``backup`` in place as the catalog at ``db_path`` (which must not exist: set it aside first).

    Copied (the backup stays), to a temporary name, then renamed: a crash leaves either no catalog or
    the whole backup."""
    db_path = Path(db_path)
    if db_path.exists():
        raise FileExistsError(f"{db_path} exists: set it aside before restoring a backup")
    partial = db_path.with_name(f".restoring-{db_path.name}")
    shutil.copyfile(backup, partial)
    with open(partial, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, db_path)
    fsync_dir(db_path.parent)


def backups_dir(db_path: Path) -> Path:
    """Where the backups of the catalog at ``db_path`` live: ``.backups/`` beside it."""
    return Path(db_path).parent / ".backups"
