"""The health service: checks (stats only) and repairs over catalog, files, links and yaml sections."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .. import health as checks
from ..catalog.db import Database
from ..catalog.store import Catalog
from ..mapping.config import MappingConfig
from ..types import OnChanged


class HealthService:
    def __init__(
        self,
        db: Database,
        repo: Catalog,
        root: Path,
        *,
        rules: Callable[[], MappingConfig],
        on_changed: OnChanged,
        machine_root: Path | None = None,
    ) -> None:
        self.db = db
        self.repo = repo
        self.root = root
        self._machine_root = machine_root
        self._rules = rules
        self._changed = on_changed

    def check(self) -> checks.HealthReport:
        return checks.check(self.db, self.repo, self.root, self._rules(), machine_root=self._machine_root)

    def repair(self) -> checks.RepairReport:
        """Repair links by hash, drop dead entries, rewrite yaml sections, confirm a moved library."""
        report = checks.repair(self.db, self.repo, self.root, self._rules(), machine_root=self._machine_root)
        self._changed([], "repaired")
        return report
