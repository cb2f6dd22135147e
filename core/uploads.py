"""Resumable upload sessions on disk, for the browser's drop zone.

A session is a folder ``<uploads>/<id>/`` holding ``session.json`` (filename, declared size, times) and
``data.part`` (the bytes received so far). The size of ``data.part`` IS the session's offset, so a crash
or a dropped connection never leaves the two disagreeing: the client asks for the offset and continues
from there. Bytes are only ever appended at exactly the current offset; anything else is refused with
the offset to resume from (:class:`UploadOffsetMismatch`).

Both digests are computed while the bytes arrive (one :class:`~.io.hashing.DualHasher` per live
session). A hasher's state cannot be saved, so after a restart (or when too many sessions are live) the
prefix already on disk is hashed once more before new bytes are appended. On completion the data is
fsynced and renamed to its validated filename, ready for ``library.imports.import_uploaded``. Sessions idle
for longer than ``ttl_seconds`` (24 h) are removed.

Limits, so that one client cannot hold the disk or the server (issue 13): at most ``max_open_sessions``
(64) unfinished sessions in total and ``max_sessions_per_client`` (16) per client address, else 429
``too_many_uploads``; a session's declared size must fit in the free space minus the library's margin and
minus what open sessions already reserved, else 507 ``insufficient_space``. A finished session no longer
reserves anything (its bytes are on disk) and no longer counts as open. A session that received nothing
for ``reserve_idle_seconds`` (1 h) stops holding its space (it stays resumable until it expires): when it
resumes, the space it still needs is checked again.

A session may belong to a group (the files of one drop, :mod:`.upload_groups`): its bytes are then
received in its own folder as usual, and on completion moved to ``files/<relative_path>`` in the
group's folder, so that the finished group is laid out as the user's folder.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import (
    Conflict,
    InsufficientSpace,
    InvalidInput,
    NotFound,
    StorageError,
    TooManyUploads,
    UploadOffsetMismatch,
)
from .io.fileops import atomic_write_bytes, fsync_dir
from .io.hashing import DualHasher
from .io.paths import validate_component
from .upload_groups import (
    GroupState,
    UploadGroups,
    validate_group_id,
    validate_group_size,
    validate_relative_path,
)

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_READ_CHUNK = 8 * 1024 * 1024
DEFAULT_MAX_SIZE = 1 << 40  # 1 TiB: larger than any model file published today
DEFAULT_TTL_S = 24 * 3600  # an upload idle for a day is given up (the panel resumes far sooner)
CLEANUP_INTERVAL_S = 60.0
# Unfinished upload sessions at once. The panel sends one file at a time (a drop of a folder of models
# too: each file's session finishes before the next opens), so these are far above what it needs.
MAX_OPEN_SESSIONS = 64
MAX_SESSIONS_PER_CLIENT = 16
RESERVE_IDLE_S = 3600.0  # an upload idle this long stops holding free space (re-checked when it resumes)


@dataclass(frozen=True)
class UploadSession:
    id: str
    filename: str
    size: int
    offset: int
    created_at: float
    updated_at: float
    complete: bool = False
    job_id: str | None = None
    relative_path: str | None = None
    group: str | None = None  # the client's group id
    group_folder: str | None = None  # the server's folder for it (never shown to clients)
    client: str | None = None  # the address that opened it (never shown to clients)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "upload_id": self.id,
            "filename": self.filename,
            "size": self.size,
            "offset": self.offset,
            "complete": self.complete,
        }
        if self.job_id is not None:
            d["job_id"] = self.job_id
        if self.relative_path is not None:
            d["relative_path"] = self.relative_path
        if self.group is not None:
            d["group"] = self.group
        return d


@dataclass(frozen=True)
class CompletedUpload:
    id: str
    path: Path
    filename: str
    size: int
    blake3: str
    sha256: str
    group: GroupState | None = None


class _LiveHash:
    def __init__(self) -> None:
        self.hasher = DualHasher()
        self.offset = 0


class UploadWriter:
    """Appends one request's bytes to a session. Use as a context manager; returns via :meth:`close`."""

    def __init__(self, store: UploadStore, session: UploadSession, live: _LiveHash, fd: int) -> None:
        self._store = store
        self.session = session
        self._live = live
        self._fd = fd
        self.offset = session.offset
        self._closed = False

    def write(self, chunk: bytes) -> None:
        if self.offset + len(chunk) > self.session.size:
            raise InvalidInput(
                f"upload {self.session.id} received more bytes than its declared size "
                f"{self.session.size}; start a new upload with the right size"
            )
        view = memoryview(chunk)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            raise StorageError(
                f"could not write upload {self.session.id} at offset {self.offset} ({exc.strerror}); "
                "free some space and resume from GET /uploads/{id}"
            ) from exc
        self._live.hasher.update(chunk)
        self.offset += len(chunk)
        self._live.offset = self.offset

    def close(self) -> UploadSession:
        if not self._closed:
            self._closed = True
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._store._release(self.session.id)
            self.session = self._store._touch(self.session, self.offset)
        return self.session

    def __enter__(self) -> UploadWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class UploadStore:
    """Upload sessions under ``root``. Thread-safe; one writer per session at a time."""

    def __init__(
        self,
        root: Path,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        free_space_margin: int = 256 * 1024 * 1024,
        ttl_seconds: float = DEFAULT_TTL_S,
        max_live_hashers: int = 8,
        max_open_sessions: int = MAX_OPEN_SESSIONS,
        max_sessions_per_client: int = MAX_SESSIONS_PER_CLIENT,
        reserve_idle_seconds: float = RESERVE_IDLE_S,
    ) -> None:
        self.root = Path(root)
        self.max_size = max_size
        self.free_space_margin = free_space_margin
        self.ttl_seconds = ttl_seconds
        self.max_open_sessions = max_open_sessions
        self.max_sessions_per_client = max_sessions_per_client
        self.reserve_idle_seconds = reserve_idle_seconds
        self._max_live = max_live_hashers
        self._lock = threading.Lock()
        self._busy: set[str] = set()
        self._live: OrderedDict[str, _LiveHash] = OrderedDict()
        self.root.mkdir(parents=True, exist_ok=True)
        self.groups = UploadGroups(self.root)
        self._next_cleanup = 0.0
        # Bytes promised to open sessions (size - offset), rebuilt from disk by each cleanup pass and grown
        # by every create in between: free space is never promised twice. Only unfinished sessions.
        self._promised: dict[str, int] = {}
        self._clients: dict[str, str] = {}  # unfinished session id -> the client address that opened it
        self._lapsed: set[str] = set()  # unfinished sessions idle so long that they hold no space

    # -- sessions ------------------------------------------------------------------------------------
    def create(
        self,
        filename: str,
        size: int,
        *,
        relative_path: str | None = None,
        group: str | None = None,
        group_size: int | None = None,
        client: str | None = None,
    ) -> UploadSession:
        """A new session. With ``group`` (and ``group_size``), the file joins the files of one drop,
        stored at ``relative_path`` (default: its filename) inside the group's folder. ``client`` (the
        peer address) is counted against the per-client limit."""
        if not isinstance(filename, str) or not filename:
            raise InvalidInput("'filename' must be a non-empty string, e.g. \"model.safetensors\"")
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise InvalidInput(f"'size' must be a positive integer number of bytes, got {size!r}")
        if size > self.max_size:
            raise InvalidInput(f"upload of {size} bytes is larger than the limit of {self.max_size} bytes")
        name = validate_component(filename)
        rel = validate_relative_path(relative_path, name) if relative_path is not None else None
        if (group is None) != (group_size is None):
            raise InvalidInput("'group' and 'group_size' go together: send both for a drop of several files")
        if group is not None:
            group = validate_group_id(group)
            group_size = validate_group_size(group_size)
        # At most once a minute: a drop of 10,000 files must not read every session 10,000 times.
        if time.monotonic() >= self._next_cleanup:
            self._next_cleanup = time.monotonic() + CLEANUP_INTERVAL_S
            self.cleanup_expired()
        free = shutil.disk_usage(self.root).free
        client = client or "unknown"
        with self._lock:
            if len(self._promised) >= self.max_open_sessions:
                raise TooManyUploads(
                    f"{len(self._promised)} uploads are unfinished (at most {self.max_open_sessions} at "
                    "once); finish or cancel some (DELETE /uploads/{id}), or wait a day for idle ones to end"
                )
            mine = sum(1 for c in self._clients.values() if c == client)
            if mine >= self.max_sessions_per_client:
                raise TooManyUploads(
                    f"this client has {mine} unfinished uploads (at most {self.max_sessions_per_client}); "
                    "finish or cancel one (DELETE /uploads/{id}) before starting another"
                )
            promised = sum(self._promised.values())
            if size + promised + self.free_space_margin > free:
                raise InsufficientSpace(
                    f"not enough free space for {name} ({size} bytes; {free} free in {self.root}, of which "
                    f"{self.free_space_margin} are kept free and {promised} are reserved by unfinished "
                    "uploads); free some space, or finish or cancel other uploads, and try again"
                )
            upload_id = secrets.token_urlsafe(24)
            self._promised[upload_id] = size
            self._clients[upload_id] = client
        group_folder = None
        if group is not None and group_size is not None:
            group_folder = self.groups.reserve(group, group_size, rel or name, upload_id)
        try:
            folder = self.root / upload_id
            folder.mkdir()
            (folder / "data.part").touch()
            now = time.time()
            session = UploadSession(
                upload_id, name, size, 0, now, now, False, None, rel, group, group_folder, client
            )
            self._save(session)
        except BaseException:
            shutil.rmtree(self.root / upload_id, ignore_errors=True)
            with self._lock:
                self._promised.pop(upload_id, None)
                self._clients.pop(upload_id, None)
            if group_folder is not None:
                self.groups.release(group_folder, rel or name)
            raise
        return session

    def get(self, upload_id: str) -> UploadSession:
        folder = self._folder(upload_id)
        try:
            raw = json.loads((folder / "session.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NotFound(f"no upload {upload_id!r}; it finished, expired or never existed") from exc
        part = folder / "data.part"
        complete = bool(raw.get("complete", False))
        offset = int(raw["size"]) if complete else (part.stat().st_size if part.exists() else 0)
        return UploadSession(
            id=upload_id,
            filename=str(raw["filename"]),
            size=int(raw["size"]),
            offset=offset,
            created_at=float(raw["created_at"]),
            updated_at=float(raw["updated_at"]),
            complete=complete,
            job_id=raw.get("job_id"),
            relative_path=raw.get("relative_path"),
            group=raw.get("group"),
            group_folder=raw.get("group_folder"),
            client=raw.get("client"),
        )

    def describe(self, upload_id: str) -> dict[str, Any]:
        """The session as the client sees it; a group member also says how many files of its group are
        still missing (``group_pending``) and, once all are in, the group's import job."""
        session = self.get(upload_id)
        data = session.to_dict()
        state = self.group_state(session)
        if state is not None:
            data["group_pending"] = state.pending
            if state.job_id is not None:
                data["job_id"] = state.job_id
        return data

    def group_state(self, session: UploadSession) -> GroupState | None:
        if session.group_folder is None:
            return None
        try:
            return self.groups.state(session.group_folder)
        except NotFound:
            return None

    def open_writer(self, upload_id: str, start: int) -> UploadWriter:
        """Start appending at ``start``, which must equal the current offset."""
        session = self.get(upload_id)
        if session.complete:
            raise Conflict(f"upload {upload_id} is already complete")
        with self._lock:
            if upload_id in self._busy:
                raise Conflict(f"upload {upload_id} is already receiving data in another request")
            self._busy.add(upload_id)
        try:
            session = self.get(upload_id)  # the offset may have moved while we waited for the lock
            if start != session.offset:
                raise UploadOffsetMismatch(
                    f"upload {upload_id} is at offset {session.offset}, not {start}; "
                    f"resume with Content-Range: bytes {session.offset}-.../{session.size}",
                    session.offset,
                )
            self._hold_space_again(session)
            live = self._hasher_at(session)
            fd = os.open(self._folder(upload_id) / "data.part", os.O_WRONLY | getattr(os, "O_BINARY", 0))
            os.lseek(fd, session.offset, os.SEEK_SET)
        except BaseException:
            self._release(upload_id)
            raise
        return UploadWriter(self, session, live, fd)

    def complete(self, upload_id: str, *, job_id: str | None = None) -> CompletedUpload:
        """Finish a fully received upload: digests, fsync, rename to its filename."""
        session = self.get(upload_id)
        if session.offset != session.size and not session.complete:
            raise UploadOffsetMismatch(
                f"upload {upload_id} has {session.offset} of {session.size} bytes", session.offset
            )
        folder = self._folder(upload_id)
        with self._lock:
            live = self._live.pop(upload_id, None)
        if session.complete:
            raise Conflict(f"upload {upload_id} was already completed")
        if live is None or live.offset != session.size:
            if live is not None:
                live.hasher.close()
            live = self._rehash(folder / "data.part", session.size)
        digests = live.hasher.finish()
        part = folder / "data.part"
        fd = os.open(part, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        group: GroupState | None = None
        if session.group_folder is not None:
            final, group = self.groups.place(
                session.group_folder, session.relative_path or session.filename, part
            )
        else:
            # A subfolder, so that no filename (even "session.json") can collide with our own files.
            (folder / "file").mkdir(exist_ok=True)
            final = folder / "file" / session.filename
            os.replace(part, final)
            fsync_dir(final.parent)
        self._save(replace(session, complete=True, job_id=job_id, updated_at=time.time()))
        with self._lock:  # finished: its bytes are on disk, it reserves nothing and is no longer open
            self._promised.pop(upload_id, None)
            self._clients.pop(upload_id, None)
        return CompletedUpload(
            upload_id, final, session.filename, session.size, digests.blake3, digests.sha256, group
        )

    def set_job(self, upload_id: str, job_id: str) -> None:
        """Note the import job of a finished upload. A quick job (a file that is no model fails at once)
        may have ended and discarded the session already: then there is nothing left to note."""
        try:
            self._save(replace(self.get(upload_id), job_id=job_id))
        except (NotFound, FileNotFoundError):
            return

    def discard(self, upload_id: str) -> None:
        """Remove a session and its bytes (after its import, or when the user gives up). A member of a
        group that is not importing yet leaves the group, which then waits for that path again."""
        try:
            session = self.get(upload_id)
        except NotFound:
            session = None
        if session is not None and session.group_folder is not None:
            self.groups.release(session.group_folder, session.relative_path or session.filename)
        self._remove_session(upload_id)
        with self._lock:
            self._promised.pop(upload_id, None)
            self._clients.pop(upload_id, None)

    def discard_group(self, group_folder: str) -> None:
        """Remove a group (after its import, or when it expired): its member sessions and its folder."""
        try:
            members = self.groups.member_ids(group_folder)
        except OSError:
            members = []
        for upload_id in members:
            if _ID_RE.match(upload_id):
                self._remove_session(upload_id)
        self.groups.remove(group_folder)

    def _remove_session(self, upload_id: str) -> None:
        folder = self._folder(upload_id)
        with self._lock:
            live = self._live.pop(upload_id, None)
        if live is not None:
            live.hasher.close()
        # The folder is ours (a random id under our root, validated above) and holds only regular files.
        shutil.rmtree(folder, ignore_errors=True)

    def cleanup_expired(self, now: float | None = None) -> list[str]:
        """Remove sessions idle for longer than the TTL, then groups with no live member left that saw no
        activity for as long (a drop that never completed). Returns the removed session ids."""
        now = time.time() if now is None else now
        removed: list[str] = []
        live_groups: set[str] = set()
        promised: dict[str, int] = {}
        clients: dict[str, str] = {}
        lapsed: set[str] = set()
        for folder in self.root.iterdir():
            if not _ID_RE.match(folder.name) or not folder.is_dir() or folder.is_symlink():
                continue
            try:
                session: UploadSession | None = self.get(folder.name)
            except NotFound:
                session = None
            with self._lock:
                busy = folder.name in self._busy
            if session is not None:
                expired = session.updated_at + self.ttl_seconds < now
            else:
                expired = folder.stat().st_mtime + self.ttl_seconds < now
            if busy or not expired:
                if session is not None and session.group_folder is not None:
                    live_groups.add(session.group_folder)
                if session is not None and not session.complete:
                    held = busy or session.updated_at + self.reserve_idle_seconds >= now
                    promised[session.id] = max(0, session.size - session.offset) if held else 0
                    if not held:
                        lapsed.add(session.id)
                    clients[session.id] = session.client or "unknown"
                continue
            # Not discard(): an expiring member must not refresh (or shrink) its group.
            self._remove_session(folder.name)
            removed.append(folder.name)
        for group_folder in self.groups.folders():
            if group_folder in live_groups:
                continue
            try:
                idle = self.groups.last_activity(group_folder) + self.ttl_seconds < now
            except OSError:
                continue
            if idle:
                self.discard_group(group_folder)
        with self._lock:
            # Sessions created during this pass keep their promise until the next one.
            recent = {k: v for k, v in self._promised.items() if k not in promised and k not in removed}
            self._promised = {**promised, **{k: v for k, v in recent.items() if (self.root / k).is_dir()}}
            self._clients = {k: clients.get(k) or self._clients.get(k, "unknown") for k in self._promised}
            self._lapsed = lapsed & set(self._promised)
        return removed

    # -- internals -----------------------------------------------------------------------------------
    def _folder(self, upload_id: str) -> Path:
        if not isinstance(upload_id, str) or not _ID_RE.match(upload_id):
            raise NotFound(f"no upload {upload_id!r}; upload ids come from POST /uploads")
        return self.root / upload_id

    def _save(self, session: UploadSession) -> None:
        data = {
            "filename": session.filename,
            "size": session.size,
            "created_at": session.created_at,
            "updated_at": session.updated_at,
            "complete": session.complete,
            "job_id": session.job_id,
            "relative_path": session.relative_path,
            "group": session.group,
            "group_folder": session.group_folder,
            "client": session.client,
        }
        atomic_write_bytes(self._folder(session.id) / "session.json", json.dumps(data).encode())

    def _touch(self, session: UploadSession, offset: int) -> UploadSession:
        updated = replace(session, offset=offset, updated_at=time.time())
        self._save(updated)
        return updated

    def _hold_space_again(self, session: UploadSession) -> None:
        """A session whose reservation lapsed (idle) resumes only if the space it still needs is free."""
        with self._lock:
            if session.id not in self._lapsed:
                return
            needed = session.size - session.offset
            free = shutil.disk_usage(self.root).free
            others = sum(v for k, v in self._promised.items() if k != session.id)
            if needed + others + self.free_space_margin > free:
                raise InsufficientSpace(
                    f"upload {session.id} was idle, and the {needed} bytes it still needs are no longer free "
                    f"({free} free in {self.root}, {others} reserved by other uploads, "
                    f"{self.free_space_margin} kept free); free some space and resume"
                )
            self._lapsed.discard(session.id)
            self._promised[session.id] = needed

    def _release(self, upload_id: str) -> None:
        with self._lock:
            self._busy.discard(upload_id)

    def _hasher_at(self, session: UploadSession) -> _LiveHash:
        """The session's live hasher, fed up to ``session.offset`` (re-reading the prefix if needed)."""
        with self._lock:
            live = self._live.get(session.id)
            if live is not None:
                self._live.move_to_end(session.id)
        if live is None or live.offset != session.offset:
            if live is not None:
                live.hasher.close()
            live = self._rehash(self._folder(session.id) / "data.part", session.offset)
        evicted: list[_LiveHash] = []
        with self._lock:
            self._live[session.id] = live
            idle = [key for key in self._live if key not in self._busy]
            while len(self._live) > self._max_live and idle:
                evicted.append(self._live.pop(idle.pop(0)))
        for old in evicted:
            old.hasher.close()
        return live

    @staticmethod
    def _rehash(part: Path, length: int) -> _LiveHash:
        live = _LiveHash()
        with open(part, "rb") as fh:
            remaining = length
            while remaining > 0:
                chunk = fh.read(min(_READ_CHUNK, remaining))
                if not chunk:
                    break
                live.hasher.update(chunk)
                remaining -= len(chunk)
                live.offset += len(chunk)
        return live
