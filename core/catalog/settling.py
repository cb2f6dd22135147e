"""A provisional model catalogued in place, once hashed: re-keyed to its content id, or merged into the
model that holds the same bytes (``InPlaceModels.settle``), the same on every backend. The backend gives
``execute(sql, params)`` (its cursor: ``fetchone()`` rows by column name), its placeholder and how it
locks the row it reads first."""

# SQL here is assembled only from fixed fragments (placeholders, a lock clause); values are bound.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..models import PENDING_PREFIX, model_id_from_blake3, utcnow
from .store import Settled

Execute = Callable[[str, tuple[object, ...]], Any]


def settle(
    execute: Execute,
    provisional_id: str,
    blake3: str,
    sha256: str,
    file_hashes: Mapping[str, tuple[str, str]],
    *,
    mark: str = "?",
    lock: str = "",
) -> Settled | None:
    row = execute(f"SELECT id, blake3 FROM models WHERE id = {mark}{lock}", (provisional_id,)).fetchone()
    if row is None or not str(row["blake3"]).startswith(PENDING_PREFIX):
        return None
    same = execute(f"SELECT id FROM models WHERE blake3 = {mark}", (blake3,)).fetchone()
    if same is not None:
        execute(f"DELETE FROM models WHERE id = {mark}", (provisional_id,))
        return Settled(str(same["id"]), merged=True)
    content_id = model_id_from_blake3(blake3)
    target = content_id
    if execute(f"SELECT 1 FROM models WHERE id = {mark}", (target,)).fetchone() is not None:
        target = content_id + "-" + blake3[16:20]  # a 64-bit prefix collision: keep both apart
    execute(
        f"UPDATE models SET id = {mark}, blake3 = {mark}, sha256 = {mark}, updated_at = {mark} "
        f"WHERE id = {mark}",
        (target, blake3, sha256, utcnow(), provisional_id),
    )
    for rel, (fb3, fsha) in file_hashes.items():
        execute(
            f"UPDATE model_files SET blake3 = {mark}, sha256 = {mark} "
            f"WHERE model_id = {mark} AND path = {mark}",
            (fb3, fsha, target, rel),
        )
    return Settled(target, merged=False)
