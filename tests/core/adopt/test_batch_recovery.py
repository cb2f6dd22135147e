"""A batch registers each group's links in the table as it goes and writes the install's records files
(what a rebuild reads) once, when the batch ends. A run stopped in between leaves the links in the table,
the records behind it and the units' ``linking`` rows; the next run's recovery keeps the links that are
still ours, takes out one the user replaced since, and writes the records from the table."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from comfyui_model_library.core.adopt import batch
from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.importer import group
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.links.registry import LinkRegistry
from comfyui_model_library.core.records.files import LinksRecord, read_all, records_dir

from .support import (
    adopt_links,
    hashes_of,
    make_install,
    points_into,
    records_match_table,
    service,
    sha256_of,
    write_model,
)

FILES = 12


class Killed(BaseException):
    """Stands for kill -9 at the end of the batch: nothing after it runs."""


def _records(library: Library) -> set[str]:
    folder = records_dir(library.db.path) / "links"
    return {e.link_path for _p, r in read_all(folder, LinksRecord, depth=1) for e in r.links}


def test_a_run_stopped_before_its_batch_ends_is_finished_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install = make_install(tmp_path / "ComfyUI")
    paths = [
        write_model(install / "models" / "loras" / f"m{i:02d}.safetensors", f"m-{i}", size=4096)
        for i in range(FILES)
    ]
    before = hashes_of(paths)
    monkeypatch.setattr(group, "GROUP_MAX_MODELS", 4)  # three groups, each registered as it settles

    def killed(*_args: object) -> None:
        raise Killed

    monkeypatch.setattr(batch, "_finish", killed)
    root = tmp_path / "library"
    library = Library.open(load_config(root))
    try:
        with pytest.raises(Killed):
            service(library).adopt(install)
        # Every link is in the table, no records file holds one yet, and every unit still has its row.
        assert len(adopt_links(library)) == FILES
        assert not _records(library)
        steps = library.db.execute_read("SELECT step FROM journal WHERE op = 'adopt'")
        assert [r["step"] for r in steps] == ["linking"] * FILES
    finally:
        library.close()
    monkeypatch.undo()

    # Meanwhile the user puts a file of their own where one link was (not one the library can read).
    replaced = paths[5]
    os.unlink(replaced)
    replaced.write_bytes(b"the user's own notes, not a model")
    before[str(replaced)] = sha256_of(replaced)

    with Library.open(load_config(root)) as library:
        adopt = service(library)
        report = adopt.adopt(install)
        assert not report.failed, report.to_dict()
        assert sum("1 link(s) finished" in line for line in report.recovered) == FILES - 1
        assert any(line.startswith(f"{replaced}: rolled back") for line in report.recovered)
        # The user's file is left as it is and is no link of ours; every other name is our link.
        skipped = [item["path"] for item in report.to_dict()["skipped"]]
        assert report.adopted == 0 and str(replaced) in skipped, skipped
        for path, digest in before.items():
            assert sha256_of(path) == digest, path
            if path != str(replaced):
                assert os.path.islink(path) and points_into(Path(path), library.config.models_dir), path
        assert not os.path.islink(replaced)
        ours = {str(p) for p in paths} - {str(replaced)}
        assert {r["link_path"] for r in adopt_links(library)} == ours
        assert not library.db.execute_read("SELECT 1 FROM journal")
        records_match_table(library)
        assert _records(library) == ours
        assert {r.link_path for r in LinkRegistry(library.db).all()} == ours
