"""One root exception with specific subclasses.

Every `HarnessError` is a user-facing problem (bad input, missing infrastructure): the CLI prints
its message on one line and exits 2. Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class HarnessError(Exception):
    """A problem the user can act on; printed as one line, exit code 2."""

    exit_code = 2


class UsageError(HarnessError, ValueError):
    """An option or argument is malformed or contradicts another one."""


class SpecError(UsageError):
    """A requirement spec (version, specifier, wheel, VCS URL) cannot be used."""


class EnvironmentBuildError(HarnessError):
    """uv could not create or populate an MLflow environment."""


class ProviderUnavailable(HarnessError, LookupError):
    """The requested service provider (docker, local binaries, external endpoint) is not usable."""


class ServiceError(HarnessError):
    """A service failed to start, became unhealthy, or could not be reached."""

    def __init__(self, message: str, logs: str = "") -> None:
        super().__init__(message)
        self.logs = logs


class ServiceTimeout(ServiceError, TimeoutError):
    """A service did not become ready within its time limit."""


class ClientCallError(HarnessError):
    """Client code running inside an MLflow environment raised or misbehaved."""

    def __init__(self, message: str, error_type: str = "", remote_traceback: str = "") -> None:
        super().__init__(message)
        self.error_type = error_type
        self.remote_traceback = remote_traceback


class ClientCallTimeout(ClientCallError, TimeoutError):
    """Client code did not answer within its time limit; its process was stopped."""


class Cancelled(HarnessError):
    """The run is being torn down (Ctrl-C or SIGTERM); waits stop early."""

    exit_code = 130
