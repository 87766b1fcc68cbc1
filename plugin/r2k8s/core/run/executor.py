"""Start a formula's action inside its assembled root: the ``namespaced`` and ``chroot`` executors.

``namespaced`` (the default; what repeatr's runc executor configures,
``executor/impl/runc/runcConfig.go``): new pid, mount, uts and ipc
namespaces and the host's network; ``/proc``; a tmpfs ``/dev`` with the usual
nodes plus ``devpts``, ``shm`` and ``mqueue``; runc's masked and read-only
``/proc`` paths; ``pivot_root`` into the tree; hostname from the formula (or
the job guid); ``RLIMIT_NOFILE`` 1024; the policy's capabilities in every
set (ambient too, so a non-root action keeps them); ``no_new_privs``.

``chroot`` (repeatr's chroot executor): ``chroot`` and the user's uid/gid,
nothing else: no namespaces, no ``/proc``, no hostname, all the
capabilities root has when the uid is 0.

Process shape of ``namespaced``: this process forks a *keeper* which
unshares the pid namespace and forks the *action*, pid 1 of that namespace.
The keeper forwards signals to the action and exits with the action's
status (``128+N`` for a signal, as repeatr reports it). Every process in the
chain has a parent-death signal of ``SIGKILL``, and the kernel kills a pid
namespace whose init dies, so if r2k8s itself is killed nothing of the job
keeps running.

Setup failures in a child are written to a close-on-exec pipe and raised
here as :class:`R2k8sError`, the way :mod:`subprocess` reports exec errors;
an empty pipe at EOF means the ``execve`` happened. Standard library only;
Linux only; needs root (``CAP_SYS_ADMIN`` for the namespaced executor).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import resource
import signal
import socket
import stat
from collections.abc import Callable
from typing import NoReturn

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.run import linux
from r2k8s.core.run.rootfs import keep_mtime

__all__ = ["EXECUTORS", "ActionSpec", "Executor", "Running", "executor_named", "exit_code_of"]

EXECUTORS = ("namespaced", "chroot")
ALIASES = {"runc": "namespaced"}
"""repeatr's executor names that mean the same thing here."""

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)

_DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))
_DEV_LINKS = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
)
_MASKED = ("/proc/kcore", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug")
_READONLY = ("/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
_MOUNTPOINTS = ("proc", "dev")


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    """Everything needed to start the action, with formula defaults already applied."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str
    uid: int
    gid: int
    hostname: str
    capabilities: frozenset[int]


def exit_code_of(status: int) -> int:
    """A wait status as repeatr reports it: the exit code, or 128+N when killed by signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


# -- the parent side ----------------------------------------------------------------------


class Running:
    """A started action: wait for it, or stop it."""

    def __init__(self, pid: int, group: bool) -> None:
        self.pid = pid
        self._group = group
        self.exit_code: int | None = None

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self._group:
                os.killpg(self.pid, signum)
            else:
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        """Ask the action to stop (``SIGTERM``; the pid-1 action may ignore it)."""
        if self.exit_code is None:
            self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """Stop the action and everything it started, now."""
        if self.exit_code is None:
            self._signal(signal.SIGKILL)

    def wait(self) -> int:
        """Block until the action exits; return its exit code (see :func:`exit_code_of`)."""
        if self.exit_code is None:
            _, status = os.waitpid(self.pid, 0)
            self.exit_code = exit_code_of(status)
            if self._group:  # the chroot executor has no pid namespace: sweep what the action left running
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)
        return self.exit_code


class Executor:
    """One way of starting an action; see the module docstring."""

    name = ""

    def prepare(self, root: str) -> Callable[[], None]:
        """Make what the executor needs inside ``root``; return the undo (run after the action)."""
        return lambda: None

    def start(self, root: str, spec: ActionSpec, output_fd: int) -> Running:
        """Start the action with stdin ``/dev/null`` and stdout+stderr on ``output_fd``."""
        raise NotImplementedError


def executor_named(name: str) -> Executor:
    """``namespaced``, ``chroot`` (or repeatr's ``runc``, meaning ``namespaced``)."""
    name = ALIASES.get(name, name)
    if name == "namespaced":
        return NamespacedExecutor()
    if name == "chroot":
        return ChrootExecutor()
    raise R2k8sError(Category.USAGE, f"unknown executor {name!r} (use one of: {', '.join(EXECUTORS)})")


def _spawn(child: Callable[[int], NoReturn], group: bool) -> Running:
    """Fork; the child runs ``child(error_fd)`` (which must exec or ``_exit``); report its setup errors."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child; its effects are tested end to end
        os.close(read_end)
        for signum in FORWARDED_SIGNALS:  # the parent's Python handlers must not run here
            signal.signal(signum, signal.SIG_DFL)
        try:
            linux.set_parent_death_signal(signal.SIGKILL)
            if os.getppid() != parent:
                os._exit(126)
            child(write_end)
        except BaseException as exc:
            _report(write_end, exc)
        os._exit(127)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as errors:
            data = errors.read()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    running = Running(pid, group)
    if data:
        running.kill()
        running.wait()
        raise _decode_report(data)
    return running


def _report(fd: int, exc: BaseException) -> None:
    payload: dict[str, str | int]
    if isinstance(exc, R2k8sError):
        payload = {"category": exc.category.name, "message": exc.message}
    elif isinstance(exc, OSError):
        message = exc.strerror or str(exc)
        if exc.filename and str(exc.filename) not in message:
            message = f"{exc.filename}: {message}"
        payload = {"category": Category.EXECUTOR_FAILED.name, "message": message, "errno": exc.errno or 0}
    else:
        payload = {"category": Category.EXECUTOR_FAILED.name, "message": f"{type(exc).__name__}: {exc}"}
    with contextlib.suppress(OSError):
        os.write(fd, json.dumps(payload).encode("utf-8", "surrogateescape"))


def _decode_report(data: bytes) -> R2k8sError:
    try:
        payload = json.loads(data)
        category = Category[payload["category"]]
        message = payload["message"]
    except (ValueError, KeyError, TypeError):
        return R2k8sError(Category.EXECUTOR_FAILED, f"executor failed: {data[:200]!r}")
    if payload.get("errno") == 1:  # EPERM
        message += " (the executors need root: run r2k8s as root, with CAP_SYS_ADMIN)"
    return R2k8sError(category, f"executor failed to launch the action: {message}")


def _stdio(stdin_fd: int, output_fd: int) -> None:
    os.dup2(stdin_fd, 0)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)


def _become(spec: ActionSpec, keep_caps: bool) -> None:
    """Switch to the action's uid/gid (and, for ``namespaced``, exactly its capabilities)."""
    if keep_caps:
        linux.set_keep_caps(True)
        linux.drop_bounding_caps(spec.capabilities)
    os.setgroups([])
    os.setgid(spec.gid)
    os.setuid(spec.uid)
    if keep_caps:
        linux.capset(spec.capabilities)
        linux.raise_ambient_caps(spec.capabilities)
        linux.set_keep_caps(False)
        linux.set_no_new_privs()
    linux.set_parent_death_signal(signal.SIGKILL)  # changing uid cleared it


# -- chroot -----------------------------------------------------------------------------------


class ChrootExecutor(Executor):
    """``chroot`` + uid/gid, as repeatr's chroot executor (Go's ``SysProcAttr.Chroot``/``Credential``)."""

    name = "chroot"

    def start(self, root: str, spec: ActionSpec, output_fd: int) -> Running:
        def child(_error_fd: int) -> NoReturn:  # pragma: no cover - child process
            os.setpgid(0, 0)
            devnull = os.open(os.devnull, os.O_RDONLY)
            _stdio(devnull, output_fd)
            os.chroot(root)
            _become(spec, keep_caps=False)
            try:
                os.chdir(spec.cwd)  # Go changes directory after the credentials
            except OSError as exc:
                raise R2k8sError(Category.JOB_INVALID, f"cwd invalid: {spec.cwd}: {exc.strerror}") from None
            os.execve(spec.argv[0], list(spec.argv), spec.env)

        return _spawn(child, group=True)


# -- namespaced ---------------------------------------------------------------------------


class NamespacedExecutor(Executor):
    """A runc-like sandbox without runc; see the module docstring."""

    name = "namespaced"

    def prepare(self, root: str) -> Callable[[], None]:
        """``/proc`` and ``/dev`` must be directories to mount on; make missing ones, remove them after."""
        made: list[str] = []
        for name in _MOUNTPOINTS:
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                with keep_mtime(root):
                    os.mkdir(path, 0o755)
                made.append(path)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise R2k8sError(
                    Category.JOB_INVALID, f"cannot mount /{name} in the job: /{name} exists and is not a directory"
                )

        def undo() -> None:
            for path in made:
                with keep_mtime(root), contextlib.suppress(OSError):
                    os.rmdir(path)

        return undo

    def start(self, root: str, spec: ActionSpec, output_fd: int) -> Running:
        linux.cap_last_cap()  # read /proc now: after pivot_root it is the job's /proc, and the libc is resolved
        linux.prctl(linux.PR_SET_KEEPCAPS, 0)  # resolve prctl's signature too

        def keeper(error_fd: int) -> NoReturn:  # pragma: no cover - child process
            linux.unshare(linux.CLONE_NEWPID)
            action_pid = os.fork()
            if action_pid == 0:
                try:
                    _enter_sandbox(root, spec, output_fd)
                except BaseException as exc:
                    _report(error_fd, exc)
                os._exit(127)
            os.close(error_fd)

            def forward(signum: int, _frame: object) -> None:
                with contextlib.suppress(OSError):
                    os.kill(action_pid, signum)

            for signum in FORWARDED_SIGNALS:
                signal.signal(signum, forward)
            _, status = os.waitpid(action_pid, 0)
            os._exit(exit_code_of(status))

        return _spawn(keeper, group=False)


def _enter_sandbox(root: str, spec: ActionSpec, output_fd: int) -> NoReturn:  # pragma: no cover - child process
    """In the action process (pid 1 of its namespace): build the sandbox, then exec."""
    linux.set_parent_death_signal(signal.SIGKILL)
    linux.unshare(linux.CLONE_NEWNS | linux.CLONE_NEWUTS | linux.CLONE_NEWIPC)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    linux.mount(root, root, None, linux.MS_BIND | linux.MS_REC)  # pivot_root needs a mount point
    _mount_dev(root)
    _mount_proc(root)  # after /dev: masking binds /dev/null over files in /proc
    socket.sethostname(spec.hostname)
    os.chdir(root)
    linux.pivot_root(".", ".")
    linux.umount2(".", linux.MNT_DETACH)
    os.chdir("/")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    _stdio(os.open("/dev/null", os.O_RDONLY), output_fd)
    try:
        os.chdir(spec.cwd)
    except OSError as exc:
        raise R2k8sError(Category.JOB_INVALID, f"cwd invalid: {spec.cwd}: {exc.strerror}") from None
    _become(spec, keep_caps=True)
    os.execve(spec.argv[0], list(spec.argv), spec.env)
    raise AssertionError("unreachable")


def _mount_proc(root: str) -> None:
    proc = os.path.join(root, "proc")
    linux.mount("proc", proc, "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    dev_null = os.path.join(root, "dev", "null")
    for path in _MASKED:
        target = root + path
        if os.path.isfile(target):
            linux.mount(dev_null, target, None, linux.MS_BIND)
    for path in _READONLY:
        target = root + path
        if os.path.exists(target):
            linux.mount(target, target, None, linux.MS_BIND | linux.MS_REC)
            linux.mount(
                target,
                target,
                None,
                linux.MS_BIND
                | linux.MS_REC
                | linux.MS_RDONLY
                | linux.MS_REMOUNT
                | linux.MS_NOSUID
                | linux.MS_NODEV
                | linux.MS_NOEXEC,
            )


def _mount_dev(root: str) -> None:
    dev = os.path.join(root, "dev")
    linux.mount("tmpfs", dev, "tmpfs", linux.MS_NOSUID | linux.MS_STRICTATIME, "mode=755,size=65536k")
    for name, major, minor in _DEVICES:
        path = os.path.join(dev, name)
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod(path, 0o666)
    for name, target in _DEV_LINKS:
        os.symlink(target, os.path.join(dev, name))
    if os.path.exists(os.path.join(root, "proc", "kcore")):
        os.symlink("/proc/kcore", os.path.join(dev, "core"))
    for name in ("pts", "shm", "mqueue"):
        os.mkdir(os.path.join(dev, name), 0o755)
    linux.mount(
        "devpts",
        os.path.join(dev, "pts"),
        "devpts",
        linux.MS_NOSUID | linux.MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
    )
    linux.mount(
        "shm",
        os.path.join(dev, "shm"),
        "tmpfs",
        linux.MS_NOSUID | linux.MS_NOEXEC | linux.MS_NODEV,
        "mode=1777,size=65536k",
    )
    linux.mount("mqueue", os.path.join(dev, "mqueue"), "mqueue", linux.MS_NOSUID | linux.MS_NOEXEC | linux.MS_NODEV)
