"""The import pipeline: plan -> open (O_NOFOLLOW, fstat) -> copy+hash or move+hash -> validate -> commit.

``pipeline.Importer`` runs it; ``plan`` groups files into models; ``stage`` copies or moves while hashing;
``commit`` places a staged model and records it, crash-safe. Names are resolved lazily so that importing a
light submodule (``importer.plan``) does not load the whole pipeline and its dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .commit import recover
    from .pipeline import Importer

__all__ = ["Importer", "recover"]


def __getattr__(name: str) -> Any:
    if name == "Importer":
        from .pipeline import Importer

        return Importer
    if name == "recover":
        from .commit import recover

        return recover
    raise AttributeError(name)
