"""The links part of a cascade delete: remove a model's links, only where they are still ours.

THREATS.md #6: a registry entry pointing at ``/home/u/Documents``, a link the user replaced with a real
file or folder, a Windows junction. A path is removed only when it lies inside its link root, is still a
link (lstat, never followed) or a hardlink with our inode, and still points at our file. Everything else
is reported "not ours" and left alone. Running it again after a crash finishes the job.
"""

from __future__ import annotations

from pathlib import Path

from ..catalog.db import Database
from ..errors import ModelLibraryError
from .platform import LinkMaker, default_maker, inside_root, prune_empty_dirs
from .registry import LinkRegistry


def remove_model_links(
    db: Database, model_id: str, *, maker: LinkMaker | None = None
) -> tuple[list[str], list[str]]:
    """Unlink every registered link of ``model_id`` that is still ours. -> (removed, not_ours).

    Every entry of the model is unregistered (the model is going away); a link that could not be removed
    because the file is in use raises StorageError with its entry kept, so a retry finishes the job.
    """
    maker = maker or default_maker()
    registry = LinkRegistry(db)
    removed: list[str] = []
    not_ours: list[str] = []
    done: list[str] = []
    try:
        for record in registry.by_model(model_id):
            path = Path(record.link_path)
            if not inside_root(path, Path(record.link_root)):
                not_ours.append(record.link_path)
            else:
                outcome = maker.remove_link(
                    path, Path(record.target), record.kind, record.inode, record.device
                )
                if outcome == "removed":
                    removed.append(record.link_path)
                    prune_empty_dirs(path.parent, Path(record.link_root))
                elif outcome == "not_ours":
                    not_ours.append(record.link_path)
            done.append(record.link_path)
    except (OSError, ModelLibraryError):
        registry.unregister_many(done)
        raise
    registry.unregister_many(done)
    return removed, not_ours
