"""The client × server matrix: cells, verdicts, failing calls, merging results files, tox."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import build_config
from harness.errors import UsageError
from harness.matrix import (
    Cell,
    advisory,
    blocking_failures,
    cells_for,
    check_counts,
    counts_line,
    parse_cell,
    summarize,
)
from harness.plugin import _without
from harness.reports.markdown import render_markdown
from harness.reports.matrix import matrix_section
from harness.results.matrix import Matrix
from harness.results.merge import merge
from harness.results.model import (
    CheckResult,
    RunResults,
    RunStatus,
    SideInfo,
    Status,
    load_results,
    write_results,
)

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW = "2.9.2", "3.4.0"
LOGGED_MODELS_404 = ("RestException: ENDPOINT_NOT_FOUND: No API route found for "
                     "/api/2.0/mlflow/logged-models")


def check(side: str, client: str, server: str, test: str, status: Status = Status.PASSED,
          call: str = "", message: str = "", in_matrix: bool = True) -> CheckResult:
    return CheckResult(
        scenario=test.split("::")[0].removeprefix("test_").removesuffix(".py"),
        test=f"{test}[{side}]", case=test, side=side, mlflow_version=server, status=status,
        duration_s=1.0, message=message, failing_call=call, client_version=client,
        server_version=server, in_matrix=in_matrix)


def cell_checks(client_role: str, client: str) -> list[CheckResult]:
    """One client's two cells, as the run writes them: the 3.4.0 client fails lookups on 2.9.2."""
    found = []
    for server_role, server in (("from", OLD), ("to", NEW)):
        side = Cell(client_role, server_role).id
        found.append(check(side, client, server, "test_tracking.py::test_tracking_roundtrip"))
        broken = client == NEW and server == OLD
        found.append(check(
            side, client, server, "test_model_lookup.py::test_lookup_by_model_id",
            Status.FAILED if broken else Status.PASSED,
            call="lookup:by_model_id: " + LOGGED_MODELS_404 if broken else "",
            message=LOGGED_MODELS_404 if broken else ""))
    return found


def results(checks: list[CheckResult], run_id: str) -> RunResults:
    return RunResults(run_id=run_id, started_at="2026-11-23T08:00:00+00:00",
                      harness_version="0", sides=[SideInfo("from", OLD, OLD),
                                                  SideInfo("to", NEW, NEW)],
                      status=RunStatus.PASSED, checks=checks,
                      matrix=summarize(checks))


def test_cells_round_trip_through_their_ids() -> None:
    assert [c.id for c in cells_for(["from", "to", "client1"])] == [
        "from", "from_on_to", "to_on_from", "to", "client1_on_from", "client1_on_to"]
    for cell in cells_for(["from", "to", "client1"]):
        assert parse_cell(cell.id) == cell
    assert parse_cell("cross").server == "cross"


def test_a_client_newer_than_its_server_is_advisory() -> None:
    assert advisory(NEW, OLD) and advisory("3.17.2", NEW)
    assert not advisory(OLD, NEW) and not advisory(NEW, NEW)
    assert not advisory("./mlflow.whl", NEW)  # unknown order: required


def test_the_failing_cell_names_its_call_and_error() -> None:
    checks = cell_checks("from", OLD) + cell_checks("to", NEW)
    checks.append(check("from", OLD, OLD, "test_migration.py::test_x", in_matrix=False,
                        status=Status.FAILED))  # not a matrix scenario: not in the matrix
    matrix = summarize(checks)
    assert matrix.clients == [OLD, NEW] and matrix.servers == [OLD, NEW]
    by_pair = {(c.client, c.server): c for c in matrix.cells}
    assert {pair: c.status for pair, c in by_pair.items()} == {
        (OLD, OLD): "passed", (OLD, NEW): "passed", (NEW, OLD): "failed", (NEW, NEW): "passed"}
    broken = by_pair[(NEW, OLD)]
    assert broken.advisory is True
    assert broken.scenarios == {"model_lookup": "failed", "tracking": "passed"}
    assert matrix.to_dict()["cells"][2]["failures"] == [{
        "test": "test_model_lookup.py::test_lookup_by_model_id", "scenario": "model_lookup",
        "status": "failed", "call": "lookup:by_model_id: " + LOGGED_MODELS_404,
        "error": LOGGED_MODELS_404, "defect": ""}]
    assert Matrix.from_dict(matrix.to_dict()) == matrix
    section = "\n".join(matrix_section(results(checks, "r")))
    assert "| **3.4.0** | ❌ failed (1 of 2), advisory | ✅ passed |" in section
    assert "/api/2.0/mlflow/logged-models" in section and "advisory" in section


