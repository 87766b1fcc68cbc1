"""Evaluating a module: every step whose inputs are ready runs at once, each as an ``r2k8s run`` child process.

The main thread keeps the graph. A step starts as soon as every step it
takes outputs from has succeeded: first its formula is made
(:mod:`.formulas`) and looked up in the memo (a hit is used at once, nothing
is started); otherwise a thread starts ``r2k8s run`` on it in a child process
(:mod:`.stepproc`: on the cluster, or with ``--local`` here) and relays its
stderr, each line prefixed with the step's name, and with ``--format json``
its events (:mod:`.report` says how all this looks). A step succeeds when its run
record says ``exitCode`` 0; its record is memoized and its outputs (saved to
the staging warehouse) join the scope. A step fails when its run fails (the
child's exit code: 3 for an unreachable warehouse, …) or its action exits
non-zero (exit 32, repeatr's ``repeatr-job-unsuccessful``); its dependants are
then never started, and each is named as skipped. Steps that do not depend
on it run on. The exit code is the first failure's.

Why child processes rather than threads running jobs in this process: a
local run needs its own mount namespace (one per process, entered while the
process has a single thread) and forks its action; a cluster run installs
signal handlers (main thread only) and stops on its own. A child process per
step keeps both exactly as one ``r2k8s run``: same messages, same clean-up.

Stopping: Ctrl-C, SIGTERM and SIGHUP start no further step and pass one
SIGTERM per signal to every running step (which stops as ``r2k8s run`` does on
SIGTERM: a cluster step deletes its Job, a local one kills its action and
removes its job tree; a second signal stops them at once); ``emerge`` waits
for them and exits 8. The children run in their own sessions, so a terminal's
Ctrl-C reaches them only this way, once per press. A killed ``emerge`` takes
its children with it (their parent-death signal is SIGTERM).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from r2k8s.core.aliases import LogFn
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.errors import quote as _q
from r2k8s.core.run.events import read_result, split_events
from r2k8s.core.run.memo import MEMODIR_ENV, MemoStore, memo_key
from r2k8s.core.run.record import RunRecord, from_json
from r2k8s.core.scratch import scratch_dir, sweep_stale
from r2k8s.core.ware.wareid import WareID
from r2k8s.modules.formulas import StepFormula, step_formula
from r2k8s.modules.model import Module, SlotRef
from r2k8s.modules.report import Report

__all__ = ["EmergeOptions", "StepOutcome", "evaluate"]

POLL_SECONDS = 0.2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclasses.dataclass
class EmergeOptions:
    run_arguments: list[str]
    """Passed to every step's ``r2k8s run`` (``--local``, ``--kubeconfig``, ``--executor``, …)."""
    warehouses: list[str]
    """Absolute URLs every import is fetched from (after its own), before the staging warehouse."""
    staging: str
    """``ca+file://`` URL (absolute) every output is saved to and later steps fetch from."""
    memo: MemoStore | None
    no_memo: bool = False
    scratch_parent: Path = dataclasses.field(
        default_factory=lambda: Path(tempfile.gettempdir()) / f"r2k8s-emerge-{os.getuid()}"
    )


@dataclasses.dataclass
class StepOutcome:
    name: str
    code: int
    """The child's exit code (0: it printed a record)."""
    record: RunRecord | None
    """The record it printed (bare, or in its ``result`` event), if any."""
    error: tuple[str, str] | None
    """The error of its ``result`` event (``--format json``): category, message."""
    problem: str
    """Why no record could be read from its stdout, if none was."""
    last_line: str
    started: float
    finished: float


@dataclasses.dataclass
class _Failure:
    step: str
    category: Category
    message: str


def evaluate(module: Module, options: EmergeOptions, report: Report) -> dict[str, str]:
    """Run the module; return its exports (name -> ware ID), or raise the first failure."""
    return _Evaluation(module, options, report).run()


