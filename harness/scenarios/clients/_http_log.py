"""The HTTP requests an MLflow client sends during one call (stdlib and `requests` only).

`install()` wraps `requests.adapters.HTTPAdapter.send` once; between `start()` and `stop()` each
request any `requests` session sends is appended to a list as [method, url, status, spans],
the spans ([start, end] perf_counter pairs) covering the send and the reading of the response's
body (requests reads a body after `send`, streamed or not). Outside that window the wrapper
only checks one dict: what is timed changes by an append per request. `requests_of` turns one
call's list into its count, its routes (query strings dropped, ids and artifact paths
normalized) and its seconds inside HTTP: the union of the spans, as requests sent from a
pool of threads at once (MLflow downloads a model's files in parallel) overlap.
"""

import re
import time
import urllib.parse

# An artifact route's path after its kind (`artifacts/`, `presigned/`, `mpu/…`) names a file.
_ARTIFACT = re.compile(r"^(/api/2\.0/mlflow-artifacts/[\w-]+/).")
_ID = re.compile(r"^(?:\d+|[0-9a-f]{16,}|[0-9a-f-]{36}|[a-z]{1,3}-[0-9a-f]{16,})$")
_CALLS = {"list": None}
MERGE_S = 1e-4  # a body chunk read this soon after the previous span extends it


def start():
    """Record the requests sent from now on (any thread) into a new list, returned."""
    calls = _CALLS["list"] = []
    return calls


def stop():
    _CALLS["list"] = None


def install():
    """While `_CALLS["list"]` is a list, each request any `requests` session sends is appended
    to it with its status and the spans of sending it and of reading its body (a response
    read later, streamed, adds to its entry as it is read)."""
    from requests.adapters import HTTPAdapter

    original = HTTPAdapter.send
    if getattr(original, "_harness_recorded", False):
        return

    def send(self, request, *args, **kwargs):
        calls = _CALLS["list"]
        if calls is None:
            return original(self, request, *args, **kwargs)
        entry = [request.method, request.url, None, []]
        calls.append(entry)
        started = time.perf_counter()
        try:
            response = original(self, request, *args, **kwargs)
        finally:
            entry[3].append([started, time.perf_counter()])
        entry[2] = response.status_code
        _time_body(response, entry)
        return response

    send._harness_recorded = True
    HTTPAdapter.send = send


def _time_body(response, entry):
    """Reading the body (requests reads it after `send`, streamed or not) counts as HTTP."""
    raw = getattr(response, "raw", None)
    stream = getattr(raw, "stream", None)
    if stream is None:
        return
    spans = entry[3]

    def timed(*args, **kwargs):
        chunks = stream(*args, **kwargs)
        while True:
            started = time.perf_counter()
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            finally:
                ended = time.perf_counter()
                if spans and started - spans[-1][1] < MERGE_S:
                    spans[-1][1] = ended
                else:
                    spans.append([started, ended])
            yield chunk

    try:
        raw.stream = timed
    except AttributeError:  # a raw object that takes no attributes: its body is not timed
        pass



def route(method, url):
    """`POST /api/2.0/mlflow/runs/create`: the query string dropped, ids (numbers, hex, UUIDs,
    `m-…`) as `{id}` and an artifact's path as `…` (`…/mlflow-artifacts/presigned/…`)."""
    path = urllib.parse.urlsplit(url).path
    artifact = _ARTIFACT.match(path)
    if artifact:
        path = artifact.group(1) + "…"
    else:
        path = "/".join("{id}" if _ID.match(part) else part for part in path.split("/"))
    return f"{method} {path}"


def covered(spans):
    """Seconds within at least one of `spans` ([start, end] pairs)."""
    total, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def requests_of(calls, server_url):
    """One timed call's requests: their count, routes, failures and seconds inside HTTP.
    Requests to other hosts (telemetry, a cloud store) are counted apart."""
    server = urllib.parse.urlsplit(server_url).netloc
    routes, failed = {}, {}
    spans, other = [], 0
    for method, url, status, taken in calls:
        if urllib.parse.urlsplit(url).netloc != server:
            other += 1
            continue
        name = route(method, url)
        routes[name] = routes.get(name, 0) + 1
        spans.extend(taken)
        if status is None or status >= 400:
            key = f"{name} → {status or 'no answer'}"
            failed[key] = failed.get(key, 0) + 1
    record = {"requests": sum(routes.values()), "routes": routes,
              "http_s": round(covered(spans), 6)}
    if failed:
        record["failed"] = failed
    if other:
        record["other_hosts"] = other
    return record


install()
