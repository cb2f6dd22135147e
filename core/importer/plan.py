"""What an import will bring in: files, Diffusers folders, sharded sets, or folders of models.

Planning only looks at names and the directory tree (plus small index JSON files); formats are checked
from magic bytes when each file is opened. A sharded set is grouped as one model and its completeness
checked: an incomplete set still imports, with a warning.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInput, UnsafePath
from ..io.paths import at_or_under
from .shards import find_index, group_shards, index_shards, shard_of

MODEL_EXTENSIONS = frozenset(
    {".safetensors", ".sft", ".gguf", ".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle", ".onnx"}
)
SKIP_DIRS = frozenset({"__pycache__", ".git", ".cache", ".trash", ".tmp", "node_modules"})


@dataclass(frozen=True)
class PlannedModel:
    """One model to import: absolute source ``files`` and their ``rel_paths`` in the model folder."""

    format: str  # single-file | diffusion-folder | sharded-set
    origin: Path  # the file or folder the user named (or found in a walk)
    files: tuple[Path, ...]
    rel_paths: tuple[str, ...]
    name: str
    warnings: tuple[str, ...] = ()

    @property
    def main_file(self) -> Path:
        return self.files[0]


@dataclass(frozen=True)
class PlanFailure:
    path: Path
    reason: str
    code: str = "invalid_input"


@dataclass(frozen=True)
class ShardKey:
    folder: Path
    stem: str
    ext: str
    style: str


def readable_link_target(path: str, top: str | None) -> str | None:
    """The file to read for ``path``, found under the folder ``top``: itself, or a symlink's target.
    (``top`` None: a link the user named by itself; its target is not inside anything of theirs.)

    A link out of ``top`` is followed only to a file named like a model, or to a blob of the Hugging Face
    cache repository that holds the link (``snapshots/<rev>/x -> ../../blobs/<etag>``). A link named like a
    model but pointing at ``~/.ssh/id_ed25519`` or ``/etc/shadow`` is never read: its bytes would become
    a library file, its header a catalog row a remote client can see. Sources and folder imports share
    this rule."""
    if not os.path.islink(path):
        return path
    target = os.path.realpath(path)
    inside = top is not None and at_or_under(target, os.path.realpath(top))
    if inside or is_model_file(os.path.basename(target)):
        return target
    return target if _hub_cache_blob(path, target) else None


def _hub_cache_blob(link: str, target: str) -> bool:
    parts = Path(os.path.abspath(link)).parts
    for i in range(len(parts) - 2, 0, -1):
        if parts[i].startswith(("models--", "datasets--", "spaces--")):
            repo = os.path.realpath(os.path.join(*parts[: i + 1]))
            return at_or_under(target, os.path.join(repo, "blobs"))
    return False


def _link_refused(path: Path) -> str:
    return (
        f"{path} is a link to {os.path.realpath(path)}, which is not named like a model file and lies "
        "outside what was imported; it was not read (import the file itself if it really is a model)"
    )


def is_model_file(name: str) -> bool:
    return _named_like_a_model(name, shard_of(name))


def _named_like_a_model(name: str, shard: object) -> bool:
    """``is_model_file`` with the name's ``shard_of`` found already."""
    return shard is not None or os.path.splitext(name.lower())[1] in MODEL_EXTENSIONS


def plan_paths(paths: Sequence[Path]) -> tuple[list[PlannedModel], list[PlanFailure]]:
    """Plan an import of the paths a user named. Never raises for one bad path: it becomes a failure."""
    planned: list[PlannedModel] = []
    failures: list[PlanFailure] = []
    seen: set[Path] = set()
    # One path's walk meets each file once: only several paths can name a file twice.
    dedupe = len(paths) > 1
    for path in paths:
        try:
            for item in _plan_one(path):
                if isinstance(item, PlanFailure):
                    failures.append(item)
                    continue
                if dedupe:
                    if item.files[0] in seen:
                        continue
                    seen.update(item.files)
                planned.append(item)
        except InvalidInput as exc:
            failures.append(PlanFailure(path, exc.message, exc.code))
        except OSError as exc:
            failures.append(PlanFailure(path, f"{path}: {exc.strerror or exc}", "storage_error"))
    return planned, failures


def _plan_one(path: Path) -> Iterator[PlannedModel | PlanFailure]:
    st = os.lstat(path)
    import stat as _stat

    if _stat.S_ISLNK(st.st_mode):
        target = path.resolve(strict=True)
        st = os.stat(target)
        if not _stat.S_ISDIR(st.st_mode) and readable_link_target(str(path), None) is None:
            yield PlanFailure(path, _link_refused(path), "unsafe_path")
            return
    if _stat.S_ISDIR(st.st_mode):
        if (path / "model_index.json").is_file():
            yield _plan_diffusers(path)
        else:
            yield from _plan_folder(path)
        return
    if not _stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{path} is not a regular file or folder; only model files can be imported.")
    shard = shard_of(path.name)
    if shard is not None:
        stem, ext, _idx, _total, style = shard
        siblings = {
            p.name: p
            for p in _safe_listdir(path.parent)
            if _same_set(p.name, stem, ext, style) and readable_link_target(str(p), str(path.parent))
        }
        in_set, _singles = group_shards(path.parent, list(siblings))
        if path.name in in_set:
            yield _plan_shards(path.parent, stem, ext, style, [siblings[n] for n in in_set])
            return
    yield PlannedModel("single-file", path, (path,), (path.name,), model_name_from_file(path.name))


