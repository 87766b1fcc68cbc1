"""The client's half of the build conversation against a scripted agent: inputs out, outputs in.

No pod and no agent process: the transport replays what an agent would say
(waiting, where the script says so, for what the client must have sent
first), so the client's handling of each frame is seen on its own.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from r2k8s.cluster.conversation import ConnectionLost, Conversation
from r2k8s.cluster.plan import Plan, StreamedWare
from r2k8s.core.agent.frames import Frame, FrameDecoder, encode, encode_bytes
from r2k8s.core.agent.run_spec import RunSpec
from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula.model import Action, Formula, FormulaContext
from r2k8s.core.run.record import RunRecord
from r2k8s.core.ware.wareid import WareID

INPUT = WareID("tar", "5y6NvK6GBPQ6CcuNyJyWtSrMAJQ4LVrAcZSoCRAzMSk5o53pkTYiieWyRivfvhZwhZ")
OUTPUT = "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"
RESULT = {"runRecord": {"guid": "g", "time": 1, "formulaID": "F", "exitCode": 0, "results": {"/out": OUTPUT}}}

Step = bytes | Callable[["Scripted"], bool]


class Scripted:
    """The agent's end: says its lines in order; a callable line waits until it holds of what was sent."""

    def __init__(self, script: list[Step]) -> None:
        self.script = list(script)
        self.sent = bytearray()
        self._lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self._lock:
            self.sent += data

    def frames(self) -> list[Frame]:
        """What the client sent, heartbeats left out (how many there are depends on the clock)."""
        with self._lock:
            return [frame for frame in FrameDecoder().feed(bytes(self.sent)) if frame.kind != "hb"]

    def kinds(self) -> list[str]:
        return [frame.kind for frame in self.frames()]

    def receive(self, timeout: float) -> bytes | None:
        if not self.script:
            time.sleep(timeout)
            return None
        step = self.script[0]
        if callable(step):
            if not step(self):
                time.sleep(min(timeout, 0.01))
                return None
            self.script.pop(0)
            return None
        return self.script.pop(0)

    def close(self) -> None:
        pass


class Lines:
    def __init__(self) -> None:
        self.logs: list[str] = []

    def log(self, line: str) -> None:
        self.logs.append(line)

    def output(self, line: bytes) -> None:
        pass


def frame(kind: str, body: dict[str, Any] | None = None) -> bytes:
    return encode(kind, body)


def plan(tmp_path: Path, *, streamed: bool = False) -> Plan:
    spec = RunSpec(
        formula=Formula(inputs={"/": INPUT}, action=Action(exec=("/bin/true",))),
        context=FormulaContext(),
        formula_id="F",
        streamed={str(INPUT): ("/",)} if streamed else {},
        returned=("/out",),
    )
    entries = {str(INPUT): StreamedWare(INPUT, ["/"], ["file://./x"])} if streamed else {}
    return Plan(spec=spec, base_dir=tmp_path, streamed=entries, saves={"/out": f"ca+file://{tmp_path}/wares"})


def output_frames(data: bytes, *, sent: bytes | None = None, end: dict[str, Any] | None = None) -> list[Step]:
    claimed = data if sent is None else sent
    return [
        frame("wareBegin", {"path": "/out", "size": len(claimed)}),
        frame("ware", {"path": "/out", "data": encode_bytes(data)}),
        frame(
            "wareEnd",
            end
            if end is not None
            else {
                "path": "/out",
                "wareID": OUTPUT,
                "size": len(claimed),
                "sha256": hashlib.sha256(claimed).hexdigest(),
            },
        ),
    ]


def converse(tmp_path: Path, script: list[Step], readers: dict[str, BinaryIO] | None = None) -> tuple[Any, Lines]:
    (tmp_path / "wares").mkdir(exist_ok=True)
    monitor = Lines()
    streamed = readers is not None
    transport = Scripted(script)
    conversation = Conversation(plan(tmp_path, streamed=streamed), transport, monitor, readers or {})
    outcome: RunRecord | R2k8sError
    try:
        outcome = conversation.run()
    except R2k8sError as exc:
        outcome = exc
    return (outcome, transport), monitor


