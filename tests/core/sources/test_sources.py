"""Folders catalogued in place: listed at once from headers, hashed later, nothing written into them."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest

from comfyui_model_library.core.errors import InvalidInput
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth


def _tree_snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def comfy_models(tmp_path: Path) -> Path:
    root = tmp_path / "ComfyUI" / "models"
    for family, rel in [
        ("sdxl_checkpoint", "checkpoints/juggernautXL.safetensors"),
        ("sdxl_lora_kohya", "loras/detail.safetensors"),
        ("vae_flux", "vae/ae.safetensors"),
    ]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        synth.write_family(root / rel, family)
    (root / "loras" / "notes.txt").write_text("not a model")
    return root


def _models(lib: Library) -> dict[str, object]:
    return {m.name: m for m in lib.catalog.list_models(ModelQuery(limit=500)).items}


def test_listing_is_complete_after_the_walk_without_hashing(library: Library, comfy_models: Path) -> None:
    before = _tree_snapshot(comfy_models)
    result = library.sources.add(comfy_models)
    assert result["scan"]["added"] == 3
    models = _models(library)
    assert set(models) == {"juggernautXL", "detail", "ae"}
    ckpt = models["juggernautXL"]
    assert (ckpt.type, ckpt.base_model, ckpt.location) == ("checkpoint", "sdxl", "source")
    assert not ckpt.hashed and ckpt.to_dict()["hashes"] == {"blake3": None, "sha256": None}
    assert library.catalog.list_models(ModelQuery(q="jugg")).total == 1
    assert library.catalog.list_models(ModelQuery(q="jugg", favorite=False)).total == 1  # 0012's flag
    assert _tree_snapshot(comfy_models) == before, "nothing is written into a source"
    with library.db.transaction() as conn:  # the bulk-indexed rows are in the FTS index, exactly
        conn.execute("INSERT INTO models_fts(models_fts) VALUES('integrity-check')")
        conn.execute("INSERT INTO models_trigrams(models_trigrams) VALUES('integrity-check')")
        triggers = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert {"models_ai", "models_ad", "models_au"} <= triggers, (
            "the insert trigger is back after the walk"
        )
    assert library.catalog.list_models(ModelQuery(q="detail")).total == 1


def test_background_hashing_rekeys_to_content_id(library: Library, comfy_models: Path) -> None:
    library.sources.add(comfy_models)
    assert library.sources.hash_pending() == 3
    ckpt = _models(library)["juggernautXL"]
    data = (comfy_models / "checkpoints" / "juggernautXL.safetensors").read_bytes()
    assert ckpt.hashed and ckpt.hashes.sha256 == hashlib.sha256(data).hexdigest()
    assert ckpt.id == ckpt.hashes.blake3[:16]
    assert (
        library.catalog.model_file_path(ckpt.id) == comfy_models / "checkpoints" / "juggernautXL.safetensors"
    )
    # Nothing to hash again: unchanged files are never re-read.
    assert library.sources.hash_pending() == 0
    assert library.sources.scan()["changed"] == 0


def test_same_bytes_in_library_and_source_are_one_model(
    library: Library, comfy_models: Path, incoming: Path
) -> None:
    src = incoming / "jugg-copy.safetensors"
    shutil.copyfile(comfy_models / "checkpoints" / "juggernautXL.safetensors", src)
    [item] = library.imports.import_paths([src])
    library.sources.add(comfy_models)
    library.sources.hash_pending()
    models = library.catalog.list_models(ModelQuery(limit=50)).items
    assert len(models) == 3
    assert item.model is not None
    detail = library.catalog.model_detail(item.model.id)
    assert detail["location"] == "library"
    assert [loc["path"] for loc in detail["locations"]] == [
        str(comfy_models / "checkpoints" / "juggernautXL.safetensors")
    ]
    dups = library.sources.duplicates()
    assert dups["bytes_freeable"] == src.stat().st_size
    assert [m.id for m in library.catalog.list_models(ModelQuery(q="juggernautXL")).items] == [item.model.id]


def test_new_changed_renamed_deleted_files(library: Library, comfy_models: Path) -> None:
    library.sources.add(comfy_models)
    library.sources.hash_pending()
    lora = _models(library)["detail"]
    library.catalog.edit_model(lora.id, notes="keeps its metadata")

    # renamed: same inode, same size and mtime -> the same model, metadata kept
    os.rename(comfy_models / "loras" / "detail.safetensors", comfy_models / "loras" / "detail-v2.safetensors")
    # new file
    synth.write_family(comfy_models / "loras" / "new.safetensors", "sd15_lora_kohya")
    # deleted file: marked missing, not dropped
    (comfy_models / "vae" / "ae.safetensors").unlink()
    report = library.sources.scan()
    assert report["renamed"] == 1 and report["added"] == 1 and report["missing"] == 1
    renamed = library.catalog.get_model(lora.id)
    assert renamed.notes == "keeps its metadata"
    assert library.catalog.model_file_path(lora.id).name == "detail-v2.safetensors"
    models = _models(library)
    assert models["ae"].state == "missing"
    assert "new" in models

    # changed in place: a new version, hashed again
    path = comfy_models / "checkpoints" / "juggernautXL.safetensors"
    synth.write_family(path, "sd15_checkpoint")
    os.utime(path, ns=(time.time_ns(), time.time_ns()))
    assert library.sources.scan()["changed"] == 1
    changed = _models(library)["juggernautXL"]
    assert changed.base_model == "sd15" and not changed.hashed


def test_unmounted_source_keeps_its_models(library: Library, comfy_models: Path, tmp_path: Path) -> None:
    library.sources.add(comfy_models)
    away = tmp_path / "unmounted"
    os.rename(comfy_models, away)  # the share disappears
    report = library.sources.scan()
    assert report["sources"][0]["state"] == "unavailable"
    models = _models(library)
    assert len(models) == 3 and all(m.state == "ready" for m in models.values())
    os.rename(away, comfy_models)
    report = library.sources.scan()
    assert report["sources"][0]["state"] == "ok" and report["missing"] == 0


def test_bad_sources_refused(library: Library, tmp_path: Path, comfy_models: Path) -> None:
    with pytest.raises(InvalidInput):
        library.sources.add(tmp_path / "nope")
    with pytest.raises(InvalidInput):
        library.sources.add(library.config.root / "models")
    library.sources.add(comfy_models)
    with pytest.raises(InvalidInput):
        library.sources.add(comfy_models / "loras")


def test_remove_source_forgets_models_never_files(library: Library, comfy_models: Path) -> None:
    before = _tree_snapshot(comfy_models)
    library.sources.add(comfy_models)
    result = library.sources.remove(str(comfy_models))
    assert result["models_forgotten"] == 3
    assert library.catalog.list_models(ModelQuery()).total == 0
    assert _tree_snapshot(comfy_models) == before


def test_removing_a_source_model_never_deletes_the_file(library: Library, comfy_models: Path) -> None:
    library.sources.add(comfy_models)
    lora = _models(library)["detail"]
    report = library.catalog.remove_model(lora.id)
    assert report["trashed"] is None
    assert (comfy_models / "loras" / "detail.safetensors").exists()
    library.sources.scan()
    assert "detail" not in _models(library), "a removed source model stays hidden until it changes"


def test_watcher_picks_up_a_new_file(library: Library, comfy_models: Path) -> None:
    library.sources.add(comfy_models, scan=False)
    library.start_background(poll_seconds=0.5)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and library.catalog.list_models(ModelQuery()).total < 3:
            time.sleep(0.1)
        assert library.catalog.list_models(ModelQuery()).total == 3
        synth.write_family(comfy_models / "loras" / "fresh.safetensors", "sd15_loha")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "fresh" not in _models(library):
            time.sleep(0.1)
        assert "fresh" in _models(library)
    finally:
        library.sources.stop_background()


def test_a_new_file_is_listed_while_the_first_hashing_still_runs(
    library: Library, comfy_models: Path
) -> None:
    pytest.importorskip("watchfiles")
    for i in range(4):  # sparse: seconds of hashing, no disk
        with open(comfy_models / "checkpoints" / f"huge{i}.safetensors", "wb") as fh:
            fh.truncate(1 << 30)
    library.sources.add(comfy_models, scan=False)
    library.start_background(poll_seconds=60)  # only the watch can see the new file in time
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and library.catalog.list_models(ModelQuery()).total < 7:
            time.sleep(0.05)
        synth.write_family(comfy_models / "loras" / "fresh.safetensors", "sd15_loha")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "fresh" not in _models(library):
            time.sleep(0.05)
        huge = [m for m in _models(library).values() if m.name.startswith("huge")]
        assert "fresh" in _models(library), "the new file was not listed while hashing ran"
        assert len(huge) == 4 and not all(m.hashed for m in huge), "listed while hashing was running"
    finally:
        library.sources.stop_background()


def test_a_file_made_between_the_first_scan_and_the_watch_is_listed_within_seconds(
    library: Library, comfy_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a busy machine the watch may be set up a while after the first scan: nothing made in between
    waits for the next poll."""
    pytest.importorskip("watchfiles")
    library.sources.add(comfy_models, scan=False)
    scan = library.sources.scan
    scans: list[object] = []

    def scan_then_make_a_file(*args: object, **kwargs: object) -> object:
        report = scan(*args, **kwargs)  # type: ignore[arg-type]
        if not scans:  # after the first scan, before the watch exists
            synth.write_family(comfy_models / "loras" / "between.safetensors", "sd15_loha")
        scans.append(kwargs.get("only"))
        return report

    monkeypatch.setattr(library.sources, "scan", scan_then_make_a_file)
    library.start_background(poll_seconds=60)  # the poll alone would take a minute
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "between" not in _models(library):
            time.sleep(0.05)
        assert "between" in _models(library), f"not listed; scans: {scans}"
    finally:
        library.sources.stop_background()


