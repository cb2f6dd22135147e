"""``model-library workflow check`` through the real entry point: the table, --json, the exit code."""

from __future__ import annotations

import json
from pathlib import Path

from tests import synth
from tests.core.workflows.test_templates import TEMPLATES

from .test_cli import run

FLUX = TEMPLATES / "flux_dev_checkpoint_example.json"


def test_check_prints_each_reference_and_exits_1_until_all_are_available(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    out = run(lib, "workflow", "check", str(FLUX), check_code=1)
    assert "flux1-dev.safetensors" in out.stdout and "downloadable" in out.stdout
    assert (
        "download https://huggingface.co/Comfy-Org/flux1-dev/resolve/main/flux1-dev.safetensors" in out.stdout
    )
    assert "not available here yet" in out.stderr

    doc = json.loads(run(lib, "workflow", "check", str(FLUX), "--json", check_code=1).stdout)
    names = {item["name"]: item for item in doc["items"]}
    assert names["flux1-dev.safetensors"]["status"] == "downloadable"
    assert {item["file"] for item in doc["items"]} == {str(FLUX)}
    assert doc["files"][0]["counts"]["downloadable"] == len(doc["items"])

    comfy = synth.comfyui_install(tmp_path / "ComfyUI", "vae", "text_encoders", "diffusion_models")
    (comfy / "main.py").write_text("")
    for item in doc["items"]:
        synth.write_safetensors(comfy / "models" / item["category"] / item["name"], {"w": ("F16", (1,))})
    done = json.loads(run(lib, "workflow", "check", str(FLUX), "--comfyui", str(comfy), "--json").stdout)
    assert {item["status"] for item in done["items"]} == {"present"}


def test_an_unreadable_file_is_an_error_before_anything_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-workflow.json"
    bad.write_text('{"hello": 1}')
    out = run(tmp_path / "lib", "workflow", "check", str(FLUX), str(bad), check_code=1)
    assert "not a ComfyUI workflow" in out.stderr and out.stdout == ""
