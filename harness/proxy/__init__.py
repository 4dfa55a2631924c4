"""The auth proxy in front of MLflow: the reference proxy and the service that runs any proxy."""
