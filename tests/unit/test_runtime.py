"""Processes, waiting and the client agent, with real child processes (no MLflow)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType

import pytest

from harness.agent.client import Agent
from harness.errors import ClientCallError, ClientCallTimeout, ServiceError, ServiceTimeout
from harness.runtime.processes import REGISTRY, spawn, sweep_run_processes
from harness.runtime.waiting import CallableCheck, TcpCheck, outcome, wait_until_ready

CLIENT_MODULE = '''
import os, sys, time

def add(a, b):
    print("noise on stdout must not break the protocol")
    return {"sum": a + b, "pid": os.getpid()}

def boom():
    raise ValueError("bad things")

def sleepy(seconds):
    time.sleep(seconds)
    return "late"

def die():
    os._exit(3)
'''


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    # A parent that starts a child which ignores SIGTERM, like a server's worker.
    script = (
        "import subprocess, sys, time;"
        "c = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)']);"
        "print(c.pid, flush=True); time.sleep(60)"
    )
    process = spawn("parent", [sys.executable, "-c", script], tmp_path / "p.log",
                    stdout=None)
    deadline = time.monotonic() + 10
    while not (tmp_path / "p.log").read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int((tmp_path / "p.log").read_text().split()[0])
    assert _pid_alive(child)
    process.stop(grace_seconds=0.5)
    time.sleep(0.2)
    assert not process.alive()
    assert not _pid_alive(child) or open(f"/proc/{child}/stat").read().split()[2] == "Z"
    assert process not in REGISTRY.running()


def test_a_fork_sees_the_parents_processes_alive_and_dead(tmp_path: Path) -> None:
    """From a scenario lane (a fork), a process the parent started is not the lane's child:
    `alive()` must not read that as "exited"."""
    process = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(30)"],
                    tmp_path / "s.log")
    try:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            seen = process.alive()
            os.write(write, b"1" if seen else b"0")
            os._exit(0)
        os.waitpid(pid, 0)
        assert os.read(read, 1) == b"1"
    finally:
        process.stop(grace_seconds=0.5)
    assert not process.alive()


def test_sweep_kills_what_carries_the_run_id_and_nothing_else(tmp_path: Path) -> None:
    run_id, REGISTRY.run_id = REGISTRY.run_id, "sweep-test"
    try:
        mine = spawn("left behind", [sys.executable, "-c", "import time; time.sleep(30)"],
                     tmp_path / "a.log")
        REGISTRY.forget(mine)  # as if started by a lane that was killed
        REGISTRY.run_id = "another-run"
        other = spawn("another run's", [sys.executable, "-c", "import time; time.sleep(30)"],
                      tmp_path / "b.log")
        assert sweep_run_processes("sweep-test") == 1
        mine.popen.wait(timeout=5)
        assert not mine.alive() and other.alive()
        other.stop(grace_seconds=0.5)
    finally:
        REGISTRY.run_id = run_id


def test_wait_fails_fast_when_the_process_exits(tmp_path: Path) -> None:
    process = spawn("quitter", [sys.executable, "-c", "import sys; print('bye', file=sys.stderr);"
                                " sys.exit(4)"], tmp_path / "q.log")
    began = time.monotonic()
    with pytest.raises(ServiceError, match="exited with code 4") as info:
        wait_until_ready("quitter", TcpCheck("127.0.0.1", 1), timeout=30, process=process)
    assert time.monotonic() - began < 10
    assert "bye" in info.value.logs
    process.stop()


def test_wait_times_out_with_a_description() -> None:
    with pytest.raises(ServiceTimeout, match="not ready after 0s waiting for never"):
        wait_until_ready("svc", CallableCheck(lambda: False, "never"), timeout=0.3, interval=0.05)


def test_cancel_stops_waits_and_spawns() -> None:
    REGISTRY.cancelled.set()
    with pytest.raises(Exception, match="cancelled"):
        wait_until_ready("svc", CallableCheck(lambda: False, "never"), timeout=30)
    with pytest.raises(Exception, match="cancelled"):
        spawn("x", [sys.executable, "-c", "pass"], Path("/tmp/never.log"))


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    module = tmp_path / "client_mod.py"
    module.write_text(CLIENT_MODULE)
    started = Agent("test", Path(sys.executable), tmp_path / "agent.log", preload=("json",))
    started.start()
    yield started
    started.stop()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def test_a_signal_landing_on_a_worker_interrupts_the_waiting_main_thread() -> None:
    """The CI failure of session 8: SIGTERM went to a worker thread while the main thread
    waited on it; the run ended only when the worker did (a paused phase, 120 s later)."""
    waiting, release = threading.Event(), threading.Event()

    def worker() -> str:
        waiting.wait(60)
        time.sleep(0.3)  # the main thread is inside its wait by now
        # What the kernel may do with a process-directed signal: hand it to this thread.
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        release.wait(60)
        return "finished"

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(worker)
            try:
                with pytest.raises(KeyboardInterrupt):
                    waiting.set()
                    outcome(future)
                # Decided while the worker still held on, not once it had finished.
                assert not future.done()
            finally:
                release.set()
            assert future.result() == "finished"
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_agent_calls_functions_in_one_persistent_interpreter(agent: Agent, tmp_path: Path) -> None:
    module = tmp_path / "client_mod.py"
    first = agent.call(module, "add", a=1, b=2)
    second = agent.call(module, "add", a=5, b=5)
    assert first["sum"] == 3 and second["sum"] == 10
    assert first["pid"] == second["pid"]
    assert "json" in agent.info and "preload_seconds" in agent.info
    assert "noise on stdout" in (tmp_path / "agent.log").read_text()
    assert [c.function for c in agent.calls] == ["add", "add"]


def test_agent_reports_remote_errors_with_type(agent: Agent, tmp_path: Path) -> None:
    with pytest.raises(ClientCallError, match="boom: builtins.ValueError: bad things") as info:
        agent.call(tmp_path / "client_mod.py", "boom")
    assert "Traceback" in info.value.remote_traceback
    assert agent.call(tmp_path / "client_mod.py", "add", a=1, b=1)["sum"] == 2


def test_agent_call_is_bounded_and_recovers(agent: Agent, tmp_path: Path) -> None:
    began = time.monotonic()
    with pytest.raises(ClientCallTimeout, match="within 1s"):
        agent.call(tmp_path / "client_mod.py", "sleepy", timeout=1, seconds=30)
    assert time.monotonic() - began < 8
    assert not agent.started
    assert agent.call(tmp_path / "client_mod.py", "sleepy", seconds=0) == "late"


def test_agent_that_dies_is_reported(agent: Agent, tmp_path: Path) -> None:
    with pytest.raises(ClientCallError, match="exited unexpectedly"):
        agent.call(tmp_path / "client_mod.py", "die")


def test_quiet_http_server_keeps_handler_errors_off_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A handler that fails (as when a client hangs up mid-answer) must not print a traceback
    from its thread onto the console or another test's captured stderr."""
    import http.client
    import threading
    from http.server import BaseHTTPRequestHandler

    from harness.runtime.quiet_http import QuietHTTPServer

    class Broken(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            raise ConnectionResetError("the client went away")

    server = QuietHTTPServer(("127.0.0.1", 0), Broken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1],
                                                timeout=10)
        try:
            connection.request("GET", "/")
            connection.getresponse()
        except (http.client.HTTPException, OSError):
            pass
        for _ in range(100):
            if server.handler_errors:
                break
            threading.Event().wait(0.05)
    finally:
        server.shutdown()
        server.server_close()
    assert server.handler_errors and "client went away" in server.handler_errors[0]
    assert "Traceback" not in capfd.readouterr().err


