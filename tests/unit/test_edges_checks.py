"""The edges scenario's checks report lost data when what was read back differs.

The observations are the client answers recorded from a real 2.9.2 → 3.4.0 run
(tests/fixtures/edges-2.9.2-3.4.0.json). Each test first shows the check passes on them, then
tampers with one thing — a value shortened, a unicode value re-encoded, a page dropped, … — and
shows the check names it as lost data, with its field and its length before and after.
"""

from __future__ import annotations

import copy
import json
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.catalog.classify import EXPECTED, FINDING, UNEXPECTED
from harness.results.model import CheckResult, Status
from harness.scenarios.clients import edge_values as ev
from harness.scenarios.test_edges import (
    judge_limits,
    verify_batches,
    verify_lifecycle,
    verify_odd_values,
    verify_paging,
    verify_unpaged_history,
)
from harness.scenarios_runner import cross_version_diff

RECORDED = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "edges-2.9.2-3.4.0.json").read_text())
VERSIONS = ["2.9.2", "3.4.0"]


def recorded(part: str, version: str = "3.4.0", field: str = "") -> dict[str, Any]:
    found = RECORDED[part][field] if field else RECORDED[part]
    return copy.deepcopy(found[version])


def lost(check: Callable[[dict[str, Any]], None], observed: dict[str, Any]) -> str:
    """The check's message, which must report lost data."""
    with pytest.raises(AssertionError, match="lost data") as failure:
        check(observed)
    return str(failure.value)


def mojibake(text: str) -> str:
    """UTF-8 bytes read as Latin-1: what a wrong client or database encoding makes of text."""
    return text.encode("utf-8").decode("latin-1")


# ---- limits ----------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("field", list(ev.LIMITED_FIELDS))
def test_recorded_limits_pass(field: str, version: str) -> None:
    _, problems = judge_limits(recorded("limits", version, field))
    assert problems == []


def test_a_value_shortened_at_the_limit_is_lost_data_with_its_lengths() -> None:
    raw = recorded("limits", field="param_value")
    probe = raw["probes"]["at_limit"]["rest"]
    _, written = ev.probe_text("param_value", "at_limit", "rest", probe["length"])
    probe["read"]["client"] = ev.shown(written[:-1])
    observed, problems = judge_limits(raw)
    assert observed["at_limit"]["rest"] == "client read truncated: 6000 → 5999 chars; " \
                                           "rest read stored intact"
    assert problems == [
        "param_value at limit (6000 chars) via rest: lost data: param_value: truncated, "
        "written 6000 chars/9990 bytes, read back 5999 chars/9989 bytes (client read)"]


def test_a_key_changed_at_the_limit_is_lost_data() -> None:
    raw = recorded("limits", field="run_tag_key")
    probe = raw["probes"]["at_limit"]["client"]
    key, _ = ev.probe_text("run_tag_key", "at_limit", "client", probe["length"])
    probe["read"] = {"client": key[:200], "rest": key[:200]}
    _, problems = judge_limits(raw)
    assert len(problems) == 2 and all("lost data: run_tag_key: truncated, written 250 chars"
                                      in problem for problem in problems), problems


def test_truncation_past_the_limit_is_accepted_only_to_exactly_the_documented_limit() -> None:
    raw = recorded("limits", field="run_tag_value")  # 3.4.0 truncates 8001 → 8000
    observed, problems = judge_limits(raw)
    assert observed["past_limit"]["client"] == "truncated: 8001 → 8000 chars" and not problems
    probe = raw["probes"]["past_limit"]["client"]
    _, written = ev.probe_text("run_tag_value", "past_limit", "client", probe["length"])
    probe["read"] = {reader: ev.shown(written[:7999]) for reader in ev.VIAS}
    _, problems = judge_limits(raw)
    assert problems and all("lost data" in p and "read back 7999 chars" in p for p in problems)


def test_a_value_past_the_limit_must_be_refused_with_a_4xx() -> None:
    raw = recorded("limits", "2.9.2", "param_value")
    raw["probes"]["past_limit"]["rest"]["write"] = "refused 500 INTERNAL_ERROR"
    _, problems = judge_limits(raw)
    assert problems == ["param_value past limit (6001 chars) via rest: refused 500 "
                        "INTERNAL_ERROR, not a clear 4xx refusal"]
    raw = recorded("limits", "2.9.2", "param_value")
    probe = raw["probes"]["past_limit"]["client"]
    _, written = ev.probe_text("param_value", "past_limit", "client", probe["length"])
    probe.update(write="ok", read={reader: ev.shown(written) for reader in ev.VIAS})
    _, problems = judge_limits(raw)
    assert problems == ["param_value past limit (6001 chars) via client: accepted past the "
                        "limit, not refused"]


