"""Health checks and repairs over the catalog, the library's files, our links and the yaml sections.

``check`` only stats (never hashes), so it stays fast on large libraries. ``repair`` fixes what can be
fixed without guessing: it records the library's new place after a move (rewriting stored paths), re-makes
broken links to the model's file (or to the same bytes found elsewhere in the library, by BLAKE3), drops
entries whose model is gone, registers orphan links that point at a known model, and rewrites yaml sections.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog.db import Database
from .errors import ModelLibraryError
from .identity import check_identity, confirm_relocation, rewrite_prefix
from .io.paths import at_or_under, lexically_at_or_under
from .links.platform import LinkMaker, LinkReader, OsOps, default_maker, inside_root
from .links.registry import AppRegistry, LinkRecord, LinkRegistry
from .mapping.config import MappingConfig
from .mapping.extra_paths import write_section
from .mapping.planner import model_file_path, model_file_str
from .mapping.service import ModelCatalog, section_categories, section_name, view_root, yaml_ok
from .models import Model, ModelFile, utcnow

METADATA_FILE = "metadata.json"


@dataclass(frozen=True)
class HealthReport:
    status: str  # healthy | warnings | errors
    broken: tuple[dict[str, Any], ...] = ()
    orphaned: tuple[dict[str, Any], ...] = ()
    missing: tuple[dict[str, Any], ...] = ()
    metadata_without_row: tuple[str, ...] = ()
    extra_model_paths: tuple[dict[str, Any], ...] = ()
    relocation: dict[str, Any] = field(default_factory=dict)
    took_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "broken": list(self.broken),
            "orphaned": list(self.orphaned),
            "missing": list(self.missing),
            "metadata_without_row": list(self.metadata_without_row),
            "extra_model_paths": list(self.extra_model_paths),
            "relocation": dict(self.relocation),
            "took_ms": round(self.took_ms, 3),
        }


@dataclass(frozen=True)
class RepairReport:
    repaired: tuple[dict[str, Any], ...] = ()
    failed: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"repaired": list(self.repaired), "failed": list(self.failed)}


class _RootCache:
    """``inside_root`` with resolved parents cached per folder (thousands of links share a few folders)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], bool] = {}

    def inside(self, path: str, root: str) -> bool:
        key = (os.path.dirname(path), root)
        if key not in self._seen:
            self._seen[key] = inside_root(Path(key[0], "x"), Path(root))
        return self._seen[key] and os.path.basename(path) not in ("", ".", "..")


def link_problem(record: LinkRecord, maker: LinkMaker, roots: _RootCache | None = None) -> str | None:
    """Why a registered link is broken (``outside_link_root``, ``missing``, ``replaced``, ``dangling``)."""
    roots = roots or _RootCache()
    if not roots.inside(record.link_path, record.link_root):
        return "outside_link_root"
    path = record.link_path
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "replaced"
    if (
        stat.S_ISLNK(st.st_mode)
        and record.kind == "symlink"
        and type(maker.ops) is OsOps
        and not OsOps.is_windows
    ):
        # Fast path for the common case (a POSIX symlink): one readlink, no second lstat.
        try:
            destination = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
        except OSError:
            return "replaced"
        if destination != os.path.normpath(record.target) and not maker.is_our_link(
            path, record.target, "symlink"
        ):
            return "replaced"
    elif not maker.is_our_link(path, record.target, record.kind, record.inode, record.device):
        return "replaced"
    if record.kind == "symlink" and not maker.resolves(path):
        return "dangling"
    return None


def _file_problem(model: Model, file: ModelFile, library_root: Path) -> str | None:
    try:
        st = os.stat(model_file_str(model, file, os.fspath(library_root)))
    except OSError:
        return "missing"
    if not stat.S_ISREG(st.st_mode):
        return "missing"
    return "size_changed" if st.st_size != file.size else None