def test_a_header_read_while_hashing_settles_the_model_still_lands_on_it(
    library: Library, comfy_models: Path
) -> None:
    """Inspection works from a snapshot of model ids; the hasher may re-key a model to its content id in
    between (the child process inspects while ComfyUI's process hashes). The header must not be lost."""
    from comfyui_model_library.core.sources.scanner import inspect_pending

    library.sources.add(comfy_models, scan=False)
    library.sources.scan(inspect=False)
    assert {m.base_model for m in _models(library).values()} == {"unknown"}
    settled: list[int] = []

    def settle_everything_first() -> bool:
        if not settled:
            settled.append(library.sources.hash_pending())
        return False

    inspect_pending(library.db, library.sources.registry, cancelled=settle_everything_first)
    assert settled == [3]
    models = _models(library)
    assert all(m.hashed for m in models.values())
    assert {n: m.base_model for n, m in models.items()} == {
        "juggernautXL": "sdxl",
        "detail": "sdxl",
        "ae": "flux1",
    }


def test_idle_background_work_gives_the_hashing_buffers_back(library: Library, comfy_models: Path) -> None:
    """A host that hashed once must not hold the 12 MiB of read buffers for good."""
    from comfyui_model_library.core.io import hashing

    big = comfy_models / "checkpoints" / "big.safetensors"
    with open(big, "wb") as fh:
        fh.truncate(hashing.SMALL_FILE * 2)  # large enough to be read through the buffers
    library.sources.add(comfy_models)
    library.sources._idle_work()
    assert _models(library)["big"].hashed
    assert hashing.kept_buffer_bytes() == 0


