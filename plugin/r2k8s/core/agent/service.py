"""The service agent: fetches a formula's wares in an init container, then becomes the formula in the main one.

Commands (``python3 /r2k8s/agent/r2k8s-agent.pyz COMMAND``; the spec is in
``$R2K8S_FORMULA``, see :mod:`r2k8s.core.agent.service_spec`):

``fetch [--stage-runtime]``
    The init container: fetch every input ware from its warehouses into the
    ware cache volume, verifying each hash (:class:`WareCache` is
    all-or-nothing, so a wrong hash leaves no entry); with ``--stage-runtime``,
    also stage this interpreter in the cache for a main container that starts
    from the (almost) empty image (:mod:`r2k8s.core.agent.runtime`). On failure it exits
    non-zero with the reason on stderr and in the termination log, so the pod
    stays in ``Init:Error``/``Init:CrashLoopBackOff`` and ``kubectl describe``
    shows why. ``SIGTERM`` (the pod is being deleted) cancels the downloads
    under way (``rio-cancelled``, exit 8; nothing is cached).
``serve``
    The main container, PID 1: import everything first, take over the root
    filesystem (:mod:`r2k8s.core.agent.takeover`), apply repeatr's cradle, then
    fork the action as the formula's uid/gid in its cwd with its environment.
    This process stays PID 1 as a minimal init: it forwards the signals
    Kubernetes sends (``SIGTERM`` on deletion, …) to the action, reaps
    orphans, and exits with the action's status (``128+N`` for a signal).
``run``
    ``fetch`` then ``serve`` in one process, for containers that have no pod
    spec of their own to hold an init container (Argo, Tekton).
``script FILE [ARG...]``
    ``run`` for a Tekton ``script:`` step or sidecar: the action is the script in
    ``FILE`` after the r2k8s prologue, with ``ARG...`` (see :mod:`r2k8s.core.agent.script`).

Arguments after ``serve`` or ``run`` are ones the orchestrator appended to the
container's command — Argo appends a ``script`` template's source file — and
follow the action's argv, as they would follow an image's entrypoint: after the
container's own ``command``/``args``, else after the formula exec's first word
(or alone, when the formula has no exec).

Standard library only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

# Everything ``serve`` touches after the takeover must be imported now: the image's
# standard library is about to be deleted (the reference's §4.6 lesson: tarfile's lazy gzip).
import r2k8s.core.agent.runtime
import r2k8s.core.agent.script
import r2k8s.core.agent.takeover
import r2k8s.core.agent.timings
import r2k8s.core.run.cradle
import r2k8s.core.warehouse.cache
from r2k8s.core.agent.contract import AGENT_COMMANDS, SERVICE_SPEC_ENV, STAGE_RUNTIME_FLAG, TERMINATION_LOG
from r2k8s.core.agent.service_spec import ServiceSpec, action_environment
from r2k8s.core.errors import Category, R2k8sError, redact_credentials
from r2k8s.core.errors import quote as _q
from r2k8s.core.formula.defaults import apply_defaults

__all__ = ["main"]

FORWARDED = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
)
PYTHON_IGNORED = (signal.SIGPIPE, signal.SIGXFSZ)
"""Ignored by the Python runtime at startup; an ignored signal stays ignored across ``execve``, so the action
would inherit them (``subprocess``'s ``restore_signals`` resets the same two)."""
REQUIRED_MODULES = (
    "r2k8s.core.run.cradle",
    "r2k8s.core.agent.takeover",
    "r2k8s.core.ware.tree",
    "r2k8s.core.ware.unpack",
    "r2k8s.core.ware.fsmeta",
    "r2k8s.core.scratch",
    "json",
    "signal",
    "errno",
    "stat",
    "shutil",
    "encodings.idna",
)


def _log(message: str) -> None:
    print(f"r2k8s: {redact_credentials(message)}", file=sys.stderr, flush=True)


def _fail(error: R2k8sError, termination_log: str) -> int:
    _log(error.message)
    with contextlib.suppress(OSError), open(termination_log, "w", encoding="utf-8") as handle:
        handle.write(f"r2k8s: {error.message}"[:4000])
    return error.category.exit_code


def fetch(spec: ServiceSpec, timings: r2k8s.core.agent.timings.Timings | None = None) -> dict[str, Path]:
    """Fill the cache with every input ware; return input path → cached tree."""
    inputs = spec.formula.inputs or {}
    requests = {path: (ware, spec.context.fetch_urls.get(path, ())) for path, ware in inputs.items()}
    for path, (ware, urls) in sorted(requests.items()):
        if ware.is_mount:
            raise R2k8sError(
                Category.ASSEMBLY_INVALID,
                f"input {_q(path)} is a host mount ({ware}); a pod cannot mount the node's paths this way",
            )
        if not urls:
            raise R2k8sError(
                Category.WAREHOUSE_UNAVAILABLE, f"input {_q(path)} ({ware}) has no warehouse to fetch from"
            )
    cache = r2k8s.core.warehouse.cache.WareCache(spec.cache)
    started = time.monotonic()
    # PID 1 of a container ignores a SIGTERM it has no handler for: without this one, deleting a pod
    # whose init container is downloading would wait out the whole termination grace period.
    cancel = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: cancel.set())
    try:
        cached = cache.ensure_all(requests, log=_log, legacy_paths=spec.legacy_inputs, cancel=cancel)
    finally:
        signal.signal(signal.SIGTERM, previous)
    _log(f"{len(cached)} input(s) verified and cached in {time.monotonic() - started:.1f}s")
    if timings is not None:
        timings.mark("fetched")
    return cached


