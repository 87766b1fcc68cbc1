"""Shared test configuration: this checkout's code in every subprocess, the test cluster fixture, and
the installs the session makes itself (the pinned tools, busybox-static) when they are missing."""

from __future__ import annotations

import os

from repo import PLUGIN_DIR

# Subprocesses (``python -m r2k8s``, import probes) must run this checkout's code,
# not whichever checkout an editable install happens to point at.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGIN_DIR), os.environ.get("PYTHONPATH")]))

pytest_plugins = ["installs", "busybox_rootfs", "cluster_fixture"]