def test_a_header_read_while_a_copy_merges_into_an_edited_model_keeps_the_edit(
    library: Library, tmp_path: Path
) -> None:
    from comfyui_model_library.core.sources.scanner import inspect_pending

    first, second = tmp_path / "A" / "loras", tmp_path / "B" / "loras"
    first.mkdir(parents=True)
    second.mkdir(parents=True)
    synth.write_family(first / "detail.safetensors", "sdxl_lora_kohya")
    library.sources.add(tmp_path / "A")
    library.sources.hash_pending()
    [model] = library.catalog.list_models(ModelQuery()).items
    library.catalog.edit_model(model.id, type="checkpoint", base_model="sd15")
    shutil.copy2(first / "detail.safetensors", second / "copy.safetensors")
    library.sources.add(tmp_path / "B", scan=False)
    library.sources.scan(inspect=False)  # the copy: a provisional model, its header unread
    hashed: list[int] = []

    def merge_first() -> bool:  # hashing merges the copy into the edited model mid-batch
        if not hashed:
            hashed.append(library.sources.hash_pending())
        return False

    inspect_pending(library.db, library.sources.registry, cancelled=merge_first)
    assert hashed == [1]
    after = library.catalog.get_model(model.id)
    assert (after.type, after.base_model) == ("checkpoint", "sd15"), "the user's edit stays"


