"""Run one formula on this machine, as ``repeatr run`` does: fetch, assemble, cradle, exec, pack, save.

The phases follow repeatr's executors (``executor/impl/*``,
``executor/mixins/main.go`` ``WithFilesystem``):

1. defaults are applied and the run record started (guid, start time,
   formula ID, the host's name); a formula that holds a NUL byte where the
   kernel takes a C string is refused, naming the field
   (:func:`refuse_nul_bytes`);
2. inputs are fetched in parallel into the ware cache (verified; a ware
   already cached is not fetched again);
3. they are placed into a fresh job root in path order (:mod:`assembly`);
4. the cradle makes cwd, home and ``/tmp`` usable (:mod:`cradle`);
5. the action's ``exec[0]`` and cwd are checked (``repeatr-job-invalid``
   rather than a confusing exec error), then the executor runs it; its merged
   output goes to the monitor line by line;
6. every output path is packed with its filters over repeatr's defaults
   (``flatten``) and saved to its save URL, even when the action exited
   non-zero (that is reported in ``exitCode``, not as a failure);
7. the mounts are undone and the job directory removed.

Failures of r2k8s itself raise :class:`R2k8sError`; there is no run record
then, as in repeatr. A stop request (:meth:`Job.cancel`, wired to SIGINT and
SIGTERM by the CLI) stops the action (``SIGTERM``, then ``SIGKILL`` after a
grace period), skips packing and raises ``rio-cancelled``; the job directory
is removed either way. Job directories hold a lock while in use
(:mod:`scratch`), so one left by a killed run is removed by the next.

The mounts of step 3 must live in a private mount namespace:
:func:`enter_private_mount_namespace` makes one for the calling process (it
must be called while the process has a single thread). Standard library
only: the same pipeline runs inside pods.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import stat
import threading
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Protocol

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.errors import quote as _q
from r2k8s.core.formula.defaults import apply_defaults
from r2k8s.core.formula.model import Formula, FormulaContext
from r2k8s.core.jsonpath import JsonPath, json_path
from r2k8s.core.run.assembly import assemble, parse_mount
from r2k8s.core.run.cradle import dirprops_for_userinfo, tidy_filesystem
from r2k8s.core.run.executor import ActionSpec, Executor, Running, executor_named
from r2k8s.core.run.policy import capabilities_for
from r2k8s.core.run.record import RunRecord, new_guid
from r2k8s.core.run.rootfs import resolve
from r2k8s.core.scratch import scratch_dir, sweep_stale
from r2k8s.core.ware.filters import FLATTEN, KEYS, PACK, Filters
from r2k8s.core.ware.pack import PACKTYPES, pack_tree
from r2k8s.core.ware.wareid import WareID
from r2k8s.core.warehouse.cache import WareCache
from r2k8s.core.warehouse.save import begin_save
from r2k8s.core.warehouse.urls import WarehouseURL

__all__ = [
    "DEFAULT_STOP_GRACE",
    "JOBS_ENV",
    "OUTPUT_DRAIN_SECONDS",
    "Job",
    "JobOptions",
    "Monitor",
    "default_jobs_dir",
    "refuse_nul_bytes",
]


JOBS_ENV = "R2K8S_JOBS"
"""Environment variable naming the directory for job working trees (see :func:`default_jobs_dir`)."""


DEFAULT_STOP_GRACE = 5.0


OUTPUT_DRAIN_SECONDS = 10.0


class Monitor(Protocol):
    """Where a job reports: log lines, and the action's output one line at a time."""

    def log(self, line: str) -> None: ...

    def output(self, line: bytes) -> None: ...


def default_jobs_dir() -> Path:
    """``$R2K8S_JOBS`` if set, else ``/var/tmp/r2k8s/jobs`` (disk-backed, unlike many ``/tmp``)."""
    configured = os.environ.get(JOBS_ENV)
    return Path(os.path.abspath(configured)) if configured else Path("/var/tmp/r2k8s/jobs")


@dataclasses.dataclass
class JobOptions:
    """How to run: which executor and placer, where the cache and job trees live."""

    executor: str = "namespaced"
    placer: str = "auto"
    cache: WareCache = dataclasses.field(default_factory=WareCache)
    jobs_dir: Path = dataclasses.field(default_factory=default_jobs_dir)
    stop_grace: float = DEFAULT_STOP_GRACE


def _cancelled(reason: str) -> R2k8sError:
    return R2k8sError(Category.CANCELLED, f"cancelled: {reason}")


