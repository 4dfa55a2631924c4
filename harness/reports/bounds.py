"""Size bounds of report.md: it must fit a pull-request comment (65,536 characters).

Each section shows a bounded number of items, each cut to its first line and a bounded width,
and says how many more there are in report.html. `fit` is the last resort: a run that still
renders past LIMIT is cut at a line with a note saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

LIMIT = 60_000  # characters; a pull-request comment holds 65,536
HTML = "[report.html](report.html)"
TRUNCATED = (f"**Truncated**: this report was cut at {LIMIT:,} characters to fit a pull-request "
             f"comment; everything is in {HTML}.")

T = TypeVar("T")


def first_line(value: object, width: int = 200) -> str:
    """The first non-empty line of `value`, at most `width` characters (`…` when cut), safe in a
    Markdown table cell."""
    lines = [line.strip() for line in str(value).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if len(text) > width:
        text = text[:width - 1].rstrip() + "…"
    elif len(lines) > 1:
        text += " …"
    return text.replace("|", "\\|")


def code(value: object, width: int = 200) -> str:
    """`first_line(value)` as inline code (backticks inside become quotes); `—` when empty."""
    text = first_line(value, width).replace("`", "'")
    return f"`{text}`" if text else "—"


def head(items: Sequence[T], shown: int) -> tuple[list[T], int]:
    """The first `shown` items and how many were left out."""
    return list(items[:shown]), max(0, len(items) - shown)


def more(count: int, what: str) -> list[str]:
    """`… and 12 more differences in report.html`, or nothing when none were left out."""
    return [f"… and {count:,} more {what} in {HTML}."] if count else []


def fit(markdown: str, limit: int = LIMIT) -> str:
    """`markdown` if it is within `limit` characters; else cut at the last whole line that
    leaves room for the truncation note, with any open code block and <details> closed."""
    if len(markdown) <= limit:
        return markdown
    room = limit - len(TRUNCATED) - 40
    kept = markdown[:room].rsplit("\n", 1)[0]
    closing = []
    if kept.count("```") % 2:
        closing.append("```")
    closing += ["</details>"] * max(0, kept.count("<details>") - kept.count("</details>"))
    return "\n".join([kept, *closing, "", TRUNCATED, ""])
