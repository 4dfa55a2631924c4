"""SQL statements per operation and side: what ran between two `pg_stat_statements`
snapshots (`bench/statements.py`), the untimed pass that takes them around one call per side
(`bench/probe.py`), and the local PostgreSQL that preloads the extension."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest

from harness.bench.probe import Probe, StatementReader, probe_order
from harness.bench.statements import Row, ran_between, shape, shape_deltas, steady, summary
from harness.errors import ClientCallError, ServiceError
from harness.progress import Progress
from harness.services.postgres_local import STAT_STATEMENTS_ARGS, PgBinaries


@pytest.mark.parametrize(("query", "expected"), [
    ('SELECT registered_models.name AS registered_models_name FROM registered_models '
     'WHERE registered_models.name = $1', "SELECT … FROM registered_models"),
    ("SELECT a.x FROM inputs JOIN datasets ON a LEFT OUTER JOIN input_tags AS t ON b "
     "JOIN datasets ON c", "SELECT … FROM inputs JOIN datasets, input_tags"),
    ('SELECT $2 FROM ONLY "public"."runs" x WHERE "run_uuid" OPERATOR(pg_catalog.=) $1 '
     "FOR KEY SHARE OF x", "key check on runs"),
    ("INSERT INTO runs (run_uuid, name) VALUES ($1, $2)", "INSERT INTO runs"),
    ("UPDATE model_versions SET current_stage=$1 WHERE name = $2", "UPDATE model_versions"),
    ("DELETE FROM tags WHERE key = $1", "DELETE FROM tags"),
    ("SELECT count(*) FROM (SELECT x FROM runs) AS anon_1", "SELECT … FROM runs"),
    ("SELECT $1", "SELECT $1"), ("BEGIN", "BEGIN"), ("commit", "COMMIT"),
    ("SET search_path TO x", "SET search_path"),
    ("release savepoint sa_1", "RELEASE SAVEPOINT"),
])
def test_statement_shapes_keep_the_verb_and_tables(query: str, expected: str) -> None:
    assert shape(query) == expected


def test_statements_between_two_snapshots() -> None:
    before = {1: Row("BEGIN", 10, 0.1), 2: Row("SELECT x FROM  runs\n WHERE a = $1", 4, 2.0),
              3: Row("SELECT $1", 7, 0.5)}
    after = {1: Row("BEGIN", 12, 0.12), 2: Row("SELECT x FROM  runs\n WHERE a = $1", 5, 2.25),
             3: Row("SELECT $1", 7, 0.5), 4: Row("INSERT INTO tags (k) VALUES ($1)", 1, 0.3)}
    ran = ran_between(before, after)
    assert [(s["query"], s["calls"], s["ms"]) for s in ran] == [
        ("BEGIN", 2, 0.02), ("INSERT INTO tags (k) VALUES ($1)", 1, 0.3),
        ("SELECT x FROM runs WHERE a = $1", 1, 0.25)]
    assert summary(ran)["statements"] == 4 and summary(ran)["transactions"] == 2
    assert summary(ran_between(after, after)) == {"statements": 0, "transactions": 0,
                                                   "db_ms": 0, "queries": []}


def test_shape_differences_name_what_a_version_adds_before_the_routine() -> None:
    old = [{"shape": "BEGIN", "calls": 1}, {"shape": "SELECT … FROM runs", "calls": 2}]
    new = [{"shape": "BEGIN", "calls": 2}, {"shape": "SELECT … FROM runs", "calls": 2},
           {"shape": "SELECT … FROM experiments", "calls": 2}]
    assert list(shape_deltas(old, new).items()) == [("SELECT … FROM experiments", 2),
                                                     ("BEGIN", 1)]


class FakeReader(StatementReader):
    """pg_stat_statements as counters per database that the fake agent's calls bump."""

    def __init__(self, statements: dict[tuple[str, str, str], int]) -> None:
        super().__init__(SimpleNamespace())  # type: ignore[arg-type]
        self.counts: dict[str, dict[str, Row]] = {}
        self.statements = statements  # (database, url, op) → statements one call runs
        self.once: set[tuple[str, str]] = set()  # (database, op): 4 more in its first call

    def open(self) -> bool:
        return True

    def snapshot(self, database: str) -> dict[Any, Row]:
        return dict(self.counts.get(database, {}))

    def bump(self, database: str, query: str, calls: int) -> None:
        rows = self.counts.setdefault(database, {})
        row = rows.get(query, Row(query, 0, 0.0))
        rows[query] = Row(query, row.calls + calls, row.total_ms + 0.1 * calls)


