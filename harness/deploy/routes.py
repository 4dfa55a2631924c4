"""How clients reach a side's server: through its public URL's stand-in ingress (`ingress.py`),
or by 127.0.0.1 when the description gives no public URL (or the public URL is refused: the
failed check says so, and the scenarios still learn what else breaks).

Why a front on 127.0.0.1 and not the host name in the clients: MLflow clients of every version,
the scenarios' raw HTTP calls, and a team's own test suite all take a tracking URI and nothing
else, so a front that behaves as the ingress does reaches all of them unchanged. Teaching each
client the name instead (a resolver hook, a request-header plugin in each environment) would
miss the ones that are not MLflow's, and a hook that failed to load would send a real DNS
lookup for the team's host name; here nothing ever resolves or connects to it.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from harness.deploy.description import Deployment
from harness.deploy.ingress import SETTINGS_ENV
from harness.runtime.ports import LOOPBACK, free_port
from harness.runtime.processes import ManagedProcess, spawn
from harness.runtime.waiting import TcpCheck, wait_until_ready
from harness.services.base import OwnsProcess, Service
from harness.services.mlflow_server import MlflowServer

READY_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 30.0
# A read every version answers, through the Host check of 3.5+ (which spares /health).
PROBE_PATH = "/api/2.0/mlflow/experiments/search?max_results=1"


class IngressFront(OwnsProcess, Service):
    """The side's public URL on 127.0.0.1, in front of `upstream`."""

    stop_grace_seconds = 2.0

    def __init__(self, label: str, deployment: Deployment, upstream: MlflowServer,
                 log_dir: Path) -> None:
        assert deployment.public_url is not None
        self._process: ManagedProcess | None = None
        self.port = 0  # chosen when it starts
        self.name, self.label = f"ingress {label}", label
        self.deployment, self.public = deployment, deployment.public_url
        self.upstream = upstream
        self.log_dir, self.access_log = log_dir, log_dir / f"ingress-{label}-access.jsonl"

    @property
    def url(self) -> str:
        """The tracking URI clients use: this front, with the public URL's path."""
        return self.origin + self.public.path

    @property
    def origin(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def settings(self) -> dict[str, object]:
        public = self.public
        return {"upstream": self.upstream.url, "front": self.origin, "scheme": public.scheme,
                "host_header": public.host_header,
                "public_port": public.port or public.default_port,
                "prefix": public.path, "strip": self.deployment.strips(),
                "headers": [list(pair) for pair in self.deployment.ingress_headers],
                "access_log": str(self.access_log)}

    def start(self) -> Self:
        self.port = free_port()
        env = {**os.environ, SETTINGS_ENV: json.dumps(self.settings())}
        self._process = spawn(self.name, [sys.executable, "-m", "harness.deploy.ingress"],
                              self.log_dir / f"ingress-{self.label}.log", env=env)
        wait_until_ready(self.name, TcpCheck(LOOPBACK, self.port), READY_TIMEOUT_S,
                         process=self._process)
        return self


@dataclass
class Route:
    """A side's server and how its clients reach it."""

    server: MlflowServer
    front: IngressFront | None = None
    refused: str = ""  # the public URL's refusal: clients then go by 127.0.0.1

    @property
    def public(self) -> bool:
        return self.front is not None and not self.refused

    @property
    def tracking_uri(self) -> str:
        return self.front.url if self.front is not None and not self.refused \
            else self.server.url

    def upstream_path(self, path: str) -> str:
        """`path` (under the public URL) as the server receives it from the ingress."""
        if self.front is None or self.front.deployment.strips():
            return path
        return self.front.public.path + path


@dataclass(frozen=True)
class Answer:
    """One probe's answer: its status and the first line of its body ("" when none)."""

    status: int
    text: str = ""
    by_front: str = ""  # the front's own answer (no-route, bad-gateway), "" for the server's

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def shown(self) -> str:
        """`200`, `403 Invalid Host header - …`, `no answer (…)`."""
        if not self.status:
            return self.text
        return str(self.status) if self.ok else f"{self.status} {self.text}".strip()


def ask(origin_port: int, path: str, host: str | None = None, timeout: float = PROBE_TIMEOUT_S
        ) -> Answer:
    """GET `path` from 127.0.0.1:`origin_port` (with `host` as Host), no redirect followed."""
    connection = http.client.HTTPConnection(LOOPBACK, origin_port, timeout=timeout)
    try:
        headers = {"Host": host} if host else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read(4096).decode("utf-8", errors="replace")
        first = next((line.strip() for line in body.splitlines() if line.strip()), "")
        by_front = response.getheader("X-Harness-Proxy", "")
        return Answer(response.status, first[:300],
                      by_front if by_front not in ("", "forwarded") else "")
    except (OSError, http.client.HTTPException) as error:
        return Answer(0, f"no answer ({error})")
    finally:
        connection.close()


def start_route(deployment: Deployment, server: MlflowServer, log_dir: Path,
                stack: ExitStack) -> Route:
    """The route to a started `server`: through a front when the deployment gives a public
    URL (started here, stopped with `stack`), else by 127.0.0.1."""
    if deployment.public_url is None:
        return Route(server)
    label = server.label + (f"-{server.spec.app_name}" if server.spec.app_name else "")
    front = IngressFront(label, deployment, server, log_dir)
    stack.callback(front.stop)
    return Route(server, front.start())
