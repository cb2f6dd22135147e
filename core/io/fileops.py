"""Durable file operations: safe source opening, copy+hash, move+hash, commit, trash, atomic writes.

The rules every write in the library follows:

* Bytes go to a temp name inside the library's ``.tmp`` folder (same filesystem as their final place),
  are fsynced, and only then get their final name (:func:`commit_file`), which never overwrites. So a
  crash or ``kill -9`` at any point leaves at most a temp file, never a partial file at a final name.
* A source is opened with ``O_NOFOLLOW``, must be a regular file, and is checked again at the end by
  ``fstat`` *and* ``lstat`` (same device, inode, size, mtime): a file swapped or still being written
  is refused instead of being imported half-done (THREATS #4).
* In move mode a small journal is written before the rename, so after a crash :func:`recover_moves`
  puts the user's file back where it was (THREATS invariant 5).
* Nothing outside the trash is ever removed recursively; the trash is emptied without following links.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import stat
import tempfile
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import (
    Cancelled,
    Conflict,
    DestinationNotWritable,
    InsufficientSpace,
    InvalidInput,
    SourceChanged,
    StorageError,
    UnsafePath,
)
from .hashing import CHUNK_SIZE, RING_DEPTH, CancelledFn, Digests, DualHasher, ProgressFn, hash_fd, wait_all

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
MOVE_JOURNAL_SUFFIX = ".move.json"


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it survives a power cut (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, replace, fsync folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as pretty UTF-8 JSON, atomically (see :func:`atomic_write_bytes`)."""
    text = json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


