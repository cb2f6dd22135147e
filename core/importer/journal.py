"""The import journals, named and versioned (see ``catalog/journal.py``).

* ``Placing``: the row (op ``import``, key = the stage's name, step ``placing``) committed just before a
  staged folder is renamed into ``models/``: it names the stage and the folder it goes to.
* the same ``Placing`` rows under op ``import-group`` for a model staged inside a group's folder (see
  ``group.py``), with ``batch`` naming that locked folder. A library that predates groups never reads
  that op, so it never mistakes a live group's model for an interrupted one.
* ``Moves``: the stage's ``moves.json``, written before each source file is moved into the stage, so
  after a crash the moved files go back where the user had them.

Version 1 (written before records had versions): the same ``Placing`` fields without ``record`` and
``version``; ``moves.json`` as a bare list of ``{"src", "dest"}`` objects. Both still read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..catalog.journal import NewerRecord, header, objects, record_version, text
from ..records.kinds import RecordError

log = logging.getLogger(__name__)

JOURNAL_OP = "import"
GROUP_OP = "import-group"
MOVES_FILE = "moves.json"


@dataclass(frozen=True)
class Placing:
    RECORD: ClassVar[str] = "import-placing"
    VERSION: ClassVar[int] = 2
    stage: str
    final_rel: str  # the model folder it goes to, relative to the library root
    batch: str = ""  # the group folder holding the stage: its lock says whether a process still works in it

    def to_json(self) -> dict[str, Any]:
        d = {**header(self), "stage": self.stage, "final_rel": self.final_rel}
        if self.batch:
            d["batch"] = self.batch
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Placing:
        record_version(d, cls.RECORD, cls.VERSION)
        return cls(text(d, "stage"), text(d, "final_rel"), text(d, "batch", ""))

    @property
    def lock_holder(self) -> str:
        """The folder whose lock a live import holds: the group's for a stage inside one."""
        return self.batch or self.stage


@dataclass(frozen=True)
class Move:
    src: str  # where the user had the file
    dest: str  # where it is in the stage

    def to_json(self) -> dict[str, str]:
        return {"src": self.src, "dest": self.dest}


@dataclass(frozen=True)
class Moves:
    RECORD: ClassVar[str] = "import-moves"
    VERSION: ClassVar[int] = 2
    moves: tuple[Move, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**header(self), "moves": [m.to_json() for m in self.moves]}

    @classmethod
    def from_json(cls, data: Any) -> Moves:
        """A bad entry is skipped alone (as version 1 always did); raises ``NewerRecord`` for a newer file."""
        if isinstance(data, list):  # version 1: the bare list
            raw = data
        elif isinstance(data, dict):
            record_version(data, cls.RECORD, cls.VERSION)
            raw = objects(data, "moves")
        else:
            raise RecordError("not a list or an object")
        moves = []
        for d in raw:
            if isinstance(d, dict) and isinstance(d.get("src"), str) and isinstance(d.get("dest"), str):
                moves.append(Move(d["src"], d["dest"]))
        return cls(tuple(moves))

    @classmethod
    def read(cls, stage: Path) -> Moves:
        """The stage's moves; none if the file is missing. Raises ``NewerRecord`` for a newer file and
        ``RecordError`` for one that cannot be read: the stage may then hold the user's moved files, and
        whoever reads it keeps the stage rather than take it for copies of ours."""
        try:
            data = json.loads((stage / MOVES_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise RecordError(f"unreadable {MOVES_FILE} in {stage}: {exc}") from exc
        try:
            return cls.from_json(data)
        except NewerRecord:
            raise
        except RecordError as exc:
            raise RecordError(f"unreadable {MOVES_FILE} in {stage}: {exc}") from exc
