"""Upload groups: the files of one browser drop (a sharded set, a Diffusers folder, a folder of models)
gathered in one folder laid out as the user's, so that ONE import plans them like ``import <folder>``.

A group lives in ``<uploads>/group.<hex>/``; the folder name is an HMAC of the client's group id under
a key kept in ``<uploads>/.group-key``, so clients never choose (or learn) a folder name, and a
restarted server finds the same folder for the same id. Inside::

    group.json          {"group", "size", "created_at", "claimed", "job_id"}   (written rarely)
    members/f-<key>     one per reserved file  (JSON: upload_id, relative_path); O_EXCL = no duplicates
    members/d-<key>     one per folder on a member's path (a file and a folder may not share a path)
    done/f-<key>        one per file whose bytes are in place
    files/<relative_path>

Keys hash the case-folded path, so ``A.bin`` and ``a.bin`` collide as they would on Windows and macOS.
A marker file per member keeps every step O(1) on disk even for 10,000 files; counts are cached.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import Conflict, InvalidInput, NotFound
from .importer.plan import is_model_file
from .io.fileops import atomic_write_bytes, fsync_dir
from .io.paths import validate_relpath

GROUP_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
GROUP_FOLDER_RE = re.compile(r"^group\.[0-9a-f]{40}$")
MAX_GROUP_FILES = 10_000
MAX_RELPATH_CHARS = 1024
MAX_RELPATH_DEPTH = 32
KEY_FILE = ".group-key"


def validate_group_id(group: object) -> str:
    if not isinstance(group, str) or not GROUP_ID_RE.match(group):
        raise InvalidInput(
            f"'group' must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-', got {str(group)[:80]!r}"
        )
    return group


def validate_group_size(size: object) -> int:
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_GROUP_FILES:
        raise InvalidInput(
            f"'group_size' must be the number of files in the group, 1 to {MAX_GROUP_FILES}, got {size!r}"
        )
    return size


def validate_relative_path(rel: object, filename: str) -> str:
    """A dropped file's path inside its folder: relative, ``/``-separated, safe, ending in ``filename``."""
    if not isinstance(rel, str):
        raise InvalidInput("'relative_path' must be a string such as 'my-model/unet/model.safetensors'")
    if len(rel) > MAX_RELPATH_CHARS:
        raise InvalidInput(f"'relative_path' is longer than {MAX_RELPATH_CHARS} characters")
    path = validate_relpath(rel)
    if len(path.parts) > MAX_RELPATH_DEPTH:
        raise InvalidInput(
            f"'relative_path' {rel[:120]!r} is {len(path.parts)} levels deep; "
            f"the limit is {MAX_RELPATH_DEPTH}"
        )
    if path.name != filename:
        raise InvalidInput(
            f"'relative_path' {rel[:120]!r} must end with the file's name {filename!r}; "
            "send the path of the file inside the dropped folder"
        )
    return path.as_posix()


@dataclass(frozen=True)
class GroupState:
    folder: str
    group: str
    size: int
    members: int
    done: int
    claimed: bool
    job_id: str | None

    @property
    def pending(self) -> int:
        return self.size - self.done


