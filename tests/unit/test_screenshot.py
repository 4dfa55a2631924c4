"""Without a Chromium, report.png is skipped and the person is told once how to get one."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports import screenshot as shots


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