# --------------------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class SourceStat:
    """Identity of a source file when it was opened; compared again when reading ends."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> SourceStat:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def open_source(path: Path | str) -> tuple[int, SourceStat]:
    """Open a file to import, refusing symlinks, folders, FIFOs and devices. The caller closes the fd."""
    flags = os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY | getattr(os, "O_NONBLOCK", 0)
    # O_NONBLOCK: opening a FIFO would otherwise hang until a writer appears; it is refused just below.
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(f"{path} is a symbolic link; import the file it points to instead") from exc
        if exc.errno == errno.ENOENT:
            raise InvalidInput(f"{path} does not exist; check the path and try again") from exc
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise InvalidInput(f"{path} cannot be read (permission denied); fix its permissions") from exc
        raise InvalidInput(f"{path} cannot be opened: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise UnsafePath(f"{path} is {kind}; only regular files can be imported")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, SourceStat.of(st)


def check_unchanged(fd: int, path: Path | str | None, expected: SourceStat) -> None:
    """Raise SourceChanged unless the open file, and the name ``path`` (if given), are still ``expected``."""
    seen = [SourceStat.of(os.fstat(fd))]
    if path is not None:
        try:
            seen.append(SourceStat.of(os.lstat(path)))
        except FileNotFoundError:
            seen.append(SourceStat(-1, -1, -1, -1))
    for now in seen:
        if now != expected:
            raise SourceChanged(
                f"{path or 'the source file'} changed while it was read; nothing was imported; "
                "try again when it is no longer being written"
            )


# ------------------------------------------------------------------------------------------ copy + hash


def storage_error(exc: OSError, action: str, needed: int = 0) -> StorageError:
    """Turn an OSError from a write into our error with a message saying what to do."""
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return InsufficientSpace(
            f"disk full while {action}; free {max(needed, 1):,} bytes and try again; nothing was imported"
        )
    if code == errno.EFBIG:
        return InsufficientSpace(
            f"the destination cannot hold a file this large while {action} (a file-size limit, e.g. "
            "FAT32's 4 GiB, or a quota); use a drive formatted as NTFS, exFAT, ext4 or APFS"
        )
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return DestinationNotWritable(
            f"cannot write while {action}: {exc.strerror}; make the library folder writable "
            "(or choose another library folder) and try again"
        )
    return StorageError(f"failed while {action}: {exc.strerror or exc}")


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        written = os.write(fd, view)
        view = view[written:]


def copy_and_hash(
    src_fd: int,
    src_stat: SourceStat,
    dest_tmp: Path,
    *,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
    src_path: Path | str | None = None,
) -> Digests:
    """Copy an open source to the new file ``dest_tmp`` and return the digests of the bytes written.

    The source is read once: each chunk is read into a buffer, written to the destination and hashed by
    two threads from that same buffer while the next chunk is read. The file is fsynced at the end and
    the source checked unchanged (fd and, if given, ``src_path``). On any error or cancel the temp file
    is removed and the error raised (ENOSPC -> InsufficientSpace, EROFS/EACCES -> DestinationNotWritable).
    """
    dest_tmp = Path(dest_tmp)
    action = f"copying {src_path or 'the source'} to {dest_tmp}"
    try:
        dest_fd = os.open(
            dest_tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY, 0o644
        )
    except OSError as exc:
        raise storage_error(exc, action, src_stat.size) from exc
    done = 0
    try:
        try:
            digests, done = _copy_chunks(src_fd, dest_fd, progress, cancelled)
            os.fsync(dest_fd)
        finally:
            os.close(dest_fd)
        if done != src_stat.size:
            raise SourceChanged(
                f"{src_path or 'the source file'} changed while it was read (expected {src_stat.size:,} "
                f"bytes, read {done:,}); nothing was imported; try again when it is no longer being written"
            )
        check_unchanged(src_fd, src_path, src_stat)
        return digests
    except BaseException as exc:
        _unlink_quietly(dest_tmp)
        if isinstance(exc, OSError) and not isinstance(exc, StorageError):
            raise storage_error(exc, action, src_stat.size - done) from exc
        raise


# copy_file_range is refused across filesystems on old kernels, by some filesystems and for some files.
_KERNEL_COPY_UNSUPPORTED = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF}


def _kernel_copy(src_fd: int, dest_fd: int, offset: int) -> int:
    """Copy up to one chunk at ``offset`` inside the kernel; return the bytes copied (0 at EOF)."""
    copied = 0
    while copied < CHUNK_SIZE:
        count = os.copy_file_range(src_fd, dest_fd, CHUNK_SIZE - copied, offset + copied, offset + copied)
        if count == 0:
            break
        copied += count
    return copied


def _read_back(dest_fd: int, buffer: bytearray, offset: int, count: int) -> memoryview:
    view = memoryview(buffer)[:count]
    got = 0
    while got < count:
        n = os.preadv(dest_fd, [view[got:]], offset + got)
        if n == 0:
            raise StorageError(f"the new file shrank while it was written (at byte {offset + got:,})")
        got += n
    return view


def _copy_chunks(
    src_fd: int, dest_fd: int, progress: ProgressFn | None, cancelled: CancelledFn | None
) -> tuple[Digests, int]:
    """Copy and hash chunk by chunk; the hashers run one chunk behind the copy.

    Measured on Linux/ext4 (bench/import.py): a user-space read+write of 2 GiB took 3-10 s where
    ``copy_file_range`` took ~1 s, so the kernel copies, and each chunk is read back from the destination
    (still in the page cache) to be hashed: the digests are of the bytes actually written. Where the
    kernel copy is unsupported, chunks are read into the buffer, written and hashed from it.
    """
    os.lseek(src_fd, 0, os.SEEK_SET)
    try:
        os.posix_fadvise(src_fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    except (AttributeError, OSError):
        pass
    kernel_copy = hasattr(os, "copy_file_range") and hasattr(os, "preadv")
    ring = [bytearray(CHUNK_SIZE) for _ in range(RING_DEPTH)]
    in_flight: list[list[Future[object]]] = [[] for _ in range(RING_DEPTH)]
    reader = io.FileIO(src_fd, "rb", closefd=False)
    done = 0
    slot = 0
    with reader, DualHasher() as hasher:
        while True:
            if cancelled is not None and cancelled():
                raise Cancelled("the import was cancelled; nothing was imported")
            wait_all(in_flight[slot])
            count = 0
            if kernel_copy:
                try:
                    count = _kernel_copy(src_fd, dest_fd, done)
                except OSError as exc:
                    if done or exc.errno not in _KERNEL_COPY_UNSUPPORTED:
                        raise
                    kernel_copy = False
            if kernel_copy:
                view = _read_back(dest_fd, ring[slot], done, count)
            else:
                count = reader.readinto(ring[slot]) or 0
                view = memoryview(ring[slot])[:count]
                _write_all(dest_fd, view)
            if count == 0:
                break
            in_flight[slot] = list(hasher.update_shared(view))
            done += count
            if progress is not None:
                progress(done)
            slot = (slot + 1) % RING_DEPTH
        return hasher.finish(), done


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# ----------------------------------------------------------------------------------------- move + hash


def same_filesystem(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` (existing paths) are on one filesystem, so a rename is O(1)."""
    return os.stat(a).st_dev == os.stat(b).st_dev


