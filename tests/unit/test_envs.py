import datetime as dt
import json
from pathlib import Path

import pytest
from packaging.version import Version

from harness.envs import builder
from harness.envs.builder import MARKER, EnvRequest, ensure_env
from harness.envs.known import load_known
from harness.envs.spec import parse_spec
from harness.errors import EnvironmentBuildError, SpecError


def test_known_pins_apply_by_version() -> None:
    known = load_known()
    old = known.pins_for(Version("2.9.2"))
    assert "setuptools<81" in old and "sqlalchemy<2.1" in old
    assert "setuptools<81" not in known.pins_for(Version("3.4.0"))
    assert "sqlalchemy<2.1" in known.pins_for(Version("3.4.0"))
    assert "Flask-WTF" in known.pins_for(Version("3.4.0")) and "Flask-WTF" not in old
    assert known.pins_for(None) == []


def test_exclude_newer_is_the_day_after_release() -> None:
    known = load_known()
    assert known.exclude_newer(Version("2.9.2")) == "2023-12-15"
    assert dt.date.fromisoformat(known.exclude_newer(Version("3.4.0")))
    with pytest.raises(SpecError, match="--exclude-newer"):
        known.exclude_newer(Version("9.9.9"))


def test_digest_depends_on_every_input() -> None:
    base = EnvRequest(parse_spec("2.9.2"), python="3.11")
    assert base.digest() == EnvRequest(parse_spec("2.9.2"), python="3.11").digest()
    variants = [
        EnvRequest(parse_spec("3.4.0"), python="3.11"),
        EnvRequest(parse_spec("2.9.2"), python="3.12"),
        EnvRequest(parse_spec("2.9.2"), ("mlflow-plugin",), python="3.11"),
        EnvRequest(parse_spec("2.9.2"), python="3.11", exclude_newer="2023-12-15"),
    ]
    digests = {base.digest(), *(v.digest() for v in variants)}
    assert len(digests) == 5


def test_wheel_digest_follows_file_content(tmp_path: Path) -> None:
    wheel = tmp_path / "mlflow-3.4.0-py3-none-any.whl"
    wheel.write_bytes(b"one")
    first = EnvRequest(parse_spec(str(wheel)), python="3.11").digest()
    wheel.write_bytes(b"two")
    assert EnvRequest(parse_spec(str(wheel)), python="3.11").digest() != first


def test_requirements_include_base_and_pins() -> None:
    requirements = EnvRequest(parse_spec("2.9.2"), ("extra==1",)).requirements()
    assert requirements[0] == "mlflow==2.9.2"
    assert "psycopg2-binary" in requirements and "setuptools<81" in requirements
    assert requirements[-1] == "extra==1"


def _fake_build(calls: list[Path]):  # type: ignore[no-untyped-def]
    def build(request: EnvRequest, path: Path, log_path: Path) -> None:
        calls.append(path)
        (path / "bin").mkdir(parents=True)

    return build


def test_ensure_env_is_idempotent_and_removes_half_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(builder, "_build", _fake_build(calls))
    monkeypatch.setattr(builder, "_freeze", lambda path, log_dir: {"mlflow": "2.9.2"})
    request = EnvRequest(parse_spec("2.9.2"))
    half_built = tmp_path / "envs" / request.digest()
    (half_built / "stale").mkdir(parents=True)

    env = ensure_env(request, tmp_path, tmp_path / "logs")
    assert not env.reused and env.mlflow_version == "2.9.2"
    assert not (half_built / "stale").exists()
    assert json.loads((env.path / MARKER).read_text())["requirements"][0] == "mlflow==2.9.2"

    again = ensure_env(request, tmp_path, tmp_path / "logs")
    assert again.reused and again.path == env.path
    assert len(calls) == 1


def test_failed_build_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(request: EnvRequest, path: Path, log_path: Path) -> None:
        path.mkdir(parents=True)
        raise EnvironmentBuildError("uv could not install")

    monkeypatch.setattr(builder, "_build", broken)
    request = EnvRequest(parse_spec("2.9.2"))
    with pytest.raises(EnvironmentBuildError):
        ensure_env(request, tmp_path, tmp_path / "logs")
    assert not (tmp_path / "envs" / request.digest()).exists()


def test_uv_failure_is_explained_in_one_line(tmp_path: Path) -> None:
    log = tmp_path / "uv.log"
    log.write_text(
        "  × No solution found when resolving dependencies:\n"
        "  ╰─▶ Because there is no version of mlflow==9.9.9 and you require mlflow==9.9.9, "
        "we can conclude that your requirements are unsatisfiable.\n"
    )
    message = builder._explain_uv_failure("install 9.9.9", log, 1)
    assert message.startswith("mlflow 9.9.9 is not on the package index (unknown or unreleased "
                              "version?): uv could not install 9.9.9 (log: ")
    assert "\n" not in message
    other = tmp_path / "other.log"
    other.write_text("  × Failed to download `pandas==2.0.0`\n")
    assert builder._explain_uv_failure("install x", other, 1).startswith(
        "uv could not install x: Failed to download")
