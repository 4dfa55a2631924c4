"""Documented differences between MLflow versions, and the classifier that uses them."""
