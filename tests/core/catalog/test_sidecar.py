"""metadata.json sidecars: round trip, hostile files, rebuild from disk, and a corrupt catalog set aside."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.catalog.rebuild import rebuild_catalog
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.catalog.sidecar import (
    SIDECAR_NAME,
    read_sidecar,
    set_aside_corrupt,
    sidecar_dict,
    write_sidecar,
)
from comfyui_model_library.core.errors import CatalogCorrupt, InvalidInput, InvalidModelFile
from comfyui_model_library.core.models import Model, ModelFile, ModelQuery

from .conftest import make_model


def place(root: Path, model: Model, *, with_files: bool = True) -> Path:
    """Write the model's files (of their recorded size) and its sidecar under ``root/rel_dir``."""
    folder = root.joinpath(*model.rel_dir.split("/"))
    folder.mkdir(parents=True, exist_ok=True)
    if with_files:
        for f in model.files:
            path = folder.joinpath(*f.path.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\0" * f.size)
    write_sidecar(
        folder, model, origins=[("/downloads/x.safetensors", "import", "2024-01-02T00:00:00+00:00")]
    )
    return folder


def test_sidecar_round_trip(tmp_path: Path) -> None:
    model = make_model("round", manual_fields=frozenset({"name"}), warnings=("w",), notes="n")
    folder = place(tmp_path, model)
    data = json.loads((folder / SIDECAR_NAME).read_text(encoding="utf-8"))
    assert data["schema"] == 1 and data["library_format"] == "comfyui-model-library"
    assert "dir" not in data and "state" not in data and "rel_dir" not in data
    assert read_sidecar(folder, model.rel_dir) == model
    assert sidecar_dict(model)["manual_fields"] == ["name"]


def test_rel_dir_comes_from_where_the_file_was_found(tmp_path: Path) -> None:
    model = make_model("where")
    folder = place(tmp_path, model)
    data = json.loads((folder / SIDECAR_NAME).read_text())
    data.update(dir="/etc", rel_dir="../../etc", location="source")
    (folder / SIDECAR_NAME).write_text(json.dumps(data))
    got = read_sidecar(folder, "models/elsewhere")
    assert (got.rel_dir, got.location) == ("models/elsewhere", "library")


def _mutate(key: str, value: object):  # type: ignore[no-untyped-def]
    def change(d: dict) -> None:  # type: ignore[type-arg]
        d[key] = value

    return change


def _file(**changes: object):  # type: ignore[no-untyped-def]
    def change(d: dict) -> None:  # type: ignore[type-arg]
        d["files"][0].update(changes)

    return change


@pytest.mark.parametrize(
    "change",
    [
        _mutate("library_format", "someone-else"),
        _mutate("schema", 2),
        _mutate("id", "0000000000000000"),
        _mutate("type", "spaceship"),
        _mutate("size", -1),
        _mutate("size", True),
        _mutate("name", 5),
        _mutate("tags", "a,b"),
        _mutate("tags", [1]),
        _mutate("metadata", {"k": 1}),
        _mutate("files", []),
        _mutate("files", ["x"]),
        _mutate("hashes", {"blake3": "zz", "sha256": "0" * 64}),
        _mutate("source", {"repo_id": 5}),
        _mutate("origins", [5]),
        _file(path="../../escape.safetensors"),
        _file(path="/etc/passwd"),
        _file(path="C:/x.safetensors"),
        _file(path="a\\..\\b"),
        _file(path="a//b"),
        _file(path="a/./b"),
        _file(path="x\x00y"),
        _file(path=""),
        _file(size=-5),
        _file(sha256="short"),
    ],
)
def test_hostile_sidecars_are_rejected(tmp_path: Path, change) -> None:  # type: ignore[no-untyped-def]
    model = make_model("hostile")
    folder = place(tmp_path, model)
    data = json.loads((folder / SIDECAR_NAME).read_text())
    change(data)
    (folder / SIDECAR_NAME).write_text(json.dumps(data))
    with pytest.raises(InvalidModelFile):
        read_sidecar(folder, model.rel_dir)


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[1, 2]", b"\xff\xfe", b"[" * 100_000, b"{" + b" " * (5 * 1024 * 1024) + b"}"],
    ids=["empty", "text", "list", "bom", "deep", "5MB"],
)
def test_junk_bytes_are_rejected(tmp_path: Path, raw: bytes) -> None:
    (tmp_path / SIDECAR_NAME).write_bytes(raw)
    with pytest.raises(InvalidModelFile):
        read_sidecar(tmp_path, "models/x")


def test_missing_or_symlinked_sidecar(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="Cannot open"):
        read_sidecar(tmp_path, "models/x")
    real = place(tmp_path / "real", make_model("real"))
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / SIDECAR_NAME).symlink_to(next(real.glob(SIDECAR_NAME)))
    with pytest.raises(InvalidInput):
        read_sidecar(linked, "models/linked")


