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


@pytest.mark.parametrize(
    ("repo", "status"),
    [("acme", 404), ("acme/x/../../etc", 404), ("a/b?x=1", 404), ("..%2F..%2Fetc/x", 400)],
)
async def test_repo_file_listing_rejects_bad_repo_ids(
    hub_client: Any, hub: HubServer, repo: str, status: int
) -> None:
    resp = await hub_client.get(f"{V1}/hf/repos/{repo}/files")
    assert resp.status == status  # 404: no route has that shape; 400: the route refuses the id
    if status == 400:
        assert (await resp.json())["error"]["code"] == "invalid_input"
    assert hub.requests == []  # the Hub was never asked


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


# -- a Hub answering in unexpected shapes (issue 13): a coded 502, never internal_error ------------------

ODD_ANSWERS = [
    {"tree": (200, [{"type": "file"}])},  # an entry without a path
    {"tree": (200, [1, 2])},
    {"tree": (200, "not a listing")},
    {"tree": (200, [{"type": "file", "path": "a.safetensors", "size": "big", "oid": "x"}])},
    {"model_info": (200, [])},  # a list where a dict is expected
    {"model_info": (200, {})},  # missing keys
    {"model_info": (200, {"id": "acme/detail-xl", "sha": 5})},
    {"model_info": (200, {"id": "acme/detail-xl", "sha": "not-a-commit"})},
]


@pytest.mark.parametrize("odd", ODD_ANSWERS, ids=lambda o: f"{next(iter(o))}-{next(iter(o.values()))}")
async def test_unexpected_hub_shapes_are_upstream_errors(hub_client: Any, hub: HubServer, odd: Any) -> None:
    hub.faults.odd_answers = odd
    resp = await hub_client.get(f"{V1}/hf/repos/acme/detail-xl/files")
    assert resp.status == 502, await resp.text()
    error = (await resp.json())["error"]
    assert error["code"] == "upstream_error" and "unexpected shape" in error["message"]
    resp = await hub_client.post(
        f"{V1}/hf/downloads",
        json={"repo_id": "acme/detail-xl", "filename": "detail.safetensors"},
        headers=JSON_HEADERS,
    )
    assert resp.status == 202, await resp.text()
    job = await wait_job(hub_client, (await resp.json())["job"]["id"])
    assert job["state"] == "failed" and job["error"]["code"] == "upstream_error", job


async def test_a_404_with_an_empty_body_on_a_tree_call_is_not_found(hub_client: Any, hub: HubServer) -> None:
    hub.faults.odd_answers = {"tree": (404, {})}
    resp = await hub_client.get(f"{V1}/hf/repos/acme/detail-xl/files")
    assert resp.status == 404, await resp.text()
    assert (await resp.json())["error"]["code"] == "not_found"