class FakeAgent:
    def __init__(self, name: str, reader: FakeReader, databases: dict[str, str],
                 failing: str = "") -> None:
        self.name, self.reader, self.databases, self.failing = name, reader, databases, failing
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.ready: dict[str, Any] = {}

    def call(self, path: Path, function: str, timeout: float, **kwargs: Any) -> Any:
        self.calls.append((function, kwargs))
        if function == "probe_ready":
            self.ready = kwargs
            self.reader.bump(self.databases[kwargs["server"]], "SELECT … ready", 1)  # untimed
            return None
        op, url = self.ready["op"], self.ready["server"]
        if op == self.failing:
            raise ClientCallError(f"probe_call: boom in {op}")
        database = self.databases[url]
        count = self.reader.statements.get((database, self.name, op), 1)
        self.reader.bump(database, f"SELECT {op} FROM t", count)
        if (database, op) in self.reader.once:  # a cache that expires: in one call only
            self.reader.once.remove((database, op))
            self.reader.bump(database, "SELECT … FROM webhooks", 4)
        return {"requests": 1, "routes": {f"GET /{op}": 1}, "http_s": 0.001, "own_s": 0.001,
                "seconds": 0.002}


def _probe(statements: dict[tuple[str, str, str], int], failing: str = ""
           ) -> tuple[Probe, FakeReader]:
    reader = FakeReader(statements)
    databases = {"http://old": "db_from", "http://new": "db_to"}
    fixed = FakeAgent("fixed", reader, databases, failing)
    clients = SimpleNamespace(
        fixed=[fixed], urls={"old": "http://old", "new": "http://new"},
        contexts={"old": {"experiment_id": "1"}, "new": {"experiment_id": "2"}},
        own=SimpleNamespace(agents={"old": FakeAgent("own-old", reader, databases),
                                    "new": FakeAgent("own-new", reader, databases)},
                            server="http://new", contexts={"old": {}, "new": {}}))
    session = SimpleNamespace(sides={"from": SimpleNamespace(database="db_from"),
                                     "to": SimpleNamespace(database="db_to")})
    probe = Probe(clients, session, Progress(quiet=True), reader)  # type: ignore[arg-type]
    return probe, reader


def _result() -> dict[str, Any]:
    return {"server_side": {"operations": {"get_run": {"verdict": "unchanged"},
                                           "create_run": {"verdict": "regression"},
                                           "upload_64mb": {"verdict": "inconclusive"}}},
            "client_side": {"operations": {"get_run": {"verdict": "inconclusive"}}}}


def test_probe_order_puts_regressions_and_undecided_operations_first() -> None:
    assert probe_order(_result()) == [("server_side", "create_run"),
                                      ("client_side", "get_run"), ("server_side", "get_run")]


def test_the_probe_counts_each_sides_statements_for_its_call_only() -> None:
    probe, _ = _probe({("db_to", "fixed", "create_run"): 3,
                       ("db_to", "own-new", "get_run"): 2})
    result = _result()
    outcome = probe.run(result)
    assert outcome["sql"] is True and outcome["probed"] == 3 and "not_probed" not in outcome
    create = result["server_side"]["operations"]["create_run"]["probe"]
    assert (create["old"]["statements"], create["new"]["statements"]) == (1, 3)
    assert create["new"]["queries"] == [{"query": "SELECT create_run FROM t", "shape":
                                         "SELECT … FROM t", "calls": 3, "ms": 0.3}]
    own = result["client_side"]["operations"]["get_run"]["probe"]
    assert (own["old"]["statements"], own["new"]["statements"]) == (1, 2), \
        "both clients call the new server: each call's statements are its own"
    assert "probe" not in result["server_side"]["operations"]["upload_64mb"]
    calls = [name for name, _ in probe.clients.fixed[0].calls]
    assert calls.count("probe_ready") == 4, "two operations of the server side, two sides each"
    assert calls.count("probe_call") == 2 * 2 + 2 * 1, (
        "per side twice for the regression, once for the unchanged one")


