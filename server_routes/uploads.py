"""``/uploads``: resumable uploads for the browser's drop zone, streamed to disk, then imported.

``PUT`` bodies are read from ``request.content`` chunk by chunk and written in a thread, never held in
memory. That also keeps them outside ComfyUI's 100 MB ``client_max_size``: aiohttp enforces that limit
only in ``BaseRequest.read()`` (which ``text()``, ``json()`` and ``post()`` call), not on the
``request.content`` stream (checked in aiohttp 3.8-3.14, ``web_request.py``).

The files of one drop (a sharded set, a Diffusers folder, a folder of models) are sent as a group
(``group``, ``group_size``, ``relative_path``): each file completing before the last answers 200 with
``group_pending``; the last one starts ONE import of the group's folder, which plans it exactly as
``model-library import <folder>`` does, and answers 202 with the job. Pickle files are imported like any
upload (allowed); the panel's import dialog asks the user to acknowledge them afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..core.errors import InvalidInput, ModelLibraryError, UploadOffsetMismatch
from ._context import RouteContext
from ._http import json_response, opt_str, read_json, reject_unknown, run
from ._router import Router
from ._tasks import upload_group_import_task, upload_import_task
from .guards import Policy

if TYPE_CHECKING:
    # Types only: core.uploads (hashing, disk) loads when the first request builds the route context.
    from ..core.uploads import CompletedUpload, UploadSession, UploadStore

log = logging.getLogger("model_library.http")

_RANGE = re.compile(r"^bytes (\d{1,20})-(\d{1,20})/(\d{1,20})$")
READ_CHUNK = 1 << 20
# Bytes gathered before one hand-off to the writer thread: few thread hops, bounded memory per request.
WRITE_BATCH = 4 << 20


def parse_content_range(value: str | None, session: UploadSession) -> tuple[int, int]:
    """``bytes a-b/total`` -> (a, length). total must be the session's size."""
    match = _RANGE.match((value or "").strip())
    if match is None:
        raise InvalidInput(
            f"PUT /uploads needs a header 'Content-Range: bytes <first>-<last>/{session.size}', "
            f"got {(value or '')[:80]!r}"
        )
    first, last, total = (int(g) for g in match.groups())
    if total != session.size:
        raise InvalidInput(f"Content-Range total {total} differs from the upload's size {session.size}")
    if last < first or last >= total:
        raise InvalidInput(f"Content-Range {value!r} is not a range inside 0-{total - 1}")
    if first != session.offset:
        raise UploadOffsetMismatch(
            f"upload {session.id} is at offset {session.offset}, not {first}; resume from there",
            session.offset,
        )
    return first, last - first + 1


