"""The Hub client: huggingface_hub's API calls behind our guard, retry and metadata cache.

``HubClient`` owns the process's network guard for the Hub (policy, throttle, circuit breaker), an httpx
client for file transfers, and the bound on concurrent downloads. Hub API calls use huggingface_hub
(``HfApi(endpoint=...)``), whose HTTP is routed through the same guard while our calls run
(``net.transport.install_hf_client_factory``). Errors come out as the library's own: ``NotFound`` for a
missing repo, revision or file, ``Forbidden`` for a gated or private repo, ``NetworkError`` (and its
``CircuitOpen``/``RateLimited``) when the Hub cannot be reached -- callers record those as pending.
An answer that is not in the shape the Hub's API promises (a dict where a list belongs, missing keys,
wrong types) is ``UpstreamError`` (502 ``upstream_error``), checked at this boundary, never a TypeError.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from ..errors import Forbidden, InvalidInput, ModelLibraryError, NetworkError, NotFound, UpstreamError
from ..net.cache import HttpCache
from ..net.clock import SYSTEM_CLOCK, Clock
from ..net.fetch import read_capped
from ..net.retry import Retrier, TransientError, transient_for_status
from ..net.transport import NetworkGuard, activate, install_hf_client_factory, make_client
from .card import HubCard

T = TypeVar("T")

DEFAULT_ENDPOINT = "https://huggingface.co"
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
SEARCH_TTL = 24 * 3600.0
LISTING_TTL = 6 * 3600.0
PINNED_TTL = 30 * 24 * 3600.0  # a listing at a commit sha never changes


@dataclass(frozen=True)
class RepoFile:
    """One file of a Hub repo. ``sha256`` is the LFS oid (None for small files kept in git)."""

    path: str
    size: int
    sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class RepoListing:
    repo_id: str
    revision: str  # the commit sha
    files: tuple[RepoFile, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "files": [f.to_dict() for f in self.files],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RepoListing:
        files = tuple(RepoFile(str(f["path"]), int(f["size"]), f.get("sha256")) for f in d["files"])
        return cls(str(d["repo_id"]), str(d["revision"]), files)


def validate_repo_id(repo_id: str) -> str:
    if not isinstance(repo_id, str) or not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise InvalidInput(
            f"{repo_id!r} is not a Hugging Face repo id; use the form 'owner/name' (letters, digits, '-', "
            "'_', '.')."
        )
    return repo_id


def is_commit_sha(revision: str | None) -> bool:
    return bool(revision and _SHA1.match(revision))


class HubClient:
    def __init__(
        self,
        config: object,
        *,
        guard: NetworkGuard | None = None,
        cache: HttpCache | None = None,
        retrier: Retrier | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        endpoint = getattr(config, "hf_endpoint", None) or DEFAULT_ENDPOINT
        self.endpoint = endpoint.rstrip("/")
        self.guard = guard or NetworkGuard.from_config(config, clock=clock)
        self.cache = cache
        self.retrier = retrier or Retrier(clock=clock)
        self.clock = clock
        self._token: str | None = getattr(config, "hf_token", None)
        self.download_slots = threading.BoundedSemaphore(
            max(1, int(getattr(config, "max_concurrent_downloads", 2)))
        )
        self._http: httpx.Client | None = None
        self._api: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HubClient(endpoint={self.endpoint!r}, token={'set' if self._token else 'none'})"

    # -- plumbing ------------------------------------------------------------------------------------
    @property
    def http(self) -> httpx.Client:
        """The guarded httpx client for file transfers (redirects followed, each hop re-checked)."""
        with self._lock:
            if self._http is None:
                self._http = make_client(self.guard)
            return self._http

    @property
    def api(self) -> Any:
        with self._lock:
            if self._api is None:
                from huggingface_hub import HfApi

                install_hf_client_factory()
                self._api = HfApi(endpoint=self.endpoint, token=self._token or None)
            return self._api

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def hosts_status(self) -> dict[str, dict[str, Any]]:
        return self.guard.hosts_status()

    def resolve_url(self, repo_id: str, revision: str, filename: str) -> str:
        return f"{self.endpoint}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename, safe='/')}"

    def call_api(self, what: str, fn: Callable[[], T]) -> T:
        """Run a huggingface_hub call under the guard with retry; map its errors to ours."""

        def attempt() -> T:
            with activate(self.guard):
                try:
                    return fn()
                except Exception as exc:
                    raise _map_hf_error(exc, what, self.clock.time()) from exc

        return self.retrier.call(attempt)

    def _cached(self, key: str, ttl: float, produce: Callable[[], Any]) -> Any:
        if self.cache is None:
            return produce()
        return self.cache.get_or_fetch_json(f"{self.endpoint}|{key}", produce, ttl=ttl).json()

    # -- API -----------------------------------------------------------------------------------------
    def revision_sha(self, repo_id: str, revision: str | None = None) -> str:
        validate_repo_id(repo_id)
        info = self.call_api(
            f"model info of {repo_id}", lambda: self.api.model_info(repo_id, revision=revision)
        )
        sha = getattr(info, "sha", None)
        if not sha:
            raise NetworkError(
                f"The Hub did not give a commit for {repo_id}@{revision or 'main'}; try again."
            )
        if not isinstance(sha, str) or not _SHA1.match(sha):
            raise _unexpected(f"model info of {repo_id}", f"the commit {str(sha)[:60]!r} is not a sha")
        return sha

    def list_files(self, repo_id: str, revision: str | None = None) -> RepoListing:
        """Every file of the repo at ``revision`` (pinned to its commit sha) with sizes and LFS sha256."""
        validate_repo_id(repo_id)

        def produce() -> dict[str, Any]:
            sha = revision if is_commit_sha(revision) else self.revision_sha(repo_id, revision)
            assert sha is not None
            entries = self.call_api(
                f"file list of {repo_id}",
                lambda: list(self.api.list_repo_tree(repo_id, revision=sha, recursive=True)),
            )
            what = f"file list of {repo_id}"
            files = [_repo_file(e, what) for e in _entries(entries, what) if hasattr(e, "size")]
            return RepoListing(repo_id, sha, tuple(files)).to_dict()

        ttl = PINNED_TTL if is_commit_sha(revision) else LISTING_TTL
        return RepoListing.from_dict(self._cached(f"tree:{repo_id}@{revision or 'main'}", ttl, produce))

    def paths_info(self, repo_id: str, paths: list[str], revision: str | None = None) -> list[RepoFile]:
        validate_repo_id(repo_id)
        entries = self.call_api(
            f"paths info of {repo_id}",
            lambda: self.api.get_paths_info(repo_id, paths, revision=revision),
        )
        what = f"paths info of {repo_id}"
        return [_repo_file(e, what) for e in _entries(entries, what) if hasattr(e, "size")]

    def model_card(self, repo_id: str) -> HubCard:
        """The repo's card metadata (license, tags, base model, instance prompt, example images)."""
        from .card import card_from_info

        validate_repo_id(repo_id)

        def produce() -> dict[str, Any]:
            info = self.call_api(f"model card of {repo_id}", lambda: self.api.model_info(repo_id))
            return card_from_info(repo_id, info).to_dict()

        d = self._cached(f"card:{repo_id}", LISTING_TTL, produce)
        return HubCard(
            repo_id=repo_id,
            sha=str(d.get("sha") or ""),
            license=d.get("license"),
            tags=tuple(d.get("tags") or ()),
            base_model=tuple(d.get("base_model") or ()),
            instance_prompt=d.get("instance_prompt"),
            images=tuple(d.get("images") or ()),
        )

    def image_bytes(self, url: str, *, max_bytes: int) -> bytes:
        """An image (a card's example) through the guarded client, refused past ``max_bytes``."""
        return read_capped(self.http, url, max_bytes, self.retrier, self.clock)

    def search(self, query: str, *, limit: int = 10) -> list[str]:
        """Repo ids whose name matches ``query`` (the Hub's search), most downloaded first."""
        query = query.strip()[:96]
        if not query:
            return []

        def produce() -> list[str]:
            models = self.call_api(
                f"search for {query!r}",
                lambda: list(self.api.list_models(search=query, sort="downloads", limit=limit)),
            )
            ids = [getattr(m, "id", None) for m in _entries(models, f"search for {query!r}")]
            if not all(isinstance(i, str) for i in ids):
                raise _unexpected(f"search for {query!r}", "a result has no repo id")
            return [str(i) for i in ids]

        result: list[str] = self._cached(f"search:{limit}:{query.lower()}", SEARCH_TTL, produce)
        return result


