"""``model-library workflow fetch`` through the real entry point, the real Hub client and a loopback Hub:
the plan, the question, the outcomes, the exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import synth
from tests.core.workflows.test_fetch import serving, template, without_hashes
from tests.hub_server import HubServer

from .test_cli import REPO

NAME = "flux_dev_checkpoint_example.json"


@pytest.fixture
def hub() -> Iterator[HubServer]:
    yield from serving([NAME])


def cli(
    library: Path, hub: HubServer, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_ENDPOINT": hub.url}
    return subprocess.run(
        [sys.executable, "-m", "comfyui_model_library", *args, "--library", str(library)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        input=stdin,
        timeout=120,
    )


def test_fetch_asks_then_downloads_links_and_exits_0_when_all_are_available(
    tmp_path: Path, hub: HubServer
) -> None:
    lib = tmp_path / "lib"
    workflow = tmp_path / "flux.json"
    workflow.write_text(json.dumps(without_hashes(template(NAME))))
    comfy = synth.comfyui_install(tmp_path / "ComfyUI", "checkpoints")
    (comfy / "main.py").write_text("")

    # Not mapped yet: refused before anything, saying how.
    out = cli(lib, hub, "workflow", "fetch", str(workflow), "--comfyui", str(comfy), "--yes")
    assert out.returncode != 0 and "map apply --comfyui" in out.stderr, out
    assert not hub.requests
    assert cli(lib, hub, "map", "apply", "--comfyui", str(comfy)).returncode == 0

    # Without --yes and no terminal to ask on: nothing happens.
    out = cli(lib, hub, "workflow", "fetch", str(workflow), "--comfyui", str(comfy))
    assert out.returncode != 0 and "--yes" in out.stderr and not hub.requests, out

    out = cli(lib, hub, "workflow", "fetch", str(workflow), "--comfyui", str(comfy), "--yes")
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "4 downloaded" in out.stdout and "flux1-dev.safetensors" in out.stdout

    check = cli(lib, hub, "workflow", "check", str(workflow), "--comfyui", str(comfy), "--json")
    assert check.returncode == 0, check.stderr
    assert {i["status"] for i in json.loads(check.stdout)["items"]} == {"present"}

    again = cli(lib, hub, "workflow", "fetch", str(workflow), "--comfyui", str(comfy), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["available"] is True


def test_fetch_exits_1_and_says_what_is_left(tmp_path: Path, hub: HubServer) -> None:
    lib = tmp_path / "lib"
    data = without_hashes(template(NAME))
    data["models"] = [{"name": "nowhere.safetensors", "directory": "loras"}]
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(data))
    out = cli(lib, hub, "workflow", "fetch", str(workflow), "--yes", "--json")
    assert out.returncode == 1, out
    doc = json.loads(out.stdout)
    left = [i for i in doc["items"] if i["outcome"] == "pick"]
    assert [i["name"] for i in left] == ["nowhere.safetensors"]
    assert "still not available" in out.stderr


def test_map_apply_asks_before_sharing_an_install_with_another_library_and_map_remove_undoes_it(
    tmp_path: Path, hub: HubServer
) -> None:
    comfy = synth.comfyui_install(tmp_path / "ComfyUI", "loras")
    (comfy / "main.py").write_text("")
    yaml_file = comfy / "extra_model_paths.yaml"
    assert cli(tmp_path / "a", hub, "map", "apply", "--comfyui", str(comfy)).returncode == 0
    first = yaml_file.read_bytes()
    out = cli(tmp_path / "b", hub, "map", "apply", "--comfyui", str(comfy))
    assert out.returncode != 0 and "another model library" in out.stderr and "--shared" in out.stderr, out
    assert yaml_file.read_bytes() == first
    assert cli(tmp_path / "b", hub, "map", "apply", "--comfyui", str(comfy), "--shared").returncode == 0
    assert yaml_file.read_bytes() != first
    assert cli(tmp_path / "b", hub, "map", "remove", "--comfyui", str(comfy)).returncode == 0
    assert yaml_file.read_bytes() == first
    assert cli(tmp_path / "a", hub, "map", "remove", "--comfyui", str(comfy)).returncode == 0
    assert not yaml_file.exists()  # we created it: it goes


def test_names_with_terminal_escapes_are_shown_escaped(tmp_path: Path, hub: HubServer) -> None:
    evil = "\x1b[2J\x1b]0;pwned\x07bad.safetensors"
    workflow = tmp_path / "esc.json"
    workflow.write_text(
        json.dumps({"nodes": [{"id": 1, "type": "VAELoader", "widgets_values": [evil]}], "links": []})
    )
    out = cli(tmp_path / "lib", hub, "workflow", "check", str(workflow))
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout
    assert "\\x1b[2J" in out.stdout


def test_fetch_without_a_mapped_install_says_the_models_are_in_the_library_only(
    tmp_path: Path, hub: HubServer
) -> None:
    lib = tmp_path / "lib"
    workflow = tmp_path / "flux.json"
    workflow.write_text(json.dumps(without_hashes(template(NAME))))
    first = cli(lib, hub, "workflow", "fetch", str(workflow), "--yes")
    assert first.returncode == 0 and "4 downloaded" in first.stdout
    assert "no ComfyUI install is mapped" in first.stderr
    again = cli(lib, hub, "workflow", "fetch", str(workflow), "--yes", "--json")
    doc = json.loads(again.stdout)
    assert {i["outcome"] for i in doc["items"]} == {"in_library"}, doc["items"]  # nothing claims "linked"
    assert doc["available"] is True and doc["files"][0]["installs"] == []
