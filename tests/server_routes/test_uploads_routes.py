"""Resumable uploads through HTTP: streamed, resumable after a dropped connection, hashes right, imported."""

from __future__ import annotations

import asyncio
import hashlib
import io
from pathlib import Path
from typing import Any

import blake3
import pytest

from comfyui_model_library.core.jobs import Job, Progress
from comfyui_model_library.core.library import Library
from comfyui_model_library.server_routes._tasks import resume_factory
from tests.server_routes.conftest import JSON_HEADERS, V1, wait_job
from tests.synth import safetensors_bytes, write_diffusers_folder, write_sharded_set

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
    model = library.catalog.get_model(item["id"])
    assert model.hashes.sha256 == hashlib.sha256(data).hexdigest()
    assert model.name == "dropped"
    # The session is gone once imported; its bytes moved into the library.
    assert (await client.get(f"{V1}/uploads/{uid}")).status == 404
    assert list((library.config.tmp_dir / "uploads").iterdir()) == []


async def drop_mid_body(client: Any, uid: str, data: bytes, sent: int) -> int:
    """Announce the whole body, send ``sent`` bytes, drop the connection; returns the offset kept."""
    total = len(data)
    _reader, writer = await asyncio.open_connection(client.host, client.port)
    head = (
        f"PUT {V1}/uploads/{uid} HTTP/1.1\r\nHost: 127.0.0.1:{client.port}\r\n"
        f"Content-Type: application/octet-stream\r\nX-Model-Library: 1\r\n"
        f"Content-Range: bytes 0-{total - 1}/{total}\r\nContent-Length: {total}\r\n\r\n"
    )
    writer.write(head.encode() + data[:sent])
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.transport.abort()
    offset = 0
    for _ in range(200):
        offset = (await (await client.get(f"{V1}/uploads/{uid}")).json())["offset"]
        if offset == sent:
            break
        await asyncio.sleep(0.05)
    return offset


async def put_rest(client: Any, uid: str, data: bytes, offset: int) -> Any:
    """PUT ``data[offset:]``, again while the dropped request still holds the session (409 conflict):
    its handler syncs what arrived, in a thread, a moment after the connection went."""
    total = len(data)
    for _ in range(100):
        rest = io.BytesIO(data[offset:])
        resp = await client.put(f"{V1}/uploads/{uid}", data=rest, headers=crange(offset, total, total))
        if resp.status != 409 or (await resp.json())["error"]["code"] != "conflict":
            return resp
        await asyncio.sleep(0.05)
    raise AssertionError(f"upload {uid} stayed busy after its connection dropped")


async def test_resume_after_dropped_connection(client: Any, library: Library) -> None:
    data = payload(seed=2)
    uid = await create(client, data)
    total = len(data)
    offset = await drop_mid_body(client, uid, data, 1_000_000)
    assert 0 < offset <= 1_000_000
    # Sending from the wrong offset is refused with the offset to use.
    resp = await client.put(f"{V1}/uploads/{uid}", data=io.BytesIO(data[:10]), headers=crange(0, 10, total))
    assert resp.status == 409
    assert (await resp.json())["offset"] == offset
    resp = await put_rest(client, uid, data, offset)
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


# -- groups: the files of one drop import as one model each, like `model-library import <folder>` ----------


async def create_member(
    client: Any, data: bytes, rel: str, group: str, group_size: int, *, loose: bool = False
) -> str:
    body: dict[str, Any] = {"filename": rel.rsplit("/", 1)[-1], "size": len(data), "group": group}
    body["group_size"] = group_size
    if not loose:
        body["relative_path"] = rel
    resp = await client.post(V1 + "/uploads", json=body, headers=JSON_HEADERS)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["group"] == group and created["offset"] == 0
    return created["upload_id"]


async def send_all(client: Any, uid: str, data: bytes) -> Any:
    body = io.BytesIO(data)
    return await client.put(f"{V1}/uploads/{uid}", data=body, headers=crange(0, len(data), len(data)))


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


