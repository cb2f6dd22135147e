"""The mapping service: the rules (mapping.json) and the links they make in mapped ComfyUI installs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..catalog.db import Database
from ..catalog.store import Catalog
from ..config import LibraryConfig
from ..errors import InvalidInput
from ..links.registry import AppRecord, AppRegistry
from ..mapping import service as mapping
from ..mapping.apply import ApplyReport
from ..mapping.config import MappingConfig, load_mapping, mapping_from_dict, save_mapping
from ..mapping.named_links import NamedLink
from ..mapping.planner import Plan
from ..models import Model
from ..types import OnChanged, WriteCheck
from .base import PathArg

ON_CONFLICT = ("skip", "overwrite", "rename")


class MappingService:
    def __init__(
        self,
        config: LibraryConfig,
        db: Database,
        repo: Catalog,
        *,
        guard: WriteCheck,
        on_changed: OnChanged,
    ) -> None:
        self.config = config
        self.db = db
        self.repo = repo
        self._guard = guard
        self._changed = on_changed

    # -- rules -----------------------------------------------------------------------------------------
    def rules(self) -> MappingConfig:
        return load_mapping(self.config.mapping_path)

    def get_config(self) -> dict[str, Any]:
        return self.rules().to_dict()

    def set_config(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and save the rules, then re-apply them to every mapped install (stale links go)."""
        self._guard()
        config = mapping_from_dict(data)
        save_mapping(self.config.mapping_path, config)
        for app in AppRegistry(self.db).all():
            if app.mode in mapping.MAPPING_MODES and Path(app.root).is_dir():
                mapping.apply(self.db, self.repo, self.config.root, app.root, config)
        self._changed([], "mapping")
        return config.to_dict()

    # -- installs --------------------------------------------------------------------------------------
    def _install_dir(self, comfyui_dir: PathArg | None) -> Path:
        chosen = comfyui_dir or self.config.comfyui_root
        if not chosen:
            raise InvalidInput("Name the ComfyUI folder to map into (--comfyui DIR).")
        folder = Path(chosen).expanduser().resolve()
        if not folder.is_dir():
            raise InvalidInput(f"{folder} is not a folder; give the ComfyUI folder (the one with main.py).")
        return folder

    def preview(self, comfyui_dir: PathArg | None = None) -> Plan:
        return mapping.preview(
            self.db, self.repo, self.config.root, self._install_dir(comfyui_dir), self.rules()
        )

    def apply(
        self,
        comfyui_dir: PathArg | None = None,
        resolutions: Mapping[str, str] | None = None,
        *,
        on_conflict: str = "skip",
        shared: bool = False,
        live: bool = False,
    ) -> ApplyReport:
        """Map every model into the install. An install another library maps is refused (Conflict)
        unless ``shared``: then both libraries' models are listed. ``live``: no extra_model_paths.yaml
        (the running ComfyUI is told of the views by the plugin)."""
        if on_conflict not in ON_CONFLICT:
            raise InvalidInput("on_conflict must be skip, overwrite or rename.")
        self._guard()
        report = mapping.apply(
            self.db,
            self.repo,
            self.config.root,
            self._install_dir(comfyui_dir),
            self.rules(),
            resolutions=resolutions,
            on_conflict=on_conflict,
            shared=shared,
            live=live,
        )
        self._changed([], "mapped")
        return report

    def unmap(self, comfyui_dir: PathArg) -> ApplyReport:
        """Take our links and yaml section away from an install; its files go back as they were."""
        self._guard()
        from ..mapping.comfyui import read_install

        install = read_install(self._install_dir(comfyui_dir))
        return mapping.unmap(self.db, self.config.root, install.id)

    def installs(self) -> list[dict[str, Any]]:
        return [
            {
                "id": a.id,
                "root": a.root,
                "version": a.version,
                "mode": a.mode,
                "views": str(mapping.view_root(self.config.root, a.id))
                if a.mode in mapping.VIEW_MODES
                else None,
            }
            for a in AppRegistry(self.db).all()
            if a.mode in mapping.MAPPING_MODES
        ]

    def wants_live(self, comfyui_dir: PathArg, *, write_yaml: bool) -> bool:
        return mapping.wants_live(self.db, self._install_dir(comfyui_dir), self.config.root, write_yaml)

    def targets(self, comfyui_dir: PathArg | None = None) -> list[AppRecord]:
        """The mapped installs links go into: the one named (or configured), else every mapped one.
        A named install that is not mapped is an error that says how to map it."""
        chosen = comfyui_dir or self.config.comfyui_root
        apps = [a for a in AppRegistry(self.db).all() if a.mode in mapping.MAPPING_MODES]
        if not chosen:
            return apps
        from ..mapping.comfyui import read_install

        folder = self._install_dir(chosen)
        install = read_install(folder)
        found = [a for a in apps if a.id == install.id]
        if not found:
            raise InvalidInput(
                f"ComfyUI at {folder} does not see this library yet: map it first "
                f"(`model-library map apply --comfyui {folder}`, or Map in the panel), then run this again."
            )
        return found

    def show_as(
        self, model: Model, category: str, name: str, apps: Sequence[AppRecord], *, sha256: str | None = None
    ) -> list[NamedLink]:
        """Make ``model`` appear as ``category/name`` in each of ``apps`` (a link, never a copy)."""
        self._guard()
        from ..mapping.named_links import link_as

        config = self.rules()
        return [
            link_as(self.db, self.config.root, app, model, category, name, config, sha256=sha256)
            for app in apps
        ]

    def sync_models(self, model_ids: Sequence[str]) -> None:
        """Auto-sync: bring every mapped install up to date for these models alone."""
        if not model_ids or not any(a.mode in mapping.MAPPING_MODES for a in AppRegistry(self.db).all()):
            return
        config = self.rules()
        for model_id in model_ids:
            mapping.sync_model(self.db, self.repo, self.config.root, model_id, config)
