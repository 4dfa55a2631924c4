"""The REST routes this MLflow version serves, read from its own server application.

Runs inside the MLflow environment: the Flask app's URL map (every version), plus the
FastAPI routes that 3.x mounts in front of it (OpenTelemetry ingestion).
"""

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def served(tracking_uri=None):
    """`tracking_uri` is unused: the routes come from the application, not a request."""
    from mlflow.server import app

    routes = {}
    for rule in app.url_map.iter_rules():
        methods = sorted(set(rule.methods or ()) - IGNORED_METHODS)
        routes.setdefault(rule.rule, set()).update(methods)
    try:
        from mlflow.server.fastapi_app import create_fastapi_app  # noqa: F401 (3.x only)
        from mlflow.server.otel_api import otel_router

        for route in otel_router.routes:
            routes.setdefault(route.path, set()).update(set(route.methods) - IGNORED_METHODS)
    except ImportError:
        pass
    return [{"rule": rule, "methods": sorted(methods)} for rule, methods in sorted(routes.items())]
