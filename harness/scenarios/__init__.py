"""Scenarios: pytest modules run against both sides of an upgrade.

Each `test_*.py` module checks one capability with the `side`, `mlflow_client` and `observe`
fixtures of `harness.plugin`. Code that imports MLflow lives in `clients/` and only ever runs
inside an MLflow environment's interpreter.
"""
