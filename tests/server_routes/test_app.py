"""The standalone app: events websocket, panel page, and the remote-client guard on a real socket."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from aiohttp import web

from comfyui_model_library.core.library import Library
from comfyui_model_library.server_routes import GuardSettings
from comfyui_model_library.server_routes.app import make_app
from tests.server_routes.conftest import JSON_HEADERS, V1, model_file, wait_job


async def test_events_websocket_relays_jobs_and_changes(client: Any, incoming: Path) -> None:
    async with client.ws_connect(V1 + "/events") as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["type"] == "model-library.hello"
        src = model_file(incoming, "ws.safetensors", seed=42)
        resp = await client.post(V1 + "/imports", json={"paths": [str(src)]}, headers=JSON_HEADERS)
        job_id = (await resp.json())["job"]["id"]
        seen: list[dict[str, Any]] = []
        while not any(e["type"] == "model-library.changed" for e in seen) or not any(
            e["type"] == "model-library.job" and e["data"]["state"] == "done" for e in seen
        ):
            seen.append(await ws.receive_json(timeout=60))
        states = [
            e["data"]["state"] for e in seen if e["type"] == "model-library.job" and e["data"]["id"] == job_id
        ]
        assert states[0] == "queued" and states[-1] == "done"
        changed = next(e for e in seen if e["type"] == "model-library.changed")
        assert changed["data"]["reason"] == "imported"


async def test_events_websocket_refuses_other_origins(client: Any) -> None:
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Host": "evil.example"}):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await client.ws_connect(V1 + "/events", headers=headers)
        assert info.value.status == 403


async def test_panel_page_and_api_prefix(client: Any) -> None:
    resp = await client.get("/model-library/")
    assert resp.status == 200
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "Model Library" in await resp.text() or "<" in await resp.text()
    resp = await client.get("/", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/model-library/"
    assert (await client.get("/api/model-library/v1/jobs")).status == 200


async def test_library_is_built_on_first_request(aiohttp_client: Any, library: Library) -> None:
    calls: list[int] = []

    def factory() -> Library:
        calls.append(1)
        return library

    client = await aiohttp_client(make_app(factory))
    assert calls == []
    assert (await client.get(V1 + "/jobs")).status == 200
    assert (await client.get(V1 + "/jobs")).status == 200
    assert calls == [1]


def _lan_address() -> str | None:
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if addr.family == socket.AF_INET and not ipaddress.ip_address(addr.address).is_loopback:
                return str(addr.address)
    return None


@pytest.mark.parametrize("opted_in", [False, True])
async def test_lan_client_on_a_real_socket(library: Library, incoming: Path, opted_in: bool) -> None:
    """The server listens on a LAN address; the client connects from it, so the peer is not loopback."""
    lan = _lan_address()
    if lan is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    item = library.imports.import_paths([model_file(incoming, "lan.safetensors", seed=77)])[0]
    assert item.model is not None
    settings = GuardSettings(listen_host="0.0.0.0", allow_remote_changes=opted_in)
    runner = web.AppRunner(make_app(library, settings=settings))
    await runner.setup()
    site = web.TCPSite(runner, lan, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://{lan}:{port}{V1}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/models") as resp:
                assert resp.status == 200  # reads still work
            async with http.delete(f"{base}/models/{item.model.id}", headers=JSON_HEADERS) as resp:
                body = await resp.json()
                if opted_in:
                    assert resp.status == 200, body
                else:
                    assert resp.status == 403
                    assert body["error"]["code"] == "remote_changes_disabled"
                    assert "ModelLibrary.AllowRemoteChanges" in body["error"]["message"]
            src = model_file(incoming, "lan-move.safetensors", seed=78)
            async with http.post(
                base + "/imports", json={"paths": [str(src)], "mode": "move"}, headers=JSON_HEADERS
            ) as resp:
                assert resp.status == (202 if opted_in else 403)
            async with http.post(
                base + "/hf/downloads", json={"repo_id": "a/b"}, headers=JSON_HEADERS
            ) as resp:
                assert resp.status == (202 if opted_in else 403)
        still_there = library.db.execute_read("SELECT count(*) FROM models WHERE id = ?", (item.model.id,))[
            0
        ][0]
        assert still_there == (0 if opted_in else 1)
        if not opted_in:
            assert src.exists()
            assert library.db.execute_read("SELECT count(*) FROM jobs")[0][0] == 0
    finally:
        await asyncio.sleep(0.2)
        await runner.cleanup()


async def test_job_wait_helper_sees_finished_state(client: Any, incoming: Path) -> None:
    src = model_file(incoming, "wait.safetensors", seed=43)
    resp = await client.post(V1 + "/imports", json={"paths": [str(src)]}, headers=JSON_HEADERS)
    done = await wait_job(client, (await resp.json())["job"]["id"])
    assert done["progress"]["stage"] == "done"


async def test_forwarded_proto_from_a_lan_peer_is_ignored(library: Library) -> None:
    """Only a proxy on this machine says which scheme the browser used; a LAN peer's header counts for
    nothing (its https Origin stays another site than this http server)."""
    lan = _lan_address()
    if lan is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    runner = web.AppRunner(make_app(library, settings=GuardSettings(listen_host="0.0.0.0")))
    await runner.setup()
    site = web.TCPSite(runner, lan, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http:
            headers = {**JSON_HEADERS, "Origin": f"https://{lan}:{port}", "X-Forwarded-Proto": "https"}
            async with http.post(f"http://{lan}:{port}{V1}/scan", json={}, headers=headers) as resp:
                body = await resp.json()
                assert (resp.status, body["error"]["code"]) == (403, "cross_site_request"), body
    finally:
        await runner.cleanup()


async def test_an_import_that_finds_no_model_file_fails_and_says_so(client: Any, incoming: Path) -> None:
    """It ended "done" with no items: the panel showed a green import of nothing."""
    (incoming / "notes").mkdir()
    (incoming / "notes" / "readme.txt").write_text("no model here")
    resp = await client.post(V1 + "/imports", json={"paths": [str(incoming / "notes")]}, headers=JSON_HEADERS)
    job = await wait_job(client, (await resp.json())["job"]["id"])
    assert job["state"] == "failed", job
    assert job["error"]["code"] == "invalid_input"
    assert "no model files" in job["error"]["message"] and str(incoming / "notes") in job["error"]["message"]
