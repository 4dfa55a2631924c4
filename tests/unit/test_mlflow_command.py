"""A side's `mlflow` command: its environment's, or `docker run` of the team's image."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import build_config
from harness.errors import ProviderUnavailable, UsageError
from harness.runtime.processes import REGISTRY
from harness.services.base import S3Location
from harness.services.docker_engine import PID_LABEL, RUN_LABEL
from harness.services.mlflow_command import MlflowCommand, require_docker_cli
from harness.services.mlflow_server import MlflowServer, ServerSpec

S3 = S3Location("http://127.0.0.1:9", "key-id", "s3cr3t-value", "bucket")


def test_environment_command_is_the_env_binary() -> None:
    command = MlflowCommand(Path("/envs/abc/bin"))
    assert command.argv(["db", "upgrade", "postgresql://x"]) == [
        "/envs/abc/bin/mlflow", "db", "upgrade", "postgresql://x"]
    assert command.new_container("server") == ""


def test_image_command_runs_on_host_network_with_labels_names_and_mounts(
    tmp_path: Path,
) -> None:
    REGISTRY.run_id = "run42"
    command = MlflowCommand(Path("/envs/abc/bin"), "team/mlflow:3.4.0")
    name = command.new_container("to-3.4.0")
    try:
        argv = command.argv(["server", "--port", "5000"], container=name,
                            env_names=["AWS_SECRET_ACCESS_KEY"], mounts=[tmp_path])
    finally:
        command.forget_container(name)
    assert name.startswith("muh-run42-to-3.4.0-")
    assert argv[:3] == ["docker", "run", "--rm"]
    assert argv[argv.index("--name") + 1] == name
    assert argv[argv.index("--network") + 1] == "host"
    assert argv[argv.index("--entrypoint") + 1] == "mlflow"
    labels = {argv[i + 1] for i, a in enumerate(argv) if a == "--label"}
    assert f"{RUN_LABEL}=run42" in labels and f"{PID_LABEL}={os.getpid()}" in labels
    # Values come from the CLI's environment: a secret never appears on the command line.
    assert argv[argv.index("--env") + 1] == "AWS_SECRET_ACCESS_KEY"
    assert f"{tmp_path}:{tmp_path}:ro" in argv
    assert argv[-4:] == ["team/mlflow:3.4.0", "server", "--port", "5000"]


def test_image_container_removal_is_registered_until_forgotten() -> None:
    REGISTRY.run_id = "run43"
    command = MlflowCommand(Path("/e/bin"), "img")
    name = command.new_container("db-upgrade")
    assert any(name in label for label, _ in REGISTRY._cleanups)
    command.forget_container(name)
    assert not any(name in label for label, _ in REGISTRY._cleanups)


def test_server_in_an_image_passes_s3_secrets_by_name_only(tmp_path: Path) -> None:
    config = tmp_path / "auth.ini"
    config.write_text("[mlflow]\n")
    server = MlflowServer("to-3.4.0", MlflowCommand(tmp_path, "team/mlflow:3.4.0"), ServerSpec(
        "postgresql://u:pw-in-dsn@127.0.0.1/db", S3, "to-artifacts",
        env={"MLFLOW_AUTH_CONFIG_PATH": str(config)}), tmp_path)
    server._container = "muh-x"
    argv = server.argv(5000)
    assert "s3cr3t-value" not in " ".join(argv) and "pw-in-dsn" not in " ".join(argv)
    names = {argv[i + 1] for i, a in enumerate(argv) if a == "--env"}
    assert {"AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL", "MLFLOW_AUTH_CONFIG_PATH",
            "MLFLOW_BACKEND_STORE_URI"} <= names
    assert f"{config}:{config}:ro" in argv  # the auth config file is visible in the container
    assert argv[argv.index("team/mlflow:3.4.0") + 1] == "server"


@pytest.mark.parametrize("image", ["", "has space", "-rm", "a;b"])
def test_malformed_image_is_a_usage_error(image: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--to-image: .* is not a Docker image reference"):
        build_config(from_mlflow="2.9.2", to_mlflow="3.4.0", out=str(tmp_path), to_image=image)


def test_images_land_on_their_sides(tmp_path: Path) -> None:
    config = build_config(from_mlflow="2.9.2", to_mlflow="3.4.0", out=str(tmp_path),
                          to_image="registry.example/team/mlflow:3.4.0@sha256:ab")
    assert config.from_side.image is None
    assert config.to_side.image == "registry.example/team/mlflow:3.4.0@sha256:ab"
    assert config.to_side.image_option == "--to-image"


def test_no_engine_for_an_image_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(ProviderUnavailable, match="--to-image: no Docker engine answers"):
        require_docker_cli("--to-image")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ProviderUnavailable, match="needs the docker CLI"):
        require_docker_cli("--to-image")


def test_no_engine_for_an_image_stops_the_run_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    code = main(["run", "--from", "2.9.2", "--to", "3.4.0", "--to-image", "team/mlflow:3.4.0",
                 "--provider", "local", "--quiet", "--out", str(tmp_path / "o"),
                 "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith(
        "mlflow-upgrade-harness: --to-image: no Docker engine answers (")
    assert not (tmp_path / "cache").exists()  # nothing was built


def test_a_secret_argument_goes_through_the_environment(tmp_path: Path) -> None:
    """`mlflow db upgrade DSN` and the auth `db upgrade --url DSN` with the DSN in
    MLFLOW_UPGRADE_HARNESS_SECRET_ARG: no password on any command line, local or in an image."""
    from harness.services.mlflow_command import SECRET, SECRET_ENV

    local = MlflowCommand(tmp_path).module_argv("mlflow", ["db", "upgrade", SECRET])
    assert local[:2] == [str(tmp_path / "python"), "-c"] and local[3:] == [
        "mlflow", "db", "upgrade", SECRET]
    assert SECRET_ENV in local[2] and "runpy.run_module" in local[2]
    imaged = MlflowCommand(tmp_path, "team/mlflow:3.4.0").module_argv(
        "mlflow.server.auth", ["db", "upgrade", "--url", SECRET], container="muh-x")
    image = imaged.index("team/mlflow:3.4.0")
    assert imaged[imaged.index("--entrypoint") + 1] == "sh"
    assert ["--env", SECRET_ENV] == imaged[imaged.index(SECRET_ENV) - 1:imaged.index(SECRET_ENV)
                                           + 1]
    assert imaged[image + 1] == "-c" and 'command -v mlflow' in imaged[image + 2]
    assert imaged[image + 4:] == ["mlflow.server.auth", "db", "upgrade", "--url", SECRET]
