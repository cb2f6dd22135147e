"""A new user's first commands, through the real entry point: what each says must be true and say what to
do next (a model in the user's own folder is not hashed until something hashes it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cli.test_cli import run
from tests.synth import write_safetensors

OFFLINE = {"HF_HUB_OFFLINE": "1", "CIVITAI_ENDPOINT": "http://127.0.0.1:9"}


def test_an_unhashed_model_in_place_says_how_to_hash_it(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    folder = tmp_path / "ComfyUI" / "models" / "loras"
    folder.mkdir(parents=True)
    write_safetensors(folder / "mine.safetensors", {"lora_unet_x.lora_down.weight": ("F16", (4, 8))})
    run(lib, "sources", "add", str(folder), env=OFFLINE)
    [item] = json.loads(run(lib, "list", "--json", env=OFFLINE).stdout)["items"]
    assert not (item.get("hashes") or {}).get("sha256")
    looked = run(lib, "lookup", item["id"], check_code=1, env=OFFLINE)
    assert "scan --hash" in looked.stderr, looked.stderr  # not "still being hashed": nothing is hashing it
    named = run(lib, "enrich", item["id"], check_code=1, env=OFFLINE)  # never a silent "looked up 0"
    assert "scan --hash" in named.stderr, (named.stdout, named.stderr)
    run(lib, "scan", "--hash", env=OFFLINE)
    [hashed] = json.loads(run(lib, "list", "--json", env=OFFLINE).stdout)["items"]
    assert hashed["hashes"]["sha256"] and hashed["name"] == item["name"]  # its content id, as said
    assert os.listdir(folder) == ["mine.safetensors"]  # the user's folder is never written


def test_enrich_all_on_an_empty_library_and_clearing_trigger_words(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    out = run(lib, "enrich", "--all", env=OFFLINE)
    assert "looked up 0" in out.stdout
    src = tmp_path / "incoming"
    src.mkdir()
    write_safetensors(src / "a.safetensors", {"w": ("F16", (8,))}, {"modelspec.trigger_phrase": "x, y"})
    [item] = json.loads(run(lib, "import", str(src / "a.safetensors"), "--no-lookup", "--json").stdout)[
        "items"
    ]
    run(lib, "edit", item["id"], "--trigger-words", "")
    shown = json.loads(run(lib, "show", item["id"], "--json").stdout)
    assert shown["trigger_words"] == [] and "trigger_words" in shown["manual_fields"]
