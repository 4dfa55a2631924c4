"""Bad input: one clear line on stderr, exit 2, nothing started."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import Provider, build_config
from harness.errors import UsageError
from harness.runtime.ports import require_free


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--from", "2.9.x", "--to", "3.4.0"], "malformed MLflow version"),
        (["run", "--from", "numpy==1", "--to", "3.4.0"], "not mlflow"),
        (["run", "--from", "2.9.2"], "the new MLflow is missing: give --to SPEC"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--provider", "cloud"], "invalid choice"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--exclude-newer", "yesterday"], "YYYY-MM-DD"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--as-of-release", "--exclude-newer",
          "2024-01-01"], "not allowed with"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--provider", "external"], "--postgres-dsn"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--server-workers", "0"], "between 1 and 16"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--server-workers", "two"], "invalid int"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--bench-budget", "1"], "between 10"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--regression-threshold", "x"],
         "not a percentage"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--inject-latency", "get_run=x"],
         "OP=PCT"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--inject-latency", "fly=30"],
         "unknown operation"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--inject-latency", "30", "--no-bench"],
         "drop --no-bench"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--proxy-command", "proxy --port {port}"],
         "{upstream} and {port}"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--deltaone-detector", "/nonexistent.py"],
         "no such file"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--to", "3.5.0"],
         "--to '3.4.0' and --to '3.5.0' contradict each other"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--s3-image", "a", "--minio-image", "b"],
         "contradict each other"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--scenario-timeout", "1"], "between 5"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--to-port", "80"], "between 1024"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--from-port", "5555", "--to-port", "5555"],
         "need two ports"),
        (["run", "--from", "2.9.2", "--to", "3.4.0", "--to-image", "no such image"],
         "not a Docker image reference"),
        (["launch"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], expected: str
) -> None:
    code, err = _run(capsys, *argv, *(["--out", str(tmp_path / "o")] if argv[0] == "run" else []))
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_unwritable_out_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = _run(capsys, "run", "--from", "2.9.2", "--to", "3.4.0", "--out", str(blocker / "o"))
    assert code == 2 and "is a file" in err


def test_from_dump_must_be_a_pg_dump_archive(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bogus = tmp_path / "prod.sql"
    bogus.write_text("CREATE TABLE x (id int);")
    base = ["run", "--from", "2.9.2", "--to", "3.4.0", "--out", str(tmp_path / "o")]
    code, err = _run(capsys, *base, "--from-dump", str(bogus))
    assert code == 2 and "not a pg_dump archive" in err and len(err.strip().splitlines()) == 1
    code, err = _run(capsys, *base, "--from-dump", str(tmp_path / "missing.dump"))
    assert code == 2 and "no such file" in err
    assert not (tmp_path / "o").exists()


def test_build_config_validates_into_typed_objects(tmp_path: Path) -> None:
    config = build_config(
        from_mlflow="2.9.2", to_mlflow="mlflow==3.4.0", out=str(tmp_path / "out"),
        from_extra=["redis"], provider="local",
    )
    assert config.services.provider is Provider.LOCAL
    assert config.from_side.extras == ("redis",)
    assert config.to_side.spec.label == "3.4.0"
    assert config.out_dir == (tmp_path / "out").resolve()
    with pytest.raises(UsageError, match="unknown provider"):
        build_config(from_mlflow="2.9.2", to_mlflow="3.4.0", out=str(tmp_path), provider="x")


def test_same_option_twice_with_the_same_value_is_accepted(tmp_path: Path) -> None:
    from harness.cli import run_config

    config = run_config(["run", "--from", "2.9.2", "--from", "2.9.2", "--to", "3.4.0", "--out",
                         str(tmp_path / "o")], cwd=tmp_path)
    assert config.from_side.spec.raw == "2.9.2"


def test_requested_server_port_in_use_is_one_line_and_nothing_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code, err = _run(capsys, "run", "--from", "2.9.2", "--to", "3.4.0", "--to-port",
                         str(port), "--out", str(tmp_path / "o"))
    assert code == 2
    assert err.strip() == (f"mlflow-upgrade-harness: error: port {port} requested for "
                           "--to-port is already in use")
    assert not (tmp_path / "o").exists()


def test_port_in_use_is_a_usage_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {port} .* already in use"):
            require_free(port, "the old server")
