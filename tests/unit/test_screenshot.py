"""Without a Chromium, report.png is skipped and the person is told once how to get one."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.reports import screenshot as shots
from harness.runtime.processes import RUN_ENV


def test_no_chromium_says_how_to_get_report_png_once(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(shots.ENV, str(tmp_path / "no-such-chromium"))
    monkeypatch.setattr(shots, "_hinted", set())
    (tmp_path / "report.html").write_text("<html></html>")
    why = shots.screenshot(tmp_path / "report.html", tmp_path / "report.png")
    assert why == shots.NO_CHROMIUM and not (tmp_path / "report.png").exists()
    hint = shots.screenshot_hint(why)
    assert hint is not None and "apt-get install chromium" in hint and shots.ENV in hint
    assert shots.screenshot_hint(why) is None, "said once"
    assert shots.screenshot_hint(None) is None
    assert shots.screenshot_hint("Chromium exited with 1: x") == \
        "report.png not written: Chromium exited with 1: x"


def test_chromium_carries_the_run_id_in_its_profile_and_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's Chromium is found by its run id, like every other process and folder of it."""
    seen = tmp_path / "seen"
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n"
                    f'for a in "$@"; do case "$a" in --user-data-dir=*) echo "$a" >> {seen};;'
                    " --screenshot=*) : > \"${a#--screenshot=}\";; esac; done\n"
                    f'echo "run=${RUN_ENV}" >> {seen}\n')
    fake.chmod(0o755)
    monkeypatch.setenv(shots.ENV, str(fake))
    (tmp_path / "report.html").write_text("<html></html>")
    assert shots.screenshot(tmp_path / "report.html", tmp_path / "report.png", "abc123") is None
    profile, marker = seen.read_text().splitlines()
    assert "mlflow-upgrade-harness-chromium-abc123-" in profile
    assert not Path(profile.split("=", 1)[1]).exists(), "the profile folder is removed"
    assert marker == "run=abc123"
