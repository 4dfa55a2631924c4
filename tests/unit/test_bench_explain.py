"""What each version does differently per operation, in one line (`bench/explain.py`), on
recorded 2.9.2 → 3.4.0 and 2.9.2 → 3.17.2 benchmarks (each operation's requests per timed call
and one probed call's SQL statements per side), and how the reports show it
(`reports/differs.py`)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from harness.bench.diagnosis import diagnose
from harness.bench.explain import annotate, what_differs
from harness.bench.records import Evidence, PartResult, ProbeNote
from harness.reports.differs import cause_lines, part_lines, probe_note

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "what-differs-2.9.2-3.4.0.json"
RECORDED_3_17 = RECORDED.with_name("what-differs-2.9.2-3.17.2.json")
UVICORN_4 = {"sgi": "uvicorn", "workers": 4}


def _recorded() -> dict[str, Any]:
    """Operations of a real 2.9.2 → 3.4.0 run: their verdicts, the requests of every timed
    call (`http`) and one probed call's requests and statements per side (`probe`)."""
    recorded: dict[str, Any] = json.loads(RECORDED.read_text())
    return recorded


def test_a_client_that_sends_another_request_is_explained_by_it() -> None:
    bench = _recorded()
    item = bench["client_side"]["operations"]["transition_stage"]
    found = what_differs("client_side", "transition_stage", item, "2.9.2", "3.4.0")
    assert found["explained"] is True
    assert found["explanation"].startswith(
        "the 3.4.0 client sends 2 requests where 2.9.2 sent 1 "
        "(+1 × GET /api/2.0/mlflow/registered-models/get)")
    assert "the server runs 8 more statement(s) per transition_stage (18 vs 10" in \
        found["explanation"]
    assert found["differences"]["requests"] == {
        "old": 1.0, "new": 2.0, "routes": {"GET /api/2.0/mlflow/registered-models/get": 1.0}}
    assert found["differences"]["statements"]["shapes"][
        "SELECT … FROM registered_models JOIN registered_model_tags"] == 1


@pytest.mark.parametrize(("recorded", "part", "op", "explanation"), [
    # same requests, statements and own work: the client does nothing differently
    (RECORDED, "client_side", "create_run",
     "same requests (1 per call); same 13 SQL statement(s); similar own work (1.1 ms vs 1.1 ms): "
     "not a difference in what the client does (the difference is the server's or noise)"),
    # 2.9.2 → 3.17.2: 3.17.2 drops the pool's pre-ping `SELECT 1` and is still slower
    (RECORDED_3_17, "server_side", "log_param",
     "3.17.2 runs 1 fewer statement(s) per log_param (6 vs 7): -1 × `SELECT $1`; same requests "
     "(1 per call); similar own work (1.0 ms vs 1.0 ms): the extra 1.2 ms is in the server's own "
     "work, not in its requests or SQL"),
    # as many statements, one of them another: not an explanation either
    (RECORDED_3_17, "server_side", "search_model_versions",
     "3.17.2 runs 1 fewer statement(s) per search_model_versions (4 vs 5): +1 × `SELECT … FROM "
     "model_versions JOIN model_version_tags`, -1 × `SELECT … FROM model_versions`, -1 × "
     "`SELECT $1`; same requests (1 per call); similar own work (1.0 ms vs 1.1 ms): the extra "
     "3.1 ms is in the server's own work, not in its requests or SQL"),
])
def test_what_does_not_differ_is_said_and_explains_nothing(
    recorded: Path, part: str, op: str, explanation: str,
) -> None:
    bench = json.loads(recorded.read_text())
    new = "3.17.2" if recorded == RECORDED_3_17 else "3.4.0"
    found = what_differs(part, op, bench[part]["operations"][op], "2.9.2", new)
    assert found["explained"] is False
    assert found["explanation"] == explanation


def test_fewer_statements_do_not_explain_a_faster_call_either() -> None:
    log_param = json.loads(RECORDED_3_17.read_text())["server_side"]["operations"]["log_param"]
    log_param["old_median_s"], log_param["new_median_s"] = (log_param["new_median_s"],
                                                            log_param["old_median_s"])
    found = what_differs("server_side", "log_param", log_param, "2.9.2", "3.17.2")
    assert found["explained"] is False
    assert found["explanation"].endswith(": the difference is in the server's own work, not in "
                                         "its requests or SQL")


def test_own_work_that_differs_too_little_does_not_explain() -> None:
    item = _recorded()["client_side"]["operations"]["register_model_version"]
    found = what_differs("client_side", "register_model_version", item, "2.9.2", "3.4.0")
    assert found["explained"] is False
    assert found["explanation"].startswith("client's own work 4.7 ms with 3.4.0 vs 2.4 ms "
                                           "with 2.9.2; same requests (2 per call)")
    assert found["explanation"].endswith("not a difference in what the client does (the extra "
                                         "7.8 ms is the server's or noise)")
    item["http"]["new"]["own_median_s"] = 0.012  # now 9.6 of the 7.8 ms: the client's work
    assert what_differs("client_side", "register_model_version", item, "2.9.2",
                        "3.4.0")["explained"] is True


