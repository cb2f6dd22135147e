"""What a running library loads into its host process. ComfyUI shares one process (and its memory) with
every plugin: a library that lists, searches, scans, hashes, maps and watches must not pull in the HTTP
stack (httpx brings rich and click: about 10 MiB resident) or the YAML round-tripper until a download or a
yaml edit needs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]

DAY_IN_THE_LIFE = r"""
import json, sys, time
from pathlib import Path
from tests import synth
preloaded = set(sys.modules)
from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery

install = Path(sys.argv[1])
with Library.open(load_config(Path(sys.argv[2]))) as library:
    library.sources.add(install / "models", read_only=True, auto=True, scan=False)
    library.sources.scan()
    library.start_background(poll_seconds=0.2)
    deadline = time.monotonic() + 60
    while not all(m.hashed for m in library.catalog.list_models(ModelQuery(limit=10)).items):
        assert time.monotonic() < deadline, "hashing did not finish"
        time.sleep(0.05)
    assert library.catalog.list_models(ModelQuery(limit=10)).total == 2
    library.health.check()
    before_mapping = sorted(set(sys.modules) - preloaded)
    library.mapping.apply(install)  # view mode writes its yaml section: that needs ruamel
print(json.dumps({"before_mapping": before_mapping, "at_end": sorted(set(sys.modules) - preloaded)}))
"""

HTTP_STACK = ("httpx", "rich", "click", "huggingface_hub", "requests")


def test_a_working_library_leaves_the_http_and_yaml_stacks_unloaded(tmp_path: Path) -> None:
    from tests import synth

    install = tmp_path / "ComfyUI"
    (install / "models" / "loras").mkdir(parents=True)
    (install / "models" / "checkpoints").mkdir(parents=True)
    (install / "main.py").write_text("# ComfyUI\n")
    (install / "comfyui_version.py").write_text('__version__ = "0.3.64"\n')
    synth.write_family(install / "models" / "loras" / "detail.safetensors", "sdxl_lora_kohya")
    synth.write_family(install / "models" / "checkpoints" / "base.safetensors", "sdxl_checkpoint")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", DAY_IN_THE_LIFE, str(install), str(tmp_path / "library")],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    roots = {phase: {name.split(".")[0] for name in names} for phase, names in loaded.items()}
    assert roots["at_end"].isdisjoint(HTTP_STACK), sorted(roots["at_end"] & set(HTTP_STACK))
    assert "ruamel" not in roots["before_mapping"]
    assert "comfyui_model_library.core.sources.background" in loaded["at_end"]  # the day did run
