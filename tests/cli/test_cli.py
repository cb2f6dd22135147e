"""The model-library command through its real entry point: JSON output, exit codes, every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import synth

REPO = Path(__file__).resolve().parents[2]


def run(
    library: Path, *args: str, check_code: int | None = 0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "comfyui_model_library", *args, "--library", str(library)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, **env} if env else None,
    )
    if check_code is not None:
        assert proc.returncode == check_code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture
def lib_dir(tmp_path: Path) -> Path:
    return tmp_path / "lib"


def test_import_list_search_show_edit_remove(lib_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    synth.write_family(src / "juggernautXL_v9.safetensors", "sdxl_checkpoint")
    synth.write_family(src / "zz-copy.safetensors", "sdxl_checkpoint")
    synth.write_family(src / "detail.safetensors", "sdxl_lora_kohya")
    out = json.loads(run(lib_dir, "import", str(src), "--json", "--no-lookup").stdout)
    statuses = sorted(i["status"] for i in out["items"])
    assert statuses == ["duplicate", "imported", "imported"]
    item = next(i for i in out["items"] if i["type"] == "checkpoint")
    assert set(item["hashes"]) == {"blake3", "sha256"} and item["base_model"] == "sdxl"

    listing = json.loads(run(lib_dir, "list", "--json").stdout)
    assert listing["total"] == 2
    assert json.loads(run(lib_dir, "list", "--type", "lora", "--json").stdout)["total"] == 1
    # As the README writes it: "--sort -size" (argparse alone reads "-size" as an option of its own).
    smallest_first = [
        m["name"] for m in json.loads(run(lib_dir, "list", "--sort", "size", "--json").stdout)["items"]
    ]
    largest_first = [
        m["name"] for m in json.loads(run(lib_dir, "list", "--sort", "-size", "--json").stdout)["items"]
    ]
    assert largest_first == smallest_first[::-1] and len(set(largest_first)) == 2
    found = json.loads(run(lib_dir, "search", "jugg", "--json").stdout)
    assert [m["name"] for m in found["items"]] == ["juggernautXL_v9"]

    model_id = found["items"][0]["id"]
    shown = json.loads(run(lib_dir, "show", model_id[:8], "--json").stdout)
    assert shown["id"] == model_id and shown["dir"].startswith(str(lib_dir))
    assert json.loads(run(lib_dir, "show", "jugg", "--json").stdout)["id"] == model_id  # a name's start
    edited = json.loads(
        run(lib_dir, "edit", model_id, "--name", "Juggernaut", "--tag", "+photo", "--json").stdout
    )
    assert edited["name"] == "Juggernaut" and edited["tags"] == ["photo"]
    assert "name" in edited["manual_fields"]

    refused = run(lib_dir, "remove", model_id, check_code=1)
    assert "--yes" in refused.stderr
    removed = json.loads(run(lib_dir, "remove", model_id, "--yes", "--json").stdout)
    assert removed["trashed"]
    assert json.loads(run(lib_dir, "list", "--json").stdout)["total"] == 1

    # The trash keeps what was just removed, and says why and how to empty it now.
    kept = run(lib_dir, "trash")
    assert "nothing removed" in kept.stdout and "--older-than-days 0" in kept.stdout, kept.stdout
    emptied = json.loads(run(lib_dir, "trash", "--older-than-days", "0", "--json").stdout)
    assert len(emptied["removed"]) == 1 and emptied["kept"] == []
    assert "the trash is empty" in run(lib_dir, "trash").stdout


def test_errors_exit_1_with_a_message_and_bad_usage_exits_2(lib_dir: Path) -> None:
    missing = run(lib_dir, "show", "deadbeefdeadbeef", check_code=1)
    assert "deadbeef" in missing.stderr
    as_json = run(lib_dir, "show", "deadbeefdeadbeef", "--json", check_code=1)
    assert json.loads(as_json.stdout)["error"]["code"] == "model_not_found"
    run(lib_dir, "frobnicate", check_code=2)
    run(lib_dir, "list", "--limit", "many", check_code=2)
    bad = run(lib_dir, "import", "/nonexistent/file.safetensors", "--json", check_code=1)
    assert json.loads(bad.stdout)["items"][0]["status"] == "failed"


def test_rebuild_after_catalog_deleted(lib_dir: Path, tmp_path: Path) -> None:
    src = synth.write_family(tmp_path / "vae.safetensors", "vae_sdxl")
    model_id = json.loads(run(lib_dir, "import", str(src), "--json").stdout)["items"][0]["id"]
    for f in lib_dir.glob("catalog.sqlite*"):
        f.unlink()
    report = json.loads(run(lib_dir, "rebuild", "--json").stdout)
    assert report["models"] == 1
    assert json.loads(run(lib_dir, "show", model_id, "--json").stdout)["id"] == model_id


def test_map_health_sources_scan(lib_dir: Path, tmp_path: Path) -> None:
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "loras").mkdir(parents=True)
    (comfy / "comfyui_version.py").write_text('__version__ = "0.3.64"\n')
    synth.write_family(comfy / "models" / "loras" / "in-place.safetensors", "sd15_lora_kohya")
    src = synth.write_family(tmp_path / "ckpt.safetensors", "sd15_checkpoint")
    run(lib_dir, "import", str(src))
    preview = json.loads(run(lib_dir, "map", "preview", "--comfyui", str(comfy), "--json").stdout)
    assert len(preview["create"]) == 1
    applied = json.loads(run(lib_dir, "map", "apply", "--comfyui", str(comfy), "--json").stdout)
    assert len(applied["created"]) == 1
    assert json.loads(run(lib_dir, "health", "--json").stdout)["status"] == "healthy"
    added = json.loads(run(lib_dir, "sources", "add", str(comfy / "models"), "--json").stdout)
    assert added["scan"]["added"] == 1
    listed = json.loads(run(lib_dir, "sources", "list", "--json").stdout)
    assert listed["items"][0]["files"] == 1
    assert json.loads(run(lib_dir, "scan", "--json").stdout)["added"] == 0
    found = json.loads(run(lib_dir, "search", "in-place", "--json").stdout)
    assert found["items"][0]["location"] == "source"

    # Health names what it counts: the dangling link and the model whose file is gone.
    [link] = applied["created"]
    link_path = link["link_path"] if isinstance(link, dict) else link
    ckpt = json.loads(run(lib_dir, "show", "ckpt", "--json").stdout)
    Path(ckpt["files"][0]["abs_path"]).unlink()
    text = run(lib_dir, "health", check_code=1).stdout
    assert f"  {link_path} (ckpt, dangling)" in text, text
    assert f"  ckpt [{ckpt['id']}] (ckpt.safetensors, missing)" in text, text


def test_map_apply_and_remove_print_readably(lib_dir: Path, tmp_path: Path) -> None:
    comfy = tmp_path / "ComfyUI"
    (comfy / "models").mkdir(parents=True)
    (comfy / "comfyui_version.py").write_text('__version__ = "0.3.64"\n')
    run(lib_dir, "import", str(synth.write_family(tmp_path / "v.safetensors", "vae_sdxl")))
    applied = run(lib_dir, "map", "apply", "--comfyui", str(comfy)).stdout
    assert "created" in applied and "v.safetensors" in applied
    assert "comfyui_model_library" in (comfy / "extra_model_paths.yaml").read_text()
    removed = json.loads(run(lib_dir, "map", "remove", "--comfyui", str(comfy), "--json").stdout)
    assert len(removed["removed"]) == 1
    assert not (comfy / "extra_model_paths.yaml").exists(), "we created it, so it goes with our section"


def test_serve_on_a_busy_port_says_so_and_exits_1(lib_dir: Path) -> None:
    """Not a traceback: which address, why, and what to do."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run(lib_dir, "serve", "--port", str(port), check_code=1)
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "already in use" in proc.stderr and "--port" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_list_pages_past_the_catalogs_500_row_pages(lib_dir: Path) -> None:
    """--limit above 500 (the catalog's largest page) and --all read page by page, with no gap and no
    repeat; they used to stop at 500 (or fail, for --limit 501)."""
    from comfyui_model_library.core.config import load_config
    from comfyui_model_library.core.library import Library
    from tests.core.catalog.conftest import make_model

    with Library.open(load_config(lib_dir)) as lib:
        lib.repo.add_many([make_model(f"m{i:04d}", seed=str(i)) for i in range(1203)])
    every = json.loads(run(lib_dir, "list", "--all", "--json").stdout)
    names = [m["name"] for m in every["items"]]
    assert every["total"] == 1203 and names == [f"m{i:04d}" for i in range(1203)]
    some = json.loads(run(lib_dir, "list", "--limit", "700", "--offset", "10", "--json").stdout)
    assert [m["name"] for m in some["items"]] == names[10:710]
    text = run(lib_dir, "list", "--limit", "501")
    assert len(text.stdout.splitlines()) == 501 and "501 of 1203 models" in text.stderr


