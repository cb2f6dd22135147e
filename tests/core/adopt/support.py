"""ComfyUI-shaped folders for the adoption tests: installs, model files with distinct bytes, snapshots."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

from comfyui_model_library.core.adopt import AdoptService
from comfyui_model_library.core.library import Library
from comfyui_model_library.core.links.platform import LinkMaker
from comfyui_model_library.core.links.registry import LinkRegistry
from comfyui_model_library.core.records.files import LinksRecord, read_all, records_dir
from tests.synth import write_safetensors

MODEL_DATA = 64 * 1024


def make_install(root: Path) -> Path:
    """A folder ComfyUI's way: main.py and models/<category>/."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "main.py").write_text("# ComfyUI\n")
    (root / "comfyui_version.py").write_text('__version__ = "0.3.64"\n')
    for category in ("checkpoints", "loras", "vae", "diffusers", "diffusion_models"):
        (root / "models" / category).mkdir(parents=True, exist_ok=True)
    return root


def write_model(path: Path, seed: str, size: int = MODEL_DATA) -> Path:
    """A valid safetensors file; ``seed`` (in its metadata) makes the bytes distinct."""
    return write_safetensors(path, {"w": ("U8", (size,))}, metadata={"seed": seed})


def sha256_of(path: Path | str) -> str:
    """The bytes a name resolves to (follows links, as ComfyUI does)."""
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def hashes_of(paths: list[Path]) -> dict[str, str]:
    return {str(p): sha256_of(p) for p in paths}


def snapshot(*roots: Path) -> dict[str, Any]:
    """Every entry under the roots: type, size, mtime, inode, link text. Equal snapshots: nothing changed."""
    entries: dict[str, Any] = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                st = os.lstat(path)
                link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
                size = st.st_size if stat.S_ISREG(st.st_mode) else 0
                entries[path] = (stat.S_IFMT(st.st_mode), size, st.st_mtime_ns, st.st_ino, link)
    return entries


def service(library: Library, maker: LinkMaker | None = None) -> AdoptService:
    return AdoptService(library.config, library.db, library.repo, library.importer, maker=maker)


def model_count(library: Library) -> int:
    return int(library.db.execute_read("SELECT COUNT(*) AS n FROM models")[0]["n"])


def adopt_links(library: Library, app_id: str | None = None) -> list[Any]:
    rows = library.db.execute_read("SELECT * FROM links WHERE purpose = 'adopt' ORDER BY link_path")
    return [r for r in rows if app_id is None or r["app_id"] == app_id]


def points_into(path: Path, folder: Path) -> bool:
    real = os.path.realpath(path)
    return real.startswith(os.path.realpath(folder) + os.sep)


def records_match_table(library: Library) -> None:
    """The links records files (what a rebuild reads) hold exactly the table's links."""
    on_disk = {
        (entry.link_path, entry.model_id, entry.kind)
        for _path, record in read_all(records_dir(library.db.path) / "links", LinksRecord, depth=1)
        for entry in record.links
    }
    in_table = {(r.link_path, r.model_id, r.kind) for r in LinkRegistry(library.db).all()}
    assert on_disk == in_table, on_disk ^ in_table
