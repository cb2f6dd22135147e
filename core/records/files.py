"""Records on disk: what the catalog knows that no ``metadata.json`` holds, kept as files in the library.

The catalog (``catalog.sqlite``) is an index. Library models come back from their ``metadata.json``; the
rest comes back from these files, under ``<library>/records/``::

    installs.json             the ComfyUI installs the library maps into (table ``apps``)
    sources.json              the folders catalogued in place (table ``sources``)
    sources/<key>.json        per source: the hashes of its files and the files whose model was removed,
                              keyed by (path, size, mtime, inode) (table ``source_files``)
    links/<install-id>/<xx>.json  per install, by the first two hex digits of the model id: the links
                              we made there (table ``links``); ``<install-id>.json`` of version 1 is read
    pending_lookups.json      Hub lookups waiting for the network (table ``pending_lookups``)

Each file is one named, versioned record: ``{"record": KIND, "version": N, "library_format": ..., "data":
{...}}``, written atomically (temp file, fsync, ``os.replace``, fsync of the folder) by the one owner of
its table, inside the transaction that changed the table, and read back by ``rebuild``. A file that is
corrupt, of another kind, or from a newer version is warned about and skipped; a bad entry inside a good
file is warned about and skipped alone. Nothing here trusts what it reads: restoring re-checks every
record against the disk (``records/restore.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..io.fileops import atomic_write_bytes, atomic_write_many, storage_error, unlink_quietly
from ..models import utcnow
from .kinds import (
    InstallEntry,
    InstallsRecord,
    LinkEntry,
    LinksRecord,
    PendingLookupEntry,
    PendingLookupsRecord,
    Record,
    RecordError,
    SourceEntry,
    SourceFileEntry,
    SourceFilesRecord,
    SourcesRecord,
)

log = logging.getLogger(__name__)

RECORDS_DIR = "records"
LIBRARY_FORMAT = "comfyui-model-library"
MAX_RECORD_BYTES = 256 * 1024 * 1024  # a links file of a million links is ~300 MB: far beyond any install
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def records_dir(catalog_path: str | os.PathLike[str]) -> Path:
    """The records folder of the library whose catalog is ``catalog_path`` (it lives in the root)."""
    return Path(catalog_path).parent / RECORDS_DIR


def file_key(text: str) -> str:
    """A file name for ``text`` (an install id, a source folder): itself when plain, else a hash."""
    if _SAFE_NAME.match(text):
        return text
    return "h" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


R = TypeVar("R")


# -- paths -------------------------------------------------------------------------------------------------
def installs_path(folder: Path) -> Path:
    return folder / "installs.json"


def sources_path(folder: Path) -> Path:
    return folder / "sources.json"


def source_files_path(folder: Path, source: str) -> Path:
    return folder / "sources" / f"{file_key(source)}.json"


def links_path(folder: Path, app_id: str | None) -> Path:
    """The links file of an install as version 1 wrote it (one file for all its links); now only read."""
    return folder / "links" / f"{file_key(app_id) if app_id else '_none'}.json"


def links_dir(folder: Path, app_id: str | None) -> Path:
    """An install's links, one file per shard (``links_shard``): a one-model sync rewrites a few dozen
    entries, not the install's ten thousand."""
    return folder / "links" / (file_key(app_id) if app_id else "_none")


_SHARDS = frozenset(f"{n:02x}" for n in range(256))


def links_shard(model_id: str | None) -> str:
    """Which links file an entry lives in: the first two hex digits of its model's id (256 files)."""
    head = (model_id or "")[:2].lower()
    return head if head in _SHARDS else "__"


def pending_lookups_path(folder: Path) -> Path:
    return folder / "pending_lookups.json"


# -- write / read ------------------------------------------------------------------------------------------
def write_record(path: Path, record: Record) -> None:
    """Write ``record`` to ``path`` atomically; a failed write raises StorageError (the caller's
    transaction then rolls back, so the catalog never knows more than its records)."""
    try:
        atomic_write_bytes(path, _record_bytes(record))
    except OSError as exc:
        raise storage_error(exc, f"writing the record {path}") from exc


