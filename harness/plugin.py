"""The pytest plugin: fixtures that give a scenario a running server per version and a client.

Used two ways: `mlflow-upgrade-harness run` provisions first and hands its session in; or
`pytest scenarios/ --mlflow-from 2.9.2 --mlflow-to 3.4.0` provisions itself (the plugin is
registered as the `harness.plugin` pytest11 entry point, so a team's repository needs no `-p`).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.agent.client import Agent
from harness.catalog.classify import known_defect
from harness.config import SIDES
from harness.config.pytest_options import add_plugin_options, run_config, versions_given
from harness.console import one_line
from harness.deploy.reach import annotated
from harness.errors import ClientCallError, HarnessError
from harness.matrix import MARKER, Cell, cells_for, is_cell, parse_cell
from harness.progress import Progress
from harness.results.model import CheckResult, Status
from harness.runtime.processes import tail
from harness.session import ClientRuntime, RunSession, SideRuntime
from harness.team import BUILTIN_SCENARIOS, clients_dir
from harness.watchdog import InfrastructureDown, scenario_deadline

SESSION_KEY = pytest.StashKey["RunSession"]()
COLLECTOR_KEY = pytest.StashKey["Collector"]()
CROSS = "cross"  # a test that uses both sides at once (client/server skew)
CLIENTS_DIR = BUILTIN_SCENARIOS / "clients"


@dataclass
class Collector:
    """Gathers one CheckResult per scenario test and side."""

    checks: list[CheckResult] = field(default_factory=list)
    observations: dict[str, dict[str, Any]] = field(default_factory=dict)
    failing_calls: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False


@dataclass
class Client:
    """Runs functions from `clients/<module>.py` beside the scenario (the built-in
    `scenarios/clients/` for the harness's own) in one side's MLflow environment, against one
    side's server (the same side, or the other one for client/server skew)."""

    agent: Agent
    tracking_uri: str
    nodeid: str
    collector: Collector
    folder: Path = CLIENTS_DIR

    def call(self, target: str, timeout: float = 300.0, **kwargs: Any) -> Any:
        """`call("tracking:roundtrip", prefix=…)`; the tracking URI is passed as `tracking_uri`."""
        module, _, function = target.partition(":")
        path = self.folder / f"{module}.py"
        try:
            return self.agent.call(
                path, function, timeout=timeout, tracking_uri=self.tracking_uri, **kwargs
            )
        except ClientCallError as error:
            self.collector.failing_calls.setdefault(self.nodeid, f"{target}: {error}")
            raise


def pytest_addoption(parser: pytest.Parser) -> None:
    add_plugin_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[COLLECTOR_KEY] = Collector()
    config.addinivalue_line(
        "markers", f"{MARKER}: a client-side scenario, run in every client × server cell")


def _matrix_cells(config: pytest.Config) -> list[Cell]:
    """The cells of the run's matrix (both sides' clients when pytest provisions itself)."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        return cells_for(SIDES)
    run = session.config
    if not run.matrix.enabled:
        return cells_for([])
    same = {s.role for s in run.sides} if run.from_side.spec == run.to_side.spec \
        and run.from_side.extras == run.to_side.extras else set()
    # A same-version run: a side's client on the other side's server is the diagonal again.
    return [cell for cell in cells_for(c.role for c in run.matrix_clients)
            if cell.diagonal or not {cell.client, cell.server} <= same]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "side" not in metafunc.fixturenames or "harness_session" not in metafunc.fixturenames:
        return  # not a scenario (the plugin is loaded in every pytest run, by entry point)
    values = list(SIDES)
    if metafunc.definition.get_closest_marker(MARKER) is not None:
        values += [cell.id for cell in _matrix_cells(metafunc.config) if not cell.diagonal]
    metafunc.parametrize("side", values, ids=lambda role: str(role), scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--matrix-only`: only the matrix scenarios, in the cells of the listed clients."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not session.config.matrix.only:
        return
    wanted = {cell.id for cell in _matrix_cells(config)}
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        side = side_of(item)
        chosen = item.get_closest_marker(MARKER) is not None and side in wanted
        (keep if chosen else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def harness_session(request: pytest.FixtureRequest) -> Iterator[RunSession]:
    """The provisioned run: handed in by the CLI, or built from --mlflow-from/--mlflow-to."""
    config = request.config
    if SESSION_KEY in config.stash:
        yield config.stash[SESSION_KEY]
        return
    if not versions_given(config):
        pytest.skip("scenarios need --mlflow-from and --mlflow-to (or mlflow-upgrade-harness run)")
    try:
        provisioned = run_config(config)
    except HarnessError as error:
        raise pytest.UsageError(str(error)) from None
    with RunSession(provisioned, Progress()) as session:
        session.provision()
        yield session


@pytest.fixture(scope="session")
def run_prefix(harness_session: RunSession) -> str:
    """A name prefix unique to this run, so runs never collide on a shared server."""
    return f"muh-{harness_session.config.run_id}"


@pytest.fixture(scope="session")
def mlflow_side(harness_session: RunSession, side: str) -> SideRuntime:
    """The side under test: its environment, server and client."""
    if side not in harness_session.sides:
        raise pytest.UsageError(f"mlflow_side has no meaning in matrix cell {side!r}: "
                                "a matrix scenario talks to its server through mlflow_client")
    return harness_session.sides[side]


def _clients(request: pytest.FixtureRequest) -> Path:
    """Where this scenario's client modules are (a module may name its own folder)."""
    named = getattr(getattr(request.node, "module", None), "CLIENTS_DIR", None)
    return clients_dir(request.node.path, named if isinstance(named, str | Path) else None)


@pytest.fixture
def mlflow_client(
    harness_session: RunSession, side: str, request: pytest.FixtureRequest
) -> Client:
    """Client code runs in the cell's client version (the side's own, on the diagonal),
    against the cell's server."""
    collector = request.config.stash[COLLECTOR_KEY]
    cell = parse_cell(side)
    agent = harness_session.client(cell.client).client
    url = harness_session.sides[cell.server].tracking_uri  # its public URL, as described
    return Client(agent, url, request.node.nodeid, collector, _clients(request))


@pytest.fixture
def client_for(
    harness_session: RunSession, request: pytest.FixtureRequest
) -> Callable[[str, str], Client]:
    """`client_for("from", "to")`: the old version's client against the new server."""
    collector = request.config.stash[COLLECTOR_KEY]

    def make(client_side: str, server_side: str) -> Client:
        agent = harness_session.sides[client_side].client
        url = harness_session.sides[server_side].tracking_uri
        return Client(agent, url, request.node.nodeid, collector,
                      _clients(request))

    return make


@pytest.fixture
def client_via(
    mlflow_side: SideRuntime, request: pytest.FixtureRequest
) -> Callable[[str], Client]:
    """`client_via(url)`: the side's own client against another URL (e.g. a proxy in front)."""
    collector = request.config.stash[COLLECTOR_KEY]

    def make(url: str) -> Client:
        return Client(mlflow_side.client, url, request.node.nodeid, collector,
                      _clients(request))

    return make


@pytest.fixture
def observe(request: pytest.FixtureRequest) -> Callable[[dict[str, Any]], None]:
    """Record observations (raw; normalized when diffed) for this test and side."""
    collector = request.config.stash[COLLECTOR_KEY]
    nodeid = request.node.nodeid

    def record(observations: dict[str, Any]) -> None:
        collector.observations.setdefault(nodeid, {}).update(observations)

    return record


def _server_roles(item: pytest.Item, session: RunSession) -> list[str]:
    """The servers a scenario talks to: its cell's, or every side's for a cross-side test."""
    side = side_of(item)
    if side is not None:
        return [parse_cell(side).server]
    if "harness_session" in getattr(item, "fixturenames", ()):
        return list(session.sides)
    return []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """The health gate: a scenario whose server, PostgreSQL or S3 is already down fails here,
    at once, instead of waiting out its client's timeouts."""
    session = item.config.stash.get(SESSION_KEY, None)
    if session is None:
        return
    roles = _server_roles(item, session)
    problem = session.health_problem(roles) if roles else None
    if problem:
        raise InfrastructureDown(problem)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """The deadline: no scenario runs past the run's --scenario-timeout."""
    session = item.config.stash.get(SESSION_KEY, None)
    limit = session.config.scenarios.timeout_s if session is not None else 0.0
    with scenario_deadline(limit, item.nodeid.split("::", 1)[-1]):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    side = side_of(item)
    if side is None:
        if "harness_session" not in getattr(item, "fixturenames", ()):
            return report
        side = CROSS
    is_setup_failure = report.when == "setup" and not report.passed
    if report.when == "call" or is_setup_failure or (report.when == "teardown" and report.failed):
        check = _record(item, report, side)
        if check is not None and check.status is Status.KNOWN_DEFECT and report.when == "call":
            # Show it as pytest shows an expected failure ('x'), not as a red FAILED.
            report.outcome = "skipped"
            report.wasxfail = f"known defect {check.defect['id']}: {check.defect['source']}"
    return report


def side_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    side = callspec.params.get("side")
    return str(side) if isinstance(side, str) and is_cell(side) else None


def case_of(item: pytest.Item, side: str) -> str:
    """The test's node id without the side: the key that pairs `from` with `to`."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return item.nodeid
    ident = _without(callspec.id, side)
    base = item.nodeid.split("[", 1)[0]
    return f"{base}[{ident}]" if ident else base


def _without(ident: str, side: str) -> str:
    """A parametrize id (`a-b-c`) without the side's part."""
    if ident == side:
        return ""
    if ident.startswith(f"{side}-"):
        return ident.removeprefix(f"{side}-")
    if ident.endswith(f"-{side}"):
        return ident.removesuffix(f"-{side}")
    return ident.replace(f"-{side}-", "-", 1)


def _outcome(report: pytest.TestReport) -> tuple[Status, str, str]:
    """The status, message and details a report says (before known defects are looked up)."""
    if report.passed:
        return Status.PASSED, "", ""
    if report.skipped:
        longrepr = report.longrepr
        return Status.SKIPPED, str(longrepr[2]) if isinstance(longrepr, tuple) else "", ""
    status = Status.FAILED if report.when == "call" else Status.ERROR
    crash = getattr(report.longrepr, "reprcrash", None)
    message = str(getattr(crash, "message", "") or report.longreprtext.splitlines()[-1:])
    return status, message, report.longreprtext[-4000:]


def _failure_logs(session: RunSession | None, side: str, runtime: SideRuntime | None,
                  client_runtime: SideRuntime | ClientRuntime | None) -> dict[str, str]:
    """Log tails for a failed check: its servers and clients, and PostgreSQL or S3 if down."""
    logs: dict[str, str] = {}
    runtimes = [runtime] if runtime is not None else []
    if side == CROSS and session is not None:
        runtimes = list(session.sides.values())
    for each in runtimes:
        logs[f"server {each.role} {each.version}"] = each.server.logs(30)
        logs[f"client {each.role} {each.version}"] = tail(each.client.log_path, 30)
    if session is not None:  # the culprit, when PostgreSQL or S3 went down
        for label, service in (("postgresql", session.postgres), ("s3", session.s3)):
            if service is not None and not service.alive():
                logs[label] = service.logs(30)
    if client_runtime is not None and client_runtime is not runtime:
        logs[f"client {client_runtime.role} {client_runtime.version}"] = tail(
            client_runtime.client.log_path, 30)
    return logs


def _record(item: pytest.Item, report: pytest.TestReport, side: str) -> CheckResult | None:
    collector = item.config.stash[COLLECTOR_KEY]
    session = item.config.stash.get(SESSION_KEY, None)
    cell = parse_cell(side) if side != CROSS else None
    runtime = session.sides.get(cell.server) if session is not None and cell else None
    client_runtime = session.client(cell.client) if runtime and cell and session else None
    version = runtime.version if runtime else ""
    client_version = client_runtime.version if client_runtime else ""
    if side == CROSS and session is not None and session.sides:
        version = " → ".join(session.sides[role].version for role in SIDES)
    status, message, details = _outcome(report)
    failed = status in (Status.FAILED, Status.ERROR)
    if failed:  # a refusal only the public URL meets: the option that fixes it
        message = annotated(message, f"{message}\n{details}", runtime)
    logs = _failure_logs(session, side, runtime, client_runtime) if failed else {}
    case = case_of(item, side)
    defect = None
    if status is Status.FAILED:
        said = message.strip()
        defect = known_defect(case, version, said) or (
            known_defect(case, client_version, said) if client_version != version else None)
    if defect is not None:
        status = Status.KNOWN_DEFECT
    module = item.path.stem
    existing = [c for c in collector.checks if c.test == item.nodeid]
    if existing and existing[0].status is not Status.PASSED:
        return None  # keep the first failure (call) over a later teardown error
    collector.checks = [c for c in collector.checks if c.test != item.nodeid]
    check = CheckResult(
        scenario=module.removeprefix("test_"),
        test=item.nodeid,
        case=case,
        side=side,
        mlflow_version=version,
        status=status,
        duration_s=round(report.duration, 3),
        message=message.strip()[:500],
        failing_call=collector.failing_calls.get(item.nodeid, "")[:500],
        details=details,
        defect={"id": defect.id, "summary": defect.summary, "source": defect.source}
        if defect else {},
        logs=logs,
        observations=collector.observations.get(item.nodeid, {}),
        client_version=client_version,
        server_version=version if runtime else "",
        in_matrix=item.get_closest_marker(MARKER) is not None,
    )
    collector.checks.append(check)
    return check


class SessionInjector:
    """Registered by the CLI: hands its provisioned session to the fixtures, and tells the run's
    progress what runs and how each test ended (one labelled line per check that did not pass,
    `console.one_line`; tracebacks, logs and failing calls are in the reports)."""

    def __init__(self, session: RunSession) -> None:
        self.session = session
        self.collector = Collector()
        self.where: dict[str, tuple[str, str]] = {}  # node id → (scenario, side or cell)

    @property
    def progress(self) -> Progress:
        return self.session.progress

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[SESSION_KEY] = self.session

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        totals: dict[str, int] = {}
        for item in session.items:
            scenario = item.path.stem.removeprefix("test_")
            side = side_of(item) or (CROSS if "harness_session" in getattr(
                item, "fixturenames", ()) else "")
            self.where[item.nodeid] = (scenario, side)
            totals[scenario] = totals.get(scenario, 0) + 1
        self.progress.scenarios_collected(totals)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        scenario, side = self.where.get(nodeid, (nodeid.split("::")[0], ""))
        self.progress.test_started(scenario, side)

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        scenario, _ = self.where.get(nodeid, (nodeid.split("::")[0], ""))
        checks = [check for check in self.collector.checks if check.test == nodeid]
        lines = [line for check in checks if (line := one_line(check))]
        self.progress.test_finished(scenario, checks, lines)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.collector = session.config.stash[COLLECTOR_KEY]
        # pytest's own output is not shown (scenarios_runner); its failure sections are not
        # even rendered: the reports have them.
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.summary_failures = lambda: None
            reporter.summary_errors = lambda: None

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.collector.interrupted = True
