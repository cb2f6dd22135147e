"""Every route's happy path and its errors, on a bare app over a real library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.library import Library
from comfyui_model_library.core.models import ModelQuery
from tests.server_routes.conftest import JSON_HEADERS, V1, model_file, wait_job


@pytest.fixture
def imported(library: Library, incoming: Path) -> list[str]:
    ids = []
    for i in range(3):
        items = library.imports.import_paths([model_file(incoming, f"model-{i}.safetensors", seed=10 + i)])
        assert items[0].status == "imported"
        ids.append(items[0].model.id)  # type: ignore[union-attr]
    return ids


async def test_list_and_search_models(client: Any, imported: list[str]) -> None:
    resp = await client.get(V1 + "/models")
    assert resp.status == 200
    page = await resp.json()
    assert page["total"] == 3 and len(page["items"]) == 3 and "took_ms" in page
    resp = await client.get(V1 + "/models", params={"limit": "1", "offset": "1", "sort": "name"})
    page = await resp.json()
    assert len(page["items"]) == 1 and page["total"] == 3
    resp = await client.get(V1 + "/models", params={"q": "model-1"})
    assert resp.status == 200
    assert imported[1] in [m["id"] for m in (await resp.json())["items"]]
    # The /api copy answers too (ComfyUI serves both).
    assert (await client.get("/api" + V1 + "/models")).status == 200


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "abc"},
        {"limit": "0"},
        {"limit": "100000"},
        {"offset": "-1"},
        {"sort": "evil"},
        {"offset": "1e3"},
    ],
)
async def test_list_rejects_junk_params(client: Any, params: dict[str, str]) -> None:
    resp = await client.get(V1 + "/models", params=params)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_input"


async def test_detail_edit_delete(client: Any, library: Library, imported: list[str]) -> None:
    mid = imported[0]
    resp = await client.get(f"{V1}/models/{mid}")
    assert resp.status == 200
    detail = await resp.json()
    assert detail["id"] == mid and "links" in detail and "dir" in detail

    resp = await client.patch(
        f"{V1}/models/{mid}", json={"name": "Renamed", "tags": ["anime", "xl"]}, headers=JSON_HEADERS
    )
    assert resp.status == 200, await resp.text()
    edited = await resp.json()
    assert edited["name"] == "Renamed" and set(edited["tags"]) == {"anime", "xl"}
    assert library.catalog.get_model(mid).name == "Renamed"

    for bad in ({"tags": "x"}, {"name": 5}, {"evil": 1}, {}, {"name": "x" * 300}):
        resp = await client.patch(f"{V1}/models/{mid}", json=bad, headers=JSON_HEADERS)
        assert resp.status == 400, bad
    resp = await client.patch(f"{V1}/models/{mid}", data=b"{not json", headers=JSON_HEADERS)
    assert resp.status == 400
    resp = await client.patch(f"{V1}/models/{mid}", data=b"[1, 2]", headers=JSON_HEADERS)
    assert resp.status == 400

    resp = await client.delete(f"{V1}/models/{mid}", headers=JSON_HEADERS)
    assert resp.status == 200, await resp.text()
    assert "trashed" in await resp.json()
    resp = await client.get(f"{V1}/models/{mid}")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "model_not_found"
    resp = await client.delete(f"{V1}/models/{mid}", headers=JSON_HEADERS)
    assert resp.status == 404


async def test_import_job_copy_and_move(client: Any, library: Library, incoming: Path) -> None:
    src = model_file(incoming, "fresh.safetensors", seed=99)
    resp = await client.post(V1 + "/imports", json={"paths": [str(src)]}, headers=JSON_HEADERS)
    assert resp.status == 202
    job = (await resp.json())["job"]
    assert job["kind"] == "import" and job["state"] in ("queued", "running", "done")
    done = await wait_job(client, job["id"])
    assert done["state"] == "done", done
    item = done["result"]["items"][0]
    assert item["status"] == "imported" and src.exists()
    assert library.catalog.get_model(item["id"]).name

    moved = model_file(incoming, "moved.safetensors", seed=100)
    resp = await client.post(
        V1 + "/imports", json={"paths": [str(moved)], "mode": "move"}, headers=JSON_HEADERS
    )
    done = await wait_job(client, (await resp.json())["job"]["id"])
    assert done["result"]["items"][0]["status"] == "imported"
    assert not moved.exists()

    listing = await (await client.get(V1 + "/jobs")).json()
    assert [j["id"] for j in listing["items"]][:2] == [done["id"], job["id"]]


@pytest.mark.parametrize(
    "body",
    [
        {"paths": "x"},
        {"paths": []},
        {"paths": [1]},
        {"paths": ["a"] * 1001},
        {"paths": ["a" * 5000]},
        {"paths": ["a"], "mode": "rename"},
        {"paths": ["a"], "extra": 1},
    ],
)
async def test_import_rejects_bad_bodies(client: Any, library: Library, body: dict[str, Any]) -> None:
    resp = await client.post(V1 + "/imports", json=body, headers=JSON_HEADERS)
    assert resp.status == 400
    assert library.db.execute_read("SELECT count(*) FROM jobs")[0][0] == 0


async def test_job_cancel_and_not_found(client: Any) -> None:
    runner = await client.ctx.runner()
    import threading
    import time

    started = threading.Event()

    def slow(progress, cancelled):
        started.set()
        while not cancelled():
            progress(1, 2, "waiting")
            time.sleep(0.01)
        from comfyui_model_library.core.errors import Cancelled

        raise Cancelled("cancelled by the user")

    job = runner.submit("slow", slow)
    assert started.wait(5)
    resp = await client.delete(f"{V1}/jobs/{job.id}", headers=JSON_HEADERS)
    assert resp.status == 200
    done = await wait_job(client, job.id)
    assert done["state"] == "cancelled"
    assert (await client.get(f"{V1}/jobs/nope")).status == 404
    assert (await client.delete(f"{V1}/jobs/nope", headers=JSON_HEADERS)).status == 404
    assert (await client.get(V1 + "/jobs", params={"state": "bogus"})).status == 400
    cancelled = await (await client.get(V1 + "/jobs", params={"state": "cancelled"})).json()
    assert [j["id"] for j in cancelled["items"]] == [job.id]


async def test_status(client: Any, library: Library, imported: list[str]) -> None:
    resp = await client.get(V1 + "/status")
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    assert data["models"] == 3 and data["library_root"] == str(library.config.root)
    assert {"version", "jobs_running", "network"} <= set(data)


async def test_unknown_errors_are_generic_500(client: Any, library: Library, monkeypatch: Any) -> None:
    def broken(query: Any) -> Any:
        raise RuntimeError("/home/secret/path leaked")

    monkeypatch.setattr(library.catalog, "list_models", broken)
    resp = await client.get(V1 + "/models")
    assert resp.status == 500
    body = await resp.json()
    assert body["error"]["code"] == "internal_error" and "secret" not in body["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "keys"),
    [
        ("GET", "/health", None, 200, {"status", "broken", "orphaned", "missing"}),
        ("POST", "/health/repair", {}, 200, {"repaired", "failed"}),
        ("GET", "/mapping", None, 200, {"rules"}),
        ("GET", "/sources", None, 200, {"items"}),
        # No ComfyUI folder configured here: a clear 400, not a crash.
        ("POST", "/mapping/preview", {}, 400, {"error"}),
    ],
)
async def test_facade_backed_routes(
    client: Any, method: str, path: str, body: Any, status: int, keys: set[str], imported: list[str]
) -> None:
    resp = await client.request(
        method, V1 + path, json=body, headers=JSON_HEADERS if body is not None else {}
    )
    assert resp.status == status, await resp.text()
    answer = await resp.json()
    assert keys <= set(answer), answer
    if status == 400:
        assert answer["error"]["code"] == "invalid_input" and "ComfyUI" in answer["error"]["message"]


async def test_sources_and_scan(client: Any, library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    model_file(folder, "in-place.safetensors", seed=7)
    resp = await client.post(
        V1 + "/sources", json={"path": str(folder), "read_only": True}, headers=JSON_HEADERS
    )
    assert resp.status == 201, await resp.text()
    listed = await (await client.get(V1 + "/sources")).json()
    assert len(listed["items"]) == 1
    resp = await client.post(V1 + "/scan", json={}, headers=JSON_HEADERS)
    assert resp.status == 202
    done = await wait_job(client, (await resp.json())["job"]["id"])
    assert done["state"] == "done", done
    assert (await client.post(V1 + "/sources", json={"path": 5}, headers=JSON_HEADERS)).status == 400


async def test_download_validation(client: Any, library: Library) -> None:
    for bad in (
        {"repo_id": "../../x"},
        {"repo_id": "a/b", "filenames": "x"},
        {},
        {"repo_id": "a/b", "evil": 1},
    ):
        resp = await client.post(V1 + "/hf/downloads", json=bad, headers=JSON_HEADERS)
        assert resp.status == 400, bad
    assert library.db.execute_read("SELECT count(*) FROM jobs")[0][0] == 0


async def test_pickle_import_needs_explicit_confirmation(
    client: Any, library: Library, incoming: Path
) -> None:
    from tests import synth

    ckpt = synth.write_pickle_ckpt(incoming / "old.ckpt")
    resp = await client.post(f"{V1}/imports", json={"paths": [str(ckpt)]}, headers=JSON_HEADERS)
    job = await wait_job(client, (await resp.json())["job"]["id"])
    [item] = job["result"]["items"]
    assert item["status"] == "failed" and item["error_code"] == "pickle_needs_confirmation"
    assert ckpt.exists() and library.catalog.list_models(ModelQuery()).total == 0
    resp = await client.post(
        f"{V1}/imports", json={"paths": [str(ckpt)], "allow_pickle": True}, headers=JSON_HEADERS
    )
    job = await wait_job(client, (await resp.json())["job"]["id"])
    [item] = job["result"]["items"]
    assert item["status"] == "imported" and item["security"] == "pickle"
    bad = await client.post(
        f"{V1}/imports", json={"paths": [str(ckpt)], "allow_pickle": "yes"}, headers=JSON_HEADERS
    )
    assert bad.status == 400
