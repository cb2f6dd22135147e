"""The one hashing pipeline: BLAKE3 and SHA-256 of the same bytes, from one read.

Every model file is hashed twice: BLAKE3 (fast; the content id) and SHA-256 (what Hugging Face and
CivitAI publish, so lookups by hash work). Reading a 20 GB file twice would double the import time, so
the bytes are read once and each chunk goes to two hasher threads at the same time. Both hashlib's
SHA-256 and the ``blake3`` package release the GIL on large buffers, so the two threads really run on
two cores; SHA-256 is the slower of the two and sets the pace.

Digests are lowercase hex; :meth:`Digests.prefixed` gives the algorithm-prefixed form
(``"blake3:<hex>"``) used wherever a bare hex string could be mistaken for the other algorithm.

Example::

    >>> d = hash_path(Path("model.safetensors"))
    >>> d.prefixed()["sha256"]
    'sha256:9f86d0...'
"""

from __future__ import annotations

import hashlib
import io
import mmap
import os
import stat
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import blake3

from ..errors import Cancelled
from ..models import Hashes
from ..types import ByteProgress, CancelCheck

# 4 MiB x 3 buffers in flight: the reader fills one while both hashers work on the others. Measured on
# a 2-core box: hand-off costs nothing at this size, and a ring that stays well inside the L3 cache hashed
# faster than 4 x 8 MiB or 3 x 16 MiB (bytes still cached when the slower SHA-256 thread reaches them).
CHUNK_SIZE = 4 * 1024 * 1024
RING_DEPTH = 3


class _Hash(Protocol):
    def update(self, data: bytes | bytearray | memoryview | mmap.mmap, /) -> object: ...

    def hexdigest(self) -> str: ...


@dataclass(frozen=True)
class Digests:
    """Size in bytes and both digests (lowercase hex) of one byte stream."""

    size: int
    blake3: str
    sha256: str

    def prefixed(self) -> dict[str, str]:
        return {"blake3": f"blake3:{self.blake3}", "sha256": f"sha256:{self.sha256}"}

    def hashes(self) -> Hashes:
        return Hashes(blake3=self.blake3, sha256=self.sha256)


class DualHasher:
    """Feeds every chunk to a BLAKE3 and a SHA-256 hasher running in two threads.

    ``update`` returns at once; the chunk is hashed in the background, in order. A mutable buffer given
    to ``update`` is copied first (the caller may reuse it); :meth:`update_shared` skips that copy and
    returns a handle to wait on before the buffer is reused. Always end with :meth:`finish` or
    :meth:`close` (a context manager does the latter), or two idle threads are left behind.
    """

    def __init__(self) -> None:
        self._hashes: tuple[_Hash, _Hash] = (blake3.blake3(), hashlib.sha256())
        self._pools = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-library-blake3"),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-library-sha256"),
        )
        self._pending: list[Future[object]] = []
        self._size = 0
        self._closed = False

    def __enter__(self) -> DualHasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        data = chunk if isinstance(chunk, bytes) else bytes(chunk)
        self._pending = [f for f in self._pending if not f.done()]
        # Bound the memory held by chunks not hashed yet (a fast network can outrun SHA-256).
        while len(self._pending) >= 2 * RING_DEPTH:
            self._pending.pop(0).result()
        self._pending.extend(self.update_shared(data))

    def update_shared(
        self, view: bytes | bytearray | memoryview | mmap.mmap
    ) -> tuple[Future[object], Future[object]]:
        """Queue ``view`` without copying; the caller must not change it until both futures are done."""
        if self._closed:
            raise RuntimeError("DualHasher used after finish() or close()")
        self._size += len(view)
        futures = (
            self._pools[0].submit(self._hashes[0].update, view),
            self._pools[1].submit(self._hashes[1].update, view),
        )
        return futures

    def finish(self) -> Digests:
        """Wait for every queued chunk and return the digests; the hasher cannot be used afterwards."""
        try:
            # An empty job per pool runs after everything queued before it (one worker, FIFO), so its
            # result() is the barrier; the queued futures re-raise any hashing error.
            for pool in self._pools:
                pool.submit(_noop).result()
            for future in self._pending:
                future.result()
            return Digests(self._size, self._hashes[0].hexdigest(), self._hashes[1].hexdigest())
        finally:
            self.close()

    def close(self) -> None:
        """Stop the threads, dropping chunks not hashed yet (for errors and cancel)."""
        if self._closed:
            return
        self._closed = True
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)


def _noop() -> None:
    return None


def wait_all(futures: list[Future[object]]) -> None:
    for future in futures:
        future.result()


