"""A side's deployment description: where it is read from (a config table, a file of its own, a
compose service), its one-line errors, secrets by name that never reach any output, and what
the run makes of it (server arguments, the server's environment, the basic-auth settings)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

from harness.cli import run_config
from harness.config import build_config
from harness.deploy.auth_config import AuthSettings, read_auth_config
from harness.deploy.description import DEFAULT_INGRESS_HEADERS, Deployment, parse_public_url
from harness.deploy.drift import described
from harness.deploy.errors import DescriptionError
from harness.errors import UsageError
from harness.redact import forget_secrets, redact

SECRET = "flask-key-0f9e8d7c6b5a"
AUTH_INI = """\
[mlflow]
default_permission = NO_PERMISSIONS
database_uri = postgresql://auth:team-auth-pw-123@db.internal:5432/auth
admin_username = team-admin
admin_password = team-admin-pw-456
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
grant_default_workspace_access = false
"""


@pytest.fixture(autouse=True)
def _no_secret_left() -> Iterator[None]:
    """What a test registers for redaction is not masked in the tests after it."""
    yield
    forget_secrets()


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(dedent(text))
    return path


def _config(**given: object) -> object:
    return build_config(from_mlflow="3.4.0", to_mlflow="3.17.2", **given)


def test_a_config_table_describes_a_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_FLASK_KEY", SECRET)
    _file(tmp_path, "basic_auth.ini", AUTH_INI)
    _file(tmp_path, "pyproject.toml", """\
        [tool.mlflow-upgrade-harness.from]
        mlflow = "3.4.0"

        [tool.mlflow-upgrade-harness.to]
        mlflow = "3.17.2"
        server-arg = ["--workers 2"]

        [tool.mlflow-upgrade-harness.to.deployment]
        public-url = "https://MLflow.example.com/mlflow/"
        server-options = "--allowed-hosts mlflow.example.com --static-prefix /mlflow"
        environment = { MLFLOW_BASIC_AUTH_FAIL_CLOSED = true, MLFLOW_SQLALCHEMYSTORE_POOL_SIZE = 5 }
        secrets = { MLFLOW_FLASK_SERVER_SECRET_KEY = "TEAM_FLASK_KEY" }
        auth-config = "basic_auth.ini"
        ingress-headers = { "X-Forwarded-Proto" = "", "X-Team" = "ingress-a" }
        """)
    config = run_config(["run"], cwd=tmp_path)
    to = config.to_side.deployment  # type: ignore[attr-defined]
    assert config.from_side.deployment == Deployment()  # type: ignore[attr-defined]
    assert to.source.endswith("pyproject.toml [tool.mlflow-upgrade-harness.to.deployment]")
    assert to.public_url is not None and to.public_url.text == "https://mlflow.example.com/mlflow"
    assert to.public_url.host_header == "mlflow.example.com"
    # the description's options first, then --to-server-arg's
    assert config.to_side.server_args == (  # type: ignore[attr-defined]
        "--allowed-hosts", "mlflow.example.com", "--static-prefix", "/mlflow", "--workers", "2")
    assert to.static_prefix() == "/mlflow" and not to.strips()  # the server serves /mlflow
    assert to.ingress_headers == (("X-Forwarded-Proto", ""), ("X-Team", "ingress-a"))
    env = to.server_env()
    assert env == {"MLFLOW_BASIC_AUTH_FAIL_CLOSED": "true",
                   "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": "5",
                   "MLFLOW_FLASK_SERVER_SECRET_KEY": SECRET}
    assert to.auth is not None and to.auth.default_permission == "NO_PERMISSIONS"
    assert to.auth.admin_username == "team-admin"


def test_a_file_of_its_own_and_the_defaults(tmp_path: Path) -> None:
    path = _file(tmp_path, "to.toml", 'public-url = "http://mlflow.internal:8080/ml"\n')
    config = _config(to_deployment=str(path))
    to = config.to_side.deployment  # type: ignore[attr-defined]
    assert to.source == str(path)
    assert to.public_url == parse_public_url("http://mlflow.internal:8080/ml")
    assert to.public_url.host_header == "mlflow.internal:8080"
    assert to.ingress_headers == tuple((name, "") for name in DEFAULT_INGRESS_HEADERS)
    assert to.strips()  # a path the server does not serve itself: the ingress strips it
    assert parse_public_url("https://mlflow.example.com:443").host_header == "mlflow.example.com"


@pytest.mark.parametrize(("text", "error"), [
    ('pubic-url = "https://x.example.com"',
     "unknown key 'pubic-url' (did you mean 'public-url'?)"),
    ('public-url = "ftp://x.example.com"', "expected an http:// or https:// URL"),
    ('public-url = "https://user:pw@x.example.com"', "carries no credentials"),
    ('server-options = "--backend-store-uri postgresql://x"',
     "the harness sets --backend-store-uri itself"),
    ('server-options = "--workers \'4"', "check the quotes"),
    ("environment = { MLFLOW_S3_ENDPOINT_URL = \"http://minio:9000\" }",
     "the harness sets MLFLOW_S3_ENDPOINT_URL itself"),
    ('environment = { MLFLOW_FLASK_SERVER_SECRET_KEY = "abc" }', "looks like a secret"),
    ('secrets = ["NOT_SET_ANYWHERE_31"]', "NOT_SET_ANYWHERE_31 is not set in your environment"),
    ('auth-config = "missing.ini"', "missing.ini: no such file"),
    ('ingress-headers = ["X-Forwarded-For"]', "ingress-headers needs public-url"),
    ('public-url = "https://x.example.com"\ningress-headers = ["X-Custom"]',
     "X-Custom needs a value"),
    ('compose-service = "mlflow"', "compose-service needs compose"),
])
def test_a_bad_description_is_one_line_naming_the_key(tmp_path: Path, text: str,
                                                       error: str) -> None:
    path = _file(tmp_path, "to.toml", text + "\n")
    with pytest.raises(UsageError, match="^--to-deployment .*to.toml: ") as raised:
        _config(to_deployment=str(path))
    message = str(raised.value)
    assert error in message and "\n" not in message


def test_a_missing_file_and_a_bad_table_in_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^--from-deployment nowhere\.toml: no such file$"):
        _config(from_deployment="nowhere.toml")
    _file(tmp_path, "pyproject.toml", """\
        [tool.mlflow-upgrade-harness.to]
        mlflow = "3.17.2"
        [tool.mlflow-upgrade-harness.to.deployment]
        public-url = 42
        """)
    with pytest.raises(UsageError) as raised:
        run_config(["run", "--from", "3.4.0"], cwd=tmp_path)
    assert str(raised.value) == (
        f"{tmp_path / 'pyproject.toml'}: public-url = 42: expected text in "
        "[tool.mlflow-upgrade-harness.to.deployment]")


def test_a_secret_by_name_reaches_the_server_and_no_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_FLASK_KEY", SECRET)
    _file(tmp_path, "basic_auth.ini", AUTH_INI)
    path = _file(tmp_path, "to.toml", """\
        secrets = { MLFLOW_FLASK_SERVER_SECRET_KEY = "TEAM_FLASK_KEY" }
        auth-config = "basic_auth.ini"
        """)
    config = _config(to_deployment=str(path))
    side = config.to_side  # type: ignore[attr-defined]
    assert side.deployment.server_env()["MLFLOW_FLASK_SERVER_SECRET_KEY"] == SECRET
    recorded = json.dumps(described(side).__dict__)
    assert SECRET not in recorded and "(secret)" in recorded
    assert "team-admin-pw-456" not in recorded and "team-auth-pw-123" not in recorded
    # registered where it is read: every writer's redaction masks it wherever it turns up
    for text in (SECRET, "team-admin-pw-456", "postgresql://auth:team-auth-pw-123@db"):
        assert text not in redact(f"a log line with {text} in it")
    assert SECRET not in repr(side)  # the config holds the name, not the value


def test_the_teams_auth_config_keeps_their_settings_not_their_password_or_database(
        tmp_path: Path) -> None:
    settings = read_auth_config(_file(tmp_path, "basic_auth.ini", AUTH_INI))
    assert (settings.default_permission, settings.admin_username) == ("NO_PERMISSIONS",
                                                                     "team-admin")
    ini = settings.ini("postgresql://h:run-pw@127.0.0.1:5/auth", "run-admin-password")
    assert "team-admin-pw-456" not in ini and "db.internal" not in ini
    assert "default_permission = NO_PERMISSIONS" in ini and "admin_username = team-admin" in ini
    assert "grant_default_workspace_access = false" in ini
    assert AuthSettings().ini("x", "y").startswith("[mlflow]\ndefault_permission = READ\n")
    for text, error in [("[other]\n", r"no \[mlflow\] section"),
                        ("[mlflow]\ndefault_permission = WRITE\n", "expected one of"),
                        ("[mlflow]\nauthorization_function = team.auth:check\n",
                         "only MLflow's own")]:
        with pytest.raises(DescriptionError, match=error):
            read_auth_config(_file(tmp_path, "bad.ini", text))


COMPOSE = """\
services:
  db:
    image: postgres:16
  mlflow:
    image: registry.example/team/mlflow:3.4.0
    command: >
      mlflow server --backend-store-uri ${DB_URI} --host 0.0.0.0 --port 5000
      --workers 4 --allowed-hosts ${PUBLIC_HOST:-mlflow.example.com}
      --static-prefix $PREFIX
    environment:
      MLFLOW_S3_ENDPOINT_URL: http://minio:9000
      AWS_SECRET_ACCESS_KEY: ${AWS_SECRET_ACCESS_KEY}
      MLFLOW_FLASK_SERVER_SECRET_KEY: ${FLASK_KEY}
      MLFLOW_BASIC_AUTH_FAIL_CLOSED: "true"
      PRICE: $$5