def test_advisory_failures_do_not_fail_the_run_but_required_ones_do() -> None:
    newer_on_older = check("to_on_from", NEW, OLD, "test_a.py::t", Status.FAILED)
    older_on_newer = check("from_on_to", OLD, NEW, "test_a.py::t", Status.FAILED)
    cross = CheckResult("serving", "t", "cross", "2.9.2 → 3.4.0", Status.FAILED, 1.0)
    assert blocking_failures([newer_on_older]) == []
    assert blocking_failures([newer_on_older, older_on_newer, cross]) == [older_on_newer, cross]


def test_summary_lines_count_advisory_failures_apart_from_blocking_ones() -> None:
    """The closing line once said "146 passed, 7 failed" for a run whose 7 failures were all
    advisory cells: the counts now say what the verdict counts."""
    checks = [
        check("to_on_from", NEW, OLD, "test_a.py::t", Status.FAILED),
        check("to_on_from", NEW, OLD, "test_b.py::t", Status.ERROR),
        check("from_on_to", OLD, NEW, "test_a.py::t", Status.FAILED),
        check("from", OLD, OLD, "test_a.py::t"),
        check("to", NEW, NEW, "test_a.py::t", Status.ERROR),
    ]
    counts = check_counts(checks)
    assert (counts["passed"], counts["failed"], counts["error"], counts["advisory"]) == (1, 1, 1, 2)
    assert counts_line(counts) == ("1 passed, 1 failed, 2 advisory, 1 errors, 0 skipped, "
                                   "0 known defects")
    assert "advisory" not in counts_line(check_counts(checks[2:]), skipped=False)
    assert counts_line(check_counts(checks[:1]), skipped=False) == (
        "0 passed, 0 failed, 1 advisory, 0 errors, 0 known defects")


def test_skipped_everywhere_is_not_applicable() -> None:
    matrix = summarize([check("from", OLD, OLD, "test_a.py::t", Status.SKIPPED)])
    assert matrix.cells[0].status == "not_applicable"


def test_merging_per_client_files_gives_the_report_of_one_run(tmp_path: Path) -> None:
    """What tox's client environments write, merged, is what one run with all clients says."""
    one_run = results(cell_checks("from", OLD) + cell_checks("to", NEW) +
                      cell_checks("client1", "3.17.2"), "all")
    shards = [results(cell_checks("to", NEW), "b"), results(cell_checks("from", OLD), "a"),
              results(cell_checks("client1", "3.17.2"), "c")]
    paths = []
    for index, shard in enumerate(shards):
        paths.append(tmp_path / f"client-{index}" / "results.json")
        write_results(shard, paths[-1])
    merged = merge([load_results(p) for p in paths])
    merged.matrix = summarize(merged.checks)  # what the writers derive
    assert merged.matrix == one_run.matrix
    assert matrix_section(merged) == matrix_section(one_run)
    assert merged.merged_from == ["b", "a", "c"]
    assert len(merged.checks) == len(one_run.checks)


def test_report_command_merges_folders_and_exits_with_the_worst_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = results([*cell_checks("from", OLD), check(
        "from", OLD, OLD, "test_migration.py::test_upgrade", Status.FAILED, in_matrix=False)], "a")
    failed.status = RunStatus.FAILED
    write_results(failed, tmp_path / "in" / "a" / "results.json")
    write_results(results(cell_checks("to", NEW), "b"), tmp_path / "in" / "b" / "results.json")
    code = main(["report", str(tmp_path / "in"), "--out", str(tmp_path / "out")])
    assert code == 1  # the merged verdict: a shard's failed check fails the whole
    merged = json.loads((tmp_path / "out" / "results.json").read_text())
    assert merged["merged_from"] == ["a", "b"] and len(merged["matrix"]["cells"]) == 4
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Client × server compatibility" in report
    assert report == render_markdown(load_results(tmp_path / "out" / "results.json"))
    assert "2 results file(s)" in capsys.readouterr().out


