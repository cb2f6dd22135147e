"""A real library on disk for mapping, links and health tests: catalog, model files, a ComfyUI folder."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import blake3

from comfyui_model_library.core.catalog.db import Database
from comfyui_model_library.core.catalog.migrations import migrate
from comfyui_model_library.core.catalog.repository import ModelRepository
from comfyui_model_library.core.models import Hashes, Model, ModelFile, model_id_from_blake3


@dataclass
class Env:
    root: Path
    db: Database
    repo: ModelRepository
    comfy: Path

    def add(
        self,
        name: str,
        *,
        type: str = "lora",
        base: str = "sdxl",
        files: tuple[str, ...] | None = None,
        tags: tuple[str, ...] = (),
        payload: bytes | None = None,
        format: str | None = None,
    ) -> Model:
        files = files or (f"{name}.safetensors",)
        rel_dir = f"models/{type}/{base}/{name}"
        folder = self.root / rel_dir
        entries = []
        for i, rel in enumerate(files):
            data = payload if payload is not None else f"{name}:{type}:{base}:{rel}:{i}".encode()
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            entries.append(
                ModelFile(rel, len(data), blake3.blake3(data).hexdigest(), hashlib.sha256(data).hexdigest())
            )
        whole = blake3.blake3(("|".join(f.blake3 for f in entries) + rel_dir).encode()).hexdigest()
        model = Model(
            id=model_id_from_blake3(whole),
            name=name,
            type=type,
            base_model=base,
            format=format or ("single-file" if len(files) == 1 else "diffusion-folder"),
            file_format="safetensors",
            security="safe",
            size=sum(f.size for f in entries),
            hashes=Hashes(whole, hashlib.sha256(whole.encode()).hexdigest()),
            files=tuple(entries),
            rel_dir=rel_dir,
            tags=tags,
            added_at="2025-01-01T00:00:00+00:00",
            updated_at="2025-01-01T00:00:00+00:00",
        )
        self.repo.add(model)
        return model


def make_comfy(folder: Path, version: str = "0.3.64") -> Path:
    (folder / "models" / "checkpoints").mkdir(parents=True, exist_ok=True)
    (folder / "models" / "loras").mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text("# ComfyUI\n")
    (folder / "comfyui_version.py").write_text(f'# auto\n__version__ = "{version}"\n')
    return folder


def make_env(tmp_path: Path) -> Env:
    root = tmp_path / "library"
    root.mkdir()
    db = Database(root / "catalog.sqlite")
    migrate(db)
    return Env(root, db, ModelRepository(db), make_comfy(tmp_path / "ComfyUI"))
