"""A source's recorded hashes put back after a rebuild (:func:`restore_hashes`), its models settled.

Above the registry (:mod:`.registry`), the records it writes (:mod:`.records`) and the background
settling (:mod:`.background`); called by ``records/restore.py`` and the source service's scan.
"""

from __future__ import annotations

from ..models import ModelFile
from ..records.files import SourceFilesRecord, read_record, records_dir, source_files_path
from .background import settle_if_complete
from .records import restore_files
from .registry import SourceRegistry


def restore_hashes(registry: SourceRegistry, source_id: int, source_path: str) -> list[str]:
    """After the first walk of a source the catalog had lost: its files' recorded hashes back (those
    unchanged since), its removed models hidden again, complete models settled to their content ids.
    -> the ids the touched models have now."""
    # On use: the importer's staging (and its file locks) stay out of the first scan's child process.
    from ..importer.stage import composite_hashes

    record = read_record(source_files_path(records_dir(registry.db.path), source_path), SourceFilesRecord)
    if record is None or record.source != source_path:
        return []

    def composite(files: tuple[ModelFile, ...]) -> tuple[str, str]:
        hashes = composite_hashes(files)
        return hashes.blake3, hashes.sha256

    with registry.db.transaction() as conn:
        touched = restore_files(conn, source_id, record.files)
        # A removed model's provisional row, left without files.
        registry.models.drop_orphans(conn, sorted(touched))
    settled = []
    for model_id, (added_at, updated_at) in touched.items():
        now_id = settle_if_complete(registry, model_id, composite) or model_id
        if added_at:  # listed again with the times it was listed with before
            with registry.db.transaction() as conn:
                registry.models.restore_times(conn, now_id, added_at, updated_at or added_at)
        settled.append(now_id)
    return settled
