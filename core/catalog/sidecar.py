"""``metadata.json`` beside every model: written, read, found (:mod:`.rebuild` rebuilds the catalog).

The files on disk are the truth; ``catalog.sqlite`` is an index that can always be rebuilt from the
sidecars. A sidecar holds everything the catalog knows about its model except where it lives: the model's
folder (``rel_dir``) always comes from where the sidecar was found, never from inside it, so a copied or
hostile sidecar cannot point the catalog at another folder. File paths inside it must be plain relative
POSIX paths below the model folder.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from ..errors import InvalidInput, InvalidModelFile, UnsafePath
from ..io.fileops import atomic_write_bytes
from ..io.jsonfmt import pretty_json
from ..io.paths import validate_relpath
from ..model_extras import About, Preview, SiteOrigin, UpdateInfo, clean_trigger_words
from ..models import EDITABLE_FIELDS, Hashes, Model, ModelFile, ModelSource, model_id_from_blake3
from ..taxonomy import BaseModelType, FileFormat, Location, ModelFormat, ModelType, SecurityLevel, Vocabulary
from .store import Origin

SIDECAR_NAME = "metadata.json"
SCHEMA_VERSION = 1
EXTRAS_VERSION = 1  # the ``extras`` section; older readers ignore it
LIBRARY_FORMAT = "comfyui-model-library"
MAX_SIDECAR_BYTES = 4 * 1024 * 1024
_HEX = frozenset("0123456789abcdef")


# -- write ---------------------------------------------------------------------------------------------
def sidecar_dict(
    model: Model, *, origins: Sequence[Origin] = (), fetched: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The sidecar JSON of ``model``: its CONTRACT shape without folder, state or links.

    ``origins`` here are the paths its bytes were imported from; the sites it is published on, its
    preview, a newer version and what the sites say go under ``extras``, and everything fetched from
    the sites under ``fetched`` (kept when a site later deletes it)."""
    d = model.to_dict()
    d.pop("state", None)
    d.pop("preview", None)
    d.pop("update", None)
    d.pop("about", None)
    d.pop("favorite", None)
    d.pop("used_at", None)
    d.pop("default_strength", None)
    d.pop("origins", None)
    d["extras"] = extras_record(model)
    d["schema"] = SCHEMA_VERSION
    d["library_format"] = LIBRARY_FORMAT
    if origins:
        d["origins"] = [{"path": p, "kind": k, "recorded_at": at} for p, k, at in origins]
    if fetched:
        d["fetched"] = dict(fetched)
    return d


def extras_record(model: Model) -> dict[str, Any]:
    return {
        "version": EXTRAS_VERSION,
        "preview": model.preview.to_record() if model.preview is not None else None,
        "site_origins": [o.to_dict() for o in model.site_origins],
        "update": model.update.to_dict() if model.update is not None else None,
        "about": model.about.to_dict() if model.about is not None else None,
        "favorite": model.favorite,
        "used_at": model.used_at,
        "default_strength": model.default_strength,
    }


def write_sidecar(
    model_dir: Path,
    model: Model,
    *,
    origins: Sequence[Origin] = (),
    fetched: Mapping[str, Any] | None = None,
) -> None:
    """Write ``model_dir/metadata.json`` atomically (a reader sees the old or the new file, never half).

    Without ``fetched``, what the file already keeps of the sites is carried over."""
    path = Path(model_dir) / SIDECAR_NAME
    if fetched is None:
        fetched = read_fetched(path)
    atomic_write_bytes(path, sidecar_bytes(model, origins=origins, fetched=fetched))


def sidecar_bytes(
    model: Model, *, origins: Sequence[Origin] = (), fetched: Mapping[str, Any] | None = None
) -> bytes:
    """The bytes of ``metadata.json`` for ``model`` (``write_sidecar`` writes them atomically)."""
    return (pretty_json(sidecar_dict(model, origins=origins, fetched=fetched)) + "\n").encode("utf-8")


