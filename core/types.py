"""The callback types every long operation shares: progress and cancel.

Two kinds of progress exist and must not be mixed up, so each has its own name:

* :data:`ByteProgress` — ``(done_bytes)``: how many bytes of ONE stream (a file being hashed, copied or
  downloaded) are done so far. The low-level byte movers (``io.hashing``, ``io.fileops``, ``hf.transfer``,
  ``importer.stage``) report this, often many times a second.
* :data:`StageProgress` — ``(done, total, stage)``: how far a whole operation is, with a short stage label
  (``"hashing"``, ``"downloading"``, ``"moving"``...). Jobs, the importer, the sources, adopt and the hub
  report this; it is what a :class:`~.jobs.Job` shows. ``done``/``total`` are bytes or items, as the
  operation says; ``total`` may be 0 while unknown.

A caller that has a ``StageProgress`` and calls a byte mover wraps it (see ``hf.download`` and
``importer.pipeline``: an offset or a sum over parallel files, and the current stage label).

:data:`CancelCheck` — ``() -> bool``: polled between chunks or items; once it returns True the operation
raises :class:`~.errors.Cancelled` at its next check, leaving what it says it keeps (partials, finished
files) in place.

The services (``core/services/``) are handed two more: :data:`OnChanged` — ``(model ids, reason)``, called
when catalog rows changed (the library publishes ``"changed"``) — and :data:`WriteCheck` — ``()``, which
raises when the library may not be written now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

ByteProgress: TypeAlias = Callable[[int], None]
"""``(done_bytes)``: bytes of one stream done so far."""

StageProgress: TypeAlias = Callable[[int, int, str], None]
"""``(done, total, stage)``: how far a whole operation is, and in which stage."""

CancelCheck: TypeAlias = Callable[[], bool]
"""``() -> bool``: True once the caller wants the operation to stop."""


OnChanged: TypeAlias = Callable[[list[str], str], None]
"""``(model ids, reason)``: catalog rows changed; the library publishes ``"changed"`` with them."""

WriteCheck: TypeAlias = Callable[[], None]
"""``()``: raises when the library may not be written now (a read-only catalog, an unconfirmed move)."""

__all__ = ["ByteProgress", "CancelCheck", "OnChanged", "StageProgress", "WriteCheck"]
