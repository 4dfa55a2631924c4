"""A side's deployment as the team runs it: the description (`description.py`, with its auth
config `auth_config.py` and a docker-compose service `compose.py`), the public URL's stand-in
ingress (`ingress.py`, `routes.py`), the server's health under the run (`health.py`,
`rerun.py`), the drift between the two sides (`drift.py`), and the result (`result.py`)."""