def move_journal(dest_tmp: Path) -> Path:
    return Path(f"{dest_tmp}{MOVE_JOURNAL_SUFFIX}")


def move_and_hash(
    src_path: Path,
    dest_tmp: Path,
    *,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
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
            _rename_no_replace(src_path, dest_tmp)
        except BaseException:
            _unlink_quietly(journal)
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


def _rename_no_replace(src: Path, dest: Path) -> None:
    # os.rename would silently replace an existing file on POSIX; a link+unlink cannot.
    try:
        os.link(src, dest, follow_symlinks=False)
    except FileExistsError as exc:
        raise Conflict(f"{dest} already exists; nothing was moved") from exc
    except OSError:
        if os.path.lexists(dest):
            raise Conflict(f"{dest} already exists; nothing was moved") from None
        os.rename(src, dest)  # filesystems without hard links (FAT, some network shares)
        return
    os.unlink(src)


def _undo_move(src: Path, dest: Path, journal: Path) -> None:
    if not os.path.lexists(src) and os.path.lexists(dest):
        os.rename(dest, src)
        fsync_dir(src.parent)
    _unlink_quietly(journal)


def finish_move(journal: Path) -> None:
    """Forget a move once its file is committed (the source no longer needs to come back)."""
    _unlink_quietly(Path(journal))
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
            _unlink_quietly(journal)  # never renamed, or already committed
            continue
        if os.path.lexists(src):
            if os.path.samefile(src, dest):  # crashed between link and unlink of the move itself
                os.unlink(dest)
                _unlink_quietly(journal)
            continue  # else something new took the name: keep both, nothing is lost
        if os.lstat(dest).st_nlink > 1:
            # Crashed inside commit_file (link to the final name done, temp not yet unlinked): the bytes
            # are committed in the library; putting them back too would leave two names for one inode.
            os.unlink(dest)
            _unlink_quietly(journal)
            continue
        src.parent.mkdir(parents=True, exist_ok=True)
        os.rename(dest, src)
        fsync_dir(src.parent)
        fsync_dir(tmp_dir)
        _unlink_quietly(journal)
        restored.append(src)
    return restored


# -------------------------------------------------------------------------------------- commit, trash


def commit_file(tmp: Path, final: Path) -> None:
    """Give a finished temp file its final name, never replacing an existing file; fsync the folders."""
    tmp, final = Path(tmp), Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        _rename_no_replace(tmp, final)
    except Conflict:
        raise Conflict(f"{final} already exists; nothing was overwritten; choose another name") from None
    except OSError as exc:
        raise storage_error(exc, f"placing {tmp} at {final}") from exc
    fsync_dir(final.parent)
    if tmp.parent != final.parent:
        fsync_dir(tmp.parent)


def _utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def move_to_trash(path: Path, trash_dir: Path, label: str) -> Path:
    """Rename ``path`` (file or folder) into ``<trash_dir>/<UTC stamp>-<label>/``; return its new path."""
    from .paths import sanitize_component, unique_child

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
