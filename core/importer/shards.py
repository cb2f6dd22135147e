"""Which files named like shards really are one model: the one rule for imports and sources.

Names alone mislead. ``name_56347.safetensors`` and ``name_74892.safetensors`` are two models that
happen to end in five digits, and a training run's ``mylora_00001`` .. ``mylora_00004`` are four
checkpoints of one LoRA, each a whole model. A group of same-stem files is one sharded model only when:

- ``-00001-of-00003`` style: they declare one total, every index lies in 1..total (one width by the
  pattern). A set with gaps is still that set (it says so); its import warns.
- ``.partN`` style: the indices run without a gap from 0 or 1.
- ``_00001`` style: the indices run without a gap from 0 or 1, and either an index file
  (``<stem><ext>.index.json``) names every one of them in its ``weight_map``, or their headers hold
  disjoint tensor names (the shards of one model split its tensors; separate models of one architecture
  repeat the same names). Headers are read only for this style, only then, a few KB each.

Otherwise every file is its own model, so nothing ComfyUI lists is ever hidden inside a set.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from ..errors import InvalidModelFile

# Large index files that travel with sharded sets (and are part of the model).
INDEX_SUFFIX = ".index.json"
MAX_INDEX_BYTES = 16 * 1024 * 1024

_HF_SHARD = re.compile(r"^(?P<stem>.+)-(?P<idx>\d{5})-of-(?P<total>\d{5})(?P<ext>\.[A-Za-z0-9]+)$")
_PART_SHARD = re.compile(r"^(?P<stem>.+(?P<ext>\.(?:safetensors|gguf|bin|ckpt|pt|pth)))\.part(?P<idx>\d+)$")
_UNDERSCORE_SHARD = re.compile(r"^(?P<stem>.+)_(?P<idx>\d{5})(?P<ext>\.(?:safetensors|gguf|bin))$")


def shard_of(name: str) -> tuple[str, str, int, int | None, str] | None:
    """(stem, ext, index, total or None, style) when ``name`` looks like one shard of a set."""
    m = _HF_SHARD.match(name)
    if m:
        return m["stem"], m["ext"], int(m["idx"]), int(m["total"]), "hf"
    m = _PART_SHARD.match(name)
    if m:
        return m["stem"], m["ext"], int(m["idx"]), None, "part"
    m = _UNDERSCORE_SHARD.match(name)
    if m:
        return m["stem"], m["ext"], int(m["idx"]), None, "underscore"
    return None


def find_index(folder: Path, stem: str, ext: str, style: str) -> Path | None:
    candidates = [folder / f"{stem}{ext}{INDEX_SUFFIX}"]
    if style == "part":
        candidates.append(folder / f"{stem}{INDEX_SUFFIX}")
    for candidate in candidates:
        if candidate.is_file() and not candidate.is_symlink():
            return candidate
    return None


def index_shards(index_file: Path) -> set[str] | None:
    """The file names an index's ``weight_map`` points at (None when it cannot be read)."""
    try:
        if index_file.stat().st_size > MAX_INDEX_BYTES:
            return None
        data = json.loads(index_file.read_text(encoding="utf-8"))
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if isinstance(weight_map, dict):
            return {str(v) for v in weight_map.values() if isinstance(v, str) and "/" not in v}
    except (OSError, ValueError):
        return None
    return None


def group_shards(folder: str | Path, names: list[str]) -> tuple[list[str], list[str]]:
    """Split file names of one folder, all shards of one (stem, ext, style) by name, into (the members
    of one sharded set in index order, the files that are models of their own). One of the two is
    empty."""
    parsed = [(shard_of(n), n) for n in names]
    if not parsed or any(p is None for p, _ in parsed):
        return [], sorted(names)
    ordered = sorted(parsed, key=lambda pn: pn[0][2] if pn[0] else 0)
    shards = [p for p, _ in ordered if p is not None]
    ordered_names = [n for _, n in ordered]
    if _is_one_set(Path(folder), shards, ordered_names):
        return ordered_names, []
    return [], sorted(ordered_names)


def _is_one_set(folder: Path, shards: list[tuple[str, str, int, int | None, str]], names: list[str]) -> bool:
    stem, ext, _i, _t, style = shards[0]
    indices = [s[2] for s in shards]
    if len(set(indices)) != len(indices):
        return False
    if style == "hf":
        totals = {s[3] for s in shards}
        total = next(iter(totals))
        return len(totals) == 1 and total is not None and all(1 <= i <= total for i in indices)
    contiguous = indices[0] in (0, 1) and indices == list(range(indices[0], indices[0] + len(indices)))
    if style == "part":
        return contiguous and len(names) > 1
    index_file = find_index(folder, stem, ext, style)
    listed = index_shards(index_file) if index_file is not None else None
    if listed is not None and set(names) <= listed:
        return True
    return contiguous and len(names) > 1 and _disjoint_tensors(folder, names)


def _disjoint_tensors(folder: Path, names: list[str]) -> bool:
    seen: set[str] = set()
    for name in names:
        tensors = _tensor_names(folder / name)
        if not tensors or seen & tensors:
            return False
        seen |= tensors
    return True


def _tensor_names(path: Path) -> frozenset[str] | None:
    """The tensor names of a safetensors or GGUF file's header; None when it is neither (or unreadable).
    Opened non-blocking and checked to be a regular file: a FIFO must not hang a walk. A link is read
    only when its target is named like a file this reads (the sources' link rule: a ``_00001`` link to
    ``~/.ssh/id_ed25519`` is never opened; such a set is listed file by file)."""
    from ..formats import gguf, safetensors  # header parsers: only when a set must be told apart

    target = os.path.realpath(path) if os.path.islink(path) else str(path)
    if not target.lower().endswith((".safetensors", ".gguf")):
        return None
    flags = (
        os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    )
    try:
        fd = os.open(target, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        head = os.pread(fd, 4, 0)
        if head == b"GGUF":
            return frozenset(gguf.read_gguf(fd, st.st_size).tensors)
        return frozenset(safetensors.read_header(fd, st.st_size).tensors)
    except (OSError, ValueError, InvalidModelFile):
        return None
    finally:
        os.close(fd)
