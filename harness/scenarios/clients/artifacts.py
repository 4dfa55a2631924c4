"""Proxied artifact upload, listing and download, with checksums. Runs inside MLflow."""

import hashlib
import os
import tempfile
import time

import mlflow
import numpy as np
from _common import connect

CHUNK = 4 * 1024 * 1024


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_random(path, size, seed):
    rng = np.random.RandomState(seed)
    with open(path, "wb") as handle:
        remaining = size
        while remaining:
            n = min(CHUNK, remaining)
            handle.write(rng.bytes(n))
            remaining -= n


def _walk(client, run_id, path=None):
    found = []
    for item in client.list_artifacts(run_id, path):
        found.append({"path": item.path, "is_dir": item.is_dir, "size": item.file_size})
        if item.is_dir:
            found.extend(_walk(client, run_id, item.path))
    return found


S3_MIN_PART = 5 * 1024 * 1024  # S3 refuses smaller parts (but the last)


def multipart_env(large_bytes):
    """Multipart on, with a threshold the large file crosses and parts that cut it in three."""
    return {
        "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "true",
        "MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE": str(large_bytes // 2),
        "MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE": str(max(S3_MIN_PART, -(-large_bytes // 3))),
    }


def round_trip(tracking_uri, prefix, large_mb, multipart=False):
    """Upload small files, a folder and a large file; list; download; compare checksums.

    `multipart`: the large file goes client → S3 in parts through presigned URLs that the
    server hands out (opt-in since MLflow 2.8); otherwise one PUT streamed through the server.
    """
    for key, value in multipart_env(large_mb * 1024 * 1024).items():
        if multipart:
            os.environ[key] = value
        else:
            os.environ.pop(key, None)
    client = connect(tracking_uri)
    experiment_id = mlflow.set_experiment(f"{prefix}-artifacts").experiment_id
    with tempfile.TemporaryDirectory() as work:
        source = os.path.join(work, "source")
        os.makedirs(os.path.join(source, "reports", "daily"))
        files = {
            "notes.txt": b"upgrade check\n",
            "reports/summary.json": b'{"accuracy": 0.93}',
            "reports/daily/2026-11-23.csv": b"step,loss\n0,1.0\n1,0.5\n",
        }
        for rel, body in files.items():
            with open(os.path.join(source, rel), "wb") as handle:
                handle.write(body)
        large = os.path.join(work, "large.bin")
        _write_random(large, large_mb * 1024 * 1024, seed=11)
        sent = {rel: _sha256(os.path.join(source, rel)) for rel in files}
        sent["blobs/large.bin"] = _sha256(large)

        run = client.create_run(experiment_id, run_name="artifacts")
        run_id = run.info.run_id
        client.log_artifact(run_id, os.path.join(source, "notes.txt"))
        client.log_artifacts(run_id, os.path.join(source, "reports"), "reports")
        began = time.monotonic()
        client.log_artifact(run_id, large, "blobs")
        upload_seconds = time.monotonic() - began
        listing = sorted(_walk(client, run_id), key=lambda item: item["path"])

        target = os.path.join(work, "download")
        os.makedirs(target)
        began = time.monotonic()
        downloaded_root = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="", dst_path=target
        )
        download_seconds = time.monotonic() - began
        received = {rel: _sha256(os.path.join(downloaded_root, rel))
                    for rel in sent if os.path.exists(os.path.join(downloaded_root, rel))}
        client.set_terminated(run_id)
    return {
        "artifact_uri_scheme": run.info.artifact_uri.split(":")[0],
        "listing": listing,
        "checksums_equal": {rel: received.get(rel) == digest for rel, digest in sent.items()},
        "large_bytes": large_mb * 1024 * 1024,
        "run_id": run_id,
        "experiment_id": experiment_id,
        "upload_seconds": round(upload_seconds, 2),
        "download_seconds": round(download_seconds, 2),
    }