def test_a_refusal_at_the_limit_is_reported() -> None:
    raw = recorded("limits", field="experiment_tag_value")
    raw["probes"]["at_limit"]["client"].update(
        write="refused INVALID_PARAMETER_VALUE", read={"client": "<absent>", "rest": "<absent>"})
    _, problems = judge_limits(raw)
    assert problems == ["experiment_tag_value at limit (5000 chars) via client: refused "
                        "INVALID_PARAMETER_VALUE at the limit"]


# ---- odd values ------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_recorded_odd_values_pass(version: str) -> None:
    verify_odd_values(recorded("odd_values", version))


def test_a_unicode_value_re_encoded_is_lost_data() -> None:
    observed = recorded("odd_values")
    emoji = ev.ODD_TEXT["emoji"]
    observed["values"]["run_tag_value"]["emoji"]["rest"] = {
        "client": emoji, "rest": mojibake(emoji)}
    message = lost(verify_odd_values, observed)
    assert (f"run_tag_value 'emoji' via rest: changed, written {len(emoji)} chars/"
            f"{len(emoji.encode())} bytes, read back {len(mojibake(emoji))} chars/"
            f"{len(mojibake(emoji).encode())} bytes (rest read)") in message
    assert "(client read)" not in message


def test_a_unicode_value_normalized_is_lost_data() -> None:
    observed = recorded("odd_values", "2.9.2")
    combining = ev.ODD_TEXT["combining"]
    observed["values"]["param_value"]["combining"]["client"] = \
        unicodedata.normalize("NFC", combining)
    message = lost(verify_odd_values, observed)
    assert f"written {len(combining)} chars" in message
    assert f"read back {len(combining) - 1} chars" in message


def test_a_value_shortened_is_lost_data() -> None:
    observed = recorded("odd_values")
    observed["values"]["registered_model_description"]["client"] = ev.shown(ev.ODD_MEDLEY[:-1])
    message = lost(verify_odd_values, observed)
    assert (f"registered_model_description via client: truncated, written "
            f"{len(ev.ODD_MEDLEY)} chars") in message


def test_a_key_re_encoded_is_lost_data_and_the_stray_key_is_named() -> None:
    observed = recorded("odd_values")
    key = ev.ODD_KEYS["unicode"]
    observed["keys"]["param_key"]["unicode"]["client"] = "<absent>"
    observed["keys"]["param_key"]["<unexpected>"] = [mojibake(key)]
    message = lost(verify_odd_values, observed)
    assert "param_key 'unicode' via client: missing" in message
    assert mojibake(key) in message


def test_a_metric_value_changed_is_lost_data() -> None:
    observed = recorded("odd_values")
    nan = observed["metrics"]["floats"]["nan"]
    nan["client"] = {"history": [["0", str(ev.T0), "0.0"]], "latest": "0.0"}
    tiny = observed["metrics"]["floats"]["min_subnormal"]
    tiny["rest"] = {"history": [["0", str(ev.T0), "0.0"]], "latest": "0.0"}
    message = lost(verify_odd_values, observed)
    assert "metric value nan (nan) via client" in message
    assert "metric value min_subnormal (5e-324) via rest" in message


def test_a_step_at_the_end_of_int64_changed_is_lost_data() -> None:
    observed = recorded("odd_values")
    steps = observed["metrics"]["steps"]["client"]
    steps[:] = [[str(2**53), *point[1:]] if point[0] == str(2**53 + 1) else point
                for point in steps]
    assert "steps and timestamps via client" in lost(verify_odd_values, observed)


# ---- log_batch -------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_recorded_batches_pass(version: str) -> None:
    verify_batches(recorded("batch_limits", version))


def test_a_batch_stored_in_part_is_lost_data() -> None:
    observed = recorded("batch_limits")
    stored = observed["metrics_at_max"]["rest"]["stored"]
    stored.update(metrics=999, digest="0" * 16)
    assert "batch metrics_at_max via rest: stored 999 of 1000 metrics (both read, items " \
           "changed)" in lost(verify_batches, observed)
    observed = recorded("batch_limits", "2.9.2")
    observed["metrics_over"]["rest"]["stored"] = ev.expected_batch(ev.batches()["metrics_over"])
    observed["metrics_over"]["rest"]["stored"].update(metrics=1000)
    assert "was refused 400 INVALID_PARAMETER_VALUE but stored 1000 of 1001 metrics" in \
        lost(verify_batches, observed)


# ---- paging ----------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_recorded_paging_passes(version: str) -> None:
    verify_paging(recorded("paging", version))


