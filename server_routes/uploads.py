"""``/uploads``: resumable uploads for the browser's drop zone, streamed to disk, then imported.

``PUT`` bodies are read from ``request.content`` chunk by chunk and written in a thread, never held in
memory. That also keeps them outside ComfyUI's 100 MB ``client_max_size``: aiohttp enforces that limit
only in ``BaseRequest.read()`` (which ``text()``, ``json()`` and ``post()`` call), not on the
``request.content`` stream (checked in aiohttp 3.8-3.14, ``web_request.py``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from aiohttp import web

from ..core.errors import InvalidInput, ModelLibraryError
from ..core.uploads import UploadOffsetMismatch, UploadSession, UploadStore
from ._context import RouteContext
from ._http import json_response, opt_str, read_json, reject_unknown, run
from ._router import Router
from ._tasks import upload_import_task
from .guards import Policy

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
        reject_unknown(body, ("filename", "size"))
        filename = opt_str(body, "filename", max_len=1024, required=True) or ""
        store = await ctx.uploads()
        session = await run(store.create, filename, body.get("size"))
        return json_response(session.to_dict(), status=201)

    async def get_upload(request: web.Request) -> web.Response:
        store = await ctx.uploads()
        return json_response((await run(store.get, request.match_info["id"])).to_dict())

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
