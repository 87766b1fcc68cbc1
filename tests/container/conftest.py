"""Fixtures of the container tests: the function's image loaded into podman (once per session) and
``r2k8s`` on PATH for the exec form each container run is compared with."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from image_under_test import FunctionImage, session_image


@pytest.fixture(scope="session")
def function_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FunctionImage]:
    with session_image(tmp_path_factory.mktemp("function-image")) as image:
        yield image


@pytest.fixture(scope="session")
def env(function_image: FunctionImage, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The image's environment with an ``r2k8s`` on PATH that runs this checkout (the exec form)."""
    directory = tmp_path_factory.mktemp("bin")
    script = directory / "r2k8s"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m r2k8s "$@"\n')
    script.chmod(0o755)
    return dict(function_image.env, PATH=f"{directory}{os.pathsep}{function_image.env.get('PATH', '')}")
