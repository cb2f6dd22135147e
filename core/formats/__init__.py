"""Model file formats: sniffing by magic bytes, hostile-proof header validation, type detection."""

from .detect import detect, detect_diffusers_folder, detect_many
from .detect_common import UNKNOWN, Detection, TensorInfo
from .inspect import FileInfo, inspect_fd, inspect_path
from .sniff import sniff_bytes

__all__ = [
    "UNKNOWN",
    "Detection",
    "FileInfo",
    "TensorInfo",
    "detect",
    "detect_diffusers_folder",
    "detect_many",
    "inspect_fd",
    "inspect_path",
    "sniff_bytes",
]
