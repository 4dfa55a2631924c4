"""Registration with signature, input example and metadata, and without (backward compat)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.plugin import Client

LANE_SECONDS = 8  # its typical seconds on one side: how a client's lanes share the modules
pytestmark = pytest.mark.matrix  # client-side: runs in every client × server cell

Observe = Callable[[dict[str, Any]], None]


def verify_registration(result: dict[str, Any], with_metadata: bool) -> None:
    """What the team checked by hand after their upgrade, as assertions."""
    assert [v["version"] for v in result["versions"]] == ["1", "2"]
    assert all(v["status"] == "READY" and v["run_link"] for v in result["versions"])
    assert result["staged"] == {"version": "2", "stage": "Staging"}
    assert result["alias"]["version"] == "2" and result["alias"]["aliases"] == ["champion"]
    assert result["alias"]["tags"] == {"benchmark_metric": "accuracy"}
    assert result["alias"]["description"] == "improved model"
    assert result["registered_model"]["tags"] == {"owner": "platform-team"}
    assert result["registered_model"]["aliases"] == {"champion": "2"}
    for kind in ("baseline", "improved"):
        logged = result["logged"][kind]
        assert "sklearn" in logged["flavors"]
        assert logged["model_uri"].startswith(("runs:/", "models:/"))
        if with_metadata:
            assert logged["signature"] and "inputs" in logged["signature"]
            assert logged["has_input_example"]
            assert logged["metadata"]["is_baseline"] == (kind == "baseline")
            assert logged["metadata"]["features"] == ["age", "income", "tenure", "score"]
        else:
            assert logged["signature"] is None
            assert not logged["has_input_example"]
    if with_metadata:
        assert result["reloaded_metadata"]["model_type"] == "classification"
        assert result["reloaded_signature"] == result["logged"]["improved"]["signature"]
    if result["logged_models_supported"]:
        assert all(result["logged"][k]["model_id"].startswith("m-") for k in result["logged"])


@pytest.mark.parametrize("with_metadata", [True, False], ids=["full", "bare"])
def test_registration(
    side: str, mlflow_client: Client, observe: Observe, run_prefix: str, with_metadata: bool
) -> None:
    label = "full" if with_metadata else "bare"
    result = mlflow_client.call(
        "registration:register", prefix=f"{run_prefix}-{side}-{label}", with_metadata=with_metadata
    )
    observe(result)
    verify_registration(result, with_metadata)
