"""Serving from the registry: by version, stage and alias; and across client versions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.plugin import Client

Observe = Callable[[dict[str, Any]], None]


LANE_SECONDS = 15  # its typical seconds on one side: how a client's lanes share the modules


def verify_serving(result: dict[str, Any]) -> None:
    assert set(result["loaded"]) == {
        "version-1", "version-2", "stage-production", "stage-archived", "alias-champion", "latest"
    }
    for label, loaded in result["loaded"].items():
        assert loaded["pyfunc_matches"], f"{label}: pyfunc predictions differ from training"
        assert loaded["sklearn_matches"], f"{label}: sklearn predictions differ from training"
        assert {"python_function", "sklearn"} <= set(loaded["flavors"]), label


@pytest.mark.matrix
def test_load_from_registry(
    side: str, mlflow_client: Client, observe: Observe, run_prefix: str
) -> None:
    result = mlflow_client.call("serving:register_and_serve", prefix=f"{run_prefix}-{side}")
    observe(result)
    verify_serving(result)


def verify_cross_version(logged: dict[str, Any], loaded: dict[str, Any]) -> None:
    assert loaded["by_uri"] == logged["predictions"], "new client, model URI: predictions differ"
    assert loaded["by_registry"] == logged["predictions"], "new client, registry: differ"


def test_old_model_loads_in_new_client(
    client_for: Callable[[str, str], Client], observe: Observe, run_prefix: str
) -> None:
    """A model logged by the old client (on the new server) predicts identically in the new."""
    logged = client_for("from", "to").call("serving:log_for_other_client", prefix=run_prefix)
    loaded = client_for("to", "to").call(
        "serving:load_logged_by_other_client", name=logged["name"], model_uri=logged["model_uri"]
    )
    observe({"logged_by": logged["mlflow_version"], "loaded_by": loaded["mlflow_version"],
             "predictions_equal": loaded["by_uri"] == logged["predictions"]})
    verify_cross_version(logged, loaded)
