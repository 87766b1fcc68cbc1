"""pytest plugin: the real single-node test cluster (tests/support/testcluster) for tests marked ``e2e``.

* ``cluster_kubeconfig`` (session scope) starts the cluster with ``tests/support/testcluster/up``, or reuses
  the healthy one an earlier session left running, and yields its admin kubeconfig's path.
  With ``$R2K8S_E2E_KUBECONFIG`` set, that cluster is used instead and this one is never touched.
  Not root, or a Debian package or Go missing: the tests are skipped, with the reason.
* The cluster is left running at the end of the session, so that the next session reuses it in
  seconds; ``R2K8S_CLUSTER_DOWN_AT_END=1`` takes it down instead.
* A failing ``e2e`` test gets a report section per cluster component holding what that
  component logged while the test ran (its last lines).
* Tests marked ``cluster_down`` (they take the cluster down) run after every other test.
* Each session holds a shared lock on ``<state dir>.users`` (the session lease, testcluster/lease.py)
  while it uses the cluster; taking the cluster down from a test (or at the end) needs it
  exclusively, so one session does not pull the cluster from under another one running on the same
  machine. ``up`` reads it too: it does not replace a cluster that another session holds (say, one
  started from another build cache), but refuses and names the holders.

Registered from tests/conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from testcluster import lease, node, processes, settings

UP = Path(__file__).resolve().parent / "testcluster" / "up"
#: How many lines of each component's log a failing test's report shows at most.
LOG_LINES = 60
_log_offsets = pytest.StashKey[dict[str, int]]()
_users = pytest.StashKey[object]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster_down: takes the test cluster down; runs after every other test")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("cluster_down") is not None)


def external_kubeconfig() -> Path | None:
    """The cluster named by ``$R2K8S_E2E_KUBECONFIG``, if any."""
    explicit = os.environ.get("R2K8S_E2E_KUBECONFIG")
    return Path(explicit) if explicit else None


def skip_reason() -> str | None:
    """Why this machine cannot run the test cluster, or None."""
    if os.geteuid() != 0:
        return "the test cluster needs root (mounts, a network bridge, containers); or set $R2K8S_E2E_KUBECONFIG"
    missing = node.missing_prerequisites()
    if missing:
        return f"the test cluster needs {'; '.join(missing)} (.ci/install-cluster installs them)"
    return None


@pytest.fixture(scope="session")
def cluster_kubeconfig(request: pytest.FixtureRequest) -> Iterator[Path]:
    """The admin kubeconfig of a running cluster."""
    explicit = external_kubeconfig()
    if explicit is not None:
        yield explicit
        return
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with open(_users_path(), "a") as users:
        fcntl.flock(users, fcntl.LOCK_SH)
        request.config.stash[_users] = users
        kubeconfig = _up(request.config)
        yield kubeconfig
        if os.environ.get("R2K8S_CLUSTER_DOWN_AT_END") == "1":
            if only_user(request.config):
                subprocess.run([str(UP.with_name("down"))], check=True)
            else:
                print(
                    "\nR2K8S_CLUSTER_DOWN_AT_END=1: another session uses the test cluster; left running",
                    file=sys.stderr,
                )


def only_user(config: pytest.Config) -> bool:
    """Whether this session is the only one using the cluster. True turns this session's shared
    lock into an exclusive one, so that no other session starts using the cluster until
    ``shared_again``; False leaves this session's lock shared."""
    users = config.stash.get(_users, None)
    if users is None:
        return False
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        # A failed conversion has dropped the shared lock (flock(2)): take it again.
        fcntl.flock(users, fcntl.LOCK_SH)
        return False


def shared_again(config: pytest.Config) -> None:
    """Let other sessions use the cluster again after ``only_user``."""
    users = config.stash.get(_users, None)
    if users is not None:
        fcntl.flock(users, fcntl.LOCK_SH)


def _users_path() -> Path:
    path = lease.path(settings.layout())
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _up(config: pytest.Config) -> Path:
    """Run ``up`` with its progress lines shown live (a cold start builds for many minutes)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        done = subprocess.run([sys.executable, str(UP)], stdout=subprocess.PIPE, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        logs = settings.layout().logs
        raise RuntimeError(
            f"tests/support/testcluster/up failed (exit {done.returncode}); its output is above, "
            f"the components' logs in {logs}"
        )
    return Path(lines[-1])


def _component_logs() -> dict[str, Path]:
    """The log file of each cluster component (only this suite's own cluster has them)."""
    if external_kubeconfig() is not None:
        return {}
    layout = settings.layout()
    return {name: processes.log_path(layout, name) for name in node.DAEMONS}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("e2e") is not None:
        item.stash[_log_offsets] = {name: _size(path) for name, path in _component_logs().items()}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed and item.get_closest_marker("e2e") is not None:
        offsets = item.stash.get(_log_offsets, {})
        for name, path in _component_logs().items():
            text = _read_from(path, offsets.get(name, 0))
            if text:
                report.sections.append(
                    (f"cluster: {name} log while the test ran (last {LOG_LINES} lines of {path})", text)
                )
    return report


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as log:
            # Lines are short; the last 256 KiB hold far more than LOG_LINES of them.
            log.seek(max(offset, _size(path) - (256 << 10)))
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-LOG_LINES:])
