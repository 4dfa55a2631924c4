"""Seed a realistic MLflow database through the old version, fast. Runs inside MLflow."""

import hashlib
import json
import time

import mlflow
from _common import connect, dataset, log_sklearn, predictions, train
from mlflow.entities import Metric, Param, RunTag

BATCH = 1000  # log_batch's limit on metrics per call
STATUSES = ["FINISHED", "FAILED", "KILLED", "RUNNING", "FINISHED"]


def seed(tracking_uri, prefix, scale=1, history=200):
    """Experiments (one deleted), runs in every state (one deleted per experiment), params,
    tags, long metric histories, dataset inputs, registered models with versions, stages,
    aliases, tags and descriptions, and a logged model with artifacts in S3.

    Metric rows = 3 experiments × 5 runs × 3 keys × `history` × `scale` (9,000 × scale).
    """
    client = connect(tracking_uri)
    began = time.monotonic()
    counts = {"experiments": 0, "runs": 0, "params": 0, "tags": 0, "metric_rows": 0}
    steps = history * scale
    experiment_ids = []
    for e in range(3):
        experiment_id = client.create_experiment(f"{prefix}-seed-{e}", tags={"team": f"t{e % 2}"})
        experiment_ids.append(experiment_id)
        counts["experiments"] += 1
        for r, status in enumerate(STATUSES):
            run = client.create_run(experiment_id, run_name=f"run-{e}-{r}",
                                    tags={"stage": "seed", "index": str(r)})
            run_id = run.info.run_id
            client.log_batch(run_id, params=[Param(f"p{i}", str(i * r)) for i in range(10)],
                             tags=[RunTag(f"t{i}", f"v{i}") for i in range(5)])
            metrics = [Metric(key, (step * 0.001 + r) if key != "loss" else 1.0 / (step + 1),
                              1_700_000_000_000 + step, step)
                       for key in ("loss", "accuracy", "lr") for step in range(steps)]
            for start in range(0, len(metrics), BATCH):
                client.log_batch(run_id, metrics=metrics[start:start + BATCH])
            counts["runs"] += 1
            counts["params"] += 10
            counts["tags"] += 7
            counts["metric_rows"] += len(metrics)
            if status != "RUNNING":
                client.set_terminated(run_id, status=status)
            if r == 4:
                client.delete_run(run_id)
        if hasattr(mlflow, "data"):
            X, _ = dataset(rows=20)
            with mlflow.start_run(experiment_id=experiment_id, run_name=f"inputs-{e}"):
                mlflow.log_input(mlflow.data.from_pandas(X, name=f"features-{e}"), context="train")
            counts["runs"] += 1
    client.delete_experiment(experiment_ids[-1])

    name = f"{prefix}-seed-model"
    mlflow.set_experiment(experiment_id=experiment_ids[0])
    model, X, _ = train("improved")
    with mlflow.start_run(run_name="model"):
        info = log_sklearn(model, registered_model_name=name)
    for version in range(2, 5):
        client.create_model_version(name, info.model_uri if info.model_uri.startswith("models:/")
                                    else f"runs:/{info.run_id}/model", info.run_id,
                                    description=f"version {version}")
    client.update_registered_model(name, description="seeded model")
    client.set_registered_model_tag(name, "owner", "platform")
    client.transition_model_version_stage(name, "2", "Production")
    client.transition_model_version_stage(name, "3", "Staging")
    client.transition_model_version_stage(name, "1", "Archived")
    client.set_registered_model_alias(name, "champion", "2")
    client.set_model_version_tag(name, "2", "benchmark_metric", "accuracy")
    client.set_model_version_tag(name, "2", "benchmark_value", "0.91")
    return {
        "counts": counts,
        "model_name": name,
        "predictions": predictions(model, X),
        "seconds": round(time.monotonic() - began, 2),
    }


def _run_view(client, run):
    history = {key: [(m.step, m.value, m.timestamp) for m in sorted(
        client.get_metric_history(run.info.run_id, key), key=lambda m: (m.step, m.timestamp))]
        for key in sorted(run.data.metrics)}
    return {
        "run_id": run.info.run_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "lifecycle_stage": run.info.lifecycle_stage,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "params": dict(sorted(run.data.params.items())),
        "metrics": dict(sorted(run.data.metrics.items())),
        "tags": {k: v for k, v in sorted(run.data.tags.items())},
        "history_points": {k: len(v) for k, v in history.items()},
        "history_checksum": {k: hashlib.md5(json.dumps(v).encode()).hexdigest()[:12]
                             for k, v in history.items()},
        "inputs": sorted(d.dataset.name for d in (run.inputs.dataset_inputs
                                                   if run.inputs else [])),
    }


def inventory(tracking_uri, prefix=None, max_runs=200, max_models=100):
    """Entities as the REST API serves them (entity-level fingerprint): the seeded ones
    (`prefix`), or, for a restored production dump, every experiment and registered model
    (at most `max_runs` runs per experiment and `max_models` models, in a stable order)."""
    from mlflow.entities import ViewType

    client = connect(tracking_uri)
    experiments = [e for e in client.search_experiments(view_type=ViewType.ALL, max_results=50000)
                   if prefix is None or e.name.startswith(f"{prefix}-seed-")]
    out = {"experiments": {}, "models": {}}
    for experiment in sorted(experiments, key=lambda e: e.name):
        runs = client.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL,
                                  max_results=max_runs,
                                  order_by=["attributes.start_time ASC", "attributes.run_id ASC"])
        out["experiments"][experiment.name] = {
            "experiment_id": experiment.experiment_id,
            "lifecycle_stage": experiment.lifecycle_stage,
            "tags": {k: v for k, v in experiment.tags.items() if not k.startswith("mlflow.")},
            "runs": {run.info.run_id: _run_view(client, run) for run in runs},
        }
    if prefix is not None:
        names = [f"{prefix}-seed-model"]
    else:
        names = sorted(m.name for m in client.search_registered_models(max_results=max_models))
    for name in names:
        model = client.get_registered_model(name)
        versions = sorted(client.search_model_versions(f"name='{name}'"),
                          key=lambda v: int(v.version))
        out["models"][name] = {
            "description": model.description,
            "tags": dict(model.tags),
            "aliases": dict(getattr(model, "aliases", {})),
            "versions": {v.version: {"stage": v.current_stage, "description": v.description,
                                     "tags": dict(v.tags), "source": v.source,
                                     "run_id": v.run_id, "status": v.status}
                         for v in versions},
        }
    return out


def predict_registered(tracking_uri, name, version):
    connect(tracking_uri)
    X, _ = dataset()
    return [int(v) for v in mlflow.pyfunc.load_model(f"models:/{name}/{version}").predict(X)]


def write_after_upgrade(tracking_uri, prefix, model_name=None):
    """New writes on migrated data: a run in an existing experiment, a new model version."""
    client = connect(tracking_uri)
    experiment = client.get_experiment_by_name(f"{prefix}-seed-0")
    if experiment is None:  # a restored dump: write into an experiment of our own
        experiment = client.get_experiment(client.create_experiment(f"{prefix}-after-upgrade"))
    run = client.create_run(experiment.experiment_id, run_name="after-upgrade")
    client.log_metric(run.info.run_id, "accuracy", 0.95)
    client.set_terminated(run.info.run_id)
    result = {"run_status": client.get_run(run.info.run_id).info.status}
    if model_name is not None:
        source = client.get_model_version(model_name, "1").source
        result["new_version"] = client.create_model_version(
            model_name, source, run.info.run_id).version
    return result
