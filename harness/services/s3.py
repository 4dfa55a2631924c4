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
NAMESPACE_ROOT = "mlflow-upgrade-harness"


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


def bucket_exists(location: S3Location) -> bool:
    """True when the bucket is there and ours to use; False when it does not exist."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        s3_client(location).head_bucket(Bucket=location.bucket)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise ServiceError(f"bucket {location.bucket!r} at {location.endpoint_url} is not "
                           f"usable: {_one_line(error)}") from None
    except BotoCoreError as error:
        raise ServiceError(f"S3 endpoint {location.endpoint_url} is not reachable: "
                           f"{_one_line(error)}") from None
    return True


def _one_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def delete_objects(location: S3Location) -> int:
    """Delete every object under the run's namespace (the whole bucket when it has none);
    returns how many."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = s3_client(location)
    prefix = f"{location.namespace.strip('/')}/" if location.namespace.strip("/") else ""
    deleted = 0
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=location.bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=location.bucket, Delete={"Objects": keys})
                deleted += len(keys)
    except (BotoCoreError, ClientError):
        pass
    return deleted


def delete_bucket(location: S3Location) -> None:
    """Delete the run's objects, then the bucket (which fails, harmlessly, if others remain)."""
    from botocore.exceptions import BotoCoreError, ClientError

    delete_objects(location)
    try:
        s3_client(location).delete_bucket(Bucket=location.bucket)
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
    """An S3 endpoint the user runs. The run writes only under its own namespace
    (`mlflow-upgrade-harness/<run id>/`) and removes only that; it creates the bucket if it is
    missing and removes the bucket again only if it created it and nothing else is in it."""

    def __init__(
        self, endpoint_url: str, access_key: str, secret_key: str, bucket: str, run_id: str
    ) -> None:
        self._location = S3Location(endpoint_url, access_key, secret_key, bucket,
                                    namespace=f"{NAMESPACE_ROOT}/{run_id}")
        self._started = False
        self._created_bucket = False

    @property
    def location(self) -> S3Location:
        return self._location

    def start(self) -> Self:
        if not bucket_exists(self._location):
            create_bucket(self._location)
            self._created_bucket = True
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            if self._created_bucket:
                delete_bucket(self._location)
            else:
                delete_objects(self._location)
            self._started = self._created_bucket = False

    def logs(self, lines: int = 40) -> str:
        return ""
