"""The library's trash: removed items are renamed into dated folders, and emptied after a retention time.

Nothing outside the trash is ever removed recursively; the trash is emptied without following links.
Built on :mod:`.fileops`, which does not import this module back.
"""

from __future__ import annotations

import errno
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from ..errors import StorageError
from .fileops import fsync_dir, storage_error
from .paths import sanitize_component, unique_child


def _utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def move_to_trash(path: Path, trash_dir: Path, label: str) -> Path:
    """Rename ``path`` (file or folder) into ``<trash_dir>/<UTC stamp>-<label>/``; return its new path."""
    path, trash_dir = Path(path), Path(trash_dir)
    trash_dir.mkdir(parents=True, exist_ok=True)
    folder = unique_child(trash_dir, f"{_utc_stamp()}-{sanitize_component(label, fallback='item')}")
    folder.mkdir()
    target = folder / path.name
    try:
        os.rename(path, target)
    except OSError as exc:
        os.rmdir(folder)
        if exc.errno == errno.EXDEV:
            raise StorageError(
                f"{path} is on another drive than the trash {trash_dir}; nothing was moved"
            ) from exc
        raise storage_error(exc, f"moving {path} to the trash") from exc
    fsync_dir(folder)
    fsync_dir(path.parent)
    return target


def _trashed_at(entry: Path) -> float:
    try:
        stamp = datetime.strptime(entry.name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        return stamp.timestamp()
    except ValueError:
        return entry.lstat().st_mtime


def trash_entries(trash_dir: Path) -> list[tuple[Path, float]]:
    """What the trash holds: each direct entry and when it was trashed (a POSIX time)."""
    trash_dir = Path(trash_dir)
    if not trash_dir.is_dir() or trash_dir.is_symlink():
        return []
    return [(entry, _trashed_at(entry)) for entry in sorted(trash_dir.iterdir())]


def empty_trash(trash_dir: Path, older_than_days: float, now: datetime | None = None) -> list[Path]:
    """Delete trash entries older than ``older_than_days``; return what was removed.

    Only direct entries of ``trash_dir`` are touched; a symlink is removed itself, never followed, and
    folders are removed with ``shutil.rmtree``, which does not follow links inside them.
    """
    trash_dir = Path(trash_dir)
    if not trash_dir.is_dir() or trash_dir.is_symlink():
        return []
    cutoff = (now or datetime.now(timezone.utc)).timestamp() - older_than_days * 86400
    removed: list[Path] = []
    for entry in sorted(trash_dir.iterdir()):
        if _trashed_at(entry) > cutoff:
            continue
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink()
        else:
            shutil.rmtree(entry)
        removed.append(entry)
    if removed:
        fsync_dir(trash_dir)
    return removed
