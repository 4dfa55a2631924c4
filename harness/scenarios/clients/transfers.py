"""The benchmark's large artifact transfers (64 MB by default, up to 1 GB with
`--artifact-size`), against the server's artifact route, streamed. Runs inside MLflow's
environment (stdlib and requests only).

A transfer still running after `c["cap_s"]` seconds is stopped once it has moved
`EXTRAPOLATE_FROM_BYTES`, and returns the bytes it moved: the caller extrapolates the time the
whole file takes at that rate. Downloads read the server's route as MLflow's client does.
Uploads past 64 MB go the same way, a PUT with the file's length streamed from disk (MLflow's
client sends one such PUT per file), and a stopped one ends its connection; a finished upload
is deleted again outside the timing (`delete_uploaded`), so the store does not fill up with
gigabytes.
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


class _Stopped(Exception):
    """The cap is reached: the upload's connection is dropped."""


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


def upload_streamed(size, folder):
    """A new `upload-…/blob-<size>.bin` of the run, streamed; its bytes when stopped at the
    cap. `c["uploaded"]` names it for `delete_uploaded`."""
    def op(client, c):
        import requests

        url = (f"{c['url']}{ROUTE}{c['artifacts_path']}/upload-{os.urandom(6).hex()}"
               f"/blob-{size}.bin")
        started, sent = time.perf_counter(), [0]

        def body():
            with open(blob(folder(), size), "rb") as handle:
                while chunk := handle.read(CHUNK):
                    if _capped(started, c.get("cap_s"), sent[0], FILES[size]):
                        raise _Stopped()
                    sent[0] += len(chunk)
                    yield chunk

        c["uploaded"] = url
        try:
            response = requests.put(url, data=body(), timeout=(10, 600),
                                    headers={"Content-Length": str(FILES[size])})
        except _Stopped:
            return sent[0]
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
