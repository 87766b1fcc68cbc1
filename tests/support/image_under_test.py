"""The function's OCI image for the container tests: built by ``image/build``, loaded into podman, run for real.

:func:`session_image` is what the ``function_image`` fixture (tests/container/conftest.py) gives,
once per session: the image built from this checkout (the base layer comes from the build's cache
under ``$R2K8S_CI_CACHE/image``; only r2k8s's layer is made anew) and loaded into podman's store
under a repository of its own (:data:`REPOSITORY`), so the tests never replace an image a user
loaded as ``localhost/r2k8s/function``. kustomize and ``kubectl kustomize`` always exec ``docker``;
two environments give them one:

* ``env``: ``docker`` is podman itself (a private link first on PATH; podman takes docker's flags),
  as Debian's ``podman-docker`` package makes it. kpt runs podman too (``KPT_FN_RUNTIME=podman``).
* ``api_env``: the machine's docker client against a podman API service started for the session on
  a private socket (stopped after it), ``DOCKER_HOST`` naming it; without a docker client, podman's
  remote client against the same service. This is how a docker user runs the image, but podman
  before 4.6 (Debian 12 has 4.3.1) answers the client's ``docker run --rm`` with exit status 0
  whatever the container's (containers/podman#18889, fixed by #18912): kustomize would then print
  the unexpanded input as a success. So the function's failures are shown with ``env``.

Missing podman, skopeo or mmdebstrap is installed by ``.ci/install-container-runtime`` (once per
session); when that cannot be done, the tests fail with the reason: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import installs
import pytest
from repo import REPO_ROOT

__all__ = ["BUILD", "REPOSITORY", "FunctionImage", "build", "ensure_runtime", "session_image"]

BUILD = REPO_ROOT / "image" / "build"
INSTALL = REPO_ROOT / ".ci" / "install-container-runtime"
REPOSITORY = "localhost/r2k8s-test/function"
PROGRAMS = ("podman", "skopeo", "mmdebstrap")


@dataclass(frozen=True)
class FunctionImage:
    """The loaded image: its name (``REPOSITORY:vX.Y.Z``), manifest digest, archive, and the two environments."""

    name: str
    digest: str
    archive: Path
    env: dict[str, str]
    api_env: dict[str, str]


@dataclass(frozen=True)
class Built:
    archive: Path
    digest: str
    names: list[str]


def ensure_runtime() -> None:
    """podman, skopeo and mmdebstrap on PATH, installed by ``.ci/install-container-runtime`` when missing."""
    if all(shutil.which(program) for program in PROGRAMS):
        return
    outcome = installs.run_once(("install-container-runtime",), [INSTALL], "podman, skopeo and mmdebstrap")
    missing = [program for program in PROGRAMS if shutil.which(program) is None]
    if missing:
        pytest.fail(
            f"the container tests need {', '.join(missing)}, and {INSTALL.name} could not install them "
            f"({'not root' if installs.not_root() else outcome.describe()}); run .ci/install-container-runtime as root"
        )


def build(output: Path, *options: str) -> Built:
    """Run ``image/build --output OUTPUT OPTIONS…``; fail the test with its output when it fails."""
    result = subprocess.run(
        [str(BUILD), "--output", str(output), *options], capture_output=True, text=True, timeout=1800
    )
    if result.returncode != 0:
        pytest.fail(f"image/build {' '.join(options)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    archive, digest, *names = result.stdout.split()
    return Built(Path(archive), digest, names)


@contextmanager
def docker_api(directory: Path) -> Iterator[str]:
    """A podman API service (Docker-compatible) on a socket in ``directory``; yields its ``DOCKER_HOST``."""
    socket = directory / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not socket.exists():
            if service.poll() is not None:
                pytest.fail(f"podman system service exited {service.returncode}: {service.communicate()[1]}")
            if time.monotonic() > deadline:
                pytest.fail(f"podman system service did not create {socket} within 30 s")
            time.sleep(0.05)
        yield f"unix://{socket}"
    finally:
        service.terminate()
        try:
            service.wait(timeout=10)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()


@contextmanager
def session_image(directory: Path) -> Iterator[FunctionImage]:
    """Build and load the image, serve podman's API, and yield what the tests need; stop the service after."""
    ensure_runtime()
    built = build(directory / "function.oci.tar", "--repository", REPOSITORY, "--load")
    podman = shutil.which("podman") or "podman"
    path = os.environ.get("PATH", "")
    podman_bin = directory / "podman-as-docker"
    podman_bin.mkdir()
    (podman_bin / "docker").symlink_to(podman)
    env = dict(os.environ, KPT_FN_RUNTIME="podman", PATH=f"{podman_bin}{os.pathsep}{path}")
    with docker_api(directory) as docker_host:
        api_env = dict(os.environ, DOCKER_HOST=docker_host)
        if shutil.which("docker") is None:
            remote_bin = directory / "podman-remote-as-docker"
            remote_bin.mkdir()
            (remote_bin / "docker").write_text(f'#!/bin/sh\nexec "{podman}" --remote --url "$DOCKER_HOST" "$@"\n')
            (remote_bin / "docker").chmod(0o755)
            api_env["PATH"] = f"{remote_bin}{os.pathsep}{path}"
        yield FunctionImage(built.names[0], built.digest, built.archive, env, api_env)
