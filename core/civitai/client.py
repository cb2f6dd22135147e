"""The Civitai client: model versions by file hash, a model's versions, and preview image bytes.

Every request goes through ``make_client(guard)``, so the host policy, circuit breaker and throttle apply
to each hop of a redirect too. The API key is the guard's ``CIVITAI_SCOPE`` credential: the guard adds it
for Civitai's API origin only and strips any ``Authorization`` elsewhere (the image CDN included), and
the Hub token never leaves the Hub's scope. Answers are cached in the catalog's ``HttpCache`` as our own
records (a hit for 7 days, a miss for 1, stale served when Civitai cannot be reached); 408/429/5xx and
transport failures are retried by the ``Retrier`` honouring ``Retry-After``. A wrong shape is
``UpstreamError``; httpx is imported on first use only.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import Forbidden, InvalidConfig, InvalidInput, NotFound, UpstreamError
from ..net.clock import SYSTEM_CLOCK, Clock
from ..net.policy import CIVITAI_SCOPE
from ..net.retry import Retrier, transient_for_status
from .records import CivitaiModel, CivitaiVersion, model_from_api, version_from_api

if TYPE_CHECKING:
    import httpx

    from ..net.cache import Fetched, HttpCache
    from ..net.transport import NetworkGuard

T = TypeVar("T")
_log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://civitai.com"
HIT_TTL = 7 * 24 * 3600.0
MISS_TTL = 24 * 3600.0
MODEL_TTL = 24 * 3600.0
MAX_JSON_BYTES = 8 * 1024 * 1024
MAX_IMAGE_BYTES = 32 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_SERVER = "Civitai"


def validate_sha256(sha256: str) -> str:
    """The lowercase digest, or InvalidInput for anything that is not 64 hex digits."""
    if not isinstance(sha256, str) or not _SHA256.match(sha256.removeprefix("sha256:")):
        raise InvalidInput(f"{str(sha256)[:80]!r} is not a SHA-256 digest; give 64 hex digits.")
    return sha256.removeprefix("sha256:").lower()


class CivitaiClient:
    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        api_key: str | None,
        guard: NetworkGuard,
        cache: HttpCache | None,
        retrier: Retrier | None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.endpoint = endpoint.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+$", self.endpoint, re.IGNORECASE):
            raise InvalidConfig(
                f"Civitai endpoint {endpoint!r} is not an http(s) origin like {DEFAULT_ENDPOINT}."
            )
        self.guard = guard
        self.cache = cache
        self.retrier = retrier or Retrier(clock=clock)
        self.clock = clock
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()
        if api_key:
            if not guard.policy.is_civitai_api(f"{self.endpoint}/api/v1/"):
                raise InvalidConfig(
                    f"The Civitai key would not be sent to {self.endpoint}: it is not the host policy's "
                    "Civitai API origin. Set civitai_endpoint to it (or use https://civitai.com)."
                )
            guard.set_token(CIVITAI_SCOPE, api_key)

    def __repr__(self) -> str:  # never echo the key
        key = "set" if self.guard.has_scope_token(CIVITAI_SCOPE) else "none"
        return f"CivitaiClient(endpoint={self.endpoint!r}, api_key={key})"

    @property
    def http(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                from ..net.transport import make_client

                self._http = make_client(self.guard)
            return self._http

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    # -- API -----------------------------------------------------------------------------------------
    def by_hash(self, sha256: str) -> CivitaiVersion | None:
        """The model version a file with this SHA-256 belongs to; None when Civitai does not know it."""
        sha = validate_sha256(sha256)
        what = f"Civitai lookup of {sha[:12]}"

        def build(raw: Any) -> dict[str, Any]:
            model_id = raw.get("modelId") if isinstance(raw, dict) else None
            model = self._model_or_none(model_id) if isinstance(model_id, int) else None
            return version_from_api(raw, what, model, self.endpoint).to_dict()

        url = f"{self.endpoint}/api/v1/model-versions/by-hash/{sha}"
        return self._cached(f"by-hash:{sha}", url, what, build, CivitaiVersion.from_dict, HIT_TTL, MISS_TTL)

    def model(self, model_id: int) -> CivitaiModel:
        """A model with its versions newest first (for "an update is available"); NotFound if none."""
        if isinstance(model_id, bool) or not isinstance(model_id, int) or not 0 < model_id < 2**53:
            raise InvalidInput(f"{model_id!r} is not a Civitai model id; give a positive whole number.")
        what = f"Civitai model {model_id}"
        url = f"{self.endpoint}/api/v1/models/{model_id}"
        model = self._cached(
            f"model:{model_id}",
            url,
            what,
            lambda raw: model_from_api(raw, what).to_dict(),
            CivitaiModel.from_dict,
            MODEL_TTL,
            MISS_TTL,
        )
        if model is None:
            raise NotFound(f"{what} is not on Civitai (HTTP 404); it may have been removed.")
        return model

    def image_bytes(self, url: str, *, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
        """An image's raw bytes (the caller decodes and re-encodes them), refused past ``max_bytes``."""
        self.guard.policy.check(url)  # HostNotAllowed before any request

        def attempt() -> bytes:
            with self.http.stream("GET", url) as response:
                self._raise_for(response, url, f"Civitai image {url[:120]}")
                return _read_capped(response, max_bytes, lambda: _too_big(url, max_bytes))

        return self.retrier.call(attempt)

    # -- plumbing ------------------------------------------------------------------------------------
    def _model_or_none(self, model_id: int) -> CivitaiModel | None:
        try:
            return self.model(model_id)
        except (NotFound, InvalidInput):
            return None

    def _cached(
        self,
        key: str,
        url: str,
        what: str,
        build: Callable[[Any], dict[str, Any]],
        load: Callable[[dict[str, Any]], T],
        hit_ttl: float,
        miss_ttl: float,
    ) -> T | None:
        """Our record for ``url`` (None for a 404), through the cache; a miss is kept for ``miss_ttl``.

        ``build`` turns the API's JSON into the record's dict (kept in the cache), ``load`` reads it back.
        """
        from ..net.cache import Fetched

        missed: list[bool] = []

        def fetch(etag: str | None) -> Fetched:
            status, body, new_etag = self._get(url, what, etag)
            if status == 304:
                return Fetched(not_modified=True)
            missed.append(status == 404)
            record = None if status == 404 else build(_json(body, what))
            return Fetched(json.dumps(record, sort_keys=True).encode("utf-8"), new_etag, status)

        if self.cache is None:
            return _load(json.loads(fetch(None).body), load)
        full_key = f"civitai|{self.endpoint}|{key}"
        for _ in range(2):
            cached = self.cache.get_or_fetch(full_key, fetch, ttl=hit_ttl)
            if missed and missed[-1]:
                self.cache.extend(full_key, miss_ttl)
            try:
                return _load(cached.json(), load)
            except (ValueError, KeyError, TypeError) as exc:  # a damaged or older entry: drop it, ask again
                _log.warning("discarding the cached Civitai record %s: %s", key, exc)
                self.cache.delete(full_key)
        raise UpstreamError(f"{what}: the cached answer could not be read twice; try again.")

    def _get(self, url: str, what: str, etag: str | None) -> tuple[int, bytes, str | None]:
        headers = {"Accept": "application/json"}
        if etag:
            headers["If-None-Match"] = etag

        def attempt() -> tuple[int, bytes, str | None]:
            with self.http.stream("GET", url, headers=headers) as response:
                if response.status_code in (304, 404):
                    return response.status_code, b"", None
                self._raise_for(response, url, what)
                body = _read_capped(response, MAX_JSON_BYTES, lambda: _too_long(what))
                return 200, body, response.headers.get("etag")

        return self.retrier.call(attempt)

    def _raise_for(self, response: httpx.Response, url: str, what: str) -> None:
        status = response.status_code
        transient = transient_for_status(status, url, response.headers, self.clock.time(), server=_SERVER)
        if transient is not None:
            raise transient
        if status in (401, 403):
            raise Forbidden(f"{what}: Civitai refused access (HTTP {status}); check the Civitai API key.")
        if status == 404:
            raise NotFound(f"{what}: not found on Civitai (HTTP 404).")
        if status != 200:
            raise UpstreamError(f"{what}: Civitai answered HTTP {status}, which this client does not expect.")


def _read_capped(response: httpx.Response, limit: int, too_big: Callable[[], Exception]) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big()
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise too_big()
        chunks.append(chunk)
    return b"".join(chunks)


def _too_long(what: str) -> UpstreamError:
    return UpstreamError(f"{what}: Civitai's answer is larger than {MAX_JSON_BYTES} bytes; it is not read.")


def _too_big(url: str, limit: int) -> InvalidInput:
    return InvalidInput(f"The image at {url[:120]} is larger than {limit} bytes; it is not fetched.")


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UpstreamError(
            f"{what}: Civitai's answer is not JSON ({str(exc)[:80]}). Try again later; if it persists, "
            "check the Civitai endpoint setting (civitai_endpoint)."
        ) from exc


def _load(value: Any, load: Callable[[dict[str, Any]], T]) -> T | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("a cached Civitai record is not an object")
    return load(value)


__all__ = ["DEFAULT_ENDPOINT", "HIT_TTL", "MISS_TTL", "MODEL_TTL", "CivitaiClient", "validate_sha256"]