async def upload_group(client: Any, files: dict[str, bytes], group: str, *, loose: bool = False) -> dict:
    """Sends every file of ``files`` (relative path -> bytes); the answers before the last are pending."""
    answers = []
    for i, (rel, data) in enumerate(files.items()):
        uid = await create_member(client, data, rel, group, len(files), loose=loose)
        resp = await send_all(client, uid, data)
        body = await resp.json()
        answers.append((resp.status, body))
        if i < len(files) - 1:
            assert resp.status == 200, body
            assert body["group_pending"] == len(files) - 1 - i and "job" not in body
            assert body["received"]["sha256"] == hashlib.sha256(data).hexdigest()
    status, last = answers[-1]
    assert status == 202, last
    assert last["group_pending"] == 0
    return last


def uploads_left(library: Library) -> list[str]:
    return sorted(p.name for p in (library.config.tmp_dir / "uploads").iterdir() if p.name != ".group-key")


async def test_sharded_set_dropped_as_group_is_one_model(
    client: Any, library: Library, tmp_path: Path
) -> None:
    write_sharded_set(tmp_path / "set", stem="model", n=3)
    files = tree(tmp_path / "set")
    assert len(files) == 4  # three shards and the index
    last = await upload_group(client, files, "drop-1", loose=True)
    done = await wait_job(client, last["job"]["id"])
    assert done["state"] == "done", done
    items = done["result"]["items"]
    assert [i["status"] for i in items] == ["imported"], items
    model = library.catalog.get_model(items[0]["id"])
    assert model.format == "sharded-set"
    assert library.db.execute_read("SELECT count(*) FROM models")[0][0] == 1
    folder = library.catalog.model_dir(model)
    assert {p.name for p in folder.iterdir()} >= set(files)
    assert uploads_left(library) == []


async def test_diffusers_folder_dropped_as_group(client: Any, library: Library, tmp_path: Path) -> None:
    write_diffusers_folder(tmp_path / "tiny-sdxl")
    files = {f"tiny-sdxl/{rel}": data for rel, data in tree(tmp_path / "tiny-sdxl").items()}
    last = await upload_group(client, files, "dropB")
    done = await wait_job(client, last["job"]["id"])
    items = done["result"]["items"]
    assert [i["status"] for i in items] == ["imported"], items
    model = library.catalog.get_model(items[0]["id"])
    assert model.format == "diffusion-folder"
    assert model.name == "tiny-sdxl"
    assert uploads_left(library) == []


async def test_folder_of_models_as_group_imports_each(client: Any, library: Library, tmp_path: Path) -> None:
    write_sharded_set(tmp_path / "mix" / "llm", stem="m", n=2)
    files = {f"mix/{rel}": data for rel, data in tree(tmp_path / "mix").items()}
    files["mix/loras/one.safetensors"] = payload(seed=11, elements=64)
    files["mix/README.md"] = b"notes"
    last = await upload_group(client, files, "mixed")
    done = await wait_job(client, last["job"]["id"])
    items = done["result"]["items"]
    formats = sorted(library.catalog.get_model(i["id"]).format for i in items if i["status"] == "imported")
    assert formats == ["sharded-set", "single-file"], items
    assert uploads_left(library) == []


@pytest.mark.parametrize(
    "extra",
    [
        {"relative_path": "../x.safetensors"},
        {"relative_path": "/etc/x.safetensors"},
        {"relative_path": "a\\x.safetensors"},
        {"relative_path": "CON/x.safetensors"},
        {"relative_path": "a//x.safetensors"},
        {"relative_path": "a/other.safetensors"},  # must end with the filename
        {"relative_path": "/".join(["d"] * 40) + "/x.safetensors"},
        {"relative_path": 5},
        {"group": "../g", "group_size": 2},
        {"group": "g" * 65, "group_size": 2},
        {"group": "", "group_size": 2},
        {"group": "g1", "group_size": 0},
        {"group": "g1", "group_size": 10_001},
        {"group": "g1", "group_size": True},
        {"group": "g1", "group_size": "2"},
        {"group": "g1"},
        {"group_size": 2},
    ],
)
async def test_hostile_group_fields_refused(client: Any, library: Library, extra: dict[str, Any]) -> None:
    body = {"filename": "x.safetensors", "size": 10, "group": "g1", "group_size": 2, **extra}
    if "group" not in extra and "group_size" in extra:
        del body["group"]
    if "group_size" not in extra and "group" in extra:
        del body["group_size"]
    resp = await client.post(V1 + "/uploads", json=body, headers=JSON_HEADERS)
    assert resp.status == 400, (body, await resp.text())
    assert (await resp.json())["error"]["code"] in ("invalid_input", "unsafe_path")
    # Nothing written: no session, no group folder, not even the group key.
    assert list((library.config.tmp_dir / "uploads").iterdir()) == []


