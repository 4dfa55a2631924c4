"""Data at the edges: long, odd and many values written and read back through the client and
through REST. Runs inside an MLflow environment (imports mlflow).

Each function writes with both paths and reads every value back with both, and answers what
came back as observations (`edge_values.shown`); the harness compares them with the values
`edge_values` says were written.
"""

import importlib
import json
import urllib.error
import urllib.parse
import urllib.request

import edge_values as ev
from _common import connect
from mlflow.entities import Metric, ViewType
from mlflow.exceptions import MlflowException

API = "/api/2.0/mlflow"
T0 = ev.T0
REST_VIEWS = {ViewType.ACTIVE_ONLY: "ACTIVE_ONLY", ViewType.DELETED_ONLY: "DELETED_ONLY",
              ViewType.ALL: "ALL"}
JSON_FLOATS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


# ---- REST ------------------------------------------------------------------------------------

def rest(base, method, path, body=None, query=None):
    """(status, JSON answer) of one request; never raises for an HTTP error status."""
    url = base + API + path
    if query:
        url += "?" + urllib.parse.urlencode(query, doseq=True)
    data = None if body is None else json.dumps(body, allow_nan=False).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        payload = json.loads(raw) if raw else {}
    except ValueError:
        payload = {"error_code": "<not json>"}
    return status, payload


def rest_outcome(status, payload):
    return "ok" if status == 200 else f"refused {status} {payload.get('error_code', '?')}"