def test_report_of_several_upgrades_writes_one_report_per_pair_and_an_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tox's pair-* environments: each upgrade merged on its own (its client shards joined),
    written to a folder named after it, with an index of the verdicts; the worst code wins."""
    first = results(cell_checks("from", OLD), "a")
    shard = results(cell_checks("to", NEW), "b")
    other = results([*cell_checks("from", "3.4.0"), check(
        "from", "3.4.0", "3.4.0", "test_migration.py::test_upgrade", Status.FAILED,
        in_matrix=False)], "c")
    other.sides = [SideInfo("from", "3.4.0", "3.4.0"), SideInfo("to", "3.17.2", "3.17.2")]
    other.status = RunStatus.FAILED
    for name, each in (("pair-a", first), ("pair-a-shard", shard), ("pair-c", other)):
        write_results(each, tmp_path / "in" / name / "results.json")
    code = main(["report", str(tmp_path / "in"), "--out", str(tmp_path / "out")])
    assert code == 1
    one = json.loads((tmp_path / "out" / "2.9.2-3.4.0" / "results.json").read_text())
    assert one["merged_from"] == ["a", "b"] and len(one["matrix"]["cells"]) == 4
    assert (tmp_path / "out" / "3.4.0-3.17.2" / "report.md").is_file()
    index = json.loads((tmp_path / "out" / "pairs.json").read_text())
    assert [(p["from"], p["to"], p["exit_code"]) for p in index] == [
        ("2.9.2", "3.4.0", 0), ("3.4.0", "3.17.2", 1)]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| 2.9.2 → 3.4.0 |" in report and "(3.4.0-3.17.2/report.md)" in report
    assert "2 upgrades" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "expected"), [
    (["report", "/nonexistent/results.json", "--out", "o"], "no such results file"),
    (["report", "--out", "o"], "required"),
])
def test_report_bad_input_is_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1


def test_clients_option_maps_versions_to_sides_and_extras(tmp_path: Path) -> None:
    config = build_config(from_mlflow=OLD, to_mlflow=NEW, out=str(tmp_path),
                          clients=["3.4.0,3.17.2", "2.9.2"], matrix_only=True)
    assert [(c.role, c.spec.raw) for c in config.matrix_clients] == [
        ("to", NEW), ("client1", "3.17.2"), ("from", OLD)]
    assert [c.role for c in config.extra_clients] == ["client1"]
    assert config.bench.enabled is False  # the matrix alone
    default = build_config(from_mlflow=OLD, to_mlflow=NEW, out=str(tmp_path))
    assert [c.role for c in default.matrix_clients] == ["from", "to"]


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"clients": ["2.9.2,2.9.2"]}, "listed twice"),
    ({"clients": ["2.9.2,"]}, "empty version"),
    ({"clients": ["3.x"]}, "malformed"),
    ({"clients": ["3.17.2"], "no_matrix": True}, "drop --no-matrix"),
    ({"matrix_only": True, "no_matrix": True}, "contradict"),
])
def test_bad_matrix_options(tmp_path: Path, kwargs: dict[str, object], expected: str) -> None:
    with pytest.raises(Exception, match=expected) as raised:
        build_config(from_mlflow=OLD, to_mlflow=NEW, out=str(tmp_path), **kwargs)
    assert isinstance(raised.value, UsageError) or "Spec" in type(raised.value).__name__


def test_the_side_is_removed_from_a_cells_test_id() -> None:
    assert _without("from_on_to", "from_on_to") == ""
    assert _without("from_on_to-full", "from_on_to") == "full"
    assert _without("clear_improvement-to_on_from", "to_on_from") == "clear_improvement"
    assert _without("a-from-b", "from") == "a-b"


def test_tox_has_a_client_environment_per_version_and_a_merge_after_them() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini")
    section = next(s for s in parser.sections() if s.startswith("testenv:client-{"))
    versions = section.removeprefix("testenv:client-{").removesuffix("}").split(",")
    assert {OLD, NEW} <= set(versions)
    assert any(v.startswith("3.") and tuple(map(int, v.split("."))) > (3, 4, 0) for v in versions)
    command = parser[section]["commands"]
    assert "--matrix-only" in command and "--clients {env:MATRIX_CLIENT}" in command
    assert "{envname}" in command  # each environment writes its own results file
    for version in versions:
        assert f"{version}: MATRIX_CLIENT = {version}" in parser[section]["set_env"]
    merge_env = parser["testenv:matrix-report"]
    assert {d.strip() for d in merge_env["depends"].split(",")} == {
        f"client-{v}" for v in versions}
    assert "mlflow-upgrade-harness report" in merge_env["commands"]



def test_results_of_different_upgrades_are_not_merged() -> None:
    other = results(cell_checks("from", OLD), "x")
    other.sides[1] = SideInfo("to", "3.5.0", "3.5.0")
    with pytest.raises(UsageError, match="different upgrades: 2.9.2 → 3.4.0, 2.9.2 → 3.5.0"):
        merge([results(cell_checks("from", OLD), "a"), other])
