"""MLflow environments: one uv virtualenv per (python, requirements), cached by hash."""
