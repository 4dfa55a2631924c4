"""`mlflow server --app-name basic-auth` per side, each with its own auth database.

The auth configuration (admin password included) is written to a private temporary folder that
is removed with the servers; the password is generated per run and never logged.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Self

from harness.redact import register_secret
from harness.runtime.waiting import outcome
from harness.services.base import Service
from harness.services.mlflow_server import MlflowServer
from harness.session import RunSession

ADMIN = "harness-admin"
APP = "basic-auth"


class BasicAuthFleet(Service):
    """One basic-auth server per side, over the side's tracking database and a new auth one."""

    name = "basic-auth servers"

    def __init__(self, session: RunSession, roles: Iterable[str] | None = None) -> None:
        self.session = session
        self.roles = list(session.sides if roles is None else roles)  # the sides to serve
        self.admin = ADMIN
        self.password = secrets.token_urlsafe(18)
        self.csrf_key = secrets.token_urlsafe(32)
        register_secret(self.password)
        register_secret(self.csrf_key)
        self.servers: dict[str, MlflowServer] = {}
        self.databases: list[str] = []
        self._folder = Path(tempfile.mkdtemp(
            prefix=f"mlflow-upgrade-harness-auth-{session.config.run_id}-"))

    def auth_database(self, role: str) -> str:
        return f"muh_{self.session.config.run_id}_{role}_auth"

    def _config(self, role: str, database_uri: str) -> Path:
        path = self._folder / f"{role}.ini"
        path.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = {database_uri}\n"
            f"admin_username = {self.admin}\n"
            f"admin_password = {self.password}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        os.chmod(path, 0o600)
        return path

    def _start(self, role: str) -> MlflowServer:
        session = self.session
        assert session.postgres is not None and session.s3 is not None
        side = session.sides[role]
        database = self.auth_database(role)
        self.databases.append(database)
        uri = session.postgres.create_database(database)
        server = MlflowServer(
            label=f"{role}-{side.version}",
            command=side.command,
            backend_uri=session.postgres.dsn(side.database),
            s3=session.s3.location,
            artifacts_prefix=f"{role}-artifacts",
            log_dir=session.log_dir,
            workers=1,
            app_name=APP,
            extra_env={
                "MLFLOW_AUTH_CONFIG_PATH": str(self._config(role, uri)),
                # 3.x refuses to start basic-auth without a static CSRF key (2.x ignores it).
                "MLFLOW_FLASK_SERVER_SECRET_KEY": self.csrf_key,
            },
        )
        self.servers[role] = server
        return server.start()

    def start(self) -> Self:
        with ThreadPoolExecutor(max_workers=max(1, len(self.roles))) as pool:
            for started in [pool.submit(self._start, role) for role in self.roles]:
                outcome(started)
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        postgres = self.session.postgres
        for database in self.databases:
            if postgres is not None:
                postgres.drop_database(database)
        shutil.rmtree(self._folder, ignore_errors=True)

    def logs(self, lines: int = 40) -> str:
        return "\n".join(server.logs(lines) for server in self.servers.values())
