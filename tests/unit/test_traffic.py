"""The replay of a team's traffic without servers: the recording's format and files, redaction,
imports, id mapping, the Diffy-style comparison (noise learned, differences beyond it), the
replay loop against in-process stand-in servers, and the phase result's say on the verdict."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from harness.errors import UsageError
from harness.results.phase import Upgrade
from harness.traffic.compare import Comparison, leaves, short_name, sign_test
from harness.traffic.config import TrafficConfig, record_settings
from harness.traffic.exchange import (
    Body,
    Exchange,
    RotatingWriter,
    header,
    parts,
    read_recording,
    route_of,
)
from harness.traffic.ids import IdMap
from harness.traffic.importers import ACCESS_LOG, HAR, RECORDING, kind_of, read_traffic
from harness.traffic.record import body_of, redact_exchange
from harness.traffic.redaction import REDACTED, Redactor
from harness.traffic.replay import NO_BODY, Replay, request_of
from harness.traffic.result import TrafficResult
from harness.traffic.transport import Answer

SECRETS = ("hunter2-secret-pw", "tok-abcdef-123456", "cookie-value-42")


def test_routes_read_ajax_api_as_api_and_ids_as_stars() -> None:
    assert route_of("/ajax-api/2.0/mlflow/runs/search") == "/api/2.0/mlflow/runs/search"
    assert route_of("/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/f.txt") == \
        "/api/2.0/mlflow-artifacts/artifacts/*"
    assert route_of(f"/api/2.0/mlflow/logged-models/m-{'a' * 32}") == \
        "/api/2.0/mlflow/logged-models/*"


def test_recording_rotates_bounds_and_reads_back_as_a_stream(tmp_path: Path) -> None:
    first = tmp_path / "t.jsonl"
    writer = RotatingWriter(first, header("http://x", "now", []), rotate_bytes=600,
                            max_bytes=2000)
    written = 0
    for seq in range(1, 40):
        exchange = Exchange(seq, "POST", "/api/2.0/mlflow/runs/search", "",
                            Body("application/json", {"experiment_ids": ["1"]}, is_json=True),
                            200, Body("application/json", {"runs": []}, is_json=True), 3.0)
        if not writer.write(exchange.to_dict()):
            break
        written += 1
    writer.close()
    assert 1 < len(parts(first)) == len(writer.files)
    assert writer.written <= 2000
    back = list(read_recording(first))
    assert [e.seq for e in back] == list(range(1, written + 1))
    assert back[0].request.json == {"experiment_ids": ["1"]} and back[0].status == 200
    assert kind_of(first) == RECORDING


def test_redaction_drops_secret_fields_params_queries_and_echoes() -> None:
    redactor = Redactor(["team_secret_field"])
    redactor.begin()
    body = redactor.json({"password": SECRETS[0], "key": "db_password", "value": SECRETS[1],
                          "team_secret_field": "x", "next_page_token": "abc",
                          "max_tokens": 10, "note": "Bearer abcdefghijklmnop"})
    assert body["password"] == body["value"] == body["team_secret_field"] == REDACTED
    assert body["next_page_token"] == "abc" and body["max_tokens"] == 10
    assert "abcdefghijklmnop" not in body["note"]
    assert redactor.query(f"token={SECRETS[2]}&run_id=1") == "token=%3Credacted%3E&run_id=1"
    assert "run_id=1" in redactor.query("run_id=1")
    # the server's answer quoting the request's secret value is scrubbed too
    answer = body_of(json.dumps({"message": f"value={SECRETS[1]} refused"}).encode(),
                     "application/json", "/api/2.0/mlflow/runs/log-parameter", redactor)
    assert SECRETS[1] not in json.dumps(answer.json)


def test_artifact_and_binary_bodies_keep_size_and_digest_only() -> None:
    path = "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/model.pkl"
    body = body_of(b"secret model bytes", "application/octet-stream", path, Redactor())
    assert body.size == 18 and len(body.sha256) == 64 and body.text is None
    assert body_of(b"\xff\xfe", "", "/api/2.0/mlflow/x", Redactor()).size == 2


def _har(tmp_path: Path) -> Path:
    entries = [{
        "startedDateTime": "2026-01-01T10:00:00Z", "time": 12.5,
        "request": {"method": "POST", "url": f"https://mlflow.example/api/2.0/mlflow/runs/"
                    f"search?token={SECRETS[1]}", "headers": [
                        {"name": "Cookie", "value": SECRETS[2]}],
                    "postData": {"mimeType": "application/json",
                                 "text": json.dumps({"password": SECRETS[0]})}},
        "response": {"status": 200, "content": {"mimeType": "application/json",
                                                "text": '{"runs": []}'}}},
        {"startedDateTime": "2026-01-01T10:00:01Z", "time": 1,
         "request": {"method": "GET", "url": "https://mlflow.example/static/app.js"},
         "response": {"status": 200, "content": {}}}]
    path = tmp_path / "ui.har"
    path.write_text(json.dumps({"log": {"entries": entries}}))
    return path


def test_har_import_is_redacted_and_keeps_mlflow_routes_only(tmp_path: Path) -> None:
    path = _har(tmp_path)
    assert kind_of(path) == HAR
    (exchange,) = list(read_traffic(path))
    assert exchange.route == "/api/2.0/mlflow/runs/search" and exchange.status == 200
    assert exchange.response is not None and exchange.response.json == {"runs": []}
    text = json.dumps(exchange.to_dict())
    assert not any(secret in text for secret in SECRETS)


def test_access_logs_nginx_and_alb(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text(
        '10.0.0.1 - - [01/Jan/2026:10:00:00 +0000] "GET /api/2.0/mlflow/runs/get?run_id=abc '
        'HTTP/1.1" 200 512 "-" "python-requests" 0.012\n'
        '10.0.0.1 - - [01/Jan/2026:10:00:01 +0000] "POST /api/2.0/mlflow/runs/search '
        'HTTP/1.1" 200 99 "-" "-"\n'
        'https 2026-01-01T10:00:02.1Z app/lb 1.2.3.4:5 10.0.0.2:80 0.001 0.020 0.000 404 404 '
        '10 20 "GET https://mlflow:443/api/2.0/mlflow/experiments/get?experiment_id=3 '
        'HTTP/1.1" "ua" - -\nnot a log line\n')
    assert kind_of(path) == ACCESS_LOG
    exchanges = list(read_traffic(path))
    assert [(e.method, e.route, e.status) for e in exchanges] == [
        ("GET", "/api/2.0/mlflow/runs/get", 200), ("POST", "/api/2.0/mlflow/runs/search", 200),
        ("GET", "/api/2.0/mlflow/experiments/get", 404)]
    assert exchanges[0].ms == pytest.approx(12.0) and exchanges[2].ms == pytest.approx(21.0)
    config = TrafficConfig.from_values({"replay": [str(path)]})
    assert config.kinds == (ACCESS_LOG,)


def test_a_file_that_is_no_traffic_is_refused_in_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    with pytest.raises(UsageError, match="not a recording"):
        TrafficConfig.from_values({"replay": [str(junk)]})
    with pytest.raises(UsageError, match="no such file"):
        TrafficConfig.from_values({"replay": [str(tmp_path / "none")]})
    with pytest.raises(UsageError, match="give --replay"):
        TrafficConfig.from_values({"inject_fault": ["/api/x=a"]})


def _record_values(**given: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"record_out": "/tmp/x.jsonl", "max_size": 10, "rotate_size": 5,
                              "max_body": 100, "duration": 60.0, "redact_field": [],
                              "proxy_set": [], "import": None, "upstream": "http://h:5000",
                              "listen": "127.0.0.1:5001"}
    return values | given


def test_record_settings_checked() -> None:
    settings = record_settings(_record_values())
    assert settings.listen == ("127.0.0.1", 5001) and settings.max_bytes == 10 << 20
    with pytest.raises(UsageError, match="HOST:PORT"):
        record_settings(_record_values(listen="5001"))
    with pytest.raises(UsageError, match="--upstream"):
        record_settings(_record_values(upstream=None))


def test_ids_map_forward_into_requests_and_back_from_answers() -> None:
    ids = IdMap()
    recorded_run, server_run = "a" * 32, "b" * 32
    ids.learn("/api/2.0/mlflow/runs/create", {}, {"run": {"info": {"run_id": recorded_run}}},
              {"run": {"info": {"run_id": server_run}}})
    ids.learn("/api/2.0/mlflow/experiments/create", {}, {"experiment_id": "123"},
              {"experiment_id": "4"})
    ids.learn("/api/2.0/mlflow/model-versions/create", {"name": "m"},
              {"model_version": {"version": "7"}}, {"model_version": {"version": "1"}})
    path, query, body = ids.request(
        f"/api/2.0/mlflow-artifacts/artifacts/123/{recorded_run}/artifacts/x",
        f"run_id={recorded_run}&experiment_id=123&name=m&version=7",
        {"experiment_ids": ["123"], "source": f"runs:/{recorded_run}/model",
         "name": "m", "version": "7", "other": "123"})
    assert path == f"/api/2.0/mlflow-artifacts/artifacts/4/{server_run}/artifacts/x"
    assert query == f"run_id={server_run}&experiment_id=4&name=m&version=1"
    assert body == {"experiment_ids": ["4"], "source": f"runs:/{server_run}/model",
                    "name": "m", "version": "1", "other": "123"}
    assert ids.answer({"run": {"info": {"run_id": server_run, "experiment_id": "4",
                                        "artifact_uri": f"mlflow-artifacts:/4/{server_run}"}}}) \
        == {"run": {"info": {"run_id": recorded_run, "experiment_id": "123",
                             "artifact_uri": f"mlflow-artifacts:/123/{recorded_run}"}}}


def test_key_value_lists_compare_by_key_and_fields_share_noise_by_entity() -> None:
    found = leaves({"run": {"data": {"tags": [{"key": "b", "value": 2},
                                              {"key": "a", "value": 1}]}}})
    assert found["run.data.tags[a].value"] == 1
    assert short_name("runs[].info.start_time") == short_name("run.info.start_time") == \
        "info.start_time"
    assert sign_test(0, 5) == 1.0 and sign_test(10, 0) == pytest.approx(2 ** -10)


def test_noise_learned_on_an_entity_holds_where_another_entity_lists_it() -> None:
    comparison = Comparison()
    created = "/api/2.0/mlflow/model-versions/create"
    comparison.add(_exchange(1, created), {"model_version.creation_timestamp": 10},
                   {"model_version.creation_timestamp": 12},
                   {"model_version.creation_timestamp": 15})
    # the registered model lists that version: A and B stamped it in the same millisecond
    listed = "registered_model.latest_versions[].creation_timestamp"
    comparison.add(_exchange(2, "/api/2.0/mlflow/registered-models/get"),
                   {listed: 20, "registered_model.name": "m"},
                   {listed: 20, "registered_model.name": "m"},
                   {listed: 24, "registered_model.name": "renamed"})
    assert [name for _r, name, _s in comparison.beyond_noise()] == ["registered_model.name"]


def _exchange(seq: int, route: str = "/api/2.0/mlflow/runs/get") -> Exchange:
    return Exchange(seq, "GET", route, f"run_id={seq}")


def test_noise_is_learned_and_a_difference_beyond_it_is_reported() -> None:
    comparison = Comparison()
    for seq in range(30):
        base = {"<status>": 200, "run.info.status": "FINISHED", "run.info.time": seq}
        new = dict(base, **{"run.info.status": "KILLED"})
        # a timestamp: A and B disagree on two requests in three, the new server as often
        a, b = dict(base), dict(base, **{"run.info.time": seq + (1 if seq % 3 else 0)})
        later = seq if seq % 3 == 1 else seq + 2
        comparison.add(_exchange(seq), a, b, dict(new, **{"run.info.time": later}))
    reported = {(route, name) for route, name, _ in comparison.beyond_noise()}
    assert reported == {("/api/2.0/mlflow/runs/get", "run.info.status")}
    assert "/api/2.0/mlflow/runs/get run.info.time" in comparison.noise_fields()


def test_a_noisy_field_the_new_server_breaks_far_more_often_is_reported() -> None:
    comparison = Comparison()
    for seq in range(40):
        noisy = seq % 10 == 0  # A and B disagree on one request in ten
        a, b = {"order": "x"}, {"order": "y" if noisy else "x"}
        comparison.add(_exchange(seq), a, b, {"order": "z"})
    assert [name for _r, name, _s in comparison.beyond_noise()] == ["order"]


class Echo:
    """A stand-in server: answers runs/create with its own run id, anything else with the
    request's body (and a timestamp that differs per server), or a fault."""

    def __init__(self, name: str, fault: bool = False) -> None:
        self.name, self.fault, self.created = name, fault, 0

    def send(self, method: str, target: str, body: bytes | None,
             headers: dict[str, str]) -> Answer:
        if target.startswith("/api/2.0/mlflow/runs/create"):
            self.created += 1
            run_id = hashlib.md5(f"{self.name}{self.created}".encode()).hexdigest()
            return Answer(200, 0.01, {"run": {"info": {"run_id": run_id, "start_time": 5}}},
                          True)
        payload = {"target": target, "status": "KILLED" if self.fault else "FINISHED",
                   "time": hash(self.name) % 1000}
        return Answer(200, 0.01 + (0.005 if self.fault else 0), payload, True)

    def close(self) -> None:
        pass


