"""Real-Chromium fixtures: a real library on tmp_path served by ``make_app`` on 127.0.0.1 (in a thread with
its own event loop), and Debian's chromium driven by Playwright's sync API."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import Hashes, Model, ModelFile, ModelSource
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS

SCREENSHOTS.mkdir(parents=True, exist_ok=True)


@dataclass
class ServedLibrary:
    library: Library
    url: str
    root: Path
    incoming: Path
    comfy: Path | None = None
    _stop: Any = field(repr=False, default=None)


def _serve(library: Library) -> tuple[str, Any]:
    from aiohttp import web

    from comfyui_model_library.server_routes.app import make_app

    ready = threading.Event()
    state: dict[str, Any] = {}

    def main() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(make_app(library), access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        state["port"] = runner.addresses[0][1]
        state["loop"] = loop
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=main, name="browser-test-server", daemon=True)
    thread.start()
    if not ready.wait(15):
        raise RuntimeError("the test server did not start within 15 s")

    def stop() -> None:
        state["loop"].call_soon_threadsafe(state["loop"].stop)
        thread.join(15)

    return f"http://127.0.0.1:{state['port']}", stop


def _served(tmp_path: Path, comfy: Path | None, **overrides: Any) -> Iterator[ServedLibrary]:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    config = load_config(tmp_path / "library", import_roots=(incoming,), comfyui_root=comfy, **overrides)
    library = Library.open(config)
    url, stop = _serve(library)
    try:
        yield ServedLibrary(library=library, url=url, root=config.root, incoming=incoming, comfy=comfy)
    finally:
        stop()
        library.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedLibrary]:
    yield from _served(tmp_path, None)


@pytest.fixture
def served_mapped(tmp_path: Path) -> Iterator[ServedLibrary]:
    """A served library whose host install is a real ComfyUI folder; its path holds markup, which the
    panel must show as text."""
    comfy = tmp_path / "<b>ComfyUI"
    (comfy / "models" / "loras").mkdir(parents=True)
    (comfy / "models" / "checkpoints").mkdir()
    (comfy / "main.py").write_text("# ComfyUI\n")
    (comfy / "comfyui_version.py").write_text('__version__ = "0.3.64"\n')
    yield from _served(tmp_path, comfy)


@pytest.fixture
def served_hub(tmp_path: Path) -> Iterator[ServedLibrary]:
    """A served library whose Hub is ``tests/hub_server.py`` on 127.0.0.1 with ``org/sdxl-model``: a
    weights file, a README and a VAE in a subfolder."""
    from tests import synth
    from tests.hub_server import make_repo, start_hub

    weights = synth.safetensors_bytes({"w": ("F32", (600,))})
    vae = synth.safetensors_bytes({"v": ("F32", (300,))})
    repo = make_repo(
        "org/sdxl-model",
        {
            "model.safetensors": weights,
            "README.md": b"# a model\n",
            "vae/diffusion_pytorch_model.safetensors": vae,
        },
    )
    hub_url, stop_hub = start_hub([repo])
    try:
        yield from _served(tmp_path, None, hf_endpoint=hub_url)
    finally:
        stop_hub()


# Package scope, not session: Playwright's sync API keeps an asyncio loop running in this thread while it
# lives, which would break every pytest-asyncio test collected after the browser tests.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (or set MODEL_LIBRARY_CHROMIUM)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 820})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


def wait_or_explain(page: Any, served: ServedLibrary, selector: str, timeout_ms: int = 30_000) -> None:
    """``wait_for_selector``; when it times out, the failure says what the panel and the server were doing
    (the jobs shown, the toasts, page errors and the server's jobs), so a rare failure explains itself."""
    try:
        page.wait_for_selector(selector, timeout=timeout_ms)
    except Exception as exc:
        shown = page.evaluate(
            """() => [...document.querySelectorAll('.mlib-job, .mlib-toast, [role=alert], [role=status]')]
                   .map((el) => el.textContent.trim()).filter(Boolean).slice(0, 20)"""
        )
        jobs = served.library.db.execute_read("SELECT kind, state, error_json FROM jobs")
        raise AssertionError(
            f"{selector} did not appear ({exc.__class__.__name__}); the panel shows {shown}; "
            f"page errors {page.errors}; server jobs {[tuple(j) for j in jobs][:10]}"
        ) from exc


def open_panel(page: Any, served: ServedLibrary) -> None:
    page.goto(f"{served.url}/model-library/")
    page.wait_for_selector("[data-testid=summary]:has-text('model')")


# ------------------------------------------------------------------------------------------- seeding


def fake_model(i: int, **changes: Any) -> Model:
    """A catalog row without files on disk: enough for listing, search and rendering."""
    blake3 = hashlib.blake2b(f"model-{i}".encode(), digest_size=32).hexdigest()
    sha256 = hashlib.sha256(f"model-{i}".encode()).hexdigest()
    types = ("checkpoint", "lora", "vae", "controlnet", "text_encoder", "upscaler")
    bases = ("sd15", "sdxl", "flux1", "sd3", "wan")
    name = changes.pop("name", f"model {i:05d} {types[i % len(types)]}")
    kind = changes.pop("type", types[i % len(types)])
    model = Model(
        id=blake3[:16],
        name=name,
        type=kind,
        base_model=bases[i % len(bases)],
        format="single-file",
        file_format="safetensors",
        security="safe",
        size=(i % 97 + 1) * 37_000_000,
        hashes=Hashes(blake3=blake3, sha256=sha256),
        files=(
            ModelFile(
                path=f"{name[:40].replace('/', '_')}.safetensors", size=1000 + i, blake3=blake3, sha256=sha256
            ),
        ),
        rel_dir=f"models/{kind}/m{i}",
        source=ModelSource(
            kind="huggingface" if i % 3 == 0 else "local",
            repo_id=f"org{i % 7}/repo-{i % 11}" if i % 3 == 0 else None,
            match=("hash", "filename_exact", "none")[i % 3],
            confidence=(1.0, 0.6, 0.0)[i % 3],
        ),
        tags=(f"tag{i % 5}",),
        added_at=f"2025-01-{i % 28 + 1:02d}T00:00:00+00:00",
        updated_at="2025-01-01T00:00:00+00:00",
    )
    return model.replace(**changes) if changes else model


def seed(library: Library, models: list[Model]) -> None:
    library.repo.add_many(models)