"""


def test_a_compose_service_is_a_deployment(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_KEY", SECRET)
    monkeypatch.delenv("PREFIX", raising=False)
    _file(tmp_path, "docker-compose.yml", COMPOSE)
    _file(tmp_path, ".env", "PREFIX=/ml\n")
    config = _config(from_deployment=str(tmp_path / "docker-compose.yml"))
    side = config.from_side  # type: ignore[attr-defined]
    deployment = side.deployment
    assert deployment.source.endswith("docker-compose.yml#mlflow")  # the one running mlflow
    assert side.image == "registry.example/team/mlflow:3.4.0"
    assert side.server_args == ("--workers", "4", "--allowed-hosts", "mlflow.example.com",
                                "--static-prefix", "/ml")
    assert dict(deployment.environment) == {"MLFLOW_FLASK_SERVER_SECRET_KEY": SECRET,
                                            "MLFLOW_BASIC_AUTH_FAIL_CLOSED": "true",
                                            "PRICE": "$5"}
    left = " ".join(deployment.left_out)
    for owned in ("--backend-store-uri", "--host", "--port", "MLFLOW_S3_ENDPOINT_URL",
                  "AWS_SECRET_ACCESS_KEY"):
        assert owned in left
    assert SECRET not in json.dumps(described(side).__dict__)
    # A service named explicitly, and a table that reads one and adds to it
    _file(tmp_path, "to.toml", """\
        compose = "docker-compose.yml"
        compose-service = "mlflow"
        use-image = false
        public-url = "https://mlflow.example.com"
        environment = { MLFLOW_BASIC_AUTH_FAIL_CLOSED = "false" }
        """)
    to = _config(to_deployment=str(tmp_path / "to.toml")).to_side  # type: ignore[attr-defined]
    assert to.image is None and dict(to.deployment.environment)[
        "MLFLOW_BASIC_AUTH_FAIL_CLOSED"] == "false"
    with pytest.raises(UsageError, match="has no service 'web'"):
        _config(to_deployment=f"{tmp_path / 'docker-compose.yml'}#web")


def test_the_harness_adds_loopback_to_an_allow_list_of_hosts(tmp_path: Path) -> None:
    """Requests by 127.0.0.1 (benchmark, health, helpers) pass a team's `--allowed-hosts`;
    its public host is judged by the list as given, and results record the options as given."""
    from harness.services.base import S3Location
    from harness.services.mlflow_command import MlflowCommand
    from harness.services.mlflow_server import MlflowServer, ServerSpec
    from harness.services.server_args import loopback_allowed, with_loopback_allowed

    assert loopback_allowed("mlflow.example.com") == \
        "mlflow.example.com,127.0.0.1,127.0.0.1:*,localhost,localhost:*"
    assert loopback_allowed("*") == "*"
    assert with_loopback_allowed(["--allowed-hosts=a.example.com", "--workers", "2"]) == (
        "--allowed-hosts=a.example.com,127.0.0.1,127.0.0.1:*,localhost,localhost:*",
        "--workers", "2")
    s3 = S3Location("http://127.0.0.1:9", "a", "b", "c")
    server = MlflowServer("to-3.17.2", MlflowCommand(tmp_path), ServerSpec(
        "postgresql://x", s3, "p", env={"MLFLOW_SERVER_ALLOWED_HOSTS": "m.example.com"},
        args=("--allowed-hosts", "mlflow.example.com")), tmp_path)
    argv = server.argv(5000)
    assert argv[argv.index("--allowed-hosts") + 1].startswith("mlflow.example.com,127.0.0.1,")
    assert server.environment()["MLFLOW_SERVER_ALLOWED_HOSTS"].startswith("m.example.com,127")
    assert server.server_args == ("--allowed-hosts", "mlflow.example.com")


def test_the_readmes_example_deployments_read_as_it_says() -> None:
    """README's fourth command: the old side reached by its public URL, the new one allowing
    that host (without it, 3.5+ refuses the Host header)."""
    examples = Path(__file__).resolve().parents[2] / "examples" / "deployment"
    config = _config(from_deployment=str(examples / "dev.toml"),
                     to_deployment=str(examples / "prod.toml"))
    old, new = config.from_side.deployment, config.to_side.deployment  # type: ignore[attr-defined]
    assert old.public_url == new.public_url == parse_public_url("https://mlflow.example.com")
    assert old.server_options == ()
    assert new.server_options == ("--allowed-hosts", "mlflow.example.com")
