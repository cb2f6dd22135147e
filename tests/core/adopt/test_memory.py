"""A long adoption does not hold every model it committed until its end: each group's models are let go
once their links are made (the report needs counts, not models). At 10,000 files the models kept alive
would be a quarter of a million objects that Python's garbage collector scans again and again while the
hashing threads wait for it."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from comfyui_model_library.core.adopt import batch
from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.importer import group
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import Model

from .support import make_install, model_count, service, write_model

FILES = 48
GROUP = 8


def _live_models() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is Model)


def test_models_of_committed_groups_are_let_go_before_the_batch_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install = make_install(tmp_path / "ComfyUI")
    for i in range(FILES):
        write_model(install / "models" / "loras" / f"m{i:03d}.safetensors", f"model-{i}", size=4096)
    monkeypatch.setattr(group, "GROUP_MAX_MODELS", GROUP)
    alive_at_register: list[int] = []
    finish = batch._finish

    def watched(ctx: batch.AdoptContext, units: batch.Linked, shards: set[batch.RecordsKey]) -> None:
        gc.collect()
        alive_at_register.append(_live_models())
        finish(ctx, units, shards)

    monkeypatch.setattr(batch, "_finish", watched)
    library = Library.open(load_config(tmp_path / "library"))
    try:
        gc.collect()
        before = _live_models()
        report = service(library).adopt(install)
        assert report.adopted == FILES and not report.failed
        assert model_count(library) == FILES
        # One batch, finished after its last group: by then at most the groups in flight keep models.
        assert len(alive_at_register) == 1
        assert alive_at_register[0] - before <= 2 * GROUP, alive_at_register
    finally:
        library.close()
