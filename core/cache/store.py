"""The content-addressed cache: a model file's bytes under their BLAKE3 hash on this machine's fast disk.

``fill`` copies a file from the share into the cache once, hashing while it copies, and keeps it only
when the bytes are the ones the catalog names (a damaged or replaced file on the share never reaches the
cache). Every object is read-only and named by its hash, so a hit needs no check beyond its size.
``lookup`` marks an object used (its mtime: the LRU clock). Before a fill, the least recently used
objects go until the new one fits the budget, never one a process holds open or mapped (``open_files``),
nor one used in the last ``recent_s`` (processes we cannot look into), nor one another fill or lookup of
this machine is handling (each object has a lock file). ``on_evicted`` hears of every object removed, so
that links pointing at it are turned back to the share first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import HashMismatch, InsufficientSpace
from ..io.fileops import fsync_dir, unlink_quietly
from ..models import ModelFile
from ..types import ByteProgress, CancelCheck
from .open_files import RECENT_S, held_paths
from .sources import ByteSource, FolderFile

PARTIAL_SUFFIX = ".partial"


@dataclass(frozen=True)
class CacheEntry:
    blake3: str
    path: Path
    size: int
    used_at: float


class ContentCache:
    def __init__(
        self,
        root: Path,
        budget: int | None = None,
        *,
        held: Callable[[Path], set[str]] = held_paths,
        recent_s: float = RECENT_S,
        on_evicted: Callable[[CacheEntry], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.budget = budget
        self.objects = self.root / "objects"
        self._tmp = self.root / "tmp"
        self._locks = self.root / "locks"
        self._held = held
        self._recent_s = recent_s
        self._on_evicted = on_evicted
        self._clock = clock

    # -- names -------------------------------------------------------------------------------------------
    def path_of(self, file: ModelFile) -> Path:
        """Where ``file``'s bytes live in the cache (whether or not they are there yet)."""
        suffix = Path(file.path).suffix.lower()[:16]
        if not suffix[1:].isalnum():
            suffix = ""
        return self.objects / file.blake3[:2] / f"{file.blake3}{suffix}"

    def _lock(self, blake3: str) -> FileLock:
        self._locks.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self._locks / f"{blake3}.lock"))

    # -- use -----------------------------------------------------------------------------------------------
    def lookup(self, file: ModelFile) -> Path | None:
        """The cached copy of ``file`` (marked used now), or None."""
        path = self.path_of(file)
        try:
            if path.stat().st_size != file.size:
                return None
            now = self._clock()
            os.utime(path, (now, now))
        except OSError:
            return None
        return path

    def fill(
        self,
        file: ModelFile,
        source: Path | ByteSource,
        *,
        progress: ByteProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> Path:
        """``file``'s bytes in the cache, copied from ``source`` (a path on the share, or any
        ``ByteSource``) if they are not there yet.

        HashMismatch when the share's bytes are not the catalog's (nothing is kept); InsufficientSpace when
        the file cannot fit the budget (the caller keeps loading it from the share)."""
        hit = self.lookup(file)
        if hit is not None:  # every load after the first: no lock file to open
            return hit
        with self._lock(file.blake3):
            hit = self.lookup(file)
            if hit is not None:
                return hit
            self.make_room(file.size)
            dest = self.path_of(file)
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
            partial = self._tmp / f"{file.blake3}.{os.getpid()}{PARTIAL_SUFFIX}"
            origin = FolderFile(source) if isinstance(source, Path) else source
            digests = origin.copy_into(partial, progress=progress, cancelled=cancelled)
            if digests.blake3 != file.blake3 or digests.size != file.size:
                unlink_quietly(partial)
                raise HashMismatch(
                    f"{origin.describe()} does not hold the bytes the catalog names (blake3 "
                    f"{file.blake3[:16]}..., {file.size:,} bytes; read {digests.blake3[:16]}..., "
                    f"{digests.size:,} bytes): it was not cached. Run `model-library health` to find what "
                    "changed it."
                )
            os.chmod(partial, 0o444)  # an object is its hash: nobody writes into it
            os.replace(partial, dest)
            fsync_dir(dest.parent)
            now = self._clock()
            os.utime(dest, (now, now))
            return dest

    # -- room ----------------------------------------------------------------------------------------------
    def entries(self) -> list[CacheEntry]:
        """Every object, least recently used first."""
        found: list[CacheEntry] = []
        if not self.objects.is_dir():
            return found
        for shard in self.objects.iterdir():
            for path in shard.iterdir() if shard.is_dir() else ():
                try:
                    st = path.stat()
                except OSError:
                    continue
                found.append(CacheEntry(path.name.split(".")[0], path, st.st_size, st.st_mtime))
        return sorted(found, key=lambda e: (e.used_at, e.blake3))

    def used(self) -> int:
        return sum(e.size for e in self.entries())

    def make_room(self, size: int) -> list[CacheEntry]:
        """Evict least recently used objects until ``size`` more bytes fit the budget. -> those evicted."""
        if self.budget is None:
            return []
        if size > self.budget:
            raise InsufficientSpace(
                f"A {size:,}-byte file does not fit the cache budget ({self.budget:,} bytes); it is loaded "
                "from the share. Raise MODEL_LIBRARY_CACHE_BUDGET to cache it."
            )
        entries = self.entries()
        total = sum(e.size for e in entries)
        if total + size <= self.budget:
            return []
        held = self._held(self.objects)
        now = self._clock()
        evicted: list[CacheEntry] = []
        for entry in entries:
            if total + size <= self.budget:
                break
            if os.path.realpath(entry.path) in held or now - entry.used_at < self._recent_s:
                continue
            if self._evict(entry):
                total -= entry.size
                evicted.append(entry)
        if total + size > self.budget:
            raise InsufficientSpace(
                f"The cache {self.root} is full of models in use ({total:,} of {self.budget:,} bytes); this "
                "file is loaded from the share until some are closed or MODEL_LIBRARY_CACHE_BUDGET grows."
            )
        return evicted

    def _evict(self, entry: CacheEntry) -> bool:
        try:
            with self._lock(entry.blake3).acquire(timeout=0):
                if self._on_evicted is not None:
                    self._on_evicted(entry)  # links back to the share before the bytes go
                unlink_quietly(entry.path)
                return True
        except Timeout:
            return False  # being filled or looked up right now

    def evict_all(self) -> list[CacheEntry]:
        """Empty the cache of every object nobody holds (``model-library cache clear``)."""
        held = self._held(self.objects)
        return [e for e in self.entries() if os.path.realpath(e.path) not in held and self._evict(e)]
