"""Shared fixtures: a real library on a temp folder, and folders of synthetic model files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from comfyui_model_library.core.config import LibraryConfig, load_config
from comfyui_model_library.core.library import Library
from tests.postgres_server import PostgresServer, start_postgres


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test touches the user's real library, HF cache or token."""
    monkeypatch.delenv("MODEL_LIBRARY_ROOT", raising=False)
    monkeypatch.delenv("MODEL_LIBRARY_CATALOG", raising=False)
    monkeypatch.delenv("MODEL_LIBRARY_CACHE", raising=False)
    monkeypatch.delenv("MODEL_LIBRARY_MACHINE", raising=False)
    monkeypatch.delenv("MODEL_LIBRARY_CACHE_BUDGET", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "0"))
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf-home")))


@pytest.fixture
def library_config(tmp_path: Path) -> LibraryConfig:
    return load_config(tmp_path / "library", import_roots=(tmp_path / "incoming",))


@pytest.fixture
def library(library_config: LibraryConfig) -> Iterator[Library]:
    lib = Library.open(library_config)
    try:
        yield lib
    finally:
        lib.close()


@pytest.fixture
def incoming(tmp_path: Path) -> Path:
    """A folder of the user's (an import root) to put source files in."""
    folder = tmp_path / "incoming"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the run (its Unix socket only); the tier skips without it."""
    server = start_postgres()
    if server is None:
        pytest.skip("PostgreSQL is not installed here (Debian: apt-get install -y postgresql)")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A fresh empty database on the run's cluster."""
    return postgres_server.new_database()
