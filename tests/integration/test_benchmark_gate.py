"""The benchmark phase for real: latency injected into one operation fails the gate.

Same version on both sides (2.9.2 → 2.9.2), so the only slowdown is the one injected; the
counts over many gates are in docs/measurements.md (benchmarks/gate_calibration.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import harness_processes, run_cli, run_folders

pytestmark = pytest.mark.integration


def test_injected_latency_fails_the_gate_and_every_output_has_the_samples(
    tmp_path: Path,
) -> None:
    run = run_cli("run", "--from", "2.9.2", "--to", "2.9.2", "--quiet", "--out",
                  str(tmp_path / "out"), "-k", "test_tracking_roundtrip", "--bench-budget", "150",
                  "--inject-latency", "get_run=60")
    assert run.code == 1, run.stderr
    results = json.loads((run.out / "results.json").read_text())
    bench = results["benchmark"]
    server = bench["server_side"]
    get_run = server["operations"]["get_run"]
    assert get_run["verdict"] == "regression", get_run["description"]
    assert 1.3 < get_run["ratio"] < 2.2 and get_run["low"] > 1.2
    assert server["gate"]["passed"] is False and "get_run" in server["gate"]["regressions"]
    assert server["injected_delay_s"]["get_run"] > 0
    assert bench["settings"]["through_proxies"] is True
    assert len(get_run["samples"]["old"]) >= 8 and server["rounds"] >= 8
    assert set(server["operations"]) >= {"create_experiment", "log_batch_1000", "search_runs",
                                         "download_64mb", "log_model", "load_model"}
    assert "client_side" in bench and bench["client_side"]["rounds"] >= 3  # FLOOR_ROUNDS
    assert bench["seconds"] < 150 + 45  # the budget, plus seeding and one large round over it
    report = (run.out / "report.md").read_text()
    assert "more than 20% slower: get_run (server)" in report and "| get_run |" in report
    new = json.loads((run.out / "benchmark-new.json").read_text())
    stored = {b["name"]: b["stats"]["data"] for b in new["benchmarks"]
              if b["group"] == "server-side"}
    assert stored["get_run"] == get_run["samples"]["new"]
    assert harness_processes(results["run_id"]) == set()
    assert run_folders(results["run_id"]) == set()
