"""Results of one run: format-versioned, JSON in and out. See docs/results-format.md."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from harness.bench.result import BenchmarkResult
from harness.deploy.result import DeploymentResult
from harness.errors import UsageError
from harness.project.result import ProjectResult
from harness.redact import redact
from harness.results.matrix import Matrix
from harness.scale.result import ScaleResult
from harness.scan.report import ScanReport
from harness.traffic.result import TrafficResult

FORMAT_VERSION = 2
# Format 1 (before the matrix, merging and the verdict) is read: its new fields get defaults.
READABLE_VERSIONS = (1, 2)
SCHEMA_PATH = Path(__file__).with_name("schema.json")
PHASE_FIELDS = ("benchmark", "scan", "project", "verdict")
OPTIONAL_FIELDS = ("traffic", "deployment", "scale")  # left out of results.json when none


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    KNOWN_DEFECT = "known_defect"  # failed, reproducing a documented defect of that version


class RunStatus(StrEnum):
    PASSED = "passed"  # every check passed
    FAILED = "failed"  # a check failed: exit 1
    ERROR = "error"  # usage or infrastructure problem: exit 2
    INTERRUPTED = "interrupted"  # Ctrl-C / SIGTERM: exit 130


EXIT_CODES = {
    RunStatus.PASSED: 0, RunStatus.FAILED: 1, RunStatus.ERROR: 2, RunStatus.INTERRUPTED: 130
}


class Level(StrEnum):
    SAFE = "safe"
    CAVEATS = "safe_with_caveats"
    NOT_SAFE = "not_safe"
    NO_VERDICT = "no_verdict"


HEADLINES = {
    Level.SAFE: "Safe to upgrade",
    Level.CAVEATS: "Safe to upgrade, with caveats",
    Level.NOT_SAFE: "Not safe to upgrade",
    Level.NO_VERDICT: "No verdict",
}


@dataclass
class Verdict:
    """The one-line answer and its reasons (harness/verdict.py decides it)."""

    level: Level
    reasons: list[str] = field(default_factory=list)

    @property
    def headline(self) -> str:
        return HEADLINES[self.level]

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level.value, "headline": self.headline, "reasons": self.reasons}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict | None:
        return cls(Level(data["level"]), list(data.get("reasons", []))) if data else None


@dataclass
class CheckResult:
    """One scenario test in one cell: a side (a server version and its own client), or a
    client of another version against that server (see harness/matrix.py)."""

    scenario: str
    test: str
    side: str
    mlflow_version: str
    status: Status
    duration_s: float
    message: str = ""
    case: str = ""  # the test without its side: pairs `from` with `to`
    failing_call: str = ""
    details: str = ""
    defect: dict[str, str] = field(default_factory=dict)  # id, summary, source
    logs: dict[str, str] = field(default_factory=dict)
    observations: dict[str, Any] = field(default_factory=dict)
    client_version: str = ""  # the MLflow client that ran the test ("" for cross tests)
    server_version: str = ""  # the server it talked to
    in_matrix: bool = False  # a client-side scenario, run in every matrix cell


@dataclass
class DiffEntry:
    """One field whose normalized observation differs between the two sides."""

    test: str
    path: str
    old: Any
    new: Any
    scenario: str = ""
    # "unexpected" (fails the run), "expected" (documented in the catalog) or "finding"
    # (reported, e.g. a route the proxy does not forward; does not fail the run by itself)
    classification: str = "unexpected"
    catalog_id: str = ""
    summary: str = ""
    source: str = ""


@dataclass
class SideInfo:
    role: str
    spec: str
    mlflow_version: str = ""
    env_digest: str = ""
    env_reused: bool = False
    env_build_s: float = 0.0
    server_startup_s: float = 0.0
    server_image: str = ""  # the side's server ran from this image (--from-image/--to-image)
    server_args: list[str] = field(default_factory=list)  # appended to its `mlflow server`
    # {"sgi": "gunicorn"|"uvicorn", "workers": N, "workers_from": "mlflow default"|"argument"}
    server_setup: dict[str, Any] = field(default_factory=dict)
    client_preload_s: float = 0.0
    packages: dict[str, str] = field(default_factory=dict)


@dataclass
class RunResults:
    run_id: str
    started_at: str
    harness_version: str
    sides: list[SideInfo]
    status: RunStatus = RunStatus.ERROR
    finished_at: str = ""
    duration_s: float = 0.0
    error: str = ""
    services: dict[str, str] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    diff: list[DiffEntry] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    benchmark: BenchmarkResult | None = None  # see docs/results-format.md
    scan: ScanReport | None = None  # the breaking-change scan (--scan)
    project: ProjectResult | None = None  # the team's suite (--project)
    team_scenarios: list[str] = field(default_factory=list)  # names from --scenarios folders
    matrix: Matrix = field(default_factory=Matrix)  # harness/matrix.py summarize()
    merged_from: list[str] = field(default_factory=list)  # run ids, when `report` merged files
    verdict: Verdict | None = None  # harness/verdict.py: level, reasons
    traffic: TrafficResult | None = None  # the replay of the team's traffic (--replay)
    # Each side as deployed, the drift, the servers' health (harness/deploy/); None: nothing
    deployment: DeploymentResult | None = None
    scale: ScaleResult | None = None  # the store, the downtime, searches, memory (--scale)
    format_version: int = FORMAT_VERSION

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def completed(self) -> bool:
        """The run got to a verdict (no usage or infrastructure error, no interrupt)."""
        return self.status not in (RunStatus.ERROR, RunStatus.INTERRUPTED)

    def unexpected_differences(self) -> list[DiffEntry]:
        return [d for d in self.diff if d.classification == "unexpected"]

    def findings(self) -> list[DiffEntry]:
        return [d for d in self.diff if d.classification == "finding"]

    def to_json(self) -> str:
        data = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        for name in PHASE_FIELDS:  # a phase that did not run: an empty object, as always
            data[name] = data[name] if data[name] is not None else {}
        for name in OPTIONAL_FIELDS:  # newer phases: absent when they did not run
            if data[name] is None:
                del data[name]
        return json.dumps(data, indent=2, sort_keys=False)


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def write_results(results: RunResults, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(redact(results.to_json()) + "\n")
    tmp.replace(path)


def load_results(path: Path) -> RunResults:
    """Read a results file; refuses format versions this harness does not know."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise UsageError(f"cannot read results file {str(path)!r}: {error}") from None
    version = data.get("format_version") if isinstance(data, dict) else None
    if version not in READABLE_VERSIONS:
        raise UsageError(
            f"{str(path)!r} has results format {version!r}; this harness reads formats "
            f"{', '.join(map(str, READABLE_VERSIONS))}: re-run it, or render it with the "
            "harness version that wrote it"
        )
    return RunResults(
        run_id=data["run_id"],
        started_at=data["started_at"],
        harness_version=data["harness_version"],
        sides=[SideInfo(**s) for s in data["sides"]],
        status=RunStatus(data["status"]),
        finished_at=data.get("finished_at", ""),
        duration_s=data.get("duration_s", 0.0),
        error=data.get("error", ""),
        services=data.get("services", {}),
        phases=data.get("phases", {}),
        checks=[
            CheckResult(**{**c, "status": Status(c["status"])}) for c in data.get("checks", [])
        ],
        diff=[DiffEntry(**d) for d in data.get("diff", [])],
        machine=data.get("machine", {}),
        benchmark=BenchmarkResult.from_dict(data["benchmark"]) if data.get("benchmark")
        else None,
        scan=ScanReport.from_dict(data["scan"]) if data.get("scan") else None,
        project=ProjectResult.from_dict(data["project"]) if data.get("project") else None,
        team_scenarios=data.get("team_scenarios", []),
        matrix=Matrix.from_dict(data.get("matrix") or {}),
        merged_from=data.get("merged_from", []),
        verdict=Verdict.from_dict(data.get("verdict") or {}),
        traffic=TrafficResult.from_dict(data["traffic"]) if data.get("traffic") else None,
        deployment=DeploymentResult.from_dict(data["deployment"]) if data.get("deployment")
        else None,
        scale=ScaleResult.from_dict(data["scale"]) if data.get("scale") else None,
    )
