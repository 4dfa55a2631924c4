"""The console a person sees, end to end in a child process (tests/fixtures/progress_demo.py
drives the progress and console layers as a run does, in a few seconds, without MLflow): a
live view on a pseudo-terminal, plain lines on a pipe, nothing with --quiet."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect

from tests.screen import plain_text

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "progress_demo.py"
ENV = {**os.environ, "DEMO_STEP": "0.6", "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"}
PLAIN = re.compile(r"^(\[ *\d+\.\ds\] |  (FAILED|ERROR|advisory|known defect))")
HEADLINE = "Safe to upgrade, with caveats (passed)"  # harness/verdict.py HEADLINES


def test_a_terminal_gets_the_live_view_and_the_lines_that_stay() -> None:
    child = pexpect.spawn(sys.executable, [str(DEMO)], env=ENV, dimensions=(30, 120),
                          encoding="utf-8", timeout=60)
    child.logfile_read = seen = io.StringIO()
    child.expect(r"tracking\x1b\[0m\x1b\[1;36m \[from\]")  # a scenario's live line, running
    child.expect("background: migration drill")
    child.expect(r"\d/4 tests · \d passed")  # the totals so far
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    screen = seen.getvalue()
    assert "\x1b[1A\x1b[2K" in screen, "the live region is redrawn in place"
    plain = plain_text(screen)
    assert "✓ scenario tracking: 2 passed" in plain
    assert "  advisory (client newer than server, not blocking): test_artifacts.py::t" in plain
    assert "✓ environment from = 2.9.2 (" in plain
    assert "… scenarios" not in plain, "a live line instead of a start line"
    assert plain.rstrip().splitlines()[-1].split("] ", 1)[1].startswith(HEADLINE)


def test_a_pipe_gets_plain_lines_only() -> None:
    run = subprocess.run([sys.executable, str(DEMO)], env={**ENV, "DEMO_STEP": "0.05"},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert "\x1b" not in run.stderr
    assert all(PLAIN.match(line) for line in lines), lines
    text = "\n".join(line.split("] ", 1)[-1] for line in lines)
    for expected in ("… scenarios", "… background: migration drill",
                     "✓ background: migration drill (", "✓ scenario tracking: 2 passed (",
                     "✓ scenario artifacts: 1 advisory, 1 known defect (", "✓ scenarios ("):
        assert expected in text, expected
    assert lines[-1].split("] ", 1)[1].startswith(HEADLINE)


def test_quiet_says_nothing_on_a_terminal_either() -> None:
    child = pexpect.spawn(sys.executable, [str(DEMO), "--quiet"], env={**ENV, "DEMO_STEP": "0.05"},
                          encoding="utf-8", timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and child.before.strip() == ""
