"""Model registration as the upgrade notes did it by hand. Runs inside an MLflow environment."""

import mlflow
from _common import connect, has_logged_models, log_sklearn, train
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature


def _signature_dict(signature):
    return None if signature is None else {k: v for k, v in signature.to_dict().items() if v}


def _logged_view(info):
    """What a logged model's info says of it."""
    return {
        "model_uri": info.model_uri,
        "model_id": getattr(info, "model_id", None),
        "registered_model_version": getattr(info, "registered_model_version", None),
        "signature": _signature_dict(info.signature),
        "metadata": info.metadata,
        "flavors": sorted(info.flavors),
        "has_input_example": info.saved_input_example_info is not None,
    }


def register(tracking_uri, prefix, with_metadata=True):
    """Register a baseline and an improved model, then stage, alias and tag the improved one."""
    client = connect(tracking_uri)
    name = f"{prefix}-classifier"
    mlflow.set_experiment(f"{prefix}-registration")
    logged, run_ids = {}, {}
    for kind in ("baseline", "improved"):
        model, X, accuracy = train(kind)
        extra = {}
        if with_metadata:
            extra = {
                "signature": infer_signature(X, model.predict(X)),
                "input_example": X.head(2),
                "metadata": {"model_type": "classification", "is_baseline": kind == "baseline",
                             "features": list(X.columns), "dataset_size": len(X)},
            }
        with mlflow.start_run(run_name=kind):
            mlflow.log_metric("accuracy", accuracy)
            info = log_sklearn(model, registered_model_name=name, **extra)
        run_ids[kind] = info.run_id
        logged[kind] = _logged_view(info)

    versions = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))
    client.set_model_version_tag(name, "2", "benchmark_metric", "accuracy")
    client.set_registered_model_tag(name, "owner", "platform-team")
    client.update_model_version(name, "2", description="improved model")
    staged = client.transition_model_version_stage(name, "2", "Staging")
    client.set_registered_model_alias(name, "champion", "2")
    by_alias = client.get_model_version_by_alias(name, "champion")
    registered = client.get_registered_model(name)
    reloaded = mlflow.models.get_model_info(f"models:/{name}/2")
    return {
        "logged": logged,
        "versions": [
            {"version": v.version, "status": v.status, "stage": v.current_stage,
             "source_scheme": v.source.split(":")[0],
             "run_link": v.run_id == (client.get_run(v.run_id).info.run_id if v.run_id else None)}
            for v in versions
        ],
        "staged": {"version": staged.version, "stage": staged.current_stage},
        "alias": {"version": by_alias.version, "aliases": sorted(by_alias.aliases),
                  "tags": dict(by_alias.tags), "description": by_alias.description},
        "registered_model": {"tags": dict(registered.tags),
                             "aliases": dict(registered.aliases),
                             "latest_stages": sorted(v.current_stage
                                                     for v in registered.latest_versions)},
        "reloaded_metadata": reloaded.metadata,
        "reloaded_signature": _signature_dict(reloaded.signature),
        "logged_models_supported": has_logged_models(),
        # The key must not end in `_id`: the diff would take the value for an id to hide.
        "models_uri_source_without_model_id_outcome": _version_from_logged_model(
            client, f"{name}-from-source", logged["improved"]["model_uri"], run_ids["improved"]),
    }


def _version_from_logged_model(client, name, model_uri, run_id):
    """A version created from a logged model's `models:/m-…` URI without its model_id, as 3.x
    clients before the change did it: "ok", the refusal, or "not applicable" (2.x logs to
    `runs:/`)."""
    if not model_uri.startswith("models:/"):
        return "not applicable"
    client.create_registered_model(name)
    try:
        client.create_model_version(name, model_uri, run_id)
    except MlflowException as error:
        return f"{error.get_http_status_code()} {error.error_code}"
    return "ok"