def write_records(records: Sequence[tuple[Path, Record]]) -> None:
    """``write_record`` for several files, synced together (``atomic_write_many``): each file is old or
    new after a crash, as when written one by one."""
    try:
        atomic_write_many([(path, _record_bytes(record)) for path, record in records])
    except OSError as exc:
        where = records[0][0].parent if records else "records"
        raise storage_error(exc, f"writing the records in {where}") from exc


def _record_bytes(record: Record) -> bytes:
    envelope = {
        "record": record.KIND,
        "version": record.VERSION,
        "library_format": LIBRARY_FORMAT,
        "written_at": utcnow(),
        "data": record.to_json(),
    }
    data = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    return (data + "\n").encode("utf-8", "surrogatepass")


def remove_record(path: Path) -> None:
    unlink_quietly(path)


def read_record(path: Path, cls: type[R]) -> R | None:
    """The record at ``path``, or None when there is none or it cannot be used (warned about)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("model library: cannot read the record %s (%s); skipped", path, exc.strerror)
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_RECORD_BYTES:
            log.warning("model library: %s is not a record file of ours; skipped", path)
            return None
        with os.fdopen(os.dup(fd), "rb") as fh:
            raw = fh.read(MAX_RECORD_BYTES + 1)
    except OSError as exc:
        log.warning("model library: cannot read the record %s (%s); skipped", path, exc)
        return None
    finally:
        os.close(fd)
    kind: str = getattr(cls, "KIND")  # noqa: B009 - a ClassVar of every record class
    version: int = getattr(cls, "VERSION")  # noqa: B009
    try:
        envelope = json.loads(raw)
        if not isinstance(envelope, dict) or envelope.get("library_format") != LIBRARY_FORMAT:
            raise RecordError("not a record of this library")
        if envelope.get("record") != kind:
            raise RecordError(f"a {envelope.get('record')!r} record where a {kind!r} record belongs")
        found = envelope.get("version")
        if not isinstance(found, int) or isinstance(found, bool) or found < 1:
            raise RecordError("its version is missing")
        if found > version:
            raise RecordError(
                f"version {found} was written by a newer release (this one reads up to {version})"
            )
        data = envelope.get("data")
        if not isinstance(data, dict):
            raise RecordError("'data' is not an object")
        parse: Callable[[Mapping[str, Any], str], R] = getattr(cls, "from_json")  # noqa: B009
        return parse(data, str(path))
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        log.warning("model library: the record %s cannot be used (%s); skipped", path, exc)
        return None


def read_all(folder: Path, cls: type[R], *, depth: int = 0) -> list[tuple[Path, R]]:
    """Every readable record of ``cls`` among the ``*.json`` files of ``folder`` (sorted by name), and of
    its sub-folders down to ``depth`` levels (links: one folder of shards per install)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    out = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if depth > 0 and entry.is_dir(follow_symlinks=False):
            out.extend(read_all(Path(entry.path), cls, depth=depth - 1))
        elif entry.name.endswith(".json"):
            record = read_record(Path(entry.path), cls)
            if record is not None:
                out.append((Path(entry.path), record))
    return out


def has_records(library_root: Path) -> bool:
    """True when the library holds records (so a missing catalog must be rebuilt, even without models)."""
    folder = Path(library_root) / RECORDS_DIR
    return sources_path(folder).exists() or installs_path(folder).exists()


__all__ = [
    "InstallEntry",
    "InstallsRecord",
    "LinkEntry",
    "LinksRecord",
    "PendingLookupEntry",
    "PendingLookupsRecord",
    "SourceEntry",
    "SourceFileEntry",
    "SourceFilesRecord",
    "SourcesRecord",
    "has_records",
    "links_dir",
    "links_shard",
    "read_all",
    "read_record",
    "records_dir",
    "write_record",
]
