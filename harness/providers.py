"""Which implementation provides PostgreSQL and S3: docker, local processes, or the user's own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.config import Provider, RunConfig
from harness.errors import ProviderUnavailable
from harness.services.base import PostgresService, S3Service


def resolve_provider(requested: Provider, docker_available: Callable[[], bool]) -> Provider:
    """auto → docker when an engine answers, else local; docker without an engine is an error."""
    if requested is Provider.AUTO:
        return Provider.DOCKER if _docker_ready(docker_available) else Provider.LOCAL
    if requested is Provider.DOCKER and not docker_available():
        raise ProviderUnavailable(
            "--provider docker: no Docker engine answers (is dockerd running? DOCKER_HOST?)"
        )
    return requested


def _docker_ready(docker_available: Callable[[], bool]) -> bool:
    try:
        import testcontainers  # noqa: F401
    except ImportError:
        return False
    return docker_available()


def make_postgres(provider: Provider, config: RunConfig, workdir: Path) -> PostgresService:
    if provider is Provider.EXTERNAL:
        from harness.services.postgres_external import ExternalPostgres

        assert config.services.external.postgres_dsn is not None
        return ExternalPostgres(config.services.external.postgres_dsn)
    if provider is Provider.DOCKER:
        from harness.services.docker import DockerPostgres

        return DockerPostgres(config.run_id, image=config.services.docker.postgres)
    from harness.services.postgres_local import LocalPostgres

    return LocalPostgres(workdir)


def make_s3(provider: Provider, config: RunConfig, workdir: Path) -> S3Service:
    bucket = config.services.external.s3_bucket or f"mlflow-upgrade-harness-{config.run_id}"
    if provider is Provider.EXTERNAL:
        from harness.services.s3 import ExternalS3

        external = config.services.external
        assert external.s3_endpoint is not None
        return ExternalS3(external.s3_endpoint, external.s3_access_key or "",
                          external.s3_secret_key or "", bucket, config.run_id)
    if provider is Provider.DOCKER:
        from harness.services.docker import DockerS3

        images = config.services.docker
        return DockerS3(config.run_id, bucket, image=images.s3, kind=images.s3_kind)
    from harness.services.s3 import MotoS3

    return MotoS3(workdir, bucket)


def docker_available() -> bool:
    from harness.services.docker_engine import docker_engine_available

    return docker_engine_available()
