"""Where a model's preview lives, and its record.

A library model keeps its preview in its own folder (``<model folder>/.preview/``: moved, trashed and
restored with the model); a model catalogued in place keeps it in the library (``<library>/extras/<id>/``),
never in the user's folder. Each holds ``<tag>-full.webp`` (at most 1024 px a side), ``<tag>-256.webp``,
``<tag>-512.webp`` and ``preview.json`` (the record the catalog's ``preview`` column indexes: source,
tag, NSFW level).
Every file here was made by us, from pixels we decoded and re-encoded; nothing else is ever served.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import InsufficientSpace, ModelLibraryError
from ..io.fileops import atomic_write_bytes, storage_error
from ..model_extras import Preview
from ..models import Model
from ..taxonomy import PreviewSource
from .images import PREVIEW_SIZES, PreviewSet

PREVIEW_DIR = ".preview"
RECORD_NAME = "preview.json"
RECORD_VERSION = 1
SOURCE_EXTRAS = "extras"  # under the library root, for models catalogued in place
MAX_RECORD_BYTES = 64 * 1024


@dataclass(frozen=True)
class PreviewFile:
    path: Path
    etag: str  # the preview's tag and size: changes whenever the pixels do
    tag: str = ""  # the preview's tag alone (the ``?v=`` of its URL)


_OUR_IMAGE = re.compile(r"^[0-9a-zA-Z]{1,64}-(full|256|512)\.webp$")


def image_name(tag: str, size: int | None) -> str:
    """``<tag>-full.webp``, ``<tag>-256.webp``, ``<tag>-512.webp``."""
    return f"{tag}-{size or 'full'}.webp"


class PreviewStore:
    def __init__(self, library_root: Path) -> None:
        self.root = Path(library_root)

    def folder(self, model: Model) -> Path:
        if model.location == "library":
            return self.root.joinpath(*model.rel_dir.split("/"), PREVIEW_DIR)
        return self.root / SOURCE_EXTRAS / model.id

    def save(self, model: Model, images: PreviewSet, source: PreviewSource, nsfw_level: int = 0) -> Preview:
        """Write the images, then the record (a reader sees the old preview or the whole new one)."""
        folder = self.folder(model)
        preview = Preview(source, images.digest, nsfw_level)
        record = {"record": "preview", "version": RECORD_VERSION, **preview.to_record()}
        try:
            # Each set of pixels under names of its own tag, the record switched last: a save failing half
            # way leaves the old preview whole (its files, its tag, its cached URLs), never a mix.
            atomic_write_bytes(folder / image_name(preview.tag, None), images.full)
            for size, data in images.thumbs.items():
                atomic_write_bytes(folder / image_name(preview.tag, size), data)
            atomic_write_bytes(folder / RECORD_NAME, json.dumps(record, sort_keys=True).encode("utf-8"))
        except OSError as exc:
            if isinstance(exc, ModelLibraryError):
                raise
            if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                raise InsufficientSpace(
                    f"The disk of the library ({self.root}) is full: the preview of {model.name} was not "
                    "saved. Free some space and set it again."
                ) from exc
            raise storage_error(exc, f"saving the preview of {model.name}") from exc
        self._drop_others(folder, preview.tag)
        return preview

    def _drop_others(self, folder: Path, tag: str) -> None:
        """The files of earlier previews (ours: only names we write), once the record names the new one."""
        try:
            names = os.listdir(folder)
        except OSError:
            return
        for name in names:
            if _OUR_IMAGE.match(name) and not name.startswith(f"{tag}-"):
                try:
                    os.unlink(folder / name)
                except OSError:
                    pass  # removed with the folder some day; never served (the record names the new tag)

    def file(self, model: Model, size: int | None) -> PreviewFile | None:
        """The stored image for ``size`` (256, 512, or None for the full one), if there is one."""
        if model.preview is None:
            return None
        path = self.folder(model) / image_name(model.preview.tag, size if size in PREVIEW_SIZES else None)
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None  # only files we wrote: a link or anything else planted here is never served
        tag = model.preview.tag
        return PreviewFile(path, f"{tag}-{size or 'full'}-{st.st_size}", tag)

    def read_record(self, model: Model) -> Preview | None:
        """The preview the folder holds (for a rebuild): None when there is none or it is damaged."""
        folder = self.folder(model)
        try:
            with open(folder / RECORD_NAME, "rb") as f:
                data = json.loads(f.read(MAX_RECORD_BYTES))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("record") != "preview" or data.get("version") != 1:
            return None
        preview = Preview.from_record(data)
        if preview is None or not (folder / image_name(preview.tag, None)).is_file():
            return None
        return preview

    def remove(self, model: Model) -> None:
        """Delete the preview files we made (the folder holds nothing else)."""
        shutil.rmtree(self.folder(model), ignore_errors=True)