def test_an_output_that_arrives_whole_is_saved_under_its_ware_id(tmp_path: Path) -> None:
    script = [frame("hello", {"version": 1}), *output_frames(b"packed"), frame("result", RESULT)]
    (record, transport), monitor = converse(tmp_path, script)
    assert isinstance(record, RunRecord) and record.results == {"/out": OUTPUT}
    h = OUTPUT.split(":", 1)[1]
    assert (tmp_path / "wares" / h[:3] / h[3:6] / h).read_bytes() == b"packed"
    assert [p.name for p in (tmp_path / "wares").iterdir()] == [h[:3]]  # no staging file left
    assert f'info: saved output "/out" as "{OUTPUT}" to warehouse "ca+file://{tmp_path}/wares"' in monitor.logs
    assert transport.kinds() == ["hello", "bye"]


def test_a_damaged_output_is_a_corrupt_ware_and_nothing_is_saved(tmp_path: Path) -> None:
    script = [frame("hello", {"version": 1}), *output_frames(b"packet", sent=b"packed"), frame("result", RESULT)]
    (error, _), _ = converse(tmp_path, script)
    assert isinstance(error, R2k8sError) and error.category is Category.WARE_CORRUPT
    assert error.message == (
        'output "/out" was damaged on its way from the build pod: received 6 bytes, the pod sent 6'
    )
    assert list((tmp_path / "wares").iterdir()) == []


def test_a_malformed_ware_end_loses_the_connection_and_leaves_no_staging_file(tmp_path: Path) -> None:
    script = [frame("hello", {"version": 1}), *output_frames(b"packed", end={"path": "/out", "size": 6})]
    (error, _), _ = converse(tmp_path, script)
    assert isinstance(error, ConnectionLost)
    assert "malformed 'wareEnd' frame" in error.message and "'sha256'" in error.message
    assert list((tmp_path / "wares").iterdir()) == []


@pytest.mark.parametrize("kind", ["ware", "wareEnd"])
def test_an_output_frame_outside_its_transfer_loses_the_connection(tmp_path: Path, kind: str) -> None:
    script = [frame("hello", {"version": 1}), frame(kind, {"path": "/out", "data": "", "size": 0, "sha256": ""})]
    (error, _), _ = converse(tmp_path, script)
    assert isinstance(error, ConnectionLost)
    assert f"'{kind}' for output '/out' outside its transfer" in error.message


def test_an_input_is_streamed_after_the_agents_hello(tmp_path: Path) -> None:
    data = bytes(range(256)) * 3000  # 768,000 bytes: two raw chunks
    script: list[Step] = [
        frame("hello", {"version": 1}),
        lambda transport: "wareEnd" in transport.kinds(),
        frame("result", {**RESULT, "runRecord": {**RESULT["runRecord"], "results": {}}}),
    ]
    (record, transport), _ = converse(tmp_path, script, {str(INPUT): io.BytesIO(data)})
    assert isinstance(record, RunRecord)
    frames = transport.frames()
    assert [f.kind for f in frames] == ["hello", "wareBegin", "ware", "ware", "wareEnd", "bye"]
    assert frames[1].body == {"id": str(INPUT)}  # a stream of unknown length announces no size
    # The pod's stdin is logged nowhere, so chunks travel as raw bytes after their line, not as base64.
    assert [f.body for f in frames[2:4]] == [{"id": str(INPUT), "raw": 512 * 1024}, {"id": str(INPUT), "raw": 243_712}]
    assert frames[2].data is not None and frames[3].data is not None
    assert frames[2].data + frames[3].data == data
    assert frames[4].body == {"id": str(INPUT), "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
