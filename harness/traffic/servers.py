"""The replay's three servers on the run's PostgreSQL and S3: A and B of the old version and the
new one, each over its own database (and its own artifact prefix in the run's bucket), all
from one starting state.

The starting state is one database: a restored copy of `--from-dump`, or an empty database
given the old version's schema (and its default experiment) by an old server's start. A and B are
`CREATE DATABASE … TEMPLATE` copies of it; the new server's copy is upgraded with the new
version's `mlflow db upgrade` first, as the team's database will be. Everything is stopped
and dropped when the context ends: on success, failure and Ctrl-C alike.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from harness.errors import ServiceError
from harness.migration.drill import UPGRADE_TIMEOUT_S, restore_dump
from harness.runtime.processes import REGISTRY, run_to_completion
from harness.runtime.shield import InterruptSafePool
from harness.runtime.waiting import outcome
from harness.services.mlflow_command import SECRET, SECRET_ENV, MlflowCommand
from harness.services.mlflow_server import MlflowServer, ServerSpec

if TYPE_CHECKING:
    from harness.session import RunSession

FAULT_SITE = Path(__file__).resolve().parent / "fault_site"
FAULTS_ENV = "MUH_INJECT_FAULTS"
ROLES = {"a": "from", "b": "from", "new": "to"}  # replay role → the side it runs


def db_upgrade(command: MlflowCommand, dsn: str, log: Path) -> float:
    """`mlflow db upgrade` of one version on one database; its seconds."""
    began = time.monotonic()
    container = command.new_container("db-upgrade")
    try:
        code = run_to_completion(  # the DSN (its password) by environment, not in the arguments
            "mlflow db upgrade",
            command.module_argv("mlflow", ["db", "upgrade", SECRET], container=container),
            log, timeout=UPGRADE_TIMEOUT_S, env={**os.environ, SECRET_ENV: dsn})
    finally:
        command.forget_container(container)
    if code != 0:
        raise ServiceError(f"mlflow db upgrade failed with code {code} (log: {log})",
                           logs=log.read_text(errors="replace")[-3000:])
    return time.monotonic() - began


def fault_env(faults: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The variables that plant `--inject-fault` in a server (the new one only)."""
    if not faults:
        return {}
    return {"PYTHONPATH": str(FAULT_SITE), FAULTS_ENV: json.dumps(dict(faults))}


class ReplayServers:
    """A context manager: `servers[role]` for role in a, b, new while it is open."""

    def __init__(self, session: RunSession, dump: Path | None,
                 faults: tuple[tuple[str, str], ...] = ()) -> None:
        self.session, self.dump, self.faults = session, dump, faults
        self.servers: dict[str, MlflowServer] = {}
        self.timings: dict[str, float] = {}
        self._stack = ExitStack()

    def _database(self, role: str) -> str:
        return f"muh_{self.session.config.run_id}_replay_{role}"

    def __enter__(self) -> Self:
        try:
            self._prepare()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()

    def _created(self, name: str, template: str | None = None) -> str:
        postgres = self.session.postgres
        assert postgres is not None
        self._stack.callback(postgres.drop_database, name)
        return postgres.create_database(name, template=template)

    def _prepare(self) -> None:
        session, logs = self.session, self.session.log_dir
        base = self._database("base")
        began = time.monotonic()
        dsn = self._created(base)
        if self.dump is not None:
            assert session.postgres is not None
            restore_dump(self.dump, session.postgres.server, base, logs)
        else:  # the old server's start creates its schema (`mlflow db upgrade` does not)
            with self._server("init", "from", dsn, {}, workers=1):
                pass
        self.timings["starting_state_s"] = round(time.monotonic() - began, 2)
        dsns = {role: self._created(self._database(role), template=base) for role in ROLES}
        began = time.monotonic()
        db_upgrade(session.sides["to"].command, dsns["new"], logs / "replay-db-upgrade.log")
        self.timings["upgrade_s"] = round(time.monotonic() - began, 2)
        began = time.monotonic()
        with InterruptSafePool(max_workers=len(ROLES), thread_name_prefix="replay") as pool:
            futures = [pool.submit(self._start, role, dsns[role]) for role in ROLES]
            try:
                for future in futures:
                    outcome(future)
            except BaseException:  # as the session's own starts: no start is waited for
                REGISTRY.stop_everything()
                raise
        self.timings["servers_start_s"] = round(time.monotonic() - began, 2)

    def _server(self, role: str, side_role: str, dsn: str, env: dict[str, str],
                workers: int | None = None) -> MlflowServer:
        side = self.session.sides[side_role]
        assert self.session.s3 is not None
        spec = ServerSpec(dsn, self.session.s3.location, f"replay-{role}-artifacts",
                          workers=workers, env={**side.config.deployment.server_env(), **env},
                          args=() if workers else side.config.server_args)
        return MlflowServer(f"replay-{role}-{side.version}", side.command, spec,
                            self.session.log_dir)

    def _start(self, role: str, dsn: str) -> None:
        server = self._server(role, ROLES[role], dsn,
                              fault_env(self.faults) if role == "new" else {})
        self._stack.callback(server.stop)
        server.start()
        self.servers[role] = server
