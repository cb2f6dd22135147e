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

After the report the child reads the headers of the files it listed (type and base model), saying
``inspected N`` after each batch: thousands of small reads that would each give up the host's GIL. The
host meanwhile leaves inspection to it (:meth:`FirstScan.inspecting`). The child stops when the host
goes: its stdin stays open until then.

The child says something at least every few seconds while it works (``walked N`` every 500 files,
``inspected N`` after each batch). One that says nothing for ``stall_seconds`` (a share that stopped
answering, a process stopped by a debugger or the OOM killer's neighbour) is killed: the host then goes
on without it instead of waiting for good.

    >>> child = FirstScan.start(root, [Path("/comfy/models")], comfyui_dir=Path("/comfy"))
    >>> child.wait_opened(60)     # True once the catalog is migrated
    >>> child.result()            # {"scan": {...}, "warnings": [...]} or None if it failed
    >>> child.when_finished(fn)   # fn() once the child has exited (the headers are read)
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

OPENED = "opened"
REPORT = "report "
INSPECTED = "inspected "
WALKED = "walked "
INSPECT_BATCH = 100  # headers per "inspected N" line (a share at 0.2 s a header: a line every 20 s)
# No line from the child for this long: it is stuck (a dead share, a stopped process) and is killed.
STALL_SECONDS = 120.0
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

log = logging.getLogger(__name__)


@dataclass
class FirstScan:
    """A running child walk; :meth:`result` waits for it. Never raises: a failure is logged text."""

    process: subprocess.Popen[str] | None
    error: str = ""
    stderr: IO[str] | None = None
    inspected: int = 0  # headers the child has read so far (its "inspected N" lines)
    walked: int = 0  # files walked in the folder being walked (its last "walked N" line)
    stall_seconds: float = STALL_SECONDS
    stalled: bool = False  # killed for saying nothing for stall_seconds
    _progress_at: float = field(default_factory=time.monotonic)
    _opened: threading.Event = field(default_factory=threading.Event)
    _reported: threading.Event = field(default_factory=threading.Event)
    _finished: threading.Event = field(default_factory=threading.Event)
    _report: str = ""
    _reader: threading.Thread | None = None
    _stderr_tail: str = ""
    _finish_lock: threading.Lock = field(default_factory=threading.Lock)
    _on_finished: list[Callable[[], object]] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        root: Path,
        folders: list[Path],
        *,
        comfyui_dir: Path | None = None,
        python: str | None = None,
        stall_seconds: float = STALL_SECONDS,
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
        scan = cls(process, stderr=stderr, stall_seconds=stall_seconds)
        scan._reader = threading.Thread(
            target=scan._read, args=(process, request), name="model-library-first-scan", daemon=True
        )
        scan._reader.start()
        threading.Thread(target=scan._watchdog, name="model-library-first-scan-watchdog", daemon=True).start()
        return scan

    def _watchdog(self) -> None:
        """Kill a child that has said nothing for ``stall_seconds`` since it opened the catalog (before,
        the host's own wait for ``opened`` has a limit): its reader then sees the end."""
        step = min(5.0, self.stall_seconds / 4)
        while not self._opened.wait(step):
            if self._finished.is_set():
                return
        while not self._finished.wait(step):
            silent = time.monotonic() - self._progress_at
            if silent < self.stall_seconds or self.process is None:
                continue
            self.stalled = True
            log.warning(
                "model-library: the walk of the install's folders said nothing for %.0f s (a share that "
                "does not answer?); stopping it and going on without it",
                silent,
            )
            try:
                self.process.kill()
            except OSError:
                pass  # it has just exited
            if not self._finished.wait(10.0):
                self._finish()  # stuck in the kernel (a hard NFS mount): the kill lands when the I/O returns
            return

    def _read(self, process: subprocess.Popen[str], request: str) -> None:
        assert process.stdin is not None and process.stdout is not None
        try:
            # One line; stdin then stays open: the child takes its end-of-file for the host's exit.
            process.stdin.write(request + "\n")
            process.stdin.flush()
        except OSError:
            pass  # the child died at once: its exit code and stderr say why
        try:
            for raw in process.stdout:
                self._progress_at = time.monotonic()
                line = raw.strip()
                if line == OPENED:
                    self._opened.set()
                elif line.startswith(REPORT):
                    self._report = line[len(REPORT) :]
                    self._reported.set()
                elif line.startswith(INSPECTED) and line[len(INSPECTED) :].isdigit():
                    self.inspected += int(line[len(INSPECTED) :])
                elif line.startswith(WALKED) and line[len(WALKED) :].isdigit():
                    self.walked = int(line[len(WALKED) :])
            process.wait()
        finally:
            self._close_stdin()
            self._stderr_tail, self.stderr = _tail(self.stderr), None
            self._finish()

    def _finish(self) -> None:
        """The child is gone (or given up on): release every waiter, run the callbacks once."""
        # Also on failure: nobody waits for an open or a report that will never come.
        self._opened.set()
        self._reported.set()
        with self._finish_lock:
            if self._finished.is_set():
                return
            self._finished.set()
            callbacks, self._on_finished = self._on_finished, []
        for callback in callbacks:
            _quietly(callback)

    def stop(self) -> None:
        """Close the child's stdin, as the host's exit does: it stops after the batch it is in."""
        self._close_stdin()

    def _close_stdin(self) -> None:
        if self.process is not None and self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except (OSError, ValueError):
                pass  # closed already, or by another thread at the same moment

    def wait_opened(self, timeout: float) -> bool:
        """True once the child has the catalog open and migrated; False if it failed or took too long."""
        if self.process is None:
            return False
        return self._opened.wait(timeout) and not self.stalled and self.process.poll() in (None, 0)

    def result(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The walk's report, as soon as the walk is done; None (and :attr:`error` set) if it failed.

        The child goes on reading headers afterwards: see :meth:`inspecting` and :meth:`when_finished`."""
        if self.process is None:
            return None
        if not self._reported.wait(timeout):
            self.kill()
            self.error = f"the walk took longer than {timeout} s and was stopped"
            return None
        if not self._report:
            self._finished.wait(10.0)  # the child exited: its code and stderr say why
            code = self.process.poll()
            if self.stalled:
                self.error = f"the walk said nothing for {self.stall_seconds:.0f} s and was stopped"
            elif code not in (None, 0):
                self.error = f"the walk exited with {code}: {self._stderr_tail}"
            else:
                self.error = f"the walk printed no report: {self._stderr_tail}"
            return None
        try:
            report: dict[str, Any] = json.loads(self._report)
        except ValueError:
            self.error = f"the walk printed an unreadable report: {self._report[:200]}"
            return None
        return report

    def inspecting(self) -> bool:
        """The child still runs (reading headers): the host leaves inspection to it."""
        return self.process is not None and not self._finished.is_set()

    def when_finished(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` (in the reader thread) once the child has exited; at once if it has."""
        with self._finish_lock:
            if not self._finished.is_set() and self.process is not None:
                self._on_finished.append(callback)
                return
        _quietly(callback)

    def wait_finished(self, timeout: float | None = None) -> bool:
        return self.process is None or self._finished.wait(timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            try:
                self.process.wait(10.0)
            except subprocess.TimeoutExpired:
                pass  # stuck in the kernel (a hard NFS mount): it goes when the I/O returns
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(10.0)


def _quietly(callback: Callable[[], object]) -> None:
    try:
        callback()
    except Exception:
        log.exception("model-library: a callback of the first walk failed")


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
    """The child's side: read the request on stdin, open, add the sources, walk, print the report, then
    read the headers the walk listed."""
    from ..config import load_config
    from ..errors import Cancelled
    from ..library import Library
    from .registry import SourceRegistry
    from .scanner import inspect_pending

    request = json.loads(sys.stdin.readline())
    host_gone = threading.Event()
    threading.Thread(target=_watch_stdin, args=(host_gone,), daemon=True).start()
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
            library.sources.add(folder, read_only=True, auto=True, app_id=app_id, scan=False)
        except Exception as exc:  # one bad folder must not stop the others
            warnings.append(f"could not add {folder} as a source: {exc}")
    try:
        report = library.sources.scan(inspect=False, cancelled=host_gone.is_set, progress=_say_walked)
        print(REPORT + json.dumps({"scan": report, "warnings": warnings}), flush=True)
        while not host_gone.is_set():
            # Small batches: each ends with a line, and a slow share must not look like a stalled child.
            done = inspect_pending(
                library.db, SourceRegistry(library.db), limit=INSPECT_BATCH, cancelled=host_gone.is_set
            )
            if done == 0:
                break
            print(f"{INSPECTED}{done}", flush=True)
    except Cancelled:
        return 0  # the host went away; what is committed stays, the rest is found by the next start
    finally:
        library.db.close()
    return 0


def _say_walked(done: int, _total: int, _what: str) -> None:
    print(f"{WALKED}{done}", flush=True)  # the host's watchdog hears the walk is alive


def _watch_stdin(host_gone: threading.Event) -> None:
    """The host keeps our stdin open while it runs: end-of-file means it exited (or gave up on us)."""
    try:
        while sys.stdin.read(4096):
            pass
    except (OSError, ValueError):
        pass
    host_gone.set()


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
