"""Durable file operations: safe source opening, copy+hash, commit, atomic writes.

Move mode (:mod:`.moves`) and the trash (:mod:`.trash`) build on these; their public names are
re-exported here, so every file operation is imported from this module.

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
* Only files this library created are ever memory-mapped (a mapped file truncated by another process
  kills the reader with SIGBUS); users' files are read with ``read``.
"""

from __future__ import annotations

import errno
import functools
import importlib
import io
import json
import mmap
import os
import stat
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

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
from ..types import ByteProgress, CancelCheck
from .hashing import CHUNK_SIZE, RING_DEPTH, Digests, DualHasher, wait_all

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
# Opening a FIFO for reading waits for a writer: opened non-blocking, a swapped-in FIFO is refused at once.
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def reads_block_again(fd: int) -> None:
    """Undo O_NONBLOCK on a regular file's fd. Only where O_NONBLOCK exists: Windows has none, and its
    ``os.set_blocking`` (Python 3.12+) works on pipes only and raises on files."""
    if O_NONBLOCK:
        os.set_blocking(fd, True)


# A read-only shared mapping whose pages are mapped at once (one call instead of a fault per page).
_MAP_READ_SHARED: int = (
    mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0) if hasattr(mmap, "MAP_SHARED") else 0
)


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
    flags = os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY | O_NONBLOCK  # a FIFO is refused below
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


def copy_mode(source_mode: int) -> int:
    """The mode of a library copy: never more readable than its source (a 0600 file stays private),
    always readable and writable by its owner; the umask applies on top, as for any new file."""
    return 0o644 & (0o600 | (source_mode & 0o777))


def _no_wider_group(dest_fd: int, source: os.stat_result) -> None:
    """Group read is kept only for the source's own group: a copy owned by another group (the library
    user's, or a setgid folder's) would be readable by other people than the source was."""
    now = os.fstat(dest_fd)
    if now.st_gid != source.st_gid and now.st_mode & 0o070:
        os.fchmod(dest_fd, stat.S_IMODE(now.st_mode) & ~0o070)


def copy_and_hash(
    src_fd: int,
    src_stat: SourceStat,
    dest_tmp: Path,
    *,
    progress: ByteProgress | None = None,
    cancelled: CancelCheck | None = None,
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
    source = os.fstat(src_fd)
    try:
        dest_fd = os.open(
            dest_tmp,
            os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY,
            copy_mode(source.st_mode),
        )
    except OSError as exc:
        raise storage_error(exc, action, src_stat.size) from exc
    done = 0
    try:
        try:
            _no_wider_group(dest_fd, source)
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
        unlink_quietly(dest_tmp)
        if isinstance(exc, OSError) and not isinstance(exc, StorageError):
            raise storage_error(exc, action, src_stat.size - done) from exc
        raise


# copy_file_range is refused across filesystems on old kernels, by some filesystems and for some files.
_KERNEL_COPY_UNSUPPORTED = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF}

# The kernel copies this much per step, then both hashers read those freshly written pages through a
# read-only mapping while the next step is copied. At most COPY_LEAD steps are copied ahead of the
# slower hasher (SHA-256): that throttle keeps the copy and BLAKE3 on one core and SHA-256 alone on
# the other, instead of three threads sharing two cores fairly and starving the critical one.
COPY_STEP = 16 * 1024 * 1024
COPY_LEAD = 3


def _kernel_copy(src_fd: int, dest_fd: int, offset: int, size: int = CHUNK_SIZE) -> int:
    """Copy up to ``size`` bytes at ``offset`` inside the kernel; return the bytes copied (0 at EOF)."""
    copied = 0
    while copied < size:
        count = os.copy_file_range(src_fd, dest_fd, size - copied, offset + copied, offset + copied)
        if count == 0:
            break
        copied += count
    return copied


