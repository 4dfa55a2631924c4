"""Runs client code inside an MLflow environment's own interpreter and hands results back as JSON.

`agent.py` is the only file executed in the target interpreter (stdlib only, never imports
`harness`); `client.py` drives it from the harness process.
"""
