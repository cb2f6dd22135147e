"""What a model file is, from its head and header only: format, security, tensors, metadata, detection.

Reads with ``os.pread`` (the first bytes, then the header), never the tensor data and never the whole file.
Nothing is unpickled: pickle formats are marked ``security="pickle"`` and only their imports are listed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import InvalidModelFile
from ..io.fileops import O_NONBLOCK, reads_block_again
from . import gguf, safetensors
from .detect import detect
from .detect_common import UNKNOWN, Detection, TensorInfo
from .pickle_scan import (
    MAX_PICKLE_BYTES,
    pickle_globals,
    tar_members,
    unsafe_globals,
    zip_member_bytes,
    zip_members,
)
from .sniff import SNIFF_BYTES, pickle_by_structure, sniff_bytes, tar_has_pickle, zip_has_pickle

__all__ = ["FileInfo", "TensorInfo", "inspect_fd", "inspect_path"]

METADATA_VALUE_CAP = 64 * 1024
METADATA_KEY_CAP = 256
METADATA_MAX_KEYS = 200
_KEPT_PREFIXES = ("modelspec.", "ss_", "general.")
_KEPT_KEYS = frozenset({"format", "title", "description", "author", "license", "version", "config"})
_SECURITY = {
    "safetensors": "safe",
    "gguf": "safe",
    "onnx": "safe",
    "pickle": "pickle",
    "zip-pickle": "pickle",
}


@dataclass(frozen=True)
class FileInfo:
    """One model file as its header describes it. ``metadata`` is a capped, string-only subset."""

    file_format: str
    security: str
    tensors: Mapping[str, TensorInfo] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)
    header_size: int = 0
    quantization: str | None = None
    detection: Detection = UNKNOWN
    warnings: tuple[str, ...] = ()


def keep_metadata(raw: Mapping[str, object]) -> dict[str, str]:
    """The metadata worth keeping: modelspec.*, ss_*, general.* and a few others, values capped."""
    kept: dict[str, str] = {}
    for key, value in raw.items():
        if len(kept) >= METADATA_MAX_KEYS:
            break
        if len(key) > METADATA_KEY_CAP or not (key.startswith(_KEPT_PREFIXES) or key in _KEPT_KEYS):
            continue
        if value is None or isinstance(value, (bytes, dict)):
            continue
        text = value if isinstance(value, str) else str(value)
        kept[key] = text[:METADATA_VALUE_CAP]
    return kept


def inspect_fd(fd: int, size: int, name: str = "") -> FileInfo:
    """Inspect an open file of ``size`` bytes. ``name`` (the file name) is a hint, never the format.

    Raises ``InvalidModelFile`` when the file claims a format (by magic, or by a .safetensors/.gguf name)
    whose header is broken or hostile.
    """
    head = os.pread(fd, min(SNIFF_BYTES, size), 0)
    fmt = sniff_bytes(head, size, name)
    lowered = name.lower()
    if fmt == "unknown" and lowered.endswith((".safetensors", ".sft")) and not head.startswith(b"PK"):
        fmt = "safetensors"  # let the validator say exactly why it is not one
    elif fmt == "unknown" and lowered.endswith(".gguf"):
        fmt = "gguf"
    elif fmt == "unknown" and head.startswith(b"PK\x03\x04"):
        fmt = "zip-pickle" if zip_has_pickle(list(zip_members(fd, size))) else "unknown"
    elif fmt == "unknown" and head[257:262] == b"ustar":  # torch reads members by name, in any order
        fmt = "pickle" if tar_has_pickle(list(tar_members(_reader(fd), size))) else "unknown"
    elif fmt == "unknown" and size > len(head) and pickle_by_structure(_reader(fd), size):
        fmt = "pickle"  # a pickle whose start hides behind a long argument
    if fmt == "safetensors":
        header = safetensors.read_header(fd, size, head)
        tensors = {k: TensorInfo(d, s) for k, (d, s) in header.tensors.items()}
        metadata = keep_metadata(header.metadata)
        return FileInfo(
            "safetensors",
            "safe",
            tensors,
            metadata,
            header.header_size,
            None,
            detect(tensors, metadata, name),
        )
    if fmt == "gguf":
        info = gguf.read_gguf(fd, size)
        tensors = {k: TensorInfo(d, s) for k, (d, s) in info.tensors.items()}
        metadata = keep_metadata(info.kv)
        found = detect(tensors, metadata, name)
        found = replace(found, variant=info.quantization or found.variant)
        return FileInfo("gguf", "safe", tensors, metadata, info.header_size, info.quantization, found)
    if fmt in ("pickle", "zip-pickle"):
        return _pickle_info(fd, size, fmt, head)
    if fmt == "onnx":
        return FileInfo("onnx", "safe", detection=replace(UNKNOWN, reason="ONNX model: graph not inspected"))
    return FileInfo(
        "unknown",
        "unknown",
        detection=replace(UNKNOWN, reason="not a known model file format"),
        warnings=(_unknown_warning(name),),
    )


# Names under which pickles travel: a file so named that is no pickle is worth a word to the user.
_PICKLE_NAMES = (".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle")


def _unknown_warning(name: str) -> str:
    if name.lower().endswith(_PICKLE_NAMES):
        return (
            f"format not recognised: {name or 'the file'} is named like a PyTorch file but is neither a "
            "pickle, a torch zip or tar archive, safetensors nor GGUF; ComfyUI may not load it, and if it "
            "came from somewhere you do not trust, delete it"
        )
    return (
        "format not recognised (not safetensors, GGUF, ONNX or a pickle): ComfyUI may not load it; "
        "check where it came from"
    )


def _reader(fd: int) -> Callable[[int, int], bytes]:
    return lambda count, offset: os.pread(fd, count, offset)


def _pickle_info(fd: int, size: int, fmt: str, head: bytes) -> FileInfo:
    data: bytes | None
    if fmt == "zip-pickle":
        members = zip_members(fd, size)
        entry = next((e for n, e in members.items() if n == "data.pkl" or n.endswith("/data.pkl")), None)
        data = zip_member_bytes(fd, size, entry, MAX_PICKLE_BYTES) if entry else None
    elif head[257:262] == b"ustar":  # legacy torch tar: the object tree is the "pickle" member
        member = tar_members(_reader(fd), size).get("pickle")
        data = os.pread(fd, min(member[1], MAX_PICKLE_BYTES), member[0]) if member else None
    else:
        data = os.pread(fd, min(size, MAX_PICKLE_BYTES), 0)
    warnings = ["pickle format: loading it can run arbitrary code; it is never unpickled here"]
    if data is not None:
        imports, complete = pickle_globals(data)
        risky = unsafe_globals(imports)
        if risky:
            warnings.append("pickle imports beyond a plain state dict: " + ", ".join(risky[:20]))
        if not complete:
            warnings.append("pickle stream could not be read to its end; its imports may be incomplete")
    reason = "pickle file: tensor names are not read because the file is never unpickled"
    return FileInfo(fmt, "pickle", detection=replace(UNKNOWN, reason=reason), warnings=tuple(warnings))


def inspect_path(path: Path | str) -> FileInfo:
    """Open ``path`` without following a final symlink, check it is a regular file, and inspect it."""
    path = Path(path)
    # O_NONBLOCK: a FIFO put where a model was (after a walk saw a file) would hang the open until a
    # writer came; it is refused below, and the regular file's reads are made blocking again.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0) | O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InvalidModelFile(
            f"cannot open {path} for inspection: {exc.strerror} (symlinks are not followed); "
            "check the path and its permissions"
        ) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidModelFile(f"{path} is not a regular file; only model files can be inspected")
        reads_block_again(fd)
        return inspect_fd(fd, st.st_size, path.name)
    finally:
        os.close(fd)
