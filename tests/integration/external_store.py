"""A PostgreSQL server and an S3 store that stand for a team's own, for `--provider external`.

Started by the test process itself (the harness's own local services, with a password the test
plants), holding a team's data the harness must never touch: a database with a table, and a
bucket with objects.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.runtime.processes import REGISTRY
from harness.services.pg_admin import PgServer
from harness.services.postgres_local import LocalPostgres
from harness.services.s3 import MotoS3, s3_client
from tests.integration.conftest import FIXTURE_RUN_ID

TEAM_DATABASE = "team_registry"
TEAM_BUCKET = "team-artifacts"
TEAM_OBJECTS = {"models/churn/v3/model.pkl": b"\x80\x04team-model", "README.txt": b"ours"}
PLANTED_PG_PASSWORD = f"planted-pg-{secrets.token_hex(8)}"
PLANTED_S3_SECRET = f"planted-s3-{secrets.token_hex(8)}"


@dataclass
class ExternalStore:
    postgres: LocalPostgres
    s3: MotoS3

    @property
    def admin(self) -> PgServer:
        return self.postgres.server

    def args(self, bucket: str | None = None) -> list[str]:
        return ["--provider", "external", "--postgres-dsn", self.postgres.dsn("postgres"),
                "--s3-endpoint", self.s3.location.endpoint_url,
                *(["--s3-bucket", bucket] if bucket else [])]

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": "team-key-id", "AWS_SECRET_ACCESS_KEY": PLANTED_S3_SECRET}

    def databases(self) -> set[str]:
        with self.admin.connect() as conn:
            rows = conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate")
            return {str(row[0]) for row in rows.fetchall()}

    def team_rows(self) -> list[tuple[object, ...]]:
        with self.admin.connect(TEAM_DATABASE) as conn:
            return list(conn.execute("SELECT * FROM model_versions ORDER BY id").fetchall())

    def objects(self) -> dict[str, dict[str, int]]:
        """Every bucket → key → size."""
        client = s3_client(self.s3.location)
        found: dict[str, dict[str, int]] = {}
        for bucket in client.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            keys: dict[str, int] = {}
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
                keys.update({i["Key"]: int(i["Size"]) for i in page.get("Contents", [])})
            found[name] = keys
        return found


@contextmanager
def external_store() -> Iterator[ExternalStore]:
    previous = REGISTRY.run_id
    REGISTRY.run_id = FIXTURE_RUN_ID
    workdir = Path(tempfile.mkdtemp(prefix="muh-test-external-"))
    postgres = LocalPostgres(workdir)
    postgres.password = PLANTED_PG_PASSWORD
    s3 = MotoS3(workdir, TEAM_BUCKET)
    try:
        postgres.start()
        s3.start()
        store = ExternalStore(postgres, s3)
        store.admin.create_database(TEAM_DATABASE)
        with store.admin.connect(TEAM_DATABASE) as conn:
            conn.execute("CREATE TABLE model_versions (id int PRIMARY KEY, name text, stage text)")
            conn.execute("INSERT INTO model_versions VALUES (1, 'churn', 'Production'), "
                         "(2, 'churn', 'Staging')")
        client = s3_client(s3.location)
        for key, body in TEAM_OBJECTS.items():
            client.put_object(Bucket=TEAM_BUCKET, Key=key, Body=body)
        yield store
    finally:
        s3.stop()
        postgres.stop()
        REGISTRY.run_id = previous
        shutil.rmtree(workdir, ignore_errors=True)
