from pathlib import Path

import pytest
from packaging.version import Version

from harness.envs.spec import SpecKind, parse_extra, parse_spec
from harness.errors import SpecError


@pytest.mark.parametrize(
    ("raw", "kind", "requirement", "version"),
    [
        ("2.9.2", SpecKind.VERSION, "mlflow==2.9.2", "2.9.2"),
        (" 3.4.0 ", SpecKind.VERSION, "mlflow==3.4.0", "3.4.0"),
        ("mlflow==3.5.0rc1", SpecKind.SPECIFIER, "mlflow==3.5.0rc1", "3.5.0rc1"),
        ("mlflow>=3,<4", SpecKind.SPECIFIER, "mlflow<4,>=3", None),
        ("mlflow[extras]==2.9.2", SpecKind.SPECIFIER, "mlflow[extras]==2.9.2", "2.9.2"),
        ("mlflow==3.*", SpecKind.SPECIFIER, "mlflow==3.*", None),
        ("git+https://example.invalid/mlflow.git@v3.4.0", SpecKind.VCS,
         "mlflow @ git+https://example.invalid/mlflow.git@v3.4.0", None),
    ],
)
def test_parse_spec_kinds(raw: str, kind: SpecKind, requirement: str, version: str | None) -> None:
    spec = parse_spec(raw)
    assert spec.kind is kind
    assert spec.requirement == requirement
    assert spec.version == (Version(version) if version else None)


def test_wheel_spec_needs_an_existing_mlflow_wheel(tmp_path: Path) -> None:
    wheel = tmp_path / "mlflow-3.4.0-py3-none-any.whl"
    with pytest.raises(SpecError, match="does not exist"):
        parse_spec(str(wheel))
    wheel.write_bytes(b"not really a wheel")
    spec = parse_spec(str(wheel))
    assert spec.kind is SpecKind.WHEEL
    assert spec.version == Version("3.4.0")
    assert spec.requirement == str(wheel.resolve())
    with pytest.raises(SpecError, match="not an mlflow wheel"):
        parse_spec(str(tmp_path / "numpy-1.0-py3-none-any.whl"))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("2.9.x", "malformed MLflow version"),
        ("2..9", "malformed MLflow version"),
        ("numpy==1.0", "not mlflow"),
        ("mlflow===", "malformed MLflow spec"),
        ("git+nohost", "malformed VCS"),
    ],
)
def test_parse_spec_rejects_malformed(raw: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(raw)


def test_label_prefers_version() -> None:
    assert parse_spec("mlflow==3.4.0").label == "3.4.0"
    assert parse_spec("mlflow>=3").label == "mlflow>=3"


def test_extras_accept_requirements_and_files(tmp_path: Path) -> None:
    assert parse_extra("mlflow-foo-plugin==1.0") == ["mlflow-foo-plugin==1.0"]
    file = tmp_path / "req.txt"
    file.write_text("# plugins\nrequests>=2  # http\n\nredis\n")
    assert parse_extra(f"-r {file}") == ["requests>=2", "redis"]
    with pytest.raises(SpecError, match="cannot read"):
        parse_extra(f"-r {tmp_path / 'missing.txt'}")
    with pytest.raises(SpecError, match="malformed extra"):
        parse_extra("not a requirement!")
