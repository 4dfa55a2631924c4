"""Run configuration, validated once at the edge into typed objects."""

from __future__ import annotations

import ast
import os
import re
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from harness.bench.operations import parse_injection
from harness.catalog.classify import check_team_catalog
from harness.envs.spec import MlflowSpec, parse_extra, parse_spec
from harness.errors import UsageError
from harness.project.run import ProjectSettings, check_project
from harness.proxy.service import check_template
from harness.redact import register_secret
from harness.runtime.ports import require_free
from harness.team import check_scenario_dirs


class Provider(StrEnum):
    AUTO = "auto"
    LOCAL = "local"
    DOCKER = "docker"
    EXTERNAL = "external"


SIDES = ("from", "to")


@dataclass(frozen=True)
class SideConfig:
    """One side of the upgrade: `from` (old) or `to` (new)."""

    role: str
    spec: MlflowSpec
    extras: tuple[str, ...] = ()
    image: str | None = None  # run this side's server from a team's image, not its environment
    port: int | None = None  # a fixed 127.0.0.1 port for this side's server (default: free one)
    # Appended to this side's tracking server command (`mlflow server … ARGS`), checked;
    # `--server-workers N` is folded in here as `--workers N`.
    server_args: tuple[str, ...] = ()

    @property
    def image_option(self) -> str:
        return f"--{self.role}-image"

    @property
    def server_arg_option(self) -> str:
        return f"--{self.role}-server-arg"


@dataclass(frozen=True)
class ClientConfig:
    """A client version of the compatibility matrix: `from`, `to`, or an extra version with a
    client environment of its own (role `client1`, `client2`, …) and no server."""

    role: str
    spec: MlflowSpec


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
class RunConfig:
    sides: tuple[SideConfig, SideConfig]
    out_dir: Path
    cache_dir: Path
    provider: Provider = Provider.AUTO
    as_of_release: bool = False
    exclude_newer: str | None = None
    external: ExternalTargets = field(default_factory=ExternalTargets)
    docker: DockerImages = field(default_factory=DockerImages)
    select: str | None = None
    server_workers: int | None = None  # `--workers N` on both sides; None: MLflow's default
    migration_scale: int = 1
    from_dump: Path | None = None
    deltaone_detector: str | None = None  # "FILE:FUNCTION", checked; None = the reference one
    proxy_command: str | None = None  # a team's proxy as a command template; None = reference
    bench: bool = True
    bench_budget_s: float = 180.0
    regression_threshold: float = 0.20
    inject_latency: tuple[tuple[str, float], ...] = ()
    fail_on_inconclusive: bool = False
    scenario_timeout_s: float = 900.0
    sequential: bool = False  # scenarios one after the other, not in concurrent lanes
    # Compatibility matrix: the client versions run against both servers (default: from, to),
    # whether off-diagonal cells run at all, and whether only the matrix runs.
    clients: tuple[ClientConfig, ...] = ()
    matrix: bool = True
    matrix_only: bool = False
    scan_paths: tuple[Path, ...] = ()  # the team's code, for the breaking-change scan
    catalog: Path | None = None  # the team's own documented changes, defects and API changes
    scenario_dirs: tuple[Path, ...] = ()  # the team's scenario folders (--scenarios)
    project: ProjectSettings | None = None  # the team's repository and its test suite
    builtin: bool = True  # run the harness's own scenarios too
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def from_side(self) -> SideConfig:
        return self.sides[0]

    @property
    def to_side(self) -> SideConfig:
        return self.sides[1]

    @property
    def matrix_clients(self) -> tuple[ClientConfig, ...]:
        """The clients whose cells run: those asked for, or both sides' own clients."""
        return self.clients or tuple(ClientConfig(s.role, s.spec) for s in self.sides)

    @property
    def extra_clients(self) -> tuple[ClientConfig, ...]:
        """Matrix clients that are neither side: they get client environments of their own."""
        return tuple(c for c in self.matrix_clients if c.role not in SIDES)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlflow-upgrade-harness"


