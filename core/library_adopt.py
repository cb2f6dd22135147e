"""The facade's adoption part (mixed into ``Library``; delegation only): bring an install in, give it back."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .adopt import AdoptReport, AdoptService, UndoReport
    from .catalog.db import Database
    from .catalog.repository import ModelRepository
    from .config import LibraryConfig
    from .importer.pipeline import Importer
    from .types import CancelCheck, StageProgress


class AdoptPart:
    config: LibraryConfig
    db: Database
    repo: ModelRepository
    importer: Importer
    _adopter: AdoptService | None = None

    def publish(self, event: str, data: dict[str, Any]) -> None: ...

    def _writable(self) -> None: ...

    @property
    def adopter(self) -> AdoptService:
        if self._adopter is None:
            from .adopt import AdoptService
            from .links.registry import LinkRegistry

            self._adopter = AdoptService(
                self.config, self.db, self.repo, self.importer, LinkRegistry(self.db)
            )
        return self._adopter

    def adopt(
        self,
        comfyui_dir: str | os.PathLike[str],
        *,
        dry_run: bool = False,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> AdoptReport:
        """Bring an install's models into the library in place; every original name keeps working."""
        if not dry_run:
            self._writable()
        report = self.adopter.adopt(comfyui_dir, dry_run=dry_run, progress=progress, cancelled=cancelled)
        if not dry_run and (report.adopted or report.duplicates):
            self.publish("changed", {"ids": [], "reason": "adopted"})
        return report

    def undo_adopt(
        self,
        comfyui_dir: str | os.PathLike[str],
        *,
        progress: StageProgress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> UndoReport:
        """Put real files back at every original path of one install (the library keeps its copies)."""
        self._writable()
        report = self.adopter.undo(comfyui_dir, progress=progress, cancelled=cancelled)
        self.publish("changed", {"ids": [], "reason": "unadopted"})
        return report

    def _release_adopted(self, model_id: str) -> Any:
        """Before a model's files go: its adopted original names get real files back."""
        has_adopt_links = self.db.execute_read(
            "SELECT 1 FROM links WHERE model_id = ? AND purpose = 'adopt' LIMIT 1", (model_id,)
        )
        return self.adopter.release_model(model_id) if has_adopt_links else None
