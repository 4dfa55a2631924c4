"""Benchmark operations, timed inside an MLflow environment (one fixed client, two servers).

`prepare` seeds each server with the same data; `run_round` times every chosen operation once
against each server, alternating which server goes first from round to round, and returns the
seconds of each call. Timing happens here, around the client call only, so the harness's own
messaging never enters the numbers.

Connections are a condition of each round, not an accident of process history: in a `reused`
round every timed call goes over a kept-alive connection that has just served a request (a
call outside the timing right before it), in a `fresh` round every request of the timed call
goes over a new connection (MLflow's pooled connections are closed before it, and its requests
carry `Connection: close`). A server whose
keep-alive connections are slow (MLflow 3.x under `uvicorn --workers N`, uvicorn issue #3149)
then shows it in one kind of round and not in the other, instead of landing unevenly on
whichever process happened to hold an old connection.

A 64 MB download can take a minute on a slow server (3.4.0 streams it at ~1 MB/s). With
`cap_s`, a download still running after that many seconds is stopped (once it has received
`EXTRAPOLATE_FROM_BYTES`), and its sample is the time the whole file would take at the rate
received so far; it is flagged *extrapolated*.

Every timed call also records the HTTP requests the MLflow client sends while it runs
(`_http_log`: an append per request, with the spans of sending it and reading its body).
`run_round` returns them per call: how many requests, their routes (ids and artifact paths
normalized), and the seconds inside HTTP, so the client's own work is the call's time minus
those. `probe_ready` / `probe_call` run one call outside any round, for the harness to count
the SQL statements the server runs for it.
"""

import os
import shutil
import tempfile
import time
import urllib.parse
import uuid

import _http_log
import mlflow
from _common import PIP_REQUIREMENTS, connect, dataset, log_sklearn, train
from mlflow.entities import Metric, Param, RunTag
from transfers import FILES, blob, delete_uploaded, download_streamed, upload_streamed

FLUENT = ("log_model",)  # operations that use mlflow.start_run: the active experiment matters
SEARCH_RUNS = 100
HISTORY_POINTS = 5_000
REUSED, FRESH = "reused", "fresh"
WARM_STREAK = 8  # consecutive quick first requests on new connections: every worker is warm
WARM_ATTEMPTS = 60
QUICK_S = 0.5
_STATE = {"folder": None}
_SESSIONS = {}  # every requests.Session MLflow's client made in this process
_ROUNDS = {"n": 0}  # rounds run by this process: operations that alternate use it
_MODE = {"connection": REUSED}  # `fresh`: every request on a new connection (Connection: close)
_PROBE = {}  # the client and context `probe_ready` set up for `probe_call`


def _track_sessions():
    """Remember the sessions MLflow's REST layer creates, so a round can close their pooled
    connections (the same private helper exists in 2.x and 3.x)."""
    from mlflow.utils import request_utils

    original = request_utils._cached_get_request_session
    if getattr(original, "_harness_tracked", False):
        return

    def tracked(*args, **kwargs):
        session = original(*args, **kwargs)
        _SESSIONS[id(session)] = session
        _set_connection_header(session)
        return session

    tracked._harness_tracked = True
    request_utils._cached_get_request_session = tracked


_track_sessions()


def _set_connection_header(session):
    if _MODE["connection"] == FRESH:
        session.headers["Connection"] = "close"  # the server closes after each response
    else:
        session.headers.pop("Connection", None)


def _close_connections():
    for session in list(_SESSIONS.values()):
        session.close()  # closes the pools; the session opens new connections when used


def _ready_connection(client, server_url, connection):
    """Outside the timing: for a `fresh` call, a new connection for each of its requests
    (`Connection: close`, the pools emptied); for a `reused` call, a request
    on the same kept-alive connection right before it. The timed request then follows a
    response within milliseconds, as in a client's loop of calls, whatever the other server's
    call took: the TCP stack treats such a connection as interactive and delays its ACKs, which
    is exactly where a server without TCP_NODELAY loses ~40 ms (and one with it does not)."""
    _MODE["connection"] = connection
    for session in list(_SESSIONS.values()):
        _set_connection_header(session)
    if connection == FRESH:
        _close_connections()
    else:
        client.get_experiment("0")  # the default experiment exists on every server


