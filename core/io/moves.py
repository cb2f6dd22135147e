"""Move mode: a file moved into the library's temp folder by rename, hashed there, and put back on failure.

A small journal (``<temp name>.move.json``, fsynced) is written before the rename, so after a crash
:func:`recover_moves` returns the user's file to where it was (THREATS invariant 5). Built on
:mod:`.fileops`, which does not import this module back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InvalidInput, SourceChanged, StorageError
from ..types import ByteProgress, CancelCheck
from .fileops import (
    atomic_write_json,
    check_unchanged,
    fsync_dir,
    open_source,
    rename_no_replace,
    storage_error,
    unlink_quietly,
)
from .hashing import Digests, hash_fd

MOVE_JOURNAL_SUFFIX = ".move.json"


def same_filesystem(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` (existing paths) are on one filesystem, so a rename is O(1)."""
    return os.stat(a).st_dev == os.stat(b).st_dev


def move_journal(dest_tmp: Path) -> Path:
    return Path(f"{dest_tmp}{MOVE_JOURNAL_SUFFIX}")


def move_and_hash(
    src_path: Path,
    dest_tmp: Path,
    *,
    progress: ByteProgress | None = None,
    cancelled: CancelCheck | None = None,
) -> Digests:
    """Move a file into the library's temp folder by rename (same filesystem) and hash it there.

    A journal ``<dest_tmp>.move.json`` is written (fsynced) before the rename, so after a crash
    :func:`recover_moves` returns the file to ``src_path``. On a hashing error or cancel the file is put
    back at once. After committing, the caller removes the journal with :func:`finish_move`.
    """
    src_path, dest_tmp = Path(src_path), Path(dest_tmp)
    fd, before = open_source(src_path)  # refuses links, folders, FIFOs; pins the identity we move
    try:
        if os.stat(dest_tmp.parent).st_dev != before.device:
            raise InvalidInput(
                f"{src_path} is on another drive than the library; a move there would be a copy and a "
                "delete; import it in copy mode instead"
            )
        journal = move_journal(dest_tmp)
        atomic_write_json(journal, {"src": os.fspath(src_path), "dest": os.fspath(dest_tmp)})
        try:
            rename_no_replace(src_path, dest_tmp)
        except BaseException:
            unlink_quietly(journal)
            raise
        fsync_dir(dest_tmp.parent)
        fsync_dir(src_path.parent)
        try:
            digests = hash_fd(fd, progress=progress, cancelled=cancelled)
            if digests.size != before.size:
                raise SourceChanged(
                    f"{src_path} changed while it was read; nothing was imported; try again when it is "
                    "no longer being written"
                )
            check_unchanged(fd, dest_tmp, before)
        except BaseException:
            _undo_move(src_path, dest_tmp, journal)
            raise
        return digests
    except OSError as exc:
        if isinstance(exc, StorageError):
            raise
        raise storage_error(exc, f"moving {src_path} to {dest_tmp}") from exc
    finally:
        os.close(fd)


def _undo_move(src: Path, dest: Path, journal: Path) -> None:
    if not os.path.lexists(src) and os.path.lexists(dest):
        os.rename(dest, src)
        fsync_dir(src.parent)
    unlink_quietly(journal)


def finish_move(journal: Path) -> None:
    """Forget a move once its file is committed (the source no longer needs to come back)."""
    unlink_quietly(Path(journal))
    fsync_dir(Path(journal).parent)


def recover_moves(tmp_dir: Path) -> list[Path]:
    """Undo moves interrupted by a crash; return the source paths whose file was put back.

    For each leftover journal in ``tmp_dir``: if the moved file is still at its temp name (so it was not
    committed), it is renamed back to its source path, unless something now occupies that path (then the
    file stays in ``tmp_dir`` and the journal is kept, so nothing is lost and health can report it).
    """
    restored: list[Path] = []
    tmp_dir = Path(tmp_dir)
    if not tmp_dir.is_dir():
        return restored
    for journal in sorted(tmp_dir.glob(f"*{MOVE_JOURNAL_SUFFIX}")):
        try:
            entry = json.loads(journal.read_text(encoding="utf-8"))
            src, dest = Path(entry["src"]), Path(entry["dest"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable: kept for a human to look at, never guessed at
        if dest.parent != tmp_dir or move_journal(dest) != journal:
            continue  # a journal naming a file outside this temp folder is not ours to act on
        if not os.path.lexists(dest):
            unlink_quietly(journal)  # never renamed, or already committed
            continue
        if os.path.lexists(src):
            if os.path.samefile(src, dest):  # crashed between link and unlink of the move itself
                os.unlink(dest)
                unlink_quietly(journal)
            continue  # else something new took the name: keep both, nothing is lost
        if os.lstat(dest).st_nlink > 1:
            # Crashed inside commit_file (link to the final name done, temp not yet unlinked): the bytes
            # are committed in the library; putting them back too would leave two names for one inode.
            os.unlink(dest)
            unlink_quietly(journal)
            continue
        src.parent.mkdir(parents=True, exist_ok=True)
        os.rename(dest, src)
        fsync_dir(src.parent)
        fsync_dir(tmp_dir)
        unlink_quietly(journal)
        restored.append(src)
    return restored
