"""The memo store: repeatr's REPEATR_MEMODIR layout, what is kept and what is passed over, atomic writes."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tarbuild import D, F, make_tar

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula.model import Formula
from r2k8s.core.formula.parse import parse_formula_document
from r2k8s.core.run.memo import ELIDED, MemoStore, memo_key, missing_output
from r2k8s.core.run.record import RunRecord, from_json, to_compact_json, to_json
from r2k8s.core.ware.filters import UNPACK_LOSSLESS
from r2k8s.core.ware.ingest import ingest_tar

HELLO = {
    "formula": {
        "inputs": {"/": "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"},
        "action": {"exec": ["/bin/echo", "hello world!"]},
    }
}


BASE = RunRecord(
    guid="by356nem-e0trxfw4-mt4xk1m9",
    time=1544875520,
    formula_id="AteQchZcX1WATj4rnwsmDf4Gqhe6To4CWLj4j8Ghdjd3Ab4DJ7Abk2tuBfG96jruT",
    exit_code=0,
    results={},
    hostname="node-1",
)


def _record(**kw: Any) -> RunRecord:
    return dataclasses.replace(BASE, **kw)


def _formula(document: dict[str, object]) -> Formula:
    return parse_formula_document(document)[0]


def test_the_key_is_the_raw_setup_hash_not_the_formula_id() -> None:
    formula = _formula(HELLO)
    from r2k8s.core.formula.ids import formula_id

    assert memo_key(formula) != formula_id(formula)  # the §2.5 trap: no defaults in the memo key
    assert memo_key(formula) == memo_key(_formula(json.loads(json.dumps(HELLO))))


def test_a_record_is_kept_as_compact_json_and_printed_back_byte_for_byte(tmp_path: Path) -> None:
    store = MemoStore(tmp_path / "memo")
    record = _record(results={"/out": "tar:abc", "/a": "tar:-"})
    assert store.save("KEY", record, _no_log)
    text = (tmp_path / "memo" / "KEY").read_text()
    assert text == (
        '{"guid":"by356nem-e0trxfw4-mt4xk1m9","time":1544875520,'
        '"formulaID":"AteQchZcX1WATj4rnwsmDf4Gqhe6To4CWLj4j8Ghdjd3Ab4DJ7Abk2tuBfG96jruT","exitCode":0,'
        '"results":{"/a":"tar:-","/out":"tar:abc"},"hostname":"node-1"}'
    )
    loaded = store.load("KEY")
    assert loaded is not None and to_json(loaded) == to_json(record)
    assert oct((tmp_path / "memo" / "KEY").stat().st_mode & 0o777) == "0o644"


_text = st.text(st.characters(codec="utf-8"), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    guid=_text,
    time=st.integers(min_value=-(2**62), max_value=2**62),
    exit_code=st.integers(min_value=-1, max_value=255),
    results=st.one_of(st.none(), st.dictionaries(_text, _text, max_size=4)),
    hostname=_text,
)
def test_compact_and_pretty_encodings_agree_for_any_record(
    guid: str, time: int, exit_code: int, results: dict[str, str] | None, hostname: str
) -> None:
    record = _record(guid=guid, time=time, exit_code=exit_code, results=results, hostname=hostname)
    compact = to_compact_json(record)
    assert "\n" not in compact
    assert json.loads(compact) == json.loads(to_json(record))
    assert to_json(from_json(compact)) == to_json(record)


def test_only_a_run_whose_action_exited_zero_is_kept(tmp_path: Path) -> None:
    store = MemoStore(tmp_path)
    assert not store.save("K", _record(exit_code=3), _no_log)
    assert not (tmp_path / "K").exists()


def test_a_record_with_a_non_zero_exit_written_by_repeatr_is_passed_over(tmp_path: Path) -> None:
    (tmp_path / "K").write_text(to_compact_json(_record(exit_code=1)))
    lines: list[str] = []
    assert MemoStore(tmp_path).recall("K", {}, None, lines.append) is None
    assert "exited 1; running again" in lines[0]


def test_a_hit_says_so_as_repeatr_does(tmp_path: Path) -> None:
    MemoStore(tmp_path).save("K", _record(), _no_log)
    lines: list[str] = []
    assert MemoStore(tmp_path).recall("K", {}, None, lines.append) == _record()
    assert lines == [f"info: {ELIDED} --- setupHash: K"]
    assert ELIDED == "memoized runRecord found for formula setupHash; eliding run"


def test_a_garbled_memo_is_a_local_cache_problem_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "K").write_text('{"guid": 3')
    with pytest.raises(R2k8sError) as caught:
        MemoStore(tmp_path).load("K")
    assert caught.value.category is Category.LOCAL_CACHE_PROBLEM
    assert str(tmp_path / "K") in caught.value.message


def test_an_unwritable_memo_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    lines: list[str] = []
    assert not MemoStore(tmp_path / "file" / "memo").save("K", _record(), lines.append)
    assert lines and lines[0].startswith("warn: saving memoized runRecord failed")


def _ware_tar(tmp_path: Path, content: bytes) -> tuple[Path, str]:
    data = make_tar([D("."), F("./x", content)])
    ware = str(ingest_tar(io.BytesIO(data), UNPACK_LOSSLESS).prefilter_id)
    path = tmp_path / f"{content.decode()}.tar"
    path.write_bytes(data)
    return path, ware


def test_outputs_must_still_be_in_their_content_addressed_warehouse(tmp_path: Path) -> None:
    _tar, ware = _ware_tar(tmp_path, b"one")
    record = _record(results={"/out": ware, "/none": "tar:-", "/unsaved": ware})
    urls = {"/out": "ca+file://./wares", "/none": "ca+file://./wares"}
    missing = missing_output(record, urls, tmp_path)
    assert missing is not None and "/out" in missing and "is not in warehouse" in missing
    hash_ = ware.split(":", 1)[1]
    where = tmp_path / "wares" / hash_[:3] / hash_[3:6] / hash_
    where.parent.mkdir(parents=True)
    where.write_bytes(b"trusted by name, as rio trusts a CA warehouse")
    assert missing_output(record, urls, tmp_path) is None


def test_an_output_at_a_plain_file_target_must_still_hash_to_the_ware(tmp_path: Path) -> None:
    one, ware_one = _ware_tar(tmp_path, b"one")
    two, _ware_two = _ware_tar(tmp_path, b"two")
    record = _record(results={"/out": ware_one})
    assert missing_output(record, {"/out": f"file://{one}"}, None) is None
    one.write_bytes(two.read_bytes())  # a later save to the same target overwrote it
    missing = missing_output(record, {"/out": f"file://{one}"}, None)
    assert missing is not None and "no longer holds" in missing


def test_concurrent_writers_and_readers_never_see_half_a_record(tmp_path: Path) -> None:
    store = MemoStore(tmp_path)
    big = _record(results={f"/out{i}": "tar:" + "x" * 60 for i in range(300)})
    stop = threading.Event()
    problems: list[BaseException] = []

    def write(guid: str) -> None:
        while not stop.is_set():
            store.save("K", _record(guid=guid, results=big.results), _no_log)

    def read() -> None:
        while not stop.is_set():
            try:
                found = store.load("K")
                assert found is None or len(found.results or {}) == 300
            except BaseException as exc:  # collected; the main thread asserts there are none
                problems.append(exc)
                return

    threads = [threading.Thread(target=write, args=(g,)) for g in ("a", "b")] + [threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    threading.Event().wait(1.0)
    stop.set()
    for thread in threads:
        thread.join()
    assert problems == []
    assert sorted(os.listdir(tmp_path)) == ["K"]  # no temporary file left


def _no_log(_line: str) -> None:
    pass