def test_replay_maps_ids_learns_noise_and_reports_only_the_fault() -> None:
    recorded = "f" * 32
    exchanges = [Exchange(1, "POST", "/api/2.0/mlflow/runs/create", "",
                          Body("application/json", {"experiment_id": "0"}, is_json=True), 200,
                          Body("application/json", {"run": {"info": {"run_id": recorded}}},
                               is_json=True))]
    exchanges += [Exchange(seq, "GET", "/api/2.0/mlflow/runs/get", f"run_id={recorded}")
                  for seq in range(2, 40)]
    exchanges.append(Exchange(40, "POST", "/api/2.0/mlflow/runs/search", ""))  # no body
    replay = Replay({"a": Echo("alpha"), "b": Echo("beta"), "new": Echo("new", fault=True)},
                    threshold=0.2)
    counts = replay.run(exchanges)
    assert counts.replayed == 39 and counts.skipped == {NO_BODY: 1}
    data = replay.summary(Upgrade("2.9.2", "3.4.0"))
    assert [(d["route"], d["field"], d["classification"]) for d in data["differences"]] == [
        ("/api/2.0/mlflow/runs/get", "status", "unexpected")]
    # the mapped run id reads back as the recorded one: no noise, no difference
    assert "/api/2.0/mlflow/runs/get target" not in " ".join(data["noise"]["shown"])
    assert data["ids_mapped"] == {"a": 1, "b": 1, "new": 1}
    assert "/api/2.0/mlflow/runs/get time" in data["noise"]["shown"]
    timing = data["timing"]["routes"]["/api/2.0/mlflow/runs/get"]
    assert timing["ratio"] == pytest.approx(1.5) and timing["verdict"] == "regression"
    result = TrafficResult(data)
    assert result.blocking(Upgrade("2.9.2", "3.4.0"))[0].startswith(
        "1 undocumented difference(s) in your replayed traffic")
    assert any("slower" in reason for reason in result.caveats(Upgrade("2.9.2", "3.4.0")))


