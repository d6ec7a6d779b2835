"""PostgreSQL from Debian's packages, as a private cluster of the stack.

``install`` puts Debian's ``postgresql`` package in place when it is missing
(``apt-get``, as root). ``start`` initialises a cluster once with a random
password (kept in the state folder, mode 0600), starts it with ``pg_ctl`` on
loopback and a non-default port, and creates the hub's database.

PostgreSQL refuses to run as root. When the stack runs as root, the cluster
runs as the ``postgres`` system user that Debian's package creates; if that
user cannot reach the state folder (a state folder the stack creates is mode
0700), the data directory goes under ``/var/tmp`` instead, the state folder
records where, and :meth:`Postgres.remove_outside_data` deletes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import secrets
import shutil
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from hub.stack.base import apt_install
from hub.stack.config import StackConfig
from hub.stack.process import StackError, alive, port_open, read_pid, run, tail, wait_until
from wire.private_files import private_dir, write_private

NAME = "postgres"
HOST = "127.0.0.1"
SYSTEM_USER = "postgres"
_FALLBACK_PREFIX = "svdhub-postgres-"
_PGLIB = Path("/usr/lib/postgresql")


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<major>/bin`` that has pg_ctl and initdb."""
    candidates = []
    for folder in _PGLIB.glob("*/bin"):
        if (folder / "pg_ctl").is_file() and (folder / "initdb").is_file():
            with contextlib.suppress(ValueError):
                candidates.append((int(folder.parent.name), folder))
    return max(candidates)[1] if candidates else None


