import datetime as dt
import json
import shutil
import sys
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
    """An environment of this interpreter with one module of its own."""
    def build(request: EnvRequest, path: Path, log_path: Path) -> None:
        calls.append(path)
        (path / "bin").mkdir(parents=True)
        (path / "bin" / "python").symlink_to(sys.executable)
        (path / "lib" / "pkg").mkdir(parents=True)
        (path / "lib" / "pkg" / "mod.py").write_text("VALUE = 1\n")

    return build


def _compiled(env_path: Path) -> bool:
    return any((env_path / "lib" / "pkg" / "__pycache__").glob("mod.*.pyc"))


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

    assert _compiled(env.path), "built environments come with their bytecode"

    again = ensure_env(request, tmp_path, tmp_path / "logs")
    assert again.reused and again.path == env.path
    assert len(calls) == 1


def test_an_environment_built_without_bytecode_is_compiled_once_when_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builder, "_build", _fake_build([]))
    monkeypatch.setattr(builder, "_freeze", lambda path, log_dir: {"mlflow": "2.9.2"})
    request = EnvRequest(parse_spec("2.9.2"))
    env = ensure_env(request, tmp_path, tmp_path / "logs")
    shutil.rmtree(env.path / "lib" / "pkg" / "__pycache__")
    marker = env.path / MARKER
    record = json.loads(marker.read_text())
    marker.write_text(json.dumps({k: v for k, v in record.items() if k != "bytecode"}))
    compiled: list[Path] = []
    real = builder._compile_bytecode
    monkeypatch.setattr(builder, "_compile_bytecode",
                        lambda path, log: compiled.append(path) or real(path, log))

    ensure_env(request, tmp_path, tmp_path / "logs")
    assert _compiled(env.path) and json.loads(marker.read_text())["bytecode"] is True
    ensure_env(request, tmp_path, tmp_path / "logs")
    assert compiled == [env.path], "compiled once, not on every reuse"


def test_a_compile_that_timed_out_is_logged_and_tried_again_on_reuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builder, "_build", _fake_build([]))
    monkeypatch.setattr(builder, "_freeze", lambda path, log_dir: {"mlflow": "2.9.2"})
    real = builder.run_to_completion
    monkeypatch.setattr(builder, "run_to_completion", lambda *args, **kwargs: -1)
    request = EnvRequest(parse_spec("2.9.2"))
    env = ensure_env(request, tmp_path, tmp_path / "logs")
    marker = env.path / MARKER
    assert json.loads(marker.read_text())["bytecode"] is False
    log = tmp_path / "logs" / f"env-2.9.2-{env.digest}.log"
    assert f"compileall {env.digest}: timed out, not compiled" in log.read_text()
    assert not _compiled(env.path)
    monkeypatch.setattr(builder, "run_to_completion", real)
    ensure_env(request, tmp_path, tmp_path / "logs")
    assert _compiled(env.path) and json.loads(marker.read_text())["bytecode"] is True
    assert f"compileall {env.digest}: exit 0" in log.read_text()


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


@pytest.mark.parametrize(("version", "psycopg3"), [
    ("2.9.2", False), ("2.22.5", False), ("3.4.0", False), ("3.5.0", True), ("3.17.2", True),
])
def test_driver_follows_the_sqlalchemy_each_version_allows(version: str, psycopg3: bool) -> None:
    """MLflow < 3.5 is pinned to SQLAlchemy < 2.1 (psycopg2 for postgresql://); from 3.5 it
    may resolve 2.1, whose default is psycopg 3, so the environment gets both drivers."""
    requirements = EnvRequest(parse_spec(version)).requirements()
    assert "psycopg2-binary" in requirements
    assert ("psycopg[binary]" in requirements) is psycopg3
    assert ("sqlalchemy<2.1" in requirements) is not psycopg3


def test_an_unversioned_spec_gets_every_driver() -> None:
    requirements = EnvRequest(parse_spec("git+https://github.com/mlflow/mlflow@master")
                              ).requirements()
    assert "psycopg2-binary" in requirements and "psycopg[binary]" in requirements


@pytest.mark.parametrize(("sqlalchemy", "module"), [
    ("1.4.52", "psycopg2"), ("2.0.58", "psycopg2"), ("2.1.0b1", "psycopg"), ("2.1.9", "psycopg"),
])
def test_default_driver_by_sqlalchemy(sqlalchemy: str, module: str) -> None:
    assert load_known().driver_for(sqlalchemy).module == module


def test_an_environment_without_its_driver_is_named() -> None:
    known = load_known()
    assert known.missing_driver({"sqlalchemy": "2.0.58", "psycopg2-binary": "2.9.13"}) is None
    assert known.missing_driver({"sqlalchemy": "2.1.9", "psycopg": "3.3.9"}) is None
    assert known.missing_driver({"mlflow": "3.17.2"}) is None  # nothing to judge
    why = known.missing_driver({"sqlalchemy": "2.1.9", "psycopg2-binary": "2.9.13"})
    assert why is not None and "psycopg" in why and "psycopg[binary]" in why


def test_a_built_environment_without_its_driver_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builder, "_build", _fake_build([]))
    monkeypatch.setattr(builder, "_freeze", lambda path, log_dir: {
        "mlflow": "3.17.2", "sqlalchemy": "2.1.9", "psycopg2-binary": "2.9.13"})
    request = EnvRequest(parse_spec("3.17.2"))
    with pytest.raises(EnvironmentBuildError, match="No module|psycopg"):
        ensure_env(request, tmp_path, tmp_path / "logs")
    assert not (tmp_path / "envs" / request.digest()).exists()


def _named_versions() -> set[str]:
    """MLflow versions the harness names: tox environments, CI templates, catalog ranges."""
    import re
    root = Path(__file__).resolve().parents[2]
    names: set[str] = set()
    for path in [root / "tox.ini", *(root / "examples" / "ci").glob("*.yml")]:
        names |= set(re.findall(r"(?:client|pair)-(\d+\.\d+\.\d+)", path.read_text()))
        names |= set(re.findall(r"pair-\d+\.\d+\.\d+-(\d+\.\d+\.\d+)", path.read_text()))
    for path in (root / "harness" / "catalog").glob("*.toml"):
        for pair in re.findall(r'landed_between = \["([^"]+)", "([^"]+)"\]', path.read_text()):
            names |= set(pair)
    return names


def test_every_named_version_has_a_release_date() -> None:
    dates = load_known().release_dates
    missing = sorted(v for v in _named_versions() if v not in dates)
    assert not missing, f"add their PyPI upload day to known.toml [release_dates]: {missing}"
    assert dates["2.22.5"] == dt.date(2026, 5, 12) and dates["3.17.2"] == dt.date(2026, 10, 21)
