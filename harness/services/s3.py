"""S3-compatible stores: the embedded moto server, or an endpoint the user gives."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Self

from harness.errors import ServiceError
from harness.runtime.ports import LOOPBACK, free_port
from harness.runtime.processes import ManagedProcess, spawn
from harness.runtime.waiting import HttpCheck, wait_until_ready
from harness.services.base import OwnsProcess, S3Location, S3Service

READY_TIMEOUT_S = 60.0


def s3_client(location: S3Location) -> Any:
    """A boto3 client with bounded timeouts and retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=location.endpoint_url,
        aws_access_key_id=location.access_key,
        aws_secret_access_key=location.secret_key,
        region_name=location.region,
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}),
    )


def create_bucket(location: S3Location) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3_client(location).create_bucket(Bucket=location.bucket)
    except (BotoCoreError, ClientError) as error:
        raise ServiceError(
            f"cannot create bucket {location.bucket!r} at {location.endpoint_url}: {error}"
        ) from None


def delete_bucket(location: S3Location) -> None:
    """Delete every object of the run's bucket, then the bucket."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = s3_client(location)
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=location.bucket):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=location.bucket, Delete={"Objects": keys})
        client.delete_bucket(Bucket=location.bucket)
    except (BotoCoreError, ClientError):
        pass


class MotoS3(OwnsProcess, S3Service):
    """moto's S3 server on a free 127.0.0.1 port, in memory: nothing on disk to clean."""

    def __init__(self, workdir: Path, bucket: str) -> None:
        self.workdir = workdir
        self.bucket = bucket
        self.port = 0
        self._process: ManagedProcess | None = None

    @property
    def location(self) -> S3Location:
        return S3Location(f"http://{LOOPBACK}:{self.port}", "testing", "testing", self.bucket)

    def start(self) -> Self:
        self.port = free_port()
        self._process = spawn(
            "moto_server",
            [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)],
            self.workdir / "logs" / "s3-moto.log",
        )
        wait_until_ready(
            "S3 (moto)",
            HttpCheck(f"http://{LOOPBACK}:{self.port}/moto-api/"),
            READY_TIMEOUT_S,
            process=self._process,
        )
        create_bucket(self.location)
        return self


class ExternalS3(S3Service):
    """An S3 endpoint the user runs; the harness creates and removes only its own bucket."""

    def __init__(self, endpoint_url: str, access_key: str, secret_key: str, bucket: str) -> None:
        self._location = S3Location(endpoint_url, access_key, secret_key, bucket)
        self._created = False

    @property
    def location(self) -> S3Location:
        return self._location

    def start(self) -> Self:
        create_bucket(self._location)
        self._created = True
        return self

    def stop(self) -> None:
        if self._created:
            delete_bucket(self._location)
            self._created = False

    def logs(self, lines: int = 40) -> str:
        return ""