def warm_workers(tracking_uri, servers):
    """First requests on new connections until `WARM_STREAK` in a row are quick: each server
    worker pays its lazy start-up (store, schema check: seconds) on its first request, and a
    new connection may land on any worker. Returns the attempts per server."""
    import requests

    attempts = {}
    for name, url in servers.items():
        streak = count = 0
        while streak < WARM_STREAK and count < WARM_ATTEMPTS:
            count += 1
            started = time.perf_counter()
            with requests.Session() as session:
                session.get(f"{url}/api/2.0/mlflow/experiments/get",
                            params={"experiment_id": "0"}, timeout=60)
            streak = streak + 1 if time.perf_counter() - started < QUICK_S else 0
        attempts[name] = count
    return attempts


def _folder():
    """The process's folder of files to upload (each written when first needed)."""
    if _STATE["folder"] is None:
        # Named by the harness run (its processes carry MLFLOW_UPGRADE_HARNESS_RUN): if this
        # process is killed before `cleanup`, the run's teardown finds the folder and removes it.
        run_id = os.environ.get("MLFLOW_UPGRADE_HARNESS_RUN", "")
        _STATE["folder"] = tempfile.mkdtemp(prefix=f"mlflow-upgrade-harness-bench-{run_id}-")
    return _STATE["folder"]


def cleanup(tracking_uri=None):
    if _STATE["folder"]:
        shutil.rmtree(_STATE["folder"], ignore_errors=True)
        _STATE["folder"] = None


def prepare(tracking_uri, prefix, large="64mb"):
    """The same seeded data on every server: runs to search, a long history, a model, files
    (the 64 MB download when `large` is "64mb"; a larger one the harness puts in the store
    itself). Each request on a new connection (untimed work): over kept-alive ones a server
    without TCP_NODELAY adds ~40 ms to each of the ~220 requests."""
    client = connect(tracking_uri)
    _ready_connection(client, tracking_uri, FRESH)
    experiment_id = client.create_experiment(f"{prefix}-bench")
    now = int(time.time() * 1000)
    for index in range(SEARCH_RUNS):
        run = client.create_run(experiment_id, run_name=f"seed-{index}")
        client.log_batch(run.info.run_id, metrics=[
            Metric("accuracy", (index % 100) / 100, now, 0),
            Metric("loss", 1 - (index % 100) / 100, now, 0),
        ], params=[Param("lr", str(0.001 * (index % 7 + 1)))], tags=[RunTag("seed", "yes")])
    history = client.create_run(experiment_id, run_name="history").info.run_id
    for start in range(0, HISTORY_POINTS, 1000):
        client.log_batch(history, metrics=[Metric("loss", 1 / (step + 1), now + step, step)
                                           for step in range(start, start + 1000)])
    work = client.create_run(experiment_id, run_name="work").info.run_id
    # Writes that add to a run (a new param key, a logged model: 3.x lists a run's model
    # outputs) go to a run of their own: `get_run` of the work run must not grow with the
    # rounds, or its time drifts within a gate and between the gates of a calibration.
    writes = client.create_run(experiment_id, run_name="writes").info.run_id
    model = f"{prefix}-bench-model"
    client.create_registered_model(model)
    client.create_model_version(model, f"runs:/{work}/model", run_id=work)
    client.log_artifact(work, blob(_folder(), "1mb"), "download")
    if large in (True, "64mb"):
        client.log_artifact(work, blob(_folder(), "64mb"), "download")
    mlflow.set_experiment(experiment_id=experiment_id)
    trained, _, _ = train("baseline")
    with mlflow.start_run(run_id=work):
        model_uri = log_sklearn(trained).model_uri
    artifacts = urllib.parse.urlparse(client.get_run(work).info.artifact_uri).path
    return {"experiment_id": experiment_id, "history_run": history, "run": work,
            "writes_run": writes,
            "model": model, "model_uri": model_uri, "prefix": prefix,
            "artifacts_path": artifacts.rstrip("/")}


def _unique():
    return uuid.uuid4().hex[:12]


