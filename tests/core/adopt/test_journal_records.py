"""The adoption journal's records: rows written before records had versions still read and recover; a
row from a newer version is left alone; version 2 round-trips."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from comfyui_model_library.core.adopt.journal import ADOPT_OP, UNDO_OP, AdoptRecord, UndoRecord
from comfyui_model_library.core.adopt.plan import FileState
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.links.registry import LinkRegistry
from comfyui_model_library.core.models import utcnow

from .support import adopt_links, make_install, service, sha256_of, write_model


def _adopted(library: Library, tmp_path: Path) -> tuple[Path, Any]:
    """An install with one model, adopted: (install, its adopt link row)."""
    install = make_install(tmp_path / "ComfyUI")
    write_model(install / "models/loras/style.safetensors", "style")
    assert not service(library).adopt(install).failed
    [link] = adopt_links(library)
    return install, link


def _row(library: Library, op: str, key: str, step: str, data_json: str) -> None:
    """A journal row exactly as an older version wrote it: the JSON text is given literally."""
    with library.db.transaction() as conn:
        conn.execute(
            "INSERT INTO journal(op, key, step, data_json, created_at) VALUES (?,?,?,?,?)",
            (op, key, step, data_json, utcnow()),
        )


def _temp_beside(path: str) -> str:
    temp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.0123abcd.mlib-tmp")
    Path(temp).write_bytes(b"half made")
    return temp


def test_v1_linking_row_registers_the_link_already_swapped_in(library: Library, tmp_path: Path) -> None:
    install, link = _adopted(library, tmp_path)
    path = link["link_path"]
    LinkRegistry(library.db).unregister(path)  # killed after the swap, before the links were registered
    temp = _temp_beside(path)
    v1 = {
        "install": link["app_id"],
        "files": [{"path": path, "size": 1, "mtime_ns": 2, "inode": 3, "device": 4}],
        "folder": os.path.dirname(path),
        "category": "loras",
        "model_id": link["model_id"],
        "targets": [link["target"]],
        "temps": [temp],
    }
    _row(library, ADOPT_OP, path, "linking", json.dumps(v1))

    report = service(library).adopt(install)

    assert report.recovered == (f"{path}: 1 link(s) finished",)
    [again] = adopt_links(library)
    assert (again["link_path"], again["model_id"]) == (path, link["model_id"])
    assert not os.path.lexists(temp)
    assert not library.db.execute_read("SELECT 1 FROM journal")


def test_v1_restoring_row_redoes_the_restore(library: Library, tmp_path: Path) -> None:
    install, link = _adopted(library, tmp_path)
    path = link["link_path"]
    data = sha256_of(path)
    temp = _temp_beside(path)
    _row(
        library,
        UNDO_OP,
        path,
        "restoring",
        json.dumps({"install": link["app_id"], "path": path, "temp": temp}),
    )

    report = service(library).undo(install)

    assert report.recovered == (f"{path}: restore redone",)
    assert not os.path.islink(path) and sha256_of(path) == data
    assert not os.path.lexists(temp) and not adopt_links(library)
    assert not library.db.execute_read("SELECT 1 FROM journal")


def test_a_row_from_a_newer_version_is_left_alone(library: Library, tmp_path: Path) -> None:
    install, link = _adopted(library, tmp_path)
    path = str(install / "models/loras/other.safetensors")  # a restore of the newer version's, not ours
    temp = _temp_beside(path)
    newer = {"record": "adopt-undo", "version": 99, "install": link["app_id"], "path": path, "temp": temp}
    _row(library, UNDO_OP, path, "restoring", json.dumps(newer))

    report = service(library).undo(install)

    assert report.recovered == () and not report.failed
    assert os.path.lexists(temp), "nothing done on a record this version cannot read"
    assert [r["key"] for r in library.db.execute_read("SELECT key FROM journal")] == [path]


def test_version_2_records_round_trip_and_read_like_version_1() -> None:
    adopt = AdoptRecord(
        "install-1", (FileState("/c/a", 1, 2, 3, 4),), "/c", "loras", "m1", ("/lib/a",), ("/c/.a.tmp",)
    )
    undo = UndoRecord("install-1", "/c/a", "/c/.a.tmp")
    for record, read in ((adopt, AdoptRecord.from_json), (undo, UndoRecord.from_json)):
        data = json.loads(json.dumps(record.to_json()))
        assert data["version"] == 2 and data["record"] == record.RECORD
        assert read(data) == record
        v1 = {k: v for k, v in data.items() if k not in ("record", "version")}
        assert read(v1) == record
    importing = AdoptRecord("install-1", (FileState("/c/a", 1, 2, 3, 4),), "/c", "loras")
    assert "model_id" not in importing.to_json(), "step importing names no model yet, as version 1 did"
