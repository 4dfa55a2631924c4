"""Report writers: each one turns a RunResults into one file. They never import MLflow."""
