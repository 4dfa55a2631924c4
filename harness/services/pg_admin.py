"""Database administration on any PostgreSQL server, over psycopg (never MLflow)."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

import psycopg
from psycopg import sql

from harness.errors import ServiceError

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class PgServer:
    """Connection facts for a PostgreSQL server reached over TCP."""

    host: str
    port: int
    user: str
    password: str
    admin_database: str = "postgres"

    def dsn(self, database: str) -> str:
        user = urllib.parse.quote(self.user, safe="")
        password = urllib.parse.quote(self.password, safe="")
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{database}"

    def connect(self, database: str | None = None) -> psycopg.Connection[tuple[object, ...]]:
        try:
            return psycopg.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                dbname=database or self.admin_database,
                connect_timeout=CONNECT_TIMEOUT_S,
                autocommit=True,
            )
        except psycopg.OperationalError as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else "failed"
            raise ServiceError(
                f"cannot connect to PostgreSQL at {self.host}:{self.port}: {first_line}"
            ) from None

    def ping(self) -> bool:
        with self.connect() as conn:
            conn.execute("SELECT 1")
        return True

    def create_database(self, database: str, template: str | None = None) -> None:
        _check_name(database)
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
        if template is not None:
            _check_name(template)
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(database), sql.Identifier(template)
            )
        with self.connect() as conn:
            conn.execute(statement)

    def drop_database(self, database: str) -> None:
        _check_name(database)
        with self.connect() as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(database)))

    def databases(self, prefix: str) -> list[str]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY datname",
                (prefix.replace("_", r"\_") + "%",),
            ).fetchall()
        return [str(row[0]) for row in rows]


def _check_name(name: str) -> None:
    if not _DB_NAME.match(name):
        raise ValueError(f"invalid database name {name!r}")
