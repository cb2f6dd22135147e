"""Hugging Face: lookup of a model's origin and downloads, over the guarded network layer.

huggingface_hub itself is imported only when the first Hub API call is made.
"""

from __future__ import annotations

from .client import HubClient, RepoFile, RepoListing
from .download import (
    DownloadedFile,
    DownloadResult,
    cleanup_stale_partials,
    download_files,
    finish_download,
    list_repo_files,
    pick_model_files,
)
from .lookup import Candidate, apply_candidate, lookup_model

__all__ = [
    "Candidate",
    "DownloadResult",
    "DownloadedFile",
    "HubClient",
    "RepoFile",
    "RepoListing",
    "apply_candidate",
    "cleanup_stale_partials",
    "download_files",
    "finish_download",
    "list_repo_files",
    "lookup_model",
    "pick_model_files",
]
