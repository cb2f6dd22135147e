"""The first walk in a child process: same catalogue as a walk in-process, safe beside the host, clear
failures that let the host walk the folders itself."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from comfyui_model_library.core.sources.child import FirstScan
from tests import synth

FAMILIES = [
    ("sdxl_checkpoint", "checkpoints/juggernautXL.safetensors"),
    ("sdxl_lora_kohya", "loras/style/detail.safetensors"),
    ("vae_flux", "vae/ae.safetensors"),
]


@pytest.fixture
def install(tmp_path: Path) -> Path:
    """A ComfyUI folder with three models of the user's (and a main.py, as ComfyUI has)."""
    comfy = tmp_path / "ComfyUI"
    for family, rel in FAMILIES:
        (comfy / "models" / rel).parent.mkdir(parents=True, exist_ok=True)
        synth.write_family(comfy / "models" / rel, family)
    (comfy / "main.py").write_text("# ComfyUI\n")
    (comfy / "nodes.py").write_text("# ComfyUI\n")
    return comfy


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_the_child_catalogues_like_an_in_process_walk(tmp_path: Path, install: Path) -> None:
    before = _snapshot(install / "models")
    root = tmp_path / "library"
    scan = FirstScan.start(root, [install / "models"], comfyui_dir=install)
    assert scan.wait_opened(60), scan.error
    result = scan.result(timeout=120)
    assert result is not None, scan.error
    assert result["scan"]["added"] == 3 and result["warnings"] == []
    assert _snapshot(install / "models") == before, "nothing is written into a source"

    with Library.open(load_config(root)) as library:
        models = {m.name: m for m in library.catalog.list_models(ModelQuery(limit=50)).items}
        assert set(models) == {"juggernautXL", "detail", "ae"}
        assert (models["juggernautXL"].type, models["juggernautXL"].location) == ("checkpoint", "source")
        assert library.catalog.list_models(ModelQuery(q="jugg")).total == 1
        (source,) = library.sources.list_sources()
        assert source["path"] == str((install / "models").resolve()) and source["auto"]
        # The same walk in-process afterwards finds nothing new: the child recorded every file.
        assert library.sources.scan()["added"] == 0


def test_the_child_reads_the_headers_after_its_report(tmp_path: Path, install: Path) -> None:
    root = tmp_path / "library"
    scan = FirstScan.start(root, [install / "models"], comfyui_dir=install)
    assert scan.result(timeout=120) is not None, scan.error
    finished: list[bool] = []
    scan.when_finished(lambda: finished.append(scan.inspecting()))
    assert scan.wait_finished(120)
    assert finished == [False] and not scan.inspecting()
    assert scan.inspected == 3 and scan.process is not None and scan.process.returncode == 0
    with Library.open(load_config(root)) as library:
        models = {m.name: m for m in library.catalog.list_models(ModelQuery(limit=50)).items}
        assert {n: m.base_model for n, m in models.items()} == {
            "juggernautXL": "sdxl",
            "detail": "sdxl",
            "ae": "flux1",
        }
        assert library.catalog.list_models(ModelQuery(base_model="flux1")).total == 1
    later: list[str] = []
    scan.when_finished(lambda: later.append("ran at once"))
    assert later == ["ran at once"]


def test_the_child_stops_when_the_host_goes(tmp_path: Path) -> None:
    """The host keeps the child's stdin open while it runs; its end (the host's exit) stops the child."""
    waits = _stand_in(
        tmp_path,
        "sys.stdin.readline()\nprint('report ' + json.dumps({'scan': {}, 'warnings': []}), flush=True)\n"
        "sys.stdin.read()\nsys.exit(0)",
    )
    scan = FirstScan.start(tmp_path / "library", [], python=waits)
    assert scan.result(timeout=30) == {"scan": {}, "warnings": []}
    assert not scan.wait_finished(0.5) and scan.inspecting(), "it runs as long as the host does"
    scan.stop()
    assert scan.wait_finished(30) and not scan.inspecting()


def test_the_host_opens_the_catalog_while_the_child_walks(tmp_path: Path, install: Path) -> None:
    root = tmp_path / "library"
    scan = FirstScan.start(root, [install / "models"])
    assert scan.wait_opened(60), scan.error
    with Library.open(load_config(root)) as library:  # migrated already: nothing to race
        library.catalog.list_models(ModelQuery())
        assert scan.result(timeout=120) is not None, scan.error
        assert library.catalog.list_models(ModelQuery()).total == 3


def test_a_folder_that_cannot_be_a_source_is_a_warning_and_the_others_are_walked(
    tmp_path: Path, install: Path
) -> None:
    root = tmp_path / "library"
    inside_library = root / "models"  # the library's own folder is never a source
    scan = FirstScan.start(root, [inside_library, install / "models"])
    result = scan.result(timeout=120)
    assert result is not None, scan.error
    assert result["scan"]["added"] == 3
    assert len(result["warnings"]) == 1 and str(inside_library) in result["warnings"][0]


def test_a_library_root_that_is_a_file_fails_with_the_reason(tmp_path: Path, install: Path) -> None:
    root = tmp_path / "not-a-folder"
    root.write_text("a file where the library should be")
    scan = FirstScan.start(root, [install / "models"])
    assert not scan.wait_opened(60)
    assert scan.result(timeout=60) is None
    assert "exited with" in scan.error and "not-a-folder" in scan.error
    assert root.read_text() == "a file where the library should be"


