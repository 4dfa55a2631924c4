"""The benchmark phase for real, on the set-up users run by default (MLflow's own worker count,
clients talking to the servers directly).

- 2.9.2 → 2.9.2 with latency injected inside the new server on one operation: the gate fails
  on that operation alone, with samples from both kinds of connection in every output.
- 2.9.2 → 3.4.0: where the machine shows 3.4.0's keep-alive latency (uvicorn `--workers N`
  without TCP_NODELAY), it is one cause in the report, with its evidence and source, and the
  gate re-run with the remedy; where it does not, that cause is not named.

The counts over many gates are in docs/measurements.md (benchmarks/gate_calibration.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import median
from typing import Any

import pytest

from tests.integration.conftest import harness_processes, run_cli, run_folders

pytestmark = [pytest.mark.integration, pytest.mark.quiet]  # alone on the machine
CAUSE = "uvicorn-workers-tcp-nodelay"


def test_injected_latency_fails_the_gate_and_every_output_has_the_samples(
    tmp_path: Path,
) -> None:
    run = run_cli("run", "--from", "2.9.2", "--to", "2.9.2", "--quiet", "--out",
                  str(tmp_path / "out"), "-k", "test_tracking_roundtrip", "--bench-budget", "120",
                  "--inject-latency", "get_run=60", default_setup=True)
    assert run.code == 1, run.stderr
    results = json.loads((run.out / "results.json").read_text())
    bench = results["benchmark"]
    server = bench["server_side"]
    get_run = server["operations"]["get_run"]
    assert get_run["verdict"] == "regression", get_run["description"]
    assert 1.3 < get_run["ratio"] < 2.2 and get_run["low"] > 1.2
    assert server["gate"]["passed"] is False and server["gate"]["regressions"] == ["get_run"]
    assert server["injected_delay_s"]["get_run"] > 0
    settings = bench["settings"]
    assert settings["through_proxies"] is False and settings["client_processes"] == 2
    assert {side["server_setup"]["workers_from"] for side in results["sides"]} == {
        "mlflow default"}
    # the gate times kept-alive connections; the regressed operation was re-timed on new
    # ones, and the injected delay is in the server's work: both kinds see it
    assert set(get_run["samples"]["connection"]) == {"reused"}
    assert len(get_run["samples"]["connection"]) == len(get_run["samples"]["old"]) >= 4
    assert set(get_run["by_connection"]) == {"reused", "fresh"}
    assert {m["verdict"] for m in get_run["by_connection"].values()} <= {
        "regression", "inconclusive"}
    assert set(server["operations"]) >= {"create_experiment", "log_batch_1000", "search_runs",
                                         "download_64mb", "log_model", "load_model"}
    assert "client_side" in bench and bench["client_side"]["rounds"] >= 4  # FLOOR_ROUNDS
    assert [c["id"] for c in bench["causes"]] == ["unexplained"]
    # What differs: the same version on both sides sends the same requests and runs the same
    # statements; the injected delay is in the server's own work, and the line says so.
    assert bench["probe"]["sql"] is True, bench["probe"]
    probed = get_run["probe"]
    assert probed["old"]["statements"] == probed["new"]["statements"] > 0
    assert {side: get_run["http"][side]["routes"] for side in ("old", "new")} == {
        side: {"GET /api/2.0/mlflow/runs/get": 1.0} for side in ("old", "new")}
    assert get_run["explained"] is False
    assert get_run["explanation"].endswith("is in the server's own work, not in its requests "
                                           "or SQL"), get_run["explanation"]
    report = (run.out / "report.md").read_text()
    assert "1 with no known cause (get_run (server))" in report and "| get_run |" in report
    new = json.loads((run.out / "benchmark-new.json").read_text())
    stored = {b["name"]: b["stats"]["data"] for b in new["benchmarks"]
              if b["group"] == "server-side"}
    assert stored["get_run"] == get_run["samples"]["new"]
    assert harness_processes(results["run_id"]) == set()
    assert run_folders(results["run_id"]) == set()


REST_CALLS = ("get_run", "create_run", "log_metric", "log_param", "set_tag",
              "search_model_versions", "transition_stage")


def _kept_alive_offset_ms(operation: dict[str, Any]) -> float:
    """New minus old median on kept-alive connections, read from the raw samples (not from
    the diagnosis under test)."""
    samples = operation["samples"]
    pairs = [(o, n) for o, n, c in zip(samples["old"], samples["new"],
                                       samples.get("connection") or [], strict=False)
             if c == "reused"]
    if len(pairs) < 4:
        return 0.0
    return 1000 * (median(n for _, n in pairs) - median(o for o, _ in pairs))


def test_keep_alive_latency_of_3_4_is_one_cause_with_a_verified_remedy(tmp_path: Path) -> None:
    """Whether 3.4.0's uvicorn holds each kept-alive request back ~40 ms depends on the
    machine (measured on this kind: present on some, absent on others). Where the raw samples
    show it on the REST calls, it is one cause with its evidence and a verified remedy; where
    they do not, that cause is not named."""
    run = run_cli("run", "--from", "2.9.2", "--to", "3.4.0", "--quiet", "--no-matrix", "--out",
                  str(tmp_path / "out"), "-k", "test_tracking_roundtrip", "--bench-budget", "120",
                  default_setup=True)
    results = json.loads((run.out / "results.json").read_text())
    bench = results["benchmark"]
    _requests_and_statements_differ_where_3_4_does_more(bench)
    assert "SQL statements from untimed calls per side" in (run.out / "report.md").read_text()
    causes = {c["id"]: c for c in bench["causes"]}
    regressed = set(bench["server_side"]["gate"]["regressions"])
    operations = bench["server_side"]["operations"]
    delayed = [op for op in REST_CALLS if op in operations
               and _kept_alive_offset_ms(operations[op]) > 25]
    report = (run.out / "report.md").read_text()
    if len(delayed) < 4:  # no keep-alive delay on this machine: a cause that cannot apply
        assert CAUSE not in causes, (delayed, causes[CAUSE]["operations"])
    else:
        assert CAUSE in causes, bench["causes"]
        cause = causes[CAUSE]
        grouped = {f"{op} (server)" for op in REST_CALLS} & set(cause["operations"])
        assert len(grouped) >= 4, cause["operations"]  # one call each: ~48 ms instead of ~5
        assert "uvicorn/issues/3149" in cause["source"]
        evidence = cause["evidence"]
        assert 25 <= evidence["median_offset_ms"] <= 80
        for label in grouped:
            modes = evidence["reused_vs_fresh"][label]
            assert modes["reused"] > 1.2 * modes["fresh"], (label, modes)
        remedy = cause["remedy_gate"]
        assert remedy["args"] == ["--workers", "1"] and set(remedy["operations"]) == {
            op for op in regressed if not op.endswith("64mb")}
        fixed = {label.split(" ")[0] for label in grouped} - set(remedy["still_regress"])
        assert len(fixed) >= 3, remedy["operations"]  # with --workers 1 no longer slower
        assert report.count(cause["title"]) == 2, "once in the verdict's reasons, once by cause"
        assert "Gate re-run with `--workers 1`" in report
    # The 64 MB rounds come last (a capped 3.4.0 download keeps a core busy for a minute),
    # and join the artifact cause, whose remedy was verified before them.
    steps = [name for name in results["phases"] if name.startswith("benchmark: ")]
    assert steps[-1] == "benchmark: upload_64mb, download_64mb", steps
    if regressed - {"upload_64mb", "download_64mb"}:  # a remedy is re-checked on those
        assert any(name.startswith("benchmark: verify remedy") for name in steps), steps
    if "download_64mb" in regressed:  # 17-57x in every run measured: decided in 3 rounds
        artifact = causes.get("uvicorn-wsgi-artifact-streaming")
        assert artifact, bench["causes"]
        assert "download_64mb (server)" in artifact["operations"]
        assert artifact["remedy_gate"]["args"] == ["--gunicorn-opts", ""]
    assert run.code == (1 if regressed else 0), run.stderr[-2000:]
    assert harness_processes(results["run_id"]) == set()
    assert run_folders(results["run_id"]) == set()


def _requests_and_statements_differ_where_3_4_does_more(bench: dict[str, Any]) -> None:
    """Per client version, the requests an operation sends; per server, its statements."""
    assert bench["probe"]["sql"] is True and "not_probed" not in bench["probe"], bench["probe"]
    server = bench["server_side"]["operations"]
    for op in ("create_run", "get_run", "log_param"):  # one request each, statements each side
        assert {server[op]["http"][side]["requests_per_call"] for side in ("old", "new")} == {1}
        assert min(server[op]["probe"][side]["statements"] for side in ("old", "new")) > 0, op
    stage = bench["client_side"]["operations"]["transition_stage"]
    http = stage["http"]
    assert (http["old"]["requests_per_call"], http["new"]["requests_per_call"]) == (1, 2)
    assert http["new"]["routes"]["GET /api/2.0/mlflow/registered-models/get"] == 1
    assert stage["probe"]["new"]["statements"] > stage["probe"]["old"]["statements"]
    if stage["verdict"] != "unchanged":
        assert stage["explained"] is True and stage["explanation"].startswith(
            "the 3.4.0 client sends 2 requests where 2.9.2 sent 1"), stage["explanation"]
