"""``/models/{id}/preview``: a model's preview image (only pixels we re-encoded), set and cleared."""

from __future__ import annotations

from aiohttp import web

from ..core.errors import InvalidInput
from ._http import json_response, opt_str, query_int, read_capped, read_json, reject_unknown, run
from ._router import Router
from .guards import Policy
from .models import _model_ref

MAX_PREVIEW_UPLOAD = 32 * 1024 * 1024
SIZES = (256, 512)
# Our bytes only (WebP we encoded): never sniffed as anything else, never a document.
_IMAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Content-Disposition": "inline",
}


def add_routes(router: Router) -> None:
    ctx = router.ctx

    async def get_preview(request: web.Request) -> web.StreamResponse:
        ref = _model_ref(request)
        size = query_int(request, "size", 0, low=0, high=4096) or None
        if size is not None and size not in SIZES:
            raise InvalidInput(
                f"size must be one of {', '.join(map(str, SIZES))} (or left out for the full image)"
            )
        library = await ctx.library()
        found = await run(library.previews.image, ref, size)
        etag = f'"{found.etag}"'
        # A URL carrying the preview's tag (?v=) names these exact pixels forever.
        # Only the current tag: a stale or made-up one would keep other pixels under its URL for a year.
        tagged = bool(found.tag) and request.query.get("v") == found.tag
        cache = "public, max-age=31536000, immutable" if tagged else "no-cache"
        headers = {**_IMAGE_HEADERS, "ETag": etag, "Cache-Control": cache, "Content-Type": "image/webp"}
        if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
            return web.Response(status=304, headers={"ETag": etag, "Cache-Control": cache})
        data = await run(library.previews.image_bytes, found)
        return web.Response(body=data, headers=headers)

    async def put_preview(request: web.Request) -> web.Response:
        ref = _model_ref(request)
        library = await ctx.library()
        if (request.content_type or "").lower() == "application/json":
            body = await read_json(request)
            reject_unknown(body, ("output",))
            name = opt_str(body, "output", max_len=1024, required=True)
            assert name is not None
            output_dir = ctx.output_dir()
            model = await run(library.previews.set_from_output, ref, name, output_dir)
        else:
            data = await read_capped(request, MAX_PREVIEW_UPLOAD, "a preview image")
            model = await run(library.previews.set_image, ref, data)
        return json_response(model.to_dict())

    async def delete_preview(request: web.Request) -> web.Response:
        ref = _model_ref(request)
        library = await ctx.library()
        return json_response((await run(library.previews.clear, ref)).to_dict())

    router.add("GET", "/models/{id}/preview", Policy.READ, get_preview)
    router.add("PUT", "/models/{id}/preview", Policy.UPLOAD_OR_JSON, put_preview)
    router.add("DELETE", "/models/{id}/preview", Policy.CHANGE, delete_preview)
