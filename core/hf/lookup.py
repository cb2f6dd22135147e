"""Find where a model came from on the Hub.

Candidate repos come from the file name (its bare name, without precision/quantisation markers) and the
safetensors metadata (``modelspec.title``, ``ss_output_name``, ...), searched on the Hub; each candidate
repo's file list carries LFS sha256 oids. Our SHA-256 is known from the import, so verifying is a string
comparison -- only files of equal size are compared at all (the cheap pre-filter). A hash match is
``match: "hash"`` with confidence 1.0; otherwise the best names give ``filename_exact`` or
``filename_fuzzy`` below 1 (equal size raises it).

When the Hub cannot be reached, ``lookup_model`` raises ``NetworkError`` (or its ``CircuitOpen`` /
``RateLimited``): the caller records a pending lookup and retries later. Results are cached through the
client's metadata cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ..errors import NotFound
from ..models import Model, ModelSource
from ..taxonomy import MatchKind
from .client import HubClient, RepoListing
from .naming import is_weight_file, parse_name, precision_of, search_queries, similarity

MAX_REPOS = 8
MAX_CANDIDATES = 10
FUZZY_THRESHOLD = 0.6


@dataclass(frozen=True)
class Candidate:
    repo_id: str
    filename: str
    revision: str
    match: MatchKind  # HASH | FILENAME_EXACT | FILENAME_FUZZY
    confidence: float
    size: int
    sha256: str | None
    variant: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "filename": self.filename,
            "revision": self.revision,
            "match": self.match,
            "confidence": self.confidence,
            "size": self.size,
            "sha256": self.sha256,
            "variant": self.variant,
            "reason": self.reason,
        }

    def source(self) -> ModelSource:
        return ModelSource(
            kind="huggingface",
            repo_id=self.repo_id,
            revision=self.revision,
            filename=self.filename,
            match=self.match,
            confidence=self.confidence,
        )


def _primary_filename(model: Model) -> str:
    if model.format == "single-file" and model.files:
        return PurePosixPath(model.files[0].path).name
    return model.name


def candidate_repos(model: Model, hub: HubClient) -> list[str]:
    repos: list[str] = []
    if model.source.repo_id:
        repos.append(model.source.repo_id)
    for query in search_queries(_primary_filename(model), model.metadata):
        for repo_id in hub.search(query, limit=MAX_REPOS):
            if repo_id not in repos:
                repos.append(repo_id)
        if len(repos) >= MAX_REPOS:
            break
    return repos[:MAX_REPOS]


def lookup_model(model: Model, hub: HubClient) -> list[Candidate]:
    """Candidates for ``model``'s origin, best first (at most ``MAX_CANDIDATES``)."""
    found: dict[tuple[str, str], Candidate] = {}
    for repo_id in candidate_repos(model, hub):
        try:
            listing = hub.list_files(repo_id)
        except NotFound:
            continue  # a search hit deleted since, or a stale recorded source
        for candidate in match_listing(model, listing):
            key = (candidate.repo_id, candidate.filename)
            if key not in found or found[key].confidence < candidate.confidence:
                found[key] = candidate
    ranked = sorted(found.values(), key=lambda c: (-c.confidence, c.repo_id, c.filename))
    return ranked[:MAX_CANDIDATES]


def match_listing(model: Model, listing: RepoListing) -> list[Candidate]:
    """Compare one repo's files with the model: hashes first (equal sizes only), then names."""
    ours = {f.sha256 for f in model.files} | {model.hashes.sha256}
    sizes = {f.size for f in model.files} or {model.size}
    wanted_name = _primary_filename(model)
    out: list[Candidate] = []
    for rf in listing.files:
        if not is_weight_file(rf.path):
            continue
        variant = precision_of(rf.path) or parse_name(rf.path).variant
        same_size = rf.size in sizes
        if same_size and rf.sha256 is not None and rf.sha256 in ours:
            out.append(
                _candidate(
                    listing,
                    rf.path,
                    rf.size,
                    rf.sha256,
                    variant,
                    MatchKind.HASH,
                    1.0,
                    "SHA-256 equals the file's LFS oid",
                )
            )
            continue
        name = PurePosixPath(rf.path).name
        score = similarity(wanted_name, name)
        hash_differs = same_size and rf.sha256 is not None  # same size, other bytes
        if name.lower() == wanted_name.lower():
            confidence = 0.85 if same_size and not hash_differs else 0.6
            reason = "same file name" + (", same size" if same_size else ", different size")
            if hash_differs:
                reason += ", different SHA-256 (another revision?)"
            out.append(
                _candidate(
                    listing,
                    rf.path,
                    rf.size,
                    rf.sha256,
                    variant,
                    MatchKind.FILENAME_EXACT,
                    confidence,
                    reason,
                )
            )
        elif score >= FUZZY_THRESHOLD:
            confidence = round(0.2 + 0.35 * score + (0.05 if same_size and not hash_differs else 0.0), 3)
            reason = f"similar file name ({score:.0%})" + (", same size" if same_size else "")
            out.append(
                _candidate(
                    listing,
                    rf.path,
                    rf.size,
                    rf.sha256,
                    variant,
                    MatchKind.FILENAME_FUZZY,
                    min(confidence, 0.59),
                    reason,
                )
            )
    return out


def _candidate(
    listing: RepoListing,
    path: str,
    size: int,
    sha256: str | None,
    variant: str | None,
    match: MatchKind,
    confidence: float,
    reason: str,
) -> Candidate:
    return Candidate(
        listing.repo_id, path, listing.revision, match, confidence, size, sha256, variant, reason
    )


def apply_candidate(model: Model, candidate: Candidate) -> dict[str, Any]:
    """The field updates accepting ``candidate`` implies; empty when nothing should change.

    Never touches a field the user edited (``model.manual_fields``) nor a source the user set by hand,
    and never replaces a better-supported source with a weaker one. The caller persists the result.
    """
    updates: dict[str, Any] = {}
    current = model.source
    manual_source = "source" in model.manual_fields or current.match == MatchKind.MANUAL
    if not manual_source and candidate.confidence >= current.confidence:
        new = candidate.source()
        if new != current:
            updates["source"] = new
    # Only a name taken from an opaque file name ("model.safetensors") is replaced by the repo's.
    opaque_name = model.name.lower() in {"model", "diffusion_pytorch_model", "pytorch_model"}
    if candidate.match == MatchKind.HASH and "name" not in model.manual_fields and opaque_name:
        updates["name"] = candidate.repo_id.split("/")[-1]
    return updates


def find_by_sha256(hub: HubClient, filename: str, sha256: str) -> Candidate | None:
    """A Hub file with exactly this SHA-256 (a workflow's hash without a url): the repos the file's name
    finds, searched as for a lookup, their listings compared by LFS oid. None when no listed repo has it."""
    wanted = sha256.lower()
    seen: set[str] = set()
    for query in search_queries(PurePosixPath(filename.replace("\\", "/")).name):
        for repo_id in hub.search(query, limit=MAX_REPOS):
            if repo_id in seen:
                continue
            seen.add(repo_id)
            try:
                listing = hub.list_files(repo_id)
            except NotFound:
                continue
            for rf in listing.files:
                if rf.sha256 == wanted:
                    return _candidate(
                        listing,
                        rf.path,
                        rf.size,
                        rf.sha256,
                        None,
                        MatchKind.HASH,
                        1.0,
                        "SHA-256 equals its LFS oid",
                    )
        if len(seen) >= MAX_REPOS:
            break
    return None
