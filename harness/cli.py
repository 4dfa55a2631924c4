"""Command line: parse (the option table and the config file), then one command.

User errors print one line and exit 2; a run that is not safe exits 1; Ctrl-C/SIGTERM exit 130
after everything the run started has been stopped.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import harness
from harness.config import RunConfig, build_config, check_writable, default_cache_dir
from harness.config.load import CommandOptions, command_options
from harness.config.parser import OneLineParser, add_options
from harness.errors import HarnessError
from harness.matrix import check_counts, counts_line
from harness.progress import Progress
from harness.reports.bounds import first_line
from harness.reports.pairs import write_pairs_index
from harness.reports.screenshot import screenshot_hint
from harness.reports.writers import write_reports
from harness.results.merge import load_by_upgrade, upgrade_slug
from harness.results.model import RunResults
from harness.run import execute
from harness.scan.command import run_scan, write_scan

PROG = "mlflow-upgrade-harness"
COMMANDS = ("run", "report", "scan", "record")
SUMMARY_REASONS = 5  # verdict reasons under the closing line (report.md has them all)
CONFIG_HELP = ("a TOML file of options (default: [tool.mlflow-upgrade-harness] in the nearest "
               "pyproject.toml); the command line wins over it")


def build_parser(options: dict[str, CommandOptions]) -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description=harness.__doc__)
    parser.add_argument("--version", action="version", version=f"{PROG} {harness.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run = commands.add_parser("run", help="verify an upgrade: provision, run scenarios, report")
    run.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    add_options(run, options["run"].all)
    report = commands.add_parser(
        "report", help="re-render or merge results files (tox environments, CI shards) without "
                       "re-running anything")
    report.add_argument("results", nargs="+", metavar="RESULTS",
                        help="results.json files, or folders to search for them")
    report.add_argument("--out", dest="report_out", required=True,
                        help="output folder for the merged report")
    scan = commands.add_parser(
        "scan", help="breaking-change scan: where your code meets APIs the new version removed, "
                     "changed or deprecated (each version's API read from its environment)")
    scan.add_argument("paths", nargs="+", metavar="PATH",
                      help="your code: folders or files (Python, shell scripts, Dockerfiles, CI)")
    scan.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    scan.add_argument("--out", dest="scan_out", metavar="DIR",
                      help="also write scan.json and scan.md here")
    add_options(scan, options["scan"].all)
    record = commands.add_parser(
        "record", help="a recording reverse proxy in front of your MLflow server: what your "
                       "clients really send, redacted, as JSON lines for `run --replay`")
    record.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    add_options(record, options["record"].all)
    return parser


def parse(arguments: list[str], cwd: Path) -> tuple[argparse.Namespace,
                                                   dict[str, CommandOptions]]:
    """The command line and the config file, as each command's options and their values."""
    command = next((a for a in arguments if not a.startswith("-")), "")
    options = {name: command_options(name, arguments if name == command else [], cwd,
                                     active=name == command)
               for name in ("run", "scan", "record")}
    return build_parser(options).parse_args(arguments), options


def run_config(arguments: list[str], cwd: Path | None = None) -> RunConfig:
    """`run`'s configuration from its command line (`["run", "--from", …]`) and config file."""
    args, options = parse(arguments, cwd or Path.cwd())
    return _config(args, options["run"])


def _config(args: argparse.Namespace, options: CommandOptions) -> RunConfig:
    values = options.values(args)
    return build_config(options.scenario_args(values), **options.table_values(values))


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_command(args: argparse.Namespace, options: CommandOptions) -> int:
    config = _config(args, options)
    progress = Progress(quiet=config.reports.quiet)
    progress.say(f"run {config.run_id}: {config.from_side.spec.raw} → "
                 f"{config.to_side.spec.raw}, output in {config.out_dir}")
    if options.file is not None:
        progress.say(f"options from {options.file.describe()}")
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
    _closing_line(results, config.out_dir, progress)
    return results.exit_code


def _closing_line(results: RunResults, out: Path, progress: Progress) -> None:
    assert results.verdict is not None
    counts = counts_line(check_counts(results.checks), skipped=False)
    bench = results.benchmark.summary() if results.benchmark else "no benchmark"
    progress.say(f"{results.verdict.headline} ({results.status.value}): {counts}, {bench} in "
                 f"{results.duration_s:.0f}s — {out / 'report.md'}")
    if not results.completed:
        sys.stderr.write(f"{PROG}: {results.error.splitlines()[0]}\n")
        return
    for reason in results.verdict.reasons[:SUMMARY_REASONS]:
        progress.note(f"  - {first_line(reason, 200)}")


def report_command(args: argparse.Namespace) -> int:
    """Merge (or re-render) results files; exits with the worst input's exit code. Files of
    several upgrades (tox `pair-*` environments) give one report per upgrade, in a folder of
    its own, and an index of their verdicts."""
    out = Path(args.report_out).expanduser()
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
    assert merged.verdict is not None
    failed = sum(1 for c in merged.matrix.cells if c.status == "failed")
    sys.stdout.write(
        f"{merged.verdict.headline} ({merged.status.value}): "
        f"{len(merged.merged_from) or 1} results file(s), "
        f"{len(merged.checks)} checks, matrix {len(merged.matrix.clients)} clients × "
        f"{len(merged.matrix.servers)} servers ({failed} failed cells) — "
        f"{out / 'report.md'}\n")
    return merged.exit_code


def scan_command(args: argparse.Namespace, options: CommandOptions) -> int:
    """Scan the team's code; exit 1 when something in it breaks on the new version."""
    values = options.values(args)
    out = Path(args.scan_out).expanduser() if args.scan_out else None
    if out is not None:
        check_writable(out)
    cache = Path(values["cache_dir"]).expanduser().resolve() if values["cache_dir"] \
        else default_cache_dir()
    log_dir = (out / "logs") if out else cache / "logs"
    for role in ("from", "to"):
        if not values[f"{role}_mlflow"]:
            raise HarnessError(f"scan needs --{role} SPEC (or mlflow = \"…\" in the config "
                               f"file's [tool.mlflow-upgrade-harness.{role}])")
    report = run_scan(args.paths, values["from_mlflow"], values["to_mlflow"], cache, log_dir,
                      values["catalog"])
    for finding in report.findings:
        sys.stdout.write(finding.text() + "\n")
    if out is not None:
        write_scan(report, out)
    surfaces = ", ".join(f"{version} {t['seconds']:.1f}s{' cached' if t['cached'] else ''}"
                         for version, t in report.timings["surfaces"].items())
    sys.stdout.write(f"{report.headline()}; API surfaces: {surfaces}"
                     + (f" — {out / 'scan.md'}" if out else "") + "\n")
    return 1 if report.breaking else 0


def record_command(values: dict[str, Any]) -> int:
    """Record through the proxy (or import a HAR file or access log); 130 when interrupted."""
    from harness.traffic.config import record_settings
    from harness.traffic.record import import_traffic, record

    settings = record_settings(values)
    say = progress_line(sys.stdout)
    return import_traffic(settings, say) if settings.import_file else record(settings, say)


def progress_line(stream: TextIO) -> Callable[[str], None]:
    def say(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()
    return say


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args, options = parse(arguments, Path.cwd())
        if args.command == "run":
            return run_command(args, options["run"])
        if args.command == "report":
            return report_command(args)
        if args.command == "record":
            return record_command(options["record"].values(args))
        return scan_command(args, options["scan"])
    except HarnessError as error:
        sys.stderr.write(f"{PROG}: error: {error}\n")
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
