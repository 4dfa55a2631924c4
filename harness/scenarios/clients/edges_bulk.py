"""Data at the edges, in bulk: log_batch at and over its maxima, paged searches read to the
end, metric history with and without a page size, and lifecycle changes as search and get see
them; through the client and through REST. Runs inside an MLflow environment (imports mlflow).
"""

import edge_values as ev
from _common import connect
from edges import (
    REST_VIEWS,
    agreed,
    client_outcome,
    from_json_float,
    history,
    pairs,
    point,
    rest,
    rest_outcome,
)
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

# ---- log_batch at and over its documented maxima ---------------------------------------------

def _batch_read(client, base, run_id, batch, reader):
    """(items stored, digest) of a batch's keys as `reader` reads them back."""
    metrics = []
    for key in sorted({m[0] for m in batch["metrics"]}):
        found, _ = history(client, base, run_id, key, reader)
        metrics += [[key, *each] for each in (found if isinstance(found, list) else [])]
    if reader == "client":
        data = client.get_run(run_id).data
        params, tags = dict(data.params), dict(data.tags)
    else:
        _, answer = rest(base, "GET", "/runs/get", query={"run_id": run_id})
        data = answer.get("run", {}).get("data", {})
        params, tags = pairs(data.get("params")), pairs(data.get("tags"))
    params = [[k, params[k]] for k, _ in batch["params"] if k in params]
    tags = [[k, tags[k]] for k, _ in batch["tags"] if k in tags]
    return ev.batch_summary(metrics, params, tags)


def batch_limits(tracking_uri, prefix):
    """Each batch of `edge_values.batches()` in one request (REST) and through the client
    (which splits what is over the limits), on a run of its own; what was stored of it."""
    client = connect(tracking_uri)
    experiment_id = client.create_experiment(f"{prefix}-edges-batches")
    found = {}
    for name, batch in ev.batches().items():
        found[name] = {}
        for via in ev.VIAS:
            run_id = client.create_run(experiment_id, run_name=f"{name}-{via}").info.run_id
            if via == "client":
                outcome = client_outcome(
                    client.log_batch, run_id,
                    metrics=[Metric(k, v, ts, step) for k, v, ts, step in batch["metrics"]],
                    params=[Param(k, v) for k, v in batch["params"]],
                    tags=[RunTag(k, v) for k, v in batch["tags"]])
            else:
                outcome = rest_outcome(*rest(tracking_uri, "POST", "/runs/log-batch", {
                    "run_id": run_id,
                    "metrics": [{"key": k, "value": v, "timestamp": ts, "step": step}
                                for k, v, ts, step in batch["metrics"]],
                    "params": [{"key": k, "value": v} for k, v in batch["params"]],
                    "tags": [{"key": k, "value": v} for k, v in batch["tags"]]}))
            found[name][via] = {"write": outcome, "stored": agreed({
                r: _batch_read(client, tracking_uri, run_id, batch, r) for r in ev.VIAS})}
    return found


# ---- many items and paging -------------------------------------------------------------------

def _pages_client(search, size):
    pages, token = [], None
    while len(pages) <= 100:
        found = search(size, token)
        pages.append(found)
        token = found.token
        if not token:
            break
    return pages


def _pages_rest(base, method, path, body, key, size):
    pages, token = [], None
    while len(pages) <= 100:
        request = {**body, "max_results": size, **({"page_token": token} if token else {})}
        if method == "GET":
            status, answer = rest(base, method, path, query=request)
        else:
            status, answer = rest(base, method, path, request)
        if status != 200:
            return f"refused {status} {answer.get('error_code')}"
        pages.append(answer.get(key, []))
        token = answer.get("next_page_token")
        if not token:
            break
    return pages


def paging(tracking_uri, prefix):
    """Enough experiments, runs, registered models, model versions and metric points to need
    several pages; each read through its page tokens to the end, with the client and REST."""
    client = connect(tracking_uri)
    stem = f"{prefix}-edges-page-"
    runs_in, model = _paging_data(client, prefix, stem)
    found = _paged_reads(client, tracking_uri, stem, runs_in, model)
    found["metric_history"] = _paged_history(client, tracking_uri, runs_in)
    return found


