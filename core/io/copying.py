"""Copy + hash: a source copied into the library's temp folder and hashed from the bytes written, in one read.

On Linux the kernel copies (``copy_file_range``) and both hashers read the freshly written pages through a
read-only mapping; elsewhere, or where a filesystem refuses, each chunk goes through a user-space buffer
and is hashed from it while the next one is read. The destination is a new file of ours (so mapping it is
safe, see :mod:`.fileops`), fsynced at the end; the source is checked unchanged after the last byte.
"""

from __future__ import annotations

import errno
import functools
import io
import mmap
import os
import stat
import sys
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import cast

from ..errors import Cancelled, SourceChanged, StorageError
from ..types import ByteProgress, CancelCheck
from .fileops import (
    O_BINARY,
    O_CLOEXEC,
    O_NOFOLLOW,
    SourceStat,
    check_unchanged,
    storage_error,
    unlink_quietly,
)
from .hashing import CHUNK_SIZE, RING_DEPTH, Digests, DualHasher, wait_all

# A read-only shared mapping whose pages are mapped at once (one call instead of a fault per page).
_MAP_READ_SHARED: int = (
    mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0) if hasattr(mmap, "MAP_SHARED") else 0
)


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
            os.O_RDWR | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_BINARY,
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
