"""``model-library cache`` through the real entry point: status, prefetch (ids or a workflow's models),
clear; without MODEL_LIBRARY_CACHE it says how to set one up."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import run
from tests.synth import write_family


def test_status_prefetch_and_clear(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    env = {"MODEL_LIBRARY_CACHE": str(tmp_path / "fast-disk"), "MODEL_LIBRARY_CACHE_BUDGET": "1G"}
    source = write_family(tmp_path / "in" / "detail.safetensors", "sdxl_lora_kohya")
    imported = json.loads(run(lib, "import", str(source), "--json", env=env).stdout)
    model_id = imported["items"][0]["id"] if "items" in imported else imported[0]["id"]
    status = json.loads(run(lib, "cache", "status", "--json", env=env).stdout)
    assert status == {
        "enabled": True,
        "root": str(tmp_path / "fast-disk"),
        "budget": 1 << 30,
        "used": 0,
        "files": 0,
    }
    report = json.loads(run(lib, "cache", "prefetch", model_id[:8], "--json", env=env).stdout)
    assert report["cached"] == [model_id] and report["skipped"] == []
    assert "1 file(s)" in run(lib, "cache", "status", env=env).stdout
    cleared = json.loads(run(lib, "cache", "clear", "--json", env=env).stdout)
    assert cleared["removed"] == 1 and cleared["freed"] == source.stat().st_size
    # Nothing named: a clear error, nothing done.
    assert "which models" in run(lib, "cache", "prefetch", env=env, check_code=1).stderr


def test_without_a_cache_it_says_how_to_set_one_up(tmp_path: Path) -> None:
    out = run(tmp_path / "lib", "cache", "status", check_code=1).stdout
    assert "MODEL_LIBRARY_CACHE" in out
    bad = run(tmp_path / "lib", "cache", "status", env={"MODEL_LIBRARY_CACHE_BUDGET": "lots"}, check_code=1)
    assert "MODEL_LIBRARY_CACHE_BUDGET" in bad.stderr
