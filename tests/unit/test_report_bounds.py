"""report.md's size bounds (reports/bounds.py), and report.html keeping what report.md leaves
out."""

from __future__ import annotations

from harness.reports.bounds import LIMIT, TRUNCATED, code, first_line, fit, head, more
from harness.reports.html import render_html
from harness.reports.markdown import render_markdown
from tests.fixtures.large_run import large_failing_run


def test_first_line_cuts_to_the_first_line_and_a_width() -> None:
    assert first_line("one\ntwo") == "one …"
    assert first_line("\n  padded  \n") == "padded"
    assert first_line("a|b") == "a\\|b"
    cut = first_line("x" * 500, 100)
    assert len(cut) == 100 and cut.endswith("…")
    assert code("use `x`\nmore") == "`use 'x' …`" and code("") == "—"


def test_head_and_more_count_what_is_left_out() -> None:
    assert head([1, 2, 3], 2) == ([1, 2], 1)
    assert head([1], 5) == ([1], 0)
    assert more(0, "rows") == []
    assert more(1234, "rows") == ["… and 1,234 more rows in [report.html](report.html)."]


def test_fit_cuts_at_a_line_closes_open_blocks_and_says_so() -> None:
    assert fit("short") == "short"
    text = "## A\n\n<details><summary>log</summary>\n\n```\n" + "line\n" * 30_000
    cut = fit(text)
    assert len(cut) <= LIMIT and cut.endswith(TRUNCATED + "\n")
    body = cut.removesuffix(TRUNCATED + "\n")
    assert body.count("```") % 2 == 0 and body.count("<details>") == body.count("</details>")
    assert "\nline\n" in body and not body.rstrip().endswith("lin")


def test_what_report_md_leaves_out_is_in_report_html() -> None:
    results = large_failing_run()
    markdown, html = render_markdown(results), render_html(results)
    failing = next(c for c in results.checks if c.logs)
    log_line = failing.logs[next(iter(failing.logs))].splitlines()[-1]
    assert log_line not in markdown and log_line in html
    last_diff = sorted(results.diff, key=lambda d: d.path)[-1]
    assert last_diff.path not in markdown and last_diff.path in html
    assert "revision 299" not in markdown and "revision 299" in html
    assert "package-399" not in markdown and "package-399" in html
    assert "operation_249" not in markdown and "operation_249" in html
