"""Where the library may connect: the SSRF guard (THREATS #7).

Only https to the Hub and its CDN hosts (plus ``HF_ENDPOINT``'s own scheme, host and port when set, and any
``extra_allowed_hosts``). IP literals in every spelling (``127.1``, ``2130706433``, ``0x7f.1``,
``[::ffff:7f00:1]``) are refused unless they are the configured endpoint, because a redirect to
``169.254.169.254`` or ``10.0.0.1`` would reach the machine's metadata service or the LAN. Hosts are
compared label by label, so ``huggingface.co.evil.tld`` and ``evilhuggingface.co`` are refused. The token
goes only to Hub hosts (the API), never to a CDN or any other host.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import HostNotAllowed

HUB_HOSTS = ("huggingface.co", "hf.co")
CDN_HOSTS = ("cas-bridge.xethub.hf.co",)
# A ``*`` matches inside one DNS label only.
CDN_PATTERNS = ("cdn-lfs*.hf.co", "cdn-lfs*.huggingface.co")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int


def normalize_host(host: str) -> str:
    """Lowercase, no trailing dot or IPv6 brackets, IDNA-encoded (look-alike Unicode compared as ASCII)."""
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return host


def parse_ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host string denotes by itself, in any spelling a resolver accepts, else None.

    ``inet_aton`` accepts the legacy forms browsers and libc still honour: ``2130706433``, ``0x7f.1``,
    ``0177.0.0.1``, ``127.1``.
    """
    host = normalize_host(host).split("%", 1)[0]  # drop an IPv6 zone id
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host) and any(c.isdigit() for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _is_sensitive(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def _label_match(pattern: str, host: str) -> bool:
    p_labels = pattern.split(".")
    h_labels = host.split(".")
    if len(p_labels) != len(h_labels):
        return False
    for p, h in zip(p_labels, h_labels):
        if "*" in p:
            prefix, _, suffix = p.partition("*")
            if not (h.startswith(prefix) and h.endswith(suffix) and len(h) >= len(prefix) + len(suffix)):
                return False
        elif p != h:
            return False
    return True


class HostPolicy:
    """Decides whether a URL may be fetched and whether it may carry the Hub token."""

    def __init__(self, endpoint: str | None = None, extra_allowed_hosts: Iterable[str] = ()) -> None:
        self.endpoint: Target | None = None
        if endpoint:
            parts = urlsplit(endpoint.strip())
            scheme = (parts.scheme or "").lower()
            if scheme not in ("http", "https") or not parts.hostname:
                raise HostNotAllowed(
                    f"HF_ENDPOINT {endpoint!r} is not an http(s) URL with a host; set it like "
                    "https://huggingface.co or unset it."
                )
            self.endpoint = Target(
                scheme, normalize_host(parts.hostname), parts.port or _DEFAULT_PORTS[scheme]
            )
        # A bare host name is allowed over https; a full origin ("http://mirror.lan:8080") exactly as given.
        hosts: list[str] = []
        origins: list[Target] = []
        for entry in extra_allowed_hosts:
            entry = entry.strip()
            if "://" in entry:
                parts = urlsplit(entry)
                scheme = parts.scheme.lower()
                if scheme in _DEFAULT_PORTS and parts.hostname:
                    origins.append(
                        Target(scheme, normalize_host(parts.hostname), parts.port or _DEFAULT_PORTS[scheme])
                    )
            elif entry:
                hosts.append(normalize_host(entry))
        self.extra_hosts = tuple(hosts)
        self.extra_origins = tuple(origins)

    @classmethod
    def from_config(cls, config: object) -> HostPolicy:
        return cls(
            getattr(config, "hf_endpoint", None),
            getattr(config, "extra_allowed_hosts", ()) or (),
        )

    def _is_endpoint(self, target: Target) -> bool:
        ep = self.endpoint
        return ep is not None and (target.scheme, target.host, target.port) == (ep.scheme, ep.host, ep.port)

    def _is_listed(self, host: str) -> bool:
        if host in HUB_HOSTS or host in CDN_HOSTS or host in self.extra_hosts:
            return True
        return any(_label_match(pattern, host) for pattern in CDN_PATTERNS)

    def check(self, url: str) -> Target:
        """Return the parsed target or raise HostNotAllowed saying why."""
        try:
            parts = urlsplit(str(url))
            scheme = (parts.scheme or "").lower()
            raw_host = parts.hostname or ""
            port = parts.port
        except ValueError as exc:
            raise HostNotAllowed(f"Refusing to fetch {url!r}: the URL is malformed ({exc}).") from exc
        if scheme not in ("http", "https"):
            raise HostNotAllowed(
                f"Refusing to fetch {url!r}: only https downloads are allowed (scheme {scheme or 'none'!r})."
            )
        if not raw_host:
            raise HostNotAllowed(f"Refusing to fetch {url!r}: the URL has no host.")
        target = Target(scheme, normalize_host(raw_host), port or _DEFAULT_PORTS[scheme])
        if self._is_endpoint(target) or target in self.extra_origins:
            return target
        ip = parse_ip_literal(target.host)
        if ip is not None:
            kind = "a private, loopback or link-local address" if _is_sensitive(ip) else "a bare IP address"
            raise HostNotAllowed(
                f"Refusing to connect to {target.host} ({url}): it is {kind}, which downloads may never "
                "reach. Set HF_ENDPOINT if you run a Hub mirror there."
            )
        if not self._is_listed(target.host):
            raise HostNotAllowed(
                f"Refusing to connect to {target.host}: it is not a Hugging Face host. Add it to "
                "extra_allowed_hosts (or set HF_ENDPOINT) if you trust it."
            )
        if scheme != "https":
            raise HostNotAllowed(f"Refusing plain http to {target.host}; only https is allowed for {url}.")
        return target

    def is_hub_host(self, url: str) -> bool:
        """True for the API hosts that may receive the token (huggingface.co, hf.co, the endpoint)."""
        try:
            parts = urlsplit(str(url))
            scheme = (parts.scheme or "").lower()
            host = normalize_host(parts.hostname or "")
            port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
        except ValueError:
            return False
        if self.endpoint is not None:
            return self._is_endpoint(Target(scheme, host, port))
        return scheme == "https" and host in HUB_HOSTS

    def allowed(self, url: str) -> bool:
        try:
            self.check(url)
        except HostNotAllowed:
            return False
        return True
