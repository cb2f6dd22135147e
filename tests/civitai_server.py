"""A loopback server speaking the part of Civitai's API v1 our client uses.

Routes: ``GET /api/v1/model-versions/by-hash/{sha256}`` (a version object, 404 ``{"error": ...}`` when no
file has that hash), ``GET /api/v1/models/{id}`` (the model with its ``modelVersions``) and images at
``GET /images/{name}`` (bytes given by the test). Versions are built with ``make_version``; the models are
derived from them (``make_model`` adds model-level fields: creator, license, description).

Faults are set per test on ``CivitaiServer.faults`` (see ``Faults``). Every request is logged in
``CivitaiServer.requests`` as ``(method, path_qs, headers)``, so tests can check which headers were sent.
Use ``start_civitai(versions) -> (url, stop)`` or ``CivitaiServer(...).start()``.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.loopback import LoopbackServer


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_version(
    version_id: int,
    model_id: int,
    *,
    sha256: str,
    model_name: str = "Detail Tweaker",
    name: str = "v1.0",
    model_type: str = "LORA",
    base_model: str = "SDXL 1.0",
    trained_words: Iterable[str] = ("detailed",),
    description: str | None = "<p>Adds <b>detail</b>.</p>",
    images: Iterable[dict[str, Any]] | None = None,
    file_name: str = "detail.safetensors",
    created_at: str = "2024-05-01T10:00:00.000Z",
    **extra: Any,
) -> dict[str, Any]:
    """A version object as ``/model-versions/by-hash`` answers it (field names and types as Civitai's)."""
    images = (
        list(images)
        if images is not None
        else [
            {
                "url": f"https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA/{version_id}/width=832/1.jpeg",
                "nsfwLevel": 1,
                "width": 832,
                "height": 1216,
                "hash": "U7Fr6",
                "type": "image",
                "hasMeta": True,
            }
        ]
    )
    return {
        "id": version_id,
        "modelId": model_id,
        "name": name,
        "createdAt": created_at,
        "updatedAt": created_at,
        "publishedAt": created_at,
        "status": "Published",
        "nsfwLevel": 1,
        "trainedWords": list(trained_words),
        "baseModel": base_model,
        "baseModelType": "Standard",
        "description": description,
        "stats": {"downloadCount": 1234, "thumbsUpCount": 56},
        "model": {"name": model_name, "type": model_type, "nsfw": False, "poi": False},
        "files": [
            {
                "id": version_id * 10,
                "sizeKB": 223101.34,
                "name": file_name,
                "type": "Model",
                "pickleScanResult": "Success",
                "virusScanResult": "Success",
                "metadata": {"format": "SafeTensor", "size": None, "fp": None},
                "hashes": {"AutoV2": sha256[:10].upper(), "SHA256": sha256.upper(), "CRC32": "0A1B2C3D"},
                "primary": True,
                "downloadUrl": f"https://civitai.com/api/download/models/{version_id}",
            }
        ],
        "images": images,
        "downloadUrl": f"https://civitai.com/api/download/models/{version_id}",
        **extra,
    }


def make_model(model_id: int, *, versions: Iterable[dict[str, Any]] = (), **fields: Any) -> dict[str, Any]:
    """Model-level fields of ``/models/{id}``; its ``modelVersions`` are filled from the server's versions."""
    base = {
        "id": model_id,
        "name": "Detail Tweaker",
        "description": "<p>A <i>LoRA</i> for detail.</p>",
        "type": "LORA",
        "poi": False,
        "nsfw": False,
        "allowNoCredit": True,
        "allowCommercialUse": ["Image", "Rent", "Sell"],
        "allowDerivatives": True,
        "allowDifferentLicense": False,
        "creator": {"username": "alice", "image": None},
        "tags": ["detail"],
        "modelVersions": list(versions),
    }
    return {**base, **fields}


@dataclass
class Faults:
    """Injectable misbehaviour for the API routes (``api``) and the image route (``images``)."""

    statuses: list[int] = field(default_factory=list)  # answered (one each) before normal service
    status_for_hash: int | None = None  # every by-hash answer has this status (e.g. 500, 503)
    status_routes: tuple[str, ...] = ("api",)
    retry_after: str | None = None  # Retry-After on the fault answers
    fail_times: int = 0  # with status_for_hash: fail this many times, then answer normally (0: always)
    delay_s: float = 0.0  # seconds to wait before answering (route in delay_routes)
    delay_routes: tuple[str, ...] = ("api",)
    malformed: bytes | None = None  # served (200, application/json) instead of the API answer
    odd_json: Any = None  # valid JSON in the wrong shape, served instead of the API answer
    redirect_images_to: str | None = None  # answer /images/* with a 302 to this base URL
    # Civitai's rate limit: at most this many API requests a second (a burst of as many), then 429 with
    # Retry-After: 1. None: unlimited.
    rate_limit: float | None = None


class CivitaiServer(LoopbackServer):
    NAME = "loopback Civitai"

    def __init__(
        self,
        versions: Iterable[dict[str, Any]] = (),
        *,
        models: Iterable[dict[str, Any]] = (),
        images: dict[str, bytes] | None = None,
    ) -> None:
        self.versions: dict[str, dict[str, Any]] = {}
        self.models: dict[int, dict[str, Any]] = {m["id"]: m for m in models}
        self.images: dict[str, bytes] = dict(images or {})
        self.faults = Faults()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        super().__init__()
        for version in versions:
            self.add(version)
        self.rate_limited = 0  # 429 answers sent for the rate limit
        self._tokens = 0.0
        self._tokens_at = 0.0

    def add(self, version: dict[str, Any]) -> dict[str, Any]:
        for f in version["files"]:
            self.versions[f["hashes"]["SHA256"].lower()] = version
        return version

    def paths(self) -> list[str]:
        return [p for _, p, _ in self.requests]

    def headers_for(self, prefix: str) -> list[dict[str, str]]:
        return [h for _, p, h in self.requests if p.startswith(prefix)]

    # -- app -----------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/api/v1/model-versions/by-hash/{sha256}", self.by_hash)
        app.router.add_get("/api/v1/models/{model_id}", self.model)
        app.router.add_get("/images/{name}", self.image)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs, dict(request.headers)))
        route = "images" if request.path.startswith("/images/") else "api"
        f = self.faults
        if f.delay_s and route in f.delay_routes:
            await asyncio.sleep(f.delay_s)
        if f.statuses and route in f.status_routes:
            return self._fault(f.statuses.pop(0))
        if f.rate_limit is not None and route == "api" and not self._take_token(f.rate_limit):
            self.rate_limited += 1
            return web.json_response({"error": "rate limited"}, status=429, headers={"Retry-After": "1"})
        if route == "api" and f.malformed is not None:
            return web.Response(body=f.malformed, content_type="application/json")
        if route == "api" and f.odd_json is not None:
            return web.json_response(f.odd_json)
        result: web.StreamResponse = await handler(request)
        return result

    def _take_token(self, rate: float) -> bool:
        now = time.monotonic()
        if not self._tokens_at:
            self._tokens, self._tokens_at = rate, now
        self._tokens = min(rate, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def _fault(self, status: int) -> web.Response:
        headers = {"Retry-After": self.faults.retry_after} if self.faults.retry_after else {}
        return web.json_response({"error": f"fault {status}"}, status=status, headers=headers)

    async def by_hash(self, request: web.Request) -> web.Response:
        f = self.faults
        status = f.status_for_hash
        if status is not None:
            if f.fail_times > 0:
                f.fail_times -= 1
                if f.fail_times == 0:
                    f.status_for_hash = None  # the next request is served
            return self._fault(status)
        version = self.versions.get(request.match_info["sha256"].lower())
        if version is None:
            return web.json_response({"error": "Model not found"}, status=404)
        return web.json_response(version)

    async def model(self, request: web.Request) -> web.Response:
        try:
            model_id = int(request.match_info["model_id"])
        except ValueError:
            return web.json_response({"error": "Invalid id"}, status=400)
        own = {id(v): v for v in self.versions.values() if v["modelId"] == model_id}
        versions = sorted(own.values(), key=lambda v: v["createdAt"], reverse=True)
        listed = [
            {k: v[k] for k in ("id", "modelId", "name", "createdAt", "publishedAt", "baseModel", "files")}
            for v in versions
        ]
        model = self.models.get(model_id)
        if model is None and not listed:
            return web.json_response({"error": f"No model with id {model_id}"}, status=404)
        body = dict(model or make_model(model_id, name=versions[0]["model"]["name"]))
        body["modelVersions"] = body.get("modelVersions") or listed
        return web.json_response(body)

    async def image(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if self.faults.redirect_images_to:
            raise web.HTTPFound(f"{self.faults.redirect_images_to.rstrip('/')}/images/{name}")
        data = self.images.get(name)
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/png")


def start_civitai(versions: Iterable[dict[str, Any]] = (), **kw: Any) -> tuple[str, Callable[[], None]]:
    """Start a loopback Civitai in a background thread; returns its URL and a stop function."""
    server = CivitaiServer(versions, **kw)
    return server.start(), server.stop
