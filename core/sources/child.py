"""The first catalogue of a host's model folders, walked in a child process.

Inside ComfyUI the first walk runs while the server is still starting. In the host's own process it
would share one GIL with ComfyUI's main thread: every stat and every SQLite statement gives the GIL up,
and taking it back from a thread running Python can wait a whole switch interval, so the walk crawls
and slows ComfyUI's start as well. A child process walks on the other core with a GIL of its own, the
listing fills in batches as it commits (SQLite serialises the two processes' writes), and the walk's
transient memory goes back to the OS when the child exits.

The child is this package, loaded from its folder under a private name (ComfyUI does not install the
plugin as a package), running :func:`main`: open the library (no recovery: that is the host's), add the
folders as read-only sources, walk them, and print a JSON report. It says ``opened`` as soon as the
catalog exists and is migrated, so the host may open it too without racing the migrations.

    >>> child = FirstScan.start(root, [Path("/comfy/models")], comfyui_dir=Path("/comfy"))
    >>> child.wait_opened(60)     # True once the catalog is migrated
    >>> child.result()            # {"scan": {...}, "warnings": [...]} or None if it failed
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

OPENED = "opened"
NEEDS_REBUILD = 3  # exit code: the catalog is missing beside stored models
CHILD_PACKAGE = "_model_library_child"
# Loads the package from its folder without running its __init__ (which is ComfyUI's entry point).
BOOTSTRAP = (
    "import importlib, sys, types\n"
    "package = types.ModuleType(sys.argv[1])\n"
    "package.__path__ = [sys.argv[2]]\n"
    "sys.modules[sys.argv[1]] = package\n"
    "raise SystemExit(importlib.import_module(sys.argv[1] + '.core.sources.child').main())\n"
)
PACKAGE_DIR = Path(__file__).resolve().parents[2]


@dataclass
class FirstScan:
    """A running child walk; :meth:`result` waits for it. Never raises: a failure is logged text."""

    process: subprocess.Popen[str] | None
    error: str = ""
    stderr: IO[str] | None = None
    _opened: threading.Event = field(default_factory=threading.Event)
    _lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @classmethod
    def start(
        cls,
        root: Path,
        folders: list[Path],
        *,
        comfyui_dir: Path | None = None,
        python: str | None = None,
    ) -> FirstScan:
        executable = python or sys.executable
        if not executable:
            return cls(None, "no Python executable to start the walk with")
        request = json.dumps(
            {
                "root": str(root),
                "folders": [str(f) for f in folders],
                "comfyui_dir": str(comfyui_dir) if comfyui_dir is not None else None,
            }
        )
        # A file, not a pipe: a child logging a lot while nobody reads a pipe would block forever.
        stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed by result()
        try:
            process = subprocess.Popen(
                [executable, "-c", BOOTSTRAP, CHILD_PACKAGE, str(PACKAGE_DIR)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                encoding="utf-8",
                creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
            )
        except OSError as exc:
            stderr.close()
            return cls(None, f"could not start {executable}: {exc}")
        scan = cls(process, stderr=stderr)
        scan._reader = threading.Thread(
            target=scan._read, args=(process, request), name="model-library-first-scan", daemon=True
        )
        scan._reader.start()
        return scan

    def _read(self, process: subprocess.Popen[str], request: str) -> None:
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(request)
            process.stdin.close()
        except OSError:
            pass  # the child died at once: its exit code and stderr say why
        for line in process.stdout:
            if line.strip() == OPENED:
                self._opened.set()
            else:
                self._lines.append(line)
        process.wait()
        self._opened.set()  # also on failure: nobody waits for an open that will never come

    def wait_opened(self, timeout: float) -> bool:
        """True once the child has the catalog open and migrated; False if it failed or took too long."""
        if self.process is None:
            return False
        return self._opened.wait(timeout) and self.process.poll() in (None, 0)

    def result(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The child's report once it has finished; None (and :attr:`error` set) if it failed."""
        if self.process is None:
            return None
        assert self._reader is not None
        self._reader.join(timeout)
        if self._reader.is_alive():
            self.kill()
            self.error = f"the walk took longer than {timeout} s and was stopped"
            return None
        stderr, self.stderr = _tail(self.stderr), None
        if self.process.returncode != 0:
            self.error = f"the walk exited with {self.process.returncode}: {stderr}"
            return None
        try:
            report: dict[str, Any] = json.loads("".join(self._lines))
        except ValueError:
            self.error = f"the walk printed no report: {stderr}"
            return None
        return report

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _tail(stream: IO[str] | None) -> str:
    """The end of what the child wrote to stderr; the file is closed."""
    if stream is None:
        return ""
    try:
        with stream:
            stream.seek(0)
            return stream.read()[-2000:].strip() or "(nothing on stderr)"
    except (OSError, ValueError):
        return "(stderr unreadable)"


def main() -> int:
    """The child's side: read the request on stdin, open, add the sources, walk, print the report."""
    from ..config import load_config
    from ..library import Library

    request = json.loads(sys.stdin.read())
    config = load_config(request["root"])
    if not config.catalog_path.exists() and config.models_dir.is_dir() and any(config.models_dir.iterdir()):
        # A rebuild from the models' metadata.json files is the host's to do (and may take a while).
        print(f"the catalog of {config.root} must be rebuilt first; the host does that", file=sys.stderr)
        return NEEDS_REBUILD
    library = Library.open(config, recover_interrupted=False)
    print(OPENED, flush=True)
    warnings: list[str] = []
    app_id = _install_id(request.get("comfyui_dir"), warnings)
    for folder in request["folders"]:
        try:
            library.add_source(folder, read_only=True, auto=True, app_id=app_id, scan=False)
        except Exception as exc:  # one bad folder must not stop the others
            warnings.append(f"could not add {folder} as a source: {exc}")
    report = library.sources.scan(inspect=False)
    library.db.close()
    sys.stdout.write(json.dumps({"scan": report, "warnings": warnings}))
    sys.stdout.flush()
    return 0


def _install_id(comfyui_dir: str | None, warnings: list[str]) -> str | None:
    """The library's id of the ComfyUI install the sources belong to (its views' folder name)."""
    if not comfyui_dir:
        return None
    from ..mapping.comfyui import read_install

    try:
        return read_install(Path(comfyui_dir)).id
    except Exception as exc:
        warnings.append(f"{comfyui_dir} is not recognised as a ComfyUI folder: {exc}")
        return None
