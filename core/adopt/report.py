"""What an adoption or an undo did (or, for a dry run, would do): the JSON the CLI and the panel show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AdoptReport:
    """One ``adopt`` run over one install.

    ``planned`` counts model units found (a file, a sharded set or a Diffusers folder); ``adopted`` those
    now served from the library through a link at every original path, of which ``duplicates`` were
    stored already (their bytes are freed). ``bytes_freed`` counts bytes no longer stored twice (for a dry
    run: what adoption would free, found by hashing the files whose size matches another's: ``hashed_bytes``
    says how much the dry run read). ``bytes_copied`` went into the library from another filesystem.
    ``recovered`` lists journal entries of an interrupted run that this run finished or rolled back.
    """

    install_id: str
    install_root: str
    dry_run: bool = False
    planned: int = 0
    planned_bytes: int = 0
    adopted: int = 0
    duplicates: int = 0
    already_adopted: int = 0
    bytes_freed: int = 0
    bytes_copied: int = 0
    hashed_bytes: int = 0
    links_created: int = 0
    skipped: tuple[dict[str, str], ...] = ()
    failed: tuple[dict[str, str], ...] = ()
    conflicts: tuple[dict[str, str], ...] = ()
    recovered: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "install": {"id": self.install_id, "root": self.install_root},
            "dry_run": self.dry_run,
            "planned": self.planned,
            "planned_bytes": self.planned_bytes,
            "adopted": self.adopted,
            "duplicates": self.duplicates,
            "already_adopted": self.already_adopted,
            "bytes_freed": self.bytes_freed,
            "bytes_copied": self.bytes_copied,
            "hashed_bytes": self.hashed_bytes,
            "links_created": self.links_created,
            "skipped": [dict(s) for s in self.skipped],
            "failed": [dict(f) for f in self.failed],
            "conflicts": [dict(c) for c in self.conflicts],
            "recovered": list(self.recovered),
            "folders": list(self.folders),
        }


@dataclass(frozen=True)
class UndoReport:
    """One ``adopt --undo`` run: real files put back at ``restored`` original paths.

    ``unreferenced`` lists models no link points at any more: the library keeps them (another install
    may use them later); the user may remove them.
    """

    install_id: str
    install_root: str
    restored: int = 0
    restored_by_hardlink: int = 0
    restored_by_copy: int = 0
    skipped: tuple[dict[str, str], ...] = ()
    failed: tuple[dict[str, str], ...] = ()
    unreferenced: tuple[dict[str, Any], ...] = ()
    recovered: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "install": {"id": self.install_id, "root": self.install_root},
            "restored": self.restored,
            "restored_by_hardlink": self.restored_by_hardlink,
            "restored_by_copy": self.restored_by_copy,
            "skipped": [dict(s) for s in self.skipped],
            "failed": [dict(f) for f in self.failed],
            "unreferenced": [dict(u) for u in self.unreferenced],
            "recovered": list(self.recovered),
        }


@dataclass
class Tally:
    """Mutable counters while a run goes; frozen into a report at the end."""

    adopted: int = 0
    duplicates: int = 0
    already_adopted: int = 0
    bytes_freed: int = 0
    bytes_copied: int = 0
    links_created: int = 0
    restored_by_hardlink: int = 0
    restored_by_copy: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)

    def skip(self, path: str, reason: str) -> None:
        self.skipped.append({"path": path, "reason": reason})

    def fail(self, path: str, error: str) -> None:
        self.failed.append({"path": path, "error": error})
