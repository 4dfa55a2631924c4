"""The reference DeltaOne detector: the team's rule on top of the MLflow registry.

Runs inside an MLflow environment, through the public client API only, so the same code is
exercised against every server version. A team can swap in its own detector with
`run --deltaone-detector FILE[:FUNCTION]`; it must keep the contract of `detect` (below).

Rule (see `deltaone_rule.py` for the arithmetic):
- the *current* version is the newest version of the registered model; its value is the
  metric named by the baseline's `benchmark_metric` tag, read from the run that produced it;
- the *baseline* is the newest earlier version carrying both `benchmark_metric` and
  `benchmark_value` tags (not necessarily the previous version); an optional
  `benchmark_direction` tag (`higher` | `lower`, default `higher`) says which way is better;
- DeltaOne is achieved when the improvement is at least 0.01, inclusive.

Every decided evaluation is logged as metrics on a run in `experiment_name`. An achievement is
POSTed once to `webhook_url`: retried with exponential backoff on 5xx or a connection failure,
never on 4xx, and marked on the model version (`deltaone_notified`) so a re-run does not send
it again. Each delivery carries an `Idempotency-Key` header for receivers that deduplicate.
"""

import json
import time
import urllib.error
import urllib.request

import mlflow
from deltaone_rule import DIRECTIONS, HIGHER, THRESHOLD, achieves, as_decimal, delta

NOTIFIED_TAG = "deltaone_notified"
ATTEMPTS = 4
FIRST_BACKOFF_SECONDS = 0.25
REQUEST_TIMEOUT_SECONDS = 5.0


def detect(client, model_name, *, webhook_url=None, threshold=THRESHOLD,
           experiment_name="deltaone-evaluations"):
    """Decide DeltaOne for the newest version of `model_name`; notify and log on a decision.

    The contract a team's own detector keeps (`--deltaone-detector FILE[:FUNCTION]`): called
    as `detect(client, model_name, webhook_url=..., threshold=..., experiment_name=...)`, it
    returns a JSON-able dict with
    - `verdict`: "achieved" | "not_achieved" | "no_versions" | "single_version" |
      "no_baseline" | "invalid_baseline" | "missing_metric";
    - `current_version`, `baseline_version`, `metric_name`, `direction`, `baseline_value`,
      `current_value`, `delta` (the improvement as decimal text, e.g. "0.01"),
      `evaluation_run_id`;
    - `notification`: `sent` (a delivery was accepted with 2xx), `attempts` (POSTs made), and
      optionally `statuses` (one answer per attempt), `reason`, and `backoff_seconds`: the
      delays the detector *scheduled* between attempts, one per sleep actually taken (so one
      fewer than the attempts when it retried), e.g. [0.25, 0.5, 1.0]. The scenario judges
      backoff on this schedule: each delay at least 0.1 s and strictly growing; the arrival
      gaps measured at the receiver only have to be no shorter than it (a busy machine can
      only lengthen them). A detector that does not report `backoff_seconds` is held only to
      arrival gaps of at least 0.1 s.
    """
    versions = sorted(client.search_model_versions(f"name='{model_name}'"),
                      key=lambda v: int(v.version))
    result = {"model_name": model_name, "verdict": None, "current_version": None,
              "baseline_version": None, "metric_name": None, "direction": None,
              "baseline_value": None, "current_value": None, "delta": None,
              "evaluation_run_id": None, "notification": {"sent": False, "attempts": 0}}
    if len(versions) < 2:
        result["verdict"] = "single_version" if versions else "no_versions"
        return result
    current, earlier = versions[-1], versions[:-1]
    result["current_version"] = current.version
    baseline = next((v for v in reversed(earlier)
                     if "benchmark_metric" in v.tags and "benchmark_value" in v.tags), None)
    if baseline is None:
        result["verdict"] = "no_baseline"
        return result
    metric = baseline.tags["benchmark_metric"]
    direction = baseline.tags.get("benchmark_direction", HIGHER)
    if direction not in DIRECTIONS:
        result["verdict"] = "invalid_baseline"
        return result
    result.update(baseline_version=baseline.version, metric_name=metric, direction=direction,
                  baseline_value=float(as_decimal(baseline.tags["benchmark_value"])))
    metrics = client.get_run(current.run_id).data.metrics if current.run_id else {}
    if metric not in metrics:
        result["verdict"] = "missing_metric"
        return result
    improvement = delta(baseline.tags["benchmark_value"], metrics[metric], direction)
    achieved = achieves(improvement, threshold)
    result.update(current_value=metrics[metric], delta=str(improvement),
                  verdict="achieved" if achieved else "not_achieved")
    result["evaluation_run_id"] = _log_evaluation(client, experiment_name, result, achieved)
    if achieved and webhook_url:
        result["notification"] = _notify_once(client, current, webhook_url, result)
    return result


