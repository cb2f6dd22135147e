"""Background work on sources: hashing new or changed files, and noticing changes while running.

Hashing is polite: one file at a time, the worker thread at idle I/O priority where the OS allows it
(Linux: ``ioprio`` per thread via psutil), the page cache advised to drop what was read. It is resumable
by construction: a file's hashes are stored only if its row still describes the same (size, mtime, inode,
path), so a restart simply picks up the files still without hashes.

Changes are picked up by ``watchfiles`` (inotify) when installed, else by periodic rescans. A watch only
sees changes made through this machine's kernel: sources on network filesystems (a NAS share another
machine writes to) are still rescanned every ``poll_seconds``; local ones only every
``WATCHED_RESCAN_SECONDS``, a safety net for events the kernel dropped. (A rescan of 10,000 files is a
tenth of a second of CPU and megabytes of short-lived objects in the host's process: every 30 s, for
nothing, would be a cost a long-running ComfyUI pays all day.)
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from ..errors import Cancelled, ModelLibraryError
from ..io.fileops import O_NONBLOCK, reads_block_again
from ..io.hashing import Digests, hash_fd
from ..models import ModelFile
from ..types import CancelCheck
from .registry import SourceRegistry
from .rows import FileRow
from .walk import readable_target

log = logging.getLogger(__name__)

# How often the watch wakes without changes (to notice a stop, and to time the periodic rescan).
WAKE_SECONDS = 1.0
# Full rescans of watched local folders: only for events the kernel may have dropped (queue overflow).
WATCHED_RESCAN_SECONDS = 600.0
# New hashes reach the sources' records on disk after a batch of files once this long since the last
# write, and at the end of every pass (a source of 10,000 small files is not rewritten 200 times).
RECORD_SECONDS = 10.0
# Every this many wake-ups the mounts inside the watched folders are compared with the watch's (Linux).
MOUNT_CHECK_WAKES = 5


def _mounts_within(folders: list[Path]) -> object:
    from ..io.mounts import mounts_within

    try:
        return mounts_within(folders)
    except Exception:
        return None


def _watch_sees_everything(folder: Path) -> bool:
    """True when the kernel watch reports every change under ``folder`` (local filesystems only)."""
    from ..io.mounts import tree_is_local

    try:
        return tree_is_local(folder)
    except Exception:  # cannot tell: poll, as for a share
        log.debug("could not tell where %s is mounted", folder, exc_info=True)
        return False


def lower_io_priority() -> None:
    """Put the calling thread at idle I/O priority (Linux) so hashing never competes with the user."""
    try:
        import psutil

        proc = psutil.Process(threading.get_native_id())
        if hasattr(psutil, "IOPRIO_CLASS_IDLE"):
            proc.ionice(psutil.IOPRIO_CLASS_IDLE)
    except Exception:
        log.debug("could not lower the hashing thread's I/O priority", exc_info=True)


def hash_pending(
    registry: SourceRegistry,
    *,
    composite: Callable[[tuple[ModelFile, ...]], tuple[str, str]],
    cancelled: CancelCheck | None = None,
    limit: int | None = None,
    on_settled: Callable[[str], None] | None = None,
    guard: AbstractContextManager[object] | None = None,
) -> int:
    """Hash files that have no hashes yet; settle each model once all its files are hashed.

    The bytes are read outside ``guard``; each hash is stored and its model settled inside it (the
    source service's scan lock), so a scan never works from a snapshot a settle changed under it."""
    hashed = 0
    after = (-1, -1)  # files that could not be read are passed over, never fetched again in this pass
    recorded: set[int] = set()  # sources whose record on disk lacks hashes stored since the last write
    written = time.monotonic()
    try:
        while limit is None or hashed < limit:
            batch = registry.unhashed(limit=50, after=after)
            if not batch:
                break
            after = (batch[-1].device, batch[-1].id)
            for row in batch:
                if cancelled is not None and cancelled():
                    raise Cancelled("Hashing of the sources was cancelled; it resumes where it stopped.")
                digests = _read_hashes(registry, row)
                if digests is None:
                    continue
                settled = None
                with guard if guard is not None else nullcontext():
                    if not registry.record_hash(row.id, digests.blake3, digests.sha256, row):
                        continue
                    hashed += 1
                    recorded.add(row.source_id)
                    if row.model_id:
                        settled = settle_if_complete(registry, row.model_id, composite)
                if settled and on_settled is not None:
                    on_settled(settled)
                if limit is not None and hashed >= limit:
                    break
            if recorded and time.monotonic() - written >= RECORD_SECONDS:
                _save_records(registry, recorded, guard)
                written = time.monotonic()
    finally:
        _save_records(registry, recorded, guard)  # and at the end of the pass, however it ends
    return hashed


def _save_records(
    registry: SourceRegistry, recorded: set[int], guard: AbstractContextManager[object] | None
) -> None:
    """Write the new hashes into the sources' records: a rebuild then never hashes these files again."""
    if recorded:
        with guard if guard is not None else nullcontext():
            registry.save_file_records(recorded)
        recorded.clear()


def _read_hashes(registry: SourceRegistry, row: FileRow) -> Digests | None:
    """Both digests of the file ``row`` describes; None if it cannot be read or is not that file now."""
    path = _inside_source(registry, row)
    if path is None:
        return None
    # O_NONBLOCK: a FIFO put in the file's place since the scan would hang the open (and all hashing).
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (st.st_size, st.st_mtime_ns, st.st_ino) != (row.size, row.mtime_ns, row.inode):
            return None  # changed since the scan (or not a file now): the next scan resets it
        reads_block_again(fd)
        digests = hash_fd(fd)
        st2 = os.fstat(fd)
        if (st2.st_size, st2.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            return None
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except (AttributeError, OSError):
            pass
    except (OSError, ModelLibraryError):
        return None
    finally:
        os.close(fd)
    return digests


def _inside_source(registry: SourceRegistry, row: FileRow) -> str | None:
    """The file to read: itself, or a symlink's target (see ``walk.readable_target``)."""
    if not os.path.islink(row.path):
        return row.path
    try:
        root = registry.get(row.source_id).path
    except ModelLibraryError:
        return None
    return readable_target(row.path, root)


def settle_if_complete(
    registry: SourceRegistry, model_id: str, composite: Callable[[tuple[ModelFile, ...]], tuple[str, str]]
) -> str | None:
    if not model_id.startswith("p"):
        return None
    files = [f for f in registry.files_of_model(model_id) if f.state == "present"]
    if not files or any(f.blake3 is None or f.sha256 is None for f in files):
        return None
    folder = _common_folder([Path(f.path) for f in files])
    model_files = tuple(
        ModelFile(Path(f.path).relative_to(folder).as_posix(), f.size, f.blake3 or "", f.sha256 or "")
        for f in files
    )
    blake3, sha256 = composite(model_files)
    file_hashes = {mf.path: (mf.blake3, mf.sha256) for mf in model_files}
    return registry.settle_model(model_id, blake3, sha256, file_hashes)


def _common_folder(paths: list[Path]) -> Path:
    if len(paths) == 1:
        return paths[0].parent
    return Path(os.path.commonpath([str(p) for p in paths]))


class SourceWatcher:
    """Two daemon threads: one watches the source folders and runs ``on_change(paths)``; the other runs
    ``on_idle()`` (hashing) after every change, so that a long first hashing never keeps new files out
    of the listing: the watch starts at once and a file dropped in appears within seconds."""

    def __init__(
        self,
        folders: Callable[[], list[Path]],
        on_change: Callable[[set[Path]], object],
        on_idle: Callable[[], object],
        *,
        poll_seconds: float = 30.0,
        watched_rescan_seconds: float = WATCHED_RESCAN_SECONDS,
        links_out: Callable[[], set[Path]] = set,
    ) -> None:
        self._folders = folders
        self._on_change = on_change
        self._on_idle = on_idle
        self._poll = poll_seconds
        self._watched_rescan = max(poll_seconds, watched_rescan_seconds)
        # The sources holding links to files outside them: the watch cannot see their targets change.
        self._links_out = links_out
        self._stop = threading.Event()
        self._work = threading.Event()  # set after a scan: there may be files to hash
        self._scanned = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self._threads:
            return
        self._threads = [
            threading.Thread(target=self._watch, name="model-library-sources", daemon=True),
            threading.Thread(target=self._hash, name="model-library-hasher", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._work.set()
        for thread in self._threads:
            thread.join(timeout)

    def _watch(self) -> None:
        lower_io_priority()
        watchfiles: Any
        try:
            import watchfiles
        except ImportError:
            watchfiles = None
        while not self._stop.is_set():
            present = self._present()
            folders = list(present)
            if watchfiles is not None and folders:
                # The watch is set up inside the generator: a file made before would be missed. So the
                # first wake-up (a change, or the short timeout) scans everything once; later, the
                # sources the watch cannot fully see every ``poll`` seconds, all of them rarely.
                remote = {f for f in folders if not _watch_sees_everything(f)}
                mounted = _mounts_within(folders)
                wakes = 0
                caught_up = False
                last_full = last_poll = time.monotonic()
                try:
                    for changes in watchfiles.watch(
                        *folders,
                        stop_event=self._stop,
                        rust_timeout=int(min(self._poll, WAKE_SECONDS) * 1000),
                        yield_on_timeout=True,
                        debounce=800,
                        recursive=True,
                        raise_interrupt=False,
                    ):
                        now = time.monotonic()
                        if not caught_up or (not changes and now - last_full >= self._watched_rescan):
                            caught_up = True
                            last_full = last_poll = now
                            self._safe_change(set())
                        else:
                            if changes:
                                self._safe_change({Path(p) for _kind, p in changes})
                            if now - last_poll >= self._poll:  # also while changes keep coming
                                last_poll = now
                                polled = (remote | self._links_out()) & set(folders)
                                if polled:
                                    self._safe_change(polled)
                        if self._present() != present:
                            break  # sources changed, a share came back or was mounted: watch anew
                        wakes += 1
                        if wakes % MOUNT_CHECK_WAKES == 0 and _mounts_within(folders) != mounted:
                            break  # a share mounted into (or out of) a watched tree: judge it anew
                except Exception:
                    log.exception("model library: watching sources failed; falling back to polling")
                    watchfiles = None
            else:  # polling; the first scan at once (with a watch, its first wake-up does it)
                if self._scanned and self._stop.wait(self._poll):
                    break
                self._safe_change(set())

    def _present(self) -> dict[Path, int]:
        """The sources to watch, those there now, with their device numbers: an unmounted share is
        watched again when it is back, and a share mounted on a watched empty folder is a new watch
        (the old one watches the folder underneath, where nothing happens)."""
        present: dict[Path, int] = {}
        for folder in self._folders():
            try:
                st = folder.stat()
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                present[folder] = st.st_dev
        return present

    def _hash(self) -> None:
        lower_io_priority()  # per thread on Linux: this is the thread that reads the bytes
        while True:
            self._work.wait()
            if self._stop.is_set():
                return
            self._work.clear()
            try:
                self._on_idle()
            except Exception:
                log.exception("model library: background hashing failed")

    def _safe_change(self, changed: set[Path]) -> None:
        self._scanned = True
        try:
            self._on_change(changed)
        except Exception:
            log.exception("model library: source rescan failed")
        finally:
            self._work.set()
