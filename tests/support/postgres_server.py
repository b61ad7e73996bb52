"""A throw-away PostgreSQL server for tests: initdb in a temp folder, pg_ctl on 127.0.0.1.

Needs the server binaries (Debian: ``apt-get install postgresql``, found in PATH or
/usr/lib/postgresql/*/bin) and, for ``create_database``, psycopg 3
(``pip install -e ".[postgres]"``). As root, the binaries run as the ``postgres`` user.
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_HINT = "install it with `apt-get install postgresql`"


class PostgresUnavailable(RuntimeError):
    """No server can be started here; the message says what is missing."""


def find_bindir() -> Path:
    """The folder with initdb and pg_ctl: PATH first, then /usr/lib/postgresql/*/bin, newest first."""
    candidates = []
    if found := shutil.which("initdb"):
        candidates.append(Path(os.path.realpath(found)).parent)
    versioned = [Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin")]
    candidates += sorted(versioned, reverse=True,
                         key=lambda d: [int(x) for x in re.findall(r"\d+", d.parent.name)])
    for d in candidates:
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    raise PostgresUnavailable(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found in PATH or "
        f"/usr/lib/postgresql/*/bin; {INSTALL_HINT}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """``start()``, ``url(dbname)``, ``create_database(name)``, ``stop()``."""

    def __init__(self, user: str = "postgres"):
        self.user = user  # database superuser (initdb -U)
        self.port: int | None = None
        self.tmp: Path | None = None
        self.startup_s: float | None = None
        self._prefix: list[str] = []
        self._bindir: Path | None = None

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = self._prefix + [str(self._bindir / args[0]), *args[1:]]
        try:
            r = subprocess.run(cmd, cwd=self.tmp, capture_output=True, text=True, timeout=timeout)
            error = f"exit {r.returncode}: {(r.stderr or r.stdout).strip()[-1500:]}"
        except subprocess.TimeoutExpired:
            r, error = None, f"no answer in {timeout:.0f} s"
        if r is None or r.returncode != 0:
            log = self.tmp / "server.log"
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise PostgresUnavailable(f"`{args[0]}` failed ({error})\n{tail}".strip())

    def start(self) -> "PostgresServer":
        self._bindir = find_bindir()
        if os.geteuid() == 0:  # initdb/postgres refuse to run as root
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root, but there is no `postgres` system user to run the "
                    f"server as; {INSTALL_HINT} (the package creates the user)"
                ) from None
            if not shutil.which("runuser"):
                raise PostgresUnavailable("running as root, but `runuser` (util-linux) is missing")
            self._prefix = ["runuser", "-u", "postgres", "--"]
        t0 = time.perf_counter()
        self.tmp = Path(tempfile.mkdtemp(prefix="petl-pg-"))
        if self._prefix:
            os.chown(self.tmp, owner.pw_uid, owner.pw_gid)
        atexit.register(self.stop)  # also if the fixture's teardown never runs
        self.port = free_port()
        data = self.tmp / "data"
        try:
            self._run("initdb", "-D", str(data), "-A", "trust", "-U", self.user,
                      "-E", "UTF8", "--no-locale", "--no-sync")
            opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                    f"-c unix_socket_directories={self.tmp} -c fsync=off")
            self._run("pg_ctl", "start", "-D", str(data), "-l", str(self.tmp / "server.log"),
                      "-w", "-t", "60", "-o", opts, timeout=90)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.perf_counter() - t0
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` and remove the temp folder; safe to call twice."""
        if self.tmp is None:
            return
        data = self.tmp / "data"
        if (data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "stop", "-D", str(data), "-m", "fast", "-w")
            except PostgresUnavailable:
                subprocess.run(self._prefix + [str(self._bindir / "pg_ctl"), "stop", "-D",
                                               str(data), "-m", "immediate"], cwd="/")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None