class Job:
    """One run of one formula; call :meth:`run` once."""

    def __init__(
        self,
        formula: Formula,
        context: FormulaContext,
        formula_id: str,
        monitor: Monitor,
        options: JobOptions | None = None,
        *,
        base_dir: Path | None = None,
        legacy_inputs: Collection[str] = (),
    ) -> None:
        self._written = formula
        self.formula = _as_rio_sees_it(apply_defaults(formula))
        self.context = context
        self.options = options or JobOptions()
        self.monitor = monitor
        self.base_dir = base_dir
        self.legacy_inputs = legacy_inputs
        self.record = RunRecord(
            guid=new_guid(),
            time=int(time.time()),
            formula_id=formula_id,
            exit_code=-1,
            results=None,
            hostname=socket.gethostname(),
        )
        self._stop_reason: str | None = None
        self._stopping = threading.Event()  # tells fetches under way to give up
        self._running: Running | None = None
        self._lock = threading.RLock()  # re-entered by signal handlers on the main thread
        self._executor: Executor = executor_named(self.options.executor)

    # -- stopping -------------------------------------------------------------------------

    def cancel(self, reason: str) -> None:
        """Stop the job (from a signal handler or another thread).

        While the action runs it gets ``SIGTERM`` and, after the grace period,
        ``SIGKILL``; a second request kills at once. Outside the action the
        caller's current phase is interrupted by raising ``rio-cancelled``
        (only when called from the main thread's signal handler).
        """
        with self._lock:
            again = self._stop_reason is not None
            self._stop_reason = self._stop_reason or reason
            self._stopping.set()
            running = self._running
        if running is not None:
            if again:
                running.kill()
                return
            running.terminate()
            timer = threading.Timer(self.options.stop_grace, running.kill)
            timer.daemon = True
            timer.start()
            return
        if threading.current_thread() is threading.main_thread():
            raise _cancelled(reason)

    def _check_cancelled(self) -> None:
        if self._stop_reason is not None:
            raise _cancelled(self._stop_reason)

    # -- the pipeline -----------------------------------------------------------------------

    def run(self) -> RunRecord:
        """Run the formula; return the completed run record, or raise what went wrong."""
        refuse_nul_bytes(self.formula, self._written)
        action = self.formula.action
        _check_paths_absolute("input", self.formula.inputs or {})  # repeatr: before assembly
        spec = self._action_spec()
        self._check_outputs()
        for _path, ware in sorted((self.formula.inputs or {}).items()):
            if ware.is_mount:
                parse_mount(ware)
            elif not ware.packtype:
                # repeatr hands rio the ware ID "" (WareID.String() of an empty type): unsupported packtype.
                raise R2k8sError(Category.USAGE, f"input {_q(_path)}: unsupported packtype {_q(ware.packtype)}")
        jobs_dir = self.options.jobs_dir
        sweep_stale(jobs_dir, self.monitor.log)
        with scratch_dir(jobs_dir, f"{self.record.guid}.") as job_dir:
            root = str(job_dir / "root")
            os.mkdir(root, 0o755)
            cached = self._fetch()
            self._check_cancelled()
            assembly = assemble(
                root,
                self.formula.inputs or {},
                cached,
                dirprops_for_userinfo(action.userinfo),
                str(job_dir / "layers"),
                placer=self.options.placer,
                log=self.monitor.log,
            )
            try:
                # repeatr's cradle (and, with it disabled, CheckFSReadyForExec) calls fs.MustAbsolutePath on these.
                _check_absolute("cwd", action.cwd)
                if action.cradle != "disable" and action.userinfo is not None:
                    _check_absolute("homedir", action.userinfo.homedir)
                tidy_filesystem(root, action)
                _check_ready_for_exec(root, spec)
                self._check_cancelled()
                self.record.exit_code = self._execute(root, spec)
                self._check_cancelled()
                _check_paths_absolute("output", self.formula.outputs or {})  # repeatr: when packing, after the run
                self.record.results = self._pack_outputs(root)
            finally:
                assembly.teardown()
        return self.record

    def _action_spec(self) -> ActionSpec:
        action = self.formula.action
        if not action.exec:
            # repeatr's CheckFSReadyForExec indexes action.Exec[0]: a Go panic, exit 2.
            raise R2k8sError(
                Category.PANIC, "exec invalid: the formula's action has no exec (nothing to run; repeatr panics here)"
            )
        if not action.exec[0].startswith("/"):
            raise R2k8sError(Category.JOB_INVALID, f"exec invalid: {_q(action.exec[0])} must be an absolute path")
        userinfo = action.userinfo
        assert userinfo is not None and userinfo.uid is not None and userinfo.gid is not None  # by apply_defaults
        return ActionSpec(
            argv=tuple(action.exec),
            env=dict(action.env or {}),
            cwd=action.cwd,
            uid=userinfo.uid,
            gid=userinfo.gid,
            hostname=action.hostname or self.record.guid,
            capabilities=capabilities_for(action.policy),
        )

    def _check_outputs(self) -> None:
        """Refuse what can only fail at pack time before spending time on the run."""
        for path, spec in sorted((self.formula.outputs or {}).items()):
            if spec.packtype not in PACKTYPES:
                raise R2k8sError(
                    Category.PACK_INVALID,
                    f"output {_q(path)}: packtype {_q(spec.packtype)} cannot be packed"
                    f" (supported: {', '.join(PACKTYPES)})",
                )
            url = self.context.save_urls.get(path, "")
            if url and not WarehouseURL.parse(url, self.base_dir).is_file:
                raise R2k8sError(
                    Category.USAGE,  # what rio pack --target says (OpenWriteController), and repeatr passes on
                    f"output {_q(path)}: cannot save to warehouse {url}:"
                    " http warehouses are readonly! (use 'file://' or 'ca+file://')",
                )

    def _fetch(self) -> dict[str, Path]:
        inputs: Mapping[str, WareID] = self.formula.inputs or {}
        requests = {path: (ware, self.context.fetch_urls.get(path, ())) for path, ware in inputs.items()}
        return self.options.cache.ensure_all(
            requests, self.base_dir, self.monitor.log, legacy_paths=self.legacy_inputs, cancel=self._stopping
        )

    def _execute(self, root: str, spec: ActionSpec) -> int:
        undo = self._executor.prepare(root)
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        running: Running | None = None
        try:
            try:
                with self._lock:
                    self._check_cancelled()
                    self._running = running = self._executor.start(root, spec, write_end)
            finally:
                os.close(write_end)  # from here on only the action holds it: EOF means it is gone
            pump = threading.Thread(target=_pump_lines, args=(read_end, self.monitor), name="r2k8s-output", daemon=True)
            pump.start()
            try:
                code = running.wait()
            finally:
                with self._lock:
                    self._running = None
            pump.join(OUTPUT_DRAIN_SECONDS)
            if pump.is_alive():  # only possible with chroot: a process escaped the group and kept the pipe
                self.monitor.log("warn: the action's output is still open after it exited; not waiting for the rest")
            else:
                os.close(read_end)
        except BaseException:
            if running is not None and running.exit_code is None:  # never leave the action behind
                running.kill()
                running.wait()
            os.close(read_end)
            raise
        finally:
            undo()
        return code

    def _pack_outputs(self, root: str) -> dict[str, str]:
        results: dict[str, str] = {}
        for path, spec in sorted((self.formula.outputs or {}).items()):
            self._check_cancelled()
            known = {key: value for key, value in (spec.filters or {}).items() if key in KEYS}  # refmt ignores others
            filters = Filters.from_mapping(PACK, known, f"outputs[{path!r}].filters")
            filters = filters.with_defaults(FLATTEN)
            try:
                source = resolve(root, path)
            except OSError as exc:
                raise R2k8sError(Category.PACK_INVALID, f"output {_q(path)}: {exc.strerror}") from None
            url = self.context.save_urls.get(path, "")
            with begin_save(url, self.base_dir, self.monitor.log) as sink:
                ware = pack_tree(Path(source), filters, out=sink.file, packtype=spec.packtype)
                if ware.hash and url:
                    sink.commit(ware)
                    self.monitor.log(f"info: saved output {_q(path)} as {_q(ware)} to warehouse {_q(url)}")
            results[path] = str(ware) if ware.hash else f"{ware.packtype}:-"
        return results


