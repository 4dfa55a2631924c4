"""A PostgreSQL server the user runs, given as a DSN; the run creates and drops its own DBs."""

from __future__ import annotations

import os
import urllib.parse
from typing import Self

from harness.errors import UsageError
from harness.redact import register_secret
from harness.services.base import PostgresService
from harness.services.pg_admin import PgServer


def parse_dsn(dsn: str) -> PgServer:
    """`postgresql://user:password@host:port/dbname` → connection facts (dbname = admin db).
    Without a password in it, PGPASSWORD's (libpq's variable): the password then need not be
    on the harness's own command line either."""
    parsed = urllib.parse.urlsplit(dsn)
    if parsed.scheme not in {"postgresql", "postgres"} or not parsed.hostname:
        raise UsageError("--postgres-dsn must look like postgresql://user:password@host:port/db")
    try:
        port = parsed.port or 5432
    except ValueError:
        raise UsageError("--postgres-dsn has a malformed port") from None
    return PgServer(
        host=parsed.hostname,
        port=port,
        user=urllib.parse.unquote(parsed.username or "postgres"),
        password=urllib.parse.unquote(parsed.password) if parsed.password is not None
        else _from_environment("PGPASSWORD"),
        admin_database=parsed.path.lstrip("/") or "postgres",
    )


def _from_environment(name: str) -> str:
    """A password from the environment, registered for redaction (one in the DSN is registered
    where the options are read)."""
    value = os.environ.get(name, "")
    register_secret(value)
    return value


class ExternalPostgres(PostgresService):
    owned = False  # statement counts only where pg_stat_statements is already set up

    def __init__(self, dsn: str) -> None:
        self._server = parse_dsn(dsn)
        self._created: list[str] = []

    @property
    def server(self) -> PgServer:
        return self._server

    def start(self) -> Self:
        self.server.ping()
        return self

    def stop(self) -> None:
        for database in reversed(self._created):
            self.server.drop_database(database)
        self._created.clear()

    def logs(self, lines: int = 40) -> str:
        return ""

    def create_database(self, database: str, template: str | None = None) -> str:
        dsn = super().create_database(database, template)
        self._created.append(database)
        return dsn

    def drop_database(self, database: str) -> None:
        super().drop_database(database)
        if database in self._created:
            self._created.remove(database)
