"""MLflow's basic-auth app as the harness runs it: its servers and their auth databases."""