def _paging_data(client, prefix, stem):
    """The paged entities; (the paged runs' experiment, the model of the paged versions)."""
    names = {kind: ev.paged(kind) for kind in ev.PAGED}
    for name in sorted(names["experiments"]):
        client.create_experiment(stem + name)
    runs_in = client.create_experiment(f"{prefix}-edges-paging")
    for i, name in enumerate(sorted(names["runs"])):
        client.create_run(runs_in, start_time=ev.T0 + i, run_name=name)
    for name in sorted(names["registered_models"]):
        client.create_registered_model(stem + name)
    model = f"{prefix}-edges-paged-model"
    client.create_registered_model(model)
    source_run = client.create_run(runs_in, run_name="source").info.run_id
    for _ in names["model_versions"]:
        client.create_model_version(model, f"runs:/{source_run}/model", source_run)
    client.delete_run(source_run)  # not one of the paged runs
    return runs_in, model


def _paged_reads(client, base, stem, runs_in, model):
    """Each kind's pages, read to the end with the client and REST (names without `stem`)."""
    sizes = ev.PAGE_SIZES
    like = f"name LIKE '{stem}%'"
    short = len(stem)
    return {
        "experiments": {
            "client": [[e.name[short:] for e in page] for page in _pages_client(
                lambda n, t: client.search_experiments(
                    max_results=n, filter_string=like, order_by=["name ASC"], page_token=t),
                sizes["experiments"])],
            "rest": _names(_pages_rest(base, "POST", "/experiments/search",
                                       {"filter": like, "order_by": ["name ASC"]},
                                       "experiments", sizes["experiments"]),
                           lambda e: e["name"][short:]),
        },
        "runs": {
            "client": [[r.info.run_name for r in page] for page in _pages_client(
                lambda n, t: client.search_runs([runs_in], max_results=n, page_token=t),
                sizes["runs"])],
            "rest": _names(_pages_rest(base, "POST", "/runs/search",
                                       {"experiment_ids": [runs_in]}, "runs", sizes["runs"]),
                           lambda r: r["info"].get("run_name", "")),
        },
        "registered_models": {
            "client": [[m.name[short:] for m in page] for page in _pages_client(
                lambda n, t: client.search_registered_models(
                    filter_string=like, max_results=n, order_by=["name ASC"], page_token=t),
                sizes["registered_models"])],
            "rest": _names(_pages_rest(base, "GET", "/registered-models/search",
                                       {"filter": like, "order_by": ["name ASC"]},
                                       "registered_models", sizes["registered_models"]),
                           lambda m: m["name"][short:]),
        },
        "model_versions": {
            "client": [[v.version for v in page] for page in _pages_client(
                lambda n, t: client.search_model_versions(
                    f"name='{model}'", max_results=n, order_by=["version_number ASC"],
                    page_token=t), sizes["model_versions"])],
            "rest": _names(_pages_rest(base, "GET", "/model-versions/search",
                                       {"filter": f"name='{model}'",
                                        "order_by": ["version_number ASC"]},
                                       "model_versions", sizes["model_versions"]),
                           lambda v: v["version"]),
        },
    }


def _names(pages, name):
    return pages if isinstance(pages, str) else [[name(item) for item in page] for page in pages]


def _history_run(client, experiment_id):
    """A run with the metric history `h` of `edge_values.history_points()`."""
    run_id = client.create_run(experiment_id, run_name="history").info.run_id
    points = ev.history_points()
    for start in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=[Metric("h", v, ts, step)
                                          for v, ts, step in points[start:start + 1000]])
    return run_id


def _paged_history(client, base, experiment_id):
    """The history read whole by the client, and through REST page by page."""
    run_id = _history_run(client, experiment_id)
    whole, _ = history(client, base, run_id, "h", "client")
    paged, pages = history(client, base, run_id, "h", "rest", page=ev.HISTORY_PAGE)
    return {
        "client": ev.history_summary(whole),
        "rest": ev.history_summary(paged) if isinstance(paged, list) else paged,
        "rest_pages": pages,
    }


