"""One file from the Hub: resolve its metadata, then stream it into ``<file>.<key>.incomplete`` while hashing.

The partial's name carries the ETag the Hub announced (``io.partials``): bytes left by an earlier attempt
under that name are a prefix of the same content, so they are re-hashed and the download resumes with
``Range``; another ETag means another name, so a changed file starts from zero by construction. SHA-256
and BLAKE3 are computed as the bytes arrive (``io.hashing.DualHasher``: two hasher threads, so hashing
overlaps the network). A connection dropped in this call resumes with ``Range`` + ``If-Range`` (the ETag
of the answer that dropped); a server that answers the whole file (``200``: it ignores ranges, or the
If-Range no longer matched) restarts it from zero. At the end the size must equal ``X-Linked-Size`` and
the SHA-256 ``X-Linked-Etag``; otherwise the partial file is deleted and ``HashMismatch`` raised. A cancel
leaves the partial file for a later resume.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from ..errors import Cancelled, Forbidden, HashMismatch, NetworkError, NotFound
from ..io.fileops import fsync_dir
from ..io.hashing import Digests, DualHasher
from ..io.partials import claim_partial, partial_key
from ..net.retry import TransientError, is_transport_error, transient_for_status
from ..types import ByteProgress, CancelCheck
from .client import HubClient

CHUNK_SIZE = 4 * 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RemoteFile:
    """What the resolve endpoint says about one file."""

    relpath: str
    url: str
    size: int | None
    sha256: str | None  # the LFS oid from X-Linked-Etag; None for small files kept in git
    etag: str | None
    commit: str | None


def normalize_etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"') or None


def _raise_for(response: httpx.Response, what: str, now: float) -> None:
    transient = transient_for_status(response.status_code, what, response.headers, now)
    if transient is not None:
        raise transient
    if response.status_code == 404:
        raise NotFound(f"{what}: not found on the Hub (HTTP 404). Check the repo id, revision and file name.")
    if response.status_code in (401, 403):
        raise Forbidden(
            f"{what}: the Hub refused access (HTTP {response.status_code}); the repo may be gated or "
            "private. Accept its terms on the Hub and set HF_TOKEN."
        )
    if response.status_code >= 400:
        raise NetworkError(f"{what}: the server answered HTTP {response.status_code}.")


def head_file(hub: HubClient, repo_id: str, revision: str, relpath: str) -> RemoteFile:
    """HEAD ``/{repo}/resolve/{rev}/{file}`` without following the CDN redirect (its headers are the
    metadata); relative redirects (a renamed repo) are followed. The CDN location is checked by the host
    policy here, before any GET."""
    url = hub.resolve_url(repo_id, revision, relpath)
    what = f"{repo_id}/{relpath}@{revision}"

    def attempt() -> httpx.Response:
        target = url
        for _ in range(5):
            response = hub.http.head(target, follow_redirects=False, headers={"Accept-Encoding": "identity"})
            _raise_for(response, what, hub.clock.time())
            location = response.headers.get("location")
            if response.is_redirect and location and location.startswith("/"):
                target = urljoin(target, location)
                continue
            return response
        raise NetworkError(f"{what}: too many redirects on the Hub.")

    response = hub.retrier.call(attempt)
    headers = response.headers
    location = headers.get("location") if response.is_redirect else None
    if location:
        hub.guard.policy.check(location)
    linked = normalize_etag(headers.get("x-linked-etag"))
    etag = normalize_etag(headers.get("etag"))
    size_text = headers.get("x-linked-size") or (
        None if response.is_redirect else headers.get("content-length")
    )
    sha = linked if linked and _SHA256.match(linked.lower()) else None
    return RemoteFile(
        relpath=relpath,
        url=location or url,
        size=int(size_text) if size_text and size_text.isdigit() else None,
        sha256=sha.lower() if sha else None,
        etag=linked or etag,
        commit=headers.get("x-repo-commit"),
    )


def open_partial(target: Path, remote: RemoteFile) -> Path:
    """The partial file of ``remote`` for ``target`` (``io.partials.claim_partial``: other versions'
    partials of ``target`` are deleted first)."""
    return claim_partial(
        target, partial_key(remote.etag, remote.size), sha256=remote.sha256, size=remote.size
    )


def _rehash_prefix(path: Path, length: int, hasher: DualHasher) -> None:
    with open(path, "rb") as fh:
        left = length
        while left > 0:
            chunk = fh.read(min(CHUNK_SIZE, left))
            if not chunk:
                raise OSError(f"{path} is shorter than recorded")
            hasher.update(chunk)
            left -= len(chunk)


def fetch_file(
    hub: HubClient,
    remote: RemoteFile,
    target: Path,
    *,
    progress: ByteProgress | None = None,
    cancelled: CancelCheck | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> Digests:
    """Download ``remote`` to ``target`` (atomically renamed from the partial file); return its digests."""
    partial = open_partial(target, remote)
    try:
        have = partial.stat().st_size
    except FileNotFoundError:
        have = 0
    if remote.size is not None and have > remote.size:
        have = 0  # longer than the file it is a prefix of: not ours to trust
    hasher = DualHasher()
    try:
        if have:
            _rehash_prefix(partial, have, hasher)
        with open(partial, "r+b" if partial.exists() else "wb") as fh:
            fh.seek(have)
            fh.truncate()
            hasher, have = _stream(hub, remote, fh, hasher, have, progress, cancelled, chunk_size)
            fh.flush()
            os.fsync(fh.fileno())
        digests = hasher.finish()
    finally:
        hasher.close()
    _verify(remote, digests, partial)
    os.replace(partial, target)
    fsync_dir(target.parent)
    return digests


def _stream(
    hub: HubClient,
    remote: RemoteFile,
    fh: Any,
    hasher: DualHasher,
    have: int,
    progress: ByteProgress | None,
    cancelled: CancelCheck | None,
    chunk_size: int,
) -> tuple[DualHasher, int]:
    what = f"download of {remote.relpath}"
    failures = 0
    waited = 0.0
    config = hub.retrier.config
    etag: str | None = None  # the ETag of this call's last answer, for If-Range on a retry

    def restart() -> None:
        nonlocal hasher, have
        hasher.close()
        hasher = DualHasher()
        have = 0
        fh.seek(0)
        fh.truncate()

    while True:
        if cancelled is not None and cancelled():
            raise Cancelled(f"The {what} was cancelled; the partial file is kept for a resume.")
        headers = {"Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
            if etag:
                headers["If-Range"] = f'"{etag}"'
        progressed = False
        try:
            with hub.http.stream("GET", remote.url, headers=headers) as response:
                if response.status_code == 416 and remote.size is not None and have == remote.size:
                    return hasher, have
                _raise_for(response, what, hub.clock.time())
                if have and not _continues(response, have):
                    restart()
                    if response.status_code != 200:
                        continue  # a fresh GET from byte 0
                etag = normalize_etag(response.headers.get("etag"))
                # Pieces arrive as the transport reads them (tens of KiB); they are gathered into large
                # chunks so the hasher threads get few, big jobs. Whatever arrived before a drop is kept.
                buffer = bytearray()
                try:
                    for piece in response.iter_raw():
                        buffer += piece
                        if cancelled is not None and cancelled():
                            raise Cancelled(
                                f"The {what} was cancelled; the partial file is kept for a resume."
                            )
                        if len(buffer) >= chunk_size:
                            have = _flush(buffer, fh, hasher, have, remote, progress)
                            progressed = True
                finally:
                    if buffer:
                        have = _flush(buffer, fh, hasher, have, remote, progress)
                        progressed = True
            return hasher, have
        except TransientError as exc:
            error: BaseException = exc
            hint = exc.retry_after
        except Exception as exc:
            if not is_transport_error(exc):
                raise
            error, hint = exc, None
            host = httpx.URL(remote.url).host
            hub.guard.breaker.record_failure(host, f"{type(exc).__name__}: {exc}")
        failures = 0 if progressed else failures + 1
        wait = hub.retrier.delay(failures, hint)
        waited += wait
        if failures >= config.max_attempts or waited > config.max_total:
            if isinstance(error, TransientError):
                raise error.error from error
            raise NetworkError(
                f"The {what} failed after {failures} attempt(s) ({error}); the partial file is kept, "
                "so starting the download again resumes it."
            ) from error
        fh.flush()
        hub.clock.sleep(wait)


def _flush(
    buffer: bytearray,
    fh: Any,
    hasher: DualHasher,
    have: int,
    remote: RemoteFile,
    progress: ByteProgress | None,
) -> int:
    data = bytes(buffer)
    buffer.clear()
    fh.write(data)
    hasher.update(data)
    have += len(data)
    if remote.size is not None and have > remote.size:
        raise HashMismatch(
            f"hash mismatch: {remote.relpath} is longer than the {remote.size} bytes the Hub announced; the "
            "download was discarded. Try again later."
        )
    if progress is not None:
        progress(have)
    return have


def _continues(response: httpx.Response, have: int) -> bool:
    """True if the answer is the rest of the content starting at ``have``."""
    if response.status_code != 206:
        return False  # 200: the range was ignored (or If-Range failed): the body is the whole file
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("content-range", ""))
    return bool(match) and int(match.group(1)) == have  # type: ignore[union-attr]


def _verify(remote: RemoteFile, digests: Digests, partial: Path) -> None:
    problems = []
    if remote.size is not None and digests.size != remote.size:
        problems.append(f"size {digests.size} != {remote.size} announced (X-Linked-Size)")
    if remote.sha256 is not None and digests.sha256 != remote.sha256:
        problems.append(f"sha256 {digests.sha256} != {remote.sha256} announced (X-Linked-Etag)")
    if problems:
        partial.unlink(missing_ok=True)
        raise HashMismatch(
            f"hash mismatch for {remote.relpath}: {'; '.join(problems)}. The file was discarded; the Hub "
            "or a proxy served other bytes. Try again later."
        )