def test_a_missing_catalog_beside_stored_models_is_left_to_the_host_to_rebuild(
    tmp_path: Path, install: Path, incoming: Path
) -> None:
    root = tmp_path / "library"
    synth.write_family(incoming / "kept.safetensors", "sdxl_lora_kohya")
    with Library.open(load_config(root, import_roots=(incoming,))) as library:
        library.imports.import_paths([incoming / "kept.safetensors"])
    (root / "catalog.sqlite").unlink()
    scan = FirstScan.start(root, [install / "models"])
    assert not scan.wait_opened(60)
    assert scan.result(timeout=60) is None and "rebuilt first" in scan.error
    assert not (root / "catalog.sqlite").exists(), "the child created no empty catalog"
    with Library.open(load_config(root)) as library:  # the host's open rebuilds it
        assert [m.name for m in library.catalog.list_models(ModelQuery()).items] == ["kept"]


def test_a_python_that_cannot_start_is_reported(tmp_path: Path, install: Path) -> None:
    scan = FirstScan.start(tmp_path / "library", [install / "models"], python=str(tmp_path / "no-python"))
    assert not scan.wait_opened(1)
    assert scan.result() is None and "could not start" in scan.error
    assert not (tmp_path / "library").exists()


def _stand_in(tmp_path: Path, body: str) -> str:
    """A 'Python' that ignores the bootstrap, says it opened the catalog, then runs ``body``."""
    script = tmp_path / "stand-in-python"
    script.write_text(f"#!{sys.executable}\nimport json, sys, time\nprint('opened', flush=True)\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_a_child_that_prints_no_report_is_a_failure(tmp_path: Path) -> None:
    scan = FirstScan.start(tmp_path / "library", [], python=_stand_in(tmp_path, "print('{not json')"))
    assert scan.wait_opened(30)
    assert scan.result(timeout=30) is None and "no report" in scan.error


def test_a_walk_that_takes_too_long_is_stopped(tmp_path: Path) -> None:
    scan = FirstScan.start(tmp_path / "library", [], python=_stand_in(tmp_path, "time.sleep(60)"))
    assert scan.wait_opened(30)
    assert scan.result(timeout=0.5) is None and "longer than" in scan.error
    assert scan.process is not None and scan.process.poll() is not None, "the child was stopped"


def test_the_request_is_json_on_stdin(tmp_path: Path) -> None:
    echo = _stand_in(
        tmp_path, "print('report ' + json.dumps({'scan': json.loads(sys.stdin.readline()), 'warnings': []}))"
    )
    folder = tmp_path / "a folder with spaces, and ünïcode"
    scan = FirstScan.start(tmp_path / "library", [folder], comfyui_dir=tmp_path, python=echo)
    result = scan.result(timeout=30)
    assert result is not None, scan.error
    expected = {"root": str(tmp_path / "library"), "folders": [str(folder)], "comfyui_dir": str(tmp_path)}
    assert result["scan"] == expected


def test_a_child_that_says_nothing_for_too_long_is_stopped_and_the_host_goes_on(tmp_path: Path) -> None:
    """A walk stuck on a share that stopped answering: the host does not wait for it for good."""
    silent = _stand_in(tmp_path, "time.sleep(60)")
    scan = FirstScan.start(tmp_path / "library", [], python=silent, stall_seconds=3)
    assert scan.wait_opened(30)
    assert scan.result() is None, "a stalled walk has no report"
    assert scan.stalled and "said nothing for 3 s" in scan.error
    assert scan.process is not None and scan.process.wait(10) is not None
    assert scan.process.returncode < 0, "the child was killed, not waited for until its sleep ended"


def test_a_slow_walk_that_keeps_saying_how_far_it_is_is_not_stopped(tmp_path: Path) -> None:
    slow = _stand_in(
        tmp_path,
        "for n in range(10):\n"
        "    time.sleep(0.4); print(f'walked {n * 500}', flush=True)\n"
        "print('report ' + json.dumps({'scan': {'added': 5000}, 'warnings': []}), flush=True)",
    )
    scan = FirstScan.start(tmp_path / "library", [], python=slow, stall_seconds=3)
    result = scan.result(timeout=60)
    assert result is not None and result["scan"]["added"] == 5000, scan.error
    assert not scan.stalled


def test_a_child_stuck_reading_headers_hands_them_back_to_the_host(tmp_path: Path) -> None:
    stuck = _stand_in(
        tmp_path,
        "print('report ' + json.dumps({'scan': {}, 'warnings': []}), flush=True)\n"
        "print('inspected 500', flush=True)\n"
        "time.sleep(60)",
    )
    scan = FirstScan.start(tmp_path / "library", [], python=stuck, stall_seconds=3)
    assert scan.result(timeout=30) is not None, scan.error
    finished: list[bool] = []
    scan.when_finished(lambda: finished.append(scan.inspecting()))
    assert scan.wait_finished(30), "the stuck child was never given up on"
    assert scan.stalled and finished == [False], "the host reads the rest once the child is given up"
    assert scan.inspected == 500


def test_the_real_child_says_how_far_its_walk_is(tmp_path: Path, install: Path) -> None:
    for i in range(1200):  # more than two progress steps of 500
        synth.write_family(install / "models" / "loras" / "many" / f"m{i}.safetensors", "sd15_loha")
    for start in ("first", "second"):  # the second walk finds every file unchanged, and says so too
        scan = FirstScan.start(tmp_path / "library", [install / "models"], stall_seconds=60)
        result = scan.result(timeout=120)
        assert result is not None, scan.error
        assert scan.walked >= 1000, f"{start} walk: walked lines keep the watchdog quiet on a long walk"
        assert scan.wait_finished(120)
