"""Every HTTP route of CONTRACT.md, walked on a real library against the loopback Hub: the exact status
and the JSON keys of each answer (a ``/health`` answering 404, or a key renamed, fails here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.config import LibraryConfig, load_config
from comfyui_model_library.core.library import Library
from tests import synth
from tests.civitai_server import CivitaiServer
from tests.hub_server import HubServer, make_repo
from tests.server_routes.conftest import JSON_HEADERS, V1, model_file, wait_job

PUT_HEADERS = {"Content-Type": "application/octet-stream", "X-Model-Library": "1"}
JOB_KEYS = {"id", "kind", "state", "progress"}
MODEL_KEYS = {
    "id",
    "name",
    "type",
    "base_model",
    "tags",
    "notes",
    "files",
    "size",
    "trigger_words",
    "preview",
    "origins",
    "update",
    "favorite",
    "used_at",
}

# (method, path template) of every route the app serves under the prefix; the walk below covers each.
CONTRACT_ROUTES = {
    ("GET", "/models"),
    ("GET", "/models/{id}"),
    ("PATCH", "/models/{id}"),
    ("DELETE", "/models/{id}"),
    ("POST", "/imports"),
    ("POST", "/uploads"),
    ("PUT", "/uploads/{id}"),
    ("GET", "/uploads/{id}"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{id}"),
    ("DELETE", "/jobs/{id}"),
    ("POST", "/hf/lookup"),
    ("POST", "/hf/downloads"),
    ("GET", "/health"),
    ("POST", "/health/repair"),
    ("GET", "/mapping"),
    ("PUT", "/mapping"),
    ("POST", "/mapping/preview"),
    ("POST", "/mapping/apply"),
    ("POST", "/mapping/remove"),
    ("GET", "/sources"),
    ("POST", "/sources"),
    ("DELETE", "/sources/{id}"),
    ("POST", "/scan"),
    ("POST", "/workflows/check"),
    ("POST", "/workflows/fetch"),
    ("GET", "/status"),
    ("GET", "/models/{id}/preview"),
    ("PUT", "/models/{id}/preview"),
}
# Served too, beyond the contract's table (documented in docs/api.md).
EXTRA_ROUTES = {
    ("POST", "/imports/browse"),
    ("POST", "/workflows/stamp"),
    ("POST", "/workflows/read"),
    ("DELETE", "/uploads/{id}"),
    ("GET", "/hf/repos/{repo_id}/files"),
    ("GET", "/events"),
    ("GET", "/models/facets"),
    ("POST", "/models/{id}/used"),
    ("DELETE", "/models/{id}/preview"),
    ("POST", "/models/{id}/enrich"),
    ("POST", "/enrich"),
    ("GET", "/models/{id}/gallery"),
    ("GET", "/models/{id}/gallery/{index}"),
}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    lora = synth.write_family(tmp_path / "lora.safetensors", "sdxl_lora_kohya").read_bytes()
    server = HubServer([make_repo("acme/detail-xl", {"detail.safetensors": lora})])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def civitai() -> Iterator[CivitaiServer]:
    server = CivitaiServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def library_config(tmp_path: Path, hub: HubServer, civitai: CivitaiServer) -> LibraryConfig:
    comfyui = tmp_path / "ComfyUI"
    (comfyui / "models" / "loras").mkdir(parents=True)
    (comfyui / "main.py").write_text("# ComfyUI\n")
    return load_config(
        tmp_path / "library",
        import_roots=(tmp_path / "incoming",),
        hf_endpoint=hub.url,
        civitai_endpoint=civitai.url,
        comfyui_root=comfyui,
    )


def test_the_walk_covers_every_route_the_app_serves(library: Library) -> None:
    from comfyui_model_library.server_routes.app import make_app

    app = make_app(library)
    served = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = str(info.get("formatter") or info.get("path") or "")
        if route.method != "HEAD" and template.startswith(V1):
            served.add((route.method, template[len(V1) :].replace("{repo_id:[^/]+/[^/]+}", "{repo_id}")))
    assert served == CONTRACT_ROUTES | EXTRA_ROUTES


def png_bytes() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def answer(resp: Any, status: int, keys: set[str]) -> Any:
    text = await resp.text()
    assert resp.status == status, (resp.method, str(resp.url), text)
    body = await resp.json()
    assert isinstance(body, dict) and keys <= set(body), (resp.method, str(resp.url), sorted(body), keys)
    return body


async def test_every_contract_route_answers_its_status_and_keys(
    client: Any, library: Library, incoming: Path, tmp_path: Path
) -> None:
    ids = [
        library.imports.import_paths([model_file(incoming, f"m{i}.safetensors", seed=i)])[0].model.id
        for i in (1, 2)
    ]  # type: ignore[union-attr]
    j = JSON_HEADERS

    # Models
    page = await answer(await client.get(V1 + "/models"), 200, {"items", "total", "took_ms"})
    assert page["total"] == 2 and MODEL_KEYS <= set(page["items"][0])
    detail = await answer(await client.get(f"{V1}/models/{ids[0]}"), 200, MODEL_KEYS | {"links", "id"})
    assert detail["id"] == ids[0]
    edited = await answer(
        await client.patch(f"{V1}/models/{ids[0]}", json={"name": "X"}, headers=j), 200, MODEL_KEYS
    )
    assert edited["name"] == "X"
    assert detail["about"] == {"description": "", "creator": None, "license": None, "page_url": None}

    # Origins, previews, trigger words
    png = png_bytes()
    up = {"X-Model-Library": "1", "Content-Type": "application/octet-stream"}
    shown = await answer(
        await client.put(f"{V1}/models/{ids[0]}/preview", data=png, headers=up), 200, MODEL_KEYS
    )
    assert shown["preview"]["source"] == "user" and shown["preview"]["url"].startswith(
        f"{V1}/models/{ids[0]}/"
    )
    image = await client.get(shown["preview"]["url"] + "&size=256")
    assert image.status == 200 and image.headers["Content-Type"] == "image/webp"
    cleared = await answer(await client.delete(f"{V1}/models/{ids[0]}/preview", headers=j), 200, MODEL_KEYS)
    assert cleared["preview"] is None
    facets = await answer(
        await client.get(V1 + "/models/facets"), 200, {"type", "base_model", "favorites", "total"}
    )
    assert facets["total"] == 2
    assert (await client.post(f"{V1}/models/{ids[1]}/used", headers=j)).status == 204
    strong = await answer(
        await client.patch(f"{V1}/models/{ids[1]}", json={"default_strength": 0.6}, headers=j),
        200,
        MODEL_KEYS,
    )
    assert strong["default_strength"] == 0.6
    bad = await client.patch(f"{V1}/models/{ids[1]}", json={"default_strength": 1000}, headers=j)
    assert bad.status == 400
    enrich_job = await answer(
        await client.post(V1 + "/enrich", json={"ids": [ids[1]]}, headers=j), 202, {"job"}
    )
    assert (await wait_job(client, enrich_job["job"]["id"]))["state"] == "done"
    enriched = await answer(await client.post(f"{V1}/models/{ids[1]}/enrich", headers=j), 200, MODEL_KEYS)
    assert enriched["used_at"] and enriched["origins"] == []

    # Imports, jobs
    src = model_file(incoming, "fresh.safetensors", seed=3)
    job = (
        await answer(await client.post(V1 + "/imports", json={"paths": [str(src)]}, headers=j), 202, {"job"})
    )["job"]
    assert JOB_KEYS <= set(job) and job["kind"] == "import"
    done = await wait_job(client, job["id"])
    assert done["state"] == "done"
    listing = await answer(await client.get(V1 + "/jobs"), 200, {"items"})
    assert JOB_KEYS <= set(listing["items"][0])
    got = await answer(await client.get(f"{V1}/jobs/{job['id']}"), 200, JOB_KEYS | {"result"})
    assert got["id"] == job["id"]
    cancelled = await answer(await client.delete(f"{V1}/jobs/{job['id']}", headers=j), 200, JOB_KEYS)
    assert cancelled["state"] == "done"  # a finished job stays as it ended

    # The import picker
    roots = await answer(await client.post(V1 + "/imports/browse", json={}, headers=j), 200, {"entries"})
    assert str(incoming) in [e["path"] for e in roots["entries"]]
    inside = await answer(
        await client.post(V1 + "/imports/browse", json={"path": str(incoming)}, headers=j), 200, {"entries"}
    )
    assert {"name", "path", "kind"} <= set(inside["entries"][0])
    await answer(await client.post(V1 + "/imports/browse", json={"path": "/etc"}, headers=j), 400, {"error"})

    # Uploads
    data = synth.safetensors_bytes({"w": ("F16", (64,))}, {"seed": "upload"})
    created = await answer(
        await client.post(V1 + "/uploads", json={"filename": "up.safetensors", "size": len(data)}, headers=j),
        201,
        {"upload_id", "offset"},
    )
    uid = created["upload_id"]
    assert created["offset"] == 0
    half = len(data) // 2
    part = await client.put(
        f"{V1}/uploads/{uid}",
        data=data[:half],
        headers={**PUT_HEADERS, "Content-Range": f"bytes 0-{half - 1}/{len(data)}"},
    )
    assert (await answer(part, 200, {"offset"}))["offset"] == half
    assert (await answer(await client.get(f"{V1}/uploads/{uid}"), 200, {"offset"}))["offset"] == half
    rest = await client.put(
        f"{V1}/uploads/{uid}",
        data=data[half:],
        headers={**PUT_HEADERS, "Content-Range": f"bytes {half}-{len(data) - 1}/{len(data)}"},
    )
    up_job = (await answer(rest, 202, {"job"}))["job"]
    assert (await wait_job(client, up_job["id"]))["state"] == "done"

    # Hub (the loopback Hub)
    await answer(
        await client.post(V1 + "/hf/lookup", json={"model_id": ids[1]}, headers=j), 200, {"candidates"}
    )
    dl = await client.post(
        V1 + "/hf/downloads", json={"repo_id": "acme/detail-xl", "filename": "detail.safetensors"}, headers=j
    )
    dl_job = (await answer(dl, 202, {"job"}))["job"]
    assert (await wait_job(client, dl_job["id"]))["state"] == "done"

    # Health
    health = await answer(await client.get(V1 + "/health"), 200, {"status", "broken", "orphaned", "missing"})
    assert health["status"] in ("healthy", "warnings", "errors")
    await answer(await client.post(V1 + "/health/repair", json={}, headers=j), 200, {"repaired", "failed"})

    # Mapping
    mapping = await answer(await client.get(V1 + "/mapping"), 200, set())
    assert mapping
    put = await answer(await client.put(V1 + "/mapping", json=mapping, headers=j), 200, set(mapping))
    assert set(put) == set(mapping)
    await answer(
        await client.post(V1 + "/mapping/preview", json={}, headers=j),
        200,
        {"create", "ok", "conflicts", "remove"},
    )
    await answer(
        await client.post(V1 + "/mapping/apply", json={}, headers=j), 200, {"created", "removed", "skipped"}
    )

    # Unmap, then map again (the workflows below link into the mapped install)
    await answer(
        await client.post(V1 + "/mapping/remove", json={}, headers=j), 200, {"created", "removed", "skipped"}
    )
    await answer(
        await client.post(V1 + "/mapping/apply", json={"shared": False}, headers=j),
        200,
        {"created", "removed"},
    )

    # Workflows (after the mapping: fetch links into the mapped install)
    workflow = {
        "nodes": [{"id": 1, "type": "LoraLoaderModelOnly", "widgets_values": ["detail.safetensors", 1.0]}],
        "links": [],
    }
    checked = await answer(
        await client.post(V1 + "/workflows/check", json={"workflow": workflow}, headers=j), 200, {"items"}
    )
    assert {"node_id", "category", "name", "status"} <= set(checked["items"][0])
    fetched = await client.post(V1 + "/workflows/fetch", json={"workflow": workflow}, headers=j)
    wf_job = (await answer(fetched, 202, {"job"}))["job"]
    assert wf_job["kind"] == "workflow_fetch"
    assert (await wait_job(client, wf_job["id"]))["state"] == "done"
    stamped = await client.post(V1 + "/workflows/stamp", json={"workflow": workflow}, headers=j)
    await answer(stamped, 200, {"workflow", "stamped"})

    # Sources, scan
    folder = tmp_path / "shelf"
    folder.mkdir()
    model_file(folder, "shelved.safetensors", seed=4)
    added = await answer(
        await client.post(V1 + "/sources", json={"path": str(folder), "read_only": True}, headers=j),
        201,
        {"scan_job"},
    )
    await wait_job(client, added["scan_job"]["id"])
    sources = await answer(await client.get(V1 + "/sources"), 200, {"items"})
    [source] = sources["items"]
    scan = (await answer(await client.post(V1 + "/scan", json={}, headers=j), 202, {"job"}))["job"]
    assert JOB_KEYS <= set(scan) and scan["kind"] == "scan"
    await wait_job(client, scan["id"])
    await answer(await client.delete(f"{V1}/sources/{source['id']}", headers=j), 200, set())

    # Status
    await answer(
        await client.get(V1 + "/status"),
        200,
        {"version", "library_root", "models", "jobs_running", "network"},
    )

    # Delete last
    removed = await answer(
        await client.delete(f"{V1}/models/{ids[1]}", headers=j), 200, {"removed_links", "trashed"}
    )
    assert removed["trashed"]
    await answer(await client.get(f"{V1}/models/{ids[1]}"), 404, {"error"})
