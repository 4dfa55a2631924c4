"""Artifacts through the server's proxy: upload, list, download, a large multipart file, and
where the objects land in S3."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from harness.matrix import parse_cell
from harness.scenarios.background import BackgroundCalls
from harness.services.s3 import s3_client
from harness.session import RunSession

LANE_SECONDS = 6  # its typical seconds on one side: how a client's lanes share the modules
# Large enough to cross the multipart threshold in three parts (scenarios/clients/artifacts.py)
# and to stream for seconds; how fast each version moves 64 MB is the benchmark's business.
LARGE_MB = int(os.environ.get("HARNESS_LARGE_ARTIFACT_MB", "16"))
EXPECTED_PATHS = [
    "blobs", "blobs/large.bin", "notes.txt", "reports", "reports/daily",
    "reports/daily/2026-11-23.csv", "reports/summary.json",
]


def s3_keys(session: RunSession, side: str, run_id: str) -> dict[str, int]:
    """Objects of one run in the artifact prefix of the cell's server: key relative to the
    prefix → size."""
    assert session.s3 is not None
    location = session.s3.location
    prefix = location.key(f"{parse_cell(side).server}-artifacts") + "/"
    client = s3_client(location)
    found: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=prefix
    ):
        for item in page.get("Contents", []):
            key = item["Key"].removeprefix(prefix)
            if f"/{run_id}/" in f"/{key}":
                found[key] = int(item["Size"])
    return found


def verify_artifacts(result: dict[str, Any], keys: dict[str, int]) -> None:
    assert [item["path"] for item in result["listing"]] == EXPECTED_PATHS
    sizes = {item["path"]: item["size"] for item in result["listing"] if not item["is_dir"]}
    assert sizes["blobs/large.bin"] == result["large_bytes"]
    assert all(result["checksums_equal"].values()), result["checksums_equal"]
    assert result["artifact_uri_scheme"] == "mlflow-artifacts"
    run_root = f"{result['experiment_id']}/{result['run_id']}/artifacts/"
    for path, size in sizes.items():
        assert keys.get(run_root + path) == size, f"{path} not in S3 at {run_root}{path}"


def background_job(params: dict[str, Any], run_prefix: str) -> tuple[str, dict[str, Any]]:
    """The round trip is the slowest scenario call (3.4.0 serves 16 MB in about 15 s): it
    starts in the background with the first scenario, and the test verifies its result."""
    side, mode = params["side"], params["mode"]
    return "artifacts:round_trip", {
        "prefix": f"{run_prefix}-{side}-{mode}", "large_mb": LARGE_MB,
        "multipart": mode == "multipart", "timeout": 600,
    }


@pytest.mark.matrix
@pytest.mark.parametrize("mode", ["proxied", "multipart"])
def test_artifact_round_trip(
    mode: str,
    side: str,
    background_calls: BackgroundCalls,
    observe: Callable[[dict[str, Any]], None],
    harness_session: RunSession,
    request: pytest.FixtureRequest,
) -> None:
    result = background_calls.result(request.node.nodeid)
    keys = s3_keys(harness_session, side, result["run_id"])
    # Experiment ids depend on how many experiments a server has seen: compare the layout.
    layout = sorted(key.replace(f"{result['experiment_id']}/", "<experiment>/", 1) for key in keys)
    observe({**result, "experiment_id": "<experiment>", "s3_keys": layout})
    verify_artifacts(result, keys)
