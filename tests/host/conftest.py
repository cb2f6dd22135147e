"""A real ComfyUI with this plugin, started once per session (the host tier).

Needs ``COMFYUI_PATH`` (a ComfyUI checkout) and ``COMFYUI_PYTHON`` (a Python that runs it, with this
project installed: ``scripts/host-setup``); tests that need them skip otherwise.

The server runs from a *shadow install* in a temp folder: ComfyUI's top-level files copied, its code
folders symlinked, and fresh ``models/``, ``custom_nodes/`` (holding a symlink to this project),
``input/``, ``output/`` and ``user/``. ComfyUI then treats the temp folder as its own (it locates itself
by ``realpath(__file__)``), so the mapping writes its links and ``extra_model_paths.yaml`` there and the
checkout is never touched. The library lives in ``MODEL_LIBRARY_ROOT``, also under the temp folder.

``COMFYUI_FRONTEND`` runs the host with another frontend than the one its venv pins: a version of
``comfyui-frontend-package`` (``1.58.1``) or ``newest``. It is installed once into a cache folder with the
host's own pip (``--target``, so the host's venv is never changed) and put first on the server's
``PYTHONPATH``; the session then checks that the server really serves that version.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.synth import write_family

PROJECT = Path(__file__).resolve().parents[2]
PLUGIN_FOLDER = "comfyui-model-library"
PRE_EXISTING_LORA = "already-here-lora"
HOST_TEMPLATE = "flux_dev_checkpoint_example.json"
# A file only ComfyUI's own lists know: in a folder another plugin registers with folder_paths at run time
# (not in the install's models/ nor in any extra_model_paths.yaml).
PLUGIN_FOLDER_MODEL = "plugin-registered-upscaler.safetensors"
CUSTOM_LOADER = """
import folder_paths


class HostTierCustomLoader:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"strength": ("FLOAT", {"default": 1.0}),
                             "my_lora": (folder_paths.get_filename_list("loras"),)}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, strength, my_lora):
        return (my_lora,)


# The file ComfyUI's own loaders would open for a LoRA name (folder_paths.get_full_path).
class HostTierFullPath:

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"lora_name": (folder_paths.get_filename_list("loras"),)}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, lora_name):
        return (folder_paths.get_full_path_or_raise("loras", lora_name),)


NODE_CLASS_MAPPINGS = {"HostTierCustomLoader": HostTierCustomLoader, "HostTierFullPath": HostTierFullPath}
"""
READY_TIMEOUT_S = 90.0
FRESH_FOLDERS = ("models", "custom_nodes", "input", "output", "user", "temp")
PACKAGE_PARTS = ("__init__.py", "_host.py", "nodes", "core", "server_routes")
USER_EXTRA_PATHS = b"# my other UI\nother_ui:\n    base_path: /nonexistent/other-ui\n    loras: models/Lora\n"
GUARD_HEADERS = {"X-Model-Library": "1", "Content-Type": "application/json"}


@dataclass(frozen=True)
class ComfyUI:
    url: str
    install: Path  # the shadow install: models/, input/, custom_nodes/ (our plugin symlinked in), ...
    library: Path  # MODEL_LIBRARY_ROOT
    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)


def host_paths() -> tuple[Path, Path]:
    comfy, python = os.environ.get("COMFYUI_PATH"), os.environ.get("COMFYUI_PYTHON")
    if not comfy or not python:
        pytest.skip("host tier: set COMFYUI_PATH and COMFYUI_PYTHON (see docs/host.md)")
    comfy_path, python_path = Path(comfy), Path(python)
    if not (comfy_path / "main.py").is_file():
        pytest.fail(f"COMFYUI_PATH={comfy} holds no main.py: point it at a ComfyUI checkout")
    if not python_path.exists():
        pytest.fail(f"COMFYUI_PYTHON={python} does not exist: run scripts/host-setup")
    return comfy_path, python_path


def frontend_override(python: Path) -> tuple[Path, str] | None:
    """``COMFYUI_FRONTEND``'s package folder and version (installed on first use), or None."""
    wanted = os.environ.get("COMFYUI_FRONTEND", "").strip()
    if not wanted:
        return None
    spec = "comfyui-frontend-package" if wanted == "newest" else f"comfyui-frontend-package=={wanted}"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "model-library-host"
    folder = cache / f"frontend-{wanted}"
    if wanted == "newest" or not (folder / "comfyui_frontend_package").is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--no-deps", "--target", str(folder), spec],
            check=True,
            timeout=600,
        )
    versions = sorted(folder.glob("comfyui_frontend_package-*.dist-info"))
    if not versions:
        pytest.fail(f"COMFYUI_FRONTEND={wanted}: pip installed no comfyui-frontend-package into {folder}")
    return folder, versions[-1].name.removesuffix(".dist-info").split("-", 1)[1]


