"""No process a run starts has a password in its command line (readable by any local user
through `ps`): every child's /proc/PID/cmdline is read throughout a run that starts the
tracking servers, the basic-auth servers, the migration drill's servers and both `db upgrade`
commands, and the passwords are those the same processes hold in their environment (read from
/proc/PID/environ, which only their user and root can read): the database's, S3's, the
basic-auth admin's and CSRF key, and a team's secret given by name in a deployment description.
That secret is in no report and no log either."""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.runtime.processes import RUN_ENV
from tests.integration.conftest import NEW, OLD, harness_processes
from tests.integration.live_run import LiveRun

pytestmark = [pytest.mark.integration]
SCENARIOS = "test_migration or test_basic_auth or test_tracking"
TEAM_SECRET = "team-flask-key-7c1e9a33b2"
# Variables that hold a password or a DSN with one, in the processes of a run.
SECRET_VARIABLES = ("MLFLOW_BACKEND_STORE_URI", "AWS_SECRET_ACCESS_KEY",
                    "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY",
                    "MLFLOW_UPGRADE_HARNESS_SECRET_ARG", "PGPASSWORD")


class Sampler:
    """Every process of the run, sampled every 0.1 s: its command line, and the passwords its
    environment holds."""

    def __init__(self) -> None:
        self.run_id = ""
        self.cmdlines: dict[int, str] = {}
        self.passwords: dict[str, set[str]] = {}  # value → the variables it was found in
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(0.1):
            if self.run_id:
                self._sample()

    def _sample(self) -> None:
        marker = f"{RUN_ENV}={self.run_id}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
                if marker not in environ:
                    continue
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace")
            except OSError:
                continue
            self.cmdlines.setdefault(int(entry.name), cmdline)
            for item in environ:
                name, _, value = item.decode(errors="replace").partition("=")
                if name in SECRET_VARIABLES and value:
                    secret = urlsplit(value).password if "://" in value else value
                    if secret:
                        self.passwords.setdefault(secret, set()).add(name)


def test_no_child_process_has_a_password_in_its_command_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_FLASK_KEY_FOR_TEST", TEAM_SECRET)
    description = tmp_path / "to.toml"
    description.write_text('secrets = { MLFLOW_FLASK_SERVER_SECRET_KEY = '
                           '"TEAM_FLASK_KEY_FOR_TEST" }\n')
    sampler = Sampler()
    sampler.thread.start()
    run = LiveRun("run", "--from", OLD, "--to", NEW, "--provider", "local", "--no-bench",
                  "--no-matrix", "-k", SCENARIOS, "--to-deployment", str(description),
                  "--out", str(tmp_path / "out"),
                  env={"TEAM_FLASK_KEY_FOR_TEST": TEAM_SECRET})
    run.wait_for(f"→ {NEW}")  # `run ID: OLD → NEW`, said before anything starts
    sampler.run_id = run.run_id
    assert sampler.run_id
    try:
        run.finish(900)
    finally:
        sampler.stop.set()
        sampler.thread.join()
    assert harness_processes(run.run_id) == set()
    found = set().union(*sampler.passwords.values())
    # the passwords were there to find: the servers', the db upgrades', the team's
    assert {"MLFLOW_BACKEND_STORE_URI", "AWS_SECRET_ACCESS_KEY", "MLFLOW_AUTH_ADMIN_PASSWORD",
            "MLFLOW_FLASK_SERVER_SECRET_KEY", "MLFLOW_UPGRADE_HARNESS_SECRET_ARG"} <= found, found
    assert TEAM_SECRET in sampler.passwords
    commands = list(sampler.cmdlines.values())
    assert any(" server " in c and "--port" in c for c in commands)
    assert any("runpy" in c and " mlflow db upgrade " in c for c in commands), commands
    assert any("runpy" in c and "mlflow.server.auth db upgrade" in c for c in commands)
    leaks = [(pid, sorted(sampler.passwords[secret]), command.replace(secret, "***")[:300])
             for pid, command in sampler.cmdlines.items()
             for secret in sampler.passwords if secret in command]  # named, not shown
    assert not leaks, leaks
    written = [path for path in run.out.rglob("*") if path.is_file()
               and TEAM_SECRET in path.read_text(errors="replace")]
    assert not written, written
