"""The rows of the sources' own tables as values: a catalogued folder (``SourceRow``) and its files
(``KnownFile`` for a rescan's comparison, ``FileRow`` whole)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SourceRow:
    id: int
    path: str
    read_only: bool
    auto: bool
    state: str
    last_scan_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "read_only": self.read_only,
            "auto": self.auto,
            "state": self.state,
            "last_scan_at": self.last_scan_at,
        }


@dataclass(frozen=True, slots=True)
class KnownFile:
    """What a rescan compares a walked file with: the row without its hashes, about a third of its
    memory (a rescan holds one per file of the source; in a host every allocation burst stays)."""

    id: int
    path: str
    size: int
    mtime_ns: int
    inode: int
    device: int
    model_id: str | None
    state: str


@dataclass(frozen=True, slots=True)
class FileRow(KnownFile):
    """A whole row: with its source and its hashes (None until the background hasher has read it)."""

    source_id: int
    blake3: str | None
    sha256: str | None


def source_row(row: sqlite3.Row) -> SourceRow:
    return SourceRow(
        row["id"], row["path"], bool(row["read_only"]), bool(row["auto"]), row["state"], row["last_scan_at"]
    )


def file_row(row: sqlite3.Row) -> FileRow:
    return FileRow(**{name: row[name] for name in _FILE_COLUMNS})


_FILE_COLUMNS = tuple(FileRow.__dataclass_fields__)
