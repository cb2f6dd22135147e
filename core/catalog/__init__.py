"""The catalog: SQLite storage of models, full-text search, metadata.json sidecars and rebuild."""

from .db import Database
from .repository import Catalog, ModelRepository
from .search import build_match
from .sidecar import (
    SIDECAR_NAME,
    RebuildReport,
    read_sidecar,
    rebuild_catalog,
    set_aside_corrupt,
    sidecar_dict,
    write_sidecar,
)

__all__ = [
    "SIDECAR_NAME",
    "Catalog",
    "Database",
    "ModelRepository",
    "RebuildReport",
    "build_match",
    "read_sidecar",
    "rebuild_catalog",
    "set_aside_corrupt",
    "sidecar_dict",
    "write_sidecar",
]