def test_documented_and_known_defect_differences_are_caveats() -> None:
    def item(classification: str, catalog_id: str) -> dict[str, Any]:
        return {"route": "/r", "field": "f", "classification": classification,
                "catalog_id": catalog_id, "count": 1, "seen": 1, "examples": []}
    result = TrafficResult({"differences": [item("expected", "traffic-run-outputs"),
                                            item("known_defect", "some-defect")]})
    upgrade = Upgrade("2.9.2", "3.4.0")
    assert result.blocking(upgrade) == []
    caveats = " ".join(result.caveats(upgrade))
    assert "traffic-run-outputs" in caveats and "some-defect" in caveats


def test_requests_are_rebuilt_per_server() -> None:
    ids = IdMap()
    exchange = Exchange(1, "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/r/artifacts/f", "",
                        Body("text/plain", size=100, sha256="ab" * 32))
    target, body, headers = request_of(exchange.request, ids, exchange)
    assert body is not None and len(body) == 100 and headers["Content-Type"] == "text/plain"
    again = redact_exchange(exchange, Redactor())
    assert again.request.size == 100


def test_your_traffic_section_is_first_after_the_verdict_and_results_validate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jsonschema

    from harness.reports.writers import write_reports
    from harness.results.model import SCHEMA_PATH, load_results
    from tests.unit.test_report_writers import full_results

    replay = Replay({"a": Echo("alpha"), "b": Echo("beta"), "new": Echo("new", fault=True)},
                    threshold=0.2)
    replay.run([Exchange(seq, "GET", "/api/2.0/mlflow/runs/get", f"run_id={seq}")
                for seq in range(1, 12)])
    data = replay.summary(Upgrade("2.9.2", "3.4.0"))
    data["recording"] = {"files": ["/x/traffic.jsonl"], "kinds": ["recording"], "lacks": ""}
    data["servers"] = {"starting_state": "an empty database"}
    results = full_results()
    results.traffic = TrafficResult(data)
    monkeypatch.setenv("MLFLOW_UPGRADE_HARNESS_CHROMIUM", str(tmp_path / "no-chromium"))
    write_reports(results, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert report.index("## Your traffic") < report.index("## Old vs new")
    assert "`/api/2.0/mlflow/runs/get` | `status`" in report
    assert 'id="traffic"' in (tmp_path / "report.html").read_text()
    document = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    assert load_results(tmp_path / "results.json").traffic == results.traffic
    results.traffic = None
    write_reports(results, tmp_path / "none")
    assert "traffic" not in json.loads((tmp_path / "none" / "results.json").read_text())


def test_a_damaged_recording_line_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(header("u", "now", [])) + '\n{"seq": 1, "method": "GET", '
                    '"path": "/api/x"}\n{"broken\n')
    with pytest.raises(UsageError, match=r"t.jsonl:3: not a recorded exchange"):
        list(read_recording(path))