def _plan_folder(folder: Path) -> Iterator[PlannedModel | PlanFailure]:
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        diffusers = [d for d in dirnames if (here / d / "model_index.json").is_file()]
        for d in diffusers:
            try:
                yield _plan_diffusers(here / d)
            except InvalidInput as exc:
                yield PlanFailure(here / d, exc.message, exc.code)
        dirnames[:] = [d for d in dirnames if d not in diffusers]
        groups: dict[ShardKey, list[Path]] = {}
        entries = _entries(here)
        for name in sorted(filenames, key=given_order):
            if name.startswith("."):
                continue
            full = here / name
            entry = entries.get(name)
            link = entry.is_symlink() if entry is not None else os.path.islink(full)
            shard = shard_of(name)
            model_file = _named_like_a_model(name, shard)
            if model_file and link and readable_link_target(str(full), str(folder)) is None:
                yield PlanFailure(full, _link_refused(full), "unsafe_path")
                continue
            if shard is not None:
                stem, ext, _i, _t, style = shard
                groups.setdefault(ShardKey(here, stem, ext, style), []).append(full)
            elif model_file and (_is_file_link(full) if link else _is_regular(entry, full)):
                yield PlannedModel("single-file", full, (full,), (name,), model_name_from_file(name))
        for key, members in groups.items():
            by_name = {m.name: m for m in members}
            in_set, singles = group_shards(key.folder, list(by_name))
            if in_set:
                yield _plan_shards(key.folder, key.stem, key.ext, key.style, [by_name[n] for n in in_set])
            for name in singles:
                full = by_name[name]
                yield PlannedModel("single-file", full, (full,), (name,), model_name_from_file(name))


def _entries(folder: Path) -> dict[str, os.DirEntry[str]]:
    """A folder's entries by name. Their kinds come with the listing on most filesystems (``d_type``):
    a folder of thousands of models is planned without three stats a file."""
    try:
        with os.scandir(folder) as found:
            return {entry.name: entry for entry in found}
    except OSError:
        return {}


def _is_regular(entry: os.DirEntry[str] | None, path: Path) -> bool:
    """A regular file, not a link (``entry``: its listing, when the folder was listed)."""
    if entry is not None:
        try:
            return entry.is_file(follow_symlinks=False)
        except OSError:
            return False
    return path.is_file() and not path.is_symlink()


def _is_file_link(path: Path) -> bool:
    try:
        return path.is_symlink() and path.resolve(strict=True).is_file()
    except OSError:
        return False


def _same_set(name: str, stem: str, ext: str, style: str) -> bool:
    shard = shard_of(name)
    return shard is not None and shard[0] == stem and shard[1] == ext and shard[4] == style


def _plan_shards(folder: Path, stem: str, ext: str, style: str, members: Iterable[Path]) -> PlannedModel:
    indexed: dict[int, Path] = {}
    totals: set[int] = set()
    for member in members:
        shard = shard_of(member.name)
        assert shard is not None
        indexed[shard[2]] = member
        if shard[3] is not None:
            totals.add(shard[3])
    warnings: list[str] = []
    order = sorted(indexed)
    files = [indexed[i] for i in order]
    extra: list[Path] = []
    index_file = find_index(folder, stem, ext, style)
    expected_names: set[str] | None = None
    if index_file is not None:
        extra.append(index_file)
        expected_names = index_shards(index_file)
    if expected_names is not None:
        present = {p.name for p in files}
        missing = sorted(expected_names - present)
        if missing:
            warnings.append(
                f"incomplete sharded set: missing {', '.join(missing[:5])}"
                + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            )
    elif totals:
        total = max(totals)
        missing_idx = [i for i in range(1, total + 1) if i not in indexed]
        if missing_idx:
            warnings.append(
                f"incomplete sharded set: {len(missing_idx)} of {total} shards missing "
                f"(first missing: {missing_idx[0]:05d})"
            )
    else:
        first = 0 if 0 in indexed else 1
        gaps = [i for i in range(first, max(order) + 1) if i not in indexed]
        if gaps:
            warnings.append(f"incomplete sharded set: shard {gaps[0]} missing")
    all_files = tuple(files + extra)
    base = stem[: -len(ext)] if style == "part" and stem.endswith(ext) else stem
    return PlannedModel(
        "sharded-set",
        folder,
        all_files,
        tuple(p.name for p in all_files),
        model_name_from_file(base),
        tuple(warnings),
    )


def _plan_diffusers(folder: Path) -> PlannedModel:
    files: list[Path] = []
    rels: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            full = here / name
            if full.is_symlink() and not _is_file_link(full):
                continue
            if readable_link_target(str(full), str(folder)) is None:
                raise UnsafePath(_link_refused(full) + "; the Diffusers folder was not imported")
            files.append(full)
            rels.append(full.relative_to(folder).as_posix())
    if not files:
        raise InvalidInput(f"{folder} looks like a Diffusers folder but holds no files.")
    # model_index.json first: it identifies the model.
    order = sorted(range(len(files)), key=lambda i: (rels[i] != "model_index.json", rels[i]))
    return PlannedModel(
        "diffusion-folder",
        folder,
        tuple(files[i] for i in order),
        tuple(rels[i] for i in order),
        model_name_from_file(folder.name),
    )


def given_order(file_name: str) -> tuple[str, str]:
    """A folder's files in name order with the extension set aside, so an original comes before its
    copies ('epic.safetensors' before 'epic (1).safetensors', which a plain sort puts first since ' ' sorts
    before '.'): of identical files, the first one taken names the model."""
    stem, ext = os.path.splitext(file_name)
    return stem, ext


def _safe_listdir(folder: Path) -> list[Path]:
    return [folder / name for name in sorted(os.listdir(folder))]


def model_name_from_file(filename: str) -> str:
    """A readable model name from a file name: the stem, without model extensions."""
    name = filename
    while True:
        stem, ext = os.path.splitext(name)
        if ext.lower() in MODEL_EXTENSIONS and stem:
            name = stem
            continue
        return name
