"""Model-registry wrapper: register a baseline and an improved model with signature, input
example and metadata; find a model by its id; load a version by stage; the run behind a run id
or a registered version, as the audit log names it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import mlflow
import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.models import get_model_info

MODEL_FOLDER = "model"
# Pinned rather than inferred: inference loads each model in a subprocess that imports MLflow.
REQUIREMENTS = ["scikit-learn", "pandas"]


class ModelRegistry:
    """Registers and finds the team's models on one tracking server."""

    def __init__(self, tracking_uri: str, experiment: str = "team-models") -> None:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment(experiment)
        self.client = MlflowClient(tracking_uri)

    def register(self, model: Any, name: str, *, baseline: bool, metadata: dict[str, Any],
                 signature: Any = None, input_example: Any = None) -> dict[str, Any]:
        """Log `model` and register it as a new version of `name`."""
        stamped = {**metadata, "is_baseline": baseline,
                   "registered_at": datetime.now(UTC).isoformat()}
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(
                sk_model=model,
                artifact_path=MODEL_FOLDER,
                registered_model_name=name,
                signature=signature,
                input_example=input_example,
                metadata=stamped,
                pip_requirements=REQUIREMENTS,
            )
        version = self.client.search_model_versions(f"run_id='{run.info.run_id}'")[0]
        return {
            "name": name,
            "version": str(version.version),
            "run_id": run.info.run_id,
            "model_uri": info.model_uri,
            "model_uuid": info.model_uuid,
            "signature": str(info.signature) if info.signature else None,
            "metadata": info.metadata,
        }

    def register_baseline(self, model: Any, name: str, **kwargs: Any) -> dict[str, Any]:
        return self.register(model, name, baseline=True, **kwargs)

    def register_improved(self, model: Any, name: str, **kwargs: Any) -> dict[str, Any]:
        return self.register(model, name, baseline=False, **kwargs)

    def get_model_by_uuid(self, name: str, model_uuid: str) -> dict[str, Any] | None:
        """The registered version of `name` whose logged model has this id."""
        for version in self.client.search_model_versions(f"name='{name}'"):
            info = get_model_info(f"models:/{name}/{version.version}")
            if info.model_uuid == model_uuid:
                return {"name": name, "version": str(version.version), "run_id": version.run_id,
                        "stage": version.current_stage, "model_uuid": model_uuid}
        return None

    def load_by_stage(self, name: str, stage: str = "Production") -> Any:
        return mlflow.pyfunc.load_model(f"models:/{name}/{stage}")

    def has_model_files(self, run_id: str) -> bool:
        """Whether the run holds the logged model (the API checks this before serving)."""
        names = [item.path for item in self.client.list_artifacts(run_id)]
        return MODEL_FOLDER in names

    def run_uuid(self, run_id: str) -> str:
        """The run's UUID, as the audit log records it."""
        run = self.client.get_run(run_id)
        return run.info.run_uuid

    def run_of_version(self, name: str, version: str) -> str:
        """The run a registered version's files came from: the folder above artifacts/model."""
        source = self.client.get_model_version(name, version).source
        return source.split("/")[-3]