class _Evaluation:
    def __init__(self, module: Module, options: EmergeOptions, report: Report) -> None:
        self.module = module
        self.options = options
        self.report = report
        self.log: LogFn = report.log
        self.scope: dict[SlotRef, WareID] = {SlotRef("", name): imp.ware for name, imp in module.imports.items()}
        self.done: set[str] = set()
        self.failures: list[_Failure] = []
        self.skipped: set[str] = set()
        self.waiting: list[str] = list(module.order)
        self.running: dict[str, StepFormula] = {}
        self.outcomes: queue.Queue[StepOutcome] = queue.Queue()
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.children_lock = threading.Lock()
        self.stop_reason: str | None = None
        self.signals_received = 0
        self.signals_forwarded = 0
        self.threads: list[threading.Thread] = []
        self.last_lines: dict[str, str] = {}
        self.signals_sent: dict[str, int] = {}

    # -- the graph -----------------------------------------------------------------------------------

    def run(self) -> dict[str, str]:
        self.log(
            f"info: module {self.module.path}: {len(self.module.steps)} steps, in order: {', '.join(self.module.order)}"
        )
        previous = {signum: signal.signal(signum, self._on_signal) for signum in STOP_SIGNALS}
        sweep_stale(self.options.scratch_parent, self.log)
        try:
            with scratch_dir(self.options.scratch_parent, "emerge.") as scratch:
                self.scratch = scratch
                self._loop()
                for thread in self.threads:
                    thread.join()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if self.stop_reason is not None:
            raise R2k8sError(Category.CANCELLED, f"cancelled: {self.stop_reason}")
        if self.failures:
            raise self._failed()
        return {name: str(self.scope[ref]) for name, ref in sorted(self.module.exports.items())}

    def _loop(self) -> None:
        while True:
            self._forward_signals()
            if self.stop_reason is None:
                self._start_ready()
            if not self.running:
                return
            try:
                outcome = self.outcomes.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            self._finish(outcome)

    def _start_ready(self) -> None:
        progress = True
        while progress:  # a memo hit makes its dependants ready at once
            progress = False
            for name in list(self.waiting):
                needs = self.module.needs(name)
                blocked = sorted(needs & ({f.step for f in self.failures} | self.skipped))
                if blocked:
                    self.waiting.remove(name)
                    self.skipped.add(name)
                    self.report.status(
                        name,
                        "skipped",
                        f"warn: step {_q(name)} is not run: it needs {_names(blocked)}, which did not succeed",
                        [("needs", step) for step in blocked],
                    )
                    progress = True
                elif needs <= self.done:
                    self.waiting.remove(name)
                    self._start(name)
                    progress = True

    def _start(self, name: str) -> None:
        step = self.module.steps[name]
        try:
            formula = step_formula(self.module, step, self.scope, self.options.warehouses, self.options.staging)
        except R2k8sError as exc:
            self._fail(name, exc.category, exc.message)
            return
        key = memo_key(formula.loaded.formula)
        memo = self.options.memo
        if memo is not None and not self.options.no_memo:
            try:
                record = memo.recall(key, formula.loaded.context.save_urls, None, self._step_log(name))
            except R2k8sError as exc:
                self._fail(name, exc.category, exc.message)
                return
            if record is not None:
                line = f"info: step {_q(name)}: memoized: formula {formula.loaded.formula_id}"
                self._succeeded(name, record, "memoized", line)
                return
        file = self.scratch / f"{name}.formula"
        formula.write(file)
        self.running[name] = formula
        self.report.status(
            name,
            "started",
            f"info: step {_q(name)}: running formula {formula.loaded.formula_id}",
            [("formulaID", formula.loaded.formula_id)],
        )
        thread = threading.Thread(target=self._work, args=(name, file), name=f"r2k8s-step-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def _finish(self, outcome: StepOutcome) -> None:
        name = outcome.name
        formula = self.running.pop(name)
        took = f"{outcome.finished - outcome.started:.1f} s"
        record = outcome.record
        if outcome.code != 0:
            category = _category_of(outcome.code)
            message = f"{outcome.last_line or 'r2k8s run failed'} (exit {outcome.code}, after {took})"
            self._fail(name, category, message, record, outcome.error)
            return
        if record is None:
            self._fail(name, Category.PANIC, f"r2k8s run printed no run record ({outcome.problem})")
            return
        if record.exit_code != 0:
            message = f"its action exited {record.exit_code} (after {took}; not memoized)"
            self._fail(name, Category.JOB_UNSUCCESSFUL, message, record)
            return
        succeeded = self._succeeded(name, record, "succeeded", f"info: step {_q(name)} succeeded in {took}")
        if succeeded and self.options.memo is not None:
            self.options.memo.save(memo_key(formula.loaded.formula), record, self._step_log(name))

    def _succeeded(self, name: str, record: RunRecord, status: str, line: str) -> bool:
        """Its outputs join the scope, if the record has them all; says so (``status``: how it got the record)."""
        results = record.results or {}
        wares: dict[SlotRef, WareID] = {}
        for slot, path in self.module.steps[name].outputs.items():
            ware = results.get(path)
            if ware is None or ":" not in ware or ware.endswith(":-"):
                message = f"its run record has no ware for output {_q(slot)} ({path})"
                self._fail(name, Category.PACK_INVALID, message, record)
                return False
            wares[SlotRef(name, slot)] = WareID.parse(ware)
        self.scope.update(wares)
        self.done.add(name)
        self.report.status(name, status, line, [("formulaID", record.formula_id)])
        self.report.result(name, record, None)
        return True

    def _fail(
        self,
        name: str,
        category: Category,
        message: str,
        record: RunRecord | None = None,
        error: tuple[str, str] | None = None,
    ) -> None:
        """The step failed: said in words, then as its result (the step's own error, if its run gave one)."""
        self.failures.append(_Failure(name, category, message))
        self.report.status(
            name, "failed", f"error: step {_q(name)} failed: {message}", [("category", category.wire_name)]
        )
        self.report.result(name, record, error or (category.wire_name, message))

    def _failed(self) -> R2k8sError:
        first = self.failures[0]
        lines = [f"step {_q(first.step)} failed: {first.message}"]
        lines += [f"step {_q(f.step)} failed too: {f.category.wire_name}: {f.message}" for f in self.failures[1:]]
        if self.skipped:
            lines.append(f"not run, as they need a failed step: {_names(sorted(self.skipped))}")
        return R2k8sError(first.category, "\n".join(lines))

    def _step_log(self, name: str) -> LogFn:
        def log(line: str) -> None:
            self.report.step_log(name, line)

        return log

    # -- one step's process --------------------------------------------------------------------------

    def _work(self, name: str, file: Path) -> None:
        started = time.monotonic()
        argv = [sys.executable, "-m", "r2k8s.modules.stepproc", str(os.getpid()), "run", *self.options.run_arguments]
        if self.report.events:
            argv += ["--format", "json"]
        env = {key: value for key, value in os.environ.items() if key != MEMODIR_ENV}  # emerge keeps the memo
        last = ""
        record: RunRecord | None = None
        error: tuple[str, str] | None = None
        problem = "it printed nothing"
        code = Category.EXECUTOR_FAILED.exit_code
        try:
            child = subprocess.Popen(
                [*argv, str(file)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,  # a terminal's Ctrl-C reaches the step only through emerge, once
            )
        except OSError as exc:
            last = f"cannot start r2k8s run: {exc.strerror or exc}"
        else:
            with self.children_lock:
                self.children[name] = child
                self.signals_sent[name] = 0
                self._pass_signals(name, child)  # a stop that came while it was being started
            assert child.stdout is not None and child.stderr is not None
            relay = threading.Thread(target=self._relay, args=(name, child.stderr), daemon=True)
            relay.start()
            if self.report.events:
                record, error, problem = self._read_events(name, child.stdout)
            else:
                stdout = child.stdout.read()
                if stdout:
                    try:
                        record = from_json(stdout)
                    except ValueError as exc:
                        problem = str(exc)
            code = child.wait()
            relay.join()
            last = self.last_lines.get(name, "")
            with self.children_lock:
                del self.children[name]
        self.outcomes.put(StepOutcome(name, code, record, error, problem, last, started, time.monotonic()))

    def _read_events(self, name: str, stream: IO[bytes]) -> tuple[RunRecord | None, tuple[str, str] | None, str]:
        """A ``--format json`` step's stdout, as it comes: its log and txt events passed on, its result kept."""
        record: RunRecord | None = None
        error: tuple[str, str] | None = None
        problem = "it printed no result event"
        passing_on = True
        for event in split_events(stream):  # read to the end whatever happens: the step must not block writing
            try:
                if event.startswith(b"{\n"):
                    record, error = read_result(event)
                elif passing_on:
                    self.report.event(name, event)
            except OSError:  # our stdout is gone (its reader closed it): the step still runs to its end
                passing_on = False
            except ValueError as exc:  # never half an event on stdout: what it was goes to stderr, as it came
                problem = f"unreadable event ({exc})"
                for line in event.decode("utf-8", "replace").splitlines():
                    self.report.relay(name, line)
        return record, error, problem

    def _relay(self, name: str, stream: IO[bytes]) -> None:
        last = ""
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.strip():
                last = line
            self.report.relay(name, line)
        self.last_lines[name] = last

    # -- stopping ------------------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: Any) -> None:
        """Only note it: the main loop forwards it (a handler must not take the lock a worker may hold)."""
        self.signals_received += 1
        if self.stop_reason is None:
            self.stop_reason = f"received {signal.Signals(signum).name}"

    def _forward_signals(self) -> None:
        if self.signals_forwarded == self.signals_received:
            return
        if self.signals_forwarded == 0:
            waiting = sorted(set(self.waiting))
            self.log(
                f"info: {self.stop_reason}: stopping {_names(sorted(self.running)) or 'nothing'}"
                + (f"; not starting {_names(waiting)}" if waiting else "")
            )
        self.signals_forwarded = self.signals_received
        with self.children_lock:
            for name, child in self.children.items():
                self._pass_signals(name, child)

    def _pass_signals(self, name: str, child: subprocess.Popen[bytes]) -> None:
        """One SIGTERM per signal received, each sent once (``children_lock`` held)."""
        while self.signals_sent[name] < self.signals_received:
            self.signals_sent[name] += 1
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)


def _names(names: list[str]) -> str:
    return ", ".join(_q(name) for name in names)


def _category_of(code: int) -> Category:
    for category in Category:
        if category.exit_code == code:
            return category
    return Category.EXECUTOR_FAILED
