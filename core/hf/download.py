"""Download a model (one file, a Diffusers folder or a sharded set) from the Hub into a temp folder.

``download_files`` resolves every file first (pinning the revision to one commit), checks free space,
then fetches the files one by one through ``transfer.fetch_file`` under the client's bound on concurrent
downloads. Repo file names are validated like any outside name (no traversal, no absolute or
Windows-special names). Finished files are recorded in ``<dest_dir>.download.json`` beside the folder, so
after a failure or a restart the same call skips them and resumes the partial one (``io.partials``: a
partial's name carries the file's ETag, so only bytes of the same content are resumed). The caller commits
``DownloadResult.files`` into the catalog (the same atomic path as an import).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import Cancelled, HashMismatch, InvalidInput, NotFound, UnsafePath
from ..io.drives import check_free_space
from ..io.fileops import atomic_write_bytes
from ..io.hashing import Digests
from ..io.partials import MANIFEST_SUFFIX
from ..io.partials import cleanup_stale_partials as cleanup_stale_partials  # its old home
from ..io.paths import is_within, validate_relpath
from ..types import ByteProgress, CancelCheck, StageProgress
from .client import HubClient, RepoFile, is_commit_sha, validate_repo_id
from .naming import is_weight_file
from .transfer import RemoteFile, fetch_file, head_file, open_partial

DEFAULT_FREE_SPACE_MARGIN = 256 * 1024 * 1024


@dataclass(frozen=True)
class DownloadedFile:
    relpath: str
    path: Path
    digests: Digests
    size: int

    def to_dict(self) -> dict[str, Any]:
        d = self.digests
        return {"path": self.relpath, "size": self.size, "blake3": d.blake3, "sha256": d.sha256}


@dataclass(frozen=True)
class DownloadResult:
    repo_id: str
    revision_sha: str
    files: tuple[DownloadedFile, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision_sha,
            "files": [f.to_dict() for f in self.files],
        }


# -- names ---------------------------------------------------------------------------------------------
def _inside(root: Path, rel: PurePosixPath) -> Path:
    target = root.joinpath(*rel.parts)
    if not is_within(target, root):
        raise UnsafePath(f"Refusing {rel}: it resolves outside the download folder {root}.")
    return target


# -- manifest ------------------------------------------------------------------------------------------
def _manifest_path(dest_dir: Path) -> Path:
    return dest_dir.with_name(dest_dir.name + MANIFEST_SUFFIX)


def _load_manifest(dest_dir: Path, repo_id: str) -> dict[str, Any]:
    try:
        data = json.loads(_manifest_path(dest_dir).read_text("utf-8"))
    except (OSError, ValueError):
        return {"repo_id": repo_id, "files": {}}
    if (
        not isinstance(data, dict)
        or data.get("repo_id") != repo_id
        or not isinstance(data.get("files"), dict)
    ):
        return {"repo_id": repo_id, "files": {}}
    return data


def _finished(manifest: dict[str, Any], remote: RemoteFile, target: Path) -> Digests | None:
    entry = manifest["files"].get(remote.relpath)
    if not isinstance(entry, dict) or entry.get("remote_sha256") != remote.sha256:
        return None
    try:
        size = target.stat().st_size
        digests = Digests(int(entry["size"]), str(entry["blake3"]), str(entry["sha256"]))
    except (OSError, KeyError, ValueError):
        return None
    if size != digests.size or (remote.size is not None and size != remote.size):
        return None
    return digests


# -- public API ----------------------------------------------------------------------------------------
def download_files(
    hub: HubClient,
    repo_id: str,
    filenames: Sequence[str],
    revision: str | None,
    dest_dir: Path,
    *,
    progress: StageProgress | None = None,
    cancelled: CancelCheck | None = None,
    config: object | None = None,
    expected_sha256: Mapping[str, str] | None = None,
) -> DownloadResult:
    """Download ``filenames`` of ``repo_id`` into ``dest_dir`` (resumable; each verified against the Hub's
    LFS sha256). ``expected_sha256`` (file -> hex, a workflow's hash): a file the Hub announces with other
    bytes is not downloaded at all, and one that arrives with other bytes is deleted; both raise
    HashMismatch and nothing reaches the library."""
    validate_repo_id(repo_id)
    rels = list(dict.fromkeys(str(validate_relpath(f)) for f in filenames))
    if not rels:
        raise InvalidInput(f"Nothing to download from {repo_id}: name at least one file.")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda done, total, stage: None)

    report(0, 0, "resolving")
    pinned = revision or "main"
    remotes: list[RemoteFile] = []
    for rel in rels:
        _check_cancel(cancelled, repo_id)
        remote = head_file(hub, repo_id, pinned, rel)
        if remote.commit and not is_commit_sha(pinned):
            pinned = remote.commit  # every later file from the same commit
        _refuse_other_bytes(repo_id, remote, (expected_sha256 or {}).get(remote.relpath))
        remotes.append(remote)
    commit = next((r.commit for r in remotes if r.commit), None) or pinned

    manifest = _load_manifest(dest_dir, repo_id)
    targets = [_inside(dest_dir, PurePosixPath(r.relpath)) for r in remotes]
    total = sum(r.size or 0 for r in remotes)
    needed = 0
    for remote, target in zip(remotes, targets):
        if _finished(manifest, remote, target) is None:
            partial = open_partial(target, remote)  # other versions' partials go before the space check
            have = partial.stat().st_size if partial.exists() else 0
            needed += max(0, (remote.size or 0) - have)
    margin = int(getattr(config, "free_space_margin", DEFAULT_FREE_SPACE_MARGIN))
    check_free_space(dest_dir, needed, margin)

    done_before = 0
    results: list[DownloadedFile] = []
    for remote, target in zip(remotes, targets):
        digests = _finished(manifest, remote, target)
        if digests is None:
            target.parent.mkdir(parents=True, exist_ok=True)
            digests = _fetch_with_slot(
                hub,
                remote,
                target,
                progress=_offset_progress(report, done_before, total),
                cancelled=cancelled,
            )
            manifest["revision"] = commit
            manifest["files"][remote.relpath] = {
                "size": digests.size,
                "sha256": digests.sha256,
                "blake3": digests.blake3,
                "remote_sha256": remote.sha256,
            }
            atomic_write_bytes(_manifest_path(dest_dir), json.dumps(manifest, indent=1).encode("utf-8"))
        wanted = (expected_sha256 or {}).get(remote.relpath)
        if wanted is not None and digests.sha256 != wanted.lower():
            target.unlink(missing_ok=True)
            manifest["files"].pop(remote.relpath, None)
            atomic_write_bytes(_manifest_path(dest_dir), json.dumps(manifest, indent=1).encode("utf-8"))
            raise HashMismatch(
                f"{repo_id}/{remote.relpath} arrived with SHA-256 {digests.sha256}, not the {wanted.lower()} "
                "the workflow names: the file was deleted and nothing was added to the library. The file on "
                "the Hub is another version than the workflow's; pick a model from the library instead."
            )
        done_before += digests.size
        report(done_before, total, "downloading")
        results.append(DownloadedFile(remote.relpath, target, digests, digests.size))
    report(done_before, total, "done")
    return DownloadResult(repo_id, commit, tuple(results))


def _refuse_other_bytes(repo_id: str, remote: RemoteFile, wanted: str | None) -> None:
    """Before any byte: the Hub's LFS sha256 already says whether the file is the one a workflow names."""
    if wanted is not None and remote.sha256 is not None and remote.sha256 != wanted.lower():
        raise HashMismatch(
            f"{repo_id}/{remote.relpath} on the Hub has SHA-256 {remote.sha256}, not the "
            f"{wanted.lower()} the workflow names: not downloaded. It is another version of the file; pick a "
            "model from the library instead, or ask the workflow's author which file they used."
        )


def _offset_progress(report: StageProgress, base: int, total: int) -> ByteProgress:
    def progress(have: int) -> None:
        report(base + have, total, "downloading")

    return progress


def _check_cancel(cancelled: CancelCheck | None, repo_id: str) -> None:
    if cancelled is not None and cancelled():
        raise Cancelled(f"The download from {repo_id} was cancelled; finished files are kept for a resume.")


def _fetch_with_slot(
    hub: HubClient,
    remote: RemoteFile,
    target: Path,
    *,
    progress: ByteProgress,
    cancelled: CancelCheck | None,
) -> Digests:
    while not hub.download_slots.acquire(timeout=0.25):
        _check_cancel(cancelled, remote.relpath)
    try:
        return fetch_file(hub, remote, target, progress=progress, cancelled=cancelled)
    finally:
        hub.download_slots.release()


def finish_download(dest_dir: Path) -> None:
    """Forget the resume record once the caller has committed the files."""
    try:
        _manifest_path(Path(dest_dir)).unlink()
    except FileNotFoundError:
        pass


def list_repo_files(
    hub: HubClient, repo_id: str, revision: str | None = None
) -> list[tuple[str, int, str | None]]:
    """``(path, size, sha256 | None)`` of every file, for a file picker."""
    return [(f.path, f.size, f.sha256) for f in hub.list_files(repo_id, revision).files]


_SHARD = re.compile(r"^(?P<prefix>.+?)-(?P<index>\d{5})-of-(?P<count>\d{5})(?P<ext>\.[A-Za-z0-9]+)$")
_DIFFUSERS_EXTRA = (".json", ".txt", ".model")  # configs, tokenizer vocabularies, sentencepiece


def pick_model_files(files: Sequence[RepoFile], filename: str | None = None) -> list[str]:
    """The files that make "the model" of a repo, as one download.

    - ``filename`` is a shard (``x-00001-of-00003.safetensors``): the whole set plus its index JSON.
    - The repo (or ``filename``'s folder) is a Diffusers pipeline (``model_index.json``): its configs,
      tokenizer files and weights, preferring safetensors and the non-variant weights of each folder.
    - Otherwise ``filename`` alone, or the largest weight file at the top of the repo.
    """
    paths = {f.path: f for f in files}
    if filename is not None:
        shard = _SHARD.match(PurePosixPath(filename).name)
        if shard:
            folder = str(PurePosixPath(filename).parent)
            prefix = "" if folder == "." else folder + "/"
            group = [
                p
                for p in paths
                if p.startswith(prefix)
                and (m := _SHARD.match(p[len(prefix) :]))
                and m.group("prefix") == shard.group("prefix")
                and m.group("ext") == shard.group("ext")
            ]
            index = [
                p for p in paths if p.startswith(prefix + shard.group("prefix")) and p.endswith(".index.json")
            ]
            return sorted(set(group) | set(index))
        if PurePosixPath(filename).name != "model_index.json":
            if filename not in paths:
                raise NotFound(f"{filename!r} is not a file of this repo; pick one from its file list.")
            return [filename]
    if "model_index.json" in paths:
        return _diffusers_files(paths)
    weights = [f for f in files if "/" not in f.path and is_weight_file(f.path)]
    if not weights:
        raise InvalidInput("The repo has no model weight file at its top level; name the file to download.")
    return [max(weights, key=lambda f: f.size).path]


def _diffusers_files(paths: dict[str, RepoFile]) -> list[str]:
    chosen = {"model_index.json"}
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        if "/" not in path:
            continue
        folder = path.rsplit("/", 1)[0]
        if path.endswith(_DIFFUSERS_EXTRA):
            chosen.add(path)
        elif is_weight_file(path):
            by_folder.setdefault(folder, []).append(path)
    for weights in by_folder.values():
        safetensors = [p for p in weights if p.endswith(".safetensors")] or weights
        plain = [p for p in safetensors if not re.search(r"\.(fp16|bf16|fp32|non_ema|ema)\.", p)]
        chosen.update(plain or safetensors)
    return sorted(chosen)