def unpaged_history(tracking_uri, prefix):
    """The history read through REST by a request that names no page size."""
    client = connect(tracking_uri)
    run_id = _history_run(client, client.create_experiment(f"{prefix}-edges-unpaged"))
    return _unpaged_history(tracking_uri, run_id)


def _unpaged_history(base, run_id, follow=3):
    """GET get-history naming no page size, as a script or another language's client sends
    it; page tokens followed (at most `follow` times) as such a caller would."""
    points, pages, tokens, token, stopped = [], [], [], None, "last page"
    for _ in range(follow):
        query = {"run_id": run_id, "metric_key": "h", **({"page_token": token} if token else {})}
        status, answer = rest(base, "GET", "/metrics/get-history", query=query)
        if status != 200:
            stopped = rest_outcome(status, answer)
            break
        found = answer.get("metrics", [])
        pages.append(len(found))
        points += [point(int(m.get("step", 0)), int(m.get("timestamp", 0)),
                          from_json_float(m.get("value", 0.0))) for m in found]
        token = answer.get("next_page_token")
        if not token:
            break
        tokens.append(token)
    else:
        stopped = f"still a next page after {follow} requests"
    return {**ev.history_summary(sorted(points)), "pages": pages, "stopped": stopped,
            "repeated_token": len(set(tokens)) < len(tokens)}


# ---- lifecycle -------------------------------------------------------------------------------

def lifecycle(tracking_uri, prefix):
    """Deleted and restored runs and experiments, nested runs, a renamed registered model and
    an archived version, as search and get see them with the client and REST."""
    client, base = connect(tracking_uri), tracking_uri
    stem = f"{prefix}-edges-life"
    experiment_id = client.create_experiment(stem)
    parent = client.create_run(experiment_id, run_name="parent").info.run_id
    children = {name: client.create_run(experiment_id, run_name=name,
                                        tags={"mlflow.parentRunId": parent}).info.run_id
                for name in ("child-a", "child-b")}
    gone = client.create_experiment(f"{stem}-gone")
    client.create_run(gone, run_name="in-deleted-experiment")
    views = _LifecycleViews(client, base, stem, experiment_id)
    nested = f"tags.mlflow.parentRunId = '{parent}'"

    seen = {"nested": views.runs(ViewType.ACTIVE_ONLY, nested)}
    client.delete_run(children["child-b"])
    seen["run_deleted"] = {"active": views.runs(ViewType.ACTIVE_ONLY),
                           "deleted": views.runs(ViewType.DELETED_ONLY),
                           "stage": views.run_stage(children["child-b"]),
                           "nested": views.runs(ViewType.ACTIVE_ONLY, nested)}
    client.restore_run(children["child-b"])
    seen["run_restored"] = {"active": views.runs(ViewType.ACTIVE_ONLY),
                            "deleted": views.runs(ViewType.DELETED_ONLY),
                            "stage": views.run_stage(children["child-b"])}
    client.delete_experiment(gone)
    seen["experiment_deleted"] = {"active": views.experiments(ViewType.ACTIVE_ONLY),
                                  "deleted": views.experiments(ViewType.DELETED_ONLY),
                                  "stage": views.experiment_stage(gone)}
    client.restore_experiment(gone)
    seen["experiment_restored"] = {"active": views.experiments(ViewType.ACTIVE_ONLY),
                                   "deleted": views.experiments(ViewType.DELETED_ONLY),
                                   "stage": views.experiment_stage(gone)}
    seen["registry"] = _renamed_and_archived(client, base, stem, parent)
    return seen


