"""Helpers shared by client modules. Runs inside an MLflow environment (imports mlflow)."""

import inspect
import warnings

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

warnings.filterwarnings("ignore")

FEATURES = ["age", "income", "tenure", "score"]


def connect(tracking_uri):
    """Point the fluent API and a client at one server."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def dataset(rows=200, seed=7):
    """A deterministic binary classification set; identical in every environment."""
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    y = ((X["age"] + 0.5 * X["income"] - 0.25 * X["tenure"]) > 0).astype(int)
    return X, y


def train(kind):
    """`baseline` (weak: two features) or `improved` (all features) logistic regression."""
    from sklearn.linear_model import LogisticRegression

    X, y = dataset()
    if kind == "baseline":
        model = LogisticRegression(C=0.01, max_iter=200).fit(X[["age", "score"]].assign(
            income=0.0, tenure=0.0)[FEATURES], y)
    else:
        model = LogisticRegression(C=1.0, max_iter=200).fit(X, y)
    accuracy = float((model.predict(X) == y).mean())
    return model, X, accuracy


# Inferring pip requirements starts a subprocess that imports the model: 8-11 s per
# log_model on 2 cores, identical in every version. Scenarios name them; benchmarks time both.
PIP_REQUIREMENTS = ["scikit-learn", "pandas", "numpy"]


def log_sklearn(model, registered_model_name=None, **kwargs):
    """log_model with the name each version documents: `name` (3.x) or `artifact_path` (2.x)."""
    kwargs.setdefault("pip_requirements", PIP_REQUIREMENTS)
    params = inspect.signature(mlflow.sklearn.log_model).parameters
    if "name" in params:
        kwargs["name"] = "model"
    else:
        kwargs["artifact_path"] = "model"
    return mlflow.sklearn.log_model(
        sk_model=model, registered_model_name=registered_model_name, **kwargs
    )


def predictions(model, X):
    return [int(v) for v in model.predict(X)]


def has_logged_models():
    return hasattr(mlflow, "get_logged_model")


def version_kwargs(source):
    """create_model_version's `model_id` for a logged-model source (`models:/m-…`), where the
    client takes one (MLflow 3): a 3.17.2 server refuses such a source without it. Empty for
    `runs:/` sources and for clients without the parameter."""
    if not source.startswith("models:/m-"):
        return {}
    if "model_id" not in inspect.signature(MlflowClient.create_model_version).parameters:
        return {}
    return {"model_id": source[len("models:/"):].split("/")[0]}