class UploadGroups:
    """The group folders under an uploads root. Thread-safe within one process (one lock)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._key: bytes | None = None
        # folder -> [members, done]; rebuilt from the marker folders after a restart.
        self._counts: dict[str, list[int]] = {}

    # -- naming --------------------------------------------------------------------------------------
    def folder_for(self, group: str) -> str:
        digest = hmac.new(self._secret(), group.encode("ascii"), hashlib.sha256).hexdigest()
        return f"group.{digest[:40]}"

    def path(self, folder: str) -> Path:
        if not GROUP_FOLDER_RE.match(folder):
            raise NotFound(f"no upload group folder {folder[:60]!r}")
        return self.root / folder

    def file_path(self, folder: str, relative_path: str) -> Path:
        return self.path(folder) / "files" / PurePosixPath(relative_path)

    # -- membership ----------------------------------------------------------------------------------
    def reserve(self, group: str, size: int, relative_path: str, upload_id: str) -> str:
        """Add a file to ``group`` (created on its first file); returns the group's folder name.

        Conflict when the group was announced with another size, is full, already importing, or holds
        this path already (or a file where this path needs a folder, or the reverse).
        """
        folder = self.folder_for(group)
        base = self.root / folder
        with self._lock:
            meta = self._read_meta(folder) if base.exists() else None
            if meta is None:
                for sub in ("members", "done", "files"):
                    (base / sub).mkdir(parents=True, exist_ok=True)
                meta = {"group": group, "size": size, "created_at": time.time(), "claimed": False}
                self._write_meta(folder, meta)
                self._counts[folder] = [0, 0]
            if int(meta["size"]) != size:
                raise Conflict(
                    f"upload group {group!r} was started with group_size {meta['size']}, not {size}; "
                    "send the same group_size for every file of a drop"
                )
            if meta.get("claimed"):
                raise Conflict(f"upload group {group!r} is complete and importing; start a new group")
            counts = self._counts_of(folder)
            if counts[0] >= size:
                raise Conflict(f"upload group {group!r} already has its {size} file(s)")
            members = base / "members"
            parts = PurePosixPath(relative_path).parts
            ancestors = ["/".join(parts[:i]) for i in range(1, len(parts))]
            if (members / _key("d", relative_path)).exists():
                raise Conflict(f"{relative_path!r} is already a folder in upload group {group!r}")
            for ancestor in ancestors:
                if (members / _key("f", ancestor)).exists():
                    raise Conflict(f"{ancestor!r} is already a file in upload group {group!r}")
            record = json.dumps({"upload_id": upload_id, "relative_path": relative_path}).encode()
            try:
                fd = os.open(members / _key("f", relative_path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                raise Conflict(
                    f"{relative_path!r} is already in upload group {group!r} (names are compared "
                    "ignoring case); each file of a drop is sent once, resumed with GET /uploads/{id}"
                ) from None
            with os.fdopen(fd, "wb") as fh:
                fh.write(record)
            for ancestor in ancestors:
                (members / _key("d", ancestor)).touch()
            counts[0] += 1
        return folder

    def release(self, folder: str, relative_path: str) -> None:
        """Take a file out of a group that is not importing yet (its session was discarded)."""
        base = self.path(folder)
        with self._lock:
            meta = self._read_meta(folder)
            if meta is None or meta.get("claimed"):
                return
            counts = self._counts_of(folder)
            key = _key("f", relative_path)
            for sub, index in (("done", 1), ("members", 0)):
                try:
                    (base / sub / key).unlink()
                    counts[index] -= 1
                except FileNotFoundError:
                    pass
            try:
                self.file_path(folder, relative_path).unlink()
            except FileNotFoundError:
                pass

    def place(self, folder: str, relative_path: str, part: Path) -> tuple[Path, GroupState]:
        """Move a member's finished bytes to ``files/<relative_path>`` and count it as done."""
        final = self.file_path(folder, relative_path)
        with self._lock:
            meta = self._read_meta(folder)
            if meta is None:
                raise NotFound(
                    f"the upload group of {relative_path!r} expired or was discarded; drop the files again"
                )
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, final)
            fsync_dir(final.parent)
            marker = self.path(folder) / "done" / _key("f", relative_path)
            counts = self._counts_of(folder)
            if not marker.exists():
                marker.touch()
                counts[1] += 1
            return final, self._state(folder, meta)

    # -- the group's import --------------------------------------------------------------------------
    def state(self, folder: str) -> GroupState:
        with self._lock:
            meta = self._read_meta(folder)
            if meta is None:
                raise NotFound(f"upload group folder {folder} expired or was discarded")
            return self._state(folder, meta)

    def claim(self, folder: str) -> tuple[bool, GroupState]:
        """(True, state) exactly once: for the caller that finds every file in place, to start the import."""
        with self._lock:
            meta = self._read_meta(folder)
            if meta is None:
                raise NotFound(f"upload group folder {folder} expired or was discarded")
            state = self._state(folder, meta)
            if state.pending > 0 or state.claimed:
                return False, state
            meta["claimed"] = True
            self._write_meta(folder, meta)
            return True, self._state(folder, meta)

    def unclaim(self, folder: str) -> None:
        """The import could not be queued (queue full): let a later PUT of any member try again."""
        self._update(folder, claimed=False, job_id=None)

    def set_job(self, folder: str, job_id: str) -> None:
        self._update(folder, job_id=job_id)

    def import_paths(self, folder: str) -> list[Path]:
        """The top-level entries of the group's files, as a user would name them to ``import``: folders
        and model files first, so a sharded set claims its index file before it could stand alone."""
        files = self.path(folder) / "files"
        entries = sorted(os.listdir(files))
        entries.sort(key=lambda name: not ((files / name).is_dir() or is_model_file(name)))
        return [files / name for name in entries]

    def member_ids(self, folder: str) -> list[str]:
        ids: list[str] = []
        members = self.path(folder) / "members"
        for entry in os.scandir(members):
            if entry.name.startswith("f-"):
                try:
                    ids.append(str(json.loads(Path(entry.path).read_bytes())["upload_id"]))
                except (OSError, ValueError, KeyError):
                    continue
        return ids

    def remove(self, folder: str) -> None:
        base = self.path(folder)
        with self._lock:
            self._counts.pop(folder, None)
            # Ours: a validated folder name under our root, holding only files and folders we made.
            shutil.rmtree(base, ignore_errors=True)

    def folders(self) -> list[str]:
        return [name for name in os.listdir(self.root) if GROUP_FOLDER_RE.match(name)]

    def last_activity(self, folder: str) -> float:
        base = self.path(folder)
        times = []
        for name in ("group.json", "members", "done"):
            try:
                times.append((base / name).stat().st_mtime)
            except OSError:
                continue
        if not times:
            times.append(base.stat().st_mtime)
        return max(times)

    # -- internals -----------------------------------------------------------------------------------
    def _secret(self) -> bytes:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    self._key = _load_or_make_key(self.root / KEY_FILE)
        return self._key

    def _read_meta(self, folder: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.path(folder) / "group.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write_meta(self, folder: str, meta: dict[str, Any]) -> None:
        atomic_write_bytes(self.path(folder) / "group.json", json.dumps(meta).encode())

    def _update(self, folder: str, **changes: Any) -> None:
        with self._lock:
            meta = self._read_meta(folder)
            if meta is None:
                return
            meta.update(changes)
            self._write_meta(folder, meta)

    def _counts_of(self, folder: str) -> list[int]:
        counts = self._counts.get(folder)
        if counts is None:
            base = self.path(folder)
            counts = [_count(base / "members"), _count(base / "done")]
            self._counts[folder] = counts
        return counts

    def _state(self, folder: str, meta: dict[str, Any]) -> GroupState:
        members, done = self._counts_of(folder)
        job_id = meta.get("job_id")
        return GroupState(
            folder=folder,
            group=str(meta.get("group", "")),
            size=int(meta["size"]),
            members=members,
            done=done,
            claimed=bool(meta.get("claimed")),
            job_id=str(job_id) if job_id else None,
        )


def _key(kind: str, relative_path: str) -> str:
    return f"{kind}-{hashlib.sha256(relative_path.casefold().encode('utf-8')).hexdigest()[:40]}"


def _count(folder: Path) -> int:
    try:
        return sum(1 for entry in os.scandir(folder) if entry.name.startswith("f-"))
    except FileNotFoundError:
        return 0


def _load_or_make_key(path: Path) -> bytes:
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        if len(key) >= 16:
            return key
    except (OSError, ValueError):
        pass
    key = secrets.token_bytes(32)
    atomic_write_bytes(path, key.hex().encode("ascii"))
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass
    return key
