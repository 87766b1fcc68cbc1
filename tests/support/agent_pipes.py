"""Run the build agent as a pod would, minus Kubernetes: a real process whose stdin and stdout are pipes.

``start_agent`` starts ``python3 <zipapp>`` (the very bytes ``r2k8s run``
ships in its ConfigMap) with the run spec in its environment, a scratch
volume and a termination-log file; :class:`PipeTransport` is the client's
end, speaking to it through the same :class:`~r2k8s.cluster.conversation.Conversation`
the attach stream carries on a cluster.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from r2k8s.agent_bundle import agent_zipapp
from r2k8s.core.agent.contract import BUILD_SPEC_ENV as SPEC_ENV
from r2k8s.core.agent.run_spec import RunSpec


class PipeTransport:
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self._in = process.stdin.fileno()
        self._out = process.stdout.fileno()
        self._lock = threading.Lock()
        self.sent = bytearray()
        self.received = bytearray()

    def send(self, data: bytes) -> None:
        with self._lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._in, view) :]
            self.sent += data

    def receive(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self._out], [], [], timeout)
        if not ready:
            return None
        data = os.read(self._out, 1 << 16)
        self.received += data
        return data

    def close(self) -> None:
        assert self.process.stdin is not None
        # The agent may have exited already, and closing a broken pipe flushes into nothing.
        with contextlib.suppress(OSError):
            self.process.stdin.close()


@dataclass
class Pod:
    """The files a pod would have: the agent zipapp, the scratch volume, the termination log."""

    root: Path

    @property
    def zipapp(self) -> Path:
        return self.root / "agent" / "r2k8s-agent.pyz"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def termination_log(self) -> Path:
        return self.root / "termination-log"

    def termination_message(self) -> str:
        return self.termination_log.read_text() if self.termination_log.exists() else ""


def start_agent(pod: Pod, spec: RunSpec | str, *, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    pod.zipapp.parent.mkdir(parents=True, exist_ok=True)
    pod.zipapp.write_bytes(agent_zipapp())
    pod.work.mkdir(parents=True, exist_ok=True)
    text = spec if isinstance(spec, str) else spec.to_json()
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the zipapp must suffice alone
    environment.update({SPEC_ENV: text, **(env or {})})
    return subprocess.Popen(
        [sys.executable, str(pod.zipapp), "--work", str(pod.work), "--termination-log", str(pod.termination_log)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        cwd=pod.root,
        start_new_session=True,
    )