def _copy_chunks(
    src_fd: int, dest_fd: int, progress: ByteProgress | None, cancelled: CancelCheck | None
) -> tuple[Digests, int]:
    """Copy and hash: in the kernel where it can, else through a user-space buffer."""
    os.lseek(src_fd, 0, os.SEEK_SET)
    try:
        os.posix_fadvise(src_fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    except (AttributeError, OSError):
        pass
    if hasattr(os, "copy_file_range") and _MAP_READ_SHARED:
        result = _kernel_copy_chunks(src_fd, dest_fd, progress, cancelled)
        if result is not None:
            return result
    return _buffer_copy_chunks(src_fd, dest_fd, progress, cancelled)


def _kernel_copy_chunks(
    src_fd: int, dest_fd: int, progress: ByteProgress | None, cancelled: CancelCheck | None
) -> tuple[Digests, int] | None:
    """Kernel copy with both hashes computed over the freshly written pages; None if refused at once.

    Measured on Linux/ext4 (bench/import.py): ``copy_file_range`` is the fastest copy (a user-space
    read+write costs two memory copies per byte), and hashing the destination through a mapping costs
    no copy at all (reading it back into a buffer cost one more). Each step's writeback starts at once
    (``sync_file_range``) so the final fsync has little left to wait for. The digests are of the
    bytes in the new file, not of a buffer that was meant to be written.
    """
    done = 0
    in_flight: deque[tuple[mmap.mmap, tuple[Future[object], Future[object]]]] = deque()
    hasher = DualHasher()
    try:
        while True:
            if cancelled is not None and cancelled():
                raise Cancelled("the import was cancelled; nothing was imported")
            try:
                count = _kernel_copy(src_fd, dest_fd, done, COPY_STEP)
            except OSError as exc:
                if done or exc.errno not in _KERNEL_COPY_UNSUPPORTED:
                    raise
                return None
            if count == 0:
                if not done and os.fstat(src_fd).st_size:
                    return None  # some filesystems copy nothing instead of refusing: read instead
                break
            try:
                mapped = mmap.mmap(dest_fd, count, _MAP_READ_SHARED, mmap.PROT_READ, offset=done)
            except OSError:
                if done:
                    raise
                return None  # a filesystem that cannot map files: copy through a buffer
            _start_writeback(dest_fd, done, count)
            in_flight.append((mapped, hasher.update_shared(mapped)))
            while len(in_flight) > COPY_LEAD:
                _release(in_flight.popleft())
            done += count
            if progress is not None:
                progress(done)
        while in_flight:
            _release(in_flight.popleft())
        return hasher.finish(), done
    finally:
        hasher.close()  # waits for a hasher still reading a mapping before it is unmapped
        for mapped, _ in in_flight:
            mapped.close()


def _release(entry: tuple[mmap.mmap, tuple[Future[object], Future[object]]]) -> None:
    mapped, futures = entry
    try:
        wait_all(list(futures))
    finally:
        mapped.close()


_SYNC_FILE_RANGE_WRITE = 2  # from <linux/fs.h>: start writeback of dirty pages, do not wait


def _start_writeback(fd: int, offset: int, count: int) -> None:
    """Start writing a range to disk now, without waiting (Linux ``sync_file_range``; else nothing)."""
    function = _sync_file_range()
    if function is not None:
        function(fd, offset, count, _SYNC_FILE_RANGE_WRITE)  # a hint: a failure here is harmless


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return cast("Callable[[int, int, int, int], int]", function)


def _buffer_copy_chunks(
    src_fd: int, dest_fd: int, progress: ByteProgress | None, cancelled: CancelCheck | None
) -> tuple[Digests, int]:
    """Read each chunk into a buffer, write it and hash it from that buffer while the next is read."""
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
            count = reader.readinto(ring[slot]) or 0
            if count == 0:
                break
            view = memoryview(ring[slot])[:count]
            _write_all(dest_fd, view)
            in_flight[slot] = list(hasher.update_shared(view))
            done += count
            if progress is not None:
                progress(done)
            slot = (slot + 1) % RING_DEPTH
        return hasher.finish(), done


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


# ------------------------------------------------------------------------------------------ re-exports

# Moves and the trash live in their own modules, which build on this one; callers keep importing every
# file operation from here. Resolved on first use, because those modules import this one.
_REEXPORTED = {
    "MOVE_JOURNAL_SUFFIX": "moves",
    "finish_move": "moves",
    "move_and_hash": "moves",
    "move_journal": "moves",
    "recover_moves": "moves",
    "same_filesystem": "moves",
    "empty_trash": "trash",
    "move_to_trash": "trash",
}

if TYPE_CHECKING:
    from .moves import MOVE_JOURNAL_SUFFIX as MOVE_JOURNAL_SUFFIX
    from .moves import finish_move as finish_move
    from .moves import move_and_hash as move_and_hash
    from .moves import move_journal as move_journal
    from .moves import recover_moves as recover_moves
    from .moves import same_filesystem as same_filesystem
    from .trash import empty_trash as empty_trash
    from .trash import move_to_trash as move_to_trash


def __getattr__(name: str) -> object:
    module = _REEXPORTED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __package__), name)
    globals()[name] = value
    return value
