"""The library's identity file, ``<root>/library.json``: ``{"id": uuid4, "root": "<absolute path>"}``.

It tells a moved library from an empty folder. When the folder a library is opened from differs from the
recorded root, the library was moved or renamed: stored absolute paths (links, views, yaml sections) are
stale, so writes are refused (``LibraryRelocated``) until the user confirms the new place, which
``confirm_relocation`` does after the repair has rewritten those paths.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog.db import Database
from .config import IDENTITY_FILE
from .errors import CatalogError, LibraryRelocated
from .io.fileops import atomic_write_bytes
from .models import utcnow


@dataclass(frozen=True)
class LibraryIdentity:
    id: str
    root: str
    created_at: str = ""
    # "shared": the models' catalog is a server several machines share (docs/teams.md); a machine
    # opening the share without it would build a catalog file of its own there and drift apart.
    catalog: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = {"id": self.id, "root": self.root, "created_at": self.created_at}
        return {**data, "catalog": self.catalog} if self.catalog else data


@dataclass(frozen=True)
class IdentityStatus:
    identity: LibraryIdentity
    current_root: str

    @property
    def relocated(self) -> bool:
        return _norm(self.identity.root) != _norm(self.current_root)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.identity.id,
            "recorded_root": self.identity.root,
            "current_root": self.current_root,
            "relocated": self.relocated,
        }


def _norm(path: str) -> str:
    return os.path.normcase(os.path.normpath(path))


def _root_text(root: Path) -> str:
    return str(Path(root).absolute())


def read_identity(root: Path) -> LibraryIdentity | None:
    path = Path(root) / IDENTITY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CatalogError(
            f"The library identity file {path} is unreadable ({exc}). Move it aside and run "
            "`model-library health --repair` to write a new one."
        ) from exc
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("id"), str)
        or not isinstance(data.get("root"), str)
    ):
        raise CatalogError(
            f"The library identity file {path} is malformed; move it aside and run health --repair."
        )
    return LibraryIdentity(
        data["id"], data["root"], str(data.get("created_at", "")), str(data.get("catalog", "") or "")
    )


def _write(root: Path, identity: LibraryIdentity) -> None:
    atomic_write_bytes(Path(root) / IDENTITY_FILE, (json.dumps(identity.to_dict(), indent=2) + "\n").encode())


def ensure_identity(root: Path) -> LibraryIdentity:
    """The identity, created on first use (a new library, or one made before identity files existed)."""
    found = read_identity(root)
    if found is not None:
        return found
    identity = LibraryIdentity(str(uuid.uuid4()), _root_text(root), utcnow())
    _write(root, identity)
    return identity


# A shared library's machines may mount the share at different paths (/mnt/models, /Volumes/models):
# each records the root it knows in its own state folder, and only a change there is a move.
MACHINE_ROOT_FILE = "machine-root.json"


def _machine_recorded(machine_root: Path, current: str) -> str:
    path = Path(machine_root) / MACHINE_ROOT_FILE
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))["root"]
        if isinstance(recorded, str):
            return recorded
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError):
        pass  # unreadable: taken as this machine's first sight of the library, and written again
    _write_machine_root(machine_root, current)
    return current


def _write_machine_root(machine_root: Path, root: str) -> None:
    Path(machine_root).mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(machine_root) / MACHINE_ROOT_FILE, (json.dumps({"root": root}) + "\n").encode())


def check_identity(root: Path, machine_root: Path | None = None) -> IdentityStatus:
    """The library's identity and where it is opened from; with ``machine_root`` (a shared library) the
    recorded root is this machine's own."""
    identity = ensure_identity(root)
    current = _root_text(root)
    if machine_root is not None:
        recorded = _machine_recorded(machine_root, current)
        identity = LibraryIdentity(identity.id, recorded, identity.created_at, identity.catalog)
    return IdentityStatus(identity, current)


def require_writable(root: Path, machine_root: Path | None = None) -> None:
    """Raise LibraryRelocated when the library was moved and the user has not confirmed it yet."""
    status = check_identity(root, machine_root)
    if status.relocated:
        raise LibraryRelocated(
            f"The library was moved from {status.identity.root} to {status.current_root}; changes are "
            "paused until you confirm the new place. Run `model-library health --repair` (or Repair in "
            "the panel) to update the stored paths."
        )


def confirm_relocation(root: Path, machine_root: Path | None = None) -> LibraryIdentity:
    """Record the current folder as the library's root (after the stored paths were rewritten); for a
    shared library, as this machine's (the others keep theirs)."""
    old = ensure_identity(root)
    if machine_root is not None:
        _write_machine_root(machine_root, _root_text(root))
        return LibraryIdentity(old.id, _root_text(root), old.created_at, old.catalog)
    identity = LibraryIdentity(old.id, _root_text(root), old.created_at, old.catalog)
    _write(root, identity)
    return identity


SHARED = "shared"


def mark_shared(root: Path) -> None:
    """Record in library.json that this library's catalog is shared (once)."""
    identity = ensure_identity(root)
    if identity.catalog != SHARED:
        _write(root, LibraryIdentity(identity.id, identity.root, identity.created_at, SHARED))


def refuse_unshared_open(root: Path) -> None:
    """A library whose catalog is shared, opened without MODEL_LIBRARY_CATALOG: say so rather than build
    a second catalog on the share."""
    from .errors import InvalidConfig

    identity = read_identity(root)
    if identity is not None and identity.catalog == SHARED:
        raise InvalidConfig(
            f"The library at {root} is shared by several machines: its catalog is on a PostgreSQL server, "
            "and this machine was started without it. Set MODEL_LIBRARY_CATALOG (or the ModelLibrary.Catalog "
            "setting) to that server's postgresql:// URL, as on the other machines (docs/teams.md)."
        )


def _prefix_sql(table: str, column: str, where: str = "") -> str:
    extra = f" AND {where}" if where else ""
    return (
        f"UPDATE {table} SET {column} = ? || substr({column}, ?) "  # noqa: S608 - fixed names only
        f"WHERE ({column} = ? OR substr({column}, 1, ?) IN (?, ?)){extra}"
    )


def rewrite_prefix(db: Database, old: str, new: str, *, sources: bool = True) -> dict[str, int]:
    """Replace the leading folder ``old`` by ``new`` in every stored absolute path, in one transaction.

    Links (path, target, root) always; with ``sources`` also source folders, their files and models
    catalogued in place (an external drive mounted elsewhere).
    """
    old_dir, new_dir = old.rstrip("/\\"), new.rstrip("/\\")
    n = len(old_dir)
    params = (new_dir, n + 1, old_dir, n + 1, old_dir + "/", old_dir + "\\")
    targets = [("links", "link_path", ""), ("links", "target", ""), ("links", "link_root", "")]
    if sources:
        targets += [
            ("sources", "path", ""),
            ("source_files", "path", ""),
            ("models", "rel_dir", "location = 'source'"),
        ]
    counts: dict[str, int] = {}
    with db.transaction() as conn:
        for table, column, where in targets:
            cur = conn.execute(_prefix_sql(table, column, where), params)
            counts[f"{table}.{column}"] = cur.rowcount
        _save_records(db, sources=sources)  # the records on disk hold the same paths
    return counts


def _save_records(db: Database, *, sources: bool) -> None:
    from .links.registry import LinkRegistry
    from .sources.registry import SourceRegistry

    LinkRegistry(db).save_records()
    if sources:
        SourceRegistry(db).save_records()