def test_record_without_mitmproxy_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    from harness.traffic.record import INSTALL_HINT, RecordSettings, record

    monkeypatch.setitem(sys.modules, "mitmproxy", None)  # import mitmproxy → ImportError
    with pytest.raises(UsageError) as raised:
        record(RecordSettings(tmp_path / "t.jsonl", "http://127.0.0.1:1"), print)
    assert str(raised.value) == INSTALL_HINT and "[record]" in INSTALL_HINT
    assert not (tmp_path / "t.jsonl").exists()


def test_record_import_turns_a_har_file_into_a_redacted_recording(tmp_path: Path) -> None:
    from harness.traffic.record import RecordSettings, import_traffic

    out = tmp_path / "imported.jsonl"
    said: list[str] = []
    assert import_traffic(RecordSettings(out, import_file=_har(tmp_path),
                                         redact_fields=("runs",)), said.append) == 0
    text = out.read_text()
    assert not any(secret in text for secret in SECRETS)
    (exchange,) = list(read_recording(out))
    assert exchange.response is not None and exchange.response.json == {"runs": REDACTED}
    assert said == [f"imported 1 requests into 1 file(s): {out}"]


def test_report_merges_keep_the_traffic_of_the_shard_that_replayed() -> None:
    from harness.results.merge import merge
    from tests.unit.test_report_writers import full_results

    shard, full = full_results(), full_results()
    shard.run_id, full.run_id = "shard", "full"
    full.traffic = TrafficResult({"differences": []})
    assert merge([shard, full]).traffic == full.traffic
