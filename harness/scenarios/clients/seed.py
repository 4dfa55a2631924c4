"""Seed a realistic MLflow database through the old version, fast. Runs inside MLflow."""

import hashlib
import json
import time

import edge_values as ev
import mlflow
from _common import connect, dataset, log_sklearn, predictions, train, version_kwargs
from edges import documented_limits
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
    experiment_ids = [_seed_experiment(client, prefix, e, steps, counts) for e in range(3)]
    client.delete_experiment(experiment_ids[-1])

    name = f"{prefix}-seed-model"
    model, X = _seed_model(client, name, experiment_ids[0])
    edges_began = time.monotonic()
    edges = seed_edges(client, prefix)
    edges["seconds"] = round(time.monotonic() - edges_began, 2)
    counts["runs"] += len(edges["run_ids"])
    counts["metric_rows"] += edges["metric_rows"]
    return {
        "counts": counts,
        "model_name": name,
        "edges": edges,
        "predictions": predictions(model, X),
        "seconds": round(time.monotonic() - began, 2),
    }


def _seed_experiment(client, prefix, e, steps, counts):
    """Experiment `e`: a run in each of STATUSES (the last deleted) with params, tags and
    `steps` points of three metrics, and a run with a dataset input; added to `counts`."""
    experiment_id = client.create_experiment(f"{prefix}-seed-{e}", tags={"team": f"t{e % 2}"})
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
    return experiment_id


def _seed_model(client, name, experiment_id):
    """Registered model `name`: a logged model (version 1) and versions 2 to 4 of its files,
    with stages, an alias, tags and descriptions; (the model, the features it predicts)."""
    mlflow.set_experiment(experiment_id=experiment_id)
    model, X, _ = train("improved")
    with mlflow.start_run(run_name="model"):
        info = log_sklearn(model, registered_model_name=name)
    source = info.model_uri if info.model_uri.startswith("models:/") \
        else f"runs:/{info.run_id}/model"
    for version in range(2, 5):
        client.create_model_version(name, source, info.run_id, description=f"version {version}",
                                    **version_kwargs(source))
    client.update_registered_model(name, description="seeded model")
    client.set_registered_model_tag(name, "owner", "platform")
    client.transition_model_version_stage(name, "2", "Production")
    client.transition_model_version_stage(name, "3", "Staging")
    client.transition_model_version_stage(name, "1", "Archived")
    client.set_registered_model_alias(name, "champion", "2")
    client.set_model_version_tag(name, "2", "benchmark_metric", "accuracy")
    client.set_model_version_tag(name, "2", "benchmark_value", "0.91")
    return model, X


def at_limits():
    """Per limited field, the longest value this version stores (`edge_values.probe_lengths`)."""
    return {field: ev.probe_lengths(limit["documented"], limit["column"]).get(
        "at_limit", ev.UNLIMITED_PROBE) for field, limit in documented_limits().items()}


def seed_edges(client, prefix):
    """Data at the edges, written by the old version so that it crosses the upgrade: values
    and keys at the old version's limits, odd text and keys, metric values, steps and
    timestamps at the ends of what they hold, a nested, a restored and a deleted run, and a
    renamed registered model with an archived version."""
    n = at_limits()
    odd = {f"odd.{name}": text for name, text in ev.ODD_TEXT.items()}
    long_tags = {ev.key_text(n["experiment_tag_key"], "seed-"): "v",
                 "long": ev.text(n["experiment_tag_value"], mark="seed:")}
    experiment_id = client.create_experiment(f"{prefix}-seed-edges", tags={**long_tags, **odd})
    run_id = client.create_run(experiment_id, run_name="edges").info.run_id
    metrics = [Metric(f"float.{name}", value, ev.T0, 0) for name, value in ev.FLOATS.items()]
    metrics += [Metric("steps", float(i), ts, step)
                for i, (step, ts) in enumerate(ev.STEPS_AND_TIMESTAMPS)]
    metrics.append(Metric(ev.key_text(n["metric_key"], "seed-"), 1.0, ev.T0, 0))
    client.log_batch(
        run_id, metrics=metrics,
        params=[Param(ev.key_text(n["param_key"], "seed-"), "v"),
                Param("long", ev.text(n["param_value"], mark="seed:")),
                *(Param(k, v) for k, v in odd.items()),
                *(Param(key, "v") for key in ev.ODD_KEYS.values())],
        tags=[RunTag(ev.key_text(n["run_tag_key"], "seed-"), "v"),
              RunTag("long", ev.text(n["run_tag_value"], mark="seed:")),
              *(RunTag(k, v) for k, v in odd.items())])
    child = client.create_run(experiment_id, run_name="edges-child",
                              tags={"mlflow.parentRunId": run_id}).info.run_id
    restored = client.create_run(experiment_id, run_name="edges-restored").info.run_id
    deleted = client.create_run(experiment_id, run_name="edges-deleted").info.run_id
    for each in (run_id, child, restored, deleted):
        client.set_terminated(each)
    client.delete_run(restored)
    client.restore_run(restored)
    client.delete_run(deleted)

    before, name = f"{prefix}-seed-edges-before", f"{prefix}-seed-edges-model"
    client.create_registered_model(before, tags={
        ev.key_text(n["registered_model_tag_key"], "seed-"): "v",
        "long": ev.text(n["registered_model_tag_value"], mark="seed:"), **odd},
        description=ev.text(n["registered_model_description"], mark="seed:"))
    version_tags = {ev.key_text(n["model_version_tag_key"], "seed-"): "v",
                    "long": ev.text(n["model_version_tag_value"], mark="seed:"), **odd}
    for description in (ev.text(n["model_version_description"], mark="seed:"),
                        ev.ODD_MEDLEY, ""):
        client.create_model_version(before, f"runs:/{run_id}/model", run_id,
                                    tags=version_tags, description=description)
    client.rename_registered_model(before, name)
    client.transition_model_version_stage(name, "1", "Archived")
    return {"experiment_id": experiment_id, "run_ids": [run_id, child, restored, deleted],
            "model_name": name, "metric_rows": len(metrics), "at_limits": n}


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
        "metrics": {k: ev.float_text(v) for k, v in sorted(run.data.metrics.items())},
        "tags": {k: v for k, v in sorted(run.data.tags.items())},
        "history_points": {k: len(v) for k, v in history.items()},
        "history_checksum": {k: hashlib.md5(json.dumps(v).encode()).hexdigest()[:12]
                             for k, v in history.items()},
        "inputs": sorted(d.dataset.name for d in (run.inputs.dataset_inputs
                                                   if run.inputs else [])),
    }