def test_a_statement_only_one_of_the_calls_ran_is_not_what_the_version_does() -> None:
    probe, reader = _probe({("db_to", "fixed", "create_run"): 3})
    reader.once.add(("db_to", "create_run"))
    result = _result()
    probe.run(result)
    new = result["server_side"]["operations"]["create_run"]["probe"]["new"]
    assert new["statements"] == 3 and new["statements_range"] == [3, 7]
    assert [q["shape"] for q in new["queries"]] == ["SELECT … FROM t"]
    assert steady([[{"query": "a", "calls": 2, "ms": 0.2}, {"query": "b", "calls": 1, "ms": 1}],
                   [{"query": "a", "calls": 3, "ms": 0.1}]]) == [
        {"query": "a", "calls": 2, "ms": 0.1}]


def test_a_probe_that_runs_out_of_time_or_fails_lists_what_it_left() -> None:
    probe, _ = _probe({}, failing="create_run")
    result = _result()
    outcome = probe.run(result)
    assert "probe" not in result["server_side"]["operations"]["create_run"]
    assert outcome["probed"] == 2 and outcome["not_probed"] == ["create_run (server)"]
    probe, _ = _probe({})
    outcome = probe.run(_result(), limit_s=-1)
    assert outcome["probed"] == 0 and len(outcome["not_probed"]) == 3
    assert probe.run({"server_side": {"operations": {}}}) == {"sql": False, "seconds": 0.0,
                                                              "probed": 0}


class Connection:
    def __init__(self, fail_on: str) -> None:
        self.fail_on, self.executed = fail_on, []  # type: ignore[var-annotated]

    def execute(self, statement: str, *args: object) -> None:
        self.executed.append(statement)
        if self.fail_on and self.fail_on in statement:
            raise psycopg.errors.ObjectNotInPrerequisiteState(
                "pg_stat_statements must be loaded via shared_preload_libraries")

    def close(self) -> None:
        pass


@pytest.mark.parametrize("owned", [True, False])
def test_statements_unavailable_are_said_once_and_only_owned_servers_get_the_extension(
    owned: bool,
) -> None:
    connection = Connection(fail_on="FROM pg_stat_statements")
    postgres = SimpleNamespace(owned=owned, server=SimpleNamespace(connect=lambda: connection))
    reader = StatementReader(postgres)  # type: ignore[arg-type]
    assert reader.open() is False
    assert reader.unavailable == ("pg_stat_statements is not available on this PostgreSQL "
                                  "(pg_stat_statements must be loaded via "
                                  "shared_preload_libraries)")
    assert any("CREATE EXTENSION" in s for s in connection.executed) is owned
    assert reader.snapshot("db") is None


def test_an_unreachable_server_is_unavailable_not_an_error() -> None:
    def refuse() -> None:
        raise ServiceError("cannot connect to PostgreSQL at h:1: refused")

    reader = StatementReader(SimpleNamespace(owned=True, server=SimpleNamespace(
        connect=refuse)))  # type: ignore[arg-type]
    assert reader.open() is False and "refused" in reader.unavailable
    assert StatementReader(None).open() is False


def test_local_postgres_preloads_pg_stat_statements_only_where_its_library_is(
    tmp_path: Path,
) -> None:
    with_lib = tmp_path / "15"
    (with_lib / "bin").mkdir(parents=True)
    (with_lib / "lib").mkdir()
    (with_lib / "lib" / "pg_stat_statements.so").write_bytes(b"")
    assert PgBinaries(with_lib / "bin", "test").has_stat_statements
    assert not PgBinaries(tmp_path / "bin", "test").has_stat_statements
    assert "shared_preload_libraries=pg_stat_statements" in STAT_STATEMENTS_ARGS