def shadow_install(checkout: Path, target: Path) -> Path:
    """A ComfyUI folder of its own that shares the checkout's code (see the module docstring)."""
    target.mkdir()
    for entry in checkout.iterdir():
        if (
            entry.name in FRESH_FOLDERS
            or entry.name == "extra_model_paths.yaml"
            or entry.name.startswith(".")
        ):
            continue
        if entry.is_dir():
            (target / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
        else:
            shutil.copy2(entry, target / entry.name)
    for name in FRESH_FOLDERS:
        (target / name).mkdir()
    (target / "models" / "checkpoints").mkdir()
    return target


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-4000:]
            pytest.fail(f"ComfyUI exited with {process.returncode} before it was ready:\n{tail}")
        try:
            if httpx.get(f"{url}/system_stats", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"ComfyUI was not ready after {READY_TIMEOUT_S:.0f} s:\n{log_path.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def host_hub() -> Iterator[Any]:
    """A loopback Hub for the host's library (its HF_ENDPOINT): synthetic files at the paths ComfyUI's
    template ``flux_dev_checkpoint_example.json`` names, so a workflow fetch runs inside ComfyUI."""
    from tests.core.workflows.test_fetch import hub_for, template

    server = hub_for([template(HOST_TEMPLATE)])
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def comfyui(tmp_path_factory: pytest.TempPathFactory, host_hub: Any) -> Iterator[ComfyUI]:
    yield from start_comfyui(tmp_path_factory, host_hub)


def start_comfyui(
    tmp_path_factory: pytest.TempPathFactory, host_hub: Any, extra_env: dict[str, str] | None = None
) -> Iterator[ComfyUI]:
    """A started host (see the module's docstring); ``extra_env`` may name "{root}" (its temp folder)."""
    comfy_path, python = host_paths()
    root = tmp_path_factory.mktemp("comfyui-host")
    install, library = shadow_install(comfy_path, root / "ComfyUI"), root / "library"
    library.mkdir()
    (install / "custom_nodes" / PLUGIN_FOLDER).symlink_to(PROJECT, target_is_directory=True)
    # A custom node with a loader of its own (as many plugins have): its file list is ComfyUI's LoRAs.
    # It also registers a model folder of its own at run time (as some plugins do).
    registered = root / "other-plugin-models"
    write_family(registered / PLUGIN_FOLDER_MODEL, "esrgan_new")
    register = f"\nfolder_paths.add_model_folder_path('upscale_models', {str(registered)!r})\n"
    (install / "custom_nodes" / "host_tier_custom_loader.py").write_text(CUSTOM_LOADER + register)
    # A model the user had before installing the plugin: catalogued in place at the first start.
    write_family(install / "models" / "loras" / f"{PRE_EXISTING_LORA}.safetensors", "sdxl_lora_kohya")
    # The user's own extra_model_paths.yaml, with the block an earlier version of the plugin wrote into it
    # (the shared section name, this library's views): the first start of this version gives it back.
    (install / "extra_model_paths.yaml").write_bytes(USER_EXTRA_PATHS)
    from comfyui_model_library.core.mapping.comfyui import read_install
    from comfyui_model_library.core.mapping.extra_paths import write_section

    views = library / "views" / read_install(install).id
    write_section(install / "extra_model_paths.yaml", views, {"loras": "loras", "checkpoints": "checkpoints"})
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_LIBRARY_", "HF_TOKEN"))}
    env.update(
        MODEL_LIBRARY_ROOT=str(library),
        HF_ENDPOINT=host_hub.url,  # the loopback Hub: the host never reaches the real one
        HF_HOME=str(root / "hf-home"),
        PYTHONUNBUFFERED="1",
    )
    env.update({k: v.format(root=root) for k, v in (extra_env or {}).items()})
    frontend = frontend_override(python)
    if frontend is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(frontend[0]), env.get("PYTHONPATH"))))
    # As after `pip install`: bytecode exists, so the import time measured is the one users see on every
    # start (the very first import after an update also compiles, once).
    subprocess.run(
        [str(python), "-m", "compileall", "-q", *(str(PROJECT / p) for p in PACKAGE_PARTS)],
        check=True,
        env=env,
    )
    log_path = root / "comfyui.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(python),
                "main.py",
                "--cpu",
                "--listen",
                "127.0.0.1",
                "--port",
                str(port),
                "--database-url",
                "sqlite:///:memory:",
            ],
            cwd=install,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log_path)
        if frontend is not None:
            served = str(frontend[0] / "comfyui_frontend_package")
            assert served in log_path.read_text(errors="replace"), (
                f"COMFYUI_FRONTEND: the server does not serve {served} (see its 'web root' line)"
            )
            print(f"host tier: frontend {frontend[1]} from {frontend[0]}")
        yield ComfyUI(url=url, install=install, library=library, log_path=log_path, process=process)
    finally:
        _stop(process)


# -- the page: Chromium over the host ComfyUI ---------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from tests.chromium import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


def watch_our_errors(page: Any) -> list[str]:
    """The page errors raised, and console errors logged, by our modules (the host's are not ours)."""
    ours: list[str] = []
    page.on(
        "pageerror",
        lambda exc: (
            ours.append(f"{exc}\n{exc.stack}") if "comfyui-model-library" in str(exc.stack or "") else None
        ),
    )
    page.on(
        "console",
        lambda msg: (
            ours.append(f"console.{msg.type}: {msg.text}")
            if msg.type == "error" and "comfyui-model-library" in str((msg.location or {}).get("url", ""))
            else None
        ),
    )
    return ours
