"""Lookup of a logged model and its registered version by model id (m-…).

MLflow 3 has LoggedModels; 2.x does not. On 2.x the capability is reported absent: a
documented difference, not a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.plugin import Client

LANE_SECONDS = 3  # its typical seconds on one side: how a client's lanes share the modules
pytestmark = pytest.mark.matrix  # client-side: runs in every client × server cell


def verify_lookup(result: dict[str, Any]) -> None:
    if result["logged_models"] == "absent":
        return
    assert result["logged_models"] == "present"
    assert result["model_id_prefix"] == "m-"
    assert result["logged"]["source_run_matches"] and result["logged"]["experiment_matches"]
    assert result["logged"]["name"] == "model"
    assert result["client_lookup_matches"]
    assert result["search_logged_models_ids"] == [True]
    assert result["versions_by_run"] == [[True, "1"]]
    assert result["versions_by_source"] == ["1"]
    assert result["predictions_equal"]


def test_lookup_by_model_id(
    side: str, mlflow_client: Client, observe: Callable[[dict[str, Any]], None], run_prefix: str
) -> None:
    result = mlflow_client.call("lookup:by_model_id", prefix=f"{run_prefix}-{side}")
    result.pop("mlflow_version", None)
    observe(result)
    verify_lookup(result)
