"""The catalog service: the models the library knows (list, show, edit, remove, trash, rebuild)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..catalog.model_records import ModelRecords
from ..catalog.rebuild import rebuild_catalog
from ..catalog.store import CatalogStore
from ..config import LibraryConfig
from ..editing import edit_changes
from ..errors import CatalogCorrupt, Conflict
from ..io.paths import lexically_at_or_under
from ..io.trash import empty_trash, move_to_trash, trash_entries
from ..links.cascade import remove_model_links
from ..links.registry import LinkRegistry
from ..models import Link, Model, ModelQuery, Page, utcnow
from ..taxonomy import LinkKind
from ..types import OnChanged, WriteCheck

if TYPE_CHECKING:
    from ..adopt import UndoReport
    from ..catalog.db import Database
    from ..catalog.store import Facets
    from ..sources.registry import SourceRegistry

SyncFn = Callable[[Sequence[str]], None]  # bring mapped installs up to date for these models
ReleaseFn = Callable[[str], "UndoReport | None"]  # real files back at a model's adopted names


class CatalogService:
    def __init__(
        self,
        config: LibraryConfig,
        db: Database,
        repo: CatalogStore[Any],
        source_registry: SourceRegistry,
        *,
        guard: WriteCheck,
        on_changed: OnChanged,
        sync_models: SyncFn,
        release_adopted: ReleaseFn,
    ) -> None:
        self.config = config
        self.db = db
        self.repo = repo
        self._sources = source_registry
        self._guard = guard
        self._changed = on_changed
        self._sync = sync_models
        self._release = release_adopted
        self._records = ModelRecords(config.root, repo)

    def list_models(self, query: ModelQuery) -> Page:
        return self.repo.list(query)

    def get_model(self, ref: str) -> Model:
        """By id, unique id prefix, ``blake3:<hex>`` / ``sha256:<hex>``, or a unique name."""
        return self.repo.resolve(ref)

    def model_dir(self, model: Model) -> Path:
        if model.location == "library":
            folder = self.config.root.joinpath(*model.rel_dir.split("/"))
            # A shared catalog's rows are written by other machines: one naming a folder outside this
            # library's models (``../..``, an absolute path) must never be moved to the trash or read.
            models = self.config.models_dir
            itself = os.path.normpath(folder) == os.path.normpath(models)
            if itself or not lexically_at_or_under(folder, models):
                raise CatalogCorrupt(
                    f"The catalog row of {model.name} ({model.id}) names the folder {model.rel_dir!r}, "
                    "which is not inside the library's models; nothing was done with it. Run "
                    "`model-library rebuild` to catalogue the models from their folders again."
                )
            return folder
        return Path(model.rel_dir)

    def model_links(self, model_id: str) -> tuple[Link, ...]:
        # Link turns a known kind into its LinkKind member and keeps an unknown one as written.
        links = LinkRegistry(self.db).by_model(model_id)
        return tuple(Link(path=r.link_path, kind=cast(LinkKind, r.kind)) for r in links)

    def model_detail(self, ref: str, *, name_prefix: bool = False) -> dict[str, Any]:
        """The detail JSON: the model plus ``dir``, ``links``, absolute file paths, where it was imported
        from.
        ``name_prefix``: the unique start of a name also finds it (the CLI's ``show``)."""
        model = self.repo.resolve(ref, name_prefix=name_prefix)
        detail = model.to_dict(library_root=str(self.config.root), links=self.model_links(model.id))
        folder = self.model_dir(model)
        for entry in detail["files"]:
            entry["abs_path"] = str(folder.joinpath(*entry["path"].split("/")))
        # The paths its bytes were imported from ("origins" is the sites it is published on).
        detail["imported_from"] = [
            {"path": p, "kind": k, "recorded_at": at} for p, k, at in self.repo.origins(model.id)
        ]
        detail["locations"] = self._sources.locations(model.id)
        detail["comfyui_names"] = self.comfyui_names(model.id)
        return detail

    def comfyui_names(self, model_id: str) -> list[dict[str, str]]:
        """Where each mapped install lists the model: ``{"install", "category", "name"}``, the name as
        that category's loaders show it (``SDXL/x.safetensors``), so the panel can set a core loader."""
        out: list[dict[str, str]] = []
        for record in LinkRegistry(self.db).by_model(model_id):
            if record.purpose not in ("mapping", "workflow") or not record.category or not record.app_id:
                continue
            folder = os.path.join(record.link_root, record.category)
            rel = os.path.relpath(record.link_path, folder)
            if rel.startswith(".."):
                continue
            entry = {"install": record.app_id, "category": record.category, "name": rel.replace(os.sep, "/")}
            if entry not in out:
                out.append(entry)
        return out

    def model_file_path(self, ref: str) -> Path:
        """The absolute path of a model's main file (its folder for a Diffusers model)."""
        model = self.get_model(ref)
        folder = self.model_dir(model)
        if model.format == "diffusion-folder":
            return folder
        weights = [f for f in model.files if not f.path.endswith(".json")]
        return folder.joinpath(*(weights or list(model.files))[0].path.split("/"))

    def edit_model(
        self,
        ref: str,
        *,
        name: str | None = None,
        type: str | None = None,
        base_model: str | None = None,
        tags: Sequence[str] | None = None,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
        notes: str | None = None,
        trigger_words: Sequence[str] | None = None,
        favorite: bool | None = None,
        default_strength: float | str | None = None,
    ) -> Model:
        """Edit metadata; every edited field is marked manual (never overwritten by enrichment)."""
        model = self.get_model(ref)
        changes = edit_changes(
            model,
            name=name,
            type=type,
            base_model=base_model,
            tags=tags,
            add_tags=add_tags,
            remove_tags=remove_tags,
            notes=notes,
            trigger_words=trigger_words,
            favorite=favorite,
            default_strength=default_strength,
        )
        if not changes:
            return model
        self._guard()
        updated = self.repo.update(model.id, **changes)
        self._records.write(updated)
        if {"type", "base_model", "tags", "name"} & set(changes):
            self._sync([updated.id])  # a rule may now place it elsewhere
        self._changed([updated.id], "edited")
        return updated

    def facets(self, query: ModelQuery) -> Facets:
        return self.repo.facets(query)

    def mark_used(self, ref: str) -> Model:
        """Remember that the model was just put into a workflow or loaded ("Recently used")."""
        model = self.get_model(ref)
        now = utcnow()
        if model.used_at and _seconds_between(model.used_at, now) < USED_RESOLUTION_S:
            return model  # a prompt loading it again right away: no write
        self._guard()
        updated = self.repo.update(model.id, used_at=now)
        self._records.write(updated)
        self._changed([updated.id], "used")
        return updated

    def remove_model(self, ref: str) -> dict[str, Any]:
        """Cascade: our links, then the files to the trash, then the row.

        Source models (catalogued in place) are only forgotten: their files are the user's.
        """
        model = self.get_model(ref)
        self._guard()
        released = self._release(model.id)
        if released is not None and released.failed:
            raise Conflict(
                f"{model.name} was adopted and {len(released.failed)} of its original names could not get a "
                f"real file back ({released.failed[0].get('error', '')}); nothing was removed. "
                "Free space there and try again."
            )
        removed_links, not_ours = remove_model_links(self.db, model.id)
        trashed: str | None = None
        with self._records.locked(model.id):  # a record written meanwhile would make the folder anew
            if model.location == "library":
                folder = self.model_dir(model)
                if folder.exists():
                    trashed = str(move_to_trash(folder, self.config.trash_dir, model.id))
            try:
                with self.db.transaction() as conn:
                    self._sources.hide_model_files(conn, model.id)
                    self.repo.delete(model.id)
            except BaseException:
                if trashed is not None:  # the row stays (a full disk): so do its files, never a row
                    os.replace(trashed, self.model_dir(model))  # without: a rename back, no space needed
                raise
            if model.location != "library":
                self._records.forget(model.id)  # its extras and preview: ours, in the library
        self._changed([model.id], "removed")
        report: dict[str, Any] = {
            "id": model.id,
            "removed_links": removed_links,
            "not_ours": not_ours,
            "trashed": trashed,
        }
        if released is not None:
            report["restored_originals"] = released.to_dict()
        return report

    def empty_trash(self, older_than_days: float | None = None) -> list[str]:
        days = self.config.trash_retention_days if older_than_days is None else older_than_days
        return [str(p) for p in empty_trash(self.config.trash_dir, days)]

    def trash_kept(self) -> list[dict[str, Any]]:
        """What the trash still holds: ``{"path", "trashed_at"}`` (ISO time), oldest first."""
        entries = sorted(trash_entries(self.config.trash_dir), key=lambda e: e[1])
        return [
            {"path": str(p), "trashed_at": datetime.fromtimestamp(t, timezone.utc).isoformat()}
            for p, t in entries
        ]

    def rebuild(self) -> dict[str, Any]:
        """Recreate the model rows from the library's metadata.json files; what else the catalog lacks
        (sources, installs, links, pending lookups) comes back from ``records/``."""
        # one bulk transaction, on whichever store the library uses
        report = rebuild_catalog(self.db, self.config.models_dir, self.config.root, self.repo)
        self.db.checkpoint()
        self._changed([], "rebuilt")
        return report.to_dict()


USED_RESOLUTION_S = 60.0


def _seconds_between(earlier: str, later: str) -> float:
    try:
        return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()
    except ValueError:
        return float("inf")
