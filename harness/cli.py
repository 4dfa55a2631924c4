"""Command line: a short pipeline of plain functions (configure → provision → run → report).

User errors print one line and exit 2; failed checks exit 1; Ctrl-C/SIGTERM exit 130 after
everything the run started has been stopped.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import harness
from harness.bench.runner import Benchmark, BenchSettings
from harness.config import (
    DockerImages,
    ExternalTargets,
    RunConfig,
    build_config,
    check_writable,
    default_cache_dir,
)
from harness.errors import HarnessError
from harness.matrix import check_counts, counts_line, summarize
from harness.progress import Progress
from harness.project.run import env_builder, run_project, side_targets
from harness.reports.bounds import first_line
from harness.reports.html import write_html
from harness.reports.junit import write_junit
from harness.reports.markdown import write_markdown
from harness.reports.pairs import write_pairs_index
from harness.reports.pytest_benchmark import write_pytest_benchmark
from harness.reports.screenshot import screenshot, screenshot_hint
from harness.results.merge import load_by_upgrade, upgrade_slug
from harness.results.model import RunResults, RunStatus, SideInfo, write_results
from harness.scan.command import run_scan, scan_envs, write_scan
from harness.scenarios_runner import run_scenarios
from harness.services.server_args import server_setup
from harness.session import RunSession
from harness.team import scenario_names
from harness.verdict import decide

PROG = "mlflow-upgrade-harness"
SUMMARY_REASONS = 5  # verdict reasons under the closing line (report.md has them all)


class StoreOnce(argparse.Action):
    """`store`, except that one option given twice with different values is an error (argparse
    would silently keep the last one: `--to 3.4.0 … --to 3.5.0` must not verify the wrong
    upgrade). The same value twice is harmless and accepted."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        given: dict[str, tuple[str, Any]] = namespace.__dict__.setdefault("_given_once", {})
        if self.dest in given and given[self.dest][1] != values:
            first, before = given[self.dest]
            parser.error(f"{first} {before!r} and {option_string} {values!r} contradict each "
                         "other: give it once")
        given[self.dest] = (option_string or self.dest, values)
        setattr(namespace, self.dest, values)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2, and a single-valued option
    given twice with different values is a usage error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, StoreOnce)
        self.register("action", "store", StoreOnce)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description=harness.__doc__)
    parser.add_argument("--version", action="version", version=f"{PROG} {harness.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run = commands.add_parser("run", help="verify an upgrade: provision, run scenarios, report")
    run.add_argument("--from", dest="from_spec", required=True, metavar="SPEC",
                     help="old MLflow: version (2.9.2), pip specifier, wheel file or VCS URL")
    run.add_argument("--to", dest="to_spec", required=True, metavar="SPEC", help="new MLflow")
    run.add_argument("--out", default="upgrade-report", help="output folder (default: %(default)s)")
    run.add_argument("--from-extra", action="append", default=[], metavar="REQ",
                     help="extra requirement for the old side (repeatable; -r FILE reads a file)")
    run.add_argument("--to-extra", action="append", default=[], metavar="REQ",
                     help="extra requirement for the new side")
    images = run.add_argument_group(
        "servers from your images", "run a side's MLflow server (and its `mlflow db upgrade`) in "
        "a container of your image instead of the harness's environment; the image's `mlflow "
        "--version` must match --from/--to; clients still run in the harness's environments")
    images.add_argument("--from-image", metavar="IMAGE", help="image for the old server")
    images.add_argument("--to-image", metavar="IMAGE", help="image for the new server")
    run.add_argument("--from-port", type=int, metavar="PORT",
                     help="127.0.0.1 port for the old server (default: a free one)")
    run.add_argument("--to-port", type=int, metavar="PORT",
                     help="127.0.0.1 port for the new server (default: a free one)")
    run.add_argument("--provider", default="auto", choices=["auto", "local", "docker", "external"],
                     help="where PostgreSQL and S3 come from (default: auto)")
    run.add_argument("--cache-dir",
                     help="environment cache (default: ~/.cache/mlflow-upgrade-harness)")
    resolve = run.add_mutually_exclusive_group()
    resolve.add_argument("--as-of-release", action="store_true",
                         help="resolve dependencies as of each MLflow version's release date")
    resolve.add_argument("--exclude-newer", metavar="DATE",
                         help="resolve dependencies as of DATE (YYYY-MM-DD)")
    run.add_argument("--postgres-dsn", help="external provider: postgresql://user:pw@host:port/db")
    run.add_argument("--s3-endpoint", help="external provider: S3 endpoint URL")
    run.add_argument("--s3-bucket", help="external provider: bucket to create for the run")
    run.add_argument("--postgres-image", default="postgres:16", help="docker provider image")
    run.add_argument("--s3-image", "--minio-image", dest="s3_image", default="minio/minio:latest",
                     help="docker provider S3 image")
    run.add_argument("-k", dest="select", metavar="EXPR", help="only scenarios matching EXPR")
    server = run.add_argument_group(
        "server set-up", "each side's tracking server runs `mlflow server` with that version's "
        "own defaults plus the arguments given here")
    for role in ("from", "to"):
        server.add_argument(f"--{role}-server-arg", action="append", default=[], metavar="ARG",
                            dest=f"{role}_server_args",
                            help=f"extra arguments for the {'old' if role == 'from' else 'new'} "
                                 "server's `mlflow server` command, split like a shell; "
                                 f"repeatable (`--{role}-server-arg \"--workers 4\"`, "
                                 f"`--{role}-server-arg=--workers=4`)")
    server.add_argument("--server-workers", type=int, default=None, metavar="N",
                        help="--workers N on both servers (default: none given, so MLflow's "
                             "own default, 4)")
    run.add_argument("--scale", type=int, default=1, dest="migration_scale",
                     help="size of the migration scenario's seeded database: 9,000 metric "
                          "rows × SCALE (112 ≈ 1 million)")
    run.add_argument("--from-dump", metavar="FILE",
                     help="migration scenario on a copy of this pg_dump -Fc archive instead of "
                          "seeded data (the file is only read)")
    run.add_argument("--deltaone-detector", metavar="FILE[:FUNCTION]",
                     help="run the DeltaOne scenario with your own detector function (default "
                          "function name: detect) instead of the reference one")
    run.add_argument("--proxy-command", metavar="TEMPLATE",
                     help="your auth proxy instead of the reference one: a command with {upstream}"
                          " and {port} (and optionally {token_env}) filled in by the harness")
    matrix = run.add_argument_group("compatibility matrix")
    matrix.add_argument("--clients", action="append", default=[], metavar="VERSION[,VERSION]",
                        help="client versions to run against both servers (default: the --from "
                             "and --to versions; others get a client environment of their own)")
    matrix.add_argument("--matrix-only", action="store_true",
                        help="only the client-side scenarios in the listed clients' cells: no "
                             "server-only scenarios, migration, old-vs-new diff or benchmark")
    matrix.add_argument("--no-matrix", action="store_true",
                        help="each version's own client only (no client/server skew cells)")
    bench = run.add_argument_group("benchmarks")
    bench.add_argument("--no-bench", action="store_true", help="skip the benchmark phase")
    bench.add_argument("--bench-budget", type=float, default=180.0, metavar="SECONDS",
                       help="seconds of timing rounds (seeding the servers and diagnosing "
                            "regressions come on top); more rounds, tighter intervals "
                            "(default: %(default)s)")
    bench.add_argument("--regression-threshold", type=_percent, default=0.20, metavar="PCT",
                       help="slower by more than this fails the gate (default: 20%%)")
    bench.add_argument("--inject-latency", action="append", default=[], metavar="OP=PCT",
                       help="slow the new server's side of OP (or all, with a bare PCT) by PCT "
                            "of the old side's time, through a delaying proxy (calibration)")
    bench.add_argument("--fail-on-inconclusive", action="store_true",
                       help="an operation the benchmark could not decide fails the gate")
    run.add_argument("--scenario-timeout", type=float, default=900.0, metavar="SECONDS",
                     help="a scenario still running after this long fails, with the logs of "
                          "its server and client (default: %(default)s)")
    run.add_argument("--sequential", action="store_true",
                     help="run the scenarios one after the other in one process (default: "
                          "each client version's cells in a lane of its own, concurrently, and "
                          "the tests that use both sides in another)")
    yours = run.add_argument_group("your code")
    yours.add_argument("--scan", action="append", default=[], metavar="PATH", dest="scan_paths",
                       help="breaking-change scan of your code (repeatable): where it uses APIs "
                            "the new version removed, changed or deprecated")
    yours.add_argument("--catalog", metavar="FILE",
                       help="your own documented differences, known defects, findings and API "
                            "changes ([[difference]], [[defect]], [[finding]], [[api]] entries, "
                            "as in harness/catalog/)")
    yours.add_argument("--scenarios", action="append", default=[], metavar="DIR",
                       dest="scenario_dirs",
                       help="your own scenario folder (repeatable): test_*.py modules using the "
                            "harness's fixtures, with their client code in clients/ beside them")
    yours.add_argument("--project", metavar="PATH",
                       help="your repository: its test suite runs in each side's environment "
                            "against that side's server, compared test by test (and --scan "
                            "defaults to it)")
    yours.add_argument("--project-tests", metavar="ARGS",
                       help="pytest arguments for your suite, split like a shell (default: its "
                            "configured testpaths)")
    yours.add_argument("--project-requirements", metavar="FILE",
                       help="your requirements (default: PATH/requirements.txt); your MLflow "
                            "pins are set aside, each side's version holds")
    yours.add_argument("--project-timeout", type=float, default=900.0, metavar="SECONDS",
                       help="time for one run of your suite (default: %(default)s)")
    yours.add_argument("--no-builtin", action="store_true",
                       help="only your scenarios (--scenarios), not the harness's own")
    run.add_argument("--quiet", action="store_true", help="no progress lines")
    report = commands.add_parser(
        "report", help="re-render or merge results files (tox environments, CI shards) without "
                       "re-running anything")
    report.add_argument("results", nargs="+", metavar="RESULTS",
                        help="results.json files, or folders to search for them")
    report.add_argument("--out", required=True, help="output folder for the merged report")
    scan = commands.add_parser(
        "scan", help="breaking-change scan: where your code meets APIs the new version removed, "
                     "changed or deprecated (each version's API read from its environment)")
    scan.add_argument("scan_paths", nargs="+", metavar="PATH",
                      help="your code: folders or files (Python, shell scripts, Dockerfiles, CI)")
    scan.add_argument("--from", dest="from_spec", required=True, metavar="SPEC", help="old MLflow")
    scan.add_argument("--to", dest="to_spec", required=True, metavar="SPEC", help="new MLflow")
    scan.add_argument("--out", metavar="DIR", help="also write scan.json and scan.md here")
    scan.add_argument("--catalog", metavar="FILE",
                      help="your own documented API changes ([[api]] entries, as in "
                           "harness/catalog/api_changes.toml)")
    scan.add_argument("--cache-dir",
                      help="environment and API-surface cache (default: "
                           "~/.cache/mlflow-upgrade-harness)")
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    return build_config(
        from_spec=args.from_spec,
        to_spec=args.to_spec,
        out_dir=args.out,
        from_extras=args.from_extra,
        to_extras=args.to_extra,
        from_image=args.from_image,
        to_image=args.to_image,
        from_port=args.from_port,
        to_port=args.to_port,
        cache_dir=args.cache_dir,
        provider=args.provider,
        as_of_release=args.as_of_release,
        exclude_newer=args.exclude_newer,
        external=ExternalTargets(
            postgres_dsn=args.postgres_dsn,
            s3_endpoint=args.s3_endpoint,
            # Credentials come from the environment, never from the command line.
            s3_access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
            s3_secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
            s3_bucket=args.s3_bucket,
        ),
        docker=DockerImages(
            postgres=args.postgres_image,
            s3=args.s3_image,
            s3_kind="moto" if "moto" in args.s3_image else "minio",
        ),
        select=args.select,
        server_workers=args.server_workers,
        from_server_args=args.from_server_args,
        to_server_args=args.to_server_args,
        migration_scale=args.migration_scale,
        from_dump=args.from_dump,
        deltaone_detector=args.deltaone_detector,
        proxy_command=args.proxy_command,
        bench=not args.no_bench,
        bench_budget_s=args.bench_budget,
        regression_threshold=args.regression_threshold,
        inject_latency=args.inject_latency,
        fail_on_inconclusive=args.fail_on_inconclusive,
        scenario_timeout_s=args.scenario_timeout,
        sequential=args.sequential,
        clients=args.clients,
        matrix=not args.no_matrix,
        matrix_only=args.matrix_only,
        scan_paths=args.scan_paths,
        catalog=args.catalog,
        scenario_dirs=args.scenario_dirs,
        builtin=not args.no_builtin,
        project=args.project,
        project_tests=args.project_tests,
        project_requirements=args.project_requirements,
        project_timeout_s=args.project_timeout,
    )


def _percent(raw: str) -> float:
    try:
        return float(raw.rstrip("%")) / 100
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {raw!r}") from None


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_results(config: RunConfig) -> RunResults:
    return RunResults(
        run_id=config.run_id,
        started_at=_now(),
        harness_version=harness.__version__,
        sides=[SideInfo(role=s.role, spec=s.spec.raw, server_args=list(s.server_args))
               for s in config.sides]
        + [SideInfo(role=c.role, spec=c.spec.raw) for c in config.extra_clients],
        machine={
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count() or 0,
        },
    )


def execute(config: RunConfig, progress: Progress) -> RunResults:
    """Provision, run scenarios and tear down; never raises for user or infrastructure errors."""
    results = new_results(config)
    started = time.monotonic()
    try:
        with RunSession(config, progress) as session:
            session.provision()
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
                    info.server_image = session.sides[info.role].config.image or ""
                    info.server_setup = server_setup(runtime.version, info.server_args)
                    info.server_startup_s = round(session.sides[info.role].server.startup_seconds,
                                                  2)
                info.client_preload_s = float(runtime.client.info.get("preload_seconds", 0.0))
            if config.scan_paths:
                with progress.phase("scan"):
                    report = scan_envs(config.scan_paths, session.client("from").env,
                                       session.client("to").env, config.cache_dir,
                                       config.catalog)
                results.scan = report.to_dict()
                progress.say(report.headline())
            results.team_scenarios = sorted(
                name for folder in config.scenario_dirs for name in scenario_names(folder))
            with progress.phase("scenarios"):
                outcome = run_scenarios(session, config)
            results.checks, results.diff = outcome.checks, outcome.diff
            if outcome.interrupted:
                raise KeyboardInterrupt
            if config.project is not None and not outcome.usage_error \
                    and not config.matrix_only:  # a matrix shard runs client cells only
                with progress.phase("your tests"):
                    results.project = run_project(
                        config.project, side_targets(session), session.log_dir,
                        env_builder(config.cache_dir, session.log_dir)).to_dict()
            bench_passed = True
            unhealthy = session.health_problem() if config.bench else None
            if unhealthy:  # the scenarios already failed on it; timing a dead server is noise
                progress.say(f"benchmarks skipped: {unhealthy}")
                bench_passed = False
            elif config.bench and not outcome.usage_error:
                with progress.phase("benchmarks"):
                    results.benchmark = run_benchmark(session, config, progress)
                bench_passed = bool(results.benchmark.get("gate", {}).get("passed"))
            breaks = [f for f in results.scan.get("findings", []) if f["kind"] not in
                      ("deprecated", "parameter-deprecated")]
            broken_tests = results.project.get("summary", {}).get("newly_failing", 0) or \
                results.project.get("conflicts")
            passed = (outcome.all_passed and not results.unexpected_differences()
                      and bench_passed and not breaks and not broken_tests)
            results.status = RunStatus.PASSED if passed else RunStatus.FAILED
            if outcome.usage_error:
                results.status, results.error = RunStatus.ERROR, outcome.usage_error
    except KeyboardInterrupt:
        results.status, results.error = RunStatus.INTERRUPTED, "interrupted (Ctrl-C or SIGTERM)"
    except HarnessError as error:
        results.status, results.error = RunStatus.ERROR, str(error)
        logs = getattr(error, "logs", "")
        if logs:
            results.error += "\n" + "\n".join(logs.splitlines()[-15:])
    results.finished_at = _now()
    results.duration_s = round(time.monotonic() - started, 2)
    results.phases = dict(progress.durations)
    return results


def run_benchmark(session: RunSession, config: RunConfig, progress: Progress) -> dict[str, Any]:
    settings = BenchSettings(
        budget_s=config.bench_budget_s,
        threshold=config.regression_threshold,
        inject=config.inject_latency,
        fail_on_inconclusive=config.fail_on_inconclusive,
    )
    result = Benchmark(session, settings, progress).run()
    gates = [result["server_side"]["gate"]] + (
        [result["client_side"]["gate"]] if "client_side" in result else [])
    result["gate"] = {"passed": all(g["passed"] for g in gates)}
    write_pytest_benchmark(result, config.out_dir)
    return result


def _bench_summary(results: RunResults) -> str:
    bench = results.benchmark
    if not bench:
        return "no benchmark"
    if bench.get("gate", {}).get("passed"):
        return "performance gate passed"
    slower = sorted({op for group in ("server_side", "client_side")
                     for op in bench.get(group, {}).get("gate", {}).get("regressions", [])})
    return f"performance gate failed ({', '.join(slower)})"


def run_command(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    progress = Progress(quiet=args.quiet)
    progress.say(
        f"run {config.run_id}: {config.from_side.spec.raw} → {config.to_side.spec.raw}, "
        f"output in {config.out_dir}"
    )
    # SIGTERM is Ctrl-C until the reports are written: the same teardown, the same exit code.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        results = execute(config, progress)
        with progress.phase("reports"):
            no_screenshot = write_reports(results, config.out_dir)
    finally:
        signal.signal(signal.SIGTERM, previous)
        progress.close()
    hint = screenshot_hint(no_screenshot)
    if hint:
        progress.say(hint)
    counts = counts_line(check_counts(results.checks), skipped=False)
    summary = (
        f"{results.verdict['headline']} ({results.status.value}): {counts}, "
        f"{_bench_summary(results)} in {results.duration_s:.0f}s — "
        f"{Path(config.out_dir) / 'report.md'}"
    )
    if results.status in (RunStatus.ERROR, RunStatus.INTERRUPTED):
        sys.stderr.write(f"{PROG}: {results.error.splitlines()[0]}\n")
    progress.say(summary)
    if results.status not in (RunStatus.ERROR, RunStatus.INTERRUPTED):  # said just above
        for reason in results.verdict.get("reasons", [])[:SUMMARY_REASONS]:
            progress.note(f"  - {first_line(reason, 200)}")
    return results.exit_code


def write_reports(results: RunResults, out: Path) -> str | None:
    """Every writer, from the one result model; returns why there is no screenshot, if not.
    The matrix and the verdict are derived here, from the checks, for runs and merges alike."""
    results.matrix = summarize(results.checks)
    results.verdict = decide(results).to_dict()
    write_results(results, out / "results.json")
    write_markdown(results, out / "report.md")
    write_html(results, out / "report.html")
    write_junit(results, out / "junit.xml")
    return screenshot(out / "report.html", out / "report.png", results.run_id)


def report_command(args: argparse.Namespace) -> int:
    """Merge (or re-render) results files; exits with the worst input's exit code. Files of
    several upgrades (tox `pair-*` environments) give one report per upgrade, in a folder of
    its own, and an index of their verdicts."""
    out = Path(args.out).expanduser()
    check_writable(out)
    pairs = load_by_upgrade(args.results)
    if len(pairs) == 1:
        return _report_one(pairs[0], out)
    codes = [_report_one(pair, out / upgrade_slug(pair)) for pair in pairs]
    write_pairs_index(pairs, out)
    sys.stdout.write(f"{len(pairs)} upgrades — {out / 'report.md'}\n")
    return max(codes, key=_EXIT_SEVERITY.index)


_EXIT_SEVERITY = [0, 1, 130, 2]  # an error (2) outranks an interruption, a failure, a pass


def _report_one(merged: RunResults, out: Path) -> int:
    hint = screenshot_hint(write_reports(merged, out))
    if hint:
        sys.stderr.write(hint + "\n")
    cells = merged.matrix.get("cells", [])
    failed = sum(1 for c in cells if c["status"] == "failed")
    sys.stdout.write(
        f"{merged.verdict['headline']} ({merged.status.value}): "
        f"{len(merged.merged_from) or 1} results file(s), "
        f"{len(merged.checks)} checks, matrix {len(merged.matrix.get('clients', []))} clients × "
        f"{len(merged.matrix.get('servers', []))} servers ({failed} failed cells) — "
        f"{out / 'report.md'}\n")
    return merged.exit_code


def scan_command(args: argparse.Namespace) -> int:
    """Scan the team's code; exit 1 when something in it breaks on the new version."""
    out = Path(args.out).expanduser() if args.out else None
    if out is not None:
        check_writable(out)
    cache = Path(args.cache_dir).expanduser().resolve() if args.cache_dir \
        else default_cache_dir()
    log_dir = (out / "logs") if out else cache / "logs"
    report = run_scan(args.scan_paths, args.from_spec, args.to_spec, cache, log_dir,
                      args.catalog)
    for finding in report.findings:
        sys.stdout.write(finding.text() + "\n")
    if out is not None:
        write_scan(report, out)
    surfaces = ", ".join(f"{version} {t['seconds']:.1f}s{' cached' if t['cached'] else ''}"
                         for version, t in report.timings["surfaces"].items())
    sys.stdout.write(f"{report.headline()}; API surfaces: {surfaces}"
                     + (f" — {out / 'scan.md'}" if out else "") + "\n")
    return 1 if report.breaking else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return run_command(args)
        if args.command == "report":
            return report_command(args)
        if args.command == "scan":
            return scan_command(args)
    except HarnessError as error:
        sys.stderr.write(f"{PROG}: error: {error}\n")
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    parser.error(f"unknown command {args.command!r}")
