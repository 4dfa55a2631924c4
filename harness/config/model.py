"""The run's configuration: one frozen, typed part per concern, each validating itself from the
option values (`from_values`), composed into `RunConfig`.

Nothing here starts anything: a usage error leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.config.sides import SIDES, ClientConfig, SideConfig
from harness.errors import UsageError
from harness.project.run import ProjectSettings, check_project
from harness.redact import register_secret
from harness.scale.profile import StoreSize, parse_scale, parse_slow_step
from harness.traffic.config import TrafficConfig

Values = Mapping[str, Any]
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Provider(StrEnum):
    AUTO = "auto"
    LOCAL = "local"
    DOCKER = "docker"
    EXTERNAL = "external"


@dataclass(frozen=True)
class ExternalTargets:
    postgres_dsn: str | None = None
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_bucket: str | None = None


@dataclass(frozen=True)
class DockerImages:
    postgres: str = "postgres:16"
    s3: str = "minio/minio:latest"
    s3_kind: str = "minio"


@dataclass(frozen=True)
class ServicesConfig:
    """Where PostgreSQL and S3 come from."""

    provider: Provider = Provider.AUTO
    external: ExternalTargets = field(default_factory=ExternalTargets)
    docker: DockerImages = field(default_factory=DockerImages)

    @classmethod
    def from_values(cls, values: Values) -> ServicesConfig:
        try:
            provider = Provider(values["provider"])
        except ValueError:
            names = ", ".join(p.value for p in Provider)
            raise UsageError(f"unknown provider {values['provider']!r}: choose one of "
                             f"{names}") from None
        targets = ExternalTargets(
            postgres_dsn=values["postgres_dsn"], s3_endpoint=values["s3_endpoint"],
            # Credentials come from the environment, never from the command line or a file.
            s3_access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
            s3_secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
            s3_bucket=values["s3_bucket"])
        register_secret(targets.s3_secret_key)
        if targets.postgres_dsn:
            register_secret(urlsplit(targets.postgres_dsn).password)
        if provider is Provider.EXTERNAL and not (targets.postgres_dsn and targets.s3_endpoint):
            raise UsageError("--provider external needs --postgres-dsn and --s3-endpoint")
        image = values["s3_image"]
        return cls(provider, targets, DockerImages(values["postgres_image"], image,
                                                   "moto" if "moto" in image else "minio"))


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlflow-upgrade-harness"


@dataclass(frozen=True)
class EnvironmentsConfig:
    """How each version's virtualenv is resolved, and where they are cached."""

    cache_dir: Path
    as_of_release: bool = False
    exclude_newer: str | None = None

    @classmethod
    def from_values(cls, values: Values) -> EnvironmentsConfig:
        newer = values.get("exclude_newer")
        if newer is not None and not _DATE.match(newer):
            raise UsageError(f"--exclude-newer takes a date YYYY-MM-DD, not {newer!r}")
        if newer is not None and values.get("as_of_release"):
            raise UsageError("--exclude-newer and --as-of-release contradict each other: pick "
                             "one")
        raw = values["cache_dir"]
        return cls(Path(raw).expanduser().resolve() if raw else default_cache_dir(),
                   bool(values.get("as_of_release")), newer)


@dataclass(frozen=True)
class ScenarioConfig:
    """Which scenarios run, and how."""

    select: str | None = None
    dirs: tuple[Path, ...] = ()  # the team's scenario folders (--scenarios)
    builtin: bool = True  # the harness's own scenarios too
    timeout_s: float = 900.0
    sequential: bool = False  # one after the other, not in concurrent lanes
    scale: StoreSize | None = None  # --scale: None is `small` (no bulk store)
    from_dump: Path | None = None
    pytest_args: tuple[str, ...] = ()  # options the scenario folders declare, as given
    slow_migration: tuple[str, float] | None = None  # --inject-slow-migration (a test hook)

    @classmethod
    def from_values(cls, values: Values, pytest_args: tuple[str, ...]) -> ScenarioConfig:
        from harness.migration.drill import check_dump
        from harness.team import check_scenario_dirs

        scale = parse_scale(values["scale"])
        if not 5 <= values["scenario_timeout"] <= 86_400:
            raise UsageError("--scenario-timeout must be between 5 and 86400 seconds")
        dump = values["from_dump"]
        if dump is not None:
            dump = Path(dump).expanduser().resolve()
            if scale is not None:
                raise UsageError(f"--from-dump and --scale {values['scale']} contradict each "
                                 "other: the dump is the store; pick one")
            check_dump(dump)
        builtin = not values["no_builtin"]
        return cls(values["select"], check_scenario_dirs(values["scenarios"], builtin), builtin,
                   values["scenario_timeout"], values["sequential"], scale, dump,
                   pytest_args, parse_slow_step(values["inject_slow_migration"]))


