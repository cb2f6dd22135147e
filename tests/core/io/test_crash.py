"""kill -9 at random points of copy and move imports: never a partial file at a final name (THREATS)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from comfyui_model_library.core.io.moves import recover_moves

DATA_SIZE = 12 * 1024 * 1024

WORKER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from comfyui_model_library.core.io.copying import copy_and_hash
    from comfyui_model_library.core.io.fileops import commit_file, open_source
    from comfyui_model_library.core.io.moves import finish_move, move_and_hash, move_journal
    mode, src, lib = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    print("ready", flush=True)
    for i in range(10_000):
        tmp = lib / ".tmp" / f"{i}.part"
        if mode == "copy":
            fd, st = open_source(src)
            try:
                copy_and_hash(fd, st, tmp, src_path=src)
            finally:
                os.close(fd)
            commit_file(tmp, lib / "models" / f"{i}.bin")
        else:
            move_and_hash(src, tmp)
            commit_file(tmp, lib / "models" / f"{i}.bin")
            finish_move(move_journal(tmp))
            os.link(lib / "models" / f"{i}.bin", src)  # give the user a file to move again
            os.unlink(lib / "models" / f"{i}.bin")
    """
)


def _run_and_kill(mode: str, src: Path, lib: Path, delay: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, mode, str(src), str(lib)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()


def test_kill_during_copy_imports_leaves_only_temp_files(tmp_path: Path) -> None:
    data = os.urandom(DATA_SIZE)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    lib = tmp_path / "lib"
    rng = random.Random(1234)
    for _ in range(4):
        (lib / ".tmp").mkdir(parents=True, exist_ok=True)
        (lib / "models").mkdir(exist_ok=True)
        _run_and_kill("copy", src, lib, rng.uniform(0.05, 0.6))
        for final in (lib / "models").iterdir():
            assert final.read_bytes() == data, f"partial file at a final name: {final}"
        assert all(p.suffix == ".part" for p in (lib / ".tmp").iterdir())
        for leftover in (lib / ".tmp").iterdir():
            leftover.unlink()  # what the importer's startup cleanup does
    assert src.read_bytes() == data


def test_kill_during_move_imports_keeps_the_source_bytes(tmp_path: Path) -> None:
    data = os.urandom(DATA_SIZE)
    src = tmp_path / "user" / "src.bin"
    src.parent.mkdir()
    lib = tmp_path / "lib"
    rng = random.Random(99)
    for _ in range(4):
        if not src.exists():
            src.write_bytes(data)
        (lib / ".tmp").mkdir(parents=True, exist_ok=True)
        (lib / "models").mkdir(exist_ok=True)
        _run_and_kill("move", src, lib, rng.uniform(0.05, 0.6))
        recover_moves(lib / ".tmp")
        places = [p for p in [src, *(lib / "models").iterdir()] if p.exists()]
        assert places, "the moved bytes exist nowhere"
        for place in places:
            assert place.read_bytes() == data
        assert not list((lib / ".tmp").glob("*.move.json"))
        for final in list((lib / "models").iterdir()):
            if src.exists():
                final.unlink()
            else:
                os.rename(final, src)
        for leftover in (lib / ".tmp").iterdir():
            leftover.unlink()