def test_a_second_interrupt_does_not_cut_the_teardown_short() -> None:
    """Ctrl-C and SIGTERM while the teardown runs are held until it is done (said once),
    then raised as one KeyboardInterrupt; the handlers before it are back."""
    import signal

    from harness.runtime.shield import interrupts_deferred

    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    said: list[str] = []
    finished: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred(said.append) as received:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)  # the handlers run in here: nothing is raised
            finished.append("every process stopped")
    assert finished == ["every process stopped"]
    assert received == [signal.SIGINT, signal.SIGTERM]
    assert len(said) == 1 and "finishing the teardown" in said[0]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_an_interrupt_during_a_teardown_already_unwinding_is_not_raised_again() -> None:
    import signal

    from harness.runtime.shield import interrupts_deferred

    with interrupts_deferred(raise_after=False) as received:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
    assert received == [signal.SIGINT]


def test_the_teardown_notice_is_written_even_while_the_progress_lock_is_held(
    tmp_path: Path,
) -> None:
    """The shield's notice runs in a signal handler, maybe on a thread that holds the
    progress lock: `urgent` writes without it (with the lock, this would hang)."""
    from harness.progress import Progress

    with (tmp_path / "console").open("w") as stream:
        progress = Progress(stream=stream, live=False)
        with progress._lock:
            progress.urgent("finishing the teardown first")
    assert "finishing the teardown first" in (tmp_path / "console").read_text()


@pytest.mark.parametrize("safe", [True, False], ids=["interrupt-safe pool", "plain pool"])
def test_an_interrupt_inside_submit_leaves_no_worker_the_pools_shutdown_does_not_wait_for(
    safe: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C landing in `submit` just after it started a worker thread (seen: a run's
    PostgreSQL folder outlived its teardown). The interrupt-safe pool delivers the signal
    after `submit`, so its shutdown still waits for the worker; the plain pool, the reason it
    exists, does not."""
    import signal
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from harness.runtime.shield import InterruptSafePool

    start = threading.Thread.start

    def start_then_ctrl_c(thread: threading.Thread) -> None:
        start(thread)
        signal.raise_signal(signal.SIGINT)

    finished: list[str] = []

    def work() -> None:
        time.sleep(0.3)
        finished.append("done")

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        pool = (InterruptSafePool if safe else ThreadPoolExecutor)(max_workers=1)
        monkeypatch.setattr(threading.Thread, "start", start_then_ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            pool.submit(work)
        monkeypatch.undo()
        pool.shutdown(wait=True)
        waited_for_the_worker = finished == ["done"]
    finally:
        signal.signal(signal.SIGINT, previous)
    assert waited_for_the_worker is safe
    time.sleep(0.4)  # the plain pool's orphan ends too


def test_a_runs_teardown_removes_its_own_left_over_folders_and_no_other_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An agent killed before its cleanup left its 64 MB upload folder in /tmp; such folders
    carry the run id, and the run's teardown sweeps them (another run's stay)."""
    import tempfile

    from harness.session import sweep_run_folders

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ours = [tmp_path / "mlflow-upgrade-harness-bench-0123456789-a1", tmp_path /
            "mlflow-upgrade-harness-pg-0123456789-b2"]
    theirs = tmp_path / "mlflow-upgrade-harness-bench-9876543210-c3"
    for folder in (*ours, theirs):
        (folder / "inner").mkdir(parents=True)
        (folder / "inner" / "blob-64mb.bin").write_bytes(b"x")
    assert sorted(sweep_run_folders("0123456789")) == sorted(str(f) for f in ours)
    assert [f.exists() for f in ours] == [False, False]
    assert theirs.exists()
