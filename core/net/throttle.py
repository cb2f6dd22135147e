"""Per-host token buckets: a steady request rate with a small burst, so we stay polite to the Hub."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True)
class ThrottleConfig:
    rate_per_second: float = 10.0
    burst: int = 20


class TokenBucket:
    """``burst`` tokens refilled at ``rate`` per second; ``reserve`` says how long to wait for one."""

    def __init__(self, rate: float, burst: int, clock: Clock = SYSTEM_CLOCK) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock.monotonic()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now

    def reserve(self) -> float:
        """Take a token (possibly borrowed from the future); return the seconds to wait before using it."""
        with self._lock:
            now = self._clock.monotonic()
            self._refill(now)
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self.rate

    def acquire(self) -> float:
        """Wait for a token; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._clock.sleep(wait)
        return wait


class HostThrottle:
    """One token bucket per host, created on first use."""

    def __init__(self, config: ThrottleConfig | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config or ThrottleConfig()
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, host: str) -> TokenBucket:
        key = host.lower()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = TokenBucket(self.config.rate_per_second, self.config.burst, self._clock)
                self._buckets[key] = bucket
            return bucket

    def acquire(self, host: str) -> float:
        return self.bucket(host).acquire()
