"""Settings and the library's on-disk layout.

The library root resolves as CONTRACT.md says: ``--library DIR``, else ``MODEL_LIBRARY_ROOT``, else a
per-user data folder (platformdirs). Everything the library owns lives below that root::

    <root>/
      catalog.sqlite          the index (rebuildable from the metadata.json files)
      library.json            the library's identity (tells a moved library from an empty folder)
      mapping.json            mapping rules
      models/<type>/<base>/<name>/   one folder per model: its files + metadata.json
      records/                what else the catalog knows (sources, installs, links, lookups): core/records
      inbox/                  a folder users may drop files into (an import root)
      views/<install-id>/<category>/ links ComfyUI sees
      .tmp/                   partial copies, uploads and downloads (same filesystem as models/)
      .trash/                 deleted models, kept ``trash_retention_days``

A library shared by several machines (``MODEL_LIBRARY_CATALOG=postgresql://...``, docs/teams.md) keeps the
models on the share and their catalog on PostgreSQL; what is one machine's own stays off the share, in
``state_root`` (a per-user state folder keyed by the library's path unless given): the local catalog file
(links, sources, jobs, the import journal) and ``records/``. Each machine stages imports in
``.tmp/machines/<machine>/`` on the share, so that a commit is one rename on the same filesystem and no
machine's recovery ever touches another's stages.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_ROOT = "MODEL_LIBRARY_ROOT"
ENV_CATALOG = "MODEL_LIBRARY_CATALOG"
ENV_CACHE = "MODEL_LIBRARY_CACHE"
ENV_MACHINE = "MODEL_LIBRARY_MACHINE"
ENV_CACHE_BUDGET = "MODEL_LIBRARY_CACHE_BUDGET"
SQLITE = "sqlite"
APP_NAME = "comfyui-model-library"
# The two files at a library's root: together they tell a model library's folder from any other.
CATALOG_FILE = "catalog.sqlite"
IDENTITY_FILE = "library.json"


def default_library_root() -> Path:
    """The per-user default library folder, used when neither ``--library`` nor the env var is given."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "library"


def resolve_library_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser().absolute()
    env = os.environ.get(ENV_ROOT)
    if env:
        return Path(env).expanduser().absolute()
    return default_library_root()


@dataclass(frozen=True)
class LibraryConfig:
    root: Path
    # Folders an import may read from (besides the library's own inbox and temp folder). Paths given on
    # the CLI are trusted (the user typed them); paths from HTTP requests must resolve inside these.
    import_roots: tuple[Path, ...] = ()
    trash_retention_days: int = 30
    free_space_margin: int = 256 * 1024 * 1024
    # None: decided per drive (SSD 2, HDD 1). An int overrides every drive.
    io_concurrency: int | None = None
    hf_endpoint: str | None = None
    hf_token: str | None = field(default=None, repr=False)
    extra_allowed_hosts: tuple[str, ...] = ()
    max_concurrent_downloads: int = 2
    lookup_after_import: bool = True
    # Civitai (CONTRACT: CIVITAI_ENDPOINT, default https://civitai.com; CIVITAI_API_KEY).
    civitai_lookup: bool = True  # ask Civitai (by SHA-256) when enriching; off: Hugging Face only
    civitai_endpoint: str | None = None
    civitai_api_key: str | None = field(default=None, repr=False)
    # The ComfyUI install the library runs in (set by the host); the default target of mapping.
    comfyui_root: Path | None = None
    # Teams (CONTRACT: MODEL_LIBRARY_CATALOG): "sqlite" (the file in the root) or a postgresql:// URL.
    catalog: str = field(default=SQLITE, repr=False)
    # A shared catalog only: this machine's own folder (default: per user, keyed by the root) and name.
    state_root: Path | None = None
    machine: str | None = None
    # This machine's content-addressed cache (CONTRACT: MODEL_LIBRARY_CACHE, MODEL_LIBRARY_CACHE_BUDGET).
    cache_dir: Path | None = None
    cache_budget: int | None = None

    def replace(self, **changes: Any) -> LibraryConfig:
        return dataclasses.replace(self, **changes)

    @property
    def shared(self) -> bool:
        """True when the catalog is a server several machines share (not the file in the root)."""
        return self.catalog != SQLITE

    @property
    def local_root(self) -> Path:
        """Where this machine's own files live: the root, or off the share for a shared catalog."""
        if not self.shared:
            return self.root
        return self.state_root or default_state_root(self.root)

    @property
    def catalog_path(self) -> Path:
        """The SQLite catalog: every table for one machine; its own tables only for a shared catalog."""
        return self.local_root / CATALOG_FILE

    @property
    def identity_path(self) -> Path:
        return self.root / IDENTITY_FILE

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def inbox_dir(self) -> Path:
        return self.root / "inbox"

    @property
    def views_dir(self) -> Path:
        # On the share too: one folder per install (its id comes from the install's path), the links
        # relative to the share's models, the same on every machine that maps the same install path.
        return self.root / "views"

    @property
    def tmp_dir(self) -> Path:
        if self.shared:
            return self.root / ".tmp" / "machines" / safe_machine_name(self.machine or default_machine())
        return self.root / ".tmp"

    @property
    def trash_dir(self) -> Path:
        return self.root / ".trash"

    @property
    def mapping_path(self) -> Path:
        return self.root / "mapping.json"

    def all_import_roots(self) -> tuple[Path, ...]:
        return (self.inbox_dir, self.tmp_dir / "uploads", *self.import_roots)


