"""Retry with exponential backoff and full jitter, honouring ``Retry-After`` and rate-limit headers.

Retried: ``TransientError`` (raised by callers for 408/429/5xx answers, carrying the server's wait hint) and
transport failures (connect/read errors and timeouts of httpx, or the ``httpx2`` fork huggingface_hub 2.x
uses). Never retried: our own refusals (host policy, open circuit, hash mismatch, cancel). Attempts and the
total time are both bounded; when they run out the caller gets the library error the last failure maps to.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import urlsplit

from ..errors import CircuitOpen, ModelLibraryError, NetworkError, RateLimited
from .clock import SYSTEM_CLOCK, Clock

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryConfig:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    # No single wait (even a server's Retry-After) and no whole call may exceed these.
    max_total: float = 120.0


class TransientError(Exception):
    """A failure worth retrying. ``retry_after`` is the server's hint in seconds, if it gave one."""

    def __init__(self, error: NetworkError, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now``: either delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def retry_after_from_headers(headers: Mapping[str, str], now: float) -> float | None:
    """The server's wait hint: ``Retry-After``, else IETF ``RateLimit`` ``t=``, else ``X-RateLimit-Reset``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    hint = parse_retry_after(lowered.get("retry-after"), now)
    if hint is not None:
        return hint
    ratelimit = lowered.get("ratelimit")
    if ratelimit:
        for part in ratelimit.replace(",", ";").split(";"):
            key, _, val = part.strip().partition("=")
            if key.strip() == "t":
                try:
                    return max(0.0, float(val))
                except ValueError:
                    break
    reset = lowered.get("x-ratelimit-reset") or lowered.get("ratelimit-reset")
    if reset:
        try:
            seconds = float(reset)
        except ValueError:
            return None
        # Some servers send an epoch timestamp, others a delay.
        return max(0.0, seconds - now) if seconds > 1_000_000_000 else max(0.0, seconds)
    return None


def transient_for_status(
    status: int, url: str, headers: Mapping[str, str], now: float, *, server: str | None = None
) -> TransientError | None:
    """A ``TransientError`` for a retryable status (429, 5xx, ...), else None.

    ``server`` names who answered in the message ("Civitai"); by default it is told from ``url``'s host,
    and a ``url`` without one (a description of a Hub call) names the Hub.
    """
    if status not in RETRYABLE_STATUS:
        return None
    hint = retry_after_from_headers(headers, now)
    if status == 429:
        wait = f" (the server asks to wait {hint:.0f} s)" if hint is not None else ""
        error: NetworkError = RateLimited(
            f"{server or _server_name(url)} rate-limited the request to {url}{wait}; try again later."
        )
    else:
        error = NetworkError(
            f"{server or 'The server'} answered HTTP {status} for {url}; it may be down or overloaded, "
            "try again later."
        )
    return TransientError(error, hint)


def _server_name(url: str) -> str:
    """'The Hub' for Hub hosts (or no host at all), 'Civitai' for Civitai's, else 'The server at HOST'."""
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        host = ""
    if host in ("huggingface.co", "hf.co") or host.endswith((".huggingface.co", ".hf.co")):
        return "The Hub"
    if host == "civitai.com" or host.endswith(".civitai.com"):
        return "Civitai"
    return f"The server at {host}" if host else "The Hub"


def _transport_error_types() -> tuple[type[BaseException], ...]:
    import httpx

    types: list[type[BaseException]] = [httpx.TransportError]
    try:
        import httpx2  # huggingface_hub 2.x's fork of httpx

        types.append(httpx2.TransportError)
    except ImportError:
        pass
    return tuple(types)


_TRANSPORT_ERRORS: tuple[type[BaseException], ...] | None = None


def is_transport_error(exc: BaseException) -> bool:
    global _TRANSPORT_ERRORS
    if _TRANSPORT_ERRORS is None:
        _TRANSPORT_ERRORS = _transport_error_types()
    if isinstance(exc, ModelLibraryError):
        return False
    return isinstance(exc, (*_TRANSPORT_ERRORS, TimeoutError, ConnectionError))


class Retrier:
    """Runs a callable until it succeeds, a non-retryable error occurs, or the budget is spent."""

    def __init__(
        self,
        config: RetryConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config or RetryConfig()
        self._clock = clock
        self._rng = rng or random.Random()

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2**attempt)].

        A server hint wins when it asks for longer; every wait is capped by ``max_delay``.
        """
        ceiling = min(self.config.max_delay, self.config.base_delay * (2**attempt))
        wait = self._rng.uniform(0.0, ceiling)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, self.config.max_delay)

    def call(
        self,
        fn: Callable[[], T],
        *,
        on_retry: Callable[[int, BaseException, float], None] | None = None,
    ) -> T:
        start = self._clock.monotonic()
        attempt = 0
        while True:
            try:
                return fn()
            except CircuitOpen:
                raise
            except Exception as exc:
                retry_after = exc.retry_after if isinstance(exc, TransientError) else None
                if not isinstance(exc, TransientError) and not is_transport_error(exc):
                    raise
                attempt += 1
                wait = self.delay(attempt - 1, retry_after)
                elapsed = self._clock.monotonic() - start
                if attempt >= self.config.max_attempts or elapsed + wait > self.config.max_total:
                    raise _final_error(exc, attempt) from exc
                if on_retry is not None:
                    on_retry(attempt, exc, wait)
                self._clock.sleep(wait)


def _final_error(exc: BaseException, attempts: int) -> NetworkError:
    if isinstance(exc, TransientError):
        return exc.error
    return NetworkError(
        f"The network request failed after {attempts} attempt(s): {exc or type(exc).__name__}. "
        "Check the connection (or HF_ENDPOINT) and try again."
    )