def test_a_header_read_before_the_file_was_replaced_is_not_kept(
    library: Library, comfy_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comfyui_model_library.core.sources import scanner

    library.sources.add(comfy_models, scan=False)
    library.sources.scan(inspect=False)
    target = comfy_models / "loras" / "detail.safetensors"
    read_header = scanner.inspect_path

    def read_then_replace(path: Path) -> object:
        info = read_header(path)
        if path == target:  # a download finishing under the same name; the watch rescans meanwhile
            synth.write_family(comfy_models / "loras" / "new.tmp", "vae_flux")
            os.replace(comfy_models / "loras" / "new.tmp", target)
            library.sources.scan(inspect=False)
        return info

    monkeypatch.setattr(scanner, "inspect_path", read_then_replace)
    scanner.inspect_pending(library.db, library.sources.registry)
    monkeypatch.undo()
    assert scanner.inspect_pending(library.db, library.sources.registry) == 1, "the new file is read"
    replaced = _models(library)["detail"]
    assert replaced.type == "vae" and replaced.base_model != "sdxl", "the new header, not the old one"


def test_move_out_of_a_read_only_source_is_refused(library: Library, comfy_models: Path) -> None:
    library.sources.add(comfy_models)
    src = comfy_models / "loras" / "detail.safetensors"
    [item] = library.imports.import_paths([src], move=True)
    assert item.status == "failed" and item.error_code == "read_only_source"
    assert src.exists()
    [copied] = library.imports.import_paths([src])  # a copy is fine: the source is only read
    assert copied.status == "imported" and src.exists()


def test_drive_mounted_elsewhere_keeps_models_and_edits(
    library: Library, comfy_models: Path, tmp_path: Path
) -> None:
    library.sources.add(comfy_models)
    library.sources.hash_pending()
    lora = _models(library)["detail"]
    library.catalog.edit_model(lora.id, notes="mine")
    mounted = tmp_path / "mnt" / "nas"
    mounted.parent.mkdir()
    os.rename(comfy_models, mounted)
    library.sources.scan()  # unavailable: nothing lost
    report = library.sources.move(comfy_models, mounted)
    assert report["scan"]["missing"] == 0 and report["scan"]["added"] == 0
    moved = library.catalog.get_model(lora.id)
    assert moved.notes == "mine"
    assert library.catalog.model_file_path(lora.id) == mounted / "loras" / "detail.safetensors"
    assert [s["path"] for s in library.sources.list_sources()] == [str(mounted.resolve())]


def test_hardlinked_copies_in_a_source_are_one_model_with_two_locations(
    library: Library, comfy_models: Path
) -> None:
    os.link(
        comfy_models / "loras" / "detail.safetensors", comfy_models / "loras" / "detail-again.safetensors"
    )
    report = library.sources.add(comfy_models)
    assert "error" not in str(report["scan"].get("errors", [])).lower()
    models = _models(library)
    assert len(models) == 3, "two names of one inode are one model"
    lora = models.get("detail") or models["detail-again"]
    assert len(library.catalog.model_detail(lora.id)["locations"]) == 2


def test_empty_mount_point_keeps_models_and_remount_keeps_edits(
    library: Library, comfy_models: Path, tmp_path: Path
) -> None:
    library.sources.add(comfy_models)
    library.sources.hash_pending()
    lora = _models(library)["detail"]
    library.catalog.edit_model(lora.id, notes="tuned at 0.7", add_tags=["keep"])
    aside = tmp_path / "aside"
    os.rename(comfy_models, aside)
    comfy_models.mkdir()  # the mount point, with nothing mounted on it
    report = library.sources.scan()
    assert report["sources"][0]["state"] == "unavailable" and report["missing"] == 0
    comfy_models.rmdir()
    os.rename(aside, comfy_models)  # mounted again
    library.sources.scan()
    kept = library.catalog.get_model(lora.id)
    assert (kept.notes, kept.tags, kept.state) == ("tuned at 0.7", ("keep",), "ready")


def test_a_deleted_file_whose_inode_is_reused_does_not_pass_on_its_edits(
    library: Library, comfy_models: Path
) -> None:
    library.sources.add(comfy_models)
    old = _models(library)["detail"]
    library.catalog.edit_model(old.id, notes="broken hands")
    st = (comfy_models / "loras" / "detail.safetensors").stat()
    (comfy_models / "loras" / "detail.safetensors").unlink()
    fresh = synth.write_family(comfy_models / "loras" / "photoreal.safetensors", "sd15_loha")
    os.utime(fresh, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    library.sources.scan()
    assert _models(library)["photoreal"].notes == ""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_a_fifo_put_where_a_listed_file_was_hangs_neither_headers_nor_hashing(
    library: Library, comfy_models: Path
) -> None:
    """Opening a FIFO for reading waits for a writer: one swapped in after the walk must be passed over,
    not stop the header reading and the hashing of every other file for good."""
    import threading

    from comfyui_model_library.core.sources.scanner import inspect_pending

    library.sources.add(comfy_models, scan=False)
    library.sources.scan(inspect=False)
    lora = comfy_models / "loras" / "detail.safetensors"
    lora.unlink()
    os.mkfifo(lora)
    results: dict[str, object] = {}

    def work() -> None:
        results["inspected"] = inspect_pending(library.db, library.sources.registry)
        results["hashed"] = library.sources.hash_pending()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(20)
    if worker.is_alive():
        with open(lora, "wb"):  # a writer releases the blocked open, so the test process can end
            pass
        pytest.fail("reading the FIFO blocked")
    assert results == {"inspected": 3, "hashed": 2}, "the two files beside it are read and hashed"
    models = _models(library)
    assert models["juggernautXL"].hashed and models["ae"].hashed and not models["detail"].hashed


@pytest.mark.parametrize("merged", [False, True], ids=["re-keyed", "merged"])
def test_a_pending_lookup_follows_its_model_when_hashing_settles_it(
    library: Library, comfy_models: Path, incoming: Path, merged: bool
) -> None:
    """A source model's Hub lookup waits for the network under its provisional id; hashing then gives the
    model its content id (or merges it into the library's copy). The record on disk follows, so a lost
    catalog brings the lookup back for the right model (it kept the provisional id, and was dropped)."""
    from comfyui_model_library.core.records.files import pending_lookups_path, read_record, records_dir
    from comfyui_model_library.core.records.kinds import PendingLookupsRecord

    if merged:  # the library already holds these bytes
        library.imports.import_paths(
            [shutil.copy(comfy_models / "loras" / "detail.safetensors", incoming / "same.safetensors")],
            lookup=False,
        )
    library.sources.add(comfy_models)
    provisional = _models(library)["detail"].id
    library.hub.queue_pending([provisional], "the Hub is unreachable (offline)")
    library.sources.hash_pending()

    settled = {
        m.id for m in library.catalog.list_models(ModelQuery(limit=500)).items if m.name in ("detail", "same")
    }
    [final] = settled
    assert final != provisional
    record = read_record(pending_lookups_path(records_dir(library.db.path)), PendingLookupsRecord)
    assert record is not None
    if merged:
        assert [e.model_id for e in record.lookups] == [], "the merged model's lookup went with it"
    else:
        assert [e.model_id for e in record.lookups] == [final]
        assert [p["model_id"] for p in library.hub.pending()] == [final]