def test_a_page_dropped_is_lost_data() -> None:
    observed = recorded("paging")
    del observed["runs"]["rest"][1]
    message = lost(verify_paging, observed)
    assert "lost data: runs via rest: 10 of 23 missing after 2 pages (page-12, page-11, " \
           "page-10, page-09, page-08 …)" in message
    observed = recorded("paging", "2.9.2")
    del observed["model_versions"]["client"][-1]
    assert "model_versions via client: 3 of 23 missing after 2 pages (21, 22, 23)" in \
        lost(verify_paging, observed)


def test_a_page_read_twice_is_reported() -> None:
    observed = recorded("paging")
    pages = observed["experiments"]["client"]
    pages.insert(1, list(pages[0]))
    with pytest.raises(AssertionError, match="experiments via client: doubled across pages"):
        verify_paging(observed)


def test_a_history_page_dropped_is_lost_data() -> None:
    observed = recorded("paging")
    observed["metric_history"]["rest"] = ev.history_summary(
        [[str(step), str(ts), ev.float_text(v)] for v, ts, step in ev.history_points()[:1500]])
    assert "metric history via REST, paged: 1500 of 2500 points" in lost(verify_paging, observed)


def test_the_history_without_a_page_size_is_whole_on_2_9_2_and_empty_on_3_4_0() -> None:
    verify_unpaged_history(recorded("unpaged_history", "2.9.2"))
    message = lost(verify_unpaged_history, recorded("unpaged_history", "3.4.0"))
    assert "metric history via REST without a page size: 0 of 2500 points (pages [0]" in message


# ---- lifecycle -------------------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_recorded_lifecycle_passes(version: str) -> None:
    verify_lifecycle(recorded("lifecycle", version))


def test_a_restored_run_missing_from_search_is_lost_data() -> None:
    observed = recorded("lifecycle")
    observed["run_restored"]["active"]["rest"] = ["child-a", "parent"]
    assert "lifecycle run_restored.active (rest read)" in lost(verify_lifecycle, observed)


def test_a_renamed_model_still_answering_to_its_old_name_is_reported() -> None:
    observed = recorded("lifecycle", "2.9.2")
    observed["registry"]["old_name"]["client"] = {"name": "-model-before"}
    with pytest.raises(AssertionError, match="old name of a renamed model"):
        verify_lifecycle(observed)


def test_an_archived_version_that_lost_its_stage_is_reported() -> None:
    observed = recorded("lifecycle")
    observed["registry"]["versions"][0]["stage"] = "None"
    with pytest.raises(AssertionError, match=r"lifecycle registry\.versions"):
        verify_lifecycle(observed)


# ---- old vs new ------------------------------------------------------------------------------

def _pair(case: str, old: dict[str, Any], new: dict[str, Any]) -> list[CheckResult]:
    return [CheckResult(scenario="edges", test=f"{case}[{side}]", case=case, side=side,
                        mlflow_version=version, status=Status.PASSED, duration_s=0.0,
                        observations=observed)
            for side, version, observed in (("from", "2.9.2", old), ("to", "3.4.0", new))]


def test_every_recorded_difference_is_documented_or_a_finding() -> None:
    classified: dict[str, str] = {}
    for field in ev.LIMITED_FIELDS:
        old, new = (judge_limits(recorded("limits", v, field))[0] for v in VERSIONS)
        for entry in cross_version_diff(_pair(f"test_limits[{field}]", {field: old},
                                              {field: new})):
            classified[entry.path] = entry.classification
    for part in ("odd_values", "batch_limits", "paging", "lifecycle"):
        for entry in cross_version_diff(_pair(part, recorded(part, "2.9.2"), recorded(part))):
            classified[entry.path] = entry.classification
    assert [path for path, kind in classified.items() if kind == UNEXPECTED] == []
    assert classified["param_value.past_limit.rest"] == EXPECTED
    assert classified["registered_model_tag_value.at_documented.rest"] == FINDING
    assert classified["contested_keys.param_key.colon.client"] == EXPECTED


def test_a_limit_that_shrank_is_an_unexpected_difference() -> None:
    old = judge_limits(recorded("limits", "2.9.2", "experiment_tag_value"))[0]
    new = copy.deepcopy(old)
    new.update(documented=4000, limit=4000)
    entries = cross_version_diff(_pair("test_limits[experiment_tag_value]",
                                       {"experiment_tag_value": old},
                                       {"experiment_tag_value": new}))
    assert {e.path: e.classification for e in entries} == {
        "experiment_tag_value.documented": UNEXPECTED, "experiment_tag_value.limit": UNEXPECTED}
