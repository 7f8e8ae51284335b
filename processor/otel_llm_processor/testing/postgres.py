"""Start a throw-away PostgreSQL server on 127.0.0.1 (Debian ``postgresql`` binaries).

``initdb`` into a temporary directory, ``pg_ctl start`` on a free port with the socket in that
directory, trust authentication, no fsync. PostgreSQL refuses to run as root, so as root every
command runs as the ``postgres`` user (``runuser``) and the directory is handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

__all__ = ["PostgresServer", "find_pg_bin", "free_port"]


def find_pg_bin() -> str | None:
    """The newest ``/usr/lib/postgresql/*/bin`` holding ``initdb`` and ``pg_ctl``, else PATH's."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
    )
    for directory in reversed(candidates):
        if os.access(os.path.join(directory, "initdb"), os.X_OK) and os.access(
            os.path.join(directory, "pg_ctl"), os.X_OK
        ):
            return directory
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb and shutil.which("pg_ctl") else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """``start()`` -> running server; ``dsn(dbname)``; ``create_database()``; ``stop()``."""

    bin_dir: str
    port: int = 0
    root: str = ""
    user: str = "postgres"

    def _as_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def start(self, timeout: float = 60.0) -> PostgresServer:
        self.root = tempfile.mkdtemp(prefix="otel-llm-pg-")
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        data = os.path.join(self.root, "data")
        subprocess.run(
            self._as_user(
                [
                    os.path.join(self.bin_dir, "initdb"),
                    "-D",
                    data,
                    "-A",
                    "trust",
                    "-U",
                    self.user,
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--no-instructions",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=timeout,
            cwd=self.root,
        )
        last_error = ""
        for _ in range(5):  # a free port can be taken between probing and binding: try another
            self.port = free_port()
            options = (
                f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
                " -c shared_buffers=16MB"
            )
            proc = subprocess.run(
                self._as_user(
                    [
                        os.path.join(self.bin_dir, "pg_ctl"),
                        "-D",
                        data,
                        "-l",
                        os.path.join(self.root, "log"),
                        "-o",
                        options,
                        "-w",
                        "-t",
                        str(int(timeout)),
                        "start",
                    ]
                ),
                capture_output=True,
                text=True,
                timeout=timeout + 10,
                cwd=self.root,
            )
            if proc.returncode == 0 and self._wait_accepting(time.monotonic() + timeout):
                return self
            last_error = proc.stderr + self._log_tail()
        self.stop()
        raise RuntimeError(f"PostgreSQL did not start: {last_error}")

    def _log_tail(self) -> str:
        try:
            with open(os.path.join(self.root, "log"), encoding="utf-8", errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def _wait_accepting(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={dbname} connect_timeout=10"

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its DSN."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # name comes from the test harness only
        return self.dsn(name)

    def stop(self) -> None:
        if not self.root:
            return
        data = os.path.join(self.root, "data")
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            subprocess.run(
                self._as_user(
                    [os.path.join(self.bin_dir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"]
                ),
                capture_output=True,
                timeout=60,
                cwd=self.root,
            )
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = ""
