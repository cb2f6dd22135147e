"""Resumable uploads through HTTP: streamed, resumable after a dropped connection, hashes right, imported."""

from __future__ import annotations

import asyncio
import hashlib
import io
from typing import Any

import blake3
import pytest

from comfyui_model_library.core.library import Library
from tests.server_routes.conftest import JSON_HEADERS, V1, wait_job
from tests.synth import safetensors_bytes

PUT_HEADERS = {"Content-Type": "application/octet-stream", "X-Model-Library": "1"}


def payload(seed: int = 1, elements: int = 1_500_000) -> bytes:
    return safetensors_bytes({"weight": ("F16", (elements,))}, {"seed": str(seed)})


async def create(client: Any, data: bytes, filename: str = "dropped.safetensors") -> str:
    resp = await client.post(
        V1 + "/uploads", json={"filename": filename, "size": len(data)}, headers=JSON_HEADERS
    )
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["offset"] == 0
    return body["upload_id"]


def crange(start: int, end: int, total: int) -> dict[str, str]:
    return {**PUT_HEADERS, "Content-Range": f"bytes {start}-{end - 1}/{total}"}


async def test_upload_in_chunks_then_import(client: Any, library: Library) -> None:
    data = payload()
    uid = await create(client, data)
    half = len(data) // 2
    first = io.BytesIO(data[:half])
    resp = await client.put(f"{V1}/uploads/{uid}", data=first, headers=crange(0, half, len(data)))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["offset"] == half
    assert (await (await client.get(f"{V1}/uploads/{uid}")).json())["offset"] == half
    resp = await client.put(
        f"{V1}/uploads/{uid}", data=io.BytesIO(data[half:]), headers=crange(half, len(data), len(data))
    )
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    assert body["received"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["received"]["blake3"] == blake3.blake3(data).hexdigest()
    done = await wait_job(client, body["job"]["id"])
    assert done["state"] == "done", done
    item = done["result"]["items"][0]
    assert item["status"] == "imported", item
    model = library.get_model(item["id"])
    assert model.hashes.sha256 == hashlib.sha256(data).hexdigest()
    assert model.name == "dropped"
    # The session is gone once imported; its bytes moved into the library.
    assert (await client.get(f"{V1}/uploads/{uid}")).status == 404
    assert list((library.config.tmp_dir / "uploads").iterdir()) == []


async def test_resume_after_dropped_connection(client: Any, library: Library) -> None:
    data = payload(seed=2)
    uid = await create(client, data)
    total = len(data)
    # Announce the whole body, send a part, then drop the connection.
    _reader, writer = await asyncio.open_connection(client.host, client.port)
    head = (
        f"PUT {V1}/uploads/{uid} HTTP/1.1\r\nHost: 127.0.0.1:{client.port}\r\n"
        f"Content-Type: application/octet-stream\r\nX-Model-Library: 1\r\n"
        f"Content-Range: bytes 0-{total - 1}/{total}\r\nContent-Length: {total}\r\n\r\n"
    )
    sent = 1_000_000
    writer.write(head.encode() + data[:sent])
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.transport.abort()
    offset = 0
    for _ in range(100):
        offset = (await (await client.get(f"{V1}/uploads/{uid}")).json())["offset"]
        if offset == sent:
            break
        await asyncio.sleep(0.05)
    assert 0 < offset <= sent
    # Sending from the wrong offset is refused with the offset to use.
    resp = await client.put(f"{V1}/uploads/{uid}", data=io.BytesIO(data[:10]), headers=crange(0, 10, total))
    assert resp.status == 409
    assert (await resp.json())["offset"] == offset
    rest = io.BytesIO(data[offset:])
    resp = await client.put(f"{V1}/uploads/{uid}", data=rest, headers=crange(offset, total, total))
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    assert body["received"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["received"]["blake3"] == blake3.blake3(data).hexdigest()
    done = await wait_job(client, body["job"]["id"])
    assert done["result"]["items"][0]["hashes"]["sha256"] == hashlib.sha256(data).hexdigest()


async def test_upload_is_streamed_not_body_limited(client: Any) -> None:
    """A body far above the JSON limit (64 KiB) streams through; no aiohttp client_max_size applies."""
    data = payload(seed=3, elements=2_000_000)
    uid = await create(client, data)

    async def gen():
        for i in range(0, len(data), 300_000):
            yield data[i : i + 300_000]

    headers = {**crange(0, len(data), len(data))}
    resp = await client.put(f"{V1}/uploads/{uid}", data=gen(), headers=headers)
    assert resp.status == 202, await resp.text()


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Range": "bytes 0-9/999"},
        {"Content-Range": "bytes=0-9/10"},
        {"Content-Range": "bytes 5-1/10"},
        {},
    ],
)
async def test_bad_content_range(client: Any, headers: dict[str, str]) -> None:
    uid = await create(client, b"x" * 10, "m.safetensors")
    resp = await client.put(f"{V1}/uploads/{uid}", data=b"0123456789", headers={**PUT_HEADERS, **headers})
    assert resp.status == 400, await resp.text()
    assert (await (await client.get(f"{V1}/uploads/{uid}")).json())["offset"] == 0


