"""report.html rendered by a real headless Chromium: the verdict, the tables and the charts are
in the rendered page, and the screenshot is kept under the output folder (report.png).

Skipped, with the reason, when no Chromium is installed (CI installs Debian's chromium).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from harness.reports.screenshot import find_chromium, run_chromium
from harness.results.model import RunStatus, write_results
from tests.integration.conftest import run_cli
from tests.unit.test_report_writers import full_results

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_chromium() is None,
                       reason="no Chromium installed (apt-get install chromium)"),
]


def png_rows(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the unfiltered RGB(A) rows of an 8-bit PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind = data[position + 4:position + 8]
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks += body
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    size = 3 if colour == 2 else 4
    raw, stride, rows, previous = zlib.decompress(chunks), width * size, [], bytes(width * size)
    for index in range(height):
        start = index * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - size] if i >= size else 0
            up, corner = previous[i], previous[i - size] if i >= size else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                best = min((abs(guess - left), 0, left), (abs(guess - up), 1, up),
                           (abs(guess - corner), 2, corner))[2]
                line[i] = (line[i] + best) & 0xFF
        rows.append(bytes(line))
        previous = bytes(line)
    return width, height, rows


def test_report_renders_in_chromium_with_verdict_tables_and_charts(tmp_path: Path) -> None:
    write_results(full_results(RunStatus.FAILED), tmp_path / "in" / "results.json")
    run = run_cli("report", str(tmp_path / "in"), "--out", str(tmp_path / "out"))
    assert run.code == 1, run.stderr  # that results file is not safe: a regression
    page = tmp_path / "out" / "report.html"

    dom = run_chromium(page, "--dump-dom")
    assert 'id="verdict"' in dom and "Not safe to upgrade" in dom
    for table in ("matrix", "performance", "diff", "environment"):
        assert f'<table id="{table}">' in dom, table
    assert dom.count("<circle") >= 3 and 'id="latency-distributions"' in dom

    # The screenshot is under the output folder, and the red verdict banner is in it.
    shot = tmp_path / "out" / "report.png"
    assert shot.exists(), run.stdout
    width, height, rows = png_rows(shot.read_bytes())
    assert width == 1280 and height >= 900
    banner = bytes.fromhex("ffebee")  # .unsafe background
    assert any(banner in row for row in rows[:400]), "no verdict banner in the top of the page"
