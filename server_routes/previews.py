"""``/models/{id}/preview`` and ``/models/{id}/gallery``: a model's preview and its sites' images (only
pixels we re-encoded), set and cleared."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web

from ..core.errors import BodyTimeout, Busy, InvalidInput
from ..core.previews.store import PreviewFile
from ._http import json_response, opt_str, query_int, read_capped, read_json, reject_unknown, run
from ._router import Router
from .guards import Policy
from .models import _model_ref

if TYPE_CHECKING:
    from ..core.library import Library

T = TypeVar("T")


MAX_PREVIEW_UPLOAD = 32 * 1024 * 1024
# Preview saves at once: each holds its body (up to 32 MiB) and decodes up to 40 megapixels (160 MB).
# Strangers can send many at once; beyond these, a save waits a little, then is refused as busy.
MAX_SAVING = 2
SAVING_WAIT_S = 10.0
# A save holding a place reads its body within this (32 MiB at 0.5 MB/s): a body trickled a byte now
# and then (aiohttp sets no read timeout) would hold the place for as long as its sender likes.
SAVING_BODY_S = 60.0
SIZES = (256, 512)
# Our bytes only (WebP we encoded): never sniffed as anything else, never a document.
_IMAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Content-Disposition": "inline",
}


def _size(request: web.Request) -> int | None:
    size = query_int(request, "size", 0, low=0, high=4096) or None
    if size is not None and size not in SIZES:
        raise InvalidInput(
            f"size must be one of {', '.join(map(str, SIZES))} (or left out for the full image)"
        )
    return size


async def _image(request: web.Request, found: PreviewFile, *, forever: bool = False) -> web.Response:
    """Our re-encoded WebP with its ETag. A URL carrying the preview's current tag (?v=) names these exact
    pixels for good; a stale or made-up tag must not keep other pixels under its URL for a year."""
    etag = f'"{found.etag}"'
    tagged = forever or (bool(found.tag) and request.query.get("v") == found.tag)
    cache = "public, max-age=31536000, immutable" if tagged else "no-cache"
    if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers={"ETag": etag, "Cache-Control": cache})
    data = await run(read_served, found)
    headers = {**_IMAGE_HEADERS, "ETag": etag, "Cache-Control": cache, "Content-Type": "image/webp"}
    return web.Response(body=data, headers=headers)


def read_served(found: PreviewFile) -> bytes:
    """A file we wrote, read as a regular file without following links, at most 32 MiB."""
    from ..core.errors import NotFound
    from ..core.previews.collect import read_small_file

    data = read_small_file(str(found.path), MAX_PREVIEW_UPLOAD)
    if data is None:
        raise NotFound("the image's file is gone or is not one the library wrote; set it again.")
    return data


def add_routes(router: Router) -> None:
    ctx = router.ctx
    saving = asyncio.Semaphore(MAX_SAVING)

    @asynccontextmanager
    async def one_save() -> AsyncIterator[None]:
        try:
            await asyncio.wait_for(saving.acquire(), SAVING_WAIT_S)
        except asyncio.TimeoutError:
            raise Busy(
                f"{MAX_SAVING} previews are being saved right now; set this one again in a moment."
            ) from None
        try:
            yield
        finally:
            saving.release()

    async def get_preview(request: web.Request) -> web.StreamResponse:
        ref = _model_ref(request)
        size = _size(request)
        library = await ctx.library()
        return await _image(request, await run(library.previews.image, ref, size))

    async def gallery(request: web.Request) -> web.Response:
        ref = _model_ref(request)
        library = await ctx.library()
        model = await run(library.catalog.get_model, ref)
        items = await run(library.origins.gallery, model.id)
        return json_response({"items": [item.to_dict(model.id) for item in items]})

    async def gallery_image(request: web.Request) -> web.StreamResponse:
        ref = _model_ref(request)
        raw = request.match_info["index"]
        if not raw.isdigit() or len(raw) > 3:
            raise InvalidInput("a gallery image is named by its index (0, 1, ...)")
        size = _size(request)
        library = await ctx.library()
        found = await run(library.origins.gallery_image, ref, int(raw), size)
        return await _image(request, found, forever=True)

    async def put_preview(request: web.Request) -> web.Response:
        ref = _model_ref(request)
        library = await ctx.library()
        async with one_save():  # the body is read only once a place is free
            return await save_preview(request, ref, library)

    async def body(read: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(read, SAVING_BODY_S)
        except asyncio.TimeoutError:
            raise BodyTimeout(
                f"the preview's body did not arrive within {SAVING_BODY_S:g} s; send it again"
            ) from None

    async def save_preview(request: web.Request, ref: str, library: Library) -> web.Response:
        if (request.content_type or "").lower() == "application/json":
            fields = await body(read_json(request))
            reject_unknown(fields, ("output", "gallery"))
            if "gallery" in fields:
                index = fields["gallery"]
                if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                    raise InvalidInput("gallery is the index of one of the model's gallery images")
                model = await run(library.origins.use_gallery_image, ref, index)
                return json_response(model.to_dict())
            name = opt_str(fields, "output", max_len=1024, required=True)
            assert name is not None
            output_dir = ctx.output_dir()
            model = await run(library.previews.set_from_output, ref, name, output_dir)
        else:
            data = await body(read_capped(request, MAX_PREVIEW_UPLOAD, "a preview image"))
            model = await run(library.previews.set_image, ref, data)
        return json_response(model.to_dict())

    async def delete_preview(request: web.Request) -> web.Response:
        ref = _model_ref(request)
        library = await ctx.library()
        return json_response((await run(library.previews.clear, ref)).to_dict())

    router.add("GET", "/models/{id}/preview", Policy.READ, get_preview)
    router.add("PUT", "/models/{id}/preview", Policy.UPLOAD_OR_JSON, put_preview)
    router.add("DELETE", "/models/{id}/preview", Policy.CHANGE, delete_preview)
    router.add("GET", "/models/{id}/gallery", Policy.READ, gallery)
    router.add("GET", "/models/{id}/gallery/{index}", Policy.READ, gallery_image)
