"""Secrets never reach a report: every writer passes its text through `redact`.

Two layers: the secret values this process generated or was given (registered where they are
made: database passwords, S3 keys, proxy tokens, basic-auth passwords, CSRF keys), replaced
wherever they appear; and patterns for secrets it never saw (a password in a DSN, a bearer
token, an AWS secret in a log line).
"""

from __future__ import annotations

import re
import threading

MASK = "***"
MIN_LENGTH = 6  # shorter values ("test", a port number) would mask ordinary text

_lock = threading.Lock()
_values: set[str] = set()
_PATTERNS = (
    # scheme://user:password@host → scheme://user:***@host
    (re.compile(r"(\b[a-zA-Z][\w+.-]*://[^\s:/@\"']+:)([^\s@\"']+)(@)"), rf"\g<1>{MASK}\g<3>"),
    (re.compile(r"(\b[Bb]earer\s+)([A-Za-z0-9._~+/=-]{8,})"), rf"\g<1>{MASK}"),
    (re.compile(r"(\b[Bb]asic\s+)([A-Za-z0-9+/=]{8,})"), rf"\g<1>{MASK}"),
    (re.compile(r"((?:aws_secret_access_key|AWS_SECRET_ACCESS_KEY|password|PASSWORD|"
                r"secret_key|SECRET_KEY)[\"']?\s*[=:]\s*[\"']?)([^\s\"',;&]{4,})"),
     rf"\g<1>{MASK}"),
)


def register_secret(value: str | None) -> None:
    """Remember a secret value: it is masked in every report and results file from now on."""
    if value and len(value) >= MIN_LENGTH:
        with _lock:
            _values.add(value)


def forget_secrets() -> None:
    with _lock:
        _values.clear()


def redact(text: str) -> str:
    with _lock:
        known = sorted(_values, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
