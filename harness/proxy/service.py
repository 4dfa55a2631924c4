"""An auth proxy in front of an MLflow server: the reference one, or the team's own command.

A team's proxy is a command template with `{upstream}` (the MLflow server's URL), `{port}`
(where the proxy must listen, on 127.0.0.1) and `{token_env}` (the environment variable that
holds the token clients will send) filled in, e.g.

    --proxy-command "node my-proxy.js --target {upstream} --listen {port}"

The harness starts it, waits until it listens and (unless the upstream is deliberately dead)
until an authenticated request is forwarded, and stops its whole process group afterwards.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from harness.errors import UsageError
from harness.proxy.auth_proxy import TOKEN_ENV
from harness.runtime.ports import LOOPBACK, free_port
from harness.runtime.processes import ManagedProcess, spawn
from harness.runtime.waiting import CallableCheck, TcpCheck, wait_until_ready
from harness.services.base import OwnsProcess, Service

READY_TIMEOUT_S = 60.0
PLACEHOLDERS = ("upstream", "port", "token_env")
PROBE_PATH = "/api/2.0/mlflow/experiments/search?max_results=1"


def check_template(template: str) -> str:
    """One clear line for a template that cannot work; the template itself otherwise."""
    try:
        filled = template.format(upstream="http://127.0.0.1:1", port=1, token_env=TOKEN_ENV)
        argv = shlex.split(filled)
    except (KeyError, IndexError, ValueError) as error:
        raise UsageError(
            f"--proxy-command: bad template ({error}); placeholders are "
            + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        ) from None
    if "{port}" not in template or "{upstream}" not in template:
        raise UsageError("--proxy-command must contain {upstream} and {port}")
    if not argv:
        raise UsageError("--proxy-command is empty")
    return template


@dataclass(frozen=True)
class ProxyOptions:
    """How a proxy treats its upstream: the reference proxy's bound on one upstream request
    and the path prefixes it forwards (none named: its default ones), and whether `start`
    waits until an authenticated request is forwarded (not for a dead or stand-in upstream)."""

    upstream_timeout: float = 120.0
    forward: tuple[str, ...] = ()
    expect_forwarding: bool = True


class AuthProxy(OwnsProcess, Service):
    """Listens on 127.0.0.1:`port` and forwards to `upstream` for clients with `token`."""

    def __init__(
        self,
        label: str,
        upstream: str,
        token: str,
        log_dir: Path,
        command_template: str | None = None,
        options: ProxyOptions | None = None,
        delays: tuple[tuple[str, float], ...] = (),
        port: int | None = None,
    ) -> None:
        self.name = f"auth proxy {label}"
        self.label = label
        self.upstream = upstream
        self.token = token
        self.log_dir = log_dir
        self.command_template = command_template
        self.options = options or ProxyOptions()
        self.delays = delays
        self.requested_port = port
        self.port = 0
        self.access_log = log_dir / f"proxy-{label}-access.jsonl"
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def is_reference(self) -> bool:
        return self.command_template is None

    def argv(self) -> list[str]:
        if self.command_template is not None:
            return shlex.split(self.command_template.format(
                upstream=self.upstream, port=self.port, token_env=TOKEN_ENV))
        argv = [
            sys.executable, "-m", "harness.proxy.auth_proxy",
            "--upstream", self.upstream, "--port", str(self.port),
            "--upstream-timeout", f"{self.options.upstream_timeout:g}",
            "--access-log", str(self.access_log),
        ]
        for prefix in self.options.forward:
            argv += ["--forward", prefix]
        if not self.token:
            argv.append("--no-auth")
        for prefix, seconds in self.delays:
            argv += ["--delay", f"{prefix}={seconds:.6f}"]
        return argv

    def start(self) -> Self:
        self.port = self.requested_port or free_port()
        env = {**os.environ, TOKEN_ENV: self.token}
        self._process = spawn(self.name, self.argv(), self.log_dir / f"proxy-{self.label}.log",
                              env=env)
        wait_until_ready(self.name, TcpCheck(LOOPBACK, self.port), READY_TIMEOUT_S,
                         process=self._process)
        if self.options.expect_forwarding:
            wait_until_ready(
                self.name,
                CallableCheck(lambda: self.request("GET", PROBE_PATH)[0] == 200,
                              f"an authenticated {PROBE_PATH} forwarded with 200"),
                READY_TIMEOUT_S,
                process=self._process,
            )
        return self

    def request(
        self, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None, token: str | None = "", timeout: float = 30.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request through the proxy: with the run's token (default), another, or none."""
        sent = dict(headers or {})
        if token is not None:
            sent.setdefault("Authorization", f"Bearer {token or self.token}")
        return http_request(f"{self.url}{path}", method, body, sent, timeout)

    def access_entries(self) -> list[dict[str, Any]]:
        """The reference proxy's access log (empty for a team's own proxy)."""
        if not self.access_log.exists():
            return []
        return [json.loads(line) for line in self.access_log.read_text().splitlines() if line]


def http_request(
    url: str, method: str = "GET", body: bytes | None = None,
    headers: dict[str, str] | None = None, timeout: float = 30.0,
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one bounded request; HTTP errors are answers, not raises."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers.items()), error.read()