def read_fetched(path: Path) -> dict[str, Any]:
    """The ``fetched`` section of a sidecar, or {} when there is none (or the file is not readable)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SIDECAR_BYTES + 1)
        data = json.loads(raw) if len(raw) <= MAX_SIDECAR_BYTES else {}
    except (OSError, ValueError, RecursionError):
        return {}
    fetched = data.get("fetched") if isinstance(data, dict) else None
    return fetched if isinstance(fetched, dict) else {}


# -- read ----------------------------------------------------------------------------------------------
def read_sidecar(model_dir: Path, rel_dir: str) -> Model:
    """The Model described by ``model_dir/metadata.json``, at ``rel_dir`` (where it was found).

    Raises InvalidModelFile for a file that is not a sidecar or breaks a rule, InvalidInput if unreadable.
    """
    return read_sidecar_file(Path(model_dir) / SIDECAR_NAME, rel_dir)[0]


def read_sidecar_file(path: str | Path, rel_dir: str) -> tuple[Model, list[Origin]]:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise InvalidInput(
            f"Cannot open the sidecar {path} ({exc.strerror}); check it exists and is readable."
        ) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidModelFile(f"The sidecar {path} is not a regular file; remove or replace it.")
        if st.st_size > MAX_SIDECAR_BYTES:
            raise InvalidModelFile(
                f"The sidecar {path} is larger than {MAX_SIDECAR_BYTES} bytes; it is not ours."
            )
        chunks = []
        while chunk := os.read(fd, MAX_SIDECAR_BYTES + 1):  # the file may grow while we read
            chunks.append(chunk)
            if sum(map(len, chunks)) > MAX_SIDECAR_BYTES:
                raise InvalidModelFile(f"The sidecar {path} grew past {MAX_SIDECAR_BYTES} bytes while read.")
    finally:
        os.close(fd)
    try:
        data = json.loads(b"".join(chunks))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidModelFile(
            f"The sidecar {path} is not valid JSON ({exc}); restore it or re-import."
        ) from exc
    try:
        return _parse(data, rel_dir)
    except _Bad as exc:
        raise InvalidModelFile(
            f"The sidecar {path} is invalid: {exc}. Restore it or re-import the model."
        ) from exc


class _Bad(Exception):
    pass


V = TypeVar("V", bound=Vocabulary)


def _get(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    value = d.get(key, default)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise _Bad(f"{key!r} must be {getattr(kind, '__name__', kind)}, not {type(value).__name__}")
    return value


def _hex(d: Mapping[str, Any], key: str) -> str:
    value = _get(d, key, str).lower()
    if len(value) != 64 or not set(value) <= _HEX:
        raise _Bad(f"{key!r} must be 64 hex digits")
    return str(value)


def _one_of(d: Mapping[str, Any], key: str, allowed: type[V], default: str | None = None) -> V:
    member = allowed.parse(_get(d, key, str, default))
    if member is None:
        raise _Bad(f"{key!r} is {d.get(key, default)!r}, expected one of {', '.join(allowed.values())}")
    return member


def _safe_rel_path(value: str) -> str:
    try:
        validate_relpath(value)
    except UnsafePath as exc:
        raise _Bad(
            f"file path {value[:200]!r} is not a plain relative path inside the model folder ({exc})"
        ) from exc
    return value


def _strings(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"{key!r} must be a list of strings")
    return value


def _parse(data: Any, rel_dir: str) -> tuple[Model, list[Origin]]:
    if not isinstance(data, dict):
        raise _Bad("the top level is not an object")
    if data.get("library_format") != LIBRARY_FORMAT:
        raise _Bad(f"'library_format' is not {LIBRARY_FORMAT!r}")
    if data.get("schema") != SCHEMA_VERSION:
        raise _Bad(f"schema {data.get('schema')!r} is not supported (this version reads {SCHEMA_VERSION})")
    hashes = _get(data, "hashes", dict)
    blake3, sha256 = _hex(hashes, "blake3"), _hex(hashes, "sha256")
    model_id = _get(data, "id", str)
    if model_id != model_id_from_blake3(blake3):
        raise _Bad(f"id {model_id!r} does not match its blake3 hash")
    files = []
    for entry in _get(data, "files", list):
        if not isinstance(entry, dict):
            raise _Bad("a 'files' entry is not an object")
        size = _get(entry, "size", int)
        if size < 0:
            raise _Bad("a file size is negative")
        path = _safe_rel_path(_get(entry, "path", str))
        files.append(ModelFile(path, size, _hex(entry, "blake3"), _hex(entry, "sha256")))
    if not files:
        raise _Bad("'files' is empty")
    source_data = _get(data, "source", dict, {})
    try:
        source = ModelSource.from_dict(source_data)
    except (TypeError, ValueError) as exc:
        raise _Bad(f"'source' is invalid ({exc})") from exc
    for key in ("repo_id", "revision", "filename"):
        if not isinstance(getattr(source, key), (str, type(None))):
            raise _Bad(f"'source.{key}' must be a string")
    metadata = _get(data, "metadata", dict, {})
    if not all(isinstance(v, str) for v in metadata.values()):
        raise _Bad("'metadata' values must be strings")
    size = _get(data, "size", int)
    if size < 0:
        raise _Bad("'size' is negative")
    origins: list[Origin] = []
    for o in _get(data, "origins", list, []):
        if not isinstance(o, dict):
            raise _Bad("an 'origins' entry is not an object")
        origins.append((_get(o, "path", str), _get(o, "kind", str), _get(o, "recorded_at", str, "")))
    extras = data.get("extras")
    extras = extras if isinstance(extras, dict) else {}
    trigger_words = data.get("trigger_words", [])
    site_origins = extras.get("site_origins")
    about = extras.get("about")
    used_at = extras.get("used_at")
    model = Model(
        id=model_id,
        name=_get(data, "name", str),
        type=_one_of(data, "type", ModelType),
        base_model=_one_of(data, "base_model", BaseModelType),
        format=_one_of(data, "format", ModelFormat),
        file_format=_one_of(data, "file_format", FileFormat),
        security=_one_of(data, "security", SecurityLevel),
        size=size,
        hashes=Hashes(blake3, sha256),
        files=tuple(files),
        location=Location.LIBRARY,
        rel_dir=rel_dir,
        source=source,
        tags=tuple(_strings(data.get("tags", []), "tags")),
        notes=_get(data, "notes", str, ""),
        added_at=_get(data, "added_at", str, ""),
        updated_at=_get(data, "updated_at", str, ""),
        manual_fields=frozenset(
            f for f in _strings(data.get("manual_fields", []), "manual_fields") if f in EDITABLE_FIELDS
        ),
        metadata=dict(metadata),
        warnings=tuple(_strings(data.get("warnings", []), "warnings")),
        trigger_words=clean_trigger_words(_strings(trigger_words, "trigger_words")),
        preview=Preview.from_record(extras.get("preview")),
        site_origins=tuple(
            o for o in map(SiteOrigin.from_dict, site_origins if isinstance(site_origins, list) else []) if o
        ),
        update=UpdateInfo.from_dict(extras.get("update")),
        about=About.from_dict(about) if isinstance(about, dict) else None,
        favorite=extras.get("favorite") is True,
        used_at=used_at if isinstance(used_at, str) else "",
        default_strength=strength_of(extras.get("default_strength")),
    )
    return model, origins


def strength_of(value: object) -> float | None:
    """A LoRA strength from a record: a number in -100..100, else none."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if -100.0 <= value <= 100.0 else None


