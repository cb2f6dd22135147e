"""The import journals' records: a ``placing`` row and a ``moves.json`` written before records had versions
still read and recover; a newer ``moves.json`` keeps its stage; version 2 round-trips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from comfyui_model_library.core.catalog.journal import NewerRecord
from comfyui_model_library.core.config import LibraryConfig
from comfyui_model_library.core.importer.commit import recover
from comfyui_model_library.core.importer.journal import MOVES_FILE, Move, Moves, Placing
from comfyui_model_library.core.importer.stage import read_moves, record_move
from comfyui_model_library.core.importer.stage_lock import STAGE_PREFIX
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import utcnow
from tests import synth


def _stage_with_a_moved_file(config: LibraryConfig, incoming: Path) -> tuple[Path, Path, Path, bytes]:
    """A stage left by a killed move import: the user's file sits in the stage, its source name is free."""
    src = synth.write_family(incoming / "moved" / "model.safetensors", "clip_l")
    data = src.read_bytes()
    stage = config.tmp_dir / f"{STAGE_PREFIX}0123456789ab"
    dest = stage / "files" / "model.safetensors"
    dest.parent.mkdir(parents=True)
    src.rename(dest)
    return stage, src, dest, data


def test_v1_moves_json_puts_the_moved_file_back(library: Library, incoming: Path) -> None:
    stage, src, dest, data = _stage_with_a_moved_file(library.config, incoming)
    (stage / MOVES_FILE).write_text(json.dumps([{"dest": str(dest), "src": str(src)}], indent=2))

    actions = recover(library.config.root, library.config.tmp_dir, library.db, library.repo)

    assert src.read_bytes() == data, "the moved bytes went back to the user"
    assert not stage.exists()
    assert any("moved back" in a for a in actions)


def test_a_moves_json_from_a_newer_version_keeps_its_stage(library: Library, incoming: Path) -> None:
    stage, src, dest, data = _stage_with_a_moved_file(library.config, incoming)
    newer = {"record": "import-moves", "version": 99, "moves": [{"src": str(src), "dest": str(dest)}]}
    (stage / MOVES_FILE).write_text(json.dumps(newer))

    actions = recover(library.config.root, library.config.tmp_dir, library.db, library.repo)

    assert dest.read_bytes() == data and not src.exists(), (
        "nothing done on a journal this version cannot read"
    )
    assert any("newer version" in a for a in actions)


def test_an_unreadable_moves_json_keeps_its_stage(library: Library, incoming: Path) -> None:
    """A damaged journal cannot say where the stage's files came from: they may be the user's, so the
    stage is kept (it used to be taken for copies of ours and deleted, moved files and all)."""
    damaged = (b'[{"src": "/x", "de', b'"a string"', b'{"record": "import-moves", "version": 2, "moves": 5}')
    for damage in damaged:
        stage, _src, dest, data = _stage_with_a_moved_file(library.config, incoming)
        (stage / MOVES_FILE).write_bytes(damage)

        actions = recover(library.config.root, library.config.tmp_dir, library.db, library.repo)

        assert dest.read_bytes() == data, f"the user's moved file survives a journal reading {damage!r}"
        assert any(str(stage) in a and "may hold your moved files" in a for a in actions)
        shutil.rmtree(stage)


def test_moves_json_round_trips_as_version_2(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    record_move(stage, tmp_path / "a", stage / "files" / "a")
    record_move(stage, tmp_path / "b", stage / "files" / "b")
    data = json.loads((stage / MOVES_FILE).read_text())
    assert data["record"] == "import-moves" and data["version"] == 2
    assert read_moves(stage) == (
        Move(str(tmp_path / "a"), str(stage / "files" / "a")),
        Move(str(tmp_path / "b"), str(stage / "files" / "b")),
    )
    assert Moves.from_json(data["moves"]) == Moves.from_json(data), "the version 1 list reads the same"


def test_v1_placing_row_commits_a_folder_already_in_place(library: Library, incoming: Path) -> None:
    [item] = library.import_paths([synth.write_family(incoming / "m" / "model.safetensors", "vae_sdxl")])
    assert item.model is not None
    model = item.model
    library.repo.delete(model.id)  # killed after the rename into models/, before the row
    stage = library.config.tmp_dir / f"{STAGE_PREFIX}fedcba987654"
    data_json = f'{{"stage": "{stage}", "final_rel": "{model.rel_dir}"}}'
    with library.db.transaction() as conn:
        conn.execute(
            "INSERT INTO journal(op, key, step, data_json, created_at) VALUES ('import', ?, 'placing', ?, ?)",
            (stage.name, data_json, utcnow()),
        )

    actions = recover(library.config.root, library.config.tmp_dir, library.db, library.repo)

    assert actions == [f"committed interrupted import {model.rel_dir}"]
    back = library.repo.get(model.id)
    assert back.rel_dir == model.rel_dir and back.hashes == model.hashes
    assert not library.db.execute_read("SELECT 1 FROM journal")


def test_placing_round_trips_and_refuses_a_newer_version() -> None:
    record = Placing("/lib/.tmp/stage-1", "models/vae/sdxl/v")
    data = json.loads(json.dumps(record.to_json()))
    assert data["version"] == 2 and data["record"] == "import-placing"
    assert Placing.from_json(data) == record
    assert Placing.from_json({"stage": record.stage, "final_rel": record.final_rel}) == record
    try:
        Placing.from_json({**data, "version": 3})
    except NewerRecord:
        pass
    else:
        raise AssertionError("a newer record must not be read as this version's")
