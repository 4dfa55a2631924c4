"""Experiment tracking round trip: what one version writes, the same version reads back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.plugin import Client

LANE_SECONDS = 3  # its typical seconds on one side: how a client's lanes share the modules
pytestmark = pytest.mark.matrix  # client-side: runs in every client × server cell

CANDIDATES = {"run-a": (0.1, 0.81), "run-b": (0.01, 0.93), "run-c": (0.001, 0.88)}


def test_tracking_roundtrip(
    side: str, mlflow_client: Client, observe: Callable[[dict[str, Any]], None], run_prefix: str
) -> None:
    result = mlflow_client.call("tracking:roundtrip", prefix=f"{run_prefix}-{side}")
    observe(result)
    verify_tracking(result)


def verify_tracking(result: dict[str, Any]) -> None:
    """What one version wrote, the same version reads back, searched and ordered."""
    assert result["experiment"]["name_matches"]
    assert result["experiment"]["lifecycle_stage"] == "active"
    assert result["experiment"]["tags"] == {"team": "platform"}
    assert set(result["runs"]) == set(CANDIDATES)
    for name, (lr, accuracy) in CANDIDATES.items():
        run = result["runs"][name]
        assert run["status"] == "FINISHED", name
        assert run["params"] == {"lr": str(lr), "optimizer": "adam"}, name
        assert run["metrics"]["accuracy"] == accuracy, name
        assert run["metrics"]["loss"] == round(1.0 / 20, 6), name
        assert run["tags"] == {
            "batch": "yes", "candidate": str(list(CANDIDATES).index(name)),
            "mlflow.runName": name, "stage": "tuning",
        }, name
    assert result["loss_history"] == [[step, round(1.0 / (step + 1), 6)] for step in range(20)]
    assert result["search"] == ["run-b", "run-c"]
    assert result["search_accuracy"] == [0.93, 0.88]
