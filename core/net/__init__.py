"""The network layer: host policy (SSRF guard), throttle, retry, circuit breaker, guarded transport, cache.

Each piece is a small object with an injectable clock (``clock.ManualClock`` in tests).
"""

from __future__ import annotations

from .breaker import BreakerConfig, CircuitBreaker, NetworkState
from .cache import HttpCache
from .clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock
from .policy import HostPolicy
from .retry import Retrier, RetryConfig, TransientError, parse_retry_after
from .throttle import HostThrottle, ThrottleConfig, TokenBucket
from .transport import NetworkGuard, Timeouts, make_client

__all__ = [
    "SYSTEM_CLOCK",
    "BreakerConfig",
    "CircuitBreaker",
    "Clock",
    "HostPolicy",
    "HostThrottle",
    "HttpCache",
    "ManualClock",
    "NetworkGuard",
    "NetworkState",
    "Retrier",
    "RetryConfig",
    "SystemClock",
    "ThrottleConfig",
    "Timeouts",
    "TokenBucket",
    "TransientError",
    "make_client",
    "parse_retry_after",
]
