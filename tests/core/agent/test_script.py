"""The agent's side of a Tekton ``script:``: the prologue stripped, the ``#!`` line read, the script run from memory.

Real files and real interpreters (``/bin/sh``): the script the agent prepares is executed by a child process
exactly as the action would be (the pod-level proof: ``tests/krm/test_scripts_e2e.py``).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from r2k8s.core.agent.script import SCRIPT_HEADER, TEKTON_PREAMBLE, Script, interpreter, read_script
from r2k8s.core.errors import R2k8sError


def placed(tmp_path: Path, script: str) -> str:
    """What Tekton writes into /tekton/scripts from a ``script:`` the function rewrote."""
    path = tmp_path / "script-0-abcde"
    path.write_text(SCRIPT_HEADER + script)
    return str(path)


def run_action(script: Script, *args: str) -> subprocess.CompletedProcess[str]:
    argv = script.argv(args)
    fd = int(next(a for a in argv if a.startswith("/proc/self/fd/")).rsplit("/", 1)[1])
    try:
        return subprocess.run(argv, capture_output=True, text=True, pass_fds=(fd,), timeout=30)
    finally:
        os.close(fd)


def test_the_script_below_the_prologue_runs_by_its_own_interpreter_with_the_steps_args(tmp_path: Path) -> None:
    script = read_script(placed(tmp_path, '#!/bin/sh -e\necho "$# [$1] [$2]"\n'))
    assert script.body == b'#!/bin/sh -e\necho "$# [$1] [$2]"\n'
    done = run_action(script, "a b", "c")
    assert done.returncode == 0 and done.stdout == "2 [a b] [c]\n", done.stderr


def test_a_script_without_a_shebang_gets_tektons_preamble(tmp_path: Path) -> None:
    script = read_script(placed(tmp_path, "echo before\nfalse\necho after\n"))
    assert script.body.startswith(TEKTON_PREAMBLE.encode())
    done = run_action(script)
    assert done.returncode == 1 and done.stdout == "before\n"  # set -e, as under Tekton


def test_a_file_without_the_prologue_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "script-0-x"
    path.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(R2k8sError, match=r"script-0-x.*does not start with the r2k8s script prologue"):
        read_script(str(path))
    with pytest.raises(R2k8sError, match="cannot read the script"):
        read_script(str(tmp_path / "absent"))


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b"#!/bin/sh\n", ("/bin/sh",)),
        (b"#! /usr/bin/env  python3 -u \n", ("/usr/bin/env", "python3 -u")),  # one argument, as the kernel
        (b"\n  #!/bin/bash\necho\n", ("/bin/bash",)),
    ],
)
def test_the_shebang_is_read_as_the_kernel_reads_it(line: bytes, words: tuple[str, ...]) -> None:
    assert interpreter(line) == words


def test_a_shebang_naming_nothing_is_refused() -> None:
    with pytest.raises(R2k8sError, match="names no interpreter"):
        interpreter(b"#!\necho hi\n")