async def test_body_longer_than_range(client: Any) -> None:
    uid = await create(client, b"x" * 10, "m.safetensors")

    async def gen():
        yield b"0123456789abc"

    resp = await client.put(f"{V1}/uploads/{uid}", data=gen(), headers=crange(0, 5, 10))
    assert resp.status == 400


async def test_upload_guards_and_errors(client: Any, library: Library) -> None:
    uid = await create(client, b"x" * 10, "m.safetensors")
    # JSON content type on PUT, or no custom header: refused before a byte is written.
    resp = await client.put(
        f"{V1}/uploads/{uid}",
        data=b"0123456789",
        headers={"Content-Type": "application/json", "X-Model-Library": "1", "Content-Range": "bytes 0-9/10"},
    )
    assert resp.status == 415
    resp = await client.put(
        f"{V1}/uploads/{uid}",
        data=b"0123456789",
        headers={"Content-Type": "application/octet-stream", "Content-Range": "bytes 0-9/10"},
    )
    assert resp.status == 403
    assert (await (await client.get(f"{V1}/uploads/{uid}")).json())["offset"] == 0
    for bad in (
        {"filename": "../../custom_nodes/x/__init__.py", "size": 10},
        {"filename": "CON", "size": 10},
        {"filename": "a.safetensors", "size": -1},
        {"filename": "a.safetensors", "size": "10"},
        {"filename": "a.safetensors"},
    ):
        resp = await client.post(V1 + "/uploads", json=bad, headers=JSON_HEADERS)
        assert resp.status == 400, bad
    resp = await client.post(
        V1 + "/uploads", json={"filename": "a.safetensors", "size": 1 << 39}, headers=JSON_HEADERS
    )
    assert resp.status == 507
    assert (await client.get(f"{V1}/uploads/..%2F..%2Fetc")).status == 404
    resp = await client.delete(f"{V1}/uploads/{uid}", headers=JSON_HEADERS)
    assert resp.status == 200
    assert (await client.get(f"{V1}/uploads/{uid}")).status == 404


async def test_invalid_file_upload_fails_cleanly(client: Any, library: Library) -> None:
    data = b"this is not a model at all" * 100
    uid = await create(client, data, "fake.safetensors")
    whole = io.BytesIO(data)
    resp = await client.put(f"{V1}/uploads/{uid}", data=whole, headers=crange(0, len(data), len(data)))
    assert resp.status == 202
    done = await wait_job(client, (await resp.json())["job"]["id"])
    failed = done["state"] == "failed" or all(i["status"] == "failed" for i in done["result"]["items"])
    assert failed, done
    assert library.db.execute_read("SELECT count(*) FROM models")[0][0] == 0
    assert list((library.config.tmp_dir / "uploads").iterdir()) == []
