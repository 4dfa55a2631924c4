"""A stand-in for a team's MLflow image (their `Dockerfile.mlflow`), built with no registry.

Teams build `FROM python` + `pip install mlflow==X psycopg2-binary boto3`. Here no base image
can be pulled, so the image starts from the bookworm minbase that `.ci/docker.sh up` imports
(Debian's python3, the same first layer as the moto image) and takes its packages from the
harness's own uv environment of that version, copied in as a site folder: the same wheels a
`pip install` would unpack, without downloading ~300 MB again. `mlflow` is on PATH, as in any
image made with pip. The tag carries the environment's digest, so it is built once per machine.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.config import default_cache_dir
from harness.envs.builder import EnvRequest, ensure_env
from harness.envs.spec import parse_spec

BASE_IMAGE = "mlflow-upgrade-harness/bookworm-minbase:latest"
BUILD_TIMEOUT_S = 900

DOCKERFILE = f"""\
FROM {BASE_IMAGE}
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
      python3 python3-venv \\
 && rm -rf /var/lib/apt/lists/*
COPY site /opt/mlflow/site
ENV PYTHONPATH=/opt/mlflow/site
RUN printf '#!/bin/sh\\nexec python3 -m mlflow "$@"\\n' > /usr/local/bin/mlflow \\
 && chmod +x /usr/local/bin/mlflow && mlflow --version
"""


def image_exists(image: str, env: dict[str, str]) -> bool:
    done = subprocess.run(["docker", "image", "inspect", image], capture_output=True,
                          timeout=60, env=env, check=False)
    return done.returncode == 0


def build_mlflow_image(version: str, env: dict[str, str], log_dir: Path) -> str:
    """The tag of an image with MLflow `version` on PATH, built unless it already exists."""
    mlflow_env = ensure_env(EnvRequest(parse_spec(version), ()), default_cache_dir(), log_dir)
    image = f"mlflow-upgrade-harness/mlflow:{mlflow_env.mlflow_version}-{mlflow_env.digest[:12]}"
    if image_exists(image, env):
        return image
    if not image_exists(BASE_IMAGE, env):
        raise RuntimeError(f"{BASE_IMAGE} is missing: run `source .ci/docker.sh up` first")
    site = next((mlflow_env.path / "lib").glob("python3*/site-packages"))
    with tempfile.TemporaryDirectory(prefix="muh-mlflow-image-") as context:
        (Path(context) / "Dockerfile").write_text(DOCKERFILE)
        shutil.copytree(site, Path(context) / "site", symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        subprocess.run(["docker", "build", "-q", "-t", image, context], check=True,
                       capture_output=True, timeout=BUILD_TIMEOUT_S,
                       env={**env, "DOCKER_BUILDKIT": "0"})
    return image
