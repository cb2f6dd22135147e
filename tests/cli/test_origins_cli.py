"""``model-library lookup`` (Hugging Face and Civitai), ``enrich`` and editing trigger words, through the
real entry point against a loopback Civitai and a loopback Hub (CIVITAI_ENDPOINT, HF_ENDPOINT)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.civitai_server import CivitaiServer, make_version, sha256_of
from tests.cli.test_cli import run as run_cli
from tests.hub_server import HubServer
from tests.synth import write_safetensors


@pytest.fixture
def sites() -> Iterator[tuple[CivitaiServer, HubServer]]:
    civitai, hub = CivitaiServer(), HubServer([])
    civitai.start()
    hub.start()
    yield civitai, hub
    civitai.stop()
    hub.stop()


def run(env: dict[str, str], library: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    return run_cli(library, *args, check_code=code, env=env)


def test_lookup_enrich_and_edit_trigger_words(sites: tuple[CivitaiServer, HubServer], tmp_path: Path) -> None:
    civitai, hub = sites
    env = {"CIVITAI_ENDPOINT": civitai.url, "HF_ENDPOINT": hub.url}
    lib = tmp_path / "lib"
    path = write_safetensors(tmp_path / "in" / "glow.safetensors", {"w": ("F16", (700,))}, {"k": "v"})
    civitai.add(
        make_version(
            41, 9, sha256=sha256_of(path.read_bytes()), model_name="Glow\x1b[31m", trained_words=("glowing",)
        )
    )
    [item] = json.loads(run(env, lib, "import", str(path), "--no-lookup", "--json").stdout)["items"]
    found = json.loads(run(env, lib, "lookup", item["id"], "--json").stdout)
    assert found["civitai"]["version_id"] == 41 and found["candidates"] == [] and found["errors"] == {}
    text = run(env, lib, "lookup", item["id"]).stdout
    assert "Civitai (by hash)" in text and "\x1b" not in text  # a stranger's name cannot drive the terminal
    report = json.loads(run(env, lib, "enrich", item["id"], "--json").stdout)
    assert report["found"]["civitai"] == 1 and report["enriched"] == 1
    shown = json.loads(run(env, lib, "show", item["id"], "--json").stdout)
    assert shown["trigger_words"] == ["glowing"] and shown["origins"][0]["site"] == "civitai"
    edited = json.loads(
        run(env, lib, "edit", item["id"], "--trigger-words", "mine, also mine", "--favorite", "--json").stdout
    )
    assert edited["trigger_words"] == ["mine", "also mine"] and edited["favorite"] is True
    assert "trigger_words" in edited["manual_fields"] and "favorite" not in edited["manual_fields"]
    json.loads(run(env, lib, "enrich", "--all", "--json").stdout)
    assert json.loads(run(env, lib, "show", item["id"], "--json").stdout)["trigger_words"] == [
        "mine",
        "also mine",
    ]
    assert "name the models" in run(env, lib, "enrich", code=2).stderr
    strong = json.loads(run(env, lib, "edit", item["id"], "--strength", "0.75", "--json").stdout)
    assert strong["default_strength"] == 0.75
    assert "takes a number" in run(env, lib, "edit", item["id"], "--strength", "lots", code=1).stderr
    assert (
        json.loads(run(env, lib, "edit", item["id"], "--strength", "", "--json").stdout)["default_strength"]
        is None
    )
