"""Durable file operations: safe source opening, commit, atomic writes, fsync, storage errors.

The ground floor of ``io/``: copy+hash (:mod:`.copying`), move mode (:mod:`.moves`) and the trash
(:mod:`.trash`) build on it, and it imports none of them.

The rules every write in the library follows:

* Bytes go to a temp name inside the library's ``.tmp`` folder (same filesystem as their final place),
  are fsynced, and only then get their final name (:func:`commit_file`), which never overwrites. So a
  crash or ``kill -9`` at any point leaves at most a temp file, never a partial file at a final name.
* A source is opened with ``O_NOFOLLOW``, must be a regular file, and is checked again at the end by
  ``fstat`` *and* ``lstat`` (same device, inode, size, mtime): a file swapped or still being written
  is refused instead of being imported half-done (THREATS #4).
* In move mode a small journal is written before the rename, so after a crash
  :func:`.moves.recover_moves` puts the user's file back where it was (THREATS invariant 5).
* Nothing outside the trash is ever removed recursively; the trash is emptied without following links.
* Only files this library created are ever memory-mapped (a mapped file truncated by another process
  kills the reader with SIGBUS); users' files are read with ``read``.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import (
    Conflict,
    DestinationNotWritable,
    InsufficientSpace,
    InvalidInput,
    SourceChanged,
    StorageError,
    UnsafePath,
)
from .jsonfmt import pretty_json
from .syncfs import SYNCFS_MIN_PATHS, sync_all_at

O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_BINARY = getattr(os, "O_BINARY", 0)
# Opening a FIFO for reading waits for a writer: opened non-blocking, a swapped-in FIFO is refused at once.
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def reads_block_again(fd: int) -> None:
    """Undo O_NONBLOCK on a regular file's fd. Only where O_NONBLOCK exists: Windows has none, and its
    ``os.set_blocking`` (Python 3.12+) works on pipes only and raises on files."""
    if O_NONBLOCK:
        os.set_blocking(fd, True)


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


FSYNC_WORKERS = 8


def fsync_file(path: Path) -> None:
    """fsync a file of ours by name (opened for writing: Windows flushes only writable handles)."""
    fd = os.open(path, os.O_RDWR | O_BINARY | O_CLOEXEC | O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_many(files: Iterable[Path] = (), dirs: Iterable[Path] = ()) -> None:
    """fsync many files and folders of ours, several at once (group commit).

    One fsync after another waits for one journal commit each; fsyncs issued together are folded by
    the filesystem into a few shared commits, so a group of N small files costs about what one does.
    Where they are not (ext4 without a journal flushes the drive's cache once per fsync), many paths of
    one filesystem are synced by one ``syncfs`` (:func:`.syncfs.sync_all_at`).
    A file that cannot be synced raises (its bytes may not be on disk); folders are as in ``fsync_dir``.
    """
    file_list, dir_list = list(dict.fromkeys(files)), list(dict.fromkeys(dirs))
    if len(file_list) + len(dir_list) >= SYNCFS_MIN_PATHS and sync_all_at(file_list, dir_list):
        return
    jobs: list[tuple[Callable[[Path], None], Path]] = [(fsync_file, f) for f in file_list]
    jobs += [(fsync_dir, d) for d in dir_list]
    if len(jobs) <= 1:
        for fn, path in jobs:
            fn(path)
        return
    workers = min(FSYNC_WORKERS, len(jobs))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="model-library-fsync") as pool:
        for future in [pool.submit(fn, path) for fn, path in jobs]:
            future.result()


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


def atomic_write_many(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write several files, each atomically as ``atomic_write_bytes`` does, syncing them together: all
    temp files are written, then fsynced at once, then renamed, then each folder is fsynced once. A
    crash leaves each file old or new (and at most temp files); a failure raises after removing ours."""
    if len(files) <= 1:
        for path, data in files:
            atomic_write_bytes(path, data)
        return
    temps: list[tuple[str, Path]] = []
    try:
        for path, data in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temps.append((tmp, path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        fsync_many(files=[Path(tmp) for tmp, _ in temps])
        while temps:
            tmp, path = temps[0]
            os.replace(tmp, path)
            temps.pop(0)
    finally:
        for tmp, _ in temps:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    fsync_many(dirs=[path.parent for path, _ in files])


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as pretty UTF-8 JSON, atomically (see :func:`atomic_write_bytes`)."""
    text = pretty_json(obj) + "\n"
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
    flags = os.O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_BINARY | O_NONBLOCK  # a FIFO is refused below
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
        reads_block_again(fd)
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


# ------------------------------------------------------------------------------------------ write errors


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


def unlink_quietly(path: Path) -> None:
    """Remove a file of ours if it is still there (cleanup after a failure or once a move is done)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# ------------------------------------------------------------------------------------------------ commit


def rename_no_replace(src: Path, dest: Path) -> None:
    """Rename ``src`` to ``dest``, raising Conflict if ``dest`` exists (os.rename would replace it)."""
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


def commit_file(tmp: Path, final: Path) -> None:
    """Give a finished temp file its final name, never replacing an existing file; fsync the folders."""
    tmp, final = Path(tmp), Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        rename_no_replace(tmp, final)
    except Conflict:
        raise Conflict(f"{final} already exists; nothing was overwritten; choose another name") from None
    except OSError as exc:
        raise storage_error(exc, f"placing {tmp} at {final}") from exc
    fsync_dir(final.parent)
    if tmp.parent != final.parent:
        fsync_dir(tmp.parent)
