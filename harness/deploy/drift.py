"""The two deployments side by side: versions, images, server program and workers, every server
option, environment variable and basic-auth setting either side sets, the public URL and what
the ingress adds. A difference is flagged unless the versions explain it (the new version's
default server program, an option the old version does not have): the team's development on
2.9 and production on 3.4 is such a drift, and it was the first finding of their upgrade."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from harness.config.sides import SideConfig
from harness.deploy.auth_config import AuthSettings
from harness.deploy.description import SECRET_NAME
from harness.deploy.result import DriftRow, SideDeployment
from harness.services.server_args import server_options, server_setup

SECRET_SHOWN = "(secret)"
ABSENT = "—"
# Options an older version does not have: their absence there is the version's, not drift.
SINCE = {"--allowed-hosts": "3.5.0", "--cors-allowed-origins": "3.5.0",
         "--x-frame-options": "3.5.0", "--disable-security-middleware": "3.5.0",
         "--uvicorn-opts": "3.3.0"}


def described(side: SideConfig) -> SideDeployment:
    """What results.json records of a side's description (secrets by name only)."""
    deployment = side.deployment
    secrets = {name for name, _ in deployment.secrets}
    environment = {name: SECRET_SHOWN if name in secrets or SECRET_NAME.search(name) else value
                   for name, value in deployment.environment}
    environment |= {name: SECRET_SHOWN for name in secrets}
    auth = (deployment.auth or AuthSettings()).shown()
    return SideDeployment(
        role=side.role, source=deployment.source,
        public_url=deployment.public_url.text if deployment.public_url else "",
        ingress_headers=[f"{name}: {value}" if value else name
                         for name, value in deployment.ingress_headers],
        strip_prefix=deployment.strips(), server_options=list(side.server_args),
        environment=dict(sorted(environment.items())), auth=auth, image=side.image or "",
        left_out=list(deployment.left_out))


def drift(old: SideDeployment, new: SideDeployment, versions: tuple[str, str]) -> list[DriftRow]:
    rows = [DriftRow("MLflow", versions[0], versions[1], note="the upgrade")]
    rows.append(_image(old.image, new.image))
    rows += _setup(old.server_options, new.server_options, versions)
    rows += _options(old.server_options, new.server_options, versions)
    rows += _pairs("environment", old.environment, new.environment)
    rows += _pairs("basic-auth", _settings(old.auth), _settings(new.auth))
    rows.append(_row("public URL", old.public_url, new.public_url))
    rows.append(_row("ingress headers", ", ".join(old.ingress_headers),
                     ", ".join(new.ingress_headers)))
    if old.public_url or new.public_url:
        rows.append(_row("path prefix stripped by the ingress", _yes(old.strip_prefix),
                         _yes(new.strip_prefix)))
    return rows


def _row(setting: str, old: str, new: str, note: str = "") -> DriftRow:
    return DriftRow(setting, old or ABSENT, new or ABSENT, flagged=old != new, note=note)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _image(old: str, new: str) -> DriftRow:
    """Images differ by their tag with the version; another repository is drift."""
    row = _row("image", old, new)
    if old and new and _repository(old) == _repository(new):
        row.flagged, row.note = False, "same image, the version's tag"
    return row


def _repository(image: str) -> str:
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


def _setup(old: list[str], new: list[str], versions: tuple[str, str]) -> list[DriftRow]:
    setups = [server_setup(version, args) for version, args in zip(versions, (old, new),
                                                                     strict=True)]
    if not all(setups):
        return []
    program = _row("server program", setups[0]["sgi"], setups[1]["sgi"])
    if program.flagged and not any("--gunicorn-opts" in args or "--uvicorn-opts" in args
                                   for args in (old, new)):
        program.flagged, program.note = False, "each version's default"
    workers = _row("workers", f"{setups[0]['workers']} ({setups[0]['workers_from']})",
                   f"{setups[1]['workers']} ({setups[1]['workers_from']})")
    workers.flagged = setups[0]["workers"] != setups[1]["workers"]
    return [program, workers]


def _options(old: list[str], new: list[str], versions: tuple[str, str]) -> list[DriftRow]:
    values = [_option_values(args) for args in (old, new)]
    rows = []
    for name in sorted((set(values[0]) | set(values[1])) - {"--workers", "-w"}):
        row = _row(f"option {name}", values[0].get(name, ""), values[1].get(name, ""))
        for index, version in enumerate(versions):
            if name not in values[index] and _predates(version, name):
                row.flagged, row.note = False, f"{version} has no {name} (from {SINCE[name]})"
        rows.append(row)
    return rows


def _option_values(args: list[str]) -> dict[str, str]:
    return {found.name: found.value if found.value is not None else "(set)"
            for found in server_options("server options", args)}


def _predates(version: str, option: str) -> bool:
    try:
        return option in SINCE and Version(version) < Version(SINCE[option])
    except InvalidVersion:
        return False


def _pairs(kind: str, old: dict[str, str], new: dict[str, str]) -> list[DriftRow]:
    return [_row(f"{kind} {name}", old.get(name, ""), new.get(name, ""))
            for name in sorted(set(old) | set(new))]


def _settings(auth: dict[str, str]) -> dict[str, str]:
    """The settings, not where they were read (two files may say the same)."""
    return {key: value for key, value in auth.items() if key != "file"}
