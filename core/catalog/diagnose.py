"""Why a catalog could not be opened or written: a full disk, an unreadable file, or real damage.

SQLite reports a full disk in two ways: "database or disk is full" when a page cannot be written, and
"disk I/O error" when the shared-memory index (``-shm``) of a WAL database cannot grow. The second looks
like a failing drive or a damaged file, and advising a rebuild for it would set a healthy catalog aside.
So the answer here comes from the disk and the file themselves: free space on the catalog's drive, read
access to the file, and an integrity check on an immutable read-only view of it (which writes nothing and
needs no free space).
"""

from __future__ import annotations

import enum
import os
import shutil
import sqlite3
from pathlib import Path

from ..errors import CatalogLocked, CatalogUnavailable, InsufficientSpace

# Below this much free space an I/O error while opening or writing the catalog is taken for a full disk.
LOW_SPACE = 4 * 1024 * 1024
# What a user is asked to free: room for the write-ahead log, its index and a few rebuilds' worth of pages.
CATALOG_HEADROOM = 64 * 1024 * 1024

_DAMAGE_WORDS = ("not a database", "malformed", "file is encrypted", "corrupt")


class Problem(str, enum.Enum):
    SPACE = "space"  # the catalog's disk is full: the file is fine
    DAMAGED = "damaged"  # the file fails SQLite's own checks
    UNAVAILABLE = "unavailable"  # permissions, a failing or vanished drive: the file may be fine


def free_bytes(path: Path) -> int | None:
    folder = Path(path).parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def diagnose(path: Path, exc: BaseException) -> Problem:
    text = str(exc).lower()
    if "full" in text:
        return Problem.SPACE
    free = free_bytes(path)
    if "i/o" in text and free is not None and free < LOW_SPACE:
        return Problem.SPACE
    if any(word in text for word in _DAMAGE_WORDS):
        return Problem.DAMAGED
    if not os.access(path, os.R_OK):
        return Problem.UNAVAILABLE
    return Problem.UNAVAILABLE if integrity_ok(path) is not False else Problem.DAMAGED


def integrity_ok(path: Path) -> bool | None:
    """True when ``path`` passes ``PRAGMA quick_check`` read as an immutable file (nothing is written,
    a write-ahead log beside it is not read); False when SQLite finds damage; None when it cannot tell
    (the file cannot be read at all)."""
    if not Path(path).exists():
        return None
    try:
        conn = sqlite3.connect(Path(path).absolute().as_uri() + "?immutable=1", uri=True)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA cache_size = -2048")
        row = conn.execute("PRAGMA quick_check").fetchone()
        return row is not None and row[0] == "ok"
    except sqlite3.DatabaseError as exc:
        text = str(exc).lower()
        return False if any(word in text for word in _DAMAGE_WORDS) else None
    finally:
        conn.close()


def space_message(path: Path, *, writing: bool) -> str:
    """Names the disk, what is free, and how much to free."""
    from ..io.drives import drive_info  # psutil: only when a disk is really full

    free = free_bytes(path)
    where = str(Path(path).parent)
    try:
        mount = drive_info(path).mountpoint
    except OSError:
        mount = ""
    disk = f"the disk mounted at {mount}" if mount else "its disk"
    have = f"{free / 1048576:.1f} MiB free" if free is not None else "no free space"
    need = max(CATALOG_HEADROOM - (free or 0), 1024 * 1024)
    action = "This change was not made. " if writing else ""
    return (
        f"The library catalog in {where} cannot be written: {disk} is full ({have}). {action}"
        f"Free at least {need / 1048576:.0f} MiB on it and try again; listing, searching and showing "
        "models keep working meanwhile. The catalog is not damaged: do not rebuild it."
    )


def refuses_writes(path: Path) -> bool:
    """True when ``path`` can be read but its disk takes no writes: mounted read-only (what the kernel
    does to a disk after I/O errors, ``errors=remount-ro``) or the file or folder is not writable."""
    path = Path(path)
    if not os.access(path, os.R_OK):
        return False
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return True
    except (OSError, AttributeError):  # no statvfs on Windows
        pass
    return not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK)


def read_only_message(path: Path) -> str:
    """Names the disk that refuses the catalog's writes and what to check."""
    from ..io.drives import drive_info

    try:
        mount = drive_info(path).mountpoint
    except OSError:
        mount = ""
    disk = f"the disk mounted at {mount}" if mount else "its disk"
    return (
        f"The library catalog in {Path(path).parent} cannot be written: {disk} refuses writes (mounted "
        "read-only, or the file or its folder is not writable; a disk with I/O errors is often remounted "
        "read-only by the system). This change was not made. Check the disk and remount it read-write; "
        "listing, searching and showing models keep working meanwhile. The catalog is not damaged: do "
        "not rebuild it."
    )


def mapped_error(exc: sqlite3.OperationalError, path: Path) -> Exception:
    """A SQLite error of the catalog ``path`` as the error telling the user what to do (else itself)."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return CatalogLocked(f"The catalog {path} is locked by another process; try again shortly.")
    if diagnose(path, exc) is Problem.SPACE:
        return InsufficientSpace(space_message(path, writing=True))
    if any(word in text for word in _UNWRITABLE_WORDS):
        return CatalogUnavailable(
            f"The catalog {path} cannot be written ({exc}): its folder or drive is read-only or failing. "
            "This change was not made. Make the library folder writable (a drive remounted read-only "
            "after errors needs checking first) and try again; the catalog is not damaged: do not rebuild."
        )
    return exc


# A write refused by the folder or the drive, not by the catalog's content (never a bug of ours).
_UNWRITABLE_WORDS = ("readonly", "read-only", "disk i/o error", "unable to open")
