"""Of identical files imported together, the one given first names the model, whichever finished
copying first (models stage in parallel but commit in the order given)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.importer import pipeline
from comfyui_model_library.core.importer.pipeline import CommitOrder
from comfyui_model_library.core.library import Library
from tests import synth


def test_the_file_given_first_names_the_model_even_when_it_finishes_copying_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    incoming = tmp_path / "incoming"
    first = synth.write_family(incoming / "epic_lora.safetensors", "sd15_loha")
    second = incoming / "epic_lora (1).safetensors"
    shutil.copyfile(first, second)
    real_stage = pipeline.stage_model

    def slow_first(plan, *args, **kwargs):  # the first file's disk is slower
        if plan.name == "epic_lora":
            time.sleep(0.5)
        return real_stage(plan, *args, **kwargs)

    monkeypatch.setattr(pipeline, "stage_model", slow_first)
    config = load_config(tmp_path / "library", import_roots=(incoming,), io_concurrency=2)
    with Library.open(config) as library:
        items = library.imports.import_paths([first, second], lookup=False)
        assert [i.status for i in items] == ["imported", "duplicate"]
        assert items[0].model is not None and items[0].model.name == "epic_lora"
        assert items[1].model is not None and items[1].model.id == items[0].model.id


def test_a_failure_passes_the_turn_on() -> None:
    order = CommitOrder()
    seen: list[int] = []

    def task(i: int) -> None:
        order.wait(i)
        seen.append(i)
        order.done(i)

    threads = [threading.Thread(target=task, args=(i,)) for i in (2, 1)]
    for t in threads:
        t.start()
    order.done(0)  # task 0 failed before its commit: it still passes the turn on
    for t in threads:
        t.join(timeout=10)
    assert seen == [1, 2]


@pytest.mark.parametrize("copy_name", ["epic_lora (1)", "epic_lora - Copy", "epic_lora_1", "epic_lora.1"])
def test_a_folder_walk_gives_the_original_before_its_copies(tmp_path: Path, copy_name: str) -> None:
    """A folder's files are taken in name order with the extension set aside: 'epic_lora.safetensors'
    before 'epic_lora (1).safetensors' (a plain string sort puts ' ' and '-' before '.', so the browser's or
    the file manager's copy named the model)."""
    incoming = tmp_path / "incoming"
    original = synth.write_family(incoming / "Downloads" / "epic_lora.safetensors", "sd15_loha")
    shutil.copyfile(original, incoming / "Downloads" / f"{copy_name}.safetensors")
    config = load_config(tmp_path / "library", import_roots=(incoming,), io_concurrency=2)
    with Library.open(config) as library:
        items = library.imports.import_paths([incoming / "Downloads"], lookup=False)
        assert sorted(i.status for i in items) == ["duplicate", "imported"]
        [model] = {i.model.id: i.model for i in items if i.model is not None}.values()
        assert model.name == "epic_lora"
        assert Path(items[0].source_path).name == "epic_lora.safetensors"