async def _receive(request: web.Request, store: UploadStore, session: UploadSession) -> UploadSession:
    start, length = parse_content_range(request.headers.get("Content-Range"), session)
    declared = request.content_length
    if declared is not None and declared != length:
        raise InvalidInput(f"Content-Length {declared} differs from the Content-Range length {length}")
    writer = await run(store.open_writer, session.id, start)
    received = 0
    batch = bytearray()

    def flush_and_close() -> UploadSession:
        try:
            if batch:
                writer.write(bytes(batch))
        finally:
            closed = writer.close()
        return closed

    try:
        async for chunk in request.content.iter_chunked(READ_CHUNK):
            received += len(chunk)
            if received > length:
                raise InvalidInput(f"the body is longer than the Content-Range length {length}")
            batch += chunk
            if len(batch) >= WRITE_BATCH:
                await run(writer.write, bytes(batch))
                batch.clear()
    except ModelLibraryError:
        raise
    except Exception as exc:
        # The connection dropped mid-body (aiohttp reports a payload or connection error). Keep the
        # bytes that arrived; the client resumes from GET /uploads/{id}.
        log.info("upload %s: body ended early after %d bytes (%s)", session.id, received, exc)
    finally:
        # Shielded: even when the request task is cancelled (a host may cancel handlers whose client
        # went away), what arrived is written, synced and the session released, in a thread.
        session = await asyncio.shield(run(flush_and_close))
    return session


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def create_upload(request: web.Request) -> web.Response:
        body = await read_json(request)
        reject_unknown(body, ("filename", "size", "relative_path", "group", "group_size"))
        filename = opt_str(body, "filename", max_len=1024, required=True) or ""
        store = await ctx.uploads()
        session = await run(
            store.create,
            filename,
            body.get("size"),
            relative_path=body.get("relative_path"),
            group=body.get("group"),
            group_size=body.get("group_size"),
            client=request.remote,
        )
        return json_response(session.to_dict(), status=201)

    async def get_upload(request: web.Request) -> web.Response:
        store = await ctx.uploads()
        return json_response(await run(store.describe, request.match_info["id"]))

    async def put_upload(request: web.Request) -> web.Response:
        store = await ctx.uploads()
        session = await run(store.get, request.match_info["id"])
        if not session.complete:
            session = await _receive(request, store, session)
        if session.offset < session.size:
            return json_response(session.to_dict())
        if session.job_id is not None:
            raise UploadOffsetMismatch(
                f"upload {session.id} is complete; its import is job {session.job_id}", session.offset
            )
        if session.group_folder is not None:
            return await _finish_group_member(ctx, store, session)
        return await _start_import(ctx, store, session)

    async def delete_upload(request: web.Request) -> web.Response:
        store = await ctx.uploads()
        session = await run(store.get, request.match_info["id"])
        await run(store.discard, session.id)
        return json_response({"upload_id": session.id, "discarded": True})

    router.add("POST", "/uploads", Policy.CHANGE, create_upload)
    router.add("GET", "/uploads/{id}", Policy.READ, get_upload)
    router.add("PUT", "/uploads/{id}", Policy.UPLOAD, put_upload)
    router.add("DELETE", "/uploads/{id}", Policy.CHANGE, delete_upload)


async def _start_import(ctx: RouteContext, store: UploadStore, session: UploadSession) -> web.Response:
    """All bytes are in: finish the file and queue its import (a full queue answers 429; a later PUT on
    the complete upload tries again)."""
    library = await ctx.library()
    if session.complete:
        path = store.root / session.id / "file" / session.filename
        received: dict[str, Any] = {}
    else:
        done = await run(store.complete, session.id)
        path = done.path
        received = {"size": done.size, "blake3": done.blake3, "sha256": done.sha256}
    params = {"upload_id": session.id, "filename": session.filename, "path": str(path), "received": received}
    job = await ctx.submit(
        "upload",
        upload_import_task(library, store, session.id, path, session.filename, received),
        params=params,
        resumable=True,
    )
    await run(store.set_job, session.id, job.id)
    return json_response({"job": job.to_dict(), "offset": session.size, "received": received}, status=202)


def _received(done: CompletedUpload) -> dict[str, Any]:
    return {"size": done.size, "blake3": done.blake3, "sha256": done.sha256}


async def _finish_group_member(ctx: RouteContext, store: UploadStore, session: UploadSession) -> web.Response:
    """A group member's bytes are all in: put the file in place; when it was the group's last file,
    queue the group's one import (a full queue answers 429; a later PUT of any member tries again)."""
    assert session.group_folder is not None
    received: dict[str, Any] = {}
    if not session.complete:
        received = _received(await run(store.complete, session.id))
    claimed, state = await run(store.groups.claim, session.group_folder)
    if not claimed:
        if state.job_id is not None:
            raise UploadOffsetMismatch(
                f"upload {session.id} is complete; its group's import is job {state.job_id}", session.size
            )
        answer = {**session.to_dict(), "complete": True, "offset": session.size}
        return json_response({**answer, "group_pending": state.pending, "received": received})
    library = await ctx.library()
    folder = store.groups.path(state.folder)
    params = {"group": state.group, "group_folder": state.folder, "path": str(folder), "files": state.size}
    try:
        job = await ctx.submit(
            "upload",
            upload_group_import_task(library, store, state.folder, state.group),
            params=params,
            resumable=True,
        )
    except BaseException:
        await run(store.groups.unclaim, state.folder)
        raise
    await run(store.groups.set_job, state.folder, job.id)
    body = {"job": job.to_dict(), "offset": session.size, "received": received, "group_pending": 0}
    return json_response(body, status=202)
