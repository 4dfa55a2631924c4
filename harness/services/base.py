"""The one interface every service implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from harness.runtime.processes import ManagedProcess
    from harness.services.pg_admin import PgServer


class Service(ABC):
    """start / stop / url / logs, usable as a context manager that stops on a failed start."""

    name: str = "service"

    @abstractmethod
    def start(self) -> Self:
        """Start and block until ready (bounded), or raise ServiceError with logs attached."""

    @abstractmethod
    def stop(self) -> None:
        """Stop and remove everything this service created. Safe to call twice."""

    @abstractmethod
    def logs(self, lines: int = 40) -> str:
        """The service's recent output, for failure reports."""

    def alive(self) -> bool:
        """False once what the harness started for this service has gone (True if unknown)."""
        return True

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class OwnsProcess:
    """Mixin for a service that is one managed process: stopping and logs come from it."""

    _process: ManagedProcess | None = None
    stop_grace_seconds: float = 5.0

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop(grace_seconds=self.stop_grace_seconds)
            self._process = None

    def logs(self, lines: int = 40) -> str:
        return self._process.logs(lines) if self._process else ""

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    @property
    def process_group(self) -> int | None:
        """The process group its processes run in (the one it was spawned in), or None."""
        return self._process.pid if self._process is not None else None


@dataclass(frozen=True)
class S3Location:
    """Where artifacts go, and the credentials only the servers get."""

    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    region: str = "us-east-1"
    # Every key the run writes lies under this prefix: on a user's own store, its namespace.
    namespace: str = ""

    def server_env(self) -> dict[str, str]:
        return {
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }

    def key(self, prefix: str) -> str:
        """`prefix` within the run's namespace, as an object key prefix (no leading slash)."""
        return "/".join(part.strip("/") for part in (self.namespace, prefix) if part.strip("/"))

    def uri(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{self.key(prefix)}"


class PostgresService(Service):
    """A PostgreSQL server on which the run creates and drops its own databases."""

    name = "postgresql"
    # The harness started this server for the run: it may add an extension to its admin
    # database (the benchmark's statement counts); on a server someone else runs it does not.
    owned = True

    @property
    @abstractmethod
    def server(self) -> PgServer:
        """Connection facts for administration (databases, fingerprints)."""

    def dsn(self, database: str) -> str:
        """A postgresql:// URI for `database` on this server (contains the password)."""
        return self.server.dsn(database)

    def create_database(self, database: str, template: str | None = None) -> str:
        """Create `database` (optionally as a copy of `template`); returns its DSN."""
        self.server.create_database(database, template)
        return self.dsn(database)

    def drop_database(self, database: str) -> None:
        """Drop `database` if it exists."""
        self.server.drop_database(database)


class S3Service(Service):
    """An S3-compatible store with one bucket for the run."""

    name = "s3"

    @property
    @abstractmethod
    def location(self) -> S3Location:
        """Endpoint, credentials and the run's bucket."""