def _fresh_db(path: Path) -> Database:
    db = Database(path)
    migrate(db)
    return db


def test_rebuild_after_deleting_the_database_gives_the_same_models(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    models = [
        make_model(f"model{i}", rel_dir=f"models/lora/sdxl/model{i}", tags=(f"t{i}", "common"))
        for i in range(6)
    ]
    nested = make_model(
        "diffusers",
        rel_dir="models/diffusion_model/flux1/diffusers",
        files=(
            ModelFile("unet/d.safetensors", 3, "a" * 64, "b" * 64),
            ModelFile("vae/v.bin", 2, "c" * 64, "d" * 64),
        ),
        format="diffusion-folder",
    )
    models.append(nested)
    db = _fresh_db(root / "catalog.sqlite")
    repo = ModelRepository(db)
    for model in models:
        repo.add(model)
        place(root, model)
    before = {m.id: m for m in repo.iter_all()}
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{root / 'catalog.sqlite'}{suffix}").unlink(missing_ok=True)

    db = _fresh_db(root / "catalog.sqlite")
    report = rebuild_catalog(db, root / "models", root)
    repo = ModelRepository(db)
    assert (report.models, report.skipped, report.missing) == (7, [], 0)
    after = {m.id: m for m in repo.iter_all()}
    assert after == before
    assert [o[:2] for o in repo.origins(nested.id)] == [("/downloads/x.safetensors", "import")]
    assert repo.list(ModelQuery(q="common")).total == 6
    with db.read() as conn:
        conn.execute("INSERT INTO models_fts(models_fts) VALUES ('integrity-check')")
    assert report.to_dict()["models"] == 7
    # Rebuilding again over a full catalog gives the same rows, not duplicates.
    assert rebuild_catalog(db, root / "models", root).models == 7
    assert repo.count() == 7
    db.close()


def test_rebuild_skips_junk_marks_missing_and_keeps_sources(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    db = _fresh_db(root / "catalog.sqlite")
    repo = ModelRepository(db)
    repo.add(make_model("in place", location="source", rel_dir="/mnt/models"))
    good = make_model("good", rel_dir="models/lora/sdxl/good")
    gone = make_model("gone", rel_dir="models/lora/sdxl/gone")
    resized = make_model("resized", rel_dir="models/lora/sdxl/resized")
    place(root, good)
    place(root, gone, with_files=False)
    folder = place(root, resized)
    (folder / resized.files[0].path).write_bytes(b"short")
    copy = root / "models/lora/sdxl/good-copy"
    copy.mkdir(parents=True)
    (copy / SIDECAR_NAME).write_bytes((root / good.rel_dir / SIDECAR_NAME).read_bytes())
    junk = root / "models/lora/sdxl/junk"
    junk.mkdir()
    (junk / SIDECAR_NAME).write_text("{oops")
    # A symlinked folder is never followed (it would catalogue the same model twice).
    (root / "models/link").symlink_to(root / "models/lora", target_is_directory=True)

    report = rebuild_catalog(db, root / "models", root)
    assert report.models == 3 and report.missing == 2
    reasons = dict(report.skipped)
    assert "already catalogued" in reasons[str(copy / SIDECAR_NAME)]
    assert "not valid JSON" in reasons[str(junk / SIDECAR_NAME)]
    states = {m.name: m.state for m in repo.iter_all()}
    assert states == {"in place": "ready", "good": "ready", "gone": "missing", "resized": "missing"}
    db.close()


def test_rebuild_refuses_a_models_dir_outside_the_root(tmp_path: Path, db: Database) -> None:
    with pytest.raises(InvalidInput, match="not inside"):
        rebuild_catalog(db, tmp_path / "elsewhere", tmp_path / "lib")


def test_corrupt_catalog_is_detected_and_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    db = _fresh_db(path)
    ModelRepository(db).add(make_model("m"))
    db.close()
    junk = os.urandom(4096) * 4
    with open(path, "r+b") as fh:
        fh.write(junk)
    Path(f"{path}-wal").write_bytes(b"wal bytes")
    with pytest.raises(CatalogCorrupt, match="rebuild"):
        Database(path)
    moved = set_aside_corrupt(path)
    assert moved is not None and moved.name.startswith("catalog.sqlite.corrupt-")
    assert moved.read_bytes().startswith(junk)
    assert Path(f"{moved}-wal").read_bytes() == b"wal bytes"
    assert not path.exists()
    # A second damaged file the same second gets its own name; nothing is overwritten.
    path.write_bytes(junk)
    second = set_aside_corrupt(path)
    assert second is not None and second != moved and moved.exists()
    assert set_aside_corrupt(path) is None
    fresh = _fresh_db(path)
    assert ModelRepository(fresh).count() == 0
    fresh.close()


def test_extras_and_what_the_sites_said_survive_edits_and_a_rebuild(tmp_path: Path) -> None:
    from comfyui_model_library.core.model_extras import About, Preview, SiteOrigin, UpdateInfo

    root = tmp_path / "lib"
    model = make_model(
        "extras",
        rel_dir="models/lora/sdxl/extras",
        trigger_words=("pixel art",),
        manual_fields=frozenset({"trigger_words"}),
        preview=Preview("civitai", "0123abcd", 4),
        site_origins=(SiteOrigin("civitai", "https://civitai.com/models/7", "Pixel", "v1", "hash", 1.0),),
        update=UpdateInfo("civitai", "v2", "https://civitai.com/models/7?modelVersionId=9"),
        about=About("plain text", "maker", None, "https://civitai.com/models/7"),
        favorite=True,
        used_at="2026-12-04T00:00:00+00:00",
        default_strength=0.8,
    )
    folder = root.joinpath(*model.rel_dir.split("/"))
    folder.mkdir(parents=True)
    (folder / "extras.safetensors").write_bytes(b"\0" * 1234)
    write_sidecar(folder, model, fetched={"civitai": {"version_id": 9, "trained_words": ["pixel art"]}})
    assert read_sidecar(folder, model.rel_dir) == model
    # A later write without ``fetched`` (an edit of the notes) keeps what the site said.
    write_sidecar(folder, model.replace(notes="mine"))
    data = json.loads((folder / SIDECAR_NAME).read_text(encoding="utf-8"))
    assert data["fetched"] == {"civitai": {"version_id": 9, "trained_words": ["pixel art"]}}
    assert data["extras"]["preview"] == {"source": "civitai", "tag": "0123abcd", "nsfw_level": 4}
    assert "url" not in json.dumps(data["extras"]["preview"])  # the URL is the catalog's, not the file's
    db = _fresh_db(root / "catalog.sqlite")
    rebuild_catalog(db, root / "models", root)
    repo = ModelRepository(db)
    assert repo.get(model.id) == model.replace(notes="mine")
    assert repo.list(ModelQuery(q="pixel")).total == 1
    db.close()


def test_a_sidecar_with_hostile_extras_reads_without_them(tmp_path: Path) -> None:
    model = make_model("hostile")
    folder = place(tmp_path, model)
    data = json.loads((folder / SIDECAR_NAME).read_text(encoding="utf-8"))
    data["extras"] = {
        "preview": {"source": "user", "tag": "../../etc/passwd"},
        "site_origins": [{"site": "civitai", "url": "javascript:alert(1)"}, "junk"],
        "update": {"site": "elsewhere", "version_name": "x", "url": "https://x"},
        "about": ["not", "an", "object"],
        "favorite": "yes",
        "used_at": 5,
    }
    (folder / SIDECAR_NAME).write_text(json.dumps(data), encoding="utf-8")
    read = read_sidecar(folder, model.rel_dir)
    assert (read.preview, read.site_origins, read.update, read.about, read.favorite, read.used_at) == (
        None,
        (),
        None,
        None,
        False,
        "",
    )
