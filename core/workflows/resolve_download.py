"""Where a reference could be downloaded from: its ``url``, judged by the Hub client's host policy.

A Hugging Face ``resolve`` (or ``blob``) URL on huggingface.co, hf.co or the configured ``HF_ENDPOINT`` is
parsed into repo, revision and file: the download goes through our Hub client, so it is fetched from the
endpoint the library uses (a mirror set with ``HF_ENDPOINT`` wins over the host the workflow names), with
the Hub's LFS sha256 to verify against (the Hub client applies the host policy). Any other URL is not
downloadable (yet): the reason says which addresses are.

Pure: nothing here connects anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from ..net.policy import HUB_HOSTS, HostPolicy, normalize_host

# /{namespace}/{repo}/resolve/{revision}/{path}; revisions with a slash ("refs/pr/1") are url-encoded.
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/(?:resolve|blob)/(?P<rev>[^/]+)/(?P<path>.+)$")
_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    revision: str
    filename: str  # POSIX path inside the repo


@dataclass(frozen=True)
class DownloadPlan:
    """What a download would fetch: ``url`` (on the library's Hub endpoint for Hub files), and for Hub
    files the repo, revision and path; ``workflow_url`` when the workflow named another URL."""

    url: str
    hub: HubFile | None = None
    workflow_url: str | None = None
    size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"url": self.url}
        if self.size is not None:
            d["size"] = self.size
        if self.hub is not None:
            d["repo_id"] = self.hub.repo_id
            d["revision"] = self.hub.revision
            d["filename"] = self.hub.filename
        if self.workflow_url is not None:
            d["workflow_url"] = self.workflow_url
        return d


def parse_hub_url(url: str, endpoint: str | None = None) -> HubFile | None:
    """A Hugging Face file URL (on a Hub host or ``endpoint``) -> its repo, revision and path, else None."""
    try:
        parts = urlsplit(url)
        host = normalize_host(parts.hostname or "")
        port = parts.port
    except ValueError:
        return None
    hub_hosts = set(HUB_HOSTS)
    if endpoint:
        try:
            ep = urlsplit(endpoint)
            if normalize_host(ep.hostname or "") == host and ep.port == port:
                prefix = ep.path.rstrip("/")
                path = parts.path[len(prefix) :] if prefix and parts.path.startswith(prefix + "/") else None
                return _hub_path(path if path is not None else parts.path)
        except ValueError:
            pass
    if host not in hub_hosts or port not in (None, 443):
        return None
    return _hub_path(parts.path)


def _hub_path(path: str) -> HubFile | None:
    match = _RESOLVE.match(path)
    if match is None:
        return None
    repo_id = match.group("repo")
    if not all(_REPO_PART.match(piece) for piece in repo_id.split("/")):
        return None
    filename = unquote(match.group("path"))
    pieces = filename.split("/")
    if any(p in ("", ".", "..") for p in pieces) or "\\" in filename:
        return None
    return HubFile(repo_id, unquote(match.group("rev")), filename)


def hub_resolve_url(endpoint: str, hub: HubFile) -> str:
    from urllib.parse import quote

    return f"{endpoint.rstrip('/')}/{hub.repo_id}/resolve/{quote(hub.revision, safe='')}/" + quote(
        hub.filename, safe="/"
    )


def plan_download(url: str, policy: HostPolicy, endpoint: str) -> tuple[DownloadPlan | None, str | None]:
    """(plan, None) when ``url`` may be downloaded, else (None, why not)."""
    hub = parse_hub_url(url, endpoint)
    if hub is not None:
        fetched = hub_resolve_url(endpoint, hub)
        return DownloadPlan(fetched, hub, None if fetched == url else url), None
    try:
        host = urlsplit(url).hostname or url[:80]
    except ValueError:
        host = url[:80]
    return None, (
        f"only Hugging Face file addresses (https://huggingface.co/<repo>/resolve/<revision>/<file>, or the "
        f"HF_ENDPOINT mirror) are downloaded for workflows, and this one on {host} is not one: download the "
        "file yourself and import it (`model-library import FILE`)"
    )
