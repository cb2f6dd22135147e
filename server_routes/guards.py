"""Request guards: the protection ComfyUI does not give its plugins' routes (THREATS.md #1-#3, #13).

ComfyUI has no authentication, and its only check (Origin vs Host) works only when the Host is a loopback
name. So every route here decides for itself, from the request alone:

* **Host allowlist (all routes).** DNS rebinding gives an attacker's page our address under the
  attacker's name (``Host: evil.example``). Allowed: loopback names, names the user configured, the
  address the server is bound to, and IP literals (a rebinding attack always arrives under a DNS name).
* **Cross-site refusals (state-changing routes).** ``Origin: null`` (sandboxed frames, ``file:`` pages)
  is refused; an Origin whose scheme, host or port differs from this server's (the connection's scheme,
  the Host header's name and port, default ports filled in) is refused. Behind a TLS-terminating proxy on
  the same machine (a loopback peer) the scheme is the proxy's ``X-Forwarded-Proto``: the browser spoke
  https to the proxy, which speaks http to us. A cross-site page cannot add that header without a
  preflight (never granted), and a non-loopback peer's header is ignored.
* **Content-Type + custom header (state-changing routes).** ``application/json`` (``PUT /uploads`` takes
  ``application/octet-stream``) and ``X-Model-Library: 1``. A cross-site form can send neither, and a
  script sending them triggers a CORS preflight which we never grant: no route answers OPTIONS with
  ``Access-Control-Allow-*`` (and ComfyUI's ``--enable-cors-header`` only allows the headers
  ``Content-Type, Authorization``, so our custom header still fails the preflight there).
* **Remote clients (destructive routes).** When the server listens beyond loopback, a LAN client with no
  Origin at all (curl) passes the checks above. Destructive routes (delete, move-import, downloads,
  mapping/settings writes, source changes, repair) are refused to non-loopback clients unless the user
  set ``ModelLibrary.AllowRemoteChanges`` (env ``MODEL_LIBRARY_ALLOW_REMOTE=1``). Reads still work.
  Behind a reverse proxy on the same machine every client looks local: put authentication in the proxy.

The decision is :func:`check` over a :class:`RequestFacts` value, so tests drive it directly as well as
through a server.
"""

from __future__ import annotations

import enum
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from ..core.errors import Forbidden
from ._http import UnsupportedMediaType

CUSTOM_HEADER = "X-Model-Library"
ALLOW_REMOTE_ENV = "MODEL_LIBRARY_ALLOW_REMOTE"
ALLOWED_HOSTS_ENV = "MODEL_LIBRARY_ALLOWED_HOSTS"
ALLOW_REMOTE_SETTING = "ModelLibrary.AllowRemoteChanges"
# The one set of each (ComfyUI's --listen in _host.py and the guards below both read them), compared
# after brackets and case are taken off (``[::1]``, ``LocalHost``).
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "localhost.localdomain"})
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "*"})  # noqa: S104 - names, not a bind


class Policy(enum.Enum):
    READ = "read"  # GET: Host allowlist only
    CHANGE = "change"  # state-changing: + Origin, JSON Content-Type, custom header
    UPLOAD = "upload"  # like CHANGE, with application/octet-stream bodies
    UPLOAD_OR_JSON = "upload_or_json"  # like CHANGE, with a JSON or an application/octet-stream body
    DESTRUCTIVE = "destructive"  # like CHANGE, + refused to remote clients unless opted in


class UntrustedHost(Forbidden):
    code = "untrusted_host"


class CrossSiteRequest(Forbidden):
    code = "cross_site_request"


class MissingClientHeader(Forbidden):
    code = "missing_client_header"


class RemoteChangesDisabled(Forbidden):
    code = "remote_changes_disabled"