def build_config(
    *,
    from_spec: str,
    to_spec: str,
    out_dir: str,
    from_extras: list[str] | None = None,
    to_extras: list[str] | None = None,
    from_image: str | None = None,
    to_image: str | None = None,
    from_port: int | None = None,
    to_port: int | None = None,
    cache_dir: str | None = None,
    provider: str = "auto",
    as_of_release: bool = False,
    exclude_newer: str | None = None,
    external: ExternalTargets | None = None,
    docker: DockerImages | None = None,
    select: str | None = None,
    server_workers: int | None = None,
    from_server_args: list[str] | None = None,
    to_server_args: list[str] | None = None,
    migration_scale: int = 1,
    from_dump: str | None = None,
    deltaone_detector: str | None = None,
    proxy_command: str | None = None,
    bench: bool = True,
    bench_budget_s: float = 180.0,
    regression_threshold: float = 0.20,
    inject_latency: list[str] | None = None,
    fail_on_inconclusive: bool = False,
    scenario_timeout_s: float = 900.0,
    sequential: bool = False,
    clients: list[str] | None = None,
    matrix: bool = True,
    matrix_only: bool = False,
    scan_paths: list[str] | None = None,
    catalog: str | None = None,
    scenario_dirs: list[str] | None = None,
    builtin: bool = True,
    project: str | None = None,
    project_tests: str | None = None,
    project_requirements: str | None = None,
    project_timeout_s: float = 900.0,
) -> RunConfig:
    """Validate raw option values into a RunConfig; raises UsageError/SpecError on bad input."""
    if server_workers is not None and not 1 <= server_workers <= 16:
        raise UsageError("--server-workers must be between 1 and 16")
    from_parsed, to_parsed = parse_spec(from_spec), parse_spec(to_spec)
    sides = (
        SideConfig("from", from_parsed, _extras(from_extras),
                   _image("--from-image", from_image), _port("--from-port", from_port),
                   _server_args("--from-server-arg", from_server_args, server_workers,
                                from_parsed)),
        SideConfig("to", to_parsed, _extras(to_extras), _image("--to-image", to_image),
                   _port("--to-port", to_port),
                   _server_args("--to-server-arg", to_server_args, server_workers, to_parsed)),
    )
    if from_port is not None and from_port == to_port:
        raise UsageError(f"--from-port and --to-port are both {from_port}: the two servers need "
                         "two ports")
    try:
        chosen = Provider(provider)
    except ValueError:
        names = ", ".join(p.value for p in Provider)
        raise UsageError(f"unknown provider {provider!r}: choose one of {names}") from None
    if exclude_newer is not None and not _DATE.match(exclude_newer):
        raise UsageError(f"--exclude-newer takes a date YYYY-MM-DD, not {exclude_newer!r}")
    if exclude_newer is not None and as_of_release:
        raise UsageError("--exclude-newer and --as-of-release contradict each other: pick one")
    if not 1 <= migration_scale <= 10_000:
        raise UsageError("--scale must be between 1 and 10000")
    if not 10 <= bench_budget_s <= 86_400:
        raise UsageError("--bench-budget must be between 10 and 86400 seconds")
    if not 0 < regression_threshold < 10:
        raise UsageError("--regression-threshold is a percentage between 0 and 1000")
    if not 5 <= scenario_timeout_s <= 86_400:
        raise UsageError("--scenario-timeout must be between 5 and 86400 seconds")
    if matrix_only and not matrix:
        raise UsageError("--matrix-only and --no-matrix contradict each other: pick one")
    bench = bench and not matrix_only  # the matrix alone: no benchmark
    injected = parse_injection(inject_latency or [])
    if injected and not bench:
        raise UsageError("--inject-latency needs the benchmark phase: drop --no-bench "
                         "(and --matrix-only)")
    chosen_clients = _clients(clients or [], sides)
    if chosen_clients and not matrix:
        raise UsageError("--clients needs the compatibility matrix: drop --no-matrix")
    targets = external or ExternalTargets()
    register_secret(targets.s3_secret_key)
    if targets.postgres_dsn:
        register_secret(urlsplit(targets.postgres_dsn).password)
    if chosen is Provider.EXTERNAL and not (targets.postgres_dsn and targets.s3_endpoint):
        raise UsageError("--provider external needs --postgres-dsn and --s3-endpoint")
    out = Path(out_dir).expanduser()
    check_writable(out)
    settings = check_project(project, project_tests, project_requirements,
                             project_timeout_s) if project else None
    return RunConfig(
        sides=sides,
        out_dir=out.resolve(),
        cache_dir=Path(cache_dir).expanduser().resolve() if cache_dir else default_cache_dir(),
        provider=chosen,
        as_of_release=as_of_release,
        exclude_newer=exclude_newer,
        external=targets,
        docker=docker or DockerImages(),
        select=select,
        server_workers=server_workers,
        migration_scale=migration_scale,
        from_dump=_dump(from_dump),
        deltaone_detector=_detector(deltaone_detector),
        proxy_command=check_template(proxy_command) if proxy_command is not None else None,
        bench=bench,
        bench_budget_s=bench_budget_s,
        regression_threshold=regression_threshold,
        inject_latency=injected,
        fail_on_inconclusive=fail_on_inconclusive,
        scenario_timeout_s=scenario_timeout_s,
        sequential=sequential,
        clients=chosen_clients,
        matrix=matrix,
        matrix_only=matrix_only,
        # The scan looks at the team's repository unless told where else.
        scan_paths=tuple(_existing("--scan", p)
                         for p in (scan_paths or ([project] if project else []))),
        catalog=check_team_catalog(_existing("--catalog", catalog)) if catalog else None,
        scenario_dirs=check_scenario_dirs(scenario_dirs or [], builtin),
        builtin=builtin,
        project=settings,
    )


