"""Loopback ports."""

from __future__ import annotations

import socket

from harness.errors import UsageError

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def require_free(port: int, what: str) -> int:
    """Fail with one clear line when a port the user asked for is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            raise UsageError(f"port {port} requested for {what} is already in use") from None
    return port
