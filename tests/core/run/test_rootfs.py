"""Path resolution and directory making inside a job's root never escape it, and match the kernel's view."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r2k8s.core.errors import R2k8sError
from r2k8s.core.formula.defaults import apply_defaults
from r2k8s.core.formula.model import Action, Formula, Userinfo
from r2k8s.core.run.cradle import tidy_filesystem
from r2k8s.core.run.rootfs import DirProps, mkdir_usable, resolve
from r2k8s.core.ware.fsmeta import DEFAULT_TIME

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chroot and chown need root")

NAMES = st.sampled_from(["a", "b", "c", "..", "."])
TARGETS = st.lists(NAMES, min_size=0, max_size=4).flatmap(
    lambda parts: st.sampled_from(["/", ""]).map(lambda lead: lead + "/".join(parts))
)


def build_tree(root: Path, dirs: list[str], links: list[tuple[str, str]], files: list[str]) -> None:
    for d in dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
    for name, target in links:
        path = root / name
        if not os.path.lexists(path) and path.parent.is_dir() and not path.parent.is_symlink():
            os.symlink(target or ".", path)
    for name in files:
        path = root / name
        if not os.path.lexists(path) and path.parent.is_dir() and not path.parent.is_symlink():
            path.write_text("f")


def realpath_after_chroot(root: Path, query: str) -> str:
    """What the kernel resolves ``query`` to once ``root`` is ``/`` (Python's realpath in a chrooted child)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.chroot(root)
            os.chdir("/")
            os.write(write_end, os.path.realpath(query).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        answer = f.read().decode()
    os.waitpid(pid, 0)
    return answer


@needs_root
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dirs=st.lists(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3).map("/".join), max_size=5),
    links=st.lists(
        st.tuples(st.lists(st.sampled_from(["a", "b", "c", "l"]), min_size=1, max_size=3).map("/".join), TARGETS),
        max_size=4,
    ),
    query=st.lists(NAMES | st.just("l"), min_size=0, max_size=6).map(lambda p: "/" + "/".join(p)),
)
def test_resolve_agrees_with_the_kernel_after_chroot_and_stays_inside(tmp_path_factory, dirs, links, query) -> None:
    root = tmp_path_factory.mktemp("root")
    build_tree(root, dirs, links, [])
    try:
        ours = resolve(str(root), query)
    except OSError as exc:
        assert exc.errno in (20, 40)  # ENOTDIR / ELOOP: the kernel would refuse too
        return
    assert ours == str(root) or ours.startswith(str(root) + "/")
    expected = realpath_after_chroot(root, query)
    assert ours == (str(root) if expected == "/" else str(root) + expected)


def test_an_absolute_symlink_means_a_path_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "busybox").write_text("x")
    os.symlink("/bin/busybox", tmp_path / "bin" / "echo")
    os.symlink("../../../../etc", tmp_path / "up")
    assert resolve(str(tmp_path), "/bin/echo") == str(tmp_path / "bin" / "busybox")
    assert resolve(str(tmp_path), "/up/passwd") == str(tmp_path / "etc" / "passwd")  # '..' stops at the root
    assert resolve(str(tmp_path), "/bin/echo", follow_last=False) == str(tmp_path / "bin" / "echo")


def test_a_symlink_loop_is_eloop(tmp_path: Path) -> None:
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(OSError) as caught:
        resolve(str(tmp_path), "/a/x")
    assert caught.value.errno == 40


@needs_root
def test_mkdir_usable_follows_rios_rules(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "home").mkdir(parents=True, mode=0o750)
    os.chmod(root / "home", 0o750)
    os.utime(root / "home", (0, 1_000_000_000))
    os.utime(root, (0, 1_100_000_000))
    mkdir_usable(str(root), "/home/dev/work", DirProps(uid=1234, gid=99))
    home, dev, work = (os.lstat(root / p) for p in ("home", "home/dev", "home/dev/work"))
    assert stat.S_IMODE(home.st_mode) == 0o751  # existing parents become traversable by others
    assert (home.st_uid, home.st_mtime) == (0, 1_000_000_000)  # ... and keep their owner and mtime
    assert (dev.st_uid, dev.st_gid, stat.S_IMODE(dev.st_mode), dev.st_mtime) == (1234, 99, 0o755, DEFAULT_TIME)
    assert (work.st_uid, work.st_gid, stat.S_IMODE(work.st_mode)) == (1234, 99, 0o755)
    assert os.lstat(root).st_mtime == 1_100_000_000
    os.chmod(root / "home" / "dev" / "work", 0o500)
    mkdir_usable(str(root), "/home/dev/work", DirProps(uid=7, gid=7))
    final = os.lstat(root / "home/dev/work")
    assert (stat.S_IMODE(final.st_mode), final.st_uid) == (0o700, 7)  # the last one gets u+rwx and the owner


def test_mkdir_usable_refuses_a_symlink_on_the_way(tmp_path: Path) -> None:
    os.symlink("/etc", tmp_path / "task")
    with pytest.raises(NotADirectoryError, match="is a symlink"):
        mkdir_usable(str(tmp_path), "/task/out", DirProps(uid=os.getuid(), gid=os.getgid()))


@needs_root
def test_the_cradle_follows_a_tmp_symlink_inside_the_root_only(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "var" / "tmp").mkdir(parents=True)
    os.chmod(root / "var" / "tmp", 0o700)
    os.symlink("/var/tmp", root / "tmp")
    host_var_tmp = os.lstat("/var/tmp")
    action = apply_defaults(Formula(action=Action(exec=("/x",), userinfo=Userinfo(uid=1000, gid=1000)))).action
    tidy_filesystem(str(root), action)
    assert stat.S_IMODE(os.lstat(root / "var" / "tmp").st_mode) == 0o1777
    assert os.lstat("/var/tmp") == host_var_tmp
    assert (root / "task").is_dir() and (root / "home" / "reuser").is_dir()


def test_the_cradle_reports_which_directory_it_could_not_make(tmp_path: Path) -> None:
    (tmp_path / "task").write_text("not a dir")
    action = apply_defaults(
        Formula(action=Action(exec=("/x",), userinfo=Userinfo(uid=os.getuid(), gid=os.getgid())))
    ).action
    with pytest.raises(R2k8sError, match=r"failed building cradle fs \(cwd\)") as caught:
        tidy_filesystem(str(tmp_path), action)
    assert caught.value.category.exit_code == 40
