"""Look a logged model and its registered version up by model id. Runs inside MLflow."""

import mlflow
from _common import connect, has_logged_models, log_sklearn, predictions, train


def by_model_id(tracking_uri, prefix):
    """3.x: log with a model id, find it and its version by that id, load it by models:/m-…"""
    if not has_logged_models():
        return {"logged_models": "absent", "mlflow_version": mlflow.__version__}
    client = connect(tracking_uri)
    name = f"{prefix}-lookup"
    experiment_id = mlflow.set_experiment(f"{prefix}-lookup").experiment_id
    model, X, _ = train("improved")
    with mlflow.start_run(run_name="lookup") as run:
        info = log_sklearn(model, registered_model_name=name)
    model_id = info.model_id

    logged = mlflow.get_logged_model(model_id)
    same_via_client = client.get_logged_model(model_id).model_id == model_id
    searched = mlflow.search_logged_models(experiment_ids=[experiment_id], output_format="list")
    versions = client.search_model_versions(f"run_id='{logged.source_run_id}'")
    by_source = [v for v in client.search_model_versions(f"name='{name}'")
                 if v.source == f"models:/{model_id}"]
    loaded = mlflow.sklearn.load_model(f"models:/{model_id}")
    return {
        "logged_models": "present",
        "model_id_prefix": model_id[:2],
        "logged": {"name": logged.name, "status": str(logged.status),
                   "source_run_matches": logged.source_run_id == run.info.run_id,
                   "experiment_matches": logged.experiment_id == experiment_id},
        "client_lookup_matches": same_via_client,
        "search_logged_models_ids": [m.model_id == model_id for m in searched],
        "versions_by_run": [(v.name == name, v.version) for v in versions],
        "versions_by_source": [v.version for v in by_source],
        "model_version_model_id": getattr(versions[0], "model_id", "no-attribute"),
        "predictions_equal": predictions(loaded, X) == predictions(model, X),
    }