def client_outcome(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except MlflowException as error:
        return f"refused {error.error_code}"
    return "ok"


def _json_float(value):
    """A float as MLflow's JSON carries it (NaN and ±Infinity as strings)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def from_json_float(value):
    return JSON_FLOATS[value] if isinstance(value, str) else float(value)


def pairs(items):
    return {item["key"]: item.get("value", "") for item in items or []}


# ---- what each version documents ---------------------------------------------------------------

def documented_limits():
    """Per limited field: the version's validation constant and its database column's width."""
    from mlflow.utils import validation

    limits = {}
    for field, (constant, (store, table, column)) in ev.LIMITED_FIELDS.items():
        models = importlib.import_module(f"mlflow.store.{store}.dbmodels.models")
        column_type = getattr(models, table).__table__.c[column].type
        documented = getattr(validation, constant, None) if constant else None
        limits[field] = {"documented": documented,
                         "column": getattr(column_type, "length", None)}
    return limits


# ---- one entity per field: how to write a key/value and read everything back -----------------

class Entity:
    """The run, experiment, registered model or model version a field lives on."""

    def __init__(self, client, base, prefix, field):
        self.client, self.base, self.field = client, base, field
        # param, metric, run_tag, …, model_version_tag, or a description field itself
        self.kind = field if field.endswith("description") else field.rsplit("_", 1)[0]
        name = f"{prefix}-edges-{field.replace('_', '-')}"
        if self.kind in ("param", "metric", "run_tag"):
            experiment = client.get_experiment_by_name(f"{prefix}-edges")
            experiment_id = experiment.experiment_id if experiment else \
                client.create_experiment(f"{prefix}-edges")
            self.run_id = client.create_run(experiment_id, run_name=field).info.run_id
        elif self.kind == "experiment_tag":
            self.experiment_id = client.create_experiment(name)
        else:
            self.name = name
            client.create_registered_model(name)
            if self.kind.startswith("model_version"):
                experiment_id = client.create_experiment(name)
                run_id = client.create_run(experiment_id).info.run_id
                client.create_model_version(name, f"runs:/{run_id}/model", run_id)

    def write(self, via, key, value):
        c, kind = self.client, self.kind
        if via == "client":
            calls = {
                "param": lambda: c.log_param(self.run_id, key, value),
                "metric": lambda: c.log_metric(self.run_id, key, 1.0, timestamp=T0, step=0),
                "run_tag": lambda: c.set_tag(self.run_id, key, value),
                "experiment_tag": lambda: c.set_experiment_tag(self.experiment_id, key, value),
                "registered_model_tag": lambda: c.set_registered_model_tag(self.name, key, value),
                "model_version_tag": lambda: c.set_model_version_tag(self.name, "1", key, value),
                "registered_model_description":
                    lambda: c.update_registered_model(self.name, description=value),
                "model_version_description":
                    lambda: c.update_model_version(self.name, "1", description=value),
            }
            return client_outcome(calls[kind])
        requests = {
            "param": ("POST", "/runs/log-parameter",
                      {"run_id": getattr(self, "run_id", ""), "key": key, "value": value}),
            "metric": ("POST", "/runs/log-metric", {"run_id": getattr(self, "run_id", ""),
                       "key": key, "value": 1.0, "timestamp": T0, "step": 0}),
            "run_tag": ("POST", "/runs/set-tag",
                        {"run_id": getattr(self, "run_id", ""), "key": key, "value": value}),
            "experiment_tag": ("POST", "/experiments/set-experiment-tag",
                               {"experiment_id": getattr(self, "experiment_id", ""),
                                "key": key, "value": value}),
            "registered_model_tag": ("POST", "/registered-models/set-tag",
                                     {"name": getattr(self, "name", ""), "key": key,
                                      "value": value}),
            "model_version_tag": ("POST", "/model-versions/set-tag",
                                  {"name": getattr(self, "name", ""), "version": "1",
                                   "key": key, "value": value}),
            "registered_model_description": ("PATCH", "/registered-models/update",
                                             {"name": getattr(self, "name", ""),
                                              "description": value}),
            "model_version_description": ("PATCH", "/model-versions/update",
                                          {"name": getattr(self, "name", ""), "version": "1",
                                           "description": value}),
        }
        method, path, body = requests[kind]
        return rest_outcome(*rest(self.base, method, path, body))

    def read(self, via):
        """{key: value} of the field's entity as `via` reads it ({"": description} for a
        description)."""
        c, kind = self.client, self.kind
        if kind in ("param", "metric", "run_tag"):
            section = {"param": "params", "metric": "metrics", "run_tag": "tags"}[kind]
            if via == "client":
                data = getattr(c.get_run(self.run_id).data, section)
                return {k: str(v) for k, v in data.items()}
            _, answer = rest(self.base, "GET", "/runs/get", query={"run_id": self.run_id})
            return {k: str(v) for k, v in
                    pairs(answer.get("run", {}).get("data", {}).get(section)).items()}
        if kind == "experiment_tag":
            if via == "client":
                return dict(c.get_experiment(self.experiment_id).tags)
            _, answer = rest(self.base, "GET", "/experiments/get",
                             query={"experiment_id": self.experiment_id})
            return pairs(answer.get("experiment", {}).get("tags"))
        if kind.startswith("registered_model"):
            if via == "client":
                model = c.get_registered_model(self.name)
                found = {"": model.description or ""} if kind.endswith("description") \
                    else dict(model.tags)
                return found
            _, answer = rest(self.base, "GET", "/registered-models/get",
                             query={"name": self.name})
            model = answer.get("registered_model", {})
            return {"": model.get("description", "")} if kind.endswith("description") \
                else pairs(model.get("tags"))
        if via == "client":
            version = c.get_model_version(self.name, "1")
            return {"": version.description or ""} if kind.endswith("description") \
                else dict(version.tags)
        _, answer = rest(self.base, "GET", "/model-versions/get",
                         query={"name": self.name, "version": "1"})
        version = answer.get("model_version", {})
        return {"": version.get("description", "")} if kind.endswith("description") \
            else pairs(version.get("tags"))


def _found(readback, key, mark):
    """The value stored under `key`, or the key itself for a key field (the exact key, or one
    starting with the probe's mark if the store changed it), or "<absent>"."""
    return readback.get(key, "<absent>") if mark is None else (
        key if key in readback else next((k for k in readback if k.startswith(mark)),
                                         "<absent>"))


# ---- limits ----------------------------------------------------------------------------------

def limit_probe(tracking_uri, prefix, field):
    """Write `field` at the version's limit, one past it, and (when its column is narrower
    than what the version documents) at the documented maximum; read each back both ways."""
    client = connect(tracking_uri)
    limits = documented_limits()[field]
    entity = Entity(client, tracking_uri, prefix, field)
    probes = {}
    for role, length in ev.probe_lengths(limits["documented"], limits["column"]).items():
        for via in ev.VIAS:
            key, value = ev.probe_text(field, role, via, length)
            outcome = entity.write(via, key, value)
            is_key = field in ev.KEY_FIELDS
            mark = ev.probe_mark(role, via) if is_key else None
            probes.setdefault(role, {})[via] = {
                "length": length,
                "write": outcome,
                "read": {reader: ev.shown(_found(entity.read(reader), key, mark))
                         for reader in ev.VIAS},
            }
    return {"field": field, **limits, "probes": probes}


# ---- odd text, keys and numbers --------------------------------------------------------------

def agreed(reads):
    """One value when every reader saw the same, else what each reader saw."""
    values = list(reads.values())
    return values[0] if all(v == values[0] for v in values) else reads


def odd_values(tracking_uri, prefix):
    """Odd text as values of every kind of tag, param and description; odd keys where names
    are allowed; keys some versions refuse; and metric values, steps and timestamps at the
    ends of what floats and int64 hold."""
    client = connect(tracking_uri)
    values, keys, contested = {}, {}, {}
    for field in ("param_value", "run_tag_value", "experiment_tag_value",
                  "registered_model_tag_value", "model_version_tag_value"):
        entity = Entity(client, tracking_uri, f"{prefix}-odd", field)
        outcomes = {(name, via): entity.write(via, ev.odd_key(name, via), text)
                    for name, text in ev.ODD_TEXT.items() for via in ev.VIAS}
        reads = {reader: entity.read(reader) for reader in ev.VIAS}
        values[field] = {
            name: {via: agreed({r: ev.shown(reads[r].get(ev.odd_key(name, via), "<absent>"))
                                 for r in ev.VIAS})
                   if outcomes[(name, via)] == "ok" else {"write": outcomes[(name, via)]}
                   for via in ev.VIAS}
            for name in ev.ODD_TEXT}
    for field in ("registered_model_description", "model_version_description"):
        entity = Entity(client, tracking_uri, f"{prefix}-odd", field)
        values[field] = {}
        for via in ev.VIAS:
            outcome = entity.write(via, "", ev.ODD_MEDLEY)
            values[field][via] = agreed({r: ev.shown(entity.read(r).get("", "<absent>"))
                                          for r in ev.VIAS}) if outcome == "ok" \
                else {"write": outcome}
    for field in ("param_key", "metric_key", "run_tag_key", "experiment_tag_key",
                  "registered_model_tag_key"):
        entity = Entity(client, tracking_uri, f"{prefix}-odd", field)
        written = {(name, via): entity.write(via, ev.odd_key(name, via, ev.ODD_KEYS), "v")
                   for name in ev.ODD_KEYS for via in ev.VIAS}
        tried = {(name, via): entity.write(via, ev.odd_key(name, via, ev.CONTESTED_KEYS), "v")
                 for name in ev.CONTESTED_KEYS for via in ev.VIAS}
        reads = {reader: entity.read(reader) for reader in ev.VIAS}
        expected = {ev.odd_key(n, v, ev.ODD_KEYS) for n in ev.ODD_KEYS for v in ev.VIAS} | {
            ev.odd_key(n, v, ev.CONTESTED_KEYS) for n in ev.CONTESTED_KEYS for v in ev.VIAS}
        keys[field] = {
            name: {via: (agreed({r: ev.odd_key(name, via, ev.ODD_KEYS)
                                  if ev.odd_key(name, via, ev.ODD_KEYS) in reads[r]
                                  else "<absent>" for r in ev.VIAS})
                         if outcome == "ok" else {"write": outcome})
                   for via in ev.VIAS for outcome in [written[(name, via)]]}
            for name in ev.ODD_KEYS}
        keys[field]["<unexpected>"] = sorted(
            {k for r in ev.VIAS for k in reads[r] if k not in expected and
             not k.startswith("mlflow.")})
        contested[field] = {
            name: {via: (outcome if outcome != "ok" else
                         ("stored" if all(ev.odd_key(name, via, ev.CONTESTED_KEYS) in reads[r]
                                          for r in ev.VIAS) else "ok, not read back"))
                   for via in ev.VIAS for outcome in [tried[(name, via)]]}
            for name in ev.CONTESTED_KEYS}
    return {"values": values, "keys": keys, "contested_keys": contested,
            "metrics": _odd_metrics(client, tracking_uri, prefix)}


def history(client, base, run_id, key, via, page=25000):
    """(points as [step, timestamp, value] texts, page sizes) of one metric's history."""
    if via == "client":
        points = [(m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key)]
        return sorted(point(*p) for p in points), [len(points)]
    points, pages, token = [], [], None
    while True:
        query = {"run_id": run_id, "metric_key": key, "max_results": page}
        if token:
            query["page_token"] = token
        status, answer = rest(base, "GET", "/metrics/get-history", query=query)
        if status != 200:
            return f"refused {status} {answer.get('error_code')}", pages
        found = answer.get("metrics", [])
        pages.append(len(found))
        points += [(int(m.get("step", 0)), int(m.get("timestamp", 0)),
                    from_json_float(m.get("value", 0.0))) for m in found]
        token = answer.get("next_page_token")
        if not token or len(pages) > 100:
            return sorted(point(*p) for p in points), pages


def point(step, timestamp, value):
    return [str(step), str(timestamp), ev.float_text(value)]


def _latest(client, base, run_id, via):
    if via == "client":
        return {k: ev.float_text(v) for k, v in client.get_run(run_id).data.metrics.items()}
    _, answer = rest(base, "GET", "/runs/get", query={"run_id": run_id})
    return {m["key"]: ev.float_text(from_json_float(m.get("value", 0.0)))
            for m in answer.get("run", {}).get("data", {}).get("metrics", [])}


def _odd_metrics(client, base, prefix):
    experiment_id = client.create_experiment(f"{prefix}-edges-metrics")
    run_id = client.create_run(experiment_id, run_name="metrics").info.run_id
    written = {}
    for via in ev.VIAS:
        metrics = [(f"{via}.{name}", value, T0, 0) for name, value in ev.FLOATS.items()]
        metrics += [(f"{via}.steps", float(i), ts, step)
                    for i, (step, ts) in enumerate(ev.STEPS_AND_TIMESTAMPS)]
        if via == "client":
            written[via] = client_outcome(client.log_batch, run_id, metrics=[
                Metric(k, v, ts, step) for k, v, ts, step in metrics])
        else:
            written[via] = rest_outcome(*rest(base, "POST", "/runs/log-batch", {
                "run_id": run_id, "metrics": [
                    {"key": k, "value": _json_float(v), "timestamp": ts, "step": step}
                    for k, v, ts, step in metrics]}))
    latest = {reader: _latest(client, base, run_id, reader) for reader in ev.VIAS}
    floats = {name: {via: agreed({
        r: {"history": history(client, base, run_id, f"{via}.{name}", r)[0],
            "latest": latest[r].get(f"{via}.{name}", "<absent>")} for r in ev.VIAS})
        for via in ev.VIAS} for name in ev.FLOATS}
    steps = {via: agreed({r: history(client, base, run_id, f"{via}.steps", r)[0]
                           for r in ev.VIAS}) for via in ev.VIAS}
    return {"written": written, "floats": floats, "steps": steps}
