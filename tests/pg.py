"""A throwaway PostgreSQL server for the tests: initdb + pg_ctl in a temporary directory.

The server listens only on a Unix socket in that directory and is stopped and
deleted when the test session ends. Debian's ``postgresql`` package provides
the binaries (``.ci/run`` installs it). As root, the server runs as the
``postgres`` user, since PostgreSQL refuses to run as root.

``TRACKER_TEST_DATABASE_URL`` points the tests at an existing server instead
(a database URL whose user may create databases).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def unavailable_reason() -> str | None:
    """Why no PostgreSQL can be started here, or None."""
    if os.environ.get("TRACKER_TEST_DATABASE_URL"):
        return None
    if not (_binary("initdb") and _binary("pg_ctl")):
        return "PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's postgresql package"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root without runuser, so PostgreSQL cannot be started as another user"
    return None


class Server:
    """A running server; ``url(db)`` gives a SQLAlchemy URL for a database on it."""

    def __init__(self) -> None:
        self.external = os.environ.get("TRACKER_TEST_DATABASE_URL")
        self._created = 0
        if self.external:
            return
        self.root = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
        self.data = self.root / "data"
        self.port = 5400 + os.getpid() % 500
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            os.chmod(self.root, 0o700)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self._run([_binary("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--no-sync"])
        self.start()

    def start(self) -> None:
        """Start the server (again, after :meth:`halt`)."""
        options = (f"-k {self.root} -p {self.port} -c listen_addresses='' -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self._run([_binary("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w",
                   "start"])

    def halt(self, mode: str = "immediate") -> None:
        """Stop the server, its databases kept: ``"fast"`` ends every connection as an administrator's stop
        does, keeping what was committed; ``"immediate"`` is a crash, which with this server's settings
        (no fsync, commits not waited for) may also lose the latest commits."""
        self._run([_binary("pg_ctl"), "-D", str(self.data), "-m", mode, "stop"])

    def _run(self, cmd: list[str]) -> None:
        result = subprocess.run(self.prefix + cmd, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {result.stderr.strip() or result.stdout.strip()}")

    def _admin_url(self, database: str = "postgres") -> str:
        if self.external:
            return self.external.rsplit("/", 1)[0] + f"/{database}"
        return f"postgresql+psycopg://postgres@/{database}?host={self.root}&port={self.port}"

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        self._created += 1
        name = f"tracker_test_{os.getpid()}_{self._created}_{int(time.time() * 1000) % 100000}"
        engine = create_engine(self._admin_url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self._admin_url(name)

    def stop(self) -> None:
        if self.external:
            return
        try:
            self.halt()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
