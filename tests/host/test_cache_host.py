"""The cache inside a real ComfyUI (issue 18): with MODEL_LIBRARY_CACHE, ComfyUI's own loaders (anything
calling folder_paths.get_full_path) and the library's nodes open the library's files from this machine's
cache, filled on that first use and verified by hash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from tests.host.conftest import ComfyUI, start_comfyui
from tests.host.test_comfyui import history_outputs, host_list, import_through_api, model_named, queue_prompt


@pytest.fixture(scope="module")
def cached_comfyui(tmp_path_factory: pytest.TempPathFactory, host_hub: Any) -> Iterator[ComfyUI]:
    yield from start_comfyui(
        tmp_path_factory,
        host_hub,
        {"MODEL_LIBRARY_CACHE": "{root}/fast-disk", "MODEL_LIBRARY_CACHE_BUDGET": "1G"},
    )


def test_comfyuis_own_loaders_and_ours_read_the_cache(cached_comfyui: ComfyUI) -> None:
    import_through_api(cached_comfyui, "sd15_lora_kohya", "cached-lora.safetensors")
    lora = model_named(cached_comfyui, "cached-lora")
    listed = next(name for name in host_list(cached_comfyui, "loras") if "cached-lora" in name)
    cache = cached_comfyui.install.parent / "fast-disk"
    # ComfyUI's own lookup first, alone: it fills the cache on this first use and answers with the copy.
    theirs = Path(_run(cached_comfyui, {"class_type": "HostTierFullPath", "inputs": {"lora_name": listed}}))
    assert theirs.is_relative_to(cache), theirs
    assert blake3(theirs.read_bytes()).hexdigest() == lora["hashes"]["blake3"].removeprefix("blake3:")
    # The library's node finds the same copy (one per hash).
    label = f"{lora['name']} [{lora['id'][:8]}]"
    ours = _run(cached_comfyui, {"class_type": "LibraryModelPath", "inputs": {"model": label}}, output=1)
    assert Path(ours) == theirs


def _run(comfyui: ComfyUI, node: dict[str, Any], output: int = 0) -> str:
    prompt = {"1": node, "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", output]}}}
    answer = queue_prompt(comfyui, prompt)
    assert answer.status_code == 200 and answer.json()["node_errors"] == {}, answer.text
    return str(history_outputs(comfyui, answer.json()["prompt_id"])["2"]["text"][0])
