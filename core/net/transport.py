"""The one way out to the network: a transport wrapper that applies policy, circuit breaker and throttle.

Every request an httpx client sends passes through ``GuardedTransport.handle_request`` -- including each
hop of a redirect the client follows -- so a redirect to ``169.254.169.254`` is refused before any socket
opens. The wrapper is duck-typed over ``httpx`` and the ``httpx2`` fork that huggingface_hub 2.x uses, so
huggingface_hub's own calls go through the same guard (``install_hf_client_factory``).

The guard also owns the credentials, one per scope the policy names (``HostPolicy.credential_scope``): the
Hub token is added for Hub API hosts, the Civitai key for Civitai's API origin, and every other request has
its ``Authorization`` stripped (a CDN redirect never sees either). Default timeouts (connect 7 s) are set
when a caller left them unbounded.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from .breaker import BreakerConfig, CircuitBreaker
from .clock import SYSTEM_CLOCK, Clock
from .policy import CIVITAI_SCOPE, HUB_SCOPE, HostPolicy
from .retry import RETRYABLE_STATUS
from .throttle import HostThrottle, ThrottleConfig

CONNECT_TIMEOUT = 7.0
DEFAULT_READ_TIMEOUT = 30.0
USER_AGENT = "comfyui-model-library"


class _Request(Protocol):
    url: Any
    headers: Any
    extensions: dict[str, Any]


class _SyncTransport(Protocol):
    def handle_request(self, request: Any) -> Any: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Timeouts:
    connect: float = CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT
    write: float = 60.0
    pool: float = 60.0

    def as_extension(self) -> dict[str, float]:
        return {"connect": self.connect, "read": self.read, "write": self.write, "pool": self.pool}


class NetworkGuard:
    """Policy + breaker + throttle + credentials + timeouts, shared by every client of one library.

    ``token`` is the Hub token; ``tokens`` maps other credential scopes (``CIVITAI_SCOPE``) to their
    secret. A secret is sent only to the URLs the policy puts in its scope.
    """

    def __init__(
        self,
        policy: HostPolicy,
        *,
        token: str | None = None,
        tokens: Mapping[str, str | None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
        breaker: CircuitBreaker | None = None,
        throttle: HostThrottle | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.policy = policy
        self._tokens: dict[str, str] = {}
        for scope, secret in {**(tokens or {}), HUB_SCOPE: token}.items():
            self.set_token(scope, secret)
        self.clock = clock
        self.breaker = breaker or CircuitBreaker(BreakerConfig(), clock)
        self.throttle = throttle or HostThrottle(ThrottleConfig(), clock)
        self.timeouts = timeouts or Timeouts()

    @classmethod
    def from_config(
        cls, config: object, *, clock: Clock = SYSTEM_CLOCK, read_timeout: float | None = None
    ) -> NetworkGuard:
        return cls(
            HostPolicy.from_config(config),
            token=getattr(config, "hf_token", None),
            tokens={CIVITAI_SCOPE: getattr(config, "civitai_api_key", None)},
            clock=clock,
            timeouts=Timeouts(read=read_timeout or DEFAULT_READ_TIMEOUT),
        )

    def set_token(self, scope: str, token: str | None) -> None:
        """Set (or with None, forget) the secret sent to URLs of ``scope``."""
        if scope not in (HUB_SCOPE, CIVITAI_SCOPE):
            raise ValueError(f"unknown credential scope {scope!r}")
        if token:
            self._tokens[scope] = token
        else:
            self._tokens.pop(scope, None)

    def has_scope_token(self, scope: str) -> bool:
        return scope in self._tokens

    @property
    def has_token(self) -> bool:
        return HUB_SCOPE in self._tokens

    def __repr__(self) -> str:  # never echo a token
        scopes = ",".join(sorted(self._tokens)) or "none"
        return f"NetworkGuard(endpoint={self.policy.endpoint}, tokens={scopes})"

    def hosts_status(self) -> dict[str, dict[str, Any]]:
        return self.breaker.hosts_status()

    def send(self, request: Any, inner: _SyncTransport) -> Any:
        url = str(request.url)
        target = self.policy.check(url)
        scope = self.policy.credential_scope(url)
        secret = self._tokens.get(scope) if scope else None
        if scope == HUB_SCOPE:
            # huggingface_hub may set its own header for the Hub: keep it.
            if secret and "authorization" not in request.headers:
                request.headers["Authorization"] = f"Bearer {secret}"
        elif secret:
            request.headers["Authorization"] = f"Bearer {secret}"  # replaces whatever a caller set
        else:
            request.headers.pop("authorization", None)
        timeout = request.extensions.get("timeout") or {}
        if any(timeout.get(k) is None for k in ("connect", "read", "write", "pool")):
            defaults = self.timeouts.as_extension()
            request.extensions["timeout"] = {k: timeout.get(k) or defaults[k] for k in defaults}
        self.breaker.before_request(target.host)
        self.throttle.acquire(target.host)
        try:
            response = inner.handle_request(request)
        except Exception as exc:
            self.breaker.record_failure(target.host, f"{type(exc).__name__}: {exc}")
            raise
        if response.status_code in RETRYABLE_STATUS:
            self.breaker.record_failure(target.host, f"HTTP {response.status_code}")
        else:
            self.breaker.record_success(target.host)
        return response


class GuardedTransport(httpx.BaseTransport):
    """Wraps an httpx (or httpx2) transport; every request, redirects included, goes through the guard."""

    def __init__(self, guard: NetworkGuard, inner: _SyncTransport | None = None) -> None:
        self.guard = guard
        self.inner: _SyncTransport = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response: httpx.Response = self.guard.send(request, self.inner)
        return response

    def close(self) -> None:
        self.inner.close()


def make_client(
    guard: NetworkGuard, *, follow_redirects: bool = True, max_connections: int = 16
) -> httpx.Client:
    """An httpx client whose every request (and redirect hop) passes the guard."""
    t = guard.timeouts
    inner = httpx.HTTPTransport(limits=httpx.Limits(max_connections=max_connections))
    return httpx.Client(
        transport=GuardedTransport(guard, inner),
        follow_redirects=follow_redirects,
        timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
        headers={"User-Agent": USER_AGENT},
        max_redirects=10,
    )


# -- huggingface_hub ----------------------------------------------------------------------------------
# huggingface_hub keeps one process-wide client (``set_client_factory``), shared with any other plugin in
# the ComfyUI process. So the guard applies only inside ``guard.activate()`` scopes of our own calls; other
# callers get huggingface_hub's default behaviour through the same client.

_ACTIVE_GUARD: contextvars.ContextVar[NetworkGuard | None] = contextvars.ContextVar(
    "model_library_active_guard", default=None
)
_INSTALL_LOCK = threading.Lock()
_installed = False


class _ScopedGuardTransport:
    def __init__(self, inner: _SyncTransport) -> None:
        self.inner = inner

    def handle_request(self, request: Any) -> Any:
        guard = _ACTIVE_GUARD.get()
        if guard is None:
            return self.inner.handle_request(request)
        return guard.send(request, self.inner)

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> _ScopedGuardTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def install_hf_client_factory() -> bool:
    """Route huggingface_hub's HTTP through the guard (when active). False if this version can't."""
    global _installed
    with _INSTALL_LOCK:
        if _installed:
            return True
        try:
            from huggingface_hub.utils import _http as hf_http
        except ImportError:
            return False
        set_factory = getattr(hf_http, "set_client_factory", None)
        http_module = getattr(hf_http, "httpx2", None) or getattr(hf_http, "httpx", None)
        if set_factory is None or http_module is None:
            return False
        request_hook = getattr(hf_http, "hf_request_event_hook", None)

        def factory() -> Any:
            return http_module.Client(
                event_hooks={"request": [request_hook] if request_hook else []},
                follow_redirects=True,
                timeout=None,
                transport=_ScopedGuardTransport(http_module.HTTPTransport()),
            )

        set_factory(factory)
        _installed = True
        return True


@contextmanager
def activate(guard: NetworkGuard) -> Iterator[None]:
    """Apply ``guard`` to huggingface_hub calls made by this thread/task inside the block."""
    token = _ACTIVE_GUARD.set(guard)
    try:
        yield
    finally:
        _ACTIVE_GUARD.reset(token)
