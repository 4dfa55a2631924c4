"""A threaded HTTP server for the harness's own listeners (webhook receiver, test stubs) whose
handler errors are kept, not printed: socketserver writes a traceback to stderr when a client
hangs up mid-answer, and on the harness's console (or in a test's captured stderr) that is
noise from another thread, not the line the user is meant to read."""

from __future__ import annotations

import traceback
from http.server import ThreadingHTTPServer
from typing import Any

KEPT_ERRORS = 20


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handler_errors: list[str] = []  # the last KEPT_ERRORS, for whoever debugs

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.handler_errors = [*self.handler_errors[-(KEPT_ERRORS - 1):],
                               f"{client_address}: {traceback.format_exc(limit=3)}"]