@dataclass(frozen=True)
class MatrixConfig:
    """The client × server compatibility matrix."""

    enabled: bool = True
    only: bool = False  # only the client-side scenarios (a tox client shard)
    clients: tuple[ClientConfig, ...] = ()  # asked for; none: both sides' own clients

    @classmethod
    def from_values(cls, values: Values, sides: tuple[SideConfig, SideConfig]) -> MatrixConfig:
        from harness.config.sides import clients_from

        enabled, only = not values["no_matrix"], values["matrix_only"]
        if only and not enabled:
            raise UsageError("--matrix-only and --no-matrix contradict each other: pick one")
        clients = clients_from(values["clients"], sides)
        if clients and not enabled:
            raise UsageError("--clients needs the compatibility matrix: drop --no-matrix")
        return cls(enabled, only, clients)


@dataclass(frozen=True)
class BenchConfig:
    """The benchmark gate."""

    enabled: bool = True
    budget_s: float = 180.0
    threshold: float = 0.20
    inject: tuple[tuple[str, float], ...] = ()
    fail_on_inconclusive: bool = False
    artifact: str = "64mb"  # --artifact-size: the large transfers' size

    @classmethod
    def from_values(cls, values: Values, matrix_only: bool) -> BenchConfig:
        from harness.bench.operations import artifact_size, parse_injection

        if not 10 <= values["bench_budget"] <= 86_400:
            raise UsageError("--bench-budget must be between 10 and 86400 seconds")
        if not 0 < values["regression_threshold"] < 10:
            raise UsageError("--regression-threshold is a percentage between 0 and 1000")
        enabled = not values["no_bench"] and not matrix_only  # the matrix alone: no benchmark
        injected = parse_injection(values["inject_latency"])
        if injected and not enabled:
            raise UsageError("--inject-latency needs the benchmark phase: drop --no-bench "
                             "(and --matrix-only)")
        return cls(enabled, values["bench_budget"], values["regression_threshold"], injected,
                   values["fail_on_inconclusive"], artifact_size(values["artifact_size"]))


@dataclass(frozen=True)
class ScanConfig:
    """The breaking-change scan of the team's code, and the team's own catalog."""

    paths: tuple[Path, ...] = ()
    catalog: Path | None = None  # also read by the scenarios' classification

    @classmethod
    def from_values(cls, values: Values) -> ScanConfig:
        from harness.catalog.classify import check_team_catalog

        # The scan looks at the team's repository unless told where else.
        raw = values["scan"] or ([values["project"]] if values["project"] else [])
        catalog = values["catalog"]
        return cls(tuple(existing("--scan", p) for p in raw),
                   check_team_catalog(existing("--catalog", catalog)) if catalog else None)


def project_from(values: Values) -> ProjectSettings | None:
    """The team's repository and its test suite (`--project`), or None."""
    if not values["project"]:
        return None
    return check_project(values["project"], values["project_tests"],
                         values["project_requirements"], values["project_timeout"])


@dataclass(frozen=True)
class ReportConfig:
    """Where the reports go, and what the console says."""

    out_dir: Path
    quiet: bool = False

    @classmethod
    def from_values(cls, values: Values) -> ReportConfig:
        out = Path(values["out"]).expanduser()
        check_writable(out)
        return cls(out.resolve(), values["quiet"])


@dataclass(frozen=True)
class RunConfig:
    sides: tuple[SideConfig, SideConfig]
    environments: EnvironmentsConfig
    services: ServicesConfig
    scenarios: ScenarioConfig
    matrix: MatrixConfig
    bench: BenchConfig
    scan: ScanConfig
    project: ProjectSettings | None
    reports: ReportConfig
    traffic: TrafficConfig = field(default_factory=TrafficConfig)  # --replay
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def from_side(self) -> SideConfig:
        return self.sides[0]

    @property
    def to_side(self) -> SideConfig:
        return self.sides[1]

    @property
    def out_dir(self) -> Path:
        return self.reports.out_dir

    @property
    def cache_dir(self) -> Path:
        return self.environments.cache_dir

    @property
    def matrix_clients(self) -> tuple[ClientConfig, ...]:
        """The clients whose cells run: those asked for, or both sides' own clients."""
        return self.matrix.clients or tuple(ClientConfig(s.role, s.spec) for s in self.sides)

    @property
    def extra_clients(self) -> tuple[ClientConfig, ...]:
        """Matrix clients that are neither side: they get client environments of their own."""
        return tuple(c for c in self.matrix_clients if c.role not in SIDES)


def existing(option: str, raw: str) -> Path:
    path = Path(raw).expanduser().resolve()
    if not path.exists():
        raise UsageError(f"{option} {raw}: no such file or folder")
    return path


def check_writable(out: Path) -> None:
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UsageError(f"--out {str(out)!r}: {str(probe)!r} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"--out {str(out)!r} is not writable")