class _LifecycleViews:
    """The lifecycle scenario's runs (of `experiment_id`) and experiments (named `stem`…) as
    search and get see them, with the client and REST."""

    def __init__(self, client, base, stem, experiment_id):
        self.client, self.base, self.stem = client, base, stem
        self.experiment_id = experiment_id

    def runs(self, view, filter_string=""):
        client, experiment_id = self.client, self.experiment_id
        status, answer = rest(self.base, "POST", "/runs/search", {
            "experiment_ids": [experiment_id], "filter": filter_string,
            "run_view_type": REST_VIEWS[view], "max_results": 100})
        return {
            "client": sorted(r.info.run_name for r in client.search_runs(
                [experiment_id], filter_string, run_view_type=view, max_results=100)),
            "rest": sorted(r["info"].get("run_name", "") for r in answer.get("runs", []))
            if status == 200 else rest_outcome(status, answer),
        }

    def run_stage(self, run_id):
        return agreed({"client": self.client.get_run(run_id).info.lifecycle_stage,
                        "rest": rest(self.base, "GET", "/runs/get", query={"run_id": run_id})[1]
                        .get("run", {}).get("info", {}).get("lifecycle_stage")})

    def experiments(self, view):
        stem = self.stem
        like = f"name LIKE '{stem}%'"
        status, answer = rest(self.base, "POST", "/experiments/search", {
            "filter": like, "view_type": REST_VIEWS[view], "max_results": 100})
        return {
            "client": sorted(e.name[len(stem):] or "." for e in self.client.search_experiments(
                view_type=view, filter_string=like)),
            "rest": sorted(e["name"][len(stem):] or "." for e in answer.get("experiments", []))
            if status == 200 else rest_outcome(status, answer),
        }

    def experiment_stage(self, eid):
        return agreed({"client": self.client.get_experiment(eid).lifecycle_stage,
                        "rest": rest(self.base, "GET", "/experiments/get",
                                     query={"experiment_id": eid})[1]
                        .get("experiment", {}).get("lifecycle_stage")})


def _renamed_and_archived(client, base, stem, run_id):
    before, after = f"{stem}-model-before", f"{stem}-model-after"
    client.create_registered_model(before, tags={"kept": "yes"}, description="renamed")
    for _ in range(3):
        client.create_model_version(before, f"runs:/{run_id}/model", run_id)
    client.set_model_version_tag(before, "2", "kept", "yes")
    client.rename_registered_model(before, after)
    client.transition_model_version_stage(after, "1", "Archived")
    client.transition_model_version_stage(after, "3", "Production")

    def versions(reader):
        if reader == "client":
            return [{"version": v.version, "name": v.name[len(stem):], "stage": v.current_stage,
                     "tags": dict(v.tags)} for v in sorted(
                client.search_model_versions(f"name='{after}'"), key=lambda v: int(v.version))]
        _, answer = rest(base, "GET", "/model-versions/search", query={"filter": f"name='{after}'"})
        return [{"version": v["version"], "name": v["name"][len(stem):],
                 "stage": v.get("current_stage"), "tags": pairs(v.get("tags"))}
                for v in sorted(answer.get("model_versions", []), key=lambda v: int(v["version"]))]

    def model(reader, name):
        if reader == "client":
            try:
                found = client.get_registered_model(name)
            except MlflowException as error:
                return f"refused {error.error_code}"
            return {"name": found.name[len(stem):], "description": found.description,
                    "tags": dict(found.tags)}
        status, answer = rest(base, "GET", "/registered-models/get", query={"name": name})
        if status != 200:
            return rest_outcome(status, answer)
        found = answer["registered_model"]
        return {"name": found["name"][len(stem):], "description": found.get("description"),
                "tags": pairs(found.get("tags"))}

    archived = client.get_latest_versions(after, stages=["Archived"])
    return {
        "renamed": {r: model(r, after) for r in ev.VIAS},
        "old_name": {r: model(r, before) for r in ev.VIAS},
        "versions": agreed({r: versions(r) for r in ev.VIAS}),
        "latest_archived": [v.version for v in archived],
        "version_1": agreed({
            "client": client.get_model_version(after, "1").current_stage,
            "rest": rest(base, "GET", "/model-versions/get",
                         query={"name": after, "version": "1"})[1]
            .get("model_version", {}).get("current_stage")}),
    }
