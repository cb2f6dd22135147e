"""A model's gallery: the images its sites show (Civitai's version images, a Hub card's examples),
fetched once on demand through the guarded clients, decoded and re-encoded by us (previews/images.py),
and kept beside its preview (``.preview/gallery/``). Only their URLs are in the model's record; nothing
of a stranger's file is ever served as it came."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NotFound
from ..io.fileops import atomic_write_bytes
from ..models import Model
from ..previews.images import PREVIEW_SIZES, make_preview_set
from ..previews.store import PreviewFile, PreviewStore
from ..taxonomy import Site

MAX_GALLERY = 12
GALLERY_DIR = "gallery"

FetchImage = Callable[[Site, str], bytes]  # (site, url) -> raw bytes, through that site's guarded client


@dataclass(frozen=True)
class GalleryItem:
    index: int
    site: Site
    nsfw_level: int
    url: str  # where it was published (shown as a link, never loaded by the page)

    def to_dict(self, model_id: str) -> dict[str, Any]:
        return {
            "index": self.index,
            "site": self.site,
            "nsfw_level": self.nsfw_level,
            "source_url": self.url,
            "image": f"/model-library/v1/models/{model_id}/gallery/{self.index}",
        }


class Gallery:
    def __init__(self, store: PreviewStore, fetch: FetchImage) -> None:
        self.store = store
        self.fetch = fetch
        self._lock = threading.Lock()

    def folder(self, model: Model) -> Path:
        return self.store.folder(model) / GALLERY_DIR

    def file(self, model: Model, item: GalleryItem, size: int | None) -> PreviewFile:
        """The item's re-encoded image (fetched and re-encoded the first time)."""
        folder = self.folder(model)
        name = f"{item.index}-{size if size in PREVIEW_SIZES else 'full'}.webp"
        path = folder / name
        with self._lock:  # one download per image, whoever asks
            if not path.is_file() or not self._same_source(folder, item):
                images = make_preview_set(self.fetch(item.site, item.url))
                atomic_write_bytes(folder / f"{item.index}-full.webp", images.full)
                for thumb_size, data in images.thumbs.items():
                    atomic_write_bytes(folder / f"{item.index}-{thumb_size}.webp", data)
                atomic_write_bytes(folder / f"{item.index}.json", json.dumps({"url": item.url}).encode())
        st = os.stat(path)
        return PreviewFile(path, f"g{item.index}-{size or 'full'}-{st.st_size}-{int(st.st_mtime)}")

    def _same_source(self, folder: Path, item: GalleryItem) -> bool:
        try:
            return bool(json.loads((folder / f"{item.index}.json").read_text())["url"] == item.url)
        except (OSError, ValueError, KeyError, TypeError):
            return False


def gallery_items(images: tuple[tuple[Site, str, int], ...]) -> list[GalleryItem]:
    return [GalleryItem(i, site, level, url) for i, (site, url, level) in enumerate(images[:MAX_GALLERY])]


def item_at(items: list[GalleryItem], index: int) -> GalleryItem:
    if not 0 <= index < len(items):
        raise NotFound(f"There is no image {index} in this model's gallery (it has {len(items)}).")
    return items[index]
