"""Does each side's public URL reach its server? The same request, through the stand-in ingress
and by 127.0.0.1; a refusal only the public URL meets is a failed check naming the server's
answer and, where the catalog (harness/catalog/deployment.toml) knows one, the option that
fixes it. The side's scenarios then go by 127.0.0.1, so the run still tells what else breaks.
"""

from __future__ import annotations

import time

from harness.deploy.catalog import refusal_in
from harness.deploy.result import Reach
from harness.deploy.routes import PROBE_PATH, Answer, ask
from harness.results.model import CheckResult, Status
from harness.session import SideRuntime

SCENARIO = "deployment"
TEST = "deployment::public_url"


def probe(side: SideRuntime) -> tuple[Reach, CheckResult] | None:
    """The side's public URL probed (None without one)."""
    route = side.route
    if route is None or route.front is None:
        return None
    front, began = route.front, time.monotonic()
    public = ask(front.port, front.public.path + PROBE_PATH)
    loopback = ask(side.server.port, route.upstream_path(PROBE_PATH))
    refused = loopback.ok and not public.ok and not public.by_front
    reach = Reach(side.role, side.version, front.public.text, public.shown(),
                  loopback.shown(), refused)
    refusal = refusal_in(public.text) if refused else None
    if refusal is not None and refusal.applies(side.version):
        reach.fix = refusal.fix(front.public.host_header, front.public.origin)
        reach.source = refusal.source
    if refused:
        route.refused = public.shown()
    return reach, _check(side, public.ok, _message(reach, public), began)


def _check(side: SideRuntime, passed: bool, message: str, began: float) -> CheckResult:
    return CheckResult(
        scenario=SCENARIO, test=f"{TEST}[{side.role}]", case=TEST, side=side.role,
        mlflow_version=side.version, status=Status.PASSED if passed else Status.FAILED,
        duration_s=round(time.monotonic() - began, 3), message=message,
        client_version=side.version, server_version=side.version)


def _message(reach: Reach, public: Answer) -> str:
    if public.ok:
        return ""
    if reach.refused:
        fix = f"; fix: {reach.fix} ({reach.source})" if reach.fix else ""
        return (f"mlflow {reach.version} refuses its public URL {reach.url}: {reach.public}"
                f"{fix}; by 127.0.0.1 it answers {reach.loopback}, and this side's scenarios "
                "ran so")
    return (f"the public URL {reach.url} does not reach mlflow {reach.version}: "
            f"{reach.public} (by 127.0.0.1: {reach.loopback})")


def annotated(message: str, text: str, side: SideRuntime | None) -> str:
    """A failed check's message with the fix of a catalogued refusal its failure carries,
    when the side is reached by its public URL (a route the probe let through, refused
    further on)."""
    if side is None or side.route is None or not side.route.public:
        return message
    refusal = refusal_in(text)
    front = side.route.front
    if refusal is None or front is None or not refusal.applies(side.version):
        return message
    fix = refusal.fix(front.public.host_header, front.public.origin)
    return f"refused for the public URL {front.public.text} (fix: {fix}): {message}"
