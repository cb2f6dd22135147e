"""Faults during imports: kill -9 at random points, two importers at once, a full disk."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests import synth
from tests.invariants import check_library_invariants

REPO = Path(__file__).resolve().parents[3]

_IMPORT_SCRIPT = """
import sys, json
from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
root, src, move = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
with Library.open(load_config(root)) as lib:
    print("ready", flush=True)
    items = lib.imports.import_paths([src], move=move)
    print(json.dumps([i.to_dict() for i in items]), flush=True)
"""


def _big_model(path: Path, mib: int) -> Path:
    """A valid safetensors file of about ``mib`` MiB (one big tensor) with an SDXL LoRA's names."""
    tensors = dict(synth.FAMILIES["sdxl_lora_kohya"]["tensors"])
    tensors["zz_padding"] = ("U8", (mib * 1024 * 1024,))
    return synth.write_safetensors(path, tensors)


def _run_import(root: Path, src: Path, move: bool) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _IMPORT_SCRIPT, str(root), str(src), "1" if move else "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


@pytest.mark.parametrize("move", [False, True], ids=["copy", "move"])
def test_kill_9_at_random_points_keeps_invariants(tmp_path: Path, move: bool) -> None:
    rng = random.Random(1234 + move)
    root = tmp_path / "lib"
    incoming = tmp_path / "in"
    incoming.mkdir()
    original = _big_model(incoming / "big.safetensors", 96).read_bytes()
    # Measure one full run to spread the kill points across it.
    src = incoming / "big.safetensors"
    t0 = time.monotonic()
    probe = _run_import(tmp_path / "probe-lib", src, False)
    probe.communicate(timeout=120)
    full = max(0.2, time.monotonic() - t0)
    for round_no in range(6):
        if not src.exists():
            src.write_bytes(original)
        proc = _run_import(root, src, move)
        assert proc.stdout is not None
        proc.stdout.readline()  # "ready": the library is open, the import starts now
        time.sleep(rng.uniform(0, full * 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()
        # Restart: recovery runs at open, then every invariant must hold.
        with Library.open(load_config(root)) as lib:
            models = lib.catalog.list_models(ModelQuery()).items
            in_library = [m for m in models if m.hashes.sha256]
        check_library_invariants(root, full_hash=True)
        if move:
            # Invariant 5: the source bytes exist in at least one place.
            assert (src.exists() and src.read_bytes() == original) or in_library, (
                f"round {round_no}: bytes lost"
            )
            if src.exists() and in_library:
                pass  # both: a duplicate on the next round, harmless
        else:
            assert src.read_bytes() == original, "copy mode never touches the source"
        assert len(in_library) <= 1
    # A final clean import completes and de-duplicates against whatever an earlier round committed.
    if not src.exists():
        src.write_bytes(original)
    with Library.open(load_config(root)) as lib:
        [item] = lib.imports.import_paths([src], move=move)
        assert item.status in ("imported", "duplicate"), item.error
        assert lib.catalog.list_models(ModelQuery()).total == 1
    check_library_invariants(root)


def test_same_file_imported_by_two_processes_at_once_gives_one_model(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    incoming = tmp_path / "in"
    incoming.mkdir()
    src = _big_model(incoming / "same.safetensors", 32)
    Library.open(load_config(root)).close()
    procs = [_run_import(root, src, False) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    statuses = sorted(
        out.strip().splitlines()[-1].split('"status": "')[1].split('"')[0] for out, _ in outputs
    )
    assert statuses == ["duplicate", "imported"], outputs
    with Library.open(load_config(root)) as lib:
        assert lib.catalog.list_models(ModelQuery()).total == 1
    check_library_invariants(root)


_FSIZE_SCRIPT = """
import resource, signal, sys, json
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
root, src = sys.argv[1], sys.argv[2]
lib = Library.open(load_config(root))
resource.setrlimit(resource.RLIMIT_FSIZE, (4 * 1024 * 1024, resource.RLIM_INFINITY))
items = lib.imports.import_paths([src])
print(json.dumps([i.to_dict() for i in items]))
"""


def test_disk_full_mid_copy_fails_cleanly(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    incoming = tmp_path / "in"
    incoming.mkdir()
    src = _big_model(incoming / "big.safetensors", 16)
    before = src.read_bytes()
    out = subprocess.run(
        [sys.executable, "-c", _FSIZE_SCRIPT, str(root), str(src)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=True,
    ).stdout
    assert '"status": "failed"' in out and "insufficient_space" in out, out
    assert src.read_bytes() == before
    assert not list((root / "models").rglob("*.safetensors"))
    assert not list((root / ".tmp").glob("stage-*"))
    check_library_invariants(root)
