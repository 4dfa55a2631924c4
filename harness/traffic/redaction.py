"""What a recording never holds: redaction at record (and import) time, before a line is written.

- Headers: only `content-type` is kept; every other header (Authorization,
  Cookie, Set-Cookie, tokens in custom headers) is dropped whole.
- Names: a JSON field, query parameter or MLflow param/tag `key` whose name says secret
  (password, token, secret, api key, credential, cookie, session id, signature, private or
  access key) or that the team names (`--redact-field`) has its value replaced by `<redacted>`;
  MLflow's page tokens are ordinary names.
- Values: every remaining text goes through the reports' own patterns (`harness/redact.py`: a
  password in a DSN, a bearer or basic credential, `password=…`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from harness.redact import MASK, redact

REDACTED = "<redacted>"
MIN_SECRET = 4  # shorter redacted values are not searched for in the answer
_SECRET = re.compile(
    r"(^|[^a-z])(pass(word|wd)?|pwd|secrets?|tokens?|api_?keys?|apikey|credentials?|cookies?|"
    r"authorization|auth|session_?id|sessionid|signature|private_?key|access_?key|"
    r"secret_?key)($|[^a-z])", re.IGNORECASE)
# MLflow's pagination and token counts of LLM runs: not secrets.
_ORDINARY = {"page_token", "next_page_token", "max_tokens", "num_tokens", "total_tokens",
             "prompt_tokens", "completion_tokens", "input_tokens", "output_tokens"}


class Redactor:
    """Redacts one exchange at a time: the secret values taken out of its request are also
    taken out of its answer (an error message that quotes a param's value), so `begin` is
    called before each exchange."""

    def __init__(self, fields: Iterable[str] = ()) -> None:
        self.fields = {name.lower() for name in fields}
        self.found: set[str] = set()

    def begin(self) -> None:
        self.found.clear()

    def _hidden(self, value: Any) -> str:
        if isinstance(value, str) and len(value) >= MIN_SECRET:
            self.found.add(value)
        return REDACTED

    def secret(self, name: str) -> bool:
        lowered = name.lower()
        if lowered in _ORDINARY:
            return False
        return lowered in self.fields or bool(_SECRET.search(lowered.replace("-", "_")))

    def json(self, value: Any) -> Any:
        """A copy of a JSON value with secret fields' values replaced."""
        if isinstance(value, dict):
            named = value.get("key")
            hidden = isinstance(named, str) and self.secret(named)  # {"key": "db_password",
            return {k: self._hidden(v) if (self.secret(str(k)) and v not in (None, "")) or
                    (hidden and k == "value") else self.json(v)  # "value": …}
                    for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def query(self, query: str) -> str:
        if not query:
            return ""
        pairs = parse_qsl(query, keep_blank_values=True)
        return urlencode([(k, self._hidden(v) if self.secret(k) else self.text(v))
                          for k, v in pairs])

    def text(self, text: str) -> str:
        for value in self.found:
            text = text.replace(value, REDACTED)
        masked = redact(text) if text else text
        return text if masked == text else masked.replace(MASK, REDACTED)
