"""Services behind one small interface: PostgreSQL, S3 and MLflow tracking servers."""
