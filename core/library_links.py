"""The facade's mapping, health and relocation part (mixed into ``Library``; delegation only)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import health as health_checks
from . import identity
from .errors import InvalidInput
from .links.cascade import remove_model_links
from .links.registry import AppRegistry
from .mapping import service as mapping
from .mapping.apply import ApplyReport
from .mapping.config import MappingConfig, load_mapping, mapping_from_dict, save_mapping
from .mapping.planner import Plan

if TYPE_CHECKING:
    from .catalog.db import Database
    from .catalog.repository import ModelRepository
    from .config import LibraryConfig


class MappingPart:
    config: LibraryConfig
    db: Database
    repo: ModelRepository

    def publish(self, event: str, data: dict[str, Any]) -> None: ...

    # -- identity --------------------------------------------------------------------------------------
    def _writable(self) -> None:
        """Writes wait while a moved library is unconfirmed (``health --repair`` confirms), and fail
        before any file is touched while the catalog is read-only (its disk is full or refuses writes)."""
        self.db.refuse_if_read_only()
        identity.require_writable(self.config.root)

    # -- mapping config --------------------------------------------------------------------------------
    def mapping(self) -> MappingConfig:
        return load_mapping(self.config.mapping_path)

    def mapping_config(self) -> dict[str, Any]:
        return self.mapping().to_dict()

    def set_mapping_config(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and save the rules, then re-apply them to every mapped install (stale links go)."""
        self._writable()
        config = mapping_from_dict(data)
        save_mapping(self.config.mapping_path, config)
        for app in AppRegistry(self.db).all():
            if app.mode in mapping.MAPPING_MODES and Path(app.root).is_dir():
                mapping.apply(self.db, self.repo, self.config.root, app.root, config)
        self.publish("changed", {"ids": [], "reason": "mapping"})
        return config.to_dict()

    def _install_dir(self, comfyui_dir: str | os.PathLike[str] | None) -> Path:
        chosen = comfyui_dir or self.config.comfyui_root
        if not chosen:
            raise InvalidInput("Name the ComfyUI folder to map into (--comfyui DIR).")
        folder = Path(chosen).expanduser().resolve()
        if not folder.is_dir():
            raise InvalidInput(f"{folder} is not a folder; give the ComfyUI folder (the one with main.py).")
        return folder

    # -- mapping ---------------------------------------------------------------------------------------
    def map_preview(self, comfyui_dir: str | os.PathLike[str] | None = None) -> Plan:
        return mapping.preview(
            self.db, self.repo, self.config.root, self._install_dir(comfyui_dir), self.mapping()
        )

    def map_apply(
        self,
        comfyui_dir: str | os.PathLike[str] | None = None,
        resolutions: Mapping[str, str] | None = None,
        *,
        on_conflict: str = "skip",
    ) -> ApplyReport:
        if on_conflict not in ("skip", "overwrite", "rename"):
            raise InvalidInput("on_conflict must be skip, overwrite or rename.")
        self._writable()
        report = mapping.apply(
            self.db,
            self.repo,
            self.config.root,
            self._install_dir(comfyui_dir),
            self.mapping(),
            resolutions=resolutions,
            on_conflict=on_conflict,
        )
        self.publish("changed", {"ids": [], "reason": "mapped"})
        return report

    def unmap(self, comfyui_dir: str | os.PathLike[str]) -> ApplyReport:
        """Take our links and yaml section away from an install; its files go back as they were."""
        self._writable()
        from .mapping.comfyui import read_install

        install = read_install(self._install_dir(comfyui_dir))
        return mapping.unmap(self.db, self.config.root, install.id)

    def mapped_installs(self) -> list[dict[str, Any]]:
        return [
            {
                "id": a.id,
                "root": a.root,
                "version": a.version,
                "mode": a.mode,
                "views": str(mapping.view_root(self.config.root, a.id)) if a.mode == "view" else None,
            }
            for a in AppRegistry(self.db).all()
            if a.mode in mapping.MAPPING_MODES
        ]

    def sync_models(self, model_ids: Sequence[str]) -> None:
        """Auto-sync: bring every mapped install up to date for these models alone."""
        if not model_ids or not any(a.mode in mapping.MAPPING_MODES for a in AppRegistry(self.db).all()):
            return
        config = self.mapping()
        for model_id in model_ids:
            mapping.sync_model(self.db, self.repo, self.config.root, model_id, config)

    def _remove_links(self, model_id: str) -> tuple[list[str], list[str]]:
        return remove_model_links(self.db, model_id)

    # -- health ----------------------------------------------------------------------------------------
    def health(self) -> health_checks.HealthReport:
        return health_checks.check(self.db, self.repo, self.config.root, self.mapping())

    def repair(self) -> health_checks.RepairReport:
        """Repair links by hash, drop dead entries, rewrite yaml sections, confirm a moved library."""
        report = health_checks.repair(self.db, self.repo, self.config.root, self.mapping())
        self.publish("changed", {"ids": [], "reason": "repaired"})
        return report