def _unexpected(what: str, detail: str) -> UpstreamError:
    return UpstreamError(
        f"{what}: the Hub answered in an unexpected shape ({detail}). Try again later; if it persists, "
        "check the Hub endpoint setting (HF_ENDPOINT) points at a Hugging Face Hub."
    )


def _entries(entries: Any, what: str) -> list[Any]:
    if not isinstance(entries, (list, tuple)):
        raise _unexpected(what, f"a {type(entries).__name__} where a list belongs")
    return list(entries)


def _repo_file(entry: Any, what: str = "file list") -> RepoFile:
    path, size = getattr(entry, "path", None), getattr(entry, "size", None)
    if (
        not isinstance(path, str)
        or not path
        or isinstance(size, bool)
        or not isinstance(size, int)
        or size < 0
    ):
        raise _unexpected(what, f"an entry without a path and size: {path!r:.60}, {size!r:.30}")
    lfs = getattr(entry, "lfs", None)
    sha = getattr(lfs, "sha256", None) if lfs is not None else None
    return RepoFile(path, size, str(sha) if sha else None)


def _map_hf_error(exc: Exception, what: str, now: float) -> Exception:
    """huggingface_hub/httpx2 exceptions -> ours (TransientError for what deserves a retry)."""
    from huggingface_hub import errors as hf_errors

    # GatedRepoError subclasses RepositoryNotFoundError: test it first.
    if isinstance(exc, hf_errors.GatedRepoError):
        return Forbidden(f"{what}: the repo is gated; accept its terms on the Hub and set HF_TOKEN.")
    if isinstance(exc, (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError)):
        return NotFound(f"{what}: not found on the Hub ({_first_line(exc)}). Check the repo id and revision.")
    entry_missing = tuple(
        getattr(hf_errors, name)
        for name in ("RemoteEntryNotFoundError", "EntryNotFoundError")
        if hasattr(hf_errors, name)
    )
    if entry_missing and isinstance(exc, entry_missing):
        return NotFound(f"{what}: the file is not in the repo ({_first_line(exc)}).")
    if isinstance(exc, getattr(hf_errors, "OfflineModeIsEnabled", ())):
        return NetworkError(f"{what}: HF_HUB_OFFLINE is set, so the Hub is not contacted.")
    if isinstance(exc, hf_errors.HfHubHTTPError):
        response = getattr(exc, "response", None)
        status = int(getattr(response, "status_code", 0) or 0)
        headers = dict(getattr(response, "headers", {}) or {})
        transient = transient_for_status(status, what, headers, now)
        if transient is not None:
            return transient
        if status in (401, 403):
            return Forbidden(f"{what}: the Hub refused access (HTTP {status}); check HF_TOKEN.")
        if status == 404:
            return NotFound(f"{what}: not found on the Hub (HTTP 404).")
        return NetworkError(f"{what}: the Hub answered HTTP {status} ({_first_line(exc)}).")
    if isinstance(exc, _SHAPE_ERRORS) and not isinstance(exc, ModelLibraryError):
        # huggingface_hub parses answers as it reads them: a wrong shape surfaces as one of these.
        return _unexpected(what, f"{type(exc).__name__}: {_first_line(exc)[:120]}")
    return exc  # transport errors: the retrier decides; our own errors pass through unchanged


_SHAPE_ERRORS = (TypeError, KeyError, AttributeError, IndexError, ValueError)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


__all__ = ["HubClient", "RepoFile", "RepoListing", "TransientError", "is_commit_sha", "validate_repo_id"]
