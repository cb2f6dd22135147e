"""Small GETs with a byte cap (images, never model files): through a guarded client, retried on 429/5xx
and transport errors, refused past the cap before it is reached in memory."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput, NotFound, UpstreamError
from .clock import SYSTEM_CLOCK, Clock
from .retry import Retrier, transient_for_status


def read_capped(
    http: Any, url: str, max_bytes: int, retrier: Retrier | None = None, clock: Clock = SYSTEM_CLOCK
) -> bytes:
    """The body of ``url`` (at most ``max_bytes``); NotFound for 404/410, UpstreamError for other answers."""

    def attempt() -> bytes:
        with http.stream("GET", url) as response:
            transient = transient_for_status(response.status_code, url, response.headers, clock.time())
            if transient is not None:
                raise transient
            if response.status_code in (404, 410):
                raise NotFound(f"{url} is gone (HTTP {response.status_code}).")
            if response.status_code != 200:
                raise UpstreamError(f"{url} answered HTTP {response.status_code}; expected an image.")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise InvalidInput(f"{url} is {int(declared):,} bytes; images are limited to {max_bytes:,}.")
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise InvalidInput(
                        f"{url} is larger than {max_bytes:,} bytes; images are limited to that."
                    )
                chunks.append(chunk)
            return b"".join(chunks)

    return (retrier or Retrier(clock=clock)).call(attempt)
