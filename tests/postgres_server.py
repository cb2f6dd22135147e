"""A throwaway PostgreSQL cluster for the PostgreSQL tier (issue 18): ``initdb`` into a temp folder, a
server on a Unix socket in that folder (no TCP port, nothing reachable from outside), ``stop()`` removes it.

Uses Debian's ``postgresql`` binaries (``/usr/lib/postgresql/<major>/bin`` or ``initdb``/``pg_ctl`` on the
PATH). PostgreSQL refuses to run as root: under root the cluster is made and run as the ``postgres``
system user (the Debian package creates it) through ``runuser``. ``find_binaries()`` is None where no
server is installed; the tier then skips.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

DATABASE = "model_library"


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl (the newest major version), or None."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major, reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(os.path.realpath(initdb)).parent
    return None


def _major(folder: str) -> int:
    try:
        return int(Path(folder).parent.name)
    except ValueError:
        return 0


@dataclass
class PostgresServer:
    bin_dir: Path
    base: Path  # data/, the socket folder and the log, all removed by stop()
    user: str | None  # the system user the server runs as (root cannot), or None for ourselves
    _databases: int = 0

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "socket"

    @property
    def dsn(self) -> str:
        """A libpq connection string for the test database (over the Unix socket)."""
        role = self.user or _current_user()
        return f"postgresql:///{DATABASE}?host={self.socket_dir}&user={role}"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=check)

    def start(self) -> PostgresServer:
        self.socket_dir.mkdir(parents=True)
        if self.user is not None:
            shutil.chown(self.base, self.user)
            shutil.chown(self.socket_dir, self.user)
        self.run(
            "initdb", "-D", str(self.data), "--auth=trust", "--encoding=UTF8", "--no-sync", "-U", self.role
        )
        self.start_server()
        self.run("createdb", "-h", str(self.socket_dir), "-U", self.role, DATABASE)
        # Every database made from here on has the trigram extension, as a team's server would.
        self.psql("CREATE EXTENSION IF NOT EXISTS pg_trgm", "template1")
        return self

    def start_server(self) -> None:
        """Start the server on the cluster made by ``start()`` (again, after ``stop_server()``)."""
        options = f"-c listen_addresses='' -k {self.socket_dir} -c fsync=off -c synchronous_commit=off"
        self.run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.base / "server.log"), "-o", options, "-w", "start"
        )

    def stop_server(self) -> None:
        """Stop the server, keeping the cluster (a server going away under the library)."""
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def role(self) -> str:
        return self.user or _current_user()

    def psql(self, sql: str, database: str = DATABASE) -> str:
        done = self.run("psql", "-h", str(self.socket_dir), "-U", self.role, "-d", database, "-Atc", sql)
        return done.stdout.strip()

    def new_database(self) -> str:
        """A fresh empty database (a copy of template1, which holds pg_trgm): its connection string."""
        self._databases += 1
        name = f"t{os.getpid()}_{self._databases}"
        self.psql(f"CREATE DATABASE {name}")
        return self.dsn.replace(f"/{DATABASE}?", f"/{name}?")

    def stop(self) -> None:
        try:
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def _current_user() -> str:
    import getpass

    return getpass.getuser()


def start_postgres() -> PostgresServer | None:
    """A started throwaway cluster, or None where PostgreSQL is not installed."""
    bin_dir = find_binaries()
    if bin_dir is None:
        return None
    user = "postgres" if os.geteuid() == 0 else None
    if user is not None and shutil.which("runuser") is None:
        return None
    base = Path(tempfile.mkdtemp(prefix="model-library-pg-"))
    os.chmod(base, 0o755)
    return PostgresServer(bin_dir, base, user).start()
