"""Adoption hands the importer the models it planned: the importer does not plan them again, and what
adoption makes of an install is what it made when the importer planned every file itself."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.importer import pipeline
from comfyui_model_library.core.importer.pipeline import Importer
from comfyui_model_library.core.importer.plan import plan_paths
from comfyui_model_library.core.library import Library

from .support import adopt_links, make_install, service, write_model


def _install(root: Path) -> Path:
    install = make_install(root / "ComfyUI")
    for i in range(12):
        folder = "loras" if i % 3 else "checkpoints"
        write_model(install / "models" / folder / f"m{i:02d}.safetensors", f"model-{i}", size=4096)
    write_model(install / "models/loras/again.safetensors", "model-1", size=4096)  # a duplicate
    write_model(install / "models/checkpoints/m01.safetensors", "other-1", size=4096)  # a name clash
    return install


def _adopted(root: Path) -> tuple[dict[str, Any], list[tuple[Any, ...]], list[tuple[str, str]]]:
    """The report, the catalog's models and the install's links, with ``root`` taken out of every path."""
    install = _install(root)
    with Library.open(load_config(root / "library")) as library:
        report = service(library).adopt(install)
        models = library.db.execute_read("SELECT name, rel_dir, sha256, size FROM models ORDER BY sha256")
        links = [
            (os.path.relpath(r["link_path"], root), os.path.relpath(os.path.realpath(r["link_path"]), root))
            for r in adopt_links(library)
        ]
    found = report.to_dict()
    del found["install"]  # its id is made from its path
    return _without_root(found, str(root)), [tuple(m) for m in models], links


def _without_root(found: dict[str, Any], root: str) -> dict[str, Any]:
    """``found`` with ``root`` taken out of its text."""
    return {k: repr(v).replace(root, "<root>") for k, v in found.items()}


def test_adoption_does_not_plan_its_units_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[Path]] = []

    def spy(paths: Any) -> Any:
        calls.append(list(paths))
        return plan_paths(paths)

    monkeypatch.setattr(pipeline, "plan_paths", spy)
    report, models, links = _adopted(tmp_path / "planned")
    assert calls == [], "the importer planned adoption's units again"
    assert report["failed"] == "[]" and report["adopted"] == "14", report
    assert len(links) == 14 and len(models) == 13

    # The same install adopted with the importer planning every path itself: the same outcome.
    monkeypatch.setattr(pipeline, "plan_paths", plan_paths)
    run = Importer.run

    def replanning(self: Importer, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("planned", None)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(Importer, "run", replanning)
    again = _adopted(tmp_path / "replanned")
    assert (report, models, links) == again


def test_planned_models_are_checked_as_planned_paths_are(tmp_path: Path) -> None:
    """A planned model is imported as its path would be, and one of the library's own files is still
    refused (the checks on files run for planned models too)."""
    source = write_model(tmp_path / "elsewhere" / "a.safetensors", "a", size=4096)
    with Library.open(load_config(tmp_path / "library")) as library:
        plans, _ = plan_paths([source])
        item = library.importer.run([source], planned=plans)[0]
        assert item.status == "imported" and item.source_path == str(source)
        assert item.model is not None
        own = library.config.root / item.model.rel_dir
        stored = next(p for p in own.iterdir() if p.suffix == ".safetensors")
        plans, _ = plan_paths([stored])
        refused = library.importer.run([stored], planned=plans)
        by_path = library.importer.run([stored])
        assert [(i.status, i.error_code, i.error) for i in refused] == [
            (i.status, i.error_code, i.error) for i in by_path
        ]
        assert refused[0].status == "failed" and "already in the library" in (refused[0].error or "")