def _existing(option: str, raw: str) -> Path:
    path = Path(raw).expanduser().resolve()
    if not path.exists():
        raise UsageError(f"{option} {raw}: no such file or folder")
    return path


def _clients(raw: list[str], sides: tuple[SideConfig, SideConfig]) -> tuple[ClientConfig, ...]:
    """`--clients 2.9.2,3.17.2`: a version equal to a side's is that side's client."""
    found: list[ClientConfig] = []
    for item in (part.strip() for value in raw for part in value.split(",")):
        if not item:
            raise UsageError(f"--clients: empty version in {','.join(raw)!r}")
        spec = parse_spec(item)
        role = next((s.role for s in sides if s.spec.raw == spec.raw and not s.extras), None)
        if role is None:
            role = f"client{sum(1 for c in found if c.role not in SIDES) + 1}"
        if any(c.spec.raw == spec.raw for c in found):
            raise UsageError(f"--clients: {item!r} is listed twice")
        found.append(ClientConfig(role, spec))
    return tuple(found)


def _dump(raw: str | None) -> Path | None:
    if raw is None:
        return None
    from harness.migration.drill import check_dump

    path = Path(raw).expanduser().resolve()
    check_dump(path)
    return path


def _detector(raw: str | None) -> str | None:
    """`FILE[:FUNCTION]` (default function `detect`): the file must define that function.

    Checked by parsing, not importing: the detector imports MLflow, which the harness never does.
    """
    if raw is None:
        return None
    file, _, function = raw.partition(":")
    function = function or "detect"
    path = Path(file).expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"--deltaone-detector: no such file {file!r}")
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError) as error:
        raise UsageError(f"--deltaone-detector: {file!r} is not valid Python: {error}") from None
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    if function not in defined:
        raise UsageError(f"--deltaone-detector: {file!r} defines no function {function!r}")
    return f"{path}:{function}"


def _port(option: str, port: int | None) -> int | None:
    """A port the user asks for must be valid and free now (checked again when it is bound)."""
    if port is None:
        return None
    if not 1024 <= port <= 65535:
        raise UsageError(f"{option} {port}: choose a port between 1024 and 65535")
    return require_free(port, option)


def _server_args(option: str, raw: list[str] | None, server_workers: int | None,
                 spec: MlflowSpec) -> tuple[str, ...]:
    """A side's extra `mlflow server` arguments, split and checked; `--server-workers N` becomes
    `--workers N` in front of them (and contradicts a --workers of their own)."""
    from harness.services.server_args import check_for_version, split_server_args, workers_in

    args = split_server_args(option, raw or [])
    if server_workers is not None:
        if workers_in(args) is not None:
            raise UsageError(f"--server-workers {server_workers} and {option} with --workers "
                             f"{workers_in(args)} contradict each other: give one")
        args = ("--workers", str(server_workers), *args)
    check_for_version(option, args, spec.version)
    return args


def _image(option: str, raw: str | None) -> str | None:
    from harness.services.mlflow_command import check_image_name

    return None if raw is None else check_image_name(option, raw)


def _extras(raw: list[str] | None) -> tuple[str, ...]:
    found: list[str] = []
    for item in raw or []:
        found.extend(parse_extra(item))
    return tuple(found)


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
