"""`--provider external` against a team's own PostgreSQL and S3: the harness works in its own
namespace, never touches the team's data, leaves nothing of its own behind, keeps every secret
out of what it writes, and two runs at once on the same stores do not collide."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import (
    CliRun,
    harness_cmd,
    harness_processes,
    run_cli,
    run_folders,
)
from tests.integration.external_store import (
    PLANTED_PG_PASSWORD,
    PLANTED_S3_SECRET,
    TEAM_BUCKET,
    TEAM_DATABASE,
    TEAM_OBJECTS,
    ExternalStore,
    external_store,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCENARIOS = "test_tracking or test_registration or test_migration"
# Planted in the harness's own environment: a careless env dump or log line would carry them.
PLANTED_ENV = {
    "MLFLOW_TRACKING_TOKEN": "planted-token-5f2e9c",
    "MLFLOW_TRACKING_PASSWORD": "planted-password-77a1",
    "DATABASE_URL": "postgresql://svc:planted-dburl-0c3d@db.internal/prod",
}


@pytest.fixture(scope="module")
def store() -> Iterator[ExternalStore]:
    with external_store() as started:
        yield started


@pytest.fixture(scope="module")
def team_run(store: ExternalStore, tmp_path_factory: pytest.TempPathFactory) -> tuple[
        CliRun, dict[str, object]]:
    before = {"databases": store.databases(), "rows": store.team_rows(),
              "objects": store.objects()}
    out = tmp_path_factory.mktemp("external") / "out"
    run = run_cli("run", "--from", "2.9.2", "--to", "3.4.0", "--no-bench", "--no-matrix",
                  "-k", SCENARIOS, *store.args(bucket=TEAM_BUCKET), "--out", str(out),
                  env={**store.env(), **PLANTED_ENV})
    return run, before


def test_the_run_passes_on_the_teams_stores(team_run: tuple[CliRun, dict[str, object]]) -> None:
    run, _ = team_run
    assert run.code == 0, run.stderr[-3000:]
    results = json.loads((run.out / "results.json").read_text())
    assert results["services"]["provider"] == "external"
    scenarios = {c["scenario"] for c in results["checks"] if c["status"] == "passed"}
    assert {"tracking", "registration", "migration"} <= scenarios


def test_the_teams_database_and_objects_are_untouched_and_nothing_is_left(
    store: ExternalStore, team_run: tuple[CliRun, dict[str, object]]
) -> None:
    run, before = team_run
    run_id = json.loads((run.out / "results.json").read_text())["run_id"]
    # The harness migrated only databases it created, and dropped them all again.
    assert store.databases() == before["databases"]
    assert store.team_rows() == before["rows"]
    with store.admin.connect(TEAM_DATABASE) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()}
    assert tables == {"model_versions"}  # no alembic_version: never migrated
    # Its artifacts went under its own prefix of the team's bucket and are gone again; the
    # team's objects are as they were.
    assert store.objects() == before["objects"]
    assert set(store.objects()[TEAM_BUCKET]) == set(TEAM_OBJECTS)
    assert harness_processes(run_id) == set() and run_folders(run_id) == set()


def test_no_planted_secret_reaches_any_file_or_output(
    team_run: tuple[CliRun, dict[str, object]]
) -> None:
    run, _ = team_run
    planted = [PLANTED_PG_PASSWORD, PLANTED_S3_SECRET, *PLANTED_ENV.values(),
               "planted-dburl-0c3d"]
    files = [p for p in run.out.rglob("*") if p.is_file()]
    assert len(files) >= 8 and any(p.parent.name == "logs" for p in files)
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        for secret in planted:
            assert secret not in text, f"{secret} in {path}"
    for secret in planted:
        assert secret not in run.stdout + run.stderr


def test_two_runs_at_once_on_the_same_stores_and_cache_do_not_collide(
    store: ExternalStore, tmp_path: Path
) -> None:
    before = {"databases": store.databases(), "objects": store.objects()}
    cache = tmp_path / "shared-cache"  # cold, shared: both runs build the same environments
    procs = []
    for name in ("a", "b"):
        argv = harness_cmd("run", "--from", "2.9.2", "--to", "3.4.0", "--no-bench", "--quiet",
                           "--no-matrix", "-k", "test_tracking or test_registration",
                           *store.args(bucket=TEAM_BUCKET), "--cache-dir", str(cache),
                           "--out", str(tmp_path / name))
        procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True,
                                      env={**os.environ, **store.env()}))
        time.sleep(0.2)
    outputs = [p.communicate(timeout=900) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    results = [json.loads((tmp_path / n / "results.json").read_text()) for n in ("a", "b")]
    assert results[0]["run_id"] != results[1]["run_id"]
    digests = [{s["role"]: s["env_digest"] for s in r["sides"]} for r in results]
    assert digests[0] == digests[1]  # one cache, built once, used by both
    assert sorted(p.name for p in (cache / "envs").iterdir() if p.is_dir()) == sorted(
        digests[0].values())
    assert store.databases() == before["databases"] and store.objects() == before["objects"]
    for result in results:
        assert harness_processes(result["run_id"]) == set()


def test_wrong_database_credentials_are_one_line(store: ExternalStore, tmp_path: Path) -> None:
    dsn = store.postgres.dsn("postgres").replace(PLANTED_PG_PASSWORD, "wrong-pw-4e1a")
    run = run_cli("run", "--from", "2.9.2", "--to", "3.4.0", "--quiet", "--provider",
                  "external", "--postgres-dsn", dsn, "--s3-endpoint",
                  store.s3.location.endpoint_url, "--out", str(tmp_path / "out"),
                  env=store.env())
    lines = run.stderr.strip().splitlines()
    assert run.code == 2 and len(lines) == 1, run.stderr
    assert "password authentication failed" in lines[0]
    assert "wrong-pw-4e1a" not in run.stderr + (run.out / "results.json").read_text()
