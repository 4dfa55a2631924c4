"""What a person sees of a terminal's bytes: the text without its control sequences."""

from __future__ import annotations

import re

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain_text(screen: str) -> str:
    """The screen's text: escape sequences (cursor moves, colours, clears) and carriage returns
    removed."""
    return ESCAPE.sub("", screen).replace("\r", "")