def test_import_ends_with_a_one_line_summary(lib_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "in"
    synth.write_family(src / "a.safetensors", "sdxl_lora_kohya")
    synth.write_family(src / "b.safetensors", "sd15_lora_kohya")
    (src / "broken.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json")
    run(lib_dir, "import", str(src / "a.safetensors"), "--no-lookup")
    proc = run(lib_dir, "import", str(src), "--no-lookup", check_code=1)
    last = proc.stderr.strip().splitlines()[-1]
    assert last == "import: 1 imported, 1 already in the library, 1 failed (see above)", proc.stderr
    (tmp_path / "empty").mkdir()
    nothing = run(lib_dir, "import", str(tmp_path / "empty"), "--no-lookup")
    assert f"nothing imported: no model files in {tmp_path / 'empty'}" in nothing.stderr


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_a_library_path_that_is_a_file_is_a_clear_error(tmp_path: Path, json_flag: tuple[str, ...]) -> None:
    """--library naming a file (a typo, a model) ended in a raw FileExistsError traceback."""
    a_file = tmp_path / "model.safetensors"
    a_file.write_bytes(b"not a folder")
    proc = run(a_file, "list", *json_flag, check_code=1)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert str(a_file) in proc.stderr and "folder" in proc.stderr
    if json_flag:
        assert json.loads(proc.stdout)["error"]["code"] == "destination_not_writable"
    assert a_file.read_bytes() == b"not a folder"