@dataclass(frozen=True)
class GuardSettings:
    """What the guards need to know about the server. ``listen_host`` is the address it is bound to."""

    listen_host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()
    allow_remote_changes: bool = False

    @classmethod
    def from_env(
        cls,
        *,
        listen_host: str = "127.0.0.1",
        allowed_hosts: tuple[str, ...] = (),
        allow_remote_changes: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> GuardSettings:
        """Settings plus env overrides (``MODEL_LIBRARY_ALLOW_REMOTE=1``, ``MODEL_LIBRARY_ALLOWED_HOSTS``)."""
        env = os.environ if environ is None else environ
        extra = tuple(h.strip() for h in env.get(ALLOWED_HOSTS_ENV, "").split(",") if h.strip())
        remote = allow_remote_changes or env.get(ALLOW_REMOTE_ENV, "").strip().lower() in {"1", "true", "yes"}
        return cls(listen_host, (*allowed_hosts, *extra), remote)


@dataclass(frozen=True)
class RequestFacts:
    """The parts of a request the guards look at."""

    method: str
    host: str | None
    origin: str | None = None
    content_type: str | None = None
    custom_header: str | None = None
    remote: str | None = None
    scheme: str = "http"  # the client's: the connection's, or a local proxy's X-Forwarded-Proto

    @classmethod
    def of(cls, request: web.BaseRequest) -> RequestFacts:
        headers = request.headers
        return cls(
            method=request.method.upper(),
            host=headers.get("Host"),
            origin=headers.get("Origin"),
            content_type=headers.get("Content-Type"),
            custom_header=headers.get(CUSTOM_HEADER),
            remote=request.remote,
            scheme=client_scheme(request),
        )


def client_scheme(request: web.BaseRequest) -> str:
    """The scheme the browser used: the connection's, or ``X-Forwarded-Proto`` from a proxy on this
    machine (``https`` to the proxy, ``http`` from it to us; without this the panel behind an https proxy
    could change nothing)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",", 1)[0].strip().lower()
    if forwarded in ("http", "https") and is_loopback_client(request.remote):
        return forwarded
    return request.scheme.lower()


def split_host(value: str) -> tuple[str, int | None]:
    """``"Example.com:8188"`` -> ``("example.com", 8188)``; ``"[::1]:80"`` -> ``("::1", 80)``."""
    value = value.strip()
    port: int | None = None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value.lower(), None
        name, rest = value[1:end], value[end + 1 :]
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif value.count(":") == 1:
        name, _, raw_port = value.partition(":")
        port = int(raw_port) if raw_port.isdigit() else -1
    else:
        name = value
    return name.lower().rstrip("."), port


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def is_loopback_client(remote: str | None) -> bool:
    """True when the peer address is loopback (``127.0.0.0/8``, ``::1``, or IPv4-mapped loopback)."""
    if not remote:
        return False
    try:
        addr = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def _bind_name(host: str) -> str:
    return host.strip("[]").lower()


def is_wildcard_bind(host: str) -> bool:
    """``0.0.0.0``, ``::``, ``*`` (or nothing): a server bound so listens on every interface."""
    return _bind_name(host) in WILDCARD_BINDS


def is_loopback_name(host: str) -> bool:
    """A name or address that only this machine reaches (``localhost``, ``127.0.0.1``, ``[::1]``...)."""
    return _bind_name(host) in LOOPBACK_NAMES


def split_listen(listen: str) -> tuple[str, tuple[str, ...]]:
    """ComfyUI's ``--listen`` (one or more addresses, comma-separated) -> the bind address the guards take
    (the widest: a wildcard, else the first beyond loopback, else the first) and the others, allowed as
    Host names (wildcards are no names)."""
    hosts = [h.strip() for h in listen.split(",") if h.strip()] or ["127.0.0.1"]
    widest = next((h for h in hosts if is_wildcard_bind(h)), None) or next(
        (h for h in hosts if not is_loopback_name(h)), hosts[0]
    )
    return widest, tuple(h for h in hosts if h != widest and not is_wildcard_bind(h))


def listens_beyond_loopback(settings: GuardSettings) -> bool:
    if is_wildcard_bind(settings.listen_host):
        return True
    if is_loopback_name(settings.listen_host):
        return False
    return not is_loopback_client(_bind_name(settings.listen_host))


def host_allowed(host_header: str | None, settings: GuardSettings) -> bool:
    if not host_header:
        return False
    name, port = split_host(host_header)
    if not name or port == -1:
        return False
    if name in LOOPBACK_NAMES or _is_ip_literal(name):
        return True
    configured = {split_host(h)[0] for h in settings.allowed_hosts}
    configured.add(_bind_name(settings.listen_host))
    return name in configured


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_matches_host(origin: str, host_header: str, scheme: str = "http") -> bool:
    """Same origin = same scheme, host and port. The host compares after normalising (case, brackets,
    a trailing dot); a missing port is the scheme's default on both sides."""
    o_scheme, sep, rest = origin.strip().partition("://")
    o_scheme, scheme = o_scheme.lower(), scheme.lower()
    if not sep or any(c in rest for c in "/@?#") or o_scheme not in _DEFAULT_PORTS:
        return False
    if o_scheme != scheme:
        return False
    default_port = _DEFAULT_PORTS[o_scheme]
    o_name, o_port = split_host(rest)
    h_name, h_port = split_host(host_header)
    if o_port == -1 or h_port == -1:
        return False
    return o_name == h_name and (o_port or default_port) == (h_port or default_port)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check(facts: RequestFacts, policy: Policy, settings: GuardSettings) -> None:
    """Raise the refusal for a request that ``policy`` does not allow; return None when it may run."""
    if not host_allowed(facts.host, settings):
        raise UntrustedHost(
            f"Host {facts.host!r} is not one this server answers to. Open the panel through localhost, "
            f"an IP address, or add the name to {ALLOWED_HOSTS_ENV}."
        )
    if policy is Policy.READ:
        return
    check_origin(facts)
    wanted = "application/octet-stream" if policy is Policy.UPLOAD else "application/json"
    media = _media_type(facts.content_type)
    if policy is Policy.UPLOAD_OR_JSON and media in ("application/json", "application/octet-stream"):
        pass
    elif media != wanted:
        raise UnsupportedMediaType(
            f"this route takes Content-Type: {wanted}"
            + (" or application/octet-stream" if policy is Policy.UPLOAD_OR_JSON else "")
            + f", not {facts.content_type or 'none'!r}"
        )
    if (facts.custom_header or "").strip() != "1":
        raise MissingClientHeader(f"state-changing requests must carry the header '{CUSTOM_HEADER}: 1'")
    if policy is Policy.DESTRUCTIVE:
        require_remote_allowed(facts, settings)


def check_origin(facts: RequestFacts) -> None:
    """Refuse ``Origin: null`` and an Origin that is not the Host (browsers send Origin on changes)."""
    if facts.origin is None:
        return
    if facts.origin.strip().lower() == "null":
        raise CrossSiteRequest("Requests from an opaque origin (Origin: null) may not change anything.")
    if not _origin_matches_host(facts.origin, facts.host or "", facts.scheme):
        raise CrossSiteRequest(
            f"Origin {facts.origin!r} is not this server ({facts.scheme}://{facts.host}); scheme, host and "
            "port must all match. Open the panel from this server's own address."
        )


def check_websocket(facts: RequestFacts, settings: GuardSettings) -> None:
    """Websockets have no CORS: a page anywhere may open one, so only our own origin is let in."""
    check(facts, Policy.READ, settings)
    check_origin(facts)


def require_remote_allowed(facts: RequestFacts, settings: GuardSettings) -> None:
    """Refuse a destructive change from a non-loopback client unless the user opted in."""
    if settings.allow_remote_changes or is_loopback_client(facts.remote):
        return
    raise RemoteChangesDisabled(
        f"Changes that delete, move or download are refused to remote clients ({facts.remote}). To allow "
        f"them, enable the setting {ALLOW_REMOTE_SETTING} or set {ALLOW_REMOTE_ENV}=1 on the server."
    )
