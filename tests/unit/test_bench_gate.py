"""The gate, latency injection, option parsing and the benchmark outputs, on synthetic samples."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.bench.analysis import Samples, analyse
from harness.bench.inject import injected_delays
from harness.bench.operations import parse_injection
from harness.bench.remedies import RemedyServers, expected_remedies
from harness.bench.result import BenchmarkResult
from harness.bench.runner import Benchmark
from harness.bench.schedule import undecided
from harness.bench.tuning import TUNING, BenchSettings
from harness.errors import UsageError
from harness.progress import Progress
from harness.reports.markdown import render_markdown
from harness.reports.pytest_benchmark import document, write_pytest_benchmark
from harness.results.model import RunResults, RunStatus, SideInfo


def samples(factors: dict[str, float], rounds: int = 12, seed: int = 3) -> Samples:
    rng = random.Random(seed)
    result = Samples()
    for _ in range(rounds):
        timings = {}
        for op, factor in factors.items():
            base = 0.02 * rng.lognormvariate(0, 0.05)
            timings[op] = {"old": base * rng.lognormvariate(0, 0.03),
                           "new": base * factor * rng.lognormvariate(0, 0.03)}
        result.add(timings)
    return result


def test_gate_fails_on_a_regression_only() -> None:
    result = analyse(samples({"get_run": 1.0, "search_runs": 1.6, "set_tag": 0.5}),
                     BenchSettings())
    verdicts = {op: item["verdict"] for op, item in result["operations"].items()}
    assert verdicts == {"get_run": "unchanged", "search_runs": "regression",
                        "set_tag": "improvement"}
    assert result["gate"]["passed"] is False and result["gate"]["regressions"] == ["search_runs"]
    quiet = analyse(samples({"get_run": 1.0}), BenchSettings())
    assert quiet["gate"]["passed"] is True
    assert len(quiet["operations"]["get_run"]["samples"]["old"]) == 12


def test_inconclusive_passes_unless_told_otherwise() -> None:
    noisy = samples({"get_run": 1.2}, rounds=8, seed=9)
    lenient = analyse(noisy, BenchSettings())
    assert lenient["gate"]["inconclusive"] == ["get_run"] and lenient["gate"]["passed"]
    strict = analyse(noisy, BenchSettings(fail_on_inconclusive=True))
    assert strict["gate"]["passed"] is False


def test_injected_delay_is_a_fraction_of_the_old_median_on_that_operations_routes() -> None:
    warmup = Samples(old={"get_run": [0.010, 0.012, 0.011], "set_tag": [0.02, 0.02]},
                     new={"get_run": [0.01] * 3, "set_tag": [0.02] * 2})
    per_op, routes = injected_delays(BenchSettings(inject=(("get_run", 0.3),)), warmup)
    assert per_op == {"get_run": pytest.approx(0.0033)}
    assert routes == (("/api/2.0/mlflow/runs/get", pytest.approx(0.0033)),)
    blanket, _ = injected_delays(BenchSettings(inject=(("*", 0.5),),
                                               operations=("get_run", "set_tag")), warmup)
    assert blanket == {"get_run": pytest.approx(0.0055), "set_tag": pytest.approx(0.01)}


@pytest.mark.parametrize(("raw", "problem"), [
    (["get_run=abc"], "OP=PCT"), (["nope=30"], "unknown operation"),
    (["log_model=30"], "spans many routes"), (["get_run=0"], "percentage"),
])
def test_bad_injection_options(raw: list[str], problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        parse_injection(raw)


def test_injection_options_parse() -> None:
    assert parse_injection(["get_run=30", "25%"]) == (("get_run", 0.3), ("*", 0.25))


def _results() -> RunResults:
    server = analyse(samples({"get_run": 1.0, "download_1mb": 8.0}), BenchSettings())
    server["rounds"] = 12
    bench = {"settings": {"threshold": 0.2, "inject": [["get_run", 0.3]],
                          "fixed_client": "2.9.2"},
             "server_side": server, "gate": {"passed": False}, "seconds": 42.0}
    return RunResults(run_id="r", started_at="t", harness_version="0",
                      sides=[SideInfo("from", "2.9.2", "2.9.2"), SideInfo("to", "3.4.0",
                                                                         "3.4.0")],
                      status=RunStatus.FAILED, benchmark=BenchmarkResult(bench))


def test_pytest_benchmark_files_hold_the_raw_samples(tmp_path: Path) -> None:
    results = _results()
    assert results.benchmark is not None
    bench = results.benchmark.data
    write_pytest_benchmark(results.benchmark, tmp_path)
    old = json.loads((tmp_path / "benchmark-old.json").read_text())
    new = json.loads((tmp_path / "benchmark-new.json").read_text())
    names = {b["name"]: b for b in new["benchmarks"]}
    assert set(names) == {"get_run", "download_1mb"}
    stats = names["download_1mb"]["stats"]
    raw = bench["server_side"]["operations"]["download_1mb"]["samples"]["new"]
    assert stats["data"] == raw and stats["rounds"] == 12
    assert stats["min"] <= stats["q1"] <= stats["median"] <= stats["q3"] <= stats["max"]
    assert {"machine_info", "commit_info", "benchmarks", "datetime", "version"} <= set(old)
    assert document(results.benchmark, "old")["benchmarks"][0]["group"] == "server-side"


def test_report_shows_the_gate_each_interval_and_the_median_rule() -> None:
    text = render_markdown(_results())
    section = text[text.index("## Performance"):]
    assert "Gate at +20%: **failed**" in section
    assert "get_run +30%" in section
    assert "**1 regression(s)**: download_1mb." in section
    row = next(line for line in section.splitlines() if line.startswith("| download_1mb"))
    assert "❌ regression" in row and "| fails |" in row and "7.92×" in row


def test_further_rounds_go_to_the_undecided_operations_only() -> None:
    decided = samples({"get_run": 1.0, "search_runs": 1.6}, rounds=12)
    noisy = samples({"set_tag": 1.2}, rounds=8, seed=9)
    both = Samples(old={**decided.old, **noisy.old}, new={**decided.new, **noisy.new})
    assert undecided(both, ["get_run", "search_runs", "set_tag"], 0.20) == ["set_tag"]
    assert undecided(Samples(), ["get_run"], 0.20) == ["get_run"]  # nothing measured yet


def test_an_extrapolated_slowdown_is_a_regression_and_says_so() -> None:
    """Capped 64 MB downloads (the new side's extrapolated from its rate), three rounds."""
    capped = Samples()
    for old in (2.6, 2.9, 2.7):
        capped.add({"download_64mb": {"old": old, "new": 15.0 * old}},
                   {"download_64mb": ["new"]})
    item = analyse(capped, BenchSettings())["operations"]["download_64mb"]
    assert item["verdict"] == "regression" and item["extrapolated"] == 3
    assert item["ratio"] == pytest.approx(15.0)
    assert f"extrapolated from the first {TUNING.large_cap_s:g}s" in item["description"]


def test_one_round_is_reported_inconclusive_and_gated_only_when_asked() -> None:
    one = samples({"get_run": 1.0})
    one.add({"download_64mb": {"old": 50.0, "new": 52.0}})
    result = analyse(one, BenchSettings())
    assert result["operations"]["download_64mb"]["verdict"] == "inconclusive"
    assert result["operations"]["download_64mb"]["rounds"] == 1
    assert result["gate"] == {**result["gate"], "passed": True,
                              "inconclusive": ["download_64mb"]}
    strict = analyse(one, BenchSettings(fail_on_inconclusive=True))
    assert strict["gate"]["passed"] is False


class ClockedClients:
    """Client processes whose rounds cost fake seconds on a fake clock."""

    def __init__(self, fast_s: float, large_s: float) -> None:
        self.fast_s, self.large_s, self.now = fast_s, large_s, 1000.0
        self.urls = {"old": "o", "new": "n"}
        self.fixed = [object()]
        self.rounds: list[tuple[str, ...]] = []
        self.alone: list[tuple[str, str]] = []  # (operation, side) timed on one server

    def timed_alone(self, op: str, side: str, index: int,
                    urls: dict[str, str] | None = None) -> tuple[float, bool]:
        self.alone.append((op, side))
        self.now += self.large_s
        return 1.0 + index * 1e-3, False

    def warm_up(self, ops: list[str]) -> Samples:
        self.now += self.fast_s
        return Samples()

    def inject(self, routes: tuple[tuple[str, float], ...]) -> None:
        assert not routes

    def round(self, samples: Samples, ops: list[str], index: int, capped: bool = False,
              urls: dict[str, str] | None = None, connection: str = "reused") -> None:
        self.rounds.append(tuple(ops))
        self.now += self.large_s if capped else self.fast_s
        samples.add({op: {"old": 1.0 + index * 1e-3, "new": 1.0 + index * 1e-3} for op in ops})

    def call(self, *args: object, **kwargs: object) -> dict[str, object]:
        return {}


def clocked(settings: BenchSettings, fast_s: float, large_s: float,
            monkeypatch: pytest.MonkeyPatch) -> tuple[Benchmark, ClockedClients]:
    """The schedule alone: a benchmark whose clients' rounds move a fake clock."""
    bench = Benchmark(None, settings, Progress(quiet=True))  # type: ignore[arg-type]
    clients = ClockedClients(fast_s, large_s)
    bench.clients = clients  # type: ignore[assignment]
    monkeypatch.setattr("harness.bench.runner.time.monotonic", lambda: clients.now)
    return bench, clients


@pytest.mark.parametrize(("fast_s", "large_s", "fast_rounds", "large_rounds"), [
    (2.0, 5.0, 4, 3),  # everything fits
    (15.0, 40.0, 4, 1),  # slow rounds: the large rounds get what is left
    (2.0, 110.0, 4, 1),  # a large round that cannot fit twice: one round, said so
])
def test_the_schedule_keeps_to_the_budget(
    monkeypatch: pytest.MonkeyPatch, fast_s: float, large_s: float, fast_rounds: int,
    large_rounds: int
) -> None:
    settings = BenchSettings(operations=("get_run", "download_64mb", "upload_64mb"))
    bench, clients = clocked(settings, fast_s, large_s, monkeypatch)
    result = bench.server_gate(clients.now + 135.0)
    assert "download_64mb" not in result["operations"]  # not among the fast rounds
    assert result["rounds"] == fast_rounds  # identical samples: decided, no adaptive rounds
    bench.large_gate(result, clients.now + settings.budget_s * TUNING.large_share)
    assert clients.rounds[fast_rounds:] == [("upload_64mb",)] * large_rounds  # then downloads:
    downloads = clients.alone  # a block on the old server, then as many on the new one
    assert downloads[-large_rounds:] == [("download_64mb", "new")] * large_rounds
    assert set(downloads[:-large_rounds]) == {("download_64mb", "old")}
    for op in ("upload_64mb", "download_64mb"):
        assert result["operations"][op]["rounds"] == large_rounds
        assert (op in result["gate"]["inconclusive"]) == (large_rounds == 1)


def test_reports_show_extrapolated_and_single_round_operations(tmp_path: Path) -> None:
    measured = samples({"get_run": 1.0})
    for old in (2.6, 2.9):
        measured.add({"download_64mb": {"old": old, "new": 5.0 * old}},
                     {"download_64mb": ["new"]})
    measured.old["upload_64mb"], measured.new["upload_64mb"] = [0.8], [5.4]
    results = _results()
    assert results.benchmark is not None
    results.benchmark.data["server_side"] = {**analyse(measured, BenchSettings()), "rounds": 12}
    section = render_markdown(results)
    rows = {line.split(" | ")[0].strip("| "): line for line in section.splitlines()
            if line.startswith("| ") and "ms |" in line}
    assert "≈ 5.00× [5.00, 5.00]" in rows["download_64mb"]
    assert "6.75× (one round)" in rows["upload_64mb"] and "inconclusive" in rows["upload_64mb"]
    write_pytest_benchmark(results.benchmark, tmp_path)
    new = json.loads((tmp_path / "benchmark-new.json").read_text())
    single = next(b for b in new["benchmarks"] if b["name"].endswith("upload_64mb"))
    assert single["stats"]["data"] == [5.4] and single["stats"]["rounds"] == 1


def test_adaptive_rounds_spend_on_cheap_undecided_operations() -> None:
    """An undecided log_model (8 s a round) joins only every `expensive_every`-th adaptive
    round while a cheap operation is still undecided; alone, it gets every round."""
    noisy = Samples()
    for jitter in (0.6, 1.5, 0.7, 1.4):
        noisy.add({"get_run": {"old": 0.05, "new": 0.05 * jitter},
                   "log_model": {"old": 4.0, "new": 4.0 * jitter}})
    both = ["get_run", "log_model"]
    assert undecided(noisy, both, 0.2) == both
    cheap_rounds = [i for i in range(8, 16) if undecided(noisy, both, 0.2, i) == ["get_run"]]
    assert len(cheap_rounds) == 8 - 8 // TUNING.expensive_every
    assert undecided(noisy, ["log_model"], 0.2, 9) == ["log_model"]


def test_a_change_is_confirmed_before_its_operation_stops_getting_rounds() -> None:
    """A slowdown seen in a few rounds (a lucky streak on a noisy machine) keeps getting
    rounds until `confirm_rounds`; an unchanged operation stops at once."""
    streak = Samples()
    for jitter in (1.0, 1.02, 0.98, 1.01):
        streak.add({"transition_stage": {"old": 0.012, "new": 0.024 * jitter},
                    "get_run": {"old": 0.010, "new": 0.010 * jitter}})
    assert streak.compare("transition_stage", 0.2)[0].verdict.value == "regression"
    assert undecided(streak, ["transition_stage", "get_run"], 0.2) == ["transition_stage"]
    for _ in range(TUNING.confirm_rounds - 4):
        streak.add({"transition_stage": {"old": 0.012, "new": 0.024},
                    "get_run": {"old": 0.010, "new": 0.010}})
    assert undecided(streak, ["transition_stage", "get_run"], 0.2) == []


def test_the_remedies_expected_follow_the_new_servers_version_and_set_up() -> None:
    """3.4.0 under uvicorn with 4 workers fits both catalogued causes; with one worker only the
    artifact-streaming one; 3.17.2 serves artifacts natively (from 3.15); 2.x none."""
    workers_1, gunicorn = ("--workers", "1"), ("--gunicorn-opts", "")
    assert expected_remedies("3.4.0", {"sgi": "uvicorn", "workers": 4}) == [workers_1, gunicorn]
    assert expected_remedies("3.4.0", {"sgi": "uvicorn", "workers": 1}) == [gunicorn]
    assert expected_remedies("3.17.2", {"sgi": "uvicorn", "workers": 4}) == [workers_1]
    assert expected_remedies("3.4.0", {"sgi": "gunicorn", "workers": 4}) == []
    assert expected_remedies("2.9.2", {"sgi": "gunicorn", "workers": 4}) == []


class FakeRemedyServer:
    def __init__(self, args: list[str]) -> None:
        self.args, self.url = tuple(args), f"http://127.0.0.1:1/{'_'.join(args)}"
        self.started_in: list[str] = []
        self.stops = 0

    def start(self) -> FakeRemedyServer:
        self.started_in.append(threading.current_thread().name)
        return self

    def stop(self) -> None:
        self.stops += 1


def test_remedy_servers_start_during_seeding_and_the_gate_takes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both expected remedy servers start in the background before the rounds; verifying the
    keep-alive remedy uses its server instead of starting one; the end of the phase stops
    both, the unused one included. A remedy nobody expected still gets a server of its own."""
    from harness.bench.diagnosis import Group

    bench, clients = clocked(BenchSettings(operations=("get_run",)), 1.0, 1.0, monkeypatch)
    bench.session = SimpleNamespace(  # type: ignore[assignment]
        sides={"from": SimpleNamespace(version="2.9.2", server=None),
               "to": SimpleNamespace(version="3.4.0", server=None)})
    monkeypatch.setattr(Benchmark, "_setup", lambda self, role: {
        "sgi": "uvicorn" if role == "to" else "gunicorn", "workers": 4})
    made: list[FakeRemedyServer] = []

    def build(current: object, args: list[str], number: int) -> FakeRemedyServer:
        made.append(FakeRemedyServer(args))
        return made[-1]

    monkeypatch.setattr("harness.bench.runner.remedy_server", build)
    with bench._remedy_servers() as remedies:
        assert [server.args for server in made] == [("--workers", "1"),
                                                    ("--gunicorn-opts", "")]
        server_side = {"operations": {"get_run": {"verdict": "regression"}}}
        keep_alive = Group("uvicorn-workers-tcp-nodelay", "t", ["get_run (server)"], {},
                           remedy_args=["--workers", "1"])
        unexpected = Group("other", "t", ["get_run (server)"], {},
                           remedy_args=["--workers", "3"])
        bench.verify_remedies([keep_alive, unexpected], server_side, clients.now + 60,
                              remedies)
        workers_1, gunicorn, workers_3 = made
        remedies.starts[gunicorn.args].result(timeout=10)  # still its own: not verified
        assert len(workers_1.started_in) == 1
        assert workers_1.started_in[0].startswith("bench-remedy")
        assert len(gunicorn.started_in) == 1 and gunicorn.started_in[0].startswith("bench-remedy")
        assert workers_3.args == ("--workers", "3") and workers_3.started_in == ["MainThread"]
        assert keep_alive.remedy_gate["rounds"] >= 4 and "error" not in keep_alive.remedy_gate
        assert gunicorn.stops == 0  # unused so far: kept until the phase ends
    assert gunicorn.stops >= 1 and workers_1.stops >= 1 and workers_3.stops >= 1


class SlowRemedyServer(FakeRemedyServer):
    """A server whose start lasts until it is stopped (its process gone), then gives up."""

    def __init__(self, args: list[str]) -> None:
        super().__init__(args)
        self.gone = threading.Event()

    def start(self) -> FakeRemedyServer:
        super().start()
        self.gone.wait(timeout=10)
        return self

    def stop(self) -> None:
        self.stops += 1
        self.gone.set()


def test_a_remedy_server_start_under_way_is_stopped_at_the_end() -> None:
    """The phase ends while a remedy server is still starting: it is stopped, its start is
    waited for (bounded), and stopped again in case it spawned a process after the first."""
    made: list[SlowRemedyServer] = []

    def build(args: list[str], number: int) -> SlowRemedyServer:
        made.append(SlowRemedyServer(args))
        return made[-1]

    wanted = [("--workers", "1")]
    with RemedyServers(build, wanted, stop_wait_s=10.0) as remedies:  # type: ignore[arg-type]
        start = remedies.starts[wanted[0]]
        assert not start.done()
    assert start.done() and made[0].stops == 2


class RecordedRemedies:
    """Remedy servers that only say when they start and stop."""

    def __init__(self, calls: list[tuple[str, float]]) -> None:
        self.calls = calls

    def __enter__(self) -> RecordedRemedies:
        self.calls.append(("remedy servers start", 0.0))
        return self

    def __exit__(self, *exc: object) -> None:
        self.calls.append(("remedy servers stop", 0.0))


class ScheduleBenchmark(Benchmark):
    """`run()`'s order of parts and their deadlines, each part taking fake seconds."""

    def __init__(self, gate_s: float) -> None:
        self.settings, self.progress = BenchSettings(), Progress(quiet=True)
        self.session = SimpleNamespace(  # type: ignore[assignment]
            sides={"from": SimpleNamespace(version="2.9.2"),
                   "to": SimpleNamespace(version="3.4.0")})
        self.clients = SimpleNamespace(  # type: ignore[assignment]
            fixed=[], warmed={}, use_proxies=False)
        self.now, self.gate_s = 1000.0, gate_s
        self.calls: list[tuple[str, float]] = []  # (part, its deadline - the rounds' start)

    def _part(self, name: str, deadline: float, took: float) -> None:
        self.calls.append((name, round(deadline - self.started, 1)))
        self.now = min(self.now + took, max(deadline, self.now))

    def _remedy_servers(self) -> RecordedRemedies:  # type: ignore[override]
        return RecordedRemedies(self.calls)

    def open(self) -> None:
        self.now += 15.0
        self.started = self.now

    def close(self) -> None:
        self.calls.append(("close", 0.0))

    def _setup(self, role: str) -> dict[str, Any]:
        return {"sgi": "uvicorn" if role == "to" else "gunicorn", "workers": 4}

    def server_gate(self, deadline: float, rounds: int | None = None) -> dict[str, Any]:
        self._part("gate", deadline, self.gate_s)
        return {"operations": {}, "gate": {"regressions": []}}

    def _client_side(self, deadline: float) -> dict[str, Any]:
        self._part("client side", deadline, 1000.0)  # never decided: runs to its deadline
        return {"operations": {}}

    def retime_fresh(self, server_side: dict[str, Any], deadline: float) -> None:
        self._part("re-timing", deadline, 20.0)

    def large_gate(self, server_side: dict[str, Any], deadline: float) -> None:
        self._part("64 MB transfers", deadline, 50.0)


@pytest.mark.parametrize(("gate_s", "client_until"), [
    (40.0, 85.0),  # a gate decided early: the client side gets its share, 45 s
    (135.0, 108.0),  # a gate that used its share: the client side ends before the large rounds'
])
def test_run_times_the_calibrated_gate_first_and_the_64mb_transfers_last(
    monkeypatch: pytest.MonkeyPatch, gate_s: float, client_until: float,
) -> None:
    bench = ScheduleBenchmark(gate_s)
    monkeypatch.setattr("harness.bench.runner.time.monotonic", lambda: bench.now)
    result = bench.run()
    parts = [name for name, _ in bench.calls]
    assert parts == ["remedy servers start", "gate", "client side", "re-timing",
                     "64 MB transfers", "remedy servers stop", "close"]
    deadlines = dict(bench.calls)
    assert deadlines["gate"] == 135.0  # the share the calibration measured
    assert deadlines["client side"] == client_until
    large_start = max(gate_s, client_until) + 20.0  # after the re-timing's 20 s
    assert deadlines["64 MB transfers"] == pytest.approx(large_start + 72.0)  # large_share
    assert result["setup_s"] == 15.0
