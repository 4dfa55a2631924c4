"""A TCP server that accepts connections and never answers: the upstream of a 504 test."""

from __future__ import annotations

import socket
import threading
from typing import Self

from harness.runtime.ports import LOOPBACK
from harness.services.base import Service


class SilentServer(Service):
    """`with SilentServer() as silent: silent.url` — connections are held open, unanswered."""

    name = "silent server"

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((LOOPBACK, 0))
        self._socket.listen(16)
        self._socket.settimeout(0.2)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="silent-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._socket.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                continue
            self._held.append(connection)

    def start(self) -> Self:
        self._thread.start()
        return self

    def logs(self, lines: int = 40) -> str:
        return f"{len(self._held)} connections held, none answered"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for connection in self._held:
            connection.close()
        self._socket.close()
