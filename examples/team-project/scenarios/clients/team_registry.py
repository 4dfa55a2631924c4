"""Runs inside each MLflow environment: the team's wrapper, as the team's services use it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from sklearn.linear_model import LogisticRegression  # noqa: E402
from team_mlops.registry import ModelRegistry  # noqa: E402


def register_and_find(tracking_uri, name):
    registry = ModelRegistry(tracking_uri, experiment=f"{name}-experiment")
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    result = registry.register_baseline(model, name, metadata={"dataset_size": 4})
    found = registry.get_model_by_uuid(name, result["model_uuid"])
    return {
        "version": result["version"],
        "model_uri": result["model_uri"],
        "found_by_uuid": found is not None,
        "run_holds_model_files": registry.has_model_files(result["run_id"]),
    }
