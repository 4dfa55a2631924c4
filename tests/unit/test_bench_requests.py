"""The HTTP requests a client sends per timed call: recorded inside the MLflow environment
(`scenarios/clients/_http_log.py`, here against a local HTTP server), then summarized per
operation and side in the harness (`bench/traffic.py`, `analysis.analyse`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from harness.bench.analysis import NEW, OLD, Samples, analyse
from harness.bench.traffic import route_deltas, side_summary
from harness.bench.tuning import BenchSettings
from tests.client_modules import load_client

BODY = b"x" * 200_000


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        status = 404 if "missing" in self.path else 200
        body = BODY if "big" in self.path else b"{}"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def http_log(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The client module, its wrapper on HTTPAdapter.send removed again after the test."""
    monkeypatch.setattr(HTTPAdapter, "send", HTTPAdapter.send)
    return load_client("_http_log")


def test_routes_drop_query_strings_ids_and_artifact_paths(http_log: Any) -> None:
    route = http_log.route
    assert route("GET", "http://h:1/api/2.0/mlflow/runs/get?run_id=ab12") == \
        "GET /api/2.0/mlflow/runs/get"
    assert route("PATCH", "http://h:1/api/2.0/mlflow/logged-models/m-0123456789abcdef0123") == \
        "PATCH /api/2.0/mlflow/logged-models/{id}"
    assert route("GET", "http://h:1/api/2.0/mlflow/experiments/12/x") == \
        "GET /api/2.0/mlflow/experiments/{id}/x"
    assert route("PUT", "http://h:1/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/f.bin") \
        == "PUT /api/2.0/mlflow-artifacts/artifacts/…"
    assert route("GET", "http://h:1/api/2.0/mlflow-artifacts/artifacts?path=a") == \
        "GET /api/2.0/mlflow-artifacts/artifacts"
    assert route("GET", "http://h:1/api/2.0/mlflow-artifacts/presigned/1/ab/artifacts/f.bin") \
        == "GET /api/2.0/mlflow-artifacts/presigned/…"


def test_requests_are_recorded_only_between_start_and_stop(http_log: Any, server: str) -> None:
    with requests.Session() as session:
        session.get(f"{server}/before")
        calls = http_log.start()
        session.get(f"{server}/api/2.0/mlflow/runs/get?run_id=1")
        session.get(f"{server}/api/2.0/mlflow/runs/get?run_id=2")
        streamed = session.get(f"{server}/big", stream=True)
        time.sleep(0.05)
        assert streamed.content == BODY  # read after `send` returned: still HTTP time
        session.get(f"{server}/missing")
        http_log.stop()
        session.get(f"{server}/after")
    record = http_log.requests_of(calls, server)
    assert record["requests"] == 4
    assert record["routes"] == {"GET /api/2.0/mlflow/runs/get": 2, "GET /big": 1,
                                "GET /missing": 1}
    assert record["failed"] == {"GET /missing → 404": 1}
    sent, read = calls[2][3][0], calls[2][3][-1]
    assert read[0] - sent[1] >= 0.05, "the body's reading is a span of its own"
    spans = [span for entry in calls for span in entry[3]]
    assert record["http_s"] == pytest.approx(sum(end - start for start, end in spans), abs=1e-6)


def test_overlapping_requests_count_once_and_other_hosts_apart(http_log: Any) -> None:
    calls = [["GET", "http://s:1/a", 200, [[0.0, 1.0]]],
             ["GET", "http://s:1/b", 200, [[0.5, 1.5], [2.0, 2.5]]],  # in a thread at once
             ["POST", "https://telemetry.example/x", 200, [[0.0, 9.0]]]]
    record = http_log.requests_of(calls, "http://s:1")
    assert record["requests"] == 2 and record["other_hosts"] == 1
    assert record["http_s"] == pytest.approx(2.0)  # [0, 1.5] and [2, 2.5]


def test_requests_from_a_pool_of_threads_are_all_recorded(http_log: Any, server: str) -> None:
    calls = http_log.start()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: requests.get(f"{server}/f/{i}", timeout=10), range(8)))
    http_log.stop()
    assert http_log.requests_of(calls, server)["routes"] == {"GET /f/{id}": 8}


def _record(requests_: int, own: float, routes: dict[str, int]) -> dict[str, Any]:
    return {"requests": requests_, "routes": routes, "http_s": 0.004, "own_s": own}


def test_summary_per_side_and_route_differences() -> None:
    one = {"POST /api/2.0/mlflow/model-versions/transition-stage": 1}
    two = {**one, "GET /api/2.0/mlflow/registered-models/get": 1}
    old = side_summary([_record(1, 0.001, one)] * 4)
    new = side_summary([_record(2, 0.002, two)] * 3 + [_record(1, 0.003, one)])
    assert old["requests_per_call"] == 1 and "requests_range" not in old
    assert new["requests_per_call"] == 1.75 and new["requests_range"] == [1, 2]
    assert new["routes"]["GET /api/2.0/mlflow/registered-models/get"] == 0.75
    assert new["own_median_s"] == 0.002
    assert route_deltas(old, new) == {"GET /api/2.0/mlflow/registered-models/get": 0.75}
    assert route_deltas(old, old) == {}


def test_analysis_carries_each_sides_requests() -> None:
    samples = Samples()
    for index in range(4):
        samples.add({"get_run": {OLD: 0.01, NEW: 0.011 + index * 1e-4}},
                    http={"get_run": {OLD: _record(1, 0.001, {"GET /r": 1}),
                                      NEW: _record(2, 0.001, {"GET /r": 2})}})
    samples.add({"set_tag": {OLD: 0.01, NEW: 0.01}})  # no requests recorded: no `http`
    operations = analyse(samples, BenchSettings())["operations"]
    assert operations["get_run"]["http"][OLD]["requests_per_call"] == 1
    assert operations["get_run"]["http"][NEW]["routes"] == {"GET /r": 2}
    assert "http" not in operations["set_tag"]
