"""What an enrichment run found: counts per site, new previews, models left pending or failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class EnrichReport:
    enriched: int = 0
    found: dict[str, int] = field(default_factory=lambda: {"civitai": 0, "huggingface": 0})
    previews: int = 0
    pending: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "enriched": self.enriched,
            "found": dict(self.found),
            "previews": self.previews,
            "pending": self.pending,
            "failed": self.failed,
        }