def _as_rio_sees_it(formula: Formula) -> Formula:
    """An input ``"tar:"`` reaches rio as ``WareID.String()``, ``tar:-``: fetch that (and fail as rio does)."""
    inputs = formula.inputs
    if not inputs or all(ware.hash or not ware.packtype for ware in inputs.values()):
        return formula
    fixed = {
        path: ware if ware.hash or not ware.packtype else WareID(ware.packtype, "-") for path, ware in inputs.items()
    }
    return dataclasses.replace(formula, inputs=fixed)


def _panic(what: str, value: str) -> R2k8sError:
    return R2k8sError(
        Category.PANIC,
        f"{what} {_q(value)} is not an absolute path: repeatr panics here (fs.MustAbsolutePath), exit 2",
    )


def _check_absolute(what: str, value: str) -> None:
    if not value.startswith("/"):
        raise _panic(what, value)


def _check_paths_absolute(what: str, paths: Mapping[str, object]) -> None:
    for path in sorted(paths):
        _check_absolute(f"{what} path", path)


_NUL_REASON = "holds a NUL byte, which no program argument, environment variable, path or host name can carry"


def refuse_nul_bytes(formula: Formula, written: Formula | None = None) -> None:
    """Refuse a formula that holds a NUL byte anywhere the kernel takes a C string, naming the field.

    A formula may hold one: JSON's ``\\u0000`` is a character like any other,
    and the formula ID is computed from it exactly as repeatr computes it
    (``formula-id`` accepts it). Running it cannot work: argv, environment,
    paths and host names reach the kernel as NUL-terminated strings. Python
    refuses them with a bare ``ValueError`` (an internal error, exit 2) or,
    past the fork, an executor failure (exit 42), at whichever step meets one
    first, after the inputs were fetched; ``ctypes`` would even cut a mount
    source short silently. Checked before anything is done, the run fails at
    once, saying which field to fix: the action's fields as
    ``repeatr-job-invalid`` (as a bad ``exec`` or ``cwd`` is), input paths and
    mount sources as ``rio-assembly-invalid``, output paths as
    ``rio-pack-invalid``.

    ``formula`` has its defaults applied (that is what runs); ``written`` is
    the formula as written: a home directory or ``$USER`` it does not set
    comes from ``userinfo.username``, and that is the field to name.
    """
    action = formula.action
    userinfo = action.userinfo
    as_written = (written if written is not None else formula).action
    fields: list[tuple[str, JsonPath, str]] = [("exec", ("exec", i), arg) for i, arg in enumerate(action.exec or ())]
    fields += [("cwd", ("cwd",), action.cwd), ("hostname", ("hostname",), action.hostname)]
    if userinfo is not None and action.cradle_enabled:  # the cradle makes the home directory
        written_env = as_written.env or {}
        home_written = as_written.userinfo is not None and bool(as_written.userinfo.homedir)
        if not home_written or "USER" not in written_env:  # the defaults made $USER or the homedir from it
            fields.append(("username", ("userinfo", "username"), userinfo.username))
        fields.append(("homedir", ("userinfo", "homedir"), userinfo.homedir))
    for name, value in sorted((action.env or {}).items()):
        if "\0" in name:
            raise R2k8sError(
                Category.JOB_INVALID, f"env invalid: the name of {_field('action', 'env', name)} {_NUL_REASON}"
            )
        fields.append(("env", ("env", name), value))
    for what, path, value in fields:
        if "\0" in value:
            raise R2k8sError(
                Category.JOB_INVALID, f"{what} invalid: {_field('action', *path)} {_shown(value)} {_NUL_REASON}"
            )
    for input_path, ware in sorted((formula.inputs or {}).items()):
        if "\0" in input_path:
            raise R2k8sError(
                Category.ASSEMBLY_INVALID,
                f"invalid inputs config: the path of {_field('inputs', input_path)} {_NUL_REASON}",
            )
        if ware.is_mount and "\0" in ware.hash:
            raise R2k8sError(
                Category.ASSEMBLY_INVALID,
                f"invalid inputs config: the mount {_field('inputs', input_path)} {_shown(str(ware))} {_NUL_REASON}",
            )
    for output_path in sorted(formula.outputs or {}):
        if "\0" in output_path:
            raise R2k8sError(
                Category.PACK_INVALID, f"output invalid: the path of {_field('outputs', output_path)} {_NUL_REASON}"
            )