def _cached_inputs(spec: ServiceSpec) -> dict[str, Path]:
    cache = r2k8s.core.warehouse.cache.WareCache(spec.cache)
    found = {}
    for path, ware in (spec.formula.inputs or {}).items():
        entry = cache.path_for(ware, legacy=path in spec.legacy_inputs)
        if not entry.is_dir():
            raise R2k8sError(
                Category.CACHE_PROBLEM,
                f"input {_q(path)} ({ware}) is not in the ware cache at {spec.cache}: did the fetch init"
                " container run?",
            )
        found[path] = entry
    return found


def _resolve_command(argv: tuple[str, ...], env: Mapping[str, str]) -> str:
    """A user's ``command`` may name a program on ``$PATH``, as in any container; a formula's exec may not."""
    if "/" in argv[0]:
        return argv[0]
    for directory in env.get("PATH", "").split(":"):
        candidate = os.path.join(directory or ".", argv[0])
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return argv[0]


def serve(
    spec: ServiceSpec,
    root: str = "/",
    *,
    environ: Mapping[str, str] | None = None,
    extra: tuple[str, ...] = (),
    script: r2k8s.core.agent.script.Script | None = None,
    timings: r2k8s.core.agent.timings.Timings | None = None,
) -> int:
    """Take over ``root`` and run the action as its child; return the action's exit status.

    ``extra``: arguments appended to the action's argv (see the module's docstring); with ``script``, the
    action is that script and ``extra`` its arguments."""
    # Blocked from here on, not only once the action runs: a SIGTERM during the takeover (PID 1 would drop it)
    # stays pending and is forwarded to the action as soon as it exists.
    signal.pthread_sigmask(signal.SIG_BLOCK, set(FORWARDED) | {signal.SIGCHLD})
    missing = [name for name in REQUIRED_MODULES if name not in sys.modules]
    for name in missing:
        __import__(name)
    inputs = _cached_inputs(spec)
    formula = apply_defaults(spec.formula)
    action = formula.action
    if spec.cwd is not None:
        action = dataclasses.replace(action, cwd=spec.cwd)
    if action.exec is None and spec.argv is None and not extra and script is None:
        raise R2k8sError(Category.JOB_INVALID, "the formula has no action exec and the container no command")
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
        mountinfo = handle.read()
    r2k8s.core.agent.takeover.take_over(root, inputs, mountinfo, _log, timings)
    r2k8s.core.run.cradle.tidy_filesystem(root, action)
    env = action_environment(os.environ if environ is None else environ, spec)
    argv = spec.argv if spec.argv is not None else tuple(action.exec or ())
    if script is not None:
        argv = script.argv(extra)
    elif extra:
        argv = (*(spec.argv if spec.argv is not None else tuple(action.exec or ())[:1]), *extra)
    program = _resolve_command(argv, env) if spec.argv is not None and script is None else argv[0]
    userinfo = action.userinfo
    uid, gid = (userinfo.uid, userinfo.gid) if userinfo else (1000, 1000)
    _log(f"formula {spec.formula_id}: starting {argv[0]!r} as {uid}:{gid} in {action.cwd}")
    if timings is not None:
        timings.mark("exec")
        timings.log()
    return _supervise(root, program, argv, env, action.cwd or "/", uid or 0, gid or 0)


