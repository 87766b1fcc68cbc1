"""A Tekton ``script:`` run inside the formula's filesystem rather than the agent image's.

Tekton writes a step's (or sidecar's) ``script`` into a file under
``/tekton/scripts`` and makes that file the container's command (its
webhook refuses a ``command`` beside a ``script``), so the agent cannot be
the command of such a container. The KRM function therefore puts
:data:`SCRIPT_HEADER` in front of the user's script: a three-line ``/bin/sh``
prologue, run by the *agent image's* shell, that hands the file to the agent
(``script FILE ARG...``). The agent fetches and takes over the root as for any
formula container, then runs the rest of the file — the user's script, byte
for byte, with the ``$(params…)`` Tekton substituted in it — as the action:
by its ``#!`` line, or with Tekton's own default ``#!/bin/sh`` + ``set -e``
preamble when it has none, with the step's ``args`` as its arguments, as the
formula's uid/gid in its cwd with its environment.

The script cannot be run from its file: the file starts with the prologue,
and ``/tekton/scripts`` is mounted read-only. The agent parses the ``#!``
line itself (as the kernel's ``binfmt_script`` does: the interpreter, then
at most one argument) and gives the interpreter the script in an anonymous
memory file (``memfd``) named ``/proc/self/fd/N``, so nothing is written into
the formula's filesystem and no mount needs to allow ``exec``. The only
difference a script can see is ``$0``.

Standard library only.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from r2k8s.core.agent.contract import agent_argv
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.errors import quote as _q

__all__ = ["SCRIPT_HEADER", "TEKTON_PREAMBLE", "Script", "interpreter", "read_script"]

SCRIPT_HEADER = (
    "#!/bin/sh\n"
    "# r2k8s: the agent runs the script below inside the formula's filesystem (r2k8s README, service path)\n"
    f'exec {" ".join(agent_argv("script"))} "$0" "$@"\n'
)
"""What the KRM function puts in front of a Tekton ``script:``; the agent strips exactly these bytes."""
TEKTON_PREAMBLE = "#!/bin/sh\nset -e\n"
"""Tekton's ``defaultScriptPreamble`` (pkg/pod/script.go), for a script without a ``#!`` line."""
_MFD_NOEXEC_SEAL = 0x0008
"""Linux 6.3's ``MFD_NOEXEC_SEAL`` (not in Python 3.11's ``os``); older kernels refuse it (``EINVAL``)."""
_SHEBANG_LIMIT = 256
"""The kernel reads at most this much of a ``#!`` line (``BINPRM_BUF_SIZE``)."""


def _error(message: str) -> R2k8sError:
    return R2k8sError(Category.JOB_INVALID, message)


@dataclasses.dataclass(frozen=True)
class Script:
    """The user's script, as Tekton placed it, minus the r2k8s prologue."""

    path: str
    """The file Tekton wrote (for messages)."""
    body: bytes

    def argv(self, args: Sequence[str]) -> tuple[str, ...]:
        """The action's argv: the interpreter, its ``#!`` argument, the script in a memory file, then ``args``.

        Creates the memory file (inherited by the action; the interpreter opens it by its ``/proc`` name)."""
        words = interpreter(self.body, self.path)
        try:  # never executed, only read: sealed non-executable where the kernel knows how (vm.memfd_noexec)
            fd = os.memfd_create("r2k8s-script", _MFD_NOEXEC_SEAL)
        except OSError:
            try:
                fd = os.memfd_create("r2k8s-script", 0)
            except OSError as exc:
                raise _error(f"cannot hold the script {_q(self.path)} in memory: {exc.strerror or exc}") from None
        os.set_inheritable(fd, True)
        view = memoryview(self.body)
        while view:
            view = view[os.write(fd, view) :]
        return (*words, f"/proc/self/fd/{fd}", *args)


def read_script(path: str) -> Script:
    """The script in ``path``, which must start with :data:`SCRIPT_HEADER`; Tekton's preamble added if needed."""
    try:
        with open(path, "rb") as handle:
            text = handle.read()
    except OSError as exc:
        raise _error(f"cannot read the script {_q(path)}: {exc.strerror or exc}") from None
    header = SCRIPT_HEADER.encode()
    if not text.startswith(header):
        raise _error(
            f"{_q(path)} does not start with the r2k8s script prologue: it was not written from a script the"
            " r2k8s KRM function rewrote (run the function again on the manifest)"
        )
    body = text[len(header) :]
    if not body.strip().startswith(b"#!"):
        body = TEKTON_PREAMBLE.encode() + body
    return Script(path, body)


def interpreter(body: bytes, path: str = "the script") -> tuple[str, ...]:
    """The interpreter and its one optional argument from the ``#!`` line of ``body`` (leading blanks skipped)."""
    line = body.lstrip()[2:_SHEBANG_LIMIT].split(b"\n", 1)[0].strip(b" \t\r")
    if not body.lstrip().startswith(b"#!") or not line:
        raise _error(f"{_q(path)}: the script's #! line names no interpreter")
    parts = line.split(None, 1)
    return tuple(os.fsdecode(part.strip(b" \t")) for part in parts)
