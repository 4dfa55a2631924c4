"""mlflow-upgrade-harness: is this MLflow upgrade safe for us, and if not, exactly what breaks?"""

__version__ = "0.1.0"
