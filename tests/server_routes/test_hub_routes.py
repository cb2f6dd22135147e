"""The Hub routes against the loopback Hub: the file picker's listing and a download job end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.server_routes import GuardSettings
from comfyui_model_library.server_routes.app import make_app
from tests import synth
from tests.hub_server import HubServer, make_repo
from tests.server_routes.conftest import JSON_HEADERS, V1, wait_job


@pytest.fixture
def hub(tmp_path: Path):
    lora = synth.write_family(tmp_path / "lora.safetensors", "sdxl_lora_kohya").read_bytes()
    server = HubServer([make_repo("acme/detail-xl", {"detail.safetensors": lora, "README.md": b"# x"})])
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def hub_client(aiohttp_client: Any, tmp_path: Path, hub: HubServer) -> Any:
    lib = Library.open(load_config(tmp_path / "library", hf_endpoint=hub.url))
    client = await aiohttp_client(make_app(lib, settings=GuardSettings()))
    yield client
    lib.close()


async def test_repo_file_listing_for_the_picker(hub_client: Any) -> None:
    resp = await hub_client.get(f"{V1}/hf/repos/acme/detail-xl/files")
    assert resp.status == 200
    body = await resp.json()
    paths = {f["path"]: f for f in body["files"]}
    assert set(paths) == {"detail.safetensors", "README.md"}
    assert paths["detail.safetensors"]["sha256"]


@pytest.mark.parametrize("repo", ["acme", "acme/x/../../etc", "a/b?x=1", "..%2F..%2Fetc/x"])
async def test_repo_file_listing_rejects_bad_repo_ids(hub_client: Any, repo: str) -> None:
    resp = await hub_client.get(f"{V1}/hf/repos/{repo}/files")
    assert resp.status in (400, 404)


async def test_download_job_lands_in_the_catalog(hub_client: Any) -> None:
    resp = await hub_client.post(
        f"{V1}/hf/downloads",
        json={"repo_id": "acme/detail-xl", "filename": "detail.safetensors"},
        headers=JSON_HEADERS,
    )
    assert resp.status == 202, await resp.text()
    job = await wait_job(hub_client, (await resp.json())["job"]["id"])
    assert job["state"] == "done", job
    listing = await (await hub_client.get(f"{V1}/models?q=detail")).json()
    assert listing["total"] == 1
    model = listing["items"][0]
    assert model["source"]["repo_id"] == "acme/detail-xl" and model["source"]["match"] == "hash"
