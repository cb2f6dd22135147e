"""The catalog's lookups by id and hash, the same on every backend: each store gives ``_select(where,
params)`` (its rows for a WHERE clause, hydrated) and ``MARK``, its SQL placeholder."""

# SQL here is assembled only from fixed fragments (the placeholder); values are bound.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence

from ..models import Model
from .refs import not_found


class ModelLookups:
    MARK = "?"

    def _select(self, where: str, params: tuple[object, ...]) -> list[Model]:
        raise NotImplementedError

    def get(self, model_id: str) -> Model:
        model = self.find(model_id)
        if model is None:
            raise not_found(model_id)
        return model

    def find(self, model_id: str) -> Model | None:
        found = self._select(f"WHERE id = {self.MARK}", (model_id,))
        return found[0] if found else None

    def by_blake3(self, blake3_hex: str) -> Model | None:
        found = self._select(f"WHERE blake3 = {self.MARK}", (blake3_hex.lower(),))
        return found[0] if found else None

    def by_blake3_many(self, blake3_hexes: Sequence[str]) -> dict[str, Model]:
        """The catalogued models among ``blake3_hexes``, by (lowercase) hash: one query per 500 hashes, for
        a group of new models that would otherwise ask once each."""
        wanted = list(dict.fromkeys(h.lower() for h in blake3_hexes))
        found: dict[str, Model] = {}
        for start in range(0, len(wanted), 500):
            chunk = tuple(wanted[start : start + 500])
            marks = ",".join([self.MARK] * len(chunk))
            found.update((m.hashes.blake3, m) for m in self._select(f"WHERE blake3 IN ({marks})", chunk))
        return found

    def by_sha256(self, sha256_hex: str) -> list[Model]:
        return self._select(f"WHERE sha256 = {self.MARK} ORDER BY id", (sha256_hex.lower(),))

    def by_file_hash(self, blake3_hex: str) -> list[Model]:
        return self._select(
            f"WHERE id IN (SELECT model_id FROM model_files WHERE blake3 = {self.MARK}) ORDER BY id",
            (blake3_hex.lower(),),
        )