def test_a_server_that_runs_more_statements_says_which() -> None:
    item = _recorded()["server_side"]["operations"]["set_get_alias"]
    found = what_differs("server_side", "set_get_alias", item, "2.9.2", "3.4.0")
    assert found["explained"] is True
    assert found["explanation"].startswith(
        "3.4.0 runs 8 more statement(s) per set_get_alias (22 vs 14, in 3 transaction(s) vs "
        "2): ")
    assert "same requests (2 per call)" in found["explanation"]
    item["probe"]["new"] = copy.deepcopy(item["probe"]["old"])  # the same statements
    same = what_differs("server_side", "set_get_alias", item, "2.9.2", "3.4.0")
    assert same["explained"] is False
    assert same["explanation"].endswith("the extra 4.8 ms is in the server's own work, not in "
                                        "its requests or SQL")


def test_more_statements_on_3_17_explain_a_slower_server() -> None:
    alias = json.loads(RECORDED_3_17.read_text())["server_side"]["operations"]["set_get_alias"]
    found = what_differs("server_side", "set_get_alias", alias, "2.9.2", "3.17.2")
    assert found["explained"] is True
    assert found["explanation"].startswith(
        "3.17.2 runs 5 more statement(s) per set_get_alias (19 vs 14, in 3 transaction(s) vs "
        "2): +2 × `SELECT … FROM registered_models`")


def test_a_server_answering_with_more_requests_is_the_servers_doing() -> None:
    item = _recorded()["server_side"]["operations"]["create_run"]
    item["http"]["new"]["requests_per_call"] = 2.0
    item["http"]["new"]["routes"]["GET /api/2.0/mlflow/runs/get"] = 1.0
    found = what_differs("server_side", "create_run", item, "2.9.2", "3.4.0")
    assert found["explanation"].startswith(
        "3.4.0 gets 2 requests from the same 2.9.2 client where 2.9.2 got 1 "
        "(+1 × GET /api/2.0/mlflow/runs/get)")


def test_annotations_leave_unchanged_and_unrecorded_operations_alone() -> None:
    bench = _recorded()
    del bench["client_side"]["operations"]["log_model"]["http"]
    del bench["client_side"]["operations"]["log_model"]["probe"]
    annotate(bench, "3.4.0")
    once = copy.deepcopy(bench)
    annotate(bench, "3.4.0")
    assert bench == once, "annotating twice changes nothing"
    assert "explanation" not in bench["server_side"]["operations"]["create_run"]  # unchanged
    assert "explanation" not in bench["client_side"]["operations"]["log_model"]  # no record
    assert bench["client_side"]["operations"]["create_run"]["explained"] is False


def test_each_cause_carries_what_differs_for_its_operations() -> None:
    groups = diagnose(_recorded(), "3.4.0", UVICORN_4)
    found = {label: entry for group in groups
             for label, entry in group.evidence.get("what_differs", {}).items()}
    assert set(found) == {"set_get_alias (server)", "download_1mb (server)"}
    assert found["set_get_alias (server)"]["explained"] is True
    assert found["download_1mb (server)"]["explained"] is False


def test_reports_show_what_differs_bounded_and_nothing_without_it() -> None:
    bench = _recorded()
    groups = diagnose(bench, "3.4.0", UVICORN_4)
    lines = cause_lines(Evidence.from_dict(groups[0].evidence))
    assert lines[0] == "- What differs:" and len(lines) == 2
    assert lines[1].startswith("  - set_get_alias (server): 3.4.0 runs 8 more statement(s)")
    client = part_lines(PartResult.from_dict("client_side", bench["client_side"]))
    text = "\n".join(client)
    assert "- transition_stage (inconclusive): the 3.4.0 client sends 2 requests" in text
    assert "- create_run, register_model_version: nothing the client does differently" in text
    long = next(line for line in client if line.startswith("- log_model"))
    assert long.endswith("…") and len(long) < 460, "one line per operation, cut to its width"
    assert cause_lines(Evidence()) == []
    assert part_lines(PartResult.from_dict("client_side", {"operations": {}})) == []
    assert probe_note(None) == [] and ProbeNote.from_dict({"probed": 0}) is None
    assert "SQL statements not counted: pg_stat_statements is not available" in probe_note(
        ProbeNote.from_dict({"probed": 3,
                             "sql_unavailable": "pg_stat_statements is not available"}))[1]
