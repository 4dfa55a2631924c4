"""report.png: report.html rendered by headless Chromium, when one is installed.

A CI job keeps it as an artifact: the report at a glance, without opening anything. Chromium
gets no network (a dead proxy on 127.0.0.1, background services off), its own profile folder,
and a bounded time; it runs in its own process group, killed as a whole on timeout. The profile
folder and Chromium's environment carry the run id, so a run's leftovers are found by it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from harness.runtime.processes import RUN_ENV

ENV = "MLFLOW_UPGRADE_HARNESS_CHROMIUM"
NO_CHROMIUM = "no Chromium installed"
INSTALL = ("no Chromium found; for a screenshot of report.html install one "
           f"(`apt-get install chromium` on Debian or Ubuntu) or set {ENV} to a Chrome or "
           "Chromium binary")
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome", "headless_shell")
TIMEOUT_S = 60.0
WIDTH = 1280
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--disable-domain-reliability",
    "--metrics-recording-only", "--no-pings", "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)


def find_chromium() -> str | None:
    configured = os.environ.get(ENV)
    if configured:
        return configured if Path(configured).exists() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def run_chromium(html: Path, *arguments: str, timeout: float = TIMEOUT_S, run_id: str = "") -> str:
    """Run headless Chromium on `html`; returns its stdout. Raises RuntimeError on failure."""
    binary = find_chromium()
    if binary is None:
        raise RuntimeError("no Chromium found (install Debian's chromium package)")
    prefix = f"mlflow-upgrade-harness-chromium-{run_id}-" if run_id else \
        "mlflow-upgrade-harness-chromium-"
    with tempfile.TemporaryDirectory(prefix=prefix) as profile:
        command = [binary, *FLAGS, f"--user-data-dir={profile}", *arguments,
                   html.resolve().as_uri()]
        environment = {**os.environ, RUN_ENV: run_id} if run_id else None
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,  # noqa: S603
                                   stdin=subprocess.DEVNULL, text=True, start_new_session=True,
                                   env=environment)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise RuntimeError(f"Chromium did not finish within {timeout:g}s") from None
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    if process.returncode != 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"Chromium exited with {process.returncode}: {last}")
    return out


def page_height(html: Path) -> int:
    """A height that fits the page: from the number of table rows and charts, bounded."""
    text = html.read_text()
    rows = text.count("<tr>") + text.count("<li>") + text.count("<p>") + text.count("<h")
    svg = sum(int(h) for h in _svg_heights(text))
    return max(900, min(20000, 30 * rows + svg + 800))


def _svg_heights(text: str) -> list[str]:
    import re

    return re.findall(r'<svg [^>]*height="(\d+)"', text)


def screenshot(html: Path, png: Path, run_id: str = "") -> str | None:
    """Write `png`; returns why not (None when written). Never raises for a missing browser."""
    if find_chromium() is None:
        return NO_CHROMIUM
    try:
        run_chromium(html, f"--screenshot={png.resolve()}",
                     f"--window-size={WIDTH},{page_height(html)}", run_id=run_id)
    except (RuntimeError, OSError) as error:
        return str(error)
    return None if png.exists() else "Chromium wrote no screenshot"


_hinted: set[str] = set()


def screenshot_hint(why_not: str | None) -> str | None:
    """What to tell a person about a missing report.png: how to get one when no Chromium is
    installed, or what went wrong; each reason once per process (None after that)."""
    if why_not is None or why_not in _hinted:
        return None
    _hinted.add(why_not)
    if why_not == NO_CHROMIUM:
        return f"report.png not written: {INSTALL}."
    return f"report.png not written: {why_not}"
