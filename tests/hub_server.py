"""A loopback server speaking the part of the Hugging Face Hub protocol our client uses.

Routes: model info (``/api/models/{repo}[/revision/{rev}]``), tree (``/api/models/{repo}/tree/{rev}``),
paths-info (POST, form ``paths``), search (``/api/models?search=``), and ``HEAD/GET
/{repo}/resolve/{rev}/{path}``: LFS files answer ``302`` to a second "CDN" path (``/cdn/{oid}``) with
``X-Repo-Commit``, ``X-Linked-Etag`` and ``X-Linked-Size``, exactly as the Hub does; small files are served
directly. The CDN path honours ``Range`` and ``If-Range``.

Faults are set per test on ``HubServer.faults`` (see ``Faults``). Every request is logged in
``HubServer.requests`` so tests can check what was (and was not) sent.

Use ``start_hub(repos) -> (url, stop)`` from any test, or run ``python tests/hub_server.py --file PATH``
to serve one file from disk in its own process (the download benchmark does).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

try:
    from tests.loopback import LoopbackServer
except ImportError:  # run as a script (python tests/hub_server.py): its folder is on the path
    from loopback import LoopbackServer  # type: ignore[no-redef]

LFS_THRESHOLD = 1024
STREAM_CHUNK = 4 * 1024 * 1024


@dataclass
class HubFile:
    path: str
    data: bytes | None = None
    disk_path: Path | None = None  # large files served from disk (benchmarks)
    lfs: bool | None = None  # default: LFS when larger than LFS_THRESHOLD
    size: int = 0
    sha256: str = ""
    git_oid: str = ""

    def __post_init__(self) -> None:
        if self.data is not None:
            self.size = len(self.data)
            self.sha256 = self.sha256 or hashlib.sha256(self.data).hexdigest()
            blob = b"blob %d\0" % self.size + self.data
            self.git_oid = hashlib.sha1(blob).hexdigest()
        elif self.disk_path is not None:
            self.size = self.disk_path.stat().st_size
            if not self.sha256:
                h = hashlib.sha256()
                with open(self.disk_path, "rb") as fh:
                    while chunk := fh.read(STREAM_CHUNK):
                        h.update(chunk)
                self.sha256 = h.hexdigest()
            self.git_oid = hashlib.sha1(self.sha256.encode()).hexdigest()
        if self.lfs is None:
            self.lfs = self.size > LFS_THRESHOLD

    def read(self, start: int, end: int) -> Iterable[bytes]:
        """Bytes [start, end) in chunks."""
        if self.data is not None:
            for pos in range(start, end, STREAM_CHUNK):
                yield self.data[pos : min(end, pos + STREAM_CHUNK)]
            return
        assert self.disk_path is not None
        with open(self.disk_path, "rb") as fh:
            fh.seek(start)
            left = end - start
            while left > 0:
                chunk = fh.read(min(STREAM_CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                yield chunk


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, HubFile]
    sha: str = ""
    downloads: int = 0
    card: dict[str, Any] = field(default_factory=dict)  # the model card's YAML metadata (cardData)

    def __post_init__(self) -> None:
        if not self.sha:
            h = hashlib.sha1(self.repo_id.encode())
            for path in sorted(self.files):
                h.update(path.encode() + self.files[path].sha256.encode())
            self.sha = h.hexdigest()


def make_repo(repo_id: str, files: dict[str, bytes], **kw: Any) -> HubRepo:
    return HubRepo(repo_id, {p: HubFile(p, data=d) for p, d in files.items()}, **kw)


@dataclass
class Faults:
    """Injectable misbehaviour. Counters (``*_times``) are decremented as faults fire."""

    drop_after: int | None = None  # close the connection after this many body bytes of a CDN GET
    drop_times: int = 1
    ignore_range: bool = False  # answer 200 with the whole file to a Range request
    changing_etag: bool = False  # a different ETag on every CDN answer
    ignore_if_range: bool = False  # a broken CDN: 206 for any Range, even when If-Range no longer matches
    other_bytes_on_range: bool = False  # a broken CDN: its 206 answers carry other bytes (zeros)
    wrong_linked_etag: bool = False  # X-Linked-Etag that is not the file's sha256
    wrong_linked_size: bool = False
    statuses: list[int] = field(default_factory=list)  # answered (one each) before normal service
    status_routes: tuple[str, ...] = ("resolve", "cdn", "api")
    retry_after: str | None = None
    ratelimit: str | None = None  # IETF RateLimit header on the fault answers
    hang: float = 0.0  # seconds to sleep before answering (route in hang_routes)
    hang_routes: tuple[str, ...] = ("resolve", "cdn", "api")
    redirect_to: str | None = None  # Location of the resolve redirect (e.g. a private address)
    cdn_host: str | None = None  # rewrite the CDN redirect's host (to test the token stays on the Hub)
    # Unexpected shapes: handler name ("tree", "model_info", "paths_info", "search") -> (status, JSON body)
    # answered instead of the real one, e.g. {"tree": (404, {})} or {"model_info": (200, [])}.
    odd_answers: dict[str, tuple[int, Any]] = field(default_factory=dict)


class HubServer(LoopbackServer):
    NAME = "loopback hub"

    def __init__(self, repos: Iterable[HubRepo] = ()) -> None:
        self.repos: dict[str, HubRepo] = {r.repo_id: r for r in repos}
        self.faults = Faults()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        super().__init__()
        self._etag_counter = 0

    def add(self, repo: HubRepo) -> HubRepo:
        self.repos[repo.repo_id] = repo
        return repo

    def paths_requested(self, method: str | None = None) -> list[str]:
        return [p for m, p, _ in self.requests if method is None or m == method]

    # -- app -----------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/api/models", self.search)
        r.add_get("/api/models/{owner}/{name}", self.model_info)
        r.add_get("/api/models/{owner}/{name}/revision/{rev}", self.model_info)
        r.add_get("/api/models/{owner}/{name}/tree/{rev}", self.tree)
        r.add_get("/api/models/{owner}/{name}/tree/{rev}/{path:.*}", self.tree)
        r.add_post("/api/models/{owner}/{name}/paths-info/{rev}", self.paths_info)
        r.add_route("*", "/{owner}/{name}/resolve/{rev}/{path:.*}", self.resolve)
        r.add_route("*", "/cdn/{oid}", self.cdn)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[..., Any]) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs, dict(request.headers)))
        route = (
            "cdn" if request.path.startswith("/cdn/") else "resolve" if "/resolve/" in request.path else "api"
        )
        f = self.faults
        if f.hang and route in f.hang_routes:
            await asyncio.sleep(f.hang)
        if f.statuses and route in f.status_routes:
            status = f.statuses.pop(0)
            headers = {}
            if f.retry_after is not None:
                headers["Retry-After"] = f.retry_after
            if f.ratelimit is not None:
                headers["RateLimit"] = f.ratelimit
            return web.json_response({"error": f"injected {status}"}, status=status, headers=headers)
        odd = f.odd_answers.get(getattr(request.match_info.handler, "__name__", ""))
        if odd is not None:
            return web.json_response(odd[1], status=odd[0])
        result: web.StreamResponse = await handler(request)
        return result

    def _repo(self, request: web.Request) -> HubRepo:
        repo_id = f"{request.match_info['owner']}/{request.match_info['name']}"
        repo = self.repos.get(repo_id)
        if repo is None:
            raise web.HTTPNotFound(
                text='{"error": "Repository not found"}',
                headers={"X-Error-Code": "RepoNotFound", "Content-Type": "application/json"},
            )
        rev = request.match_info.get("rev")
        if rev not in (None, "main", repo.sha):
            raise web.HTTPNotFound(
                text='{"error": "Invalid rev id"}',
                headers={"X-Error-Code": "RevisionNotFound", "Content-Type": "application/json"},
            )
        return repo

    @staticmethod
    def _entry(f: HubFile) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "file", "oid": f.git_oid, "size": f.size, "path": f.path}
        if f.lfs:
            d["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
        return d

    async def search(self, request: web.Request) -> web.Response:
        q = request.query.get("search", "").lower()
        limit = int(request.query.get("limit", "1000"))
        found = [r for r in self.repos.values() if q in r.repo_id.lower()]
        found.sort(key=lambda r: -r.downloads)
        items = [{"id": r.repo_id, "modelId": r.repo_id, "downloads": r.downloads, "tags": []} for r in found]
        return web.json_response(items[:limit])

    async def model_info(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        siblings = []
        for f in repo.files.values():
            s: dict[str, Any] = {"rfilename": f.path}
            if request.query.get("blobs"):
                s.update(size=f.size, blobId=f.git_oid)
                if f.lfs:
                    s["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": 134}
            siblings.append(s)
        body = {
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "sha": repo.sha,
            "private": False,
            "downloads": repo.downloads,
            "tags": list(repo.card.get("tags", [])),
            "siblings": siblings,
        }
        if repo.card:
            body["cardData"] = repo.card
        return web.json_response(body)

    async def tree(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        prefix = request.match_info.get("path", "").strip("/")
        recursive = request.query.get("recursive", "False").lower() == "true"
        entries: list[dict[str, Any]] = []
        dirs: set[str] = set()
        for path in sorted(repo.files):
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1 :] if prefix else path
            if "/" in rest and not recursive:
                dirs.add((prefix + "/" if prefix else "") + rest.split("/", 1)[0])
                continue
            if recursive:
                parts = rest.split("/")[:-1]
                for i in range(len(parts)):
                    dirs.add((prefix + "/" if prefix else "") + "/".join(parts[: i + 1]))
            entries.append(self._entry(repo.files[path]))
        folders = [
            {"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "path": d}
            for d in sorted(dirs)
        ]
        return web.json_response(folders + entries)

    async def paths_info(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        form = await request.post()
        wanted = [str(p) for p in form.getall("paths", [])]
        out = [self._entry(repo.files[p]) for p in wanted if p in repo.files]
        return web.json_response(out)

    def _headers(self, repo: HubRepo, f: HubFile) -> dict[str, str]:
        linked = "0" * 64 if self.faults.wrong_linked_etag else f.sha256
        size = f.size + 1 if self.faults.wrong_linked_size else f.size
        return {"X-Repo-Commit": repo.sha, "X-Linked-Etag": f'"{linked}"', "X-Linked-Size": str(size)}

    async def resolve(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        repo = self._repo(request)
        path = request.match_info["path"]
        f = repo.files.get(path)
        if f is None:
            raise web.HTTPNotFound(
                text='{"error": "Entry not found"}',
                headers={"X-Error-Code": "EntryNotFound", "Content-Type": "application/json"},
            )
        if f.lfs:
            location = (
                self.faults.redirect_to or f"{self._base(request)}/cdn/{f.sha256}?repo={quote(repo.repo_id)}"
            )
            headers = self._headers(repo, f)
            headers.update(Location=location, ETag=f'"{f.sha256}"')
            return web.Response(status=302, headers=headers)
        headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{f.git_oid}"'}
        return await self._serve(request, f, headers)

    def _base(self, request: web.Request) -> str:
        if self.faults.cdn_host:
            return f"http://{self.faults.cdn_host}:{request.url.port}"
        return f"{request.scheme}://{request.host}"

    async def cdn(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        oid = request.match_info["oid"]
        for repo in self.repos.values():
            for f in repo.files.values():
                if f.sha256 == oid:
                    # The real CDN is another host, which huggingface_hub's HEAD does not follow; ours
                    # shares the hub's host, so it carries the Hub headers too.
                    return await self._serve(request, f, self._headers(repo, f))
        raise web.HTTPNotFound()

    def _etag(self, f: HubFile) -> str:
        if self.faults.changing_etag:
            self._etag_counter += 1
            return f'"{f.sha256[:16]}-{self._etag_counter}"'
        return f'"{f.sha256}"'

    async def _serve(self, request: web.Request, f: HubFile, headers: dict[str, str]) -> web.StreamResponse:
        etag = self._etag(f)
        start, end, status = 0, f.size, 200
        range_header = request.headers.get("Range")
        if_range = request.headers.get("If-Range")
        range_applies = if_range is None or if_range == etag or self.faults.ignore_if_range
        if range_header and not self.faults.ignore_range and range_applies:
            spec = range_header.removeprefix("bytes=")
            a, _, b = spec.partition("-")
            start = int(a)
            end = int(b) + 1 if b else f.size
            if start >= f.size:
                return web.Response(status=416, headers={"Content-Range": f"bytes */{f.size}", "ETag": etag})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{f.size}"
        headers.update({"ETag": etag, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"})
        resp = web.StreamResponse(status=status, headers=headers)
        resp.content_length = end - start
        await resp.prepare(request)
        if request.method == "HEAD":
            return resp
        sent = 0
        drop = self.faults.drop_after if self.faults.drop_times > 0 else None
        for chunk in f.read(start, end):
            if status == 206 and self.faults.other_bytes_on_range:
                chunk = bytes(len(chunk))
            if drop is not None and sent + len(chunk) >= drop:
                await resp.write(chunk[: max(0, drop - sent)])
                self.faults.drop_times -= 1
                assert request.transport is not None
                request.transport.close()
                return resp
            await resp.write(chunk)
            sent += len(chunk)
        await resp.write_eof()
        return resp


def start_hub(repos: Iterable[HubRepo] = ()) -> tuple[str, Callable[[], None]]:
    """Start a loopback hub in a background thread; returns its URL and a stop function."""
    server = HubServer(repos)
    url = server.start()
    return url, server.stop


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve one file as a Hub repo on loopback.")
    parser.add_argument("--file", required=True, type=Path)
    parser.add_argument("--repo", default="bench/big")
    parser.add_argument("--sha256", default="")
    args = parser.parse_args()
    f = HubFile(args.file.name, disk_path=args.file, lfs=True, sha256=args.sha256)
    server = HubServer([HubRepo(args.repo, {f.path: f})])
    print(server.start(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
