"""Values and key helpers shared by the detection modules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as its header describes it. ``dtype`` is a safetensors dtype or a GGML type name."""

    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Detection:
    """What a model is. ``variant`` is the precision or quantisation ("fp16", "fp8_e4m3fn", "q4_k_m");
    ``subtype`` a finer kind where one is known ("dev", "schnell", "inpaint", "loha", "clip_l", ...)."""

    type: str
    base_model: str
    reason: str
    variant: str | None = None
    subtype: str | None = None


UNKNOWN = Detection("unknown", "unknown", "no known model layout matched the tensor names")


class Keys:
    """Tensor names and shapes, seen through an optional prefix (``model.diffusion_model.``)."""

    def __init__(self, tensors: Mapping[str, TensorInfo], prefix: str = "") -> None:
        self.tensors = tensors
        self.prefix = prefix
        if prefix:
            self.names = [k[len(prefix) :] for k in tensors if k.startswith(prefix)]
        else:
            self.names = list(tensors)
        self._set = set(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def has(self, *keys: str) -> bool:
        """True when every key is present."""
        return self._set.issuperset(keys)

    def has_any(self, *keys: str) -> bool:
        return not self._set.isdisjoint(keys)

    def shape(self, key: str) -> tuple[int, ...] | None:
        if key not in self._set:
            return None
        return self.tensors[self.prefix + key].shape

    def dim(self, key: str, index: int) -> int | None:
        shape = self.shape(key)
        if shape is None or len(shape) <= abs(index) - (1 if index < 0 else 0):
            return None
        return shape[index]

    def starts(self, *prefixes: str) -> bool:
        # A loop, not any(...) over a generator: detection asks this some 30 times per file.
        for name in self.names:  # noqa: SIM110
            if name.startswith(prefixes):
                return True
        return False

    def contains(self, *parts: str) -> bool:
        return any(p in n for n in self.names for p in parts)

    def first(self, suffix: str, within: str = "") -> str | None:
        """The first name (sorted) that ends with ``suffix`` and starts with ``within``."""
        found = sorted(n for n in self.names if n.endswith(suffix) and n.startswith(within))
        return found[0] if found else None

    def count_blocks(self, prefix: str) -> int:
        """How many consecutive numbered blocks ``<prefix><i>.`` exist from 0."""
        indices = set()
        for n in self.names:
            if n.startswith(prefix):
                head = n[len(prefix) :].split(".", 1)[0]
                if head.isdigit():
                    indices.add(int(head))
        count = 0
        while count in indices:
            count += 1
        return count


def top_prefixes(names: Iterable[str]) -> set[str]:
    return {n.split(".", 1)[0] for n in names}
