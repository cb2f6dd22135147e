"""A bare aiohttp app built by ``make_app`` over a REAL library on a temp folder, and helpers."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.library import Library
from comfyui_model_library.server_routes import GuardSettings, RunnerOptions
from comfyui_model_library.server_routes.app import CONTEXT_KEY, make_app
from tests.synth import write_safetensors

V1 = "/model-library/v1"
JSON_HEADERS = {"Content-Type": "application/json", "X-Model-Library": "1"}


def model_file(folder: Path, name: str, seed: int, size: int = 64) -> Path:
    """A small valid safetensors whose content (and so id) depends on ``seed``."""
    return write_safetensors(folder / name, {"weight": ("F16", (size,))}, {"seed": str(seed)})


@pytest.fixture
def make_client(aiohttp_client: Any, library: Library) -> Callable[..., Any]:
    async def build(
        settings: GuardSettings | None = None, runner_options: RunnerOptions | None = None
    ) -> Any:
        app = make_app(library, settings=settings or GuardSettings(), runner_options=runner_options)
        client = await aiohttp_client(app)
        client.ctx = app[CONTEXT_KEY]
        return client

    return build


@pytest.fixture
async def client(make_client: Callable[..., Any]) -> Any:
    return await make_client()


async def wait_job(client: Any, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = await client.get(f"{V1}/jobs/{job_id}")
        assert resp.status == 200
        job = await resp.json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


def snapshot(*folders: Path, library: Library | None = None) -> dict[str, Any]:
    """Every file (path, size, mtime) under ``folders`` plus the catalog's model and job rows: what an
    attack must not change. The catalog's own files (WAL) change on reads, so they are left out."""
    files: dict[str, tuple[int, int]] = {}
    for folder in folders:
        for dirpath, _dirs, names in os.walk(folder):
            for name in names:
                if name.startswith("catalog.sqlite"):
                    continue
                path = Path(dirpath) / name
                st = path.lstat()
                files[str(path)] = (st.st_size, st.st_mtime_ns)
    rows: dict[str, Any] = {}
    if library is not None:
        for table in ("models", "jobs", "sources", "links", "tags"):
            rows[table] = [tuple(r) for r in library.db.execute_read(f"SELECT * FROM {table}")]
    return {"files": files, "rows": rows}