def _child(
    root: str, program: str, argv: tuple[str, ...], env: Mapping[str, str], cwd: str, uid: int, gid: int
) -> NoReturn:  # pragma: no cover - runs in the forked child
    try:
        for signum in FORWARDED + PYTHON_IGNORED:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())
        if root != "/":
            os.chroot(root)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        os.chdir(cwd)
        os.execve(program, list(argv), dict(env))
    except OSError as exc:
        os.write(2, f"r2k8s: cannot start {argv[0]!r} (cwd {cwd}): {exc.strerror}\n".encode())
        os._exit(Category.JOB_INVALID.exit_code)
    os._exit(127)


def _supervise(
    root: str, program: str, argv: tuple[str, ...], env: Mapping[str, str], cwd: str, uid: int, gid: int
) -> int:
    """Fork the action; forward signals to it; reap every child; return its exit status."""
    signal.pthread_sigmask(signal.SIG_BLOCK, set(FORWARDED) | {signal.SIGCHLD})
    pid = os.fork()
    if pid == 0:
        _child(root, program, argv, env, cwd, uid, gid)
    while True:
        signum = signal.sigwait(set(FORWARDED) | {signal.SIGCHLD})
        if signum != signal.SIGCHLD:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
            continue
        while True:  # reap the action and any orphan re-parented to us
            try:
                reaped, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return 0
            if reaped == 0:
                break
            if reaped == pid:
                return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in AGENT_COMMANDS:
        _log(f"usage: r2k8s-agent.pyz {'|'.join(AGENT_COMMANDS)}  (the formula spec is read from ${SERVICE_SPEC_ENV})")
        return Category.USAGE.exit_code
    command = args[0]
    timings = r2k8s.core.agent.timings.Timings(command)
    try:
        spec = ServiceSpec.from_json(os.environ.get(SERVICE_SPEC_ENV, ""))
        if command == "script":
            if len(args) < 2:
                raise R2k8sError(Category.USAGE, "usage: r2k8s-agent.pyz script FILE [ARG...]")
            script = r2k8s.core.agent.script.read_script(args[1])
            fetch(spec, timings)
            return serve(spec, extra=tuple(args[2:]), script=script, timings=timings)
        if command in ("fetch", "run"):
            fetch(spec, timings)
        if command == "fetch" and STAGE_RUNTIME_FLAG in args[1:]:
            for name in REQUIRED_MODULES:  # what serve imports before the takeover, staged with the rest
                __import__(name)
            r2k8s.core.agent.runtime.stage_runtime(spec.cache, _log)
            timings.mark("staged")
        if command in ("serve", "run"):
            return serve(spec, extra=tuple(args[1:]), timings=timings)
        timings.log()
        return 0
    except R2k8sError as exc:
        return _fail(exc, TERMINATION_LOG)
    except KeyboardInterrupt:
        return Category.CANCELLED.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
