"""Client code run with a bearer token, as clients behind an auth proxy run it.

MLflow sends `Authorization: Bearer $MLFLOW_TRACKING_TOKEN` on every request; the token is set
only for the duration of one call, so the agent's other calls are unaffected.
"""

import importlib
import os


def call(tracking_uri, token, client_function, **kwargs):
    """`call(uri, token, "tracking:roundtrip", prefix=...)`: any client function, with a token."""
    module_name, _, function = client_function.partition(":")
    module = importlib.import_module(module_name)
    previous = os.environ.get("MLFLOW_TRACKING_TOKEN")
    os.environ["MLFLOW_TRACKING_TOKEN"] = token
    try:
        return getattr(module, function)(tracking_uri, **kwargs)
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
        else:
            os.environ["MLFLOW_TRACKING_TOKEN"] = previous
