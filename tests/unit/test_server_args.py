"""Server set-up as a team deploys it: --from-server-arg/--to-server-arg, --server-workers, the
server_setup recorded per side, and the command MlflowServer builds."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness.cli import main, run_config
from harness.config import RunConfig, build_config
from harness.envs.known import load_known
from harness.errors import UsageError
from harness.reports.html import render_html
from harness.reports.markdown import render_markdown
from harness.results.model import (
    SCHEMA_PATH,
    RunResults,
    RunStatus,
    SideInfo,
    load_results,
    write_results,
)
from harness.run import new_results
from harness.services.base import S3Location
from harness.services.mlflow_command import MlflowCommand
from harness.services.mlflow_server import MlflowServer, ServerSpec
from harness.services.server_args import server_setup, split_server_args, workers_in

S3 = S3Location("http://127.0.0.1:9000", "key", "s3cr3t-value", "bucket")
OPT = "--to-server-arg"


def _config(tmp_path: Path, *argv: str) -> RunConfig:
    return run_config(["run", "--from", "2.9.2", "--to", "3.4.0", "--out", str(tmp_path / "o"),
                       *argv], cwd=tmp_path)


@pytest.mark.parametrize("argv", [
    ["--to-server-arg", "--workers 4"],
    ["--to-server-arg=--workers=4"],
    ["--to-server-arg", "-w 4"],
    ["--to-server-arg=-w4"],
])
def test_each_value_is_split_like_a_shell(tmp_path: Path, argv: list[str]) -> None:
    config = _config(tmp_path, *argv)
    assert workers_in(config.to_side.server_args) == 4
    assert config.from_side.server_args == ()


def test_values_accumulate_in_order_and_keep_quoted_parts_whole(tmp_path: Path) -> None:
    config = _config(tmp_path, "--to-server-arg", "--gunicorn-opts '--timeout 120 -w 9'",
                     "--to-server-arg=--expose-prometheus=/tmp/prom", "--from-server-arg",
                     "--static-prefix /mlflow")
    assert config.to_side.server_args == ("--gunicorn-opts", "--timeout 120 -w 9",
                                          "--expose-prometheus=/tmp/prom")
    assert config.from_side.server_args == ("--static-prefix", "/mlflow")
    # an option's value is never read as an option of its own (`-w 9` is gunicorn's, and
    # MLflow's own --workers comes after the options it forwards)
    assert workers_in(config.to_side.server_args) is None


def test_defaults_give_no_workers_and_server_workers_is_workers_on_both_sides(
    tmp_path: Path,
) -> None:
    plain = _config(tmp_path)
    assert plain.from_side.server_args == plain.to_side.server_args == ()
    both = _config(tmp_path, "--server-workers", "3", "--to-server-arg", "--static-prefix /x")
    assert both.from_side.server_args == ("--workers", "3")
    assert both.to_side.server_args == ("--workers", "3", "--static-prefix", "/x")


def test_empty_value_adds_nothing(tmp_path: Path) -> None:
    assert _config(tmp_path, "--to-server-arg", "").to_side.server_args == ()


@pytest.mark.parametrize(("args", "expected"), [
    ("--backend-store-uri sqlite:///x.db", "sets --backend-store-uri itself"),
    ("--registry-store-uri=postgresql://db", "sets --registry-store-uri itself"),
    ("--default-artifact-root s3://b", "sets --default-artifact-root itself"),
    ("--artifacts-destination=s3://b", "sets --artifacts-destination itself"),
    ("--serve-artifacts", "sets --serve-artifacts itself"),
    ("--no-serve-artifacts", "sets --no-serve-artifacts itself"),
    ("--host 0.0.0.0", "sets --host itself"),
    ("-h 0.0.0.0", "sets -h itself"),
    ("-h0.0.0.0", "sets -h itself"),
    ("--port=5000", "--from-port/--to-port"),
    ("-p 5000", "sets -p itself"),
    ("--app-name basic-auth", "sets --app-name itself"),
    ("--artifacts-only", "not a tracking server"),
    ("--dev", "not a deployment"),
    ("--waitress-opts '--threads 4'", "Windows server"),
    ("--workers 2 -w 3", "contradict each other: give the number of workers once"),
    ("--workers 0", "whole number of at least 1"),
    ("--workers=four", "whole number of at least 1"),
    ("--workers", "--workers needs a value"),
    ("--gunicorn-opts '--timeout 60", "check the quotes"),
])
def test_refused_arguments(args: str, expected: str) -> None:
    with pytest.raises(UsageError) as raised:
        split_server_args(OPT, [args])
    assert expected in str(raised.value)
    assert str(raised.value).startswith(OPT)


@pytest.mark.parametrize(("argv", "expected"), [
    (["--to-server-arg", "--host 0.0.0.0"], "--to-server-arg '--host 0.0.0.0': the harness "
                                             "sets --host itself"),
    (["--from-server-arg=--port=5000"], "--from-server-arg '--port=5000'"),
    (["--to-server-arg", "--gunicorn-opts '--timeout 60"], "check the quotes"),
    (["--server-workers", "2", "--to-server-arg", "--workers 4"],
     "--server-workers 2 and --to-server-arg with --workers 4 contradict each other"),
    (["--from-server-arg", "--uvicorn-opts '--timeout-keep-alive 5'"],
     "mlflow 2.9.2 serves with gunicorn and has no --uvicorn-opts"),
    # argparse takes a bare `--dev` for an option of its own: `--to-server-arg=--dev` is the way
    (["--to-server-arg", "--dev"], "expected one argument"),
])
def test_bad_server_args_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], expected: str
) -> None:
    code = _exit_code(tmp_path, argv)
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def _exit_code(tmp_path: Path, argv: list[str]) -> int:
    try:
        return main(["run", "--from", "2.9.2", "--to", "3.4.0", "--out", str(tmp_path / "o"),
                     *argv])
    except SystemExit as exit_:
        return int(exit_.code or 0)


def test_uvicorn_opts_are_accepted_where_uvicorn_exists(tmp_path: Path) -> None:
    config = build_config(from_mlflow="2.9.2", to_mlflow="3.4.0", out=str(tmp_path),
                          to_server_arg=["--uvicorn-opts '--timeout-keep-alive 5'"])
    assert config.to_side.server_args == ("--uvicorn-opts", "--timeout-keep-alive 5")


@pytest.mark.parametrize(("version", "args", "expected"), [
    ("2.9.2", [], ("gunicorn", 4, "mlflow default")),
    ("3.4.0", [], ("uvicorn", 4, "mlflow default")),
    ("3.4.0", ["--workers", "1"], ("uvicorn", 1, "argument")),
    ("3.4.0", ["-w8"], ("uvicorn", 8, "argument")),
    ("3.4.0", ["--gunicorn-opts", "--timeout 120"], ("gunicorn", 4, "mlflow default")),
    ("3.4.0", ["--gunicorn-opts=--timeout 120", "--workers=2"], ("gunicorn", 2, "argument")),
    ("3.4.0", ["--uvicorn-opts", "--timeout-keep-alive 5"], ("uvicorn", 4, "mlflow default")),
    ("2.9.2", ["-w", "3"], ("gunicorn", 3, "argument")),
    ("3.2.0", [], ("gunicorn", 4, "mlflow default")),  # uvicorn is the default from 3.3.0
    ("3.3.0", [], ("uvicorn", 4, "mlflow default")),
    ("3.5.0rc1", [], ("uvicorn", 4, "mlflow default")),
])
def test_server_setup_per_version_and_arguments(
    version: str, args: list[str], expected: tuple[str, int, str]
) -> None:
    setup = server_setup(version, args)
    assert (setup["sgi"], setup["workers"], setup["workers_from"]) == expected


def test_server_setup_defaults_come_from_known_toml() -> None:
    known = load_known().server
    assert known.default_workers == 4 and str(known.uvicorn_default_from) == "3.3.0"
    assert server_setup("not a version", []) == {}


def _server(tmp_path: Path, image: str | None = None, **kwargs: object) -> MlflowServer:
    return MlflowServer("to-3.4.0", MlflowCommand(tmp_path, image), ServerSpec(
        "postgresql://u@h/db", S3, "to-artifacts", **kwargs), tmp_path)  # type: ignore[arg-type]


def test_argv_passes_no_workers_by_default_and_appends_server_args(tmp_path: Path) -> None:
    plain = _server(tmp_path).argv(5000)
    assert plain[:2] == [str(tmp_path / "mlflow"), "server"]
    assert "--workers" not in plain and plain[-4:] == ["--host", "127.0.0.1", "--port", "5000"]
    # The backend store's DSN (its password) reaches the server in its environment only.
    assert "--backend-store-uri" not in plain and "postgresql://u@h/db" not in plain
    assert _server(tmp_path).environment()["MLFLOW_BACKEND_STORE_URI"] == "postgresql://u@h/db"
    helper = _server(tmp_path, workers=2).argv(5000)
    assert helper[-2:] == ["--workers", "2"]
    team = _server(tmp_path, args=("--workers", "1", "--gunicorn-opts", "--timeout 9"))
    argv = team.argv(5000)
    assert argv[-4:] == ["--workers", "1", "--gunicorn-opts", "--timeout 9"]
    assert argv.count("--workers") == 1
    auth = _server(tmp_path, workers=1, app_name="basic-auth", args=("--static-prefix", "/m"))
    assert auth.argv(5000)[-6:] == ["--workers", "1", "--app-name", "basic-auth",
                                    "--static-prefix", "/m"]


def test_argv_in_an_image_passes_server_args_through_unchanged(tmp_path: Path) -> None:
    server = _server(tmp_path, image="team/mlflow:3.4.0",
                     args=("--workers", "3", "--expose-prometheus", "/tmp/p"))
    server._container = "muh-x"
    argv = server.argv(5000)
    after_image = argv[argv.index("team/mlflow:3.4.0") + 1:]
    assert after_image[0] == "server" and "--workers" not in argv[:argv.index("team/mlflow:3.4.0")]
    assert after_image[-4:] == ["--workers", "3", "--expose-prometheus", "/tmp/p"]


def _results(tmp_path: Path) -> RunResults:
    config = build_config(from_mlflow="2.9.2", to_mlflow="3.4.0", out=str(tmp_path / "o"),
                          to_server_arg=["--workers 1"], clients=["2.9.2", "3.4.0", "3.17.2"])
    results = new_results(config)
    for info, version in zip(results.sides, ("2.9.2", "3.4.0"), strict=False):
        info.mlflow_version = version
        info.server_setup = server_setup(version, info.server_args)
    results.status = RunStatus.PASSED
    return results


def test_results_record_server_args_and_setup_and_round_trip(tmp_path: Path) -> None:
    results = _results(tmp_path)
    sides = {s.role: s for s in results.sides}
    assert sides["from"].server_args == [] and sides["to"].server_args == ["--workers", "1"]
    assert sides["from"].server_setup == {"sgi": "gunicorn", "workers": 4,
                                          "workers_from": "mlflow default"}
    assert sides["to"].server_setup == {"sgi": "uvicorn", "workers": 1, "workers_from": "argument"}
    assert sides["client1"].server_setup == {} and sides["client1"].server_args == []
    write_results(results, tmp_path / "results.json")
    assert load_results(tmp_path / "results.json") == results
    document = json.loads((tmp_path / "results.json").read_text())
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.validate(document, schema)
    document["sides"][1]["server_setup"]["sgi"] = "waitress"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)
    document["sides"][1]["server_setup"] = {"sgi": "uvicorn"}  # half a set-up
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)


def test_results_without_the_new_fields_still_load(tmp_path: Path) -> None:
    write_results(_results(tmp_path), tmp_path / "results.json")
    document = json.loads((tmp_path / "results.json").read_text())
    for side in document["sides"]:
        del side["server_args"], side["server_setup"]
    (tmp_path / "old.json").write_text(json.dumps(document))
    old = load_results(tmp_path / "old.json")
    assert all(s.server_args == [] and s.server_setup == {} for s in old.sides)
    assert "- Server " not in render_markdown(old)


def test_reports_show_one_server_line_per_side(tmp_path: Path) -> None:
    results = _results(tmp_path)
    lines = [line for line in render_markdown(results).splitlines()
             if line.startswith("- Server ")]
    assert lines == [
        "- Server from (2.9.2): gunicorn, 4 workers (mlflow default); extra `mlflow server` "
        "arguments: none",
        "- Server to (3.4.0): uvicorn, 1 worker (argument); extra `mlflow server` arguments: "
        "`--workers 1`",
    ]
    html = render_html(results)
    assert "server: uvicorn, 1 worker(s) (argument); <code>--workers 1</code>" in html
    assert SideInfo("client1", "3.17.2").server_setup == {}
