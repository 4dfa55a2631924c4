"""The large download of `--artifact-size` past 64 MB, put straight into the artifact store.

Seeding a gigabyte through each server would take minutes on a server that streams uploads
at ~10 MB/s (3.4.0) and is not what the benchmark times; the object goes where the server
keeps the run's artifacts (its `--artifacts-destination` plus the run's artifact path), and
the timed downloads read it through the server as usual.
"""

from __future__ import annotations

import io
import os

from harness.bench.operations import ARTIFACT_SIZES
from harness.services.base import S3Location
from harness.services.s3 import s3_client

CHUNK = 8 * 1024 * 1024


class _Random(io.RawIOBase):
    """`size` random bytes, read in chunks: never held whole."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left, CHUNK)
        buffer[:count] = os.urandom(count)
        self.left -= count
        return count


def download_key(location: S3Location, artifacts_prefix: str, artifacts_path: str,
                 size: str) -> str:
    """Where the server serves the run's `download/blob-<size>.bin` from."""
    return location.key(f"{artifacts_prefix}{artifacts_path}/download/blob-{size}.bin")


def put_download(location: S3Location, artifacts_prefix: str, artifacts_path: str,
                 size: str) -> None:
    s3_client(location).upload_fileobj(
        io.BufferedReader(_Random(ARTIFACT_SIZES[size]), CHUNK), location.bucket,
        download_key(location, artifacts_prefix, artifacts_path, size))
