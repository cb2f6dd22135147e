"""The plugin entry as ComfyUI loads it, without a ComfyUI: cost, isolation, route registration.

Each case runs in a fresh interpreter, since what is measured is what an import pulls in. The host's
loader is reproduced exactly (``spec_from_file_location`` under the folder's path-derived name); the
``server`` module stands in for ComfyUI's with a real aiohttp route table and event loop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "huggingface_hub", "httpx", "blake3", "psutil", "sqlite3")

LOAD_LIKE_COMFYUI = r"""
import asyncio, importlib.util, json, os, sys, time, types
from aiohttp import web

class PromptServer:
    instance = None
    def __init__(self, loop):
        PromptServer.instance = self
        self.loop = loop
        self.routes = web.RouteTableDef()
        self.sent = []
    def send_sync(self, event, data, sid=None):
        self.sent.append((event, data))

server = types.ModuleType("server")
server.PromptServer = PromptServer
sys.modules["server"] = server
PromptServer(asyncio.new_event_loop())

plugin_dir = sys.argv[1]
preloaded = set(sys.modules)
start = time.perf_counter()
init_file = os.path.join(plugin_dir, "__init__.py")
spec = importlib.util.spec_from_file_location(plugin_dir.replace(".", "_x_"), init_file)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
elapsed = time.perf_counter() - start
routes = sorted({r.path for r in PromptServer.instance.routes if hasattr(r, "path")})
print(json.dumps({
    "elapsed": elapsed,
    "new_modules": sorted(set(sys.modules) - preloaded),
    "routes": routes,
    "nodes": sorted(module.NODE_CLASS_MAPPINGS),
    "display": module.NODE_DISPLAY_NAME_MAPPINGS,
    "web": module.WEB_DIRECTORY,
}))
"""

PIP_IMPORT = r"""
import json, sys, types
server = types.ModuleType("server")
class PromptServer:
    instance = None
server.PromptServer = PromptServer
sys.modules["server"] = server
preloaded = set(sys.modules)
import comfyui_model_library as plugin
new_modules = sorted(set(sys.modules) - preloaded)
print(json.dumps({"new_modules": new_modules, "nodes": sorted(plugin.NODE_CLASS_MAPPINGS)}))
"""


def run_python(code: str, *args: str, library: Path) -> dict:
    env = {**os.environ, "MODEL_LIBRARY_ROOT": str(library)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def plugin_folder(tmp_path: Path) -> Path:
    """The project as ComfyUI sees it: ``custom_nodes/comfyui-model-library`` (a symlink)."""
    folder = tmp_path / "custom_nodes" / "comfyui-model-library"
    folder.parent.mkdir()
    folder.symlink_to(PROJECT, target_is_directory=True)
    return folder


def test_loaded_by_comfyui_registers_routes_and_nodes_without_building_the_library(
    plugin_folder: Path, tmp_path: Path
) -> None:
    library = tmp_path / "library"
    out = run_python(LOAD_LIKE_COMFYUI, str(plugin_folder), library=library)
    assert out["nodes"] == [
        "LibraryCheckpointLoader",
        "LibraryLoraLoader",
        "LibraryLoraLoaderModelOnly",
        "LibraryModelPath",
        "LibraryVAELoader",
    ]
    assert set(out["display"].values()) == {
        "Library Checkpoint Loader",
        "Library LoRA Loader",
        "Library LoRA Loader (model only)",
        "Library VAE Loader",
        "Library Model Path",
    }
    assert out["web"] == "./web/js"
    assert "/model-library/v1/models" in out["routes"]
    assert "/model-library/v1/imports" in out["routes"]
    # Registration is cheap: nothing was opened or created on disk.
    assert not library.exists()


def test_loading_pulls_in_no_heavy_module(plugin_folder: Path, tmp_path: Path) -> None:
    out = run_python(LOAD_LIKE_COMFYUI, str(plugin_folder), library=tmp_path / "library")
    top_level = {name.split(".")[0] for name in out["new_modules"]}
    assert not top_level & set(HEAVY), sorted(top_level & set(HEAVY))


def test_pip_installed_import_never_touches_comfyui(tmp_path: Path) -> None:
    library = tmp_path / "library"
    out = run_python(PIP_IMPORT, library=library)
    assert len(out["nodes"]) == 5
    top_level = {name.split(".")[0] for name in out["new_modules"]}
    assert not top_level & {*HEAVY, "aiohttp", "folder_paths", "comfy"}
    assert not any(name.startswith("comfyui_model_library.server_routes") for name in out["new_modules"])
    assert not library.exists()
