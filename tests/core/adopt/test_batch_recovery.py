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
from comfyui_model_library.core.links.registry import LinkRecord, LinkRegistry
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


def _install_in_groups_of_four(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, list[Path], dict[str, str]]:
    """An install of ``FILES`` small models, adopted in groups of four (three groups, each registered
    as it settles); its folder, its files and their digests."""
    install = make_install(tmp_path / "ComfyUI")
    paths = [
        write_model(install / "models" / "loras" / f"m{i:02d}.safetensors", f"m-{i}", size=4096)
        for i in range(FILES)
    ]
    monkeypatch.setattr(group, "GROUP_MAX_MODELS", 4)
    return install, paths, hashes_of(paths)


def test_a_run_stopped_before_its_batch_ends_is_finished_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install, paths, before = _install_in_groups_of_four(tmp_path, monkeypatch)

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


def test_an_interrupted_run_writes_what_the_table_has_to_the_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install, _paths, before = _install_in_groups_of_four(tmp_path, monkeypatch)
    link_all, calls = batch._link_all, []

    def interrupted(*args: object, **kwargs: object) -> batch.Linked:
        calls.append(1)
        if len(calls) == 2:  # Ctrl-C as the second group is about to be linked
            raise KeyboardInterrupt
        return link_all(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(batch, "_link_all", interrupted)
    root = tmp_path / "library"
    with Library.open(load_config(root)) as library:
        with pytest.raises(KeyboardInterrupt):
            service(library).adopt(install)
        # The first group's links are in the table and in the records, and its rows are gone.
        assert len(adopt_links(library)) == 4
        records_match_table(library)
        steps = [r["step"] for r in library.db.execute_read("SELECT step FROM journal WHERE op = 'adopt'")]
        assert steps and set(steps) == {"importing"}
    monkeypatch.undo()
    with Library.open(load_config(root)) as library:
        report = service(library).adopt(install)
        assert not report.failed and report.adopted == FILES - 4
        for path, digest in before.items():
            assert os.path.islink(path) and sha256_of(path) == digest, path
        records_match_table(library)
        assert not library.db.execute_read("SELECT 1 FROM journal")


def test_recovery_writes_the_records_a_registered_link_moved_out_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path registered for another model (a direct-mode mapping link the user since replaced by a
    model file of their own) is adopted; killed after the swap and before registering, recovery registers
    it for the new model and must rewrite the records file of the model it belonged to as well."""
    install = make_install(tmp_path / "ComfyUI")
    root = tmp_path / "library"
    path = install / "models" / "loras" / "p.safetensors"
    with Library.open(load_config(root)) as library:
        other = write_model(tmp_path / "elsewhere" / "a.safetensors", "model-a")
        (item,) = library.importer.run([str(other)])
        assert item.model is not None
        adopt = service(library)
        install_record = adopt.plan(install).install
        adopt._register_app(install_record)
        LinkRegistry(library.db).register(
            LinkRecord(item.model.id, item.model.files[0].path, str(path), "symlink", False, "/nowhere",
                       str(path.parent), install_record.id, "loras", None, None, "mapping", "2024")
        )  # fmt: skip
        write_model(path, "model-b")  # the user's own file where the mapping link was
        digest = sha256_of(path)
        register_rows = LinkRegistry.register_rows

        def killed(self: LinkRegistry, records: list[LinkRecord]) -> set[object]:
            if any(r.purpose == "adopt" for r in records):
                raise Killed
            return register_rows(self, records)  # type: ignore[return-value]

        monkeypatch.setattr(LinkRegistry, "register_rows", killed)
        with pytest.raises(Killed):
            adopt.adopt(install)
    monkeypatch.undo()
    with Library.open(load_config(root)) as library:
        report = service(library).adopt(install)
        assert not report.failed and any("1 link(s) finished" in line for line in report.recovered)
        (row,) = LinkRegistry(library.db).all()
        assert row.link_path == str(path) and row.purpose == "adopt" and row.model_id != item.model.id
        assert os.path.islink(path) and sha256_of(path) == digest
        records_match_table(library)
