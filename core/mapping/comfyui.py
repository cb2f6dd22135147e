"""Reading a ComfyUI install: its version, its ``models/`` folders and its ``extra_model_paths.yaml`` folders.

Nothing here imports ComfyUI: the install is read as files. The install id is a short hash of the resolved
root, so the same folder always gets the same id (and the same view folder in the library).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidConfig, InvalidInput
from ..io.paths import lexically_at_or_under
from .categories import MODEL_CATEGORIES, OUR_SECTION, is_category_name
from .yaml_file import read_document

_VERSION_RE = re.compile(r"""^__version__\s*=\s*["']([^"'\n]+)["']""", re.MULTILINE)


@dataclass(frozen=True)
class ComfyInstall:
    root: Path
    version: str  # "" when unknown
    id: str

    @property
    def extra_paths_file(self) -> Path:
        return self.root / "extra_model_paths.yaml"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "root": str(self.root), "version": self.version}


def install_id(root: Path) -> str:
    resolved = os.path.normcase(str(root.resolve()))
    return hashlib.sha256(resolved.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def read_version(root: Path) -> str:
    try:
        text = (root / "comfyui_version.py").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    match = _VERSION_RE.search(text)
    return match.group(1).strip() if match else ""


def read_install(root: str | os.PathLike[str]) -> ComfyInstall:
    """Open a ComfyUI folder. Raises InvalidInput when the folder does not look like ComfyUI."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise InvalidInput(f"The ComfyUI folder {path} does not exist; pass the folder that holds main.py.")
    path = path.resolve()
    markers = ("main.py", "comfyui_version.py", "folder_paths.py")
    if not any((path / m).is_file() for m in markers):
        raise InvalidInput(
            f"{path} does not look like a ComfyUI folder (no main.py, folder_paths.py or "
            "comfyui_version.py); pass the folder that holds main.py."
        )
    return ComfyInstall(root=path, version=read_version(path), id=install_id(path))


def model_folders(install: ComfyInstall) -> dict[str, Path]:
    """``models/<category>`` folders that exist in the install."""
    found: dict[str, Path] = {}
    for category in MODEL_CATEGORIES:
        folder = install.models_dir / category
        if folder.is_dir():
            found[category] = folder
    return found


def extra_paths_folders(
    install: ComfyInstall, *, exclude_section: str = OUR_SECTION, exclude_under: Path | None = None
) -> dict[str, list[Path]]:
    """Folders named in the install's extra_model_paths.yaml, by category (our own section left out).

    Values follow ComfyUI's reading: ``base_path`` relative to the yaml's folder, one path per line.
    """
    document = read_document(install.extra_paths_file)
    found: dict[str, list[Path]] = {}
    if document is None:
        return found
    base_dir = install.extra_paths_file.parent
    for section_name, section in document.items():
        if section_name == exclude_section or not isinstance(section, dict):
            continue
        base = Path(os.path.expanduser(str(section.get("base_path", ""))))
        if not base.is_absolute():
            base = base_dir / base
        for category, value in section.items():
            if category in ("base_path", "is_default") or not is_category_name(str(category)):
                continue
            if not isinstance(value, str):
                raise InvalidConfig(
                    f"{install.extra_paths_file}: '{section_name}.{category}' must be a string "
                    "(several folders one per line), not a list; ComfyUI cannot read it either."
                )
            for line in value.splitlines():
                line = line.strip()
                if not line:
                    continue
                folder = Path(os.path.expanduser(line))
                folder = folder if folder.is_absolute() else base / folder
                folder = Path(os.path.normpath(folder))
                if exclude_under is not None and lexically_at_or_under(folder, exclude_under):
                    continue
                found.setdefault(category, []).append(folder)
    return found
