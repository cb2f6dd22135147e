"""The kinds of record kept in ``records/`` (see ``files.py``): frozen values with ``to_json`` and a
strict ``from_json``; every record class carries its ``KIND`` and ``VERSION``.

``from_json`` raises ``RecordError`` (a ValueError) for a record it cannot use; a bad entry inside a list
is warned about and skipped alone, so one damaged link never costs an install all its others.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol, TypeVar

from ..taxonomy import LinkKind, LinkPurpose

log = logging.getLogger(__name__)


class RecordError(ValueError):
    """A record (or an entry of one) that breaks a rule: skipped, with a warning."""


_Bad = RecordError


# -- field checks ------------------------------------------------------------------------------------------
def _str(d: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = d.get(key, default)
    if not isinstance(value, str):
        raise _Bad(f"{key!r} must be a string")
    return value


def _opt_str(d: Mapping[str, Any], key: str) -> str | None:
    value = d.get(key)
    if value is not None and not isinstance(value, str):
        raise _Bad(f"{key!r} must be a string or null")
    return value


def _int(d: Mapping[str, Any], key: str, default: int | None = None) -> int:
    value = d.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Bad(f"{key!r} must be an integer")
    return value


def _opt_int(d: Mapping[str, Any], key: str) -> int | None:
    value = d.get(key)
    if value is None:
        return None
    return _int(d, key)


def _bool(d: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = d.get(key, default)
    if not isinstance(value, bool):
        raise _Bad(f"{key!r} must be true or false")
    return value


def _abs_path(d: Mapping[str, Any], key: str) -> str:
    value = _str(d, key)
    if not os.path.isabs(value) or "\x00" in value:
        raise _Bad(f"{key!r} must be an absolute path")
    return value


E = TypeVar("E")


def _entries(
    data: Mapping[str, Any], key: str, parse: Callable[[Mapping[str, Any]], E], where: str
) -> tuple[E, ...]:
    raw = data.get(key, [])
    if not isinstance(raw, list):
        raise _Bad(f"{key!r} must be a list")
    out: list[E] = []
    for index, item in enumerate(raw):
        try:
            if not isinstance(item, dict):
                raise _Bad("not an object")
            out.append(parse(item))
        except _Bad as exc:
            log.warning("model library: skipping entry %d of %s: %s", index, where, exc)
    return tuple(out)


# -- the records -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InstallEntry:
    id: str
    root: str
    version: str
    mode: str  # view | live | direct | adopt
    kind: str = "comfyui"
    created_at: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> InstallEntry:
        app_id = _str(d, "id")
        if not app_id:
            raise _Bad("'id' is empty")
        return cls(
            app_id,
            _abs_path(d, "root"),
            _str(d, "version", ""),
            _str(d, "mode"),
            _str(d, "kind", "comfyui"),
            _str(d, "created_at", ""),
        )


@dataclass(frozen=True)
class InstallsRecord:
    KIND: ClassVar[str] = "installs"
    VERSION: ClassVar[int] = 1
    installs: tuple[InstallEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"installs": [e.__dict__ for e in self.installs]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], where: str = "installs") -> InstallsRecord:
        return cls(_entries(d, "installs", InstallEntry.from_json, where))


@dataclass(frozen=True)
class SourceEntry:
    id: int
    path: str
    read_only: bool
    auto: bool = False
    app_id: str | None = None
    added_at: str = ""

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SourceEntry:
        return cls(
            _int(d, "id"),
            _abs_path(d, "path"),
            _bool(d, "read_only", True),
            _bool(d, "auto"),
            _opt_str(d, "app_id"),
            _str(d, "added_at", ""),
        )


@dataclass(frozen=True)
class SourcesRecord:
    KIND: ClassVar[str] = "sources"
    VERSION: ClassVar[int] = 1
    sources: tuple[SourceEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"sources": [e.__dict__ for e in self.sources]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], where: str = "sources") -> SourcesRecord:
        return cls(_entries(d, "sources", SourceEntry.from_json, where))


@dataclass(frozen=True)
class SourceFileEntry:
    """One file of a source, as it was when hashed (or when its model was removed: ``ignored``), with
    when its model was first listed and last changed (so a rebuilt list sorts and reads as before)."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    blake3: str | None = None
    sha256: str | None = None
    ignored: bool = False
    added_at: str = ""
    updated_at: str = ""

    def key(self) -> tuple[str, int, int, int]:
        return (self.path, self.size, self.mtime_ns, self.inode)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "inode": self.inode,
        }
        if self.blake3 and self.sha256:
            d["blake3"], d["sha256"] = self.blake3, self.sha256
        if self.ignored:
            d["ignored"] = True
        if self.added_at:
            d["added_at"], d["updated_at"] = self.added_at, self.updated_at
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SourceFileEntry:
        blake3, sha256 = _opt_str(d, "blake3"), _opt_str(d, "sha256")
        for value in (blake3, sha256):
            if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value):
                raise _Bad("a hash must be 64 lowercase hex digits")
        if (blake3 is None) != (sha256 is None):
            raise _Bad("'blake3' and 'sha256' come together")
        return cls(
            _abs_path(d, "path"),
            _int(d, "size"),
            _int(d, "mtime_ns"),
            _int(d, "inode"),
            blake3,
            sha256,
            _bool(d, "ignored"),
            _str(d, "added_at", ""),
            _str(d, "updated_at", ""),
        )


