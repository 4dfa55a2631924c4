"""Drives one agent process inside an MLflow environment: call client functions, get JSON back."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ClientCallError, ClientCallTimeout, ServiceError
from harness.runtime.processes import REGISTRY, ManagedProcess, spawn

AGENT_SCRIPT = Path(__file__).with_name("agent.py")
START_TIMEOUT_S = 120.0
DEFAULT_CALL_TIMEOUT_S = 300.0

# MLflow's client retries for minutes by default; a verification tool must fail fast instead.
BOUNDED_CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "GIT_PYTHON_REFRESH": "quiet",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}


@dataclass
class CallRecord:
    """One client call as the report shows it."""

    function: str
    seconds: float
    ok: bool
    error: str = ""


@dataclass
class Agent:
    """A persistent interpreter of one environment with `mlflow` imported once."""

    name: str
    python: Path
    log_path: Path
    preload: tuple[str, ...] = ("mlflow",)
    extra_env: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)
    _process: ManagedProcess | None = None
    _next_id: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Agent:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MLFLOW_", "AWS_", "PYTHONPATH", "VIRTUAL_ENV"))
        }
        env.update(BOUNDED_CLIENT_ENV)
        env.update(self.extra_env)
        self._process = spawn(
            f"agent {self.name}",
            [str(self.python), "-u", str(AGENT_SCRIPT), *self.preload],
            self.log_path,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        hello = self._read_line(START_TIMEOUT_S, "start")
        if not hello.get("ready"):
            raise ServiceError(f"agent {self.name} did not start", logs=self._process.logs())
        self.info = dict(hello.get("info", {}))
        return self

    @property
    def started(self) -> bool:
        return self._process is not None and self._process.alive()

    def call(
        self, path: Path, function: str, timeout: float = DEFAULT_CALL_TIMEOUT_S, **kwargs: Any
    ) -> Any:
        """Run `function(**kwargs)` from the module file `path` in the environment."""
        with self._lock:
            if not self.started:
                self.start()
            assert self._process is not None and self._process.popen.stdin is not None
            self._next_id += 1
            request = {"id": self._next_id, "path": str(path), "function": function}
            request["kwargs"] = kwargs
            began = time.monotonic()
            try:
                self._process.popen.stdin.write((json.dumps(request) + "\n").encode())
                self._process.popen.stdin.flush()
                response = self._read_line(timeout, function)
            except ClientCallError as error:
                self.calls.append(CallRecord(function, time.monotonic() - began, False, str(error)))
                raise
            except BaseException:
                # Abandoned mid-call (a scenario deadline, Ctrl-C): its answer would arrive as
                # the answer to the next call. Stop it; the next call starts a fresh one.
                self.stop()
                raise
            seconds = time.monotonic() - began
            if response.get("ok"):
                self.calls.append(CallRecord(function, seconds, True))
                return response.get("result")
            failure = response.get("error", {})
            message = f"{function}: {failure.get('type', 'error')}: {failure.get('message', '')}"
            self.calls.append(CallRecord(function, seconds, False, message))
            raise ClientCallError(message, failure.get("type", ""), failure.get("traceback", ""))

    def _read_line(self, timeout: float, what: str) -> dict[str, Any]:
        assert self._process is not None and self._process.popen.stdout is not None
        stream = self._process.popen.stdout
        deadline = time.monotonic() + timeout
        selector = selectors.DefaultSelector()
        selector.register(stream, selectors.EVENT_READ)
        buffer = b""
        try:
            while not buffer.endswith(b"\n"):
                REGISTRY.check_cancelled()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.stop()
                    raise ClientCallTimeout(
                        f"{what}: no answer from MLflow client {self.name} within {timeout:.0f}s"
                    )
                if not selector.select(timeout=min(remaining, 0.5)):
                    continue
                chunk = os.read(stream.fileno(), 1 << 16)
                if not chunk:
                    logs = self._process.logs(15)
                    self.stop()
                    raise ClientCallError(
                        f"{what}: MLflow client {self.name} exited unexpectedly: {logs[-600:]}"
                    )
                buffer += chunk
        finally:
            selector.close()
        result: dict[str, Any] = json.loads(buffer.decode())
        return result

    def stop(self) -> None:
        if self._process is not None:
            if self._process.popen.stdin is not None:
                try:
                    self._process.popen.stdin.close()
                except OSError:
                    pass
            self._process.stop(grace_seconds=3)
            self._process = None