def _op_create_experiment(client, c):
    client.create_experiment(f"{c['prefix']}-e-{_unique()}")


def _op_create_run(client, c):
    client.create_run(c["experiment_id"])


def _op_log_metric(client, c):
    client.log_metric(c["run"], "bench_metric", 0.5, step=int(time.time() * 1000) % 1_000_000)


def _op_log_batch_1000(client, c):
    now = int(time.time() * 1000)
    client.log_batch(c["run"], metrics=[Metric(f"batch_{i % 50}", i / 1000, now, i)
                                        for i in range(1000)])


def _op_log_param(client, c):
    client.log_param(c["writes_run"], f"p_{_unique()}", "value")


def _op_set_tag(client, c):
    client.set_tag(c["run"], "bench_tag", _unique())


def _op_get_run(client, c):
    client.get_run(c["run"])


def _op_search_runs(client, c):
    client.search_runs([c["experiment_id"]], filter_string="metrics.accuracy > 0.5",
                       order_by=["metrics.accuracy DESC"], max_results=100)


def _op_get_metric_history(client, c):
    client.get_metric_history(c["history_run"], "loss")


def _op_register_model_version(client, c):
    name = f"{c['prefix']}-m-{_unique()}"
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{c['run']}/model", run_id=c["run"])


def _op_set_get_alias(client, c):
    client.set_registered_model_alias(c["model"], "bench", "1")
    client.get_model_version_by_alias(c["model"], "bench")


def _op_search_model_versions(client, c):
    client.search_model_versions(f"name='{c['model']}'")


def _op_transition_stage(client, c):
    # The same transition on both servers of a round (a real change every round): a random
    # stage per call made one side a no-op transition and the other a real one.
    stage = "Staging" if c["round"] % 2 else "Production"
    client.transition_model_version_stage(c["model"], "1", stage)


def _upload(size):
    def op(client, c):
        client.log_artifact(c["run"], blob(_folder(), size), f"upload-{_unique()}")
    return op


def _download(size):
    def op(client, c):
        target = tempfile.mkdtemp(dir=_folder())
        try:
            client.download_artifacts(c["run"], f"download/blob-{size}.bin", target)
        finally:
            shutil.rmtree(target, ignore_errors=True)
    return op


def _op_search_runs_at_scale(client, c):
    client.search_runs([c["store_experiment"]],
                       filter_string="metrics.accuracy > 0.9 and params.optimizer = 'adam'",
                       order_by=["metrics.accuracy DESC"], max_results=100)


def _op_search_experiments_at_scale(client, c):
    client.search_experiments(max_results=100, order_by=["last_update_time DESC"])


def _op_search_model_versions_at_scale(client, c):
    client.search_model_versions(f"name LIKE '{c['store_models']}'", max_results=100)


def _op_get_metric_history_long(client, c):
    client.get_metric_history(c["store_long_run"], c["store_long_key"])


def _op_get_run_wide(client, c):
    client.get_run(c["store_wide_run"])


def _op_log_model(client, c):
    trained, _, _ = train("baseline")
    with mlflow.start_run(run_id=c["writes_run"]):
        mlflow.sklearn.log_model(trained, f"model-{_unique()}", pip_requirements=PIP_REQUIREMENTS)


def _op_load_model(client, c):
    X, _ = dataset(rows=20)
    mlflow.pyfunc.load_model(c["model_uri"]).predict(X)


OPERATIONS = {
    "create_experiment": _op_create_experiment,
    "create_run": _op_create_run,
    "log_metric": _op_log_metric,
    "log_batch_1000": _op_log_batch_1000,
    "log_param": _op_log_param,
    "set_tag": _op_set_tag,
    "get_run": _op_get_run,
    "search_runs": _op_search_runs,
    "get_metric_history_5000": _op_get_metric_history,
    "register_model_version": _op_register_model_version,
    "set_get_alias": _op_set_get_alias,
    "search_model_versions": _op_search_model_versions,
    "transition_stage": _op_transition_stage,
    "upload_1mb": _upload("1mb"),
    "download_1mb": _download("1mb"),
    "upload_64mb": _upload("64mb"),
    "download_64mb": download_streamed("64mb"),
    "upload_256mb": upload_streamed("256mb", _folder),
    "download_256mb": download_streamed("256mb"),
    "upload_1gb": upload_streamed("1gb", _folder),
    "download_1gb": download_streamed("1gb"),
    "log_model": _op_log_model,
    "load_model": _op_load_model,
    "search_runs_at_scale": _op_search_runs_at_scale,
    "search_experiments_at_scale": _op_search_experiments_at_scale,
    "search_model_versions_at_scale": _op_search_model_versions_at_scale,
    "get_metric_history_long": _op_get_metric_history_long,
    "get_run_wide": _op_get_run_wide,
}


