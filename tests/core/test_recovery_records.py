"""A lost catalog loses nothing: sources, installs, links and pending lookups come back from records/.

A realistic session (imports, a source added, scanned and hashed, a model of it removed, a mapping
applied into a ComfyUI install, a link deleted behind our back, a lookup waiting for the network), then
``catalog.sqlite*`` deleted: after the rebuild, ``list``, ``sources list``, ``health`` and the links
answer exactly as before, and ``remove`` still takes the model's links out of the install.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.catalog.rebuild import rebuild_catalog
from comfyui_model_library.core.config import LibraryConfig
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth

LIBRARY_FAMILIES = {
    "juggernautXL": "sdxl_checkpoint",
    "detail": "sdxl_lora_kohya",
    "canny": "controlnet_sd15",
}
SOURCE_FAMILIES = {
    "checkpoints/dreamshaper": "sd15_checkpoint",
    "vae/ae": "vae_flux",
    "vae/sdxl_vae": "vae_sdxl",
}


@pytest.fixture
def comfy(tmp_path: Path) -> Path:
    return synth.comfyui_install(tmp_path / "ComfyUI", "checkpoints")


@pytest.fixture
def nas(tmp_path: Path) -> Path:
    """A folder of models catalogued in place (a share), outside the install."""
    root = tmp_path / "nas"
    for rel, family in SOURCE_FAMILIES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        synth.write_family(root / f"{rel}.safetensors", family)
    return root


def _session(lib: Library, incoming: Path, nas: Path, comfy: Path, mode: str) -> dict[str, str]:
    ids = {}
    for name, family in LIBRARY_FAMILIES.items():
        [item] = lib.imports.import_paths(
            [synth.write_family(incoming / f"{name}.safetensors", family)], lookup=False
        )
        assert item.model is not None
        ids[name] = item.model.id
    lib.sources.add(nas)
    lib.sources.scan(hash_files=True)
    by_name = {m.name: m for m in lib.catalog.list_models(ModelQuery(limit=100)).items}
    assert all(by_name[n].hashed for n in ("dreamshaper", "ae", "sdxl_vae"))
    ids.update({n: by_name[n].id for n in ("dreamshaper", "ae", "sdxl_vae")})
    lib.catalog.remove_model(ids["sdxl_vae"])  # a source model the user removed stays hidden
    with lib.db.transaction() as conn:  # listed long ago: a rebuild must not make them new
        conn.execute(
            "UPDATE models SET added_at = '2024-05-01T10:00:00+00:00', updated_at = "
            "'2024-06-01T10:00:00+00:00' WHERE location = 'source'"
        )
        lib.sources.registry.save_file_records([s["id"] for s in lib.sources.list_sources()], conn)
    lib.mapping.set_config({**lib.mapping.get_config(), "mode": mode})
    lib.mapping.apply(comfy)
    link = lib.catalog.model_detail(ids["canny"])["links"][0]["path"]
    os.unlink(link)  # deleted behind our back: health reports it broken
    lib.hub._record_pending(ids["juggernautXL"], "the Hub is unreachable (offline)")
    return ids


def _state(lib: Library, ids: dict[str, str]) -> dict[str, Any]:
    page = lib.catalog.list_models(ModelQuery(limit=100))
    health = lib.health.check().to_dict()
    health.pop("took_ms")
    sources = [{k: v for k, v in s.items() if k != "last_scan_at"} for s in lib.sources.list_sources()]
    return {
        "list": [m.to_dict() for m in page.items],
        "total": page.total,
        "sources": sources,
        "health": health,
        "links": {n: lib.catalog.model_detail(i)["links"] for n, i in ids.items() if n != "sdxl_vae"},
        "pending": lib.hub.pending(),
        "installs": lib.mapping.installs(),
    }


def _lose_catalog(config: LibraryConfig) -> None:
    for p in config.root.glob("catalog.sqlite*"):
        p.unlink()


@pytest.mark.parametrize("mode", ["direct", "view"])
def test_a_lost_catalog_comes_back_whole_and_remove_still_takes_the_links(
    library_config: LibraryConfig, incoming: Path, nas: Path, comfy: Path, mode: str
) -> None:
    with Library.open(library_config) as lib:
        ids = _session(lib, incoming, nas, comfy, mode)
        before = _state(lib, ids)
    assert before["health"]["status"] == "errors" and len(before["health"]["broken"]) == 1
    assert before["pending"] and before["sources"][0]["files"] == 3
    detail_links = before["links"]["detail"]
    assert len(detail_links) == 1
    if mode == "direct":
        assert Path(detail_links[0]["path"]).is_relative_to(comfy / "models")

    _lose_catalog(library_config)
    with Library.open(library_config) as lib:  # a missing catalog beside the library is rebuilt at open
        after = _state(lib, ids)
        assert after == before
        assert lib.sources.hash_pending() == 0, "nothing unchanged is hashed again"
        link = Path(detail_links[0]["path"])
        assert link.is_symlink()
        report = lib.catalog.remove_model(ids["detail"])
        assert report["removed_links"] == [str(link)] and report["not_ours"] == []
        assert not os.path.lexists(link), "remove takes our link out of the install"
        assert lib.health.check().to_dict()["status"] == before["health"]["status"]


def test_rebuild_restores_into_an_empty_catalog_and_changes_nothing_on_a_full_one(
    library_config: LibraryConfig, incoming: Path, nas: Path, comfy: Path
) -> None:
    with Library.open(library_config) as lib:
        ids = _session(lib, incoming, nas, comfy, "direct")
        before = _state(lib, ids)
        again = lib.catalog.rebuild()  # a healthy catalog: every restore step finds everything there
        assert again["restored"]["sources"] == 0 and again["restored"]["links"] == 0
        assert _state(lib, ids) == before
    _lose_catalog(library_config)
    db = Database(library_config.catalog_path)
    try:
        migrate(db)
        report = rebuild_catalog(db, library_config.models_dir, library_config.root)
        assert report.models == 3
        restored = report.restored
        assert (restored["installs"], restored["sources"], restored["pending_lookups"]) == (1, 1, 1)
        assert restored["links"] == 5  # 3 library models (one link deleted but recorded) + 2 source models
    finally:
        db.close()
    with Library.open(library_config) as lib:
        assert _state(lib, ids) == before


def test_a_mapping_batch_writes_one_folder_per_install_and_a_sync_rewrites_one_shard(
    library: Library, incoming: Path, comfy: Path
) -> None:
    fam = synth.FAMILIES["sdxl_lora_kohya"]
    for n in range(5):
        synth.write_safetensors(incoming / f"lora{n}.safetensors", fam["tensors"], {"n": str(n)})
    library.imports.import_paths([incoming], lookup=False)
    links_dir = library.config.root / "records" / "links"
    library.mapping.apply(comfy)
    [install] = list(links_dir.iterdir())
    files = sorted(install.iterdir())
    assert 1 <= len(files) <= 5, "a file per shard of model ids, not one per link"
    entries = []
    for f in files:
        data = json.loads(f.read_text())
        assert (data["record"], data["version"]) == ("links", 1)
        entries += data["data"]["links"]
    assert len(entries) == 5
    assert all(e["model_id"][:2] == f.stem for f in files for e in json.loads(f.read_text())["data"]["links"])
    # One more model: its sync rewrites its own shard only, never the install's other files.
    before = {f.name: f.stat().st_mtime_ns for f in files}
    new = synth.write_safetensors(incoming / "extra.safetensors", fam["tensors"], {"n": "extra"})
    [item] = library.imports.import_paths([new], lookup=False)
    assert item.model is not None
    shard = install / f"{item.model.id[:2]}.json"
    assert item.model.id in shard.read_text()
    for f in sorted(install.iterdir()):
        if f != shard and f.name in before:
            assert f.stat().st_mtime_ns == before[f.name], f"{f.name} was rewritten for another model"


def test_corrupt_and_newer_records_are_warned_about_and_skipped(
    library_config: LibraryConfig, nas: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from comfyui_model_library.core.records.files import SourcesRecord, read_record, sources_path

    with Library.open(library_config) as lib:
        lib.sources.add(nas)
    folder = library_config.root / "records"
    record = json.loads(sources_path(folder).read_text())
    record["version"] = 99
    sources_path(folder).write_text(json.dumps(record))
    (folder / "installs.json").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert read_record(sources_path(folder), SourcesRecord) is None
    assert "newer release" in caplog.text
    _lose_catalog(library_config)
    with caplog.at_level(logging.WARNING), Library.open(library_config) as lib:  # opens, never crashes
        assert lib.sources.list_sources() == []
    assert "installs.json" in caplog.text


def test_a_library_from_before_records_writes_them_at_open(
    library_config: LibraryConfig, incoming: Path, nas: Path, comfy: Path
) -> None:
    import shutil

    with Library.open(library_config) as lib:
        ids = _session(lib, incoming, nas, comfy, "view")
        before = _state(lib, ids)
    shutil.rmtree(library_config.root / "records")  # as an earlier release left the library
    Library.open(library_config).close()
    _lose_catalog(library_config)
    with Library.open(library_config) as lib:
        assert _state(lib, ids) == before


def test_a_hostile_links_record_never_points_remove_at_a_users_file(
    library_config: LibraryConfig, incoming: Path, comfy: Path, tmp_path: Path
) -> None:
    """THREATS #6 through a record: entries naming a user's file, outside their root or with a target
    outside the library, are not taken back; a link the user replaced with a file is not ours."""
    with Library.open(library_config) as lib:
        [item] = lib.imports.import_paths(
            [synth.write_family(incoming / "d.safetensors", "sdxl_lora_kohya")], lookup=False
        )
        assert item.model is not None
        lib.mapping.set_config({**lib.mapping.get_config(), "mode": "direct"})
        lib.mapping.apply(comfy)
        [ours] = [Path(link["path"]) for link in lib.catalog.model_detail(item.model.id)["links"]]
    victim = tmp_path / "Documents" / "thesis.txt"
    victim.parent.mkdir()
    victim.write_text("years of work")
    [links_file] = (library_config.root / "records" / "links").rglob("*.json")
    record = json.loads(links_file.read_text())
    [entry] = record["data"]["links"]
    record["data"]["links"] += [
        {**entry, "link_path": str(victim)},  # outside its link root
        {**entry, "link_path": str(tmp_path / "elsewhere" / "d.safetensors")},  # outside, not there
        {**entry, "link_path": str(victim.parent / "d.safetensors"), "link_root": str(victim.parent)},
        {**entry, "link_path": str(victim), "link_root": str(victim.parent)},  # a real file, not our link
        {**entry, "link_path": str(comfy / "models" / "loras" / "x.safetensors"), "target": str(victim)},
        {**entry, "kind": "not a kind"},
    ]
    links_file.write_text(json.dumps(record))
    ours.unlink()
    ours.write_text("the user's own file now")
    _lose_catalog(library_config)
    with Library.open(library_config) as lib:
        assert lib.catalog.model_detail(item.model.id)["links"] == []
        report = lib.catalog.remove_model(item.model.id)
        assert report["removed_links"] == [] and report["not_ours"] == []
    assert victim.read_text() == "years of work" and ours.read_text() == "the user's own file now"


def test_a_moved_source_keeps_its_hashes_in_its_record(library_config: LibraryConfig, nas: Path) -> None:
    with Library.open(library_config) as lib:
        lib.sources.add(nas)
        lib.sources.scan(hash_files=True)
        moved = nas.with_name("nas-mounted-elsewhere")
        nas.rename(moved)
        lib.sources.move(nas, moved)
        before = [{k: v for k, v in s.items() if k != "last_scan_at"} for s in lib.sources.list_sources()]
        ids = sorted(m.id for m in lib.catalog.list_models(ModelQuery(limit=100)).items)
    assert before[0]["path"] == str(moved) and before[0]["unhashed"] == 0
    assert len(list((library_config.root / "records" / "sources").iterdir())) == 1, "the old path's is gone"
    _lose_catalog(library_config)
    with Library.open(library_config) as lib:
        assert [
            {k: v for k, v in s.items() if k != "last_scan_at"} for s in lib.sources.list_sources()
        ] == before
        assert sorted(m.id for m in lib.catalog.list_models(ModelQuery(limit=100)).items) == ids
        assert lib.sources.hash_pending() == 0


def test_a_source_unmounted_at_the_rebuild_gets_its_hashes_back_when_it_returns(
    library_config: LibraryConfig, nas: Path
) -> None:
    with Library.open(library_config) as lib:
        lib.sources.add(nas)
        lib.sources.scan(hash_files=True)
        before = [{k: v for k, v in s.items() if k != "last_scan_at"} for s in lib.sources.list_sources()]
        ids = sorted(m.id for m in lib.catalog.list_models(ModelQuery(limit=100)).items)
    _lose_catalog(library_config)
    away = nas.with_name("nas-unmounted")
    nas.rename(away)
    with Library.open(library_config) as lib:
        [source] = lib.sources.list_sources()
        assert (source["path"], source["state"], source["files"]) == (str(nas), "unavailable", 0)
        away.rename(nas)  # the share is back
        lib.sources.scan()
        assert [
            {k: v for k, v in s.items() if k != "last_scan_at"} for s in lib.sources.list_sources()
        ] == before
        assert sorted(m.id for m in lib.catalog.list_models(ModelQuery(limit=100)).items) == ids
        assert lib.sources.hash_pending() == 0


def test_an_install_whose_links_record_is_lost_gets_its_view_links_back_from_its_views(
    library_config: LibraryConfig, incoming: Path, nas: Path, comfy: Path
) -> None:
    with Library.open(library_config) as lib:
        ids = _session(lib, incoming, nas, comfy, "view")
        before = _state(lib, ids)
    for record in (library_config.root / "records" / "links").iterdir():
        shutil.rmtree(record)
    _lose_catalog(library_config)
    with Library.open(library_config) as lib:
        after = _state(lib, ids)
        # The link deleted behind our back is the one thing the views cannot tell.
        assert after["links"] == {**before["links"], "canny": []}
        [link] = [Path(entry["path"]) for entry in after["links"]["detail"]]
        assert lib.catalog.remove_model(ids["detail"])["removed_links"] == [str(link)]
        assert not os.path.lexists(link)


def test_records_that_cannot_be_written_at_open_never_stop_the_library_opening(
    library_config: LibraryConfig, nas: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    with Library.open(library_config) as lib:
        lib.sources.add(nas)
    records = library_config.root / "records"
    shutil.rmtree(records)
    records.write_text("a file where the folder belongs: every write there fails")
    with caplog.at_level(logging.WARNING), Library.open(library_config) as lib:
        assert [s["path"] for s in lib.sources.list_sources()] == [str(nas)]
    assert "could not write the sources record yet" in caplog.text


def test_a_link_entry_of_a_row_equals_the_one_built_field_by_field() -> None:
    from comfyui_model_library.core.records.files import links_shard
    from comfyui_model_library.core.records.kinds import LinkEntry

    row = ("ab12", "m.st", "/c/m.st", "symlink", 1, "/l/m", "/c", "loras", 7, 8, "adopt", "t")
    built = LinkEntry("ab12", "m.st", "/c/m.st", "symlink", True, "/l/m", "/c", "loras", 7, 8, "adopt", "t")
    assert LinkEntry.of_row(row) == built and LinkEntry.of_row(row).relative is True
    assert LinkEntry.of_row((*row[:4], 0, *row[5:])).relative is False
    shards = [links_shard(m) for m in ("AB12", "ab", "a", "", None, "zz9", "0f")]
    assert shards == ["ab", "ab", "__", "__", "__", "__", "0f"]
