"""Give a rebuilt catalog back what only the old one knew, from the records in ``<library>/records/``.

Called by ``rebuild_catalog`` once the library models are back from their ``metadata.json`` files. Every
step only adds what the catalog lacks, so a rebuild of a healthy catalog changes nothing here:

1. the installs the library maps into (``installs.json``);
2. the sources (``sources.json``, with their ids), each rescanned at once (walk + headers) so their
   models are listed; then the hashes of every file unchanged since it was hashed (same path, size,
   mtime and inode) are put back and complete models re-keyed to their content ids: nothing unchanged is
   hashed again. Files whose model the user removed are hidden again;
3. the links (``links/<install-id>/<xx>.json``, or version 1's ``links/<install-id>.json``), each
   re-checked on disk first: it must lie inside its link root, point into the library or a source,
   belong to a known install, and be still our link or gone (then health reports it broken, as
   before). A link replaced by the user's own file is not taken back.
   An install in view mode whose links record is lost or unreadable gets its links back from its view
   folder (ours alone): every symlink there that leads to a model is registered;
4. pending Hub lookups of models that are back;
5. what only the library knows of models catalogued in place (``extras/<id>/extras.json``): the user's
   trigger words, the preview, the sites, a newer version, favourite and last use.

Not restored, by design: job history (``jobs``), the HTTP cache, crash journals (each operation's own
recovery runs at open, before anything could be lost), and edits made to models catalogued in place
(their metadata lives nowhere but the catalog; the files' own headers give it back).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog.db import Database
from ..catalog.model_records import restore_in_place
from ..catalog.repository import ModelRepository
from ..errors import ModelLibraryError
from ..io.paths import at_or_under
from ..links.platform import LinkMaker, LinkReader, default_maker, inside_root
from ..links.registry import AppRecord, AppRegistry, LinkRecord, LinkRegistry
from ..sources.registry import SourceRegistry
from ..sources.restore import restore_hashes
from ..sources.rows import SourceRow
from ..sources.scanner import inspect_pending, scan_source
from .files import (
    InstallsRecord,
    LinksRecord,
    SourcesRecord,
    installs_path,
    pending_lookups_path,
    read_all,
    read_record,
    records_dir,
    sources_path,
)
from .pending import PendingLookups

log = logging.getLogger(__name__)


@dataclass
class RestoreReport:
    installs: int = 0
    sources: int = 0
    source_models: int = 0
    hashes: int = 0  # models whose files got their recorded hashes back
    links: int = 0
    links_found: int = 0  # found in the view folder of an install whose links record was lost
    pending_lookups: int = 0
    extras: int = 0  # models catalogued in place given back their trigger words, preview, sites, favourite
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def restore_records(db: Database, library_root: Path, *, maker: LinkMaker | None = None) -> RestoreReport:
    """Restore installs, sources (rescanned, hashes back), links and pending lookups the catalog lacks."""
    folder = records_dir(db.path)
    report = RestoreReport()
    installs = read_record(installs_path(folder), InstallsRecord)
    if installs is not None:
        apps = [AppRecord(e.id, e.root, e.version, e.mode, e.kind, e.created_at) for e in installs.installs]
        report.installs = len(AppRegistry(db).restore(apps))
    sources = read_record(sources_path(folder), SourcesRecord)
    if sources is not None:
        registry = SourceRegistry(db)
        for row in registry.restore(sources.sources):
            report.sources += 1
            _restore_source(db, registry, row, library_root, report)
    _restore_links(db, library_root, maker or default_maker(), report)
    report.pending_lookups = PendingLookups(db).restore()
    report.extras = restore_in_place(library_root, ModelRepository(db))
    for reason in report.skipped:
        log.warning("model library: a recorded link was not taken back: %s", reason)
    return report


def restore_machine_records(db: Database, library_root: Path) -> list[str]:
    """A shared library's machine lost its own catalog file (or never had one: a machine joining the
    library): its installs, links and pending lookups come back from its records. -> notes for the log
    (none when nothing was there to restore)."""
    report = restore_records(db, library_root)
    if not (report.installs or report.links or report.pending_lookups):
        return []
    return [
        f"this machine's own catalog file was missing or damaged: restored {report.installs} installs, "
        f"{report.links} links and {report.pending_lookups} pending lookups from its records "
        "(the models are in the shared catalog)."
    ]


def ensure_records(db: Database) -> list[str]:
    """Write the records a catalog from before them lacks (call it only for a catalog that was there
    at open: a new, empty one must never overwrite what a rebuild needs). Only missing files are written;
    a failure (a full disk) is logged, not raised: reads go on, and the next open tries again.
    -> the records written."""
    folder = records_dir(db.path)
    steps: list[tuple[str, bool, Callable[[], None]]] = [
        ("installs", installs_path(folder).exists(), AppRegistry(db).save_records),
        ("links", (folder / "links").exists(), LinkRegistry(db).save_records),
        ("sources", sources_path(folder).exists(), SourceRegistry(db).save_records),
        ("pending_lookups", pending_lookups_path(folder).exists(), PendingLookups(db).save_record),
    ]
    written = []
    for name, present, save in steps:
        if present:
            continue
        try:
            save()
        except ModelLibraryError as exc:
            log.warning("model library: could not write the %s record yet: %s", name, exc.message)
            continue
        written.append(name)
    if "links" in written:  # a links folder even without links: written once, not looked for again
        try:
            (folder / "links").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("model library: could not make %s yet: %s", folder / "links", exc)
    return written


def _restore_source(
    db: Database, registry: SourceRegistry, row: SourceRow, library_root: Path, report: RestoreReport
) -> None:
    others = tuple(Path(r.path) for r in registry.all() if r.id != row.id)
    scanned = scan_source(row, db, registry, skip_roots=(library_root.resolve(), *others))
    report.source_models += scanned.added
    while inspect_pending(db, registry):
        pass
    if scanned.state == "ok":  # else at its first walk once it is back (SourceService)
        report.hashes += len(restore_hashes(registry, row.id, row.path))


def _restore_links(db: Database, library_root: Path, maker: LinkMaker, report: RestoreReport) -> None:
    apps = {a.id: a for a in AppRegistry(db).all()}
    links = LinkRegistry(db)
    owner = _Owners(db, library_root)
    recorded: set[str | None] = set()
    for path, record in read_all(records_dir(db.path) / "links", LinksRecord, depth=1):
        recorded.add(record.app_id)
        if record.app_id is not None and record.app_id not in apps:
            report.skipped.append(f"{path}: the install {record.app_id} is not known")
            continue
        known = links.find_many([e.link_path for e in record.links])
        restored: list[LinkRecord] = []
        for entry in record.links:
            if entry.link_path in known:
                continue
            why = _refused(entry.link_path, entry.link_root, entry.target, owner)
            app = apps.get(record.app_id or "")
            if why is None and entry.purpose in ("mapping", "workflow") and app is not None:
                roots = (str(library_root / "views" / app.id), os.path.join(app.root, "models"))
                if os.path.normpath(entry.link_root) not in roots:
                    why = "its link root is not where this install's links go"
            if (
                why is None
                and os.path.lexists(entry.link_path)
                and not maker.is_our_link(
                    entry.link_path, entry.target, entry.kind, entry.inode, entry.device
                )
            ):
                why = "not our link any more"
            model_id = owner.model_of(entry.target) or (
                entry.model_id if owner.exists(entry.model_id) else None
            )
            if why is None and model_id is None:
                why = "its model is not in the library"
            if why is not None:
                report.skipped.append(f"{entry.link_path}: {why}")
                continue
            assert model_id is not None
            restored.append(
                dataclasses.replace(LinkRecord.from_entry(entry, record.app_id), model_id=model_id)
            )
        report.links += links.register_many(restored)
    for app in apps.values():
        if app.mode in ("view", "live") and app.id not in recorded and not links.by_app(app.id):
            # Its record is lost or unreadable: its view folder (ours alone) tells which links we made.
            report.links_found += _find_view_links(app, library_root, links, owner)


def _refused(link_path: str, link_root: str, target: str, owner: _Owners) -> str | None:
    if not inside_root(link_path, link_root):
        return "outside its link root"
    if owner.model_of(target) is None and not owner.in_library_or_source(target):
        return "its target is neither in the library nor in a source"
    return None


class _Owners:
    """Which model a file belongs to: a library model by its folder, a source model by its file."""

    def __init__(self, db: Database, library_root: Path) -> None:
        self.root = str(library_root)
        self.models_dir = os.path.join(self.root, "models")
        self.dirs: dict[str, str] = {}  # rel_dir -> id
        self.dir_of: dict[str, str] = {}  # id -> absolute folder
        self.ids: set[str] = set()
        for model in ModelRepository(db).iter_all():
            self.ids.add(model.id)
            if model.location == "library":
                self.dirs[model.rel_dir] = model.id
                self.dir_of[model.id] = os.path.join(self.root, *model.rel_dir.split("/"))
        registry = SourceRegistry(db)
        self.sources = [r.path for r in registry.all()]
        self.files: dict[str, str] = {}
        for source in registry.all():
            for path, known in registry.files(source.id).items():
                if known.model_id:
                    self.files[path] = known.model_id

    def exists(self, model_id: str) -> bool:
        return model_id in self.ids

    def in_library_or_source(self, path: str) -> bool:
        norm = os.path.normpath(path)
        return at_or_under(norm, self.models_dir) or any(at_or_under(norm, s) for s in self.sources)

    def model_of(self, target: str) -> str | None:
        norm = os.path.normpath(target)
        if norm in self.files:
            return self.files[norm]
        if not at_or_under(norm, self.models_dir):
            return None
        rel = os.path.relpath(os.path.dirname(norm), self.root).replace(os.sep, "/")
        while rel and rel != ".":
            if rel in self.dirs:
                return self.dirs[rel]
            rel = os.path.dirname(rel)
        return None


def _find_view_links(app: AppRecord, library_root: Path, links: LinkRegistry, owner: _Owners) -> int:
    """Register the symlinks in an install's view folder that lead to a model but no record named."""
    root = library_root / "views" / app.id
    found: list[LinkRecord] = []
    reader = LinkReader(library_root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if name.startswith(".") or not os.path.islink(path):
                continue
            raw = os.readlink(path)
            target = reader.destination(path, raw)
            model_id = owner.model_of(target)
            if model_id is None:
                continue
            rel_in_root = os.path.relpath(path, root).split(os.sep)
            model_dir = owner.dir_of.get(model_id) or os.path.dirname(target)
            found.append(
                LinkRecord(
                    model_id,
                    os.path.relpath(target, model_dir).replace(os.sep, "/"),
                    path,
                    "symlink",
                    not os.path.isabs(raw),
                    target,
                    str(root),
                    app.id,
                    rel_in_root[0] if len(rel_in_root) > 1 else "",
                )
            )
    if not found:
        return 0
    known = links.find_many([r.link_path for r in found])
    return links.register_many([r for r in found if r.link_path not in known])
