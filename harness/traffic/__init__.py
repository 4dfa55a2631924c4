"""The team's own traffic: recorded in front of their server (`record`), imported from a HAR
file or an access log, replayed against two old servers and the new one (`run --replay`), and
compared field by field with the noise the two old servers show learned, not hand-listed.

`exchange.py` the recording's format and files, `redaction.py` what is never written,
`record.py` the recording proxy (mitmproxy, the `record` extra), `importers.py` HAR and access
logs, `ids.py` the mapping of ids the replay's writes create, `transport.py` HTTP to one
server, `replay.py` the loop, `compare.py` the Diffy-style comparison, `timing.py` per-route
latency, `servers.py` the three servers and their databases, `result.py` the phase result.
"""
