"""The benchmark's large artifact transfers (64 MB by default, up to 1 GB with
`--artifact-size`), against the server's artifact route, streamed. Runs inside MLflow's
environment (stdlib and requests only).

A transfer still running after `c["cap_s"]` seconds is stopped once it has moved
`EXTRAPOLATE_FROM_BYTES`, and returns the bytes it moved: the caller extrapolates the time the
whole file takes at that rate. Downloads read the server's route as MLflow's client does;
uploads past 64 MB are one streamed PUT each (3.4.0 takes more than 15 minutes for 1 GB: an
uncapped upload would hold the benchmark that long), deleted again outside the timing when
they finish (`delete_uploaded`), so the store does not fill up with gigabytes.
"""

import os
import time

CHUNK = 1024 * 1024
MB = 1024 * 1024
FILES = {"1mb": MB, "64mb": 64 * MB, "256mb": 256 * MB, "1gb": 1024 * MB}
# A capped transfer is extrapolated only from this much data: a stall before the first bytes
# (the store busy) would otherwise turn a few bytes into a time of days.
EXTRAPOLATE_FROM_BYTES = 4 * CHUNK
ROUTE = "/api/2.0/mlflow-artifacts/artifacts"


def blob(folder, size):
    """The file of `size` (a key of FILES) in `folder`, written the first time it is asked for
    (in chunks: a 1 GB file is never held in memory)."""
    path = os.path.join(folder, f"blob-{size}.bin")
    if not os.path.exists(path):
        partial = path + ".partial"
        with open(partial, "wb") as handle:
            for _ in range(FILES[size] // CHUNK):
                handle.write(os.urandom(CHUNK))
        os.replace(partial, path)
    return path


def _capped(started, cap, moved, total):
    return (cap is not None and time.perf_counter() - started > cap
            and EXTRAPOLATE_FROM_BYTES <= moved < total)


def download_streamed(size):
    """`download/blob-<size>.bin` of the run, streamed; its bytes when stopped at the cap."""
    def op(client, c):
        import requests

        url = f"{c['url']}{ROUTE}{c['artifacts_path']}/download/blob-{size}.bin"
        started, received = time.perf_counter(), 0
        with requests.get(url, stream=True, timeout=(10, 120)) as response:
            response.raise_for_status()
            for chunk in response.iter_content(CHUNK):
                received += len(chunk)
                if _capped(started, c.get("cap_s"), received, FILES[size]):
                    return received
        if received != FILES[size]:
            raise RuntimeError(f"downloaded {received} bytes of {FILES[size]}")
        return None
    return op


class _Stopped(Exception):
    """The cap is reached: the upload's connection is dropped."""


class _CappedFile:
    """The file to upload as requests streams it (its length known: a plain PUT, not chunked),
    raising `_Stopped` once the cap is reached."""

    def __init__(self, path, total, cap):
        self.handle, self.total, self.cap = open(path, "rb"), total, cap
        self.started, self.sent = time.perf_counter(), 0

    def __len__(self):
        return self.total

    def __iter__(self):
        return iter(lambda: self.read(CHUNK), b"")

    def read(self, size=-1):
        if _capped(self.started, self.cap, self.sent, self.total):
            raise _Stopped()
        chunk = self.handle.read(CHUNK if size is None or size < 0 else size)
        self.sent += len(chunk)
        return chunk

    def close(self):
        self.handle.close()


def upload_streamed(size, folder):
    """A new `upload-…/blob-<size>.bin` of the run: one PUT of the whole file, streamed from
    disk with its length (as MLflow's client uploads a file below its 500 MB multipart
    threshold; its multipart path through a proxied server is a 2.9.2 defect, mlflow#11225);
    its bytes when stopped at the cap. `c["uploaded"]` names it for `delete_uploaded`."""
    def op(client, c):
        import requests

        url = (f"{c['url']}{ROUTE}{c['artifacts_path']}/upload-{os.urandom(6).hex()}"
               f"/blob-{size}.bin")
        body = _CappedFile(blob(folder(), size), FILES[size], c.get("cap_s"))
        c["uploaded"] = url
        try:
            with requests.Session() as session:  # closed with its connections when stopped
                response = session.put(url, data=body, timeout=(10, 600))
        except _Stopped:
            return body.sent
        finally:
            body.close()
        response.raise_for_status()
        return None
    return op


def delete_uploaded(context):
    """Outside the timing: delete what an upload put in the store (nothing when it was
    stopped), so gigabytes do not pile up in it."""
    url = context.pop("uploaded", None)
    if url is None:
        return
    import requests

    try:
        requests.delete(url, timeout=60)
    except requests.RequestException:
        pass
