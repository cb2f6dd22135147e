"""Civitai: what a file is (its model version, by SHA-256), a model's versions, and preview images, over
the guarded network layer. httpx is imported only when the first request is made."""

from __future__ import annotations

from .base_models import base_model_of
from .client import CivitaiClient, validate_sha256
from .records import (
    CivitaiFile,
    CivitaiImage,
    CivitaiModel,
    CivitaiVersion,
    CivitaiVersionSummary,
    model_from_api,
    version_from_api,
)
from .text import html_to_text

__all__ = [
    "CivitaiClient",
    "CivitaiFile",
    "CivitaiImage",
    "CivitaiModel",
    "CivitaiVersion",
    "CivitaiVersionSummary",
    "base_model_of",
    "html_to_text",
    "model_from_api",
    "validate_sha256",
    "version_from_api",
]
