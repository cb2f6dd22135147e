"""The link registry and the links part of a cascade delete (THREATS.md #6)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.links.cascade import remove_model_links
from comfyui_model_library.core.links.platform import LinkMaker
from comfyui_model_library.core.links.registry import AppRecord, AppRegistry, LinkRecord, LinkRegistry
from comfyui_model_library.core.records.files import LinksRecord, read_all, records_dir


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    d = Database(tmp_path / "catalog.sqlite")
    migrate(d)
    yield d
    d.close()


def record(link: Path, target: Path, root: Path, model: str = "m1", **kw: object) -> LinkRecord:
    return LinkRecord(
        model,
        target.name,
        str(link),
        kw.pop("kind", "symlink"),
        True,
        str(target),
        str(root),  # type: ignore[arg-type]
        **kw,
    )  # type: ignore[arg-type]


def test_register_find_list_unregister(db: Database, tmp_path: Path) -> None:
    apps = AppRegistry(db)
    apps.upsert(AppRecord("app1", str(tmp_path / "ComfyUI"), "0.3.64", "view"))
    reg = LinkRegistry(db)
    t = tmp_path / "t.safetensors"
    reg.register_many(
        [
            record(tmp_path / "v" / "a", t, tmp_path / "v", app_id="app1"),
            record(tmp_path / "v" / "b", t, tmp_path / "v", model="m2", app_id="app1"),
        ]
    )
    found = reg.find(str(tmp_path / "v" / "a"))
    assert found is not None and found.model_id == "m1" and found.relative and found.app_id == "app1"
    assert [r.link_path for r in reg.by_model("m2")] == [str(tmp_path / "v" / "b")]
    assert len(reg.by_app("app1")) == 2 and len(reg.all()) == 2
    assert set(reg.find_many([str(tmp_path / "v" / "a"), "/nope"])) == {str(tmp_path / "v" / "a")}
    reg.unregister(str(tmp_path / "v" / "a"))
    assert reg.find(str(tmp_path / "v" / "a")) is None
    assert apps.get("app1") is not None and apps.all()[0].version == "0.3.64"


def test_cascade_removes_only_our_links(db: Database, tmp_path: Path) -> None:
    lib = tmp_path / "library"
    target = lib / "models" / "m.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"weights")
    views = lib / "views" / "app"
    maker = LinkMaker()
    ours = views / "loras" / "sub" / "m.safetensors"
    made = maker.create_link(target, ours)
    replaced = views / "loras" / "replaced.safetensors"
    maker.create_link(target, replaced)
    os.unlink(replaced)
    replaced.write_bytes(b"the user's own file")
    folder = views / "loras" / "folder.safetensors"
    folder.mkdir(parents=True)
    (folder / "keep.txt").write_text("keep")
    documents = tmp_path / "home" / "u" / "Documents"
    documents.mkdir(parents=True)
    (documents / "thesis.docx").write_text("precious")
    reg = LinkRegistry(db)
    reg.register_many(
        [
            record(ours, target, views, kind=made.kind),
            record(replaced, target, views),
            record(folder, target, views),
            record(documents, target, views),  # a hostile entry: outside its link root
            record(documents / "thesis.docx", target, documents.parent),  # inside "its root" but not a link
        ]
    )
    removed, not_ours = remove_model_links(db, "m1")
    assert removed == [str(ours)]
    assert sorted(not_ours) == sorted(
        [str(replaced), str(folder), str(documents), str(documents / "thesis.docx")]
    )
    assert not os.path.lexists(ours) and not (views / "loras" / "sub").exists()  # empty folder pruned
    assert replaced.read_bytes() == b"the user's own file"
    assert (folder / "keep.txt").read_text() == "keep"
    assert (documents / "thesis.docx").read_text() == "precious"
    assert target.read_bytes() == b"weights"
    assert reg.by_model("m1") == []
    assert remove_model_links(db, "m1") == ([], [])  # idempotent: a retry after a crash is harmless


def test_records_written_now_even_inside_another_records_at_end_block(tmp_path: Path) -> None:
    """``save_records_of`` is for a caller that forgets what it registered once it returns (an
    adoption's batch): it writes at once, not at the end of a mapping's ``records_at_end`` block."""
    db = Database(tmp_path / "catalog.sqlite")
    migrate(db)
    try:
        registry = LinkRegistry(db)
        record = LinkRecord("0123456789abcdef", "a.safetensors", str(tmp_path / "i" / "a.safetensors"),
                            "symlink", True, str(tmp_path / "lib" / "a.safetensors"), str(tmp_path / "i"),
                            None, "loras", None, None, "adopt", "2026")  # fmt: skip
        folder = records_dir(db.path) / "links"
        with registry.records_at_end():
            keys = registry.register_rows([record])
            assert not read_all(folder, LinksRecord, depth=1)
            registry.save_records_of(keys)
            written = read_all(folder, LinksRecord, depth=1)
            assert [e.link_path for _p, r in written for e in r.links] == [record.link_path]
    finally:
        db.close()