def hash_fd(
    fd: int, *, progress: ByteProgress | None = None, cancelled: CancelCheck | None = None
) -> Digests:
    """Hash an open file from its current offset to its end, in one sequential read.

    ``progress(done)`` is called after each chunk with the bytes read so far; ``cancelled()`` returning
    true stops the work with :class:`Cancelled`.
    """
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    except (AttributeError, OSError):
        pass  # advisory only; not on every platform or file kind
    data = read_small(fd, cancelled)
    if data is not None:
        return hash_read(data, progress)
    ring = _take_ring()
    try:
        return _hash_ring(fd, ring, progress, cancelled)
    finally:
        _give_ring(ring)


def _hash_ring(
    fd: int, ring: list[bytearray], progress: ByteProgress | None, cancelled: CancelCheck | None
) -> Digests:
    in_flight: list[list[Future[object]]] = [[] for _ in range(RING_DEPTH)]
    done = 0
    # FileIO.readinto fills a reusable buffer and releases the GIL on every platform (os.readv is POSIX).
    reader = io.FileIO(fd, "rb", closefd=False)
    with reader, DualHasher() as hasher:
        slot = 0
        while True:
            if cancelled is not None and cancelled():
                raise Cancelled("hashing was cancelled; nothing was changed")
            wait_all(in_flight[slot])
            count = reader.readinto(ring[slot]) or 0
            if count == 0:
                break
            in_flight[slot] = list(hasher.update_shared(memoryview(ring[slot])[:count]))
            done += count
            if progress is not None:
                progress(done)
            slot = (slot + 1) % RING_DEPTH
        return hasher.finish()


# At or below this size a file is read whole and hashed inline: for the many small files of an adoption,
# handing chunks to threads costs more than it saves.
SMALL_FILE = 4 * 1024 * 1024
KEPT_RINGS = 1
_rings: list[list[bytearray]] = []
_rings_lock = threading.Lock()


def _remaining(fd: int) -> int:
    """Bytes from the offset to the end of a regular file; unbounded for pipes and devices."""
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return 1 << 62
        return max(0, st.st_size - os.lseek(fd, 0, os.SEEK_CUR))
    except OSError:
        return 1 << 62


def read_small(fd: int, cancelled: CancelCheck | None = None, size: int | None = None) -> bytes | None:
    """The rest of a small regular file (at most ``SMALL_FILE`` bytes when asked), read whole; None for
    a larger one or a pipe (:func:`hash_fd` streams those). Hash the bytes with :func:`hash_read`.
    ``size``: the file's size as its caller found it, the fd at its start (one read, no fstat).

    Reading and hashing are two steps so a caller can hold a drive's slot (``io/drives.py``) for the read
    alone: the hashing is CPU work that another file's read need not wait for."""
    if (size if size is not None else _remaining(fd)) > SMALL_FILE:
        return None
    if cancelled is not None and cancelled():
        raise Cancelled("hashing was cancelled; nothing was changed")
    if size is not None:
        data = os.pread(fd, size + 1, 0)  # a byte more: a file grown since is read to its end below
        if len(data) <= size:
            return data
    parts = []
    while chunk := os.read(fd, SMALL_FILE + 1):  # until EOF: the file may have grown since fstat
        parts.append(chunk)
    return b"".join(parts)


def hash_read(data: bytes, progress: ByteProgress | None = None) -> Digests:
    """Both digests of the bytes :func:`read_small` read, reporting them as read (``progress``)."""
    if progress is not None and data:
        progress(len(data))
    return hash_bytes(data)


def _take_ring() -> list[bytearray]:
    """Read buffers from a small shared pool: zeroing 12 MiB for every file is a cost of its own, and
    keeping a ring per thread would hold that memory in every thread that ever hashed."""
    with _rings_lock:
        if _rings:
            return _rings.pop()
    return [bytearray(CHUNK_SIZE) for _ in range(RING_DEPTH)]


def kept_buffer_bytes() -> int:
    """Bytes of read buffers kept between hashes (0 after :func:`release_buffers`)."""
    with _rings_lock:
        return sum(len(buf) for ring in _rings for buf in ring)


def release_buffers() -> None:
    """Drop the kept read buffers (12 MiB): called when a burst of hashing is over, so a long-running host
    does not hold them for good. The next hash allocates them again."""
    with _rings_lock:
        _rings.clear()


def _give_ring(ring: list[bytearray]) -> None:
    # Safe to reuse: hash_fd returns only after every hasher has finished with the ring.
    with _rings_lock:
        if len(_rings) < KEPT_RINGS:
            _rings.append(ring)


def hash_path(
    path: Path | str, *, progress: ByteProgress | None = None, cancelled: CancelCheck | None = None
) -> Digests:
    """Hash a whole file (see :func:`hash_fd`). Follows symlinks: use only on paths we own."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        return hash_fd(fd, progress=progress, cancelled=cancelled)
    finally:
        os.close(fd)


def hash_bytes(data: bytes) -> Digests:
    """Both digests of a small in-memory payload (no threads)."""
    return Digests(len(data), blake3.blake3(data).hexdigest(), hashlib.sha256(data).hexdigest())


hash_file = hash_path  # the name docs/architecture.md uses