@dataclass(frozen=True)
class SourceFilesRecord:
    KIND: ClassVar[str] = "source_files"
    VERSION: ClassVar[int] = 1
    source: str
    files: tuple[SourceFileEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "files": [f.to_json() for f in self.files]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], where: str = "source files") -> SourceFilesRecord:
        return cls(_abs_path(d, "source"), _entries(d, "files", SourceFileEntry.from_json, where))


@dataclass(frozen=True)
class LinkEntry:
    model_id: str
    file_path: str
    link_path: str
    kind: str  # symlink | hardlink | copy
    relative: bool
    target: str
    link_root: str
    category: str = ""
    inode: int | None = None
    device: int | None = None
    purpose: str = "mapping"  # mapping | adopt | workflow (taxonomy.LinkPurpose)
    created_at: str = ""

    @classmethod
    def of_row(cls, row: tuple[Any, ...]) -> LinkEntry:
        """An entry from a ``links`` row of its fields in order (``relative`` an integer): the frozen
        ``__init__`` sets each of 12 fields through ``object.__setattr__``, and rewriting an install's
        records builds one entry per link (10,000 after a large adoption)."""
        entry = object.__new__(cls)
        entry.__dict__.update(zip(_LINK_ENTRY_FIELDS, row, strict=True))
        entry.__dict__["relative"] = bool(row[4])
        return entry

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LinkEntry:
        kind = _str(d, "kind")
        if not LinkKind.has(kind):
            raise _Bad(f"'kind' {kind!r} is not symlink, hardlink or copy")
        purpose = _str(d, "purpose", "mapping")
        if not LinkPurpose.has(purpose):
            raise _Bad(f"'purpose' {purpose!r} is not mapping, adopt or workflow")
        return cls(
            _str(d, "model_id"),
            _str(d, "file_path"),
            _abs_path(d, "link_path"),
            kind,
            _bool(d, "relative"),
            _abs_path(d, "target"),
            _abs_path(d, "link_root"),
            _str(d, "category", ""),
            _opt_int(d, "inode"),
            _opt_int(d, "device"),
            purpose,
            _str(d, "created_at", ""),
        )


_LINK_ENTRY_FIELDS = tuple(f.name for f in fields(LinkEntry))


@dataclass(frozen=True)
class LinksRecord:
    KIND: ClassVar[str] = "links"
    VERSION: ClassVar[int] = 1
    app_id: str | None
    links: tuple[LinkEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"app_id": self.app_id, "links": [e.__dict__ for e in self.links]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], where: str = "links") -> LinksRecord:
        return cls(_opt_str(d, "app_id"), _entries(d, "links", LinkEntry.from_json, where))


@dataclass(frozen=True)
class PendingLookupEntry:
    model_id: str
    reason: str
    attempts: int
    next_at: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PendingLookupEntry:
        return cls(_str(d, "model_id"), _str(d, "reason"), _int(d, "attempts", 0), _str(d, "next_at"))


@dataclass(frozen=True)
class PendingLookupsRecord:
    KIND: ClassVar[str] = "pending_lookups"
    VERSION: ClassVar[int] = 1
    lookups: tuple[PendingLookupEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"lookups": [e.__dict__ for e in self.lookups]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], where: str = "pending lookups") -> PendingLookupsRecord:
        return cls(_entries(d, "lookups", PendingLookupEntry.from_json, where))


class Record(Protocol):
    KIND: ClassVar[str]
    VERSION: ClassVar[int]

    def to_json(self) -> dict[str, Any]: ...