async def test_group_conflicts(client: Any, library: Library) -> None:
    data = b"x" * 10
    await create_member(client, data, "m/a.safetensors", "g2", 3)
    for rel, size in (
        ("m/a.safetensors", 3),  # the same path twice
        ("M/A.safetensors", 3),  # the same path on a case-insensitive disk
        ("m/a.safetensors/b.safetensors", 3),  # a file where a folder is needed
        ("m/b.safetensors", 4),  # another group_size for the same group
    ):
        body = {"filename": rel.rsplit("/", 1)[-1], "size": 10, "relative_path": rel}
        resp = await client.post(
            V1 + "/uploads", json={**body, "group": "g2", "group_size": size}, headers=JSON_HEADERS
        )
        assert resp.status == 409, (rel, await resp.text())
    await create_member(client, data, "m/b.safetensors", "g2", 3)
    resp = await client.post(
        V1 + "/uploads",
        json={"filename": "m", "size": 10, "relative_path": "m", "group": "g2", "group_size": 3},
        headers=JSON_HEADERS,
    )
    assert resp.status == 409  # "m" is a folder of the group
    await create_member(client, data, "m/c.safetensors", "g2", 3)
    resp = await client.post(
        V1 + "/uploads",
        json={"filename": "d.bin", "size": 10, "relative_path": "m/d.bin", "group": "g2", "group_size": 3},
        headers=JSON_HEADERS,
    )
    assert resp.status == 409  # the group has its three files


async def test_group_member_state_and_delete(client: Any, library: Library) -> None:
    a, b = payload(seed=21, elements=64), payload(seed=22, elements=64)
    uid_a = await create_member(client, a, "pair/a.safetensors", "g3", 2)
    assert (await send_all(client, uid_a, a)).status == 200
    state = await (await client.get(f"{V1}/uploads/{uid_a}")).json()
    assert state["complete"] and state["group_pending"] == 1 and "job_id" not in state
    assert state["relative_path"] == "pair/a.safetensors"
    # Giving up on a member frees its path; sending it again completes the group.
    uid_b = await create_member(client, b, "pair/b.safetensors", "g3", 2)
    assert (await client.delete(f"{V1}/uploads/{uid_b}", headers=JSON_HEADERS)).status == 200
    uid_b = await create_member(client, b, "pair/b.safetensors", "g3", 2)
    resp = await send_all(client, uid_b, b)
    assert resp.status == 202, await resp.text()
    job_id = (await resp.json())["job"]["id"]
    state = await (await client.get(f"{V1}/uploads/{uid_a}")).json()
    assert state.get("job_id") == job_id or (await client.get(f"{V1}/uploads/{uid_a}")).status == 404
    done = await wait_job(client, job_id)
    assert sorted(i["status"] for i in done["result"]["items"]) == ["imported", "imported"]


