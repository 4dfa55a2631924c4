"""`mlflow server --app-name basic-auth` per side, each with its own auth database.

Each side's servers run as that side is deployed (its description's server options, but one
worker, its environment and secrets) under its basic-auth settings: the team's `basic_auth.ini`
when the description gives one (its `default_permission`, its admin, its other settings), the
harness's own otherwise. Clients reach them as they reach the side's tracking server: through
the public URL's stand-in when there is one that is not refused.

The auth configuration (admin password included) is written to a private temporary folder that
is removed with the servers; the password is generated per run and never logged, and never is
the team's own (their file's `admin_password` and `database_uri` are not used).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Self

from harness.bench.remedies import override_args
from harness.deploy.auth_config import AuthSettings
from harness.deploy.routes import Route, start_route
from harness.redact import register_secret
from harness.runtime.shield import InterruptSafePool
from harness.runtime.waiting import outcome
from harness.services.base import Service
from harness.services.mlflow_server import MlflowServer, ServerSpec
from harness.session import RunSession

APP = "basic-auth"
ONE_WORKER = ["--workers", "1"]  # a scenario's helper, whatever the deployment runs


class BasicAuthFleet(Service):
    """One basic-auth server per side, over the side's tracking database and a new auth one."""

    name = "basic-auth servers"

    def __init__(self, session: RunSession, roles: Iterable[str] | None = None) -> None:
        self.session = session
        self.roles = list(session.sides if roles is None else roles)  # the sides to serve
        self.password = secrets.token_urlsafe(18)
        self.csrf_key = secrets.token_urlsafe(32)
        register_secret(self.password)
        register_secret(self.csrf_key)
        self.servers: dict[str, MlflowServer] = {}
        self.routes: dict[str, Route] = {}
        self._stack = ExitStack()
        self.databases: list[str] = []
        self._folder = Path(tempfile.mkdtemp(
            prefix=f"mlflow-upgrade-harness-auth-{session.config.run_id}-"))

    def auth_database(self, role: str) -> str:
        return f"muh_{self.session.config.run_id}_{role}_auth"

    def settings(self, role: str) -> AuthSettings:
        """The side's basic-auth settings: its description's, or the harness's."""
        return self.session.sides[role].config.deployment.auth or AuthSettings()

    def admin(self, role: str) -> str:
        return self.settings(role).admin_username

    def tracking_uri(self, role: str) -> str:
        route = self.routes.get(role)
        return route.tracking_uri if route is not None else self.servers[role].url

    def _config(self, role: str, database_uri: str) -> Path:
        path = self._folder / f"{role}.ini"
        path.write_text(self.settings(role).ini(database_uri, self.password))
        os.chmod(path, 0o600)
        return path

    def _start(self, role: str) -> MlflowServer:
        session = self.session
        assert session.postgres is not None and session.s3 is not None
        side = session.sides[role]
        database = self.auth_database(role)
        self.databases.append(database)
        uri = session.postgres.create_database(database)
        env = {
            **side.config.deployment.server_env(),
            "MLFLOW_AUTH_CONFIG_PATH": str(self._config(role, uri)),
            # 3.x reads the admin from these before the file: the run's admin, always.
            "MLFLOW_AUTH_ADMIN_USERNAME": self.admin(role),
            "MLFLOW_AUTH_ADMIN_PASSWORD": self.password,
            # 3.x refuses to start basic-auth without a static CSRF key (2.x ignores it).
            "MLFLOW_FLASK_SERVER_SECRET_KEY": self.csrf_key,
        }
        server = MlflowServer(
            f"{role}-{side.version}", side.command,
            ServerSpec(session.postgres.dsn(side.database), session.s3.location,
                       f"{role}-artifacts", app_name=APP, env=env,
                       args=tuple(override_args(list(side.config.server_args), ONE_WORKER))),
            session.log_dir)
        self.servers[role] = server
        server.start()
        route = start_route(side.config.deployment, server, session.log_dir, self._stack)
        route.refused = side.route.refused if side.route is not None else ""  # as the side's
        self.routes[role] = route
        return server

    def start(self) -> Self:
        with InterruptSafePool(max_workers=max(1, len(self.roles))) as pool:
            for started in [pool.submit(self._start, role) for role in self.roles]:
                outcome(started)
        return self

    def stop(self) -> None:
        self._stack.close()
        for server in self.servers.values():
            server.stop()
        postgres = self.session.postgres
        for database in self.databases:
            if postgres is not None:
                postgres.drop_database(database)
        shutil.rmtree(self._folder, ignore_errors=True)

    def logs(self, lines: int = 40) -> str:
        return "\n".join(server.logs(lines) for server in self.servers.values())
