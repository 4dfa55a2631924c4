"""Integration tests against the tracking server at MLFLOW_TRACKING_URI."""

import os
import uuid

import mlflow
import pytest
from sklearn.linear_model import LogisticRegression
from team_mlops.deltaone import evaluate_model
from team_mlops.registry import ModelRegistry

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif("MLFLOW_TRACKING_URI" not in os.environ,
                       reason="needs a tracking server at MLFLOW_TRACKING_URI"),
]


@pytest.fixture
def registry() -> ModelRegistry:
    return ModelRegistry(os.environ["MLFLOW_TRACKING_URI"])


def _model(offset: float = 0.0) -> LogisticRegression:
    xs = [[0.0 + offset], [1.0], [2.0], [3.0 - offset]]
    return LogisticRegression().fit(xs, [0, 0, 1, 1])


def test_register_baseline_and_find_it_by_uuid(registry: ModelRegistry) -> None:
    name = f"team-{uuid.uuid4().hex[:8]}"
    result = registry.register_baseline(_model(), name, metadata={"dataset_size": 4})
    assert result["version"] == "1"
    assert result["metadata"]["is_baseline"] is True
    found = registry.get_model_by_uuid(name, result["model_uuid"])
    assert found is not None and found["version"] == "1"


def test_the_run_holds_the_model_files(registry: ModelRegistry) -> None:
    result = registry.register_baseline(_model(), f"team-{uuid.uuid4().hex[:8]}", metadata={})
    assert registry.has_model_files(result["run_id"])


def test_load_by_stage(registry: ModelRegistry) -> None:
    name = f"team-{uuid.uuid4().hex[:8]}"
    registry.register_baseline(_model(), name, metadata={})
    registry.client.transition_model_version_stage(name, "1", "Production")
    assert list(registry.load_by_stage(name).predict([[0.0], [3.0]])) == [0, 1]


def test_deltaone_against_the_tagged_baseline(registry: ModelRegistry) -> None:
    name = f"team-{uuid.uuid4().hex[:8]}"
    first = registry.register_baseline(_model(), name, metadata={})
    registry.client.set_model_version_tag(name, first["version"], "benchmark_metric", "accuracy")
    registry.client.set_model_version_tag(name, first["version"], "benchmark_value", "0.80")
    second = registry.register_improved(_model(0.5), name, metadata={})
    registry.client.log_metric(second["run_id"], "accuracy", 0.86)
    assert evaluate_model(registry.client, name)["verdict"] == "achieved"


def test_the_audit_log_names_runs_by_uuid(registry: ModelRegistry) -> None:
    with mlflow.start_run() as run:
        pass
    assert registry.run_uuid(run.info.run_id) == run.info.run_id


def test_a_version_names_the_run_it_came_from(registry: ModelRegistry) -> None:
    name = f"team-{uuid.uuid4().hex[:8]}"
    result = registry.register_baseline(_model(), name, metadata={})
    assert registry.run_of_version(name, result["version"]) == result["run_id"]
