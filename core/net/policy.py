"""Where the library may connect: the SSRF guard (THREATS #7).

Only https to the Hub and its CDN hosts, to Civitai's API (``civitai.com``) and its image CDN
(``image.civitai.com``) -- plus ``HF_ENDPOINT``'s and ``civitai_endpoint``'s own scheme, host and port when
set, and any ``extra_allowed_hosts``. IP literals in every spelling (``127.1``, ``2130706433``, ``0x7f.1``,
``[::ffff:7f00:1]``) are refused unless they are the configured endpoint, because a redirect to
``169.254.169.254`` or ``10.0.0.1`` would reach the machine's metadata service or the LAN. Hosts are
compared label by label, so ``huggingface.co.evil.tld`` and ``evilhuggingface.co`` are refused.

Credentials are scoped (``credential_scope``): the Hub token goes only to Hub API hosts, the Civitai key only
to Civitai's API origin, neither to a CDN (``image.civitai.com`` included) or any other host.
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
CIVITAI_API_HOST = "civitai.com"
CIVITAI_HOSTS = (CIVITAI_API_HOST, "image.civitai.com")
# Credential scopes: which secret a request may carry (see ``HostPolicy.credential_scope``).
HUB_SCOPE = "hub"
CIVITAI_SCOPE = "civitai"
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


def _endpoint_target(endpoint: str | None, setting: str, example: str) -> Target | None:
    if not endpoint:
        return None
    try:
        parts = urlsplit(endpoint.strip())
        scheme, host, port = (parts.scheme or "").lower(), parts.hostname, parts.port
    except ValueError:
        scheme, host, port = "", None, None
    if scheme not in ("http", "https") or not host:
        raise HostNotAllowed(
            f"{setting} {endpoint!r} is not an http(s) URL with a host; set it like {example} or unset it."
        )
    return Target(scheme, normalize_host(host), port or _DEFAULT_PORTS[scheme])


def _target_of(url: str) -> Target | None:
    try:
        parts = urlsplit(str(url))
        scheme = (parts.scheme or "").lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
        return Target(scheme, normalize_host(parts.hostname or ""), port)
    except ValueError:
        return None


class HostPolicy:
    """Decides whether a URL may be fetched and which credential (Hub token, Civitai key) it may carry."""

    def __init__(
        self,
        endpoint: str | None = None,
        extra_allowed_hosts: Iterable[str] = (),
        *,
        civitai_endpoint: str | None = None,
    ) -> None:
        self.endpoint = _endpoint_target(endpoint, "HF_ENDPOINT", "https://huggingface.co")
        self.civitai_endpoint = _endpoint_target(civitai_endpoint, "civitai_endpoint", "https://civitai.com")
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
            civitai_endpoint=getattr(config, "civitai_endpoint", None),
        )

    def _is_endpoint(self, target: Target) -> bool:
        return target in (self.endpoint, self.civitai_endpoint)

    def _is_listed(self, host: str) -> bool:
        if host in HUB_HOSTS or host in CDN_HOSTS or host in CIVITAI_HOSTS or host in self.extra_hosts:
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
                "reach. Set HF_ENDPOINT (or civitai_endpoint) if you run a Hub (or Civitai) mirror there."
            )
        if not self._is_listed(target.host):
            raise HostNotAllowed(
                f"Refusing to connect to {target.host}: it is not a Hugging Face or Civitai host. Add it to "
                "extra_allowed_hosts (or set HF_ENDPOINT or civitai_endpoint) if you trust it."
            )
        if scheme != "https":
            raise HostNotAllowed(f"Refusing plain http to {target.host}; only https is allowed for {url}.")
        return target

    def is_hub_host(self, url: str) -> bool:
        """True for the API hosts that may receive the Hub token (huggingface.co, hf.co, or HF_ENDPOINT)."""
        target = _target_of(url)
        if target is None:
            return False
        if self.endpoint is not None:
            return target == self.endpoint
        return target.scheme == "https" and target.host in HUB_HOSTS

    def is_civitai_api(self, url: str) -> bool:
        """True for Civitai's API origin, the only one that may receive the Civitai key.

        That is ``civitai_endpoint`` exactly when set, else ``https://civitai.com`` (port 443): never the
        image CDN (``image.civitai.com``), never a look-alike host.
        """
        target = _target_of(url)
        if target is None:
            return False
        if self.civitai_endpoint is not None:
            return target == self.civitai_endpoint
        return target == Target("https", CIVITAI_API_HOST, 443)

    def credential_scope(self, url: str) -> str | None:
        """Which secret ``url`` may carry: ``HUB_SCOPE``, ``CIVITAI_SCOPE`` or None (no credential at all)."""
        if self.is_hub_host(url):
            return HUB_SCOPE
        if self.is_civitai_api(url):
            return CIVITAI_SCOPE
        return None

    def allowed(self, url: str) -> bool:
        try:
            self.check(url)
        except HostNotAllowed:
            return False
        return True
