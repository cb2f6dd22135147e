"""What the catalog knows of a model, written back to the files that are the truth.

A library model's record is its ``metadata.json`` (sidecar.py). A model catalogued in place has no
folder of ours beside it (the user's folders are never written), so what only the library knows of it --
trigger words, preview, sites, favourite, and everything fetched from the sites -- is kept in
``<library>/extras/<id>/extras.json`` and read back by a rebuild.
"""

from __future__ import annotations

import json
import shutil
import threading
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..io.fileops import atomic_write_bytes
from ..io.jsonfmt import pretty_json
from ..models import Model
from .sidecar import SIDECAR_NAME, extras_record, read_fetched, strength_of, write_sidecar
from .store import Catalog

EXTRAS_DIR = "extras"
EXTRAS_NAME = "extras.json"
RECORD_VERSION = 1
MAX_EXTRAS_BYTES = 4 * 1024 * 1024
# One lock per model (striped: a bounded table), shared by every ModelRecords of the process.
_LOCKS = tuple(threading.Lock() for _ in range(64))


def _lock_for(model_id: str) -> threading.Lock:
    return _LOCKS[zlib.crc32(model_id.encode()) % len(_LOCKS)]


class ModelRecords:
    def __init__(self, library_root: Path, repo: Catalog) -> None:
        self.root = Path(library_root)
        self.repo = repo

    def locked(self, model_id: str) -> threading.Lock:
        """The model's lock, for a removal: no record is written while its folder goes to the trash and
        its row is deleted (a record written in between would make the folder anew). Not re-entrant:
        nothing holding it may write the model's record."""
        return _lock_for(model_id)

    def extras_path(self, model_id: str) -> Path:
        return self.root / EXTRAS_DIR / model_id / EXTRAS_NAME

    def write(self, model: Model, *, fetched: Mapping[str, Any] | None = None) -> None:
        """Write ``model``'s record as the catalog has it now; ``fetched`` replaces what the sites said
        (else it is kept).

        Every writer updates the catalog row first, then the record. Two at once (an enrich job, a
        preview the user sets in that instant) could each hold a copy read before the other's change,
        and the last to write would drop the other's from the record: so the row is read again here,
        under the model's lock, and the record always holds every change made before it was written."""
        with _lock_for(model.id):
            current = self.repo.find(model.id)
            if current is not None:  # else removed meanwhile: its folder went to the trash
                self._write(current, fetched)

    def _write(self, model: Model, fetched: Mapping[str, Any] | None) -> None:
        if model.location == "library":
            folder = self.root.joinpath(*model.rel_dir.split("/"))
            write_sidecar(folder, model, origins=self.repo.origins(model.id), fetched=fetched)
            return
        path = self.extras_path(model.id)
        if fetched is None:
            fetched = self.read_extras(model.id).get("fetched") or {}
        record = {
            "record": "extras",
            "version": RECORD_VERSION,
            "model_id": model.id,
            "trigger_words": list(model.trigger_words),
            "manual_fields": sorted(model.manual_fields),
            "extras": extras_record(model),
            "fetched": dict(fetched),
        }
        atomic_write_bytes(path, (pretty_json(record) + "\n").encode())

    def forget(self, model_id: str) -> None:
        """Delete what the library kept of a model catalogued in place (its files stay the user's)."""
        shutil.rmtree(self.root / EXTRAS_DIR / model_id, ignore_errors=True)

    def read_fetched(self, model: Model) -> dict[str, Any]:
        """Everything fetched from the sites about ``model`` so far ({} when nothing)."""
        if model.location == "library":
            return read_fetched(self.root.joinpath(*model.rel_dir.split("/"), SIDECAR_NAME))
        fetched = self.read_extras(model.id).get("fetched")
        return fetched if isinstance(fetched, dict) else {}

    def read_extras(self, model_id: str) -> dict[str, Any]:
        """The extras record of a model catalogued in place ({} when none or unreadable)."""
        try:
            with open(self.extras_path(model_id), "rb") as f:
                raw = f.read(MAX_EXTRAS_BYTES + 1)
            data = json.loads(raw) if len(raw) <= MAX_EXTRAS_BYTES else None
        except (OSError, ValueError, RecursionError):
            return {}
        if not isinstance(data, dict) or data.get("record") != "extras" or data.get("model_id") != model_id:
            return {}
        return data


def restore_in_place(root: Path, repo: Catalog) -> int:
    """Give models catalogued in place what their extras records keep (after a rebuild); -> how many."""
    from ..model_extras import About, Preview, SiteOrigin, UpdateInfo, clean_trigger_words
    from ..previews.store import image_name

    records = ModelRecords(root, repo)
    folder = Path(root) / EXTRAS_DIR
    try:
        ids = [p.name for p in folder.iterdir() if p.is_dir()]
    except OSError:
        return 0
    restored = 0
    for model_id in ids:
        model = repo.find(model_id)
        data = records.read_extras(model_id)
        if model is None or model.location == "library" or not data:
            continue
        found = data.get("extras")
        extras: dict[str, Any] = found if isinstance(found, dict) else {}
        listed = extras.get("site_origins")
        origins: list[Any] = listed if isinstance(listed, list) else []
        changes: dict[str, Any] = {
            "site_origins": [o for o in map(SiteOrigin.from_dict, origins) if o],
            "update": UpdateInfo.from_dict(extras.get("update")),
            "about": About.from_dict(extras["about"]) if isinstance(extras.get("about"), dict) else None,
            "favorite": extras.get("favorite") is True,
            "used_at": extras.get("used_at") if isinstance(extras.get("used_at"), str) else "",
            "default_strength": strength_of(extras.get("default_strength")),
        }
        preview = Preview.from_record(extras.get("preview"))
        if preview is not None and (folder / model_id / image_name(preview.tag, None)).is_file():
            changes["preview"] = preview
        manual = data.get("manual_fields")
        words = data.get("trigger_words")
        if isinstance(manual, list) and "trigger_words" in manual and isinstance(words, list):
            changes["trigger_words"] = list(clean_trigger_words([w for w in words if isinstance(w, str)]))
            changes["manual_fields"] = sorted(set(model.manual_fields) | {"trigger_words"})
        repo.update(model_id, **changes)
        restored += 1
    return restored


def model_file_paths(model: Model, repo: Catalog) -> list[str]:
    """Where the model's files are (or were) in the user's folders: its files catalogued in place, or
    the paths it was imported from (images beside them are its previews)."""
    if model.location != "library":
        return [str(Path(model.rel_dir, *f.path.split("/"))) for f in model.files]
    return [path for path, _kind, _at in repo.origins(model.id)]