def default_state_root(root: Path) -> Path:
    """This user's state folder for the library at ``root`` (a shared catalog keeps the machine's own
    files here, off the share)."""
    import hashlib

    import platformdirs

    key = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False)) / "libraries" / f"{root.name}-{key}"


def safe_machine_name(name: str) -> str:
    """``name`` as one folder name: letters, digits, "-", "_" and inner dots only (never "..")."""
    kept = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "-" for c in name).strip(".-")
    return kept.replace("..", "-")[:64] or "machine"


def default_machine() -> str:
    """This machine's host name, safe as a folder name (``machine_name`` adds what tells clones apart)."""
    import socket

    return safe_machine_name(socket.gethostname())


def machine_name(state_root: Path) -> str:
    """This machine's name among those sharing a library: ``MODEL_LIBRARY_MACHINE``, else its host name
    and a random suffix kept in its state folder. Cloned VMs and rented GPUs are often all "ubuntu": the
    suffix keeps their staging folders (and crash recoveries) apart."""
    import json
    import secrets

    given = os.environ.get(ENV_MACHINE, "").strip()
    if given:
        return safe_machine_name(given)
    record = state_root / "machine.json"
    try:
        return safe_machine_name(str(json.loads(record.read_text(encoding="utf-8"))["name"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    name = f"{default_machine()}-{secrets.token_hex(3)}"
    state_root.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"name": name}) + "\n", encoding="utf-8")
    try:
        os.link(tmp, record)  # the first process to start names the machine; the others read it
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return safe_machine_name(str(json.loads(record.read_text(encoding="utf-8"))["name"]))


def catalog_setting(value: str | None) -> str:
    """``MODEL_LIBRARY_CATALOG`` checked: "sqlite" (also unset or empty) or a postgresql:// URL."""
    from urllib.parse import urlsplit

    from .errors import InvalidConfig

    text = (value or "").strip()
    if not text or text.lower() == SQLITE:
        return SQLITE
    if urlsplit(text).scheme in ("postgresql", "postgres"):
        return text
    shown = text.split("@")[-1] if "@" in text else text  # never echo a password
    if "password" in shown.lower():  # libpq's "host=... password=..." or "?password=": not echoed either
        shown = "(not shown: it holds a password)"
    raise InvalidConfig(
        f"{ENV_CATALOG}={shown!r} is neither 'sqlite' nor a postgresql:// URL; give "
        "postgresql://user@host/database for a catalog shared by several machines (docs/teams.md)."
    )


def holds_password(catalog: str) -> bool:
    """True when a postgresql:// URL carries a password: ``user:password@`` or libpq's ``?password=``."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(catalog)
    return parts.password is not None or "password" in parse_qs(parts.query, keep_blank_values=True)


def load_config(root: str | os.PathLike[str] | None = None, **overrides: Any) -> LibraryConfig:
    """Build the config from the root and the environment (``HF_ENDPOINT``, ``HF_TOKEN``,
    ``CIVITAI_ENDPOINT``, ``CIVITAI_API_KEY``, ``MODEL_LIBRARY_CATALOG``, ``MODEL_LIBRARY_CACHE``,
    ``MODEL_LIBRARY_CACHE_BUDGET``)."""
    from .cache.budget import parse_budget

    cache = os.environ.get(ENV_CACHE, "").strip()
    budget = os.environ.get(ENV_CACHE_BUDGET, "").strip()
    base = LibraryConfig(
        root=resolve_library_root(root),
        catalog=catalog_setting(os.environ.get(ENV_CATALOG)),
        cache_dir=Path(cache).expanduser().absolute() if cache else None,
        cache_budget=parse_budget(budget) if budget else None,
        hf_endpoint=os.environ.get("HF_ENDPOINT") or None,
        hf_token=os.environ.get("HF_TOKEN") or None,
        civitai_endpoint=os.environ.get("CIVITAI_ENDPOINT") or None,
        civitai_api_key=os.environ.get("CIVITAI_API_KEY") or None,
    )
    config = base.replace(**overrides) if overrides else base
    if config.shared and config.machine is None:
        config = config.replace(machine=machine_name(config.local_root))
    return config
