"""A circuit breaker per host: after repeated failures stop calling a host for a while.

closed --(``failure_threshold`` consecutive failures)--> open --(``open_seconds`` pass)--> half_open
half_open lets exactly one probe through: success closes the circuit, failure opens it again.
``hosts_status()`` is the snapshot the UI's offline banner shows.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ..errors import CircuitOpen
from .clock import SYSTEM_CLOCK, Clock

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 3
    open_seconds: float = 60.0


@dataclass(frozen=True)
class NetworkState:
    """One host's circuit as the UI sees it. Times are wall-clock epoch seconds."""

    host: str
    state: str
    consecutive_failures: int = 0
    last_failure: float | None = None
    last_error: str | None = None
    open_until: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "last_failure": self.last_failure,
            "last_error": self.last_error,
            "open_until": self.open_until,
        }


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None  # monotonic
    probe_in_flight: bool = False
    last_failure: float | None = None  # wall clock
    last_error: str | None = None


class CircuitBreaker:
    def __init__(self, config: BreakerConfig | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config or BreakerConfig()
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}
        self._lock = threading.Lock()

    def _state(self, circuit: _Circuit) -> str:
        if circuit.opened_at is None:
            return CLOSED
        if self._clock.monotonic() - circuit.opened_at < self.config.open_seconds:
            return OPEN
        return HALF_OPEN

    def before_request(self, host: str) -> None:
        """Raise CircuitOpen if ``host`` must not be called now; in half_open, admit one probe."""
        key = host.lower()
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is None:
                return
            state = self._state(circuit)
            if state == CLOSED:
                return
            if state == HALF_OPEN and not circuit.probe_in_flight:
                circuit.probe_in_flight = True
                return
            wait = self._remaining(circuit)
        raise CircuitOpen(
            f"{host} failed {self.config.failure_threshold} times in a row, so requests to it are paused "
            f"for {wait:.0f} s more (last error: {circuit.last_error}). Check the connection; it retries "
            "automatically."
        )

    def _remaining(self, circuit: _Circuit) -> float:
        if circuit.opened_at is None:
            return 0.0
        return max(0.0, circuit.opened_at + self.config.open_seconds - self._clock.monotonic())

    def record_success(self, host: str) -> None:
        with self._lock:
            self._circuits.pop(host.lower(), None)

    def record_failure(self, host: str, error: str = "") -> None:
        key = host.lower()
        with self._lock:
            circuit = self._circuits.setdefault(key, _Circuit())
            circuit.failures += 1
            circuit.last_failure = self._clock.time()
            circuit.last_error = error or "request failed"
            was_probe = circuit.probe_in_flight
            circuit.probe_in_flight = False
            if was_probe or circuit.failures >= self.config.failure_threshold:
                circuit.opened_at = self._clock.monotonic()

    def state(self, host: str) -> NetworkState:
        key = host.lower()
        with self._lock:
            circuit = self._circuits.get(key)
            if circuit is None:
                return NetworkState(host=key, state=CLOSED)
            return self._snapshot(key, circuit)

    def _snapshot(self, key: str, circuit: _Circuit) -> NetworkState:
        state = self._state(circuit)
        open_until = None
        if state == OPEN:
            open_until = self._clock.time() + self._remaining(circuit)
        return NetworkState(
            host=key,
            state=state,
            consecutive_failures=circuit.failures,
            last_failure=circuit.last_failure,
            last_error=circuit.last_error,
            open_until=open_until,
        )

    def hosts_status(self) -> dict[str, dict[str, Any]]:
        """Every host that has failed since its last success: ``{host: NetworkState.to_dict()}``."""
        with self._lock:
            return {key: self._snapshot(key, c).to_dict() for key, c in sorted(self._circuits.items())}