def _log_evaluation(client, experiment_name, result, achieved):
    experiment = client.get_experiment_by_name(experiment_name)
    experiment_id = (experiment.experiment_id if experiment is not None
                     else client.create_experiment(experiment_name))
    run = client.create_run(experiment_id, run_name=f"deltaone-{result['model_name']}",
                            tags={"deltaone.model_name": result["model_name"],
                                  "deltaone.current_version": result["current_version"],
                                  "deltaone.baseline_version": result["baseline_version"],
                                  "deltaone.metric_name": result["metric_name"]})
    now = int(time.time() * 1000)
    client.log_batch(run.info.run_id, metrics=[
        mlflow.entities.Metric("deltaone_achieved", 1.0 if achieved else 0.0, now, 0),
        mlflow.entities.Metric("deltaone_delta", float(result["delta"]), now, 0),
        mlflow.entities.Metric("deltaone_baseline_value", result["baseline_value"], now, 0),
        mlflow.entities.Metric("deltaone_current_value", result["current_value"], now, 0),
    ])
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def payload_of(result):
    """The webhook body: what a consumer needs to act on the achievement."""
    return {
        "event": "deltaone.achieved",
        "model_name": result["model_name"],
        "baseline_version": result["baseline_version"],
        "new_version": result["current_version"],
        "metric_name": result["metric_name"],
        "direction": result["direction"],
        "baseline_value": result["baseline_value"],
        "current_value": result["current_value"],
        "delta": float(result["delta"]),
    }


def _notify_once(client, version, webhook_url, result):
    if version.tags.get(NOTIFIED_TAG):
        return {"sent": False, "attempts": 0, "backoff_seconds": [], "reason": "already notified"}
    key = f"{result['model_name']}/{version.version}"
    outcome = post_with_retries(webhook_url, payload_of(result), key)
    if outcome["sent"]:
        client.set_model_version_tag(result["model_name"], version.version, NOTIFIED_TAG, key)
    return outcome


def post_with_retries(url, payload, idempotency_key):
    """POST JSON; retry 5xx and connection failures with doubling backoff; give up on 4xx.

    Returns {"sent", "attempts", "statuses", "backoff_seconds"[, "reason"]}: `backoff_seconds`
    lists the delay decided before each retry (0.25, 0.5, 1.0 for four attempts), not how
    long the sleep took on a busy machine.
    """
    body = json.dumps(payload, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key,
               "User-Agent": f"deltaone-detector mlflow/{mlflow.__version__}"}
    statuses = []
    backoffs = []
    for attempt in range(1, ATTEMPTS + 1):
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                statuses.append(response.status)
                return {"sent": True, "attempts": attempt, "statuses": statuses,
                        "backoff_seconds": backoffs}
        except urllib.error.HTTPError as error:
            statuses.append(error.code)
            if error.code < 500:
                return {"sent": False, "attempts": attempt, "statuses": statuses,
                        "backoff_seconds": backoffs,
                        "reason": f"rejected with HTTP {error.code}"}
        except (urllib.error.URLError, OSError) as error:
            statuses.append(type(error).__name__)
        if attempt < ATTEMPTS:
            delay = FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1)
            backoffs.append(delay)
            time.sleep(delay)
    return {"sent": False, "attempts": ATTEMPTS, "statuses": statuses,
            "backoff_seconds": backoffs, "reason": f"gave up after {ATTEMPTS} attempts"}
