"""Every scenario's checks fail when what they check is broken.

The observations are real ones recorded from a 2.9.2 → 3.4.0 run; each test first shows the
check passes on them, then tampers with one thing and shows the check catches it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.scenarios.test_artifacts import verify_artifacts
from harness.scenarios.test_errors import verify_invalid_request, verify_stopped_server
from harness.scenarios.test_model_lookup import verify_lookup
from harness.scenarios.test_registration import verify_registration
from harness.scenarios.test_serving import verify_cross_version, verify_serving
from harness.scenarios.test_tracking import verify_tracking

RECORDED = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "observations-2.9.2-3.4.0.json").read_text()
)


def recorded(case: str, version: str = "3.4.0") -> dict[str, Any]:
    return copy.deepcopy(RECORDED[case][version])


def breaks(check: Callable[..., None], *args: Any) -> None:
    with pytest.raises(AssertionError):
        check(*args)


@pytest.mark.parametrize("version", ["2.9.2", "3.4.0"])
def test_tracking_check(version: str) -> None:
    good = recorded("test_tracking.py::test_tracking_roundtrip", version)
    verify_tracking(good)
    for tamper in (
        lambda r: r["runs"]["run-b"]["metrics"].update(accuracy=0.92),
        lambda r: r["runs"]["run-a"]["params"].pop("optimizer"),
        lambda r: r["loss_history"].pop(),
        lambda r: r["search"].reverse(),
        lambda r: r["runs"]["run-c"].update(status="RUNNING"),
        lambda r: r["runs"]["run-c"]["tags"].pop("batch"),
    ):
        broken = copy.deepcopy(good)
        tamper(broken)
        breaks(verify_tracking, broken)


@pytest.mark.parametrize("label", ["full", "bare"])
@pytest.mark.parametrize("version", ["2.9.2", "3.4.0"])
def test_registration_check(version: str, label: str) -> None:
    good = recorded(f"test_registration.py::test_registration[{label}]", version)
    with_metadata = label == "full"
    verify_registration(good, with_metadata)
    tampers: list[Callable[[dict[str, Any]], object]] = [
        lambda r: r["versions"].pop(),
        lambda r: r["staged"].update(stage="None"),
        lambda r: r["alias"].update(version="1"),
        lambda r: r["registered_model"]["tags"].clear(),
        lambda r: r["logged"]["improved"].update(flavors=["python_function"]),
    ]
    if with_metadata:
        tampers += [
            lambda r: r["logged"]["baseline"].update(signature=None),
            lambda r: r["logged"]["improved"]["metadata"].update(features=["age"]),
            lambda r: r.update(reloaded_signature={"inputs": "[]"}),
        ]
    else:
        tampers.append(lambda r: r["logged"]["baseline"].update(has_input_example=True))
    for tamper in tampers:
        broken = copy.deepcopy(good)
        tamper(broken)
        breaks(verify_registration, broken, with_metadata)
    # The same observations do not pass as the other case.
    breaks(verify_registration, good, not with_metadata)


def test_lookup_check() -> None:
    verify_lookup(recorded("test_model_lookup.py::test_lookup_by_model_id", "2.9.2"))
    good = recorded("test_model_lookup.py::test_lookup_by_model_id")
    verify_lookup(good)
    for tamper in (
        lambda r: r.update(predictions_equal=False),
        lambda r: r.update(versions_by_source=[]),
        lambda r: r["logged"].update(source_run_matches=False),
        lambda r: r.update(model_id_prefix="x-"),
    ):
        broken = copy.deepcopy(good)
        tamper(broken)
        breaks(verify_lookup, broken)


@pytest.mark.parametrize("version", ["2.9.2", "3.4.0"])
def test_serving_check(version: str) -> None:
    good = recorded("test_serving.py::test_load_from_registry", version)
    verify_serving(good)
    for label in ("stage-production", "alias-champion", "version-1"):
        broken = copy.deepcopy(good)
        broken["loaded"][label]["pyfunc_matches"] = False
        breaks(verify_serving, broken)
    missing = copy.deepcopy(good)
    missing["loaded"].pop("latest")
    breaks(verify_serving, missing)


def test_cross_version_check() -> None:
    logged = {"predictions": [0, 1, 1, 0]}
    verify_cross_version(logged, {"by_uri": [0, 1, 1, 0], "by_registry": [0, 1, 1, 0]})
    breaks(verify_cross_version, logged, {"by_uri": [0, 1, 1, 1],
                                                 "by_registry": [0, 1, 1, 0]})
    breaks(verify_cross_version, logged, {"by_uri": [0, 1, 1, 0], "by_registry": []})


def _keys(result: dict[str, Any]) -> dict[str, int]:
    root = f"{result['experiment_id']}/{result['run_id']}/artifacts/"
    return {root + i["path"]: i["size"] for i in result["listing"] if not i["is_dir"]}


@pytest.mark.parametrize("version", ["2.9.2", "3.4.0"])
def test_artifacts_check(version: str) -> None:
    good = recorded("test_artifacts.py::test_artifact_round_trip[proxied]", version)
    keys = _keys(good)
    verify_artifacts(good, keys)
    lost = dict(keys)
    lost.pop(next(k for k in lost if k.endswith("large.bin")))
    breaks(verify_artifacts, good, lost)
    truncated = {k: v - 1 for k, v in keys.items()}
    breaks(verify_artifacts, good, truncated)
    corrupted = copy.deepcopy(good)
    corrupted["checksums_equal"]["blobs/large.bin"] = False
    breaks(verify_artifacts, corrupted, keys)


def test_known_multipart_defect_is_caught_on_2_9_2() -> None:
    """The real 2.9.2 multipart observation fails the check (and is then a known defect)."""
    bad = recorded("test_artifacts.py::test_artifact_round_trip[multipart]", "2.9.2")
    breaks(lambda: verify_artifacts(bad, _keys(bad)))
    verify_artifacts(*(lambda r: (r, _keys(r)))(
        recorded("test_artifacts.py::test_artifact_round_trip[multipart]")))


def test_error_checks() -> None:
    verify_invalid_request("bad_json", recorded("test_errors.py::test_invalid_request[bad_json]"))
    breaks(verify_invalid_request, "x", {"status": 500, "error_code": "INTERNAL_ERROR"})
    breaks(verify_invalid_request, "x", {"status": 200, "error_code": ""})
    verify_stopped_server({"outcome": "raised", "failure_seconds": 1.0})
    breaks(verify_stopped_server, {"outcome": "succeeded", "failure_seconds": 1.0})
    breaks(verify_stopped_server, {"outcome": "raised", "failure_seconds": 240.0})


def test_migration_checks() -> None:
    from harness.scenarios.test_migration import (
        verify_entities,
        verify_rollback,
        verify_rows,
        verify_schema,
    )

    upgraded = {
        "upgrade": {"revisions": [{"id": "867495a8f9d4"}], "to_revision": "867495a8f9d4",
                    "new_head": "867495a8f9d4"},
        "guard_refused_unsnapshotted": True,
        "rollback": {"old_server_on_upgraded_db": "refused", "restored_identical": True,
                     "restored_changes": []},
        "rows_checked": 9380, "rows": [], "entity_changes": [],
        "schema_diff": {"tables_removed": [], "columns_removed": [], "indexes_removed": []},
    }
    verify_rollback(upgraded)
    verify_rows(upgraded)
    verify_schema(upgraded)
    verify_entities(upgraded)
    for path, value in (
        (("guard_refused_unsnapshotted",), False),
        (("rollback", "old_server_on_upgraded_db"), "started"),
        (("rollback", "restored_identical"), False),
    ):
        broken = copy.deepcopy(upgraded)
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        breaks(verify_rollback, broken)
    same_version = copy.deepcopy(upgraded)
    same_version["upgrade"]["revisions"] = []
    same_version["guard_refused_unsnapshotted"] = False
    same_version["rollback"]["old_server_on_upgraded_db"] = "started"
    verify_rollback(same_version)
    breaks(verify_rows, {**upgraded, "rows": [{"table": "metrics", "missing": ["(1)"]}]})
    breaks(verify_schema, {**upgraded, "schema_diff": {**upgraded["schema_diff"],
                                                       "indexes_removed": ["ix"]}})
    breaks(verify_entities, {**upgraded, "entity_changes": [{"path": "x"}]})
    breaks(verify_schema, {**upgraded, "upgrade": {**upgraded["upgrade"],
                                                   "new_head": "d3e4f5a6b7c8"}})