def inventory(tracking_uri, prefix=None, max_runs=200, max_models=100, skip=()):
    """Entities as the REST API serves them (entity-level fingerprint): the seeded ones
    (`prefix`), or, for a restored production dump, every experiment and registered model
    (at most `max_runs` runs per experiment and `max_models` models, in a stable order),
    but those named in `skip` (the drill's writer's)."""
    from mlflow.entities import ViewType

    client = connect(tracking_uri)
    experiments = [e for e in client.search_experiments(view_type=ViewType.ALL, max_results=50000)
                   if (prefix is None or e.name.startswith(f"{prefix}-seed-"))
                   and e.name not in skip]
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
        names = [f"{prefix}-seed-model", f"{prefix}-seed-edges-model"]
    else:
        names = sorted(m.name for m in client.search_registered_models(
            max_results=max_models + len(skip)) if m.name not in skip)[:max_models]
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
        # A new version of version 1's model, declared with the run that holds its files
        # (3.17.2 refuses a source outside the declared run or logged model, mlflow#26037).
        first = client.get_model_version(model_name, "1")
        result["new_version"] = client.create_model_version(
            model_name, first.source, first.run_id, **version_kwargs(first.source)).version
    edges = client.get_experiment_by_name(f"{prefix}-seed-edges")
    if edges is not None:
        result["edge_writes"] = write_edges_after_upgrade(client, prefix, edges.experiment_id)
    return result


def write_edges_after_upgrade(client, prefix, experiment_id):
    """Values at the new version's limits, on the migrated edge entities: the upgrade must
    have widened every column the new version documents wider. Each read back exactly, or the
    sentence naming what was lost."""
    n = at_limits()
    (run,) = client.search_runs([experiment_id], "tags.mlflow.runName = 'edges'")
    name = f"{prefix}-seed-edges-model"
    written = {
        "param_value": ev.text(n["param_value"], mark="after:"),
        "run_tag_value": ev.text(n["run_tag_value"], mark="after:"),
        "experiment_tag_value": ev.text(n["experiment_tag_value"], mark="after:"),
        "registered_model_tag_value": ev.text(n["registered_model_tag_value"], mark="after:"),
        "model_version_tag_value": ev.text(n["model_version_tag_value"], mark="after:"),
    }
    run_id, key = run.info.run_id, "after-upgrade"
    client.log_param(run_id, key, written["param_value"])
    client.set_tag(run_id, key, written["run_tag_value"])
    client.set_experiment_tag(experiment_id, key, written["experiment_tag_value"])
    client.set_registered_model_tag(name, key, written["registered_model_tag_value"])
    client.set_model_version_tag(name, "1", key, written["model_version_tag_value"])
    data = client.get_run(run_id).data
    read = {
        "param_value": data.params.get(key),
        "run_tag_value": data.tags.get(key),
        "experiment_tag_value": client.get_experiment(experiment_id).tags.get(key),
        "registered_model_tag_value": client.get_registered_model(name).tags.get(key),
        "model_version_tag_value": client.get_model_version(name, "1").tags.get(key),
    }
    return {field: ev.lost(field, value, ev.shown(read[field])) or f"stored intact "
            f"({len(value)} chars)" for field, value in written.items()}
