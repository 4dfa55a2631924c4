"""The console's one line per check that did not pass, in the verdict's terms."""

from __future__ import annotations

from harness.console import label, one_line
from harness.results.model import CheckResult, Status


def _check(status: Status, **extra: object) -> CheckResult:
    base: dict[str, object] = dict(scenario="registration", test="t::x[to_on_from]",
                                   case="test_registration[full]", side="to_on_from",
                                   mlflow_version="2.9.2", status=status, duration_s=1.0,
                                   message="MlflowException: API request to endpoint "
                                           "/api/2.0/mlflow/logged-models failed with error "
                                           "code 404 != 200.\nResponse body: <!doctype html>",
                                   client_version="3.4.0", server_version="2.9.2",
                                   in_matrix=True)
    base.update(extra)
    return CheckResult(**base)  # type: ignore[arg-type]


def test_a_newer_client_on_an_older_server_is_advisory_in_one_line() -> None:
    line = one_line(_check(Status.FAILED))
    assert line is not None and "\n" not in line
    assert line.startswith("  advisory (client newer than server, not blocking): "
                           "test_registration[full] [to_on_from]: MlflowException")
    assert "doctype" not in line, "only the first line of the message"


def test_a_blocking_failure_and_a_known_defect_say_so() -> None:
    old_client = _check(Status.FAILED, client_version="2.9.2", server_version="3.4.0",
                        side="from_on_to")
    assert label(old_client) == "FAILED"
    defect = _check(Status.KNOWN_DEFECT, defect={"id": "proxy-multipart-upload-path"})
    assert label(defect) == "known defect proxy-multipart-upload-path"
    assert label(_check(Status.ERROR, in_matrix=False)) == "ERROR"


def test_passed_and_skipped_checks_say_nothing_and_long_reasons_are_cut() -> None:
    assert one_line(_check(Status.PASSED)) is None
    assert one_line(_check(Status.SKIPPED)) is None
    long = one_line(_check(Status.FAILED, in_matrix=False, message="x" * 500))
    assert long is not None and len(long) < 240 and long.endswith("…")
