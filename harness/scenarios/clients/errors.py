"""A client against a stopped server must fail, and within a bounded time. Runs inside MLflow."""

import time

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient


def against_stopped_server(tracking_uri, dead_uri):
    client = MlflowClient(tracking_uri=dead_uri)
    began = time.monotonic()
    try:
        client.search_experiments(max_results=1)
        outcome, kind = "succeeded", ""
    except MlflowException as error:
        outcome, kind = "raised", type(error).__name__
    except Exception as error:  # noqa: BLE001 - record what a user would see
        outcome, kind = "raised", type(error).__name__
    return {"outcome": outcome, "exception": kind,
            "failure_seconds": round(time.monotonic() - began, 2)}
