"""Your traffic, recorded and replayed: `record` in front of a real 2.9.2 server while a
scripted client (tests/fixtures/traffic_client.py, in the 2.9.2 environment) sends a team's day
in miniature, with secrets in it; then `run --replay` 2.9.2 → 3.4.0 (documented differences
classified, the two old servers' noise not reported), and 2.9.2 → 2.9.2 with a fault planted in
one route's answers (reported there, and nothing else)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.config import default_cache_dir
from harness.envs.builder import EnvRequest, ensure_env
from harness.envs.spec import parse_spec
from harness.runtime.ports import free_port
from tests.integration.conftest import NEW, OLD, run_cli

pytestmark = [pytest.mark.integration]
CLIENT = Path(__file__).resolve().parents[1] / "fixtures" / "traffic_client.py"
SECRETS = ("tok-5ecret-b3arer-9911", "pa55-w0rd-hunter2-77", "sess-c00kie-4242-zz",
           "basic-pa55-0099-qq")
FAULT = "/api/2.0/mlflow/runs/get=run.info.status"
BOUND_S = 120.0


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = BOUND_S) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited with {process.returncode}"
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds:.0f}s")


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("traffic")
    env = ensure_env(EnvRequest(parse_spec(OLD)), default_cache_dir(), folder)
    server_port, proxy_port = free_port(), free_port()
    server = subprocess.Popen(
        [str(env.bin / "mlflow"), "server", "--backend-store-uri",
         f"sqlite:///{folder / 'db.sqlite'}", "--artifacts-destination", str(folder / "art"),
         "--serve-artifacts", "--host", "127.0.0.1", "--port", str(server_port),
         "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    recorder: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(f"http://127.0.0.1:{server_port}/health", server)
        out = folder / "traffic.jsonl"
        recorder = subprocess.Popen(
            [sys.executable, "-m", "harness", "record", "--upstream",
             f"http://127.0.0.1:{server_port}", "--listen", f"127.0.0.1:{proxy_port}",
             "--out", str(out), "--duration", "300"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        _wait_for(f"http://127.0.0.1:{proxy_port}/health", recorder)
        subprocess.run([str(env.python), str(CLIENT), f"http://127.0.0.1:{proxy_port}"],
                       check=True, timeout=300, capture_output=True)
        recorder.send_signal(signal.SIGTERM)
        stdout, stderr = recorder.communicate(timeout=30)
        assert recorder.returncode == 130, stderr.decode()[-2000:]
        assert b"recorded" in stdout
        yield out
    finally:
        if recorder is not None and recorder.poll() is None:
            recorder.kill()
            recorder.wait(timeout=30)
        # `mlflow server` starts gunicorn in its session: stop them all, not just the CLI
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


def test_a_recording_holds_no_secret(recording: Path) -> None:
    text = recording.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["format"] == "mlflow-upgrade-harness-traffic"
    assert len(lines) > 50
    assert not [secret for secret in SECRETS if secret in text]
    assert "<redacted>" in text  # the password param and the token tag were there
    uploads = [e for e in lines[1:] if e["method"] == "PUT"]
    assert uploads and all(set(e["request"]) == {"type", "size", "sha256"} for e in uploads)


def _traffic(out: Path) -> dict[str, Any]:
    return json.loads((out / "results.json").read_text())["traffic"]  # type: ignore[no-any-return]


def test_replay_old_to_new_classifies_documented_changes_and_learns_noise(
        recording: Path, tmp_path: Path) -> None:
    run = run_cli("run", "--from", OLD, "--to", NEW, "--quiet", "--no-bench", "--no-matrix",
                  "--provider", "local", "-k", "test_tracking_roundtrip", "--replay",
                  str(recording), "--out", str(tmp_path / "out"))
    assert run.code == 0, run.stderr[-3000:]
    traffic = _traffic(run.out)
    assert traffic["replay"]["replayed"] == traffic["replay"]["read"] > 50
    assert {d["classification"] for d in traffic["differences"]} == {"expected"}
    assert {d["catalog_id"] for d in traffic["differences"]} >= {"traffic-run-outputs"}
    noise = " ".join(traffic["noise"]["shown"])
    assert "creation_timestamp" in noise and "run_name" in noise  # learned, not reported
    reported = {d["field"] for d in traffic["differences"]}
    assert not [f for f in reported if "time" in f or "run_name" in f or "run_id" in f]
    assert traffic["ids_mapped"]["a"] >= 4  # the experiment and the runs the replay created
    report = (run.out / "report.md").read_text()
    assert report.index("## Your traffic") < report.index("## Old vs new")


def test_a_planted_fault_is_reported_at_its_route_and_field_only(
        recording: Path, tmp_path: Path) -> None:
    run = run_cli("run", "--from", OLD, "--to", OLD, "--quiet", "--no-bench", "--no-matrix",
                  "--provider", "local", "-k", "test_tracking_roundtrip", "--replay",
                  str(recording), "--inject-fault", FAULT, "--out", str(tmp_path / "out"))
    assert run.code == 1, run.stderr[-3000:]
    traffic = _traffic(run.out)
    assert [(d["route"], d["field"], d["classification"]) for d in traffic["differences"]] \
        == [("/api/2.0/mlflow/runs/get", "run.info.status", "unexpected")]
    example = traffic["differences"][0]["examples"][0]
    assert example["new"] == "injected-fault" and example["request"].startswith("GET ")
    verdict = json.loads((run.out / "results.json").read_text())["verdict"]
    assert verdict["level"] == "not_safe"


def test_record_refuses_an_upstream_it_cannot_reach(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "record", "--upstream",
         f"http://127.0.0.1:{free_port()}", "--listen", f"127.0.0.1:{free_port()}", "--out",
         str(tmp_path / "t.jsonl")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "cannot reach" in proc.stderr
    assert not (tmp_path / "t.jsonl").exists()


@pytest.mark.slow
def test_ctrl_c_mid_replay_leaves_no_server_and_no_database(tmp_path: Path) -> None:
    """SIGINT while the three servers answer: exit 130, and every replay server, its
    database and the starting state gone from the team's own PostgreSQL."""
    from tests.integration.conftest import harness_processes
    from tests.integration.external_store import external_store
    from tests.integration.live_run import LiveRun

    generated = tmp_path / "traffic.jsonl"
    subprocess.run([sys.executable, str(Path(__file__).resolve().parents[2] / "benchmarks" /
                                        "traffic_replay.py"), "generate", "3000",
                    str(generated)], check=True, timeout=120, capture_output=True)
    with external_store() as store:
        before = store.databases()
        run = LiveRun("run", "--from", OLD, "--to", NEW, "--no-bench", "--no-matrix",
                      "-k", "test_tracking_roundtrip", "--replay", str(generated),
                      *store.args(), "--out", str(tmp_path / "out"), env=store.env())
        run.wait_for("1000 requests replayed", timeout=600)
        assert [d for d in store.databases() if "_replay_" in d]  # there while it runs
        run.proc.send_signal(signal.SIGINT)
        run.finish(BOUND_S)
        assert run.proc.returncode == 130, run.stderr[-3000:]
        assert harness_processes(run.run_id) == set()
        assert store.databases() == before
