from packaging.version import Version

from harness.catalog.classify import _glob, explain, load_catalog


def test_catalog_loads_with_sources_and_unique_ids() -> None:
    entries = load_catalog()
    assert entries
    for entry in entries:
        assert entry.source.startswith(("https://", "FIELD-NOTES")), entry.id
        assert entry.summary and entry.landed_after <= entry.landed_by


def test_glob_treats_brackets_literally() -> None:
    assert _glob("versions[*].source_scheme").match("versions[10].source_scheme")
    assert not _glob("versions[*].source").match("versions[0].source_scheme")


def test_logged_model_uri_is_expected_only_across_3_0() -> None:
    args = ("registration", "logged.baseline.model_uri", "runs:/<id1>/model", "models:/<id1>")
    entry = explain(*args, "2.9.2", "3.4.0")
    assert entry is not None and entry.id == "logged-model-uri"
    assert explain(*args, "3.0.0", "3.4.0") is None  # both sides already have LoggedModels
    assert explain(*args, "2.9.2", "2.22.0") is None  # neither side has them
    assert explain("registration", "logged.baseline.model_uri", "runs:/x", "s3://x",
                   "2.9.2", "3.4.0") is None  # other values stay unexpected


def test_unknown_difference_is_unexplained() -> None:
    assert explain("tracking", "runs.run-a.metrics.accuracy", 0.81, 0.8, "2.9.2", "3.4.0") is None
    assert explain("tracking", "x", 1, 2, "not-a-version", "3.4.0") is None


def test_range_semantics() -> None:
    entry = next(e for e in load_catalog() if e.id == "logged-model-uri")
    assert entry.crosses(Version("2.9.2"), Version("3.0.0"))
    assert not entry.crosses(Version("3.0.0"), Version("3.4.0"))


def test_a_known_defect_needs_its_test_its_version_and_its_symptom() -> None:
    from harness.catalog.classify import known_defect

    case = "scenarios/test_artifacts.py::test_artifact_round_trip[multipart]"
    symptom = "AssertionError: assert ['notes.txt', 'reports'] == ['blobs', 'blobs/large.bin']"
    found = known_defect(case, "2.9.2", symptom)
    assert found is not None and found.id == "proxy-multipart-upload-path"
    assert known_defect(case, "3.4.0", symptom) is None  # fixed there
    assert known_defect(case.replace("multipart", "proxied"), "2.9.2", symptom) is None
    # The same test failing another way (a 3.x client on a 2.x server) is not that defect.
    assert known_defect(case, "2.9.2", "ClientCallError: /logged-models/search 404") is None
