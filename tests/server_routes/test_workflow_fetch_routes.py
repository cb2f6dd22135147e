"""``POST /workflows/fetch`` -> 202 job, over a real library, a mapped ComfyUI folder, the real Hub client and
a loopback Hub; the job's result names each reference's outcome."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.config import load_config
from comfyui_model_library.core.library import Library
from comfyui_model_library.server_routes import GuardSettings
from comfyui_model_library.server_routes.app import make_app
from tests import synth
from tests.core.workflows.test_fetch import serving, synthetic, template, without_hashes
from tests.hub_server import HubServer
from tests.server_routes.conftest import JSON_HEADERS, V1, wait_job

NAME = "flux_dev_checkpoint_example.json"


@pytest.fixture
def hub() -> Iterator[HubServer]:
    yield from serving([NAME])


@pytest.fixture
async def fetch_client(aiohttp_client: Any, tmp_path: Path, hub: HubServer) -> AsyncIterator[Any]:
    comfy = synth.comfyui_install(tmp_path / "ComfyUI", "checkpoints")
    lib = Library.open(
        load_config(
            tmp_path / "library", hf_endpoint=hub.url, comfyui_root=comfy, import_roots=(tmp_path / "in",)
        )
    )
    lib.mapping.apply(comfy)
    client = await aiohttp_client(make_app(lib, settings=GuardSettings()))
    client.lib, client.comfy = lib, comfy
    yield client
    lib.close()


async def test_fetch_job_downloads_links_and_reports_each_outcome(fetch_client: Any, hub: HubServer) -> None:
    workflow = without_hashes(template(NAME))
    resp = await fetch_client.post(f"{V1}/workflows/fetch", json={"workflow": workflow}, headers=JSON_HEADERS)
    assert resp.status == 202, await resp.text()
    job = await wait_job(fetch_client, (await resp.json())["job"]["id"], timeout=60)
    assert job["state"] == "done", job
    result = job["result"]
    assert result["available"] is True and result["counts"]["downloaded"] == len(result["items"]) == 4
    for item in result["items"]:
        assert item["outcome"] == "downloaded" and item["comfyui_name"] == item["name"]
        assert item["model"]["id"]
    check = await fetch_client.post(
        f"{V1}/workflows/check", json={"workflow": workflow}, headers=JSON_HEADERS
    )
    assert {i["status"] for i in (await check.json())["items"]} == {"present"}


async def test_a_pick_links_the_chosen_model_under_the_workflows_name(
    fetch_client: Any, tmp_path: Path
) -> None:
    lib: Library = fetch_client.lib
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "mine.safetensors").write_bytes(synthetic("loras", "mine"))
    (item,) = lib.imports.import_paths([tmp_path / "in" / "mine.safetensors"], lookup=False)
    assert item.model is not None
    workflow = {
        "nodes": [{"id": 4, "type": "LoraLoaderModelOnly", "widgets_values": ["theirs.safetensors", 1]}],
        "links": [],
    }
    body = {
        "workflow": workflow,
        "choices": [{"node_id": "4", "name": "theirs.safetensors", "model_id": item.model.id}],
    }
    resp = await fetch_client.post(f"{V1}/workflows/fetch", json=body, headers=JSON_HEADERS)
    assert resp.status == 202, await resp.text()
    job = await wait_job(fetch_client, (await resp.json())["job"]["id"])
    (done,) = job["result"]["items"]
    assert done["outcome"] == "linked" and done["model"]["id"] == item.model.id
    assert (fetch_client.comfy / "extra_model_paths.yaml").read_text()  # the view the link lives in
    view = Path(lib.config.root) / "views"
    assert [p.name for p in view.rglob("theirs.safetensors")] == ["theirs.safetensors"]


async def test_bad_fetch_bodies_are_400_and_start_no_job(fetch_client: Any, hub: HubServer) -> None:
    url = f"{V1}/workflows/fetch"
    workflow = {"nodes": [], "links": []}
    cases = [
        ({"workflow": workflow, "choices": "all"}, "'choices' must be a list"),
        ({"workflow": workflow, "choices": [{"node_id": "1", "name": "x", "model_id": 5}]}, "model_id"),
        ({"workflow": workflow, "choices": [{"name": "x", "model_id": "a", "evil": 1}]}, "each choice"),
        ({"workflow": workflow, "choices": [{"node_id": {}, "name": "x", "model_id": "a"}]}, "node_id"),
        ({"workflow": workflow, "choices": [{"node_id": "1", "name": "", "model_id": "a"}]}, "'name'"),
    ]
    for body, words in cases:
        resp = await fetch_client.post(url, json=body, headers=JSON_HEADERS)
        assert resp.status == 400, body
        assert words in (await resp.json())["error"]["message"], body
    jobs = await (await fetch_client.get(f"{V1}/jobs")).json()
    assert not [j for j in jobs["items"] if j["kind"] == "workflow_fetch"]
    resp = await fetch_client.post(
        url, json={"workflow": workflow}
    )  # no custom header: cross-site forms fail
    assert resp.status == 403
    assert not hub.requests


async def test_a_wrong_hash_is_refused_in_the_job_result(fetch_client: Any, hub: HubServer) -> None:
    workflow = without_hashes(template(NAME))
    for node in workflow["nodes"]:
        for entry in (node.get("properties") or {}).get("models") or []:
            entry.update(hash=hashlib.sha256(b"other").hexdigest(), hash_type="SHA256")
    for definition in workflow.get("definitions", {}).get("subgraphs", []):
        for node in definition["nodes"]:
            for entry in (node.get("properties") or {}).get("models") or []:
                entry.update(hash=hashlib.sha256(b"other").hexdigest(), hash_type="SHA256")
    resp = await fetch_client.post(f"{V1}/workflows/fetch", json={"workflow": workflow}, headers=JSON_HEADERS)
    job = await wait_job(fetch_client, (await resp.json())["job"]["id"])
    assert job["state"] == "done" and job["result"]["available"] is False
    assert {i["outcome"] for i in job["result"]["items"]} == {"refused"}
    assert not [p for m, p, _ in hub.requests if m == "GET" and "/cdn/" in p]


async def test_stamp_writes_our_sha256_on_loaders_whose_file_the_library_holds(
    fetch_client: Any, tmp_path: Path
) -> None:
    lib: Library = fetch_client.lib
    (tmp_path / "in").mkdir()
    data = synthetic("loras", "stamp-me")
    (tmp_path / "in" / "stamp_me.safetensors").write_bytes(data)
    (item,) = lib.imports.import_paths([tmp_path / "in" / "stamp_me.safetensors"], lookup=False)
    assert item.model is not None
    workflow = {
        "nodes": [
            {"id": 1, "type": "LoraLoaderModelOnly", "widgets_values": ["stamp_me.safetensors", 1.0]},
            {"id": 2, "type": "LoraLoaderModelOnly", "widgets_values": ["stamp_me_v2.safetensors", 1.0]},
            {"id": 3, "type": "KSampler", "widgets_values": [1, "fixed"]},
        ],
        "links": [],
        "extra": {"keep": "me"},
    }
    resp = await fetch_client.post(f"{V1}/workflows/stamp", json={"workflow": workflow}, headers=JSON_HEADERS)
    assert resp.status == 200, await resp.text()
    doc = await resp.json()
    sha = hashlib.sha256(data).hexdigest()
    assert [(s["node_id"], s["sha256"], s["added"]) for s in doc["stamped"]] == [("1", sha, True)]
    out = doc["workflow"]
    assert out["nodes"][0]["properties"]["models"] == [
        {"name": "stamp_me.safetensors", "directory": "loras", "hash": sha, "hash_type": "SHA256"}
    ]
    assert "properties" not in out["nodes"][1]  # a name that only looks alike is never stamped
    assert out["extra"] == {"keep": "me"} and out["nodes"][2] == workflow["nodes"][2]
    again = await fetch_client.post(f"{V1}/workflows/stamp", json={"workflow": out}, headers=JSON_HEADERS)
    assert (await again.json())["stamped"] == []  # already carries the hash


async def test_read_gives_the_workflow_of_a_dropped_png_or_json_and_refuses_others(fetch_client: Any) -> None:
    from tests.core.workflows.images import png, text

    data = json.dumps(template(NAME)).encode()
    as_png = lambda raw: png(text("workflow", raw.decode()))  # noqa: E731 - as ComfyUI saves an image
    headers = {"Content-Type": "application/octet-stream", "X-Model-Library": "1"}
    for body in (data, as_png(data)):
        resp = await fetch_client.post(f"{V1}/workflows/read", data=body, headers=headers)
        assert resp.status == 200, await resp.text()
        doc = await resp.json()
        assert doc["format"] == "ui" and doc["workflow"]["nodes"] == template(NAME)["nodes"]
    resp = await fetch_client.post(
        f"{V1}/workflows/read", data=b"\x89PNG\r\n\x1a\nnot really", headers=headers
    )
    assert resp.status == 400 and "dropped file" in (await resp.json())["error"]["message"]
    resp = await fetch_client.post(f"{V1}/workflows/read", data=data, headers=JSON_HEADERS)
    assert resp.status in (400, 403, 415)  # an upload route takes raw bytes only


async def test_a_workflow_naming_thousands_of_models_is_refused_before_any_search(fetch_client: Any) -> None:
    nodes = [
        {"id": i, "type": "LoraLoaderModelOnly", "widgets_values": [f"lora_{i}.safetensors", 1.0]}
        for i in range(2001)
    ]
    for route in ("check", "fetch"):
        resp = await fetch_client.post(
            f"{V1}/workflows/{route}", json={"workflow": {"nodes": nodes, "links": []}}, headers=JSON_HEADERS
        )
        if route == "fetch" and resp.status == 202:
            job = await wait_job(fetch_client, (await resp.json())["job"]["id"])
            assert job["state"] == "failed" and "at most 2000" in job["error"]["message"], job
            continue
        assert resp.status == 400, route
        assert "at most 2000" in (await resp.json())["error"]["message"]