def _orphans(views: Path, library_root: Path, registered: set[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    lib = os.path.normpath(library_root)
    reader = LinkReader(library_root)
    stack = [str(views)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                if entry.path in registered:
                    continue
                try:
                    dest = reader.destination(entry.path, os.readlink(entry.path))
                except OSError:
                    continue
                if lexically_at_or_under(dest, lib):
                    found.append({"path": entry.path, "target": dest})
            elif entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return found


def _metadata_without_row(models_dir: Path, known_dirs: set[str]) -> list[str]:
    """metadata.json files in folders no catalog row claims; known model folders are never listed."""
    found: list[str] = []
    stack = [str(models_dir)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if (
                entry.name == METADATA_FILE
                and folder not in known_dirs
                and entry.is_file(follow_symlinks=False)
            ):
                found.append(entry.path)
            elif entry.is_dir(follow_symlinks=False) and entry.path not in known_dirs:
                stack.append(entry.path)
    return found


def check(
    db: Database,
    catalog: ModelCatalog,
    library_root: Path,
    config: MappingConfig,
    *,
    maker: LinkMaker | None = None,
    models: Iterable[Model] | None = None,
    machine_root: Path | None = None,
) -> HealthReport:
    start = time.perf_counter()
    maker = maker or default_maker()
    identity = check_identity(library_root, machine_root)
    records = LinkRegistry(db).all()
    roots = _RootCache()
    broken = []
    for record in records:
        problem = link_problem(record, maker, roots)
        if problem:
            broken.append({"path": record.link_path, "model_id": record.model_id, "reason": problem})
    missing = []
    known_dirs: set[str] = set()
    for model in catalog.iter_all() if models is None else models:
        if model.location == "library":
            known_dirs.add(os.path.join(library_root, *model.rel_dir.split("/")))
        for file in model.files:
            problem = _file_problem(model, file, library_root)
            if problem:
                missing.append({"model_id": model.id, "file": file.path, "reason": problem})
    registered = {r.link_path for r in records}
    orphaned = _orphans(library_root / "views", library_root, registered)
    metadata = _metadata_without_row(library_root / "models", known_dirs)
    yaml_issues = [
        {
            "app_id": app.id,
            "path": str(Path(app.root) / "extra_model_paths.yaml"),
            "reason": "section_missing_or_wrong",
        }
        for app in AppRegistry(db).all()
        if not _yaml_ok(db, app, library_root, config)
    ]
    relocation = identity.to_dict() if identity.relocated else {}
    if broken or missing or relocation:
        status = "errors"
    elif orphaned or metadata or yaml_issues:
        status = "warnings"
    else:
        status = "healthy"
    return HealthReport(
        status,
        tuple(broken),
        tuple(orphaned),
        tuple(missing),
        tuple(metadata),
        tuple(yaml_issues),
        relocation,
        (time.perf_counter() - start) * 1000,
    )


def _yaml_ok(db: Database, app: Any, library_root: Path, config: MappingConfig) -> bool:
    try:
        return yaml_ok(db, app, library_root, config)
    except ModelLibraryError:
        return False


def repair(
    db: Database,
    catalog: ModelCatalog,
    library_root: Path,
    config: MappingConfig,
    *,
    maker: LinkMaker | None = None,
    machine_root: Path | None = None,
) -> RepairReport:
    maker = maker or default_maker()
    repaired: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    identity = check_identity(library_root, machine_root)
    if identity.relocated:
        counts = rewrite_prefix(db, identity.identity.root, identity.current_root, sources=False)
        confirm_relocation(library_root, machine_root)
        repaired.append(
            {
                "kind": "relocated",
                "from": identity.identity.root,
                "to": identity.current_root,
                "paths": sum(counts.values()),
            }
        )
    models = list(catalog.iter_all())
    by_id = {m.id: m for m in models}
    by_path: dict[str, tuple[Model, ModelFile]] = {}
    by_hash: dict[str, list[tuple[Model, ModelFile]]] = {}
    for model in models:
        for file in model.files:
            by_path[os.path.normpath(model_file_path(model, file, library_root))] = (model, file)
            by_hash.setdefault(file.blake3, []).append((model, file))
    registry = LinkRegistry(db)
    roots = _RootCache()
    moved = (identity.identity.root, identity.current_root) if identity.relocated else None
    for record in registry.all():
        problem = link_problem(record, maker, roots)
        if problem is None:
            continue
        if problem == "replaced" and _absolute_link_from_old_root(record, maker, moved):
            problem = "dangling"
        outcome = _repair_link(record, problem, by_id, by_hash, library_root, maker, registry)
        (repaired if outcome["ok"] else failed).append(outcome)
    apps = {a.id: a for a in AppRegistry(db).all()}
    registered = {r.link_path for r in registry.all()}
    for orphan in _orphans(library_root / "views", library_root, registered):
        outcome = _adopt_orphan(orphan, by_path, apps, library_root, registry)
        (repaired if outcome["ok"] else failed).append(outcome)
    for app in apps.values():
        if app.mode == "view" and not _yaml_ok(db, app, library_root, config):
            path = Path(app.root) / "extra_model_paths.yaml"
            try:
                write_section(
                    path,
                    view_root(library_root, app.id),
                    section_categories(db, app.id, config),
                    section_name(library_root),
                )
                repaired.append({"ok": True, "kind": "yaml_section", "path": str(path)})
            except (OSError, ModelLibraryError) as exc:
                failed.append({"ok": False, "kind": "yaml_section", "path": str(path), "reason": str(exc)})
    return RepairReport(tuple(repaired), tuple(failed))


def _absolute_link_from_old_root(record: LinkRecord, maker: LinkMaker, moved: tuple[str, str] | None) -> bool:
    """An absolute symlink we made before the library moved: it names the old place of our file."""
    if moved is None or record.kind != "symlink":
        return False
    destination = maker.symlink_destination(Path(record.link_path))
    old, new = (p.rstrip("/\\") for p in moved)
    if destination is None or destination == old or not at_or_under(destination, old):
        return False
    return os.path.normpath(new + destination[len(old) :]) == os.path.normpath(record.target)


def _repair_link(
    record: LinkRecord,
    problem: str,
    by_id: dict[str, Model],
    by_hash: dict[str, list[tuple[Model, ModelFile]]],
    library_root: Path,
    maker: LinkMaker,
    registry: LinkRegistry,
) -> dict[str, Any]:
    path = Path(record.link_path)
    result: dict[str, Any] = {"kind": "link", "path": record.link_path, "problem": problem}
    if problem in ("outside_link_root", "replaced"):
        registry.unregister(record.link_path)  # not ours any more: forget it, touch nothing on disk
        return {**result, "ok": True, "action": "dropped_entry"}
    source = _find_source(record, by_id, by_hash, library_root)
    if problem == "dangling" and not _unlink_symlink(path):
        return {**result, "ok": False, "reason": "the dangling link could not be removed"}
    if source is None:
        registry.unregister(record.link_path)
        return {**result, "ok": True, "action": "dropped_entry"}
    model, file = source
    target = model_file_path(model, file, library_root)
    try:
        link = maker.create_link(target, path)
    except (OSError, ModelLibraryError) as exc:
        return {**result, "ok": False, "reason": str(exc)}
    registry.register(
        LinkRecord(
            model.id,
            file.path,
            record.link_path,
            link.kind,
            link.relative,
            str(target),
            record.link_root,
            record.app_id,
            record.category,
            link.inode,
            link.device,
            record.purpose,
            utcnow(),
        )
    )
    return {**result, "ok": True, "action": "relinked", "model_id": model.id}


def _unlink_symlink(path: Path) -> bool:
    """Remove a dangling symlink we registered (checked by the caller); never anything else."""
    try:
        if not os.path.islink(path):
            return False
        os.unlink(path)
    except OSError:
        return False
    return True


def _find_source(
    record: LinkRecord,
    by_id: dict[str, Model],
    by_hash: dict[str, list[tuple[Model, ModelFile]]],
    library_root: Path,
) -> tuple[Model, ModelFile] | None:
    model = by_id.get(record.model_id)
    candidates: list[tuple[Model, ModelFile]] = []
    if model is not None:
        own = next((f for f in model.files if f.path == record.file_path), None)
        if own is not None:
            candidates.append((model, own))
            candidates += by_hash.get(own.blake3, [])
    for m, f in candidates:
        if _file_problem(m, f, library_root) is None:
            return m, f
    return None


def _adopt_orphan(
    orphan: dict[str, Any],
    by_path: dict[str, tuple[Model, ModelFile]],
    apps: dict[str, Any],
    library_root: Path,
    registry: LinkRegistry,
) -> dict[str, Any]:
    result: dict[str, Any] = {"kind": "orphan", "path": orphan["path"]}
    known = by_path.get(orphan["target"])
    rel = Path(os.path.relpath(orphan["path"], library_root / "views")).parts
    if known is None or len(rel) < 3 or rel[0] not in apps:
        return {**result, "ok": False, "reason": "points at no known model file; left as it is"}
    model, file = known
    relative = not os.path.isabs(os.readlink(orphan["path"]))
    registry.register(
        LinkRecord(
            model.id,
            file.path,
            orphan["path"],
            "symlink",
            relative,
            orphan["target"],
            str(view_root(library_root, rel[0])),
            rel[0],
            rel[1],
            None,
            None,
            "mapping",
            utcnow(),
        )
    )
    return {**result, "ok": True, "action": "registered", "model_id": model.id}
