"""The adoption journal: rows of the ``journal`` table (op ``adopt`` / ``adopt-undo``), keyed by path.

A row is committed before the first change it covers and deleted in the transaction that records the
outcome, so after ``kill -9`` a leftover row names exactly the paths a run may have left half done. Temp
names are recorded before they are created, so recovery removes only names we made.

Each row holds one named, versioned record (see ``catalog/journal.py``): ``AdoptRecord`` or
``UndoRecord``. Version 1 (written before records had versions) had the same fields without ``record``
and ``version``, and still reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..catalog.db import Database
from ..catalog.journal import JournalEntry, JournalTable, header, objects, record_version, text, texts
from ..records.kinds import RecordError
from .plan import FileState

ADOPT_OP = "adopt"
UNDO_OP = "adopt-undo"


@dataclass(frozen=True)
class AdoptRecord:
    """One unit being adopted: step ``importing`` names the originals; step ``linking`` adds the model,
    the library files the originals become links to, and the temp names about to be made."""

    RECORD: ClassVar[str] = "adopt"
    VERSION: ClassVar[int] = 2
    install: str
    files: tuple[FileState, ...]
    folder: str  # the model folder the unit was found in: the links' root
    category: str
    model_id: str = ""
    targets: tuple[str, ...] = ()
    temps: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {**header(self), "install": self.install,
                             "files": [f.to_dict() for f in self.files], "folder": self.folder,
                             "category": self.category}  # fmt: skip
        if self.model_id:
            d.update(model_id=self.model_id, targets=list(self.targets), temps=list(self.temps))
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> AdoptRecord:
        record_version(d, cls.RECORD, cls.VERSION)
        try:
            files = tuple(FileState.from_dict(f) for f in objects(d, "files"))
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(f"a file of the unit does not read: {exc!r}") from exc
        return cls(text(d, "install"), files, text(d, "folder", ""), text(d, "category", ""),
                   text(d, "model_id", ""), texts(d, "targets"), texts(d, "temps"))  # fmt: skip


@dataclass(frozen=True)
class UndoRecord:
    """One link being turned back into a real file: the temp name the file is placed at first."""

    RECORD: ClassVar[str] = "adopt-undo"
    VERSION: ClassVar[int] = 2
    install: str
    path: str
    temp: str

    def to_json(self) -> dict[str, Any]:
        return {**header(self), "install": self.install, "path": self.path, "temp": self.temp}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> UndoRecord:
        record_version(d, cls.RECORD, cls.VERSION)
        return cls(text(d, "install"), text(d, "path", ""), text(d, "temp", ""))


class AdoptJournal:
    """The two ops' rows; ``write`` and ``delete`` run in their own transaction or join the caller's."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.adopts = JournalTable(db, ADOPT_OP)
        self.undos = JournalTable(db, UNDO_OP)

    def adopt_entries(self, install_id: str) -> list[JournalEntry[AdoptRecord]]:
        return [e for e in self.adopts.entries(AdoptRecord.from_json) if e.record.install == install_id]

    def undo_entries(self, install_id: str) -> list[JournalEntry[UndoRecord]]:
        return [e for e in self.undos.entries(UndoRecord.from_json) if e.record.install == install_id]


def discard_temp(path: str) -> bool:
    """Remove a temp name recorded in the journal (ours by construction); never a folder."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            return False
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError:
        return False
    return True
