"""A server's health under the run, as one finding: what its monitor saw (`health.py`), the
cause, the remedy, and the checks it touched re-run once against a server started with the
remedy, so that a starved supervisor's worker restarts read as what they are and not as dozens
of scenario failures.

A check is touched when it failed on that server (or across both sides) the way an unanswered
or dropped request fails: the health gate's "does not answer /health", a dropped connection
(`Max retries exceeded`, `Connection reset`, `RemoteDisconnected`, …), a 502/503. The re-run's
result replaces the first one; the finding lists both. Only a server that recovered is
re-checked: one that exited (a crash) or still does not answer (frozen) keeps its failures,
which say so.
"""

from __future__ import annotations

import os
import re
from contextlib import ExitStack

from harness.bench.remedies import override_args, workers_args
from harness.config import RunConfig
from harness.deploy.health import ServerWatch
from harness.deploy.result import HealthFinding, Rerun
from harness.deploy.routes import start_route
from harness.errors import HarnessError
from harness.matrix import parse_cell
from harness.plugin import CROSS
from harness.results.model import CheckResult, Status
from harness.services.server_args import server_setup
from harness.session import RunSession, SideRuntime

KEPT_LINES = 20  # of the log lines that record restarts (all are counted)
HEALTHCHECK_S = 30  # uvicorn's --timeout-worker-healthcheck in the remedy (its default: 5)
GUNICORN_TIMEOUT_S = 120  # gunicorn's --timeout in the remedy (its default: 30)
DROPPED = re.compile(
    r"does not answer /health|Max retries exceeded|Connection (reset|refused|aborted)|"
    r"RemoteDisconnected|ConnectionError|ProtocolError|IncompleteRead|Read timed out|"
    r"ReadTimeout|BrokenPipe|Bad Gateway|Service Unavailable|\b50[234]\b", re.IGNORECASE)


def finding_for(side: SideRuntime, seen: ServerWatch) -> HealthFinding:
    """The finding of one troubled server: its cause, from its log, its set-up and the load."""
    setup = server_setup(side.version, list(side.server.server_args)) or {}
    workers = int(setup.get("workers") or side.server.workers or 1)
    sgi = str(setup.get("sgi", ""))
    cpus = os.cpu_count() or 1
    return HealthFinding(
        role=side.role, server=side.server.name, version=side.version,
        restarts=[r.line for r in seen.restarts[:KEPT_LINES]], restart_count=len(seen.restarts),
        unanswered=[[start, end] for start, end in seen.unanswered],
        max_load=seen.max_load, cpus=cpus, workers=workers, sgi=sgi,
        cause=cause(seen, sgi, workers, cpus), remedy=remedy(sgi, workers, cpus, side))


def cause(seen: ServerWatch, sgi: str, workers: int, cpus: int) -> str:
    kinds = {r.kind for r in seen.restarts}
    busy = (f"{workers} worker(s) on {cpus} CPU(s), the machine's load up to "
            f"{seen.max_load:g}")
    if "signal" in kinds and any("SIGKILL" in r.line for r in seen.restarts):
        why = "workers were killed (SIGKILL: the kernel's OOM killer, or a signal from outside)"
    elif "timeout" in kinds:
        why = "gunicorn killed workers that did not answer within its --timeout"
    elif "died" in kinds:
        why = ("uvicorn's supervisor replaced workers: it kills one that misses its health "
               "ping within --timeout-worker-healthcheck (5 s by default) and replaces one "
               "that died; each replacement imports MLflow again, and what was in flight fails")
    elif seen.restarts:
        why = "workers exited and were replaced"
    else:
        why = "/health did not answer while the server's process ran: the server was starved"
    starved = workers >= cpus and seen.max_load >= cpus
    return f"{why} ({busy}{'; more workers than a busy machine can serve' if starved else ''})"


def remedy(sgi: str, workers: int, cpus: int, side: SideRuntime) -> list[str]:
    """Fewer workers than CPUs, and a supervisor that waits longer before it kills one."""
    fewer = max(1, min(workers, cpus - 1))
    args = ["--workers", str(fewer)]
    if sgi == "uvicorn" and _uvicorn_has_healthcheck(side):
        args += ["--uvicorn-opts", f"--timeout-worker-healthcheck {HEALTHCHECK_S}"]
    elif sgi == "gunicorn":
        args += ["--gunicorn-opts", f"--timeout {GUNICORN_TIMEOUT_S}"]
    return args


def _uvicorn_has_healthcheck(side: SideRuntime) -> bool:
    """Whether the side's uvicorn has the option (read from its files, not imported); an
    image's is assumed to."""
    if side.config.image:
        return True
    return any("timeout-worker-healthcheck" in path.read_text(errors="replace")
               for path in side.env.path.glob("lib/python*/site-packages/uvicorn/main.py"))


def touched(checks: list[CheckResult], role: str) -> list[CheckResult]:
    """The failed checks on `role`'s server (or across both sides) that failed as a dropped or
    unanswered request fails."""
    found = []
    for check in checks:
        if check.status not in (Status.FAILED, Status.ERROR):
            continue
        if check.side != CROSS and parse_cell(check.side).server != role:
            continue
        if DROPPED.search(" ".join((check.message, check.failing_call, check.details))):
            found.append(check)
    return found


def rerun_with_remedy(session: RunSession, config: RunConfig, role: str, finding: HealthFinding,
                      checks: list[CheckResult]) -> list[CheckResult]:
    """`checks` again, once, against a server of `role` started with the finding's remedy (and
    its public URL's front); the new results (empty when the remedy server cannot start: the
    finding says why)."""
    from harness.scenarios_runner import run_selected

    side = session.sides[role]
    server = side.server.variant(
        f"{side.server.label}-remedy", workers=None, port=None,
        args=tuple(override_args([*workers_args(side.server.workers), *side.server.server_args],
                                 finding.remedy)))
    original = side.server, side.route
    with ExitStack() as stack:
        try:
            stack.enter_context(server)
            route = start_route(side.config.deployment, server, session.log_dir, stack)
        except HarnessError as error:
            finding.cause += f"; the remedy server did not start ({str(error).splitlines()[0]})"
            return []
        route.refused = side.route.refused if side.route is not None else ""
        side.server, side.route = server, route
        try:
            again = run_selected(session, config, [check.test for check in checks])
        finally:
            side.server, side.route = original
    first = {check.test: check for check in checks}
    finding.reruns = [Rerun(c.test, c.side, _said(first[c.test]), c.status.value)
                      for c in again if c.test in first]
    return again


def _said(check: CheckResult) -> str:
    line = check.message.splitlines()[0][:200] if check.message else ""
    return f"{check.status.value}: {line}" if line else check.status.value
