"""A team's MLflow code, written against MLflow 2.9.2: a model-registry wrapper and a DeltaOne
evaluator that notifies a webhook."""