def _field(*path: str | int) -> str:
    """Where a value is in the formula document, as formula errors name it: ``$.formula.action.exec[0]``."""
    return json_path(("formula", *path))


def _shown(value: str, limit: int = 120) -> str:
    """``value`` quoted (a NUL shows as ``\\u0000``); a long one only around its NUL: arguments may be megabytes."""
    if len(value) <= limit:
        return _q(value)
    start = max(0, min(value.find("\0") - limit // 2, len(value) - limit))
    before = "..." if start else ""
    after = "..." if start + limit < len(value) else ""
    return f"{before}{_q(value[start : start + limit])}{after} ({len(value)} characters)"


def _check_ready_for_exec(root: str, spec: ActionSpec) -> None:
    """repeatr ``CheckFSReadyForExec``: cwd must be a directory, ``exec[0]`` a regular file (in the job's tree)."""
    for what, path, want in (("cwd", spec.cwd, stat.S_ISDIR), ("exec", spec.argv[0], stat.S_ISREG)):
        try:
            st = os.stat(resolve(root, path))
        except OSError as exc:
            raise R2k8sError(Category.JOB_INVALID, f"{what} invalid: {path}: {exc.strerror}") from None
        if not want(st.st_mode):
            kind = "directory" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "special file"
            needed = "dir" if what == "cwd" else "executable file"
            raise R2k8sError(Category.JOB_INVALID, f"{what} invalid: {path} is a {kind}, must be {needed}")


def _pump_lines(fd: int, monitor: Monitor) -> None:
    """Hand the action's output to the monitor line by line (repeatr re-splits it the same way)."""
    pending = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            monitor.output(line)
    if pending:
        monitor.output(pending)
