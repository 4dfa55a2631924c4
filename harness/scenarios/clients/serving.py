"""Load registered models by version, stage and alias; predictions must match training."""

import mlflow
from _common import connect, dataset, log_sklearn, predictions, train


def register_and_serve(tracking_uri, prefix):
    client = connect(tracking_uri)
    name = f"{prefix}-serving"
    mlflow.set_experiment(f"{prefix}-serving")
    expected = {}
    for version, kind in (("1", "baseline"), ("2", "improved")):
        model, X, _ = train(kind)
        with mlflow.start_run(run_name=kind):
            log_sklearn(model, registered_model_name=name)
        expected[version] = predictions(model, X)
    client.transition_model_version_stage(name, "2", "Production")
    client.transition_model_version_stage(name, "1", "Archived")
    client.set_registered_model_alias(name, "champion", "1")
    X, _ = dataset()
    uris = {
        "version-1": (f"models:/{name}/1", "1"),
        "version-2": (f"models:/{name}/2", "2"),
        "stage-production": (f"models:/{name}/Production", "2"),
        "stage-archived": (f"models:/{name}/Archived", "1"),
        "alias-champion": (f"models:/{name}@champion", "1"),
        "latest": (f"models:/{name}/latest", "2"),
    }
    loaded = {}
    for label, (uri, version) in uris.items():
        pyfunc = mlflow.pyfunc.load_model(uri)
        sklearn_model = mlflow.sklearn.load_model(uri)
        loaded[label] = {
            "pyfunc_matches": [int(v) for v in pyfunc.predict(X)] == expected[version],
            "sklearn_matches": predictions(sklearn_model, X) == expected[version],
            "flavors": sorted(pyfunc.metadata.flavors),
        }
    return {"loaded": loaded}


def log_for_other_client(tracking_uri, prefix):
    """Old client: log and register a model; returns what a new client must reproduce."""
    connect(tracking_uri)
    name = f"{prefix}-cross"
    mlflow.set_experiment(f"{prefix}-cross")
    model, X, _ = train("improved")
    with mlflow.start_run(run_name="old-client"):
        info = log_sklearn(model, registered_model_name=name)
    return {"name": name, "model_uri": info.model_uri, "predictions": predictions(model, X),
            "mlflow_version": mlflow.__version__}


def load_logged_by_other_client(tracking_uri, name, model_uri):
    """New client: load what the old client logged, by its URI and from the registry."""
    connect(tracking_uri)
    X, _ = dataset()
    return {
        "by_uri": predictions(mlflow.sklearn.load_model(model_uri), X),
        "by_registry": [int(v) for v in mlflow.pyfunc.load_model(f"models:/{name}/1").predict(X)],
        "mlflow_version": mlflow.__version__,
    }
