"""Upload sessions are capped: open sessions in total and per client, and the space they reserve."""

from __future__ import annotations

import shutil
from typing import Any

from comfyui_model_library.core.library import Library
from tests.server_routes.conftest import JSON_HEADERS, V1

PUT_HEADERS = {"Content-Type": "application/octet-stream", "X-Model-Library": "1"}


async def open_upload(client: Any, size: int = 10, name: str = "m.safetensors") -> Any:
    return await client.post(V1 + "/uploads", json={"filename": name, "size": size}, headers=JSON_HEADERS)


async def test_one_client_cannot_open_sessions_without_end(client: Any, library: Library) -> None:
    statuses = []
    for _ in range(40):  # the reproduction opened 1,500 in 2 s
        resp = await open_upload(client)
        statuses.append(resp.status)
        if resp.status != 201:
            error = (await resp.json())["error"]
            assert error["code"] == "too_many_uploads" and "DELETE /uploads" in error["message"]
    assert statuses == [201] * 16 + [429] * 24
    folders = [p for p in (library.config.tmp_dir / "uploads").iterdir() if p.is_dir()]
    assert len(folders) == 16


async def test_a_finished_or_cancelled_upload_frees_its_place(client: Any) -> None:
    ids = [(await (await open_upload(client, size=4)).json())["upload_id"] for _ in range(16)]
    assert (await open_upload(client)).status == 429
    resp = await client.delete(f"{V1}/uploads/{ids[0]}", headers=JSON_HEADERS)
    assert resp.status == 200
    resp = await open_upload(client)
    assert resp.status == 201
    resp = await client.put(
        f"{V1}/uploads/{ids[1]}",
        data=b"abcd",
        headers={**PUT_HEADERS, "Content-Range": "bytes 0-3/4"},
    )
    assert resp.status == 202, await resp.text()  # complete: its import job runs (and fails: not a model)
    assert (await open_upload(client)).status == 201


async def test_reservations_must_fit_in_free_space_together(client: Any, library: Library) -> None:
    root = library.config.tmp_dir / "uploads"
    root.mkdir(parents=True, exist_ok=True)
    usable = shutil.disk_usage(root).free - library.config.free_space_margin
    resp = await open_upload(client, size=usable + (1 << 30))
    assert resp.status == 507
    assert (await resp.json())["error"]["code"] == "insufficient_space"
    half = usable * 6 // 10
    assert (await open_upload(client, size=half)).status == 201
    resp = await open_upload(client, size=half)  # would fit alone, not beside the first reservation
    assert resp.status == 507
    error = (await resp.json())["error"]
    assert error["code"] == "insufficient_space" and "reserved by unfinished uploads" in error["message"]
