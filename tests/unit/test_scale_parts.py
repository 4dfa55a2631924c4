"""`--scale` and the drill's downtime parts that need no database: sizes, the fills' columns,
revision timing from the upgrade's log, the writer's waits per revision, sample differences."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.config import build_config
from harness.errors import UsageError
from harness.migration.downtime import attribute
from harness.migration.timed import (
    LogFollower,
    RevisionTime,
    TimedUpgrade,
    applied_revision,
    finish,
)
from harness.migration.writer import Write
from harness.scale.bulk import BulkSeedError, check_fill
from harness.scale.fills import Fill, fills
from harness.scale.profile import LARGE, MEDIUM, PROFILES, describe, parse_scale, parse_slow_step
from harness.scale.samples import Targets, differences, run_id


def test_sizes_by_name_and_by_count() -> None:
    assert parse_scale("small") is None and parse_scale(None) is None
    assert parse_scale("medium") == PROFILES[MEDIUM]
    large = parse_scale("large,metrics=20M")
    assert large is not None and large.metrics == 20_000_000 and large.runs == 200_000
    alone = parse_scale("runs=50k,metrics=1e6")
    assert alone is not None and (alone.runs, alone.metrics) == (50_000, 1_000_000)
    assert alone.experiments == PROFILES[MEDIUM].experiments and alone.profile == "custom"
    assert "20,000 runs" in describe(PROFILES[MEDIUM]) and "small" in describe(None)
    size = PROFILES[LARGE]
    assert size.big_experiment_runs == 100_000
    assert size.steps_per_key * size.runs * size.metric_keys + size.history <= size.metrics


BAD_SIZES = {
    "112": "a bare number no longer multiplies the migration seed",
    "huge": "unknown size 'huge'",
    "medium,rows=5": "unknown count 'rows'",
    "runs=many": "must be a whole number",
    "runs=5": "runs must be between 10",
    "experiments=500,runs=100": "more experiments",
    "models=300,versions=100": "at least one per model",
    "metrics=200000,runs=100000": "must hold the long history",
}


@pytest.mark.parametrize("raw", list(BAD_SIZES))
def test_a_bad_size_is_one_line(raw: str) -> None:
    with pytest.raises(UsageError, match=BAD_SIZES[raw]):
        parse_scale(raw)


def test_a_bare_number_on_the_command_line_says_what_replaced_it(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["run", "--from", "2.9.2", "--to", "3.4.0", "--scale", "112",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "small, medium, large or counts such as metrics=1000000" in err


def test_scale_and_a_dump_contradict(tmp_path: Path) -> None:
    dump = tmp_path / "x.dump"
    dump.write_text("x")
    with pytest.raises(UsageError, match="the dump is the store"):
        build_config(from_mlflow="2.9.2", to_mlflow="3.4.0", out=str(tmp_path / "o"),
                     scale="medium", from_dump=str(dump))


def test_the_planted_slow_step_takes_a_revision_and_seconds() -> None:
    assert parse_slow_step("0584bdc529eb=5") == ("0584bdc529eb", 5.0)
    assert parse_slow_step(None) is None
    for bad in ("0584bdc529eb", "xyz=5", "0584bdc529eb=0", "0584bdc529eb=999"):
        with pytest.raises(UsageError, match="REVISION=SECONDS"):
            parse_slow_step(bad)


def test_fills_follow_the_old_schema_or_refuse_it() -> None:
    fill = Fill("runs", "FROM x", {"run_uuid": "a", "name": "b", "gone": "c"})
    columns = {"run_uuid": (False, False), "name": (True, False), "workspace": (False, True)}
    assert check_fill(fill, columns, "9.9").columns == {"run_uuid": "a", "name": "b"}
    with pytest.raises(BulkSeedError, match="requires owner"):
        check_fill(fill, {**columns, "owner": (False, False)}, "9.9")
    with pytest.raises(BulkSeedError, match="no table 'runs'"):
        check_fill(fill, {}, "9.9")
    tables = [f.table for f in fills(PROFILES[MEDIUM], 0)]
    for parent, child in (("experiments", "runs"), ("runs", "metrics"),
                          ("registered_models", "model_versions"),
                          ("model_versions", "model_version_tags")):
        assert tables.index(parent) < tables.index(child)


def _upgrade(tmp_path: Path) -> TimedUpgrade:
    log = tmp_path / "upgrade.log"
    log.write_text("old run's lines\n")
    follower = LogFollower(log)
    with log.open("a") as handle:
        handle.write("INFO  [alembic.runtime.migration] Running upgrade a1 -> b2, add tags\n"
                     "INFO  [alembic.runtime.migration] Running upgrade b2 -> c3, build ind")
    lines = follower.lines()
    with log.open("a") as handle:
        handle.write("ex\n")
    lines += follower.lines()
    revisions = [r for stamp, line in lines for r in [applied_revision(stamp, line)] if r]
    assert [(r.down, r.revision, r.description) for r in revisions] == [
        ("a1", "b2", "add tags"), ("b2", "c3", "build index")]
    timed = TimedUpgrade(0, 100.0, 112.0, [RevisionTime("a1", "b2", "add tags", 103.0),
                                           RevisionTime("b2", "c3", "build index", 104.0)],
                         committed=111.0)
    finish(timed.revisions, 111.0)
    return timed


def test_revisions_are_timed_from_their_log_lines_to_the_commit(tmp_path: Path) -> None:
    line = "Running upgrade a1 -> b2, add tags"
    for written in (f"[muh-revision] {line}", f"INFO  [alembic.runtime.migration] {line}"):
        found = applied_revision(1.0, written)
        assert found is not None and found.revision == "b2"
    finish([], 5.0)  # a version that logged no revision: nothing to time
    timed = _upgrade(tmp_path)
    assert [r.seconds for r in timed.revisions] == [1.0, 7.0]
    assert timed.startup_seconds == 3.0 and timed.exit_seconds == 1.0
    assert [timed.revision_at(t) for t in (101, 103.5, 110, 111.5)] == [
        "start-up", "b2", "c3", "after"]


def test_the_writers_waits_are_placed_in_the_revision_they_began_in(tmp_path: Path) -> None:
    timed = _upgrade(tmp_path)
    writes = [Write("metrics", 99.0, 99.001), Write("metrics", 101.0, 101.002),
              Write("params and tags", 103.2, 103.21),
              Write("metrics", 104.5, 111.0), Write("new runs", 102.9, 104.7, "deadlock detected"),
              Write("registry", 105.0, 105.01)]
    found = attribute(writes, timed)
    assert found["writes"] == 5 and found["failed"] == 1
    assert found["errors"] == ["new runs (c3): deadlock detected"]
    assert found["longest"] == {"kind": "metrics", "revision": "c3", "seconds": 6.5}
    assert found["held_kinds"] == ["metrics", "new runs"] and found["baseline_s"] == 0.0015
    by_revision = {r["revision"]: r for r in found["revisions"]}
    assert by_revision["b2"]["writes"] == 1 and by_revision["b2"]["held"] == []
    assert by_revision["c3"]["longest_wait_s"] == 6.5 and by_revision["c3"]["held"] == ["metrics"]
    assert by_revision["c3"]["seconds"] == 7.0 and by_revision["c3"]["failed"] == 1  # failed in c3
    assert by_revision["b2"]["failed"] == 0
    assert found["by_kind"]["new runs"]["revision"] == "start-up"
    assert found["by_kind"]["metrics"] == {"writes": 2, "failed": 0, "longest_wait_s": 6.5,
                                           "revision": "c3"}


def test_sample_differences_name_the_entity_and_field() -> None:
    targets = Targets.of(PROFILES[MEDIUM], 0)
    assert run_id(1) in targets.runs and Targets.from_dict(targets.to_dict()) == targets
    expected = {"runs": {"r1": {"status": "FINISHED", "params": {"lr": "0.1"}}},
                "versions": {"m/1": {"stage": "None"}, "m/2": None}, "history_points": 5}
    served = {"runs": {"r1": {"status": "FINISHED", "params": {"lr": "0.2"}}},
              "versions": {"m/1": {"stage": "None"}, "m/2": {"stage": "Archived"}},
              "history_points": 4}
    found = differences(expected, served)
    assert found[0] == 'runs r1: params expected {"lr": "0.1"}, served {"lr": "0.2"}'
    assert found[1].startswith("versions m/2: expected null, served")
    assert "5 points expected, 4 served" in found[2]
    assert differences(expected, expected) == []