def operations(tracking_uri=None):
    return list(OPERATIONS)


def run_round(tracking_uri, servers, contexts, ops, first, connection=REUSED, cap_s=None):
    """Time each op once per server; `first` names the server that goes first this round,
    `connection` (`reused` or `fresh`) the connection every timed call starts on, and `cap_s`
    the longest a streamed download may run before its time is extrapolated from its rate.

    Returns {"timings": {op: {server: seconds}}, "extrapolated": {op: [server, …]},
    "http": {op: {server: requests}}} (`_http_log.requests_of`, with the client's `own_s`)."""
    clients = {s: connect(servers[s]) for s in servers}
    timings = {op: {} for op in ops}
    extrapolated, http = {}, {}
    _ROUNDS["n"] += 1
    order = [first] + [s for s in servers if s != first]
    for op in ops:
        for server in order:
            mlflow.set_tracking_uri(servers[server])
            mlflow.set_registry_uri(servers[server])
            context = dict(contexts[server], url=servers[server], cap_s=cap_s,
                           round=_ROUNDS["n"])
            if op in FLUENT:  # outside the timing: the fluent API's experiment is global state
                mlflow.set_experiment(experiment_id=context["experiment_id"])
            _ready_connection(clients[server], servers[server], connection)
            calls = _http_log.start()
            started = time.perf_counter()
            try:
                partial = OPERATIONS[op](clients[server], context)
            finally:
                elapsed = time.perf_counter() - started
                _http_log.stop()
                delete_uploaded(context)
            record = _http_log.requests_of(calls, servers[server])
            record["own_s"] = round(max(0.0, elapsed - record["http_s"]), 6)
            http.setdefault(op, {})[server] = record
            if isinstance(partial, int) and partial > 0:
                size = op.rsplit("_", 1)[-1]
                elapsed *= FILES[size] / partial
                extrapolated.setdefault(op, []).append(server)
            timings[op][server] = elapsed
    return {"timings": timings, "extrapolated": extrapolated, "http": http}


def probe_ready(tracking_uri, server, context, op):
    """Everything `probe_call` needs that talks to `server` (the fluent API's experiment, the
    model version's current stage), so that between the two calls the server serves nothing
    but `op`."""
    client = connect(server)
    if op in FLUENT:
        mlflow.set_experiment(experiment_id=context["experiment_id"])
    round_index = _ROUNDS["n"]
    if op == "transition_stage":  # a real change of stage, as in every round
        staged = client.get_model_version(context["model"], "1").current_stage == "Staging"
        round_index = 0 if staged else 1
    _MODE["connection"] = REUSED
    for session in list(_SESSIONS.values()):
        _set_connection_header(session)
    _PROBE.update(client=client, server=server, op=op,
                  context=dict(context, url=server, cap_s=None, round=round_index))


def probe_call(tracking_uri):
    """`op` once against the server `probe_ready` set up, untimed by the gate: its seconds and
    the requests it sent (as `run_round` records them). Each call may follow another."""
    calls = _http_log.start()
    started = time.perf_counter()
    try:
        OPERATIONS[_PROBE["op"]](_PROBE["client"], _PROBE["context"])
    finally:
        elapsed = time.perf_counter() - started
        _http_log.stop()
    record = _http_log.requests_of(calls, _PROBE["server"])
    record["own_s"] = round(max(0.0, elapsed - record["http_s"]), 6)
    record["seconds"] = round(elapsed, 6)
    _PROBE["context"]["round"] += 1  # a further call: the other stage, a real change again
    return record
