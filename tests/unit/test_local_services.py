"""The embedded default services, for real: PostgreSQL from this machine and moto S3."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import psycopg
import pytest

from harness.errors import ProviderUnavailable, ServiceError, UsageError
from harness.services import postgres_local
from harness.services.postgres_external import ExternalPostgres, parse_dsn
from harness.services.postgres_local import LocalPostgres, find_binaries
from harness.services.s3 import MotoS3, s3_client


def test_local_postgres_creates_databases_and_cleans_up(tmp_path: Path) -> None:
    try:
        find_binaries()
    except ProviderUnavailable as error:
        pytest.skip(str(error))
    with LocalPostgres(tmp_path) as pg:
        dsn = pg.create_database("muh_test_from")
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("muh_test_from",)
        data_root = pg.data_root
        assert data_root is not None and data_root.is_dir()
        pg.create_database("muh_test_copy", template="muh_test_from")
        assert pg.server.databases("muh_test") == ["muh_test_copy", "muh_test_from"]
        pg.drop_database("muh_test_copy")
        assert pg.server.databases("muh_test") == ["muh_test_from"]
    assert pg.data_root is None and not data_root.exists()
    with pytest.raises(ServiceError, match="cannot connect"):
        pg.server.ping()


def test_missing_binaries_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_local, "_has_server", lambda path: False)
    with pytest.raises(ProviderUnavailable, match="no PostgreSQL server binaries"):
        find_binaries()


def test_unreachable_external_dsn_fails_fast() -> None:
    with pytest.raises(ServiceError, match="cannot connect to PostgreSQL at 127.0.0.1:1"):
        ExternalPostgres("postgresql://u:secret@127.0.0.1:1/postgres").start()


def test_dsn_parsing() -> None:
    server = parse_dsn("postgresql://me:p%40ss@db.local:6543/admin")
    assert (server.user, server.password, server.host, server.port) == (
        "me", "p@ss", "db.local", 6543)
    assert server.admin_database == "admin"
    with pytest.raises(UsageError):
        parse_dsn("mysql://x@y/z")


def test_moto_s3_serves_the_run_bucket(tmp_path: Path) -> None:
    with MotoS3(tmp_path, "muh-test-bucket") as s3:
        client = s3_client(s3.location)
        client.put_object(Bucket="muh-test-bucket", Key="a/b.txt", Body=b"hello")
        body = client.get_object(Bucket="muh-test-bucket", Key="a/b.txt")["Body"].read()
        assert body == b"hello"
        url = s3.location.endpoint_url
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)
