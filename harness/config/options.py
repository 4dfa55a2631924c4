"""Every option of the harness, declared once.

The command line (`parser.py`), the config file (`file.py`), the pytest plugin's options
(`harness/plugin.py`) and the README's option table (`table.py`) are all derived from
`OPTIONS`. Adding an option is one `Option(...)` here plus the code that uses its value
(read it in `model.py`, where each concern's configuration validates itself).

Naming: an option's `key` is its long flag without the dashes (`bench-budget`), its key in a
config file, and (with `-` → `_`) its attribute on the parsed values (`bench_budget`). A
`sided` option exists once per side: `--from-image`/`--to-image` on the command line,
`image` in the file's `[tool.mlflow-upgrade-harness.from]` and `.to` tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

SIDE_NAMES = {"from": "old", "to": "new"}


class Kind(StrEnum):
    """How a value is written on the command line and in a file."""

    TEXT = "text"
    PATH = "path"  # text; relative to the config file's folder when it comes from a file
    INT = "integer"
    FLOAT = "number"
    PERCENT = "percentage"  # `20`, `20%` (or 20 in a file): 0.20
    FLAG = "true or false"
    LIST = "list of text"  # repeatable on the command line, an array in a file
    PATHS = "list of paths"


class Group(StrEnum):
    SIDES = "old and new MLflow"
    SERVER = "server set-up"
    SERVICES = "PostgreSQL and S3"
    ENVIRONMENTS = "environments"
    SCENARIOS = "scenarios"
    MATRIX = "compatibility matrix"
    BENCHMARK = "benchmark gate"
    YOUR_CODE = "your code"
    TRAFFIC = "your traffic, replayed"
    OUTPUT = "output"
    RECORD = "recording your traffic (`record`)"


@dataclass(frozen=True)
class Option:
    key: str
    help: str
    group: Group
    kind: Kind = Kind.TEXT
    default: Any = None
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    sided: bool = False
    flags: tuple[str, ...] = ()  # instead of `--KEY` (a sided one: with `{side}` in it)
    in_file: bool = True  # whether a config file may set it
    commands: tuple[str, ...] = ("run",)
    exclusive: str = ""  # options sharing this name may not be given together
    # Checks and converts a value (argparse `type=`): options a scenario folder declares in
    # its conftest's `pytest_addoption` bring theirs; the table's own are checked in model.py.
    convert: Callable[[str], Any] | None = None
    plugin: bool = True  # also an option of the pytest plugin (`--harness-KEY`)
    # A config file may give a table instead of a value: this checks and converts it
    # (table, the file's folder, where it is for messages), raising ValueError with one line.
    table: Callable[[dict[str, Any], Path, str], Any] | None = None

    def dest(self, side: str = "") -> str:
        return f"{side}_{self.key}".replace("-", "_") if side else self.key.replace("-", "_")

    def cli_flags(self, side: str = "") -> tuple[str, ...]:
        if self.sided:
            template = self.flags or ("--{side}-" + self.key,)
            return tuple(flag.format(side=side) for flag in template)
        return self.flags or (f"--{self.key}",)

    def side_help(self, side: str) -> str:
        return self.help.format(side=SIDE_NAMES[side])

    def instances(self) -> list[tuple[str, str]]:
        """(side, dest) for each value the option carries: one, or one per side."""
        return [(side, self.dest(side)) for side in SIDE_NAMES] if self.sided \
            else [("", self.dest())]

    @property
    def repeatable(self) -> bool:
        return self.kind in (Kind.LIST, Kind.PATHS)


def _deployment_table(table: dict[str, Any], folder: Path, source: str) -> Any:
    from harness.deploy.load import table_option

    return table_option(table, folder, source)


_SIDES = [
    Option("mlflow", "{side} MLflow: version (2.9.2), pip specifier, wheel file or VCS URL",
           Group.SIDES, sided=True, flags=("--{side}",), metavar="SPEC",
           commands=("run", "scan")),
    Option("extra", "extra requirement for the {side} side (repeatable; `-r FILE` reads a file)",
           Group.SIDES, Kind.LIST, sided=True, metavar="REQ"),
    Option("image", "run the {side} side's MLflow server (and its `mlflow db upgrade`) from your "
           "image; its `mlflow --version` must match the side's", Group.SIDES, sided=True,
           metavar="IMAGE"),
    Option("port", "fixed 127.0.0.1 port for the {side} server (default: a free one)",
           Group.SIDES, Kind.INT, sided=True, metavar="PORT"),
    Option("deployment", "the {side} side's deployment: a TOML file (server options, environment, "
           "secrets by name, basic-auth config, public URL, ingress headers) or a compose file "
           "(`compose.yml#service`); in a config file also a `.deployment` table (see "
           "docs/deployment.md)", Group.SERVER, Kind.PATH, sided=True, metavar="FILE",
           table=_deployment_table),
    Option("server-arg", "extra argument for the {side} server's `mlflow server`, split like a "
           "shell, repeatable (`\"--workers 4\"`, or `=--workers=4` for one word)",
           Group.SERVER, Kind.LIST, sided=True, metavar="ARG"),
]

_RUN = [
    Option("server-workers", "`--workers N` on both servers (default: none, so each version's "
           "own default, 4)", Group.SERVER, Kind.INT, metavar="N"),
    Option("provider", "where PostgreSQL and S3 come from; `auto` = docker when an engine "
           "answers and testcontainers is installed, else local", Group.SERVICES,
           default="auto", choices=("auto", "local", "docker", "external"),
           metavar="auto|local|docker|external"),
    Option("postgres-dsn", "external provider: `postgresql://user:pw@host:port/db` (a password: "
           "never read from a file)", Group.SERVICES, metavar="DSN", in_file=False),
    Option("s3-endpoint", "external provider: S3 endpoint URL (credentials from "
           "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)", Group.SERVICES, metavar="URL"),
    Option("s3-bucket", "external provider: your bucket (the run writes under its own prefix)",
           Group.SERVICES, metavar="NAME"),
    Option("postgres-image", "docker provider: PostgreSQL image", Group.SERVICES,
           default="postgres:16", metavar="IMAGE"),
    Option("s3-image", "docker provider: S3 image (a name containing `moto` runs as moto)",
           Group.SERVICES, default="minio/minio:latest", metavar="IMAGE",
           flags=("--s3-image", "--minio-image")),
    Option("cache-dir", "environment and API-surface cache (default: "
           "~/.cache/mlflow-upgrade-harness)", Group.ENVIRONMENTS, Kind.PATH, metavar="DIR",
           commands=("run", "scan")),
    Option("as-of-release", "resolve each side's dependencies as of its MLflow release date",
           Group.ENVIRONMENTS, Kind.FLAG, default=False, exclusive="resolve"),
    Option("exclude-newer", "resolve both sides' dependencies as of DATE (YYYY-MM-DD)",
           Group.ENVIRONMENTS, metavar="DATE", exclusive="resolve"),
    Option("select", "only scenarios matching the pytest expression", Group.SCENARIOS,
           metavar="EXPR", flags=("-k", "--select"), plugin=False),
    Option("scale", "size of the store the run works on: `small` (the migration seed only), "
           "`medium`, `large`, or counts (`runs=50000,metrics=5M`, after a size or alone): "
           "seeded in bulk into the old version's schema, then used by the migration drill, "
           "both servers and the benchmark (docs/scale.md)", Group.SCENARIOS, default="small",
           metavar="SIZE"),
    Option("inject-slow-migration", "plant a slow step in the migration drill's `mlflow db "
           "upgrade`: REVISION holds a lock on `metrics` for SECONDS (calibration: watch the "
           "report name it and the writer's wait)", Group.SCENARIOS,
           metavar="REVISION=SECONDS", in_file=False, plugin=False),
    Option("from-dump", "run the migration scenario on a copy of this `pg_dump -Fc` archive "
           "(only read)", Group.SCENARIOS, Kind.PATH, metavar="FILE"),
    Option("scenario-timeout", "a scenario still running after this long fails, with its "
           "server's and client's logs", Group.SCENARIOS, Kind.FLOAT, default=900.0,
           metavar="SECONDS"),
    Option("sequential", "run the scenarios one after the other in one process (default: in "
           "concurrent lanes)", Group.SCENARIOS, Kind.FLAG, default=False, plugin=False),
    Option("scenarios", "your own scenario folder (repeatable): `test_*.py` modules with their "
           "client code in `clients/` beside them", Group.SCENARIOS, Kind.PATHS, metavar="DIR",
           plugin=False),
    Option("no-builtin", "only your scenarios (`--scenarios`), not the harness's own",
           Group.SCENARIOS, Kind.FLAG, default=False, plugin=False),
    Option("clients", "client versions run against both servers (default: the `--from` and "
           "`--to` versions; others get a client environment of their own)", Group.MATRIX,
           Kind.LIST, metavar="VERSION[,VERSION]"),
    Option("matrix-only", "only the client-side scenarios, in the listed clients' cells (what "
           "each tox client environment runs)", Group.MATRIX, Kind.FLAG, default=False),
    Option("no-matrix", "each version's own client only: no client/server skew cells",
           Group.MATRIX, Kind.FLAG, default=False),
    Option("no-bench", "skip the benchmark phase", Group.BENCHMARK, Kind.FLAG, default=False),
    Option("bench-budget", "seconds of timing rounds (seeding and the diagnosis of regressions "
           "come on top): more rounds, tighter intervals", Group.BENCHMARK, Kind.FLOAT,
           default=180.0, metavar="SECONDS"),
    Option("regression-threshold", "slower than this fails the gate", Group.BENCHMARK,
           Kind.PERCENT, default=0.20, metavar="PCT"),
    Option("inject-latency", "slow the new server's side of OP (or all, with a bare PCT) by PCT "
           "of the old side's time: watch the gate catch it (calibration)", Group.BENCHMARK,
           Kind.LIST, metavar="OP=PCT", in_file=False),
    Option("fail-on-inconclusive", "an operation the benchmark could not decide fails the gate",
           Group.BENCHMARK, Kind.FLAG, default=False),
    Option("artifact-size", "size of the large artifact transfers: `64MB`, `256MB` or `1GB`; "
           "past 64 MB uploads are streamed and, like downloads, stopped at 8 s and "
           "extrapolated from their rate", Group.BENCHMARK, default="64MB", metavar="SIZE"),
    Option("scan", "breaking-change scan of your code (repeatable): where it uses APIs the new "
           "version removed, changed or deprecated", Group.YOUR_CODE, Kind.PATHS,
           metavar="PATH"),
    Option("catalog", "your documented differences, known defects, findings and API changes "
           "(`[[difference]]`, `[[defect]]`, `[[finding]]`, `[[api]]`)", Group.YOUR_CODE,
           Kind.PATH, metavar="FILE", commands=("run", "scan")),
    Option("project", "your repository: its test suite runs on both versions, compared test by "
           "test (and `--scan` defaults to it)", Group.YOUR_CODE, Kind.PATH, metavar="PATH"),
    Option("project-tests", "pytest arguments for your suite, split like a shell (default: its "
           "configured testpaths)", Group.YOUR_CODE, metavar="ARGS"),
    Option("project-requirements", "your requirements (default: PATH/requirements.txt); your "
           "MLflow pins are set aside", Group.YOUR_CODE, Kind.PATH, metavar="FILE"),
    Option("project-timeout", "time for one run of your suite", Group.YOUR_CODE, Kind.FLOAT,
           default=900.0, metavar="SECONDS"),
    Option("replay", "replay your recorded traffic (`record`'s FILE with its rotated parts, a HAR "
           "file or an nginx/ALB access log) against two old servers and the new one: what "
           "differs beyond the noise the old ones show (repeatable; docs/traffic.md)",
           Group.TRAFFIC, Kind.PATHS, metavar="FILE", plugin=False),
    Option("replay-requests", "replay only the first N requests", Group.TRAFFIC, Kind.INT,
           metavar="N", plugin=False),
    Option("replay-timeout", "start no replayed request after this long", Group.TRAFFIC,
           Kind.FLOAT, default=3600.0, metavar="SECONDS", plugin=False),
    Option("inject-fault", "plant a fault in the new replay server's answers to ROUTE: its "
           "FIELD (dotted) becomes \"injected-fault\" (calibration: watch the replay catch it)",
           Group.TRAFFIC, Kind.LIST, metavar="ROUTE=FIELD", in_file=False, plugin=False),
    Option("out", "output folder", Group.OUTPUT, Kind.PATH, default="upgrade-report",
           metavar="DIR"),
    Option("quiet", "no progress lines", Group.OUTPUT, Kind.FLAG, default=False, plugin=False),
]

_RECORD_ONLY = ("record",)
_RECORD = [
    Option("upstream", "your MLflow server, where the recording proxy forwards every request",
           Group.RECORD, metavar="URL", commands=_RECORD_ONLY, plugin=False),
    Option("listen", "where the recording proxy listens (point clients here)", Group.RECORD,
           metavar="HOST:PORT", commands=_RECORD_ONLY, plugin=False),
    Option("record-out", "the recording's first file (then FILE.2, FILE.3, … as it rotates)",
           Group.RECORD, Kind.PATH, metavar="FILE", flags=("--out",), commands=_RECORD_ONLY,
           plugin=False),
    Option("duration", "stop after this long", Group.RECORD, Kind.FLOAT,
           default=86_400.0, metavar="SECONDS", commands=_RECORD_ONLY, plugin=False),
    Option("max-size", "write at most this much in all; requests are still forwarded past it",
           Group.RECORD, Kind.INT, default=1024, metavar="MB", commands=_RECORD_ONLY,
           plugin=False),
    Option("rotate-size", "start the next file past this size", Group.RECORD, Kind.INT,
           default=100, metavar="MB", commands=_RECORD_ONLY, plugin=False),
    Option("max-body", "a larger body is kept as its size and SHA-256 only (artifact bodies "
           "always are)", Group.RECORD, Kind.INT, default=1024, metavar="KB",
           commands=_RECORD_ONLY, plugin=False),
    Option("redact-field", "also redact this JSON field, query parameter or param/tag key "
           "(passwords, tokens, secrets, cookies already are), repeatable", Group.RECORD,
           Kind.LIST, metavar="NAME", commands=_RECORD_ONLY, plugin=False),
    Option("proxy-set", "a mitmproxy option, repeatable (`certs=*=cert.pem` serves TLS to "
           "clients)", Group.RECORD, Kind.LIST, metavar="NAME=VALUE", commands=_RECORD_ONLY,
           plugin=False),
    Option("import", "convert a HAR file or an nginx/ALB access log into a redacted recording "
           "instead of proxying", Group.RECORD, Kind.PATH, metavar="FILE",
           commands=_RECORD_ONLY, plugin=False),
]

OPTIONS: tuple[Option, ...] = (*_SIDES, *_RUN, *_RECORD)
CONFIG_OPTION = "--config"  # a TOML file of options; not an option a file can set


def for_command(command: str) -> list[Option]:
    return [option for option in OPTIONS if command in option.commands]


def by_key() -> dict[str, Option]:
    return {option.key: option for option in OPTIONS}