def files_present(model_dir: str | Path, model: Model) -> bool:
    """True when every file of ``model`` exists under ``model_dir`` with its recorded size (stat only)."""
    for f in model.files:
        try:
            st = os.stat(os.path.join(model_dir, *f.path.split("/")), follow_symlinks=False)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != f.size:
            return False
    return True


# -- rebuild -------------------------------------------------------------------------------------------
def iter_sidecar_dirs(models_dir: str | Path) -> Iterator[str]:
    """Every folder under ``models_dir`` holding a metadata.json; symlinks are never followed, and a
    model folder is not searched further (its subfolders are the model's own)."""
    stack = [str(models_dir)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                subdirs: list[str] = []
                found = False
                for entry in entries:
                    if entry.name == SIDECAR_NAME and not entry.is_dir(follow_symlinks=False):
                        found = True
                    elif entry.is_dir(follow_symlinks=False):
                        subdirs.append(entry.path)
        except OSError:
            continue
        if found:
            yield folder
        else:
            stack.extend(sorted(subdirs, reverse=True))


def set_aside_corrupt(db_path: Path) -> Path | None:
    """Rename a damaged catalog (and its -wal/-shm) to ``<name>.corrupt-<stamp>``; never delete it.

    Returns the new path of the main file, or None when there was no catalog. A -wal/-shm left beside a
    missing catalog is set aside too: SQLite would replay it onto whatever file is put there next (a
    restored backup, a new catalog). Close every connection to it first.
    """
    db_path = Path(db_path)
    companions = [db_path.with_name(db_path.name + suffix) for suffix in ("-wal", "-shm")]
    if not db_path.exists() and not any(c.exists() for c in companions):
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = db_path.with_name(f"{db_path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = db_path.with_name(f"{db_path.name}.corrupt-{stamp}-{n}")
    for suffix, companion in zip(("-wal", "-shm"), companions):
        if companion.exists():
            os.replace(companion, target.with_name(target.name + suffix))
    if not db_path.exists():
        return None
    os.replace(db_path, target)
    return target
