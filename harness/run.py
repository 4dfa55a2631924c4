"""One run: provision the session, loop over the phases, tear down; never raises for user or
infrastructure errors (they become the results' status and error)."""

from __future__ import annotations

import os
import platform
import time
from datetime import UTC, datetime

import harness
from harness.config import RunConfig
from harness.errors import HarnessError
from harness.phases import PHASES, RunContext
from harness.progress import Progress
from harness.results.model import RunResults, RunStatus, SideInfo
from harness.services.server_args import server_setup
from harness.session import RunSession
from harness.verdict import conclude

LOG_LINES = 15  # of an infrastructure error's logs, kept with the error


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_results(config: RunConfig) -> RunResults:
    return RunResults(
        run_id=config.run_id,
        started_at=now(),
        harness_version=harness.__version__,
        sides=[SideInfo(role=s.role, spec=s.spec.raw, server_args=list(s.server_args))
               for s in config.sides]
        + [SideInfo(role=c.role, spec=c.spec.raw) for c in config.extra_clients],
        machine={"platform": platform.platform(), "python": platform.python_version(),
                 "cpus": os.cpu_count() or 0},
    )


def record_provisioned(session: RunSession, results: RunResults) -> None:
    """What the session started, as results.json tells it: services, environments, servers."""
    results.services = {
        "provider": session.provider.value if session.provider else "",
        "postgresql": type(session.postgres).__name__,
        "s3": type(session.s3).__name__,
    }
    for info in results.sides:
        runtime = session.client(info.role)
        info.mlflow_version = runtime.version
        info.env_digest = runtime.env.digest
        info.env_reused = runtime.env.reused
        info.env_build_s = runtime.env.build_seconds
        info.packages = runtime.env.packages
        if info.role in session.sides:
            side = session.sides[info.role]
            info.server_image = side.config.image or ""
            info.server_setup = server_setup(runtime.version, info.server_args)
            info.server_startup_s = round(side.server.startup_seconds, 2)
        info.client_preload_s = float(runtime.client.info.get("preload_seconds", 0.0))


def execute(config: RunConfig, progress: Progress) -> RunResults:
    """Provision, run every enabled phase, tear down, and conclude (the verdict and status)."""
    results = new_results(config)
    started = time.monotonic()
    try:
        with RunSession(config, progress) as session:
            session.provision()
            record_provisioned(session, results)
            results.status = RunStatus.PASSED  # completed so far; `conclude` decides
            context = RunContext(config, session, progress, results)
            for phase in PHASES:
                if phase.enabled(config) and not context.stopped:
                    phase.run(context)
    except KeyboardInterrupt:
        results.status, results.error = RunStatus.INTERRUPTED, "interrupted (Ctrl-C or SIGTERM)"
    except HarnessError as error:
        results.status, results.error = RunStatus.ERROR, str(error)
        logs = getattr(error, "logs", "")
        if logs:
            results.error += "\n" + "\n".join(logs.splitlines()[-LOG_LINES:])
    results.finished_at = now()
    results.duration_s = round(time.monotonic() - started, 2)
    results.phases = dict(progress.durations)
    conclude(results)
    return results