async def test_group_last_file_resumed_after_dropped_connection(client: Any, library: Library) -> None:
    first, last = payload(seed=31, elements=64), payload(seed=32)
    await upload_group_member_ok(client, first, "res/a.safetensors")
    uid = await create_member(client, last, "res/b.safetensors", "g4", 2)
    total = len(last)
    offset = await drop_mid_body(client, uid, last, 1_000_000)
    assert 0 < offset < total
    resp = await put_rest(client, uid, last, offset)
    assert resp.status == 202, await resp.text()
    job_id = (await resp.json())["job"]["id"]
    # Sending the end once more does not start a second import.
    again = await client.put(f"{V1}/uploads/{uid}", data=last[-10:], headers=crange(total - 10, total, total))
    # Either the import is still running (409: complete, its job named) or it finished and dropped the
    # session (404): both are exact answers; never a second job.
    code = {409: "upload_offset_mismatch", 404: "not_found"}.get(again.status)
    assert code is not None and (await again.json())["error"]["code"] == code, await again.text()
    done = await wait_job(client, job_id)
    assert sorted(i["status"] for i in done["result"]["items"]) == ["imported", "imported"]
    jobs = library.db.execute_read("SELECT count(*) FROM jobs WHERE kind = 'upload'")[0][0]
    assert jobs == 1
    assert uploads_left(library) == []


async def upload_group_member_ok(client: Any, data: bytes, rel: str) -> None:
    uid = await create_member(client, data, rel, "g4", 2)
    resp = await send_all(client, uid, data)
    assert resp.status == 200 and (await resp.json())["group_pending"] == 1


async def test_two_groups_interleaved(client: Any, library: Library, tmp_path: Path) -> None:
    write_sharded_set(tmp_path / "one", stem="alpha", n=3)
    write_sharded_set(tmp_path / "two", stem="beta", n=2, family="sdxl_unet")
    one, two = tree(tmp_path / "one"), tree(tmp_path / "two")
    ids_one = {rel: await create_member(client, d, f"one/{rel}", "ga", len(one)) for rel, d in one.items()}
    ids_two = {rel: await create_member(client, d, f"two/{rel}", "gb", len(two)) for rel, d in two.items()}
    order = [("one", r) for r in one]
    for i, rel in enumerate(two):
        order.insert(2 * i + 1, ("two", rel))
    jobs: dict[str, str] = {}
    for which, rel in order:
        files, ids = (one, ids_one) if which == "one" else (two, ids_two)
        resp = await send_all(client, ids[rel], files[rel])
        body = await resp.json()
        if resp.status == 202:
            jobs[which] = body["job"]["id"]
        else:
            assert resp.status == 200 and body["group_pending"] > 0, body
    assert set(jobs) == {"one", "two"}
    names = {}
    for which, job_id in jobs.items():
        done = await wait_job(client, job_id)
        items = done["result"]["items"]
        assert [i["status"] for i in items] == ["imported"], items
        model = library.catalog.get_model(items[0]["id"])
        assert model.format == "sharded-set"
        names[which] = model.name
    assert names == {"one": "alpha", "two": "beta"}
    assert uploads_left(library) == []


async def test_interrupted_group_import_resumes(client: Any, library: Library, tmp_path: Path) -> None:
    """A restart while a group's import was queued or running: the job is rebuilt from its params."""
    store = await client.ctx.uploads()
    write_sharded_set(tmp_path / "set", stem="resumed", n=2)
    files = tree(tmp_path / "set")
    folder = ""
    for rel, data in files.items():
        session = store.create(rel, len(data), group="gr", group_size=len(files))
        with store.open_writer(session.id, 0) as writer:
            writer.write(data)
        done = store.complete(session.id)
        assert done.group is not None
        folder = done.group.folder
    assert store.groups.claim(folder)[0]
    params = {"group": "gr", "group_folder": folder, "path": str(store.groups.path(folder)), "files": 3}
    job = Job("j1", "upload", "failed", Progress(0, 0, ""), params=params, resumable=True)
    fn = resume_factory(library, store)(job)
    assert fn is not None
    result = fn(lambda *_: None, lambda: False)
    [item] = result["items"]
    assert item["status"] == "imported" and library.catalog.get_model(item["id"]).format == "sharded-set"
    assert uploads_left(library) == []
    # Once the group is gone (imported before the restart), nothing is resumed.
    assert resume_factory(library, store)(job) is None