class Postgres:
    """A PostgreSQL cluster owned by the local stack."""

    name = NAME

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.settings = config.postgres
        self.home = config.state_dir / "postgres"
        self.password_file = self.home / "password"
        self.location_file = self.home / "data-location"

    # -- who runs it, and where ---------------------------------------------

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def _prefix(self) -> list[str]:
        return ["runuser", "-u", SYSTEM_USER, "--"] if self.as_root else []

    @property
    def cluster_dir(self) -> Path:
        """The folder that holds ``data/`` and the server log."""
        with contextlib.suppress(OSError):
            return Path(self.location_file.read_text(encoding="utf-8").strip())
        return self.home / "cluster"

    @property
    def data_dir(self) -> Path:
        return self.cluster_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.cluster_dir / "postgres.log"

    def _choose_cluster_dir(self) -> Path:
        preferred = self.home / "cluster"
        if not self.as_root:
            return preferred
        private_dir(preferred)
        _chown(preferred)
        probe = ["runuser", "-u", SYSTEM_USER, "--", "test", "-w", str(preferred)]
        try:
            run(NAME, probe, timeout=10)
        except StackError:
            digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:12]
            fallback = Path("/var/tmp") / f"{_FALLBACK_PREFIX}{digest}"  # noqa: S108 - owned by postgres, 0700
            fallback.mkdir(mode=0o700, parents=True, exist_ok=True)
            _chown(fallback)
            return fallback
        return preferred

    # -- install -----------------------------------------------------------

    def installed(self) -> bool:
        return find_bindir() is not None

    def install(self) -> None:
        if not self.installed():
            apt_install(NAME, ["postgresql"])
        if find_bindir() is None:
            raise StackError(NAME, f"no pg_ctl/initdb under {_PGLIB} after installing postgresql")

    def _bin(self, program: str) -> str:
        bindir = find_bindir()
        if bindir is None:
            raise StackError(NAME, "PostgreSQL is not installed; run `svdhub stack install`")
        return str(bindir / program)

    # -- lifecycle ---------------------------------------------------------

    def running(self) -> bool:
        pid = read_pid(self.data_dir / "postmaster.pid")
        return pid is not None and alive(pid, str(self.data_dir))

    def start(self) -> None:
        if port_open(self.settings.port):
            raise StackError(
                NAME,
                f"port {self.settings.port} is already in use by another "
                "process; choose another port in deploy/local/stack.toml",
            )
        private_dir(self.home)
        if not (self.data_dir / "PG_VERSION").is_file():
            self._initdb()
        self._write_settings()
        run(
            NAME,
            [
                *self._prefix(),
                self._bin("pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(int(self.config.ready_timeout)),
                "start",
            ],
            timeout=self.config.ready_timeout + 10,
        )

    def _initdb(self) -> None:
        cluster = private_dir(self._choose_cluster_dir())
        write_private(self.location_file, f"{cluster}\n")
        password = secrets.token_urlsafe(24)
        write_private(self.password_file, password + "\n")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        pwfile = cluster / ".initdb-password"
        write_private(pwfile, password + "\n")
        if self.as_root:
            _chown(cluster)
            _chown(pwfile)
        try:
            run(
                NAME,
                [
                    *self._prefix(),
                    self._bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.settings.user,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                timeout=300,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as handle:
            handle.write(
                "\n# Settings of the svdhub local stack.\ninclude_if_exists = 'svdhub.conf'\n"
            )

    def _write_settings(self) -> None:
        target = self.data_dir / "svdhub.conf"
        target.write_text(
            "# Written by `svdhub stack up`; edit deploy/local/stack.toml instead.\n"
            f"port = {self.settings.port}\n"
            f"listen_addresses = '{HOST}'\n"
            "unix_socket_directories = ''\n"
            "max_connections = 200\n"
            "logging_collector = off\n",
            encoding="utf-8",
        )
        if self.as_root:
            _chown(target)

    def _password(self) -> str:
        try:
            return self.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise StackError(NAME, f"cannot read {self.password_file}: {exc}") from exc

    def ready(self) -> bool:
        if not port_open(self.settings.port):
            return False
        try:
            self._ensure_database()
        except (psycopg.Error, StackError):
            return False
        return True

    def _connect(self, database: str) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(
            host=HOST,
            port=self.settings.port,
            user=self.settings.user,
            password=self._password(),
            dbname=database,
            connect_timeout=3,
            autocommit=True,
        )

    def _ensure_database(self) -> None:
        with self._connect("postgres") as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.settings.database,)
            ).fetchone()
            if not exists:
                conn.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.settings.database))
                )

    def wait_ready(self, deadline: float) -> None:
        wait_until(
            NAME, "ready", self.ready, deadline, log_file=self.log_file, still_running=self.running
        )

    def stop(self) -> None:
        if not self.running():
            return
        try:
            run(
                NAME,
                [
                    *self._prefix(),
                    self._bin("pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "60",
                    "stop",
                ],
                timeout=70,
            )
        except StackError as exc:
            exc.log = exc.log or tail(self.log_file)
            raise

    def remove_outside_data(self) -> None:
        """Delete the cluster's folder if it lives outside the state folder
        (the ``/var/tmp`` fallback); deleting the state folder removes the
        rest. Call it only when the cluster is stopped."""
        cluster = self.cluster_dir
        if cluster.is_relative_to(self.config.state_dir) or not cluster.name.startswith(
            _FALLBACK_PREFIX
        ):
            return
        if self.running():
            raise StackError(NAME, f"still running; stop it before deleting {cluster}")
        shutil.rmtree(cluster, ignore_errors=True)

    # -- description -------------------------------------------------------

    def version(self) -> str:
        if self.running():
            try:
                with self._connect(self.settings.database) as conn:
                    row = conn.execute("SHOW server_version").fetchone()
                if row:
                    return str(row[0]).split()[0]
            except (psycopg.Error, StackError):
                pass  # not answering: report the installed major version instead
        bindir = find_bindir()
        return bindir.parent.name if bindir else "not installed"

    def url(self) -> str:
        password = self._password() if self.password_file.is_file() else "PASSWORD"
        return (
            f"postgresql+psycopg://{self.settings.user}:{password}"
            f"@{HOST}:{self.settings.port}/{self.settings.database}"
        )

    def address(self) -> str:
        return f"{HOST}:{self.settings.port}/{self.settings.database}"

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.url()}


def _chown(path: Path) -> None:
    entry = pwd.getpwnam(SYSTEM_USER)
    os.chown(path, entry.pw_uid, entry.pw_gid)
