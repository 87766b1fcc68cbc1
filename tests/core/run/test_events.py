"""repeatr's ``--format json`` events, byte for byte (reference §3.3; go-timeless-api ``repeatrFmtJson.go``).

Vectors: the reference's example log and txt events; the result event as refmt's pretty encoder writes a keyed
union holding the run record (four spaces, ``": "``, a line break after each opening bracket and comma) plus the
printer's extra newline; with an error, ``category`` and ``message`` in that order after the record. The record
inside the result must be exactly :func:`to_json`'s, indented two levels deeper (a property over random records).
"""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from r2k8s.core.run.events import (
    JsonMonitor,
    log_event,
    output_event,
    read_result,
    result_event,
    split_events,
    tagged,
)
from r2k8s.core.run.record import RunRecord, to_json

RECORD = RunRecord(
    guid="by356nem-e0trxfw4-mt4xk1m9",
    time=1544875520,
    formula_id="AteQchZcX1WATj4rnwsmDf4Gqhe6To4CWLj4j8Ghdjd3Ab4DJ7Abk2tuBfG96jruT",
    exit_code=0,
    results={"/task/out": "tar:729LuUdChuu7traKQHNVAoWD9AjmrdCY4QUquhU6sPeRktVKrHo4k4cSaiQ523Nn4D"},
    hostname="myhost",
)


def test_the_reference_log_event() -> None:
    assert log_event("info: read for ware", 1544875520, [("wareID", "tar:x")]) == (
        b'{"log":{"t":1544875520,"lvl":2,"msg":"read for ware","detail":[["wareID","tar:x"]]}}\n'
    )


def test_levels_come_from_the_log_lines_prefix() -> None:
    def level_and_msg(line: str) -> tuple[int, str]:
        body = json.loads(log_event(line, 1))["log"]
        return body["lvl"], body["msg"]

    assert level_and_msg("error: x") == (4, "x")
    assert level_and_msg("warn: cache is slow") == (3, "cache is slow")
    assert level_and_msg("info: created job") == (2, "created job")
    assert level_and_msg("debug: y") == (1, "y")
    assert level_and_msg("unpacking: skipping an entry") == (2, "unpacking: skipping an entry")
    assert level_and_msg("info:no space") == (2, "info:no space")
    assert "detail" not in json.loads(log_event("info: x", 1))["log"]  # omitempty


def test_the_reference_txt_event() -> None:
    assert output_event(b"hello world!", 1544875521) == b'{"txt":{"t":1544875521,"msg":"hello world!\\n"}}\n'


def test_txt_escapes_as_refmt() -> None:
    assert output_event(b'tab\there "q" \\ \x01 \xff \xe2\x80\xa8 \xc3\xa9', 7) == (
        b'{"txt":{"t":7,"msg":"tab\\there \\"q\\" \\\\ \\u0001 \\ufffd \\u2028 \xc3\xa9\\n"}}\n'
    )


def test_the_result_event_of_a_run() -> None:
    assert result_event(RECORD) == (
        b"{\n"
        b'    "result": {\n'
        b'        "runRecord": {\n'
        b'            "guid": "by356nem-e0trxfw4-mt4xk1m9",\n'
        b'            "time": 1544875520,\n'
        b'            "formulaID": "AteQchZcX1WATj4rnwsmDf4Gqhe6To4CWLj4j8Ghdjd3Ab4DJ7Abk2tuBfG96jruT",\n'
        b'            "exitCode": 0,\n'
        b'            "results": {\n'
        b'                "/task/out": "tar:729LuUdChuu7traKQHNVAoWD9AjmrdCY4QUquhU6sPeRktVKrHo4k4cSaiQ523Nn4D"\n'
        b"            },\n"
        b'            "hostname": "myhost"\n'
        b"        }\n"
        b"    }\n"
        b"}\n"
        b"\n"
    )


def test_the_result_event_of_a_run_that_failed_after_it_started() -> None:
    failed = RunRecord("g", 5, "F", -1, None, "h")
    assert result_event(failed, ("rio-warehouse-unavailable", "no warehouses were available!")) == (
        b"{\n"
        b'    "result": {\n'
        b'        "runRecord": {\n'
        b'            "guid": "g",\n'
        b'            "time": 5,\n'
        b'            "formulaID": "F",\n'
        b'            "exitCode": -1,\n'
        b'            "results": null,\n'
        b'            "hostname": "h"\n'
        b"        },\n"
        b'        "error": {\n'
        b'            "category": "rio-warehouse-unavailable",\n'
        b'            "message": "no warehouses were available!"\n'
        b"        }\n"
        b"    }\n"
        b"}\n"
        b"\n"
    )


def test_the_result_event_without_a_record() -> None:
    assert result_event(None, ("repeatr-executor-problem", 'a "quoted"\nline')) == (
        b'{\n    "result": {\n        "error": {\n            "category": "repeatr-executor-problem",\n'
        b'            "message": "a \\"quoted\\"\\nline"\n        }\n    }\n}\n\n'
    )


def test_results_are_in_go_map_order_and_empty_results_are_braces() -> None:
    record = RunRecord("g", 1, "F", 0, {"/b": "tar:2", "/a": "tar:1", "/\u00e9": "tar:3", "/Z": "tar:4"})
    doc = json.loads(result_event(record))
    assert list(doc["result"]["runRecord"]["results"]) == ["/Z", "/a", "/b", "/\u00e9"]
    assert b'"results": {},' in result_event(RunRecord("g", 1, "F", 0, {}, "h"))


_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=20)


_records = st.builds(
    RunRecord,
    guid=_text,
    time=st.integers(min_value=0, max_value=2**40),
    formula_id=_text,
    exit_code=st.integers(min_value=-1, max_value=255),
    results=st.one_of(st.none(), st.dictionaries(_text, _text, max_size=4)),
    hostname=_text,
    metadata=st.one_of(st.none(), st.dictionaries(_text, _text, max_size=2)),
)


@given(_records)
def test_the_record_in_the_result_is_the_printed_record_two_levels_deeper(record: RunRecord) -> None:
    printed = to_json(record).rstrip("\n").split("\n")
    nested = "\n".join([printed[0]] + ["        " + line for line in printed[1:]])
    assert result_event(record) == ('{\n    "result": {\n        "runRecord": ' + nested + "\n    }\n}\n\n").encode()


def test_the_monitor_writes_whole_events_in_order() -> None:
    stream = io.BytesIO()
    monitor = JsonMonitor(stream)
    monitor.log("info: hello")
    monitor.output(b"out")
    monitor.result(RECORD)
    lines = stream.getvalue().decode().split("\n", 2)
    assert json.loads(lines[0])["log"]["msg"] == "hello"
    assert json.loads(lines[1]) == {"txt": {"t": json.loads(lines[1])["txt"]["t"], "msg": "out\n"}}
    assert lines[2] == result_event(RECORD).decode()


# -- emerge's events: a step's events tagged, a child's stream read back ---------------------------------------


def test_a_tagged_event_is_the_steps_bytes_with_the_step_first() -> None:
    assert tagged(output_event(b"hi", 7), "left") == b'{"txt":{"step":"left","t":7,"msg":"hi\\n"}}\n'
    assert tagged(log_event("warn: x", 7, [("k", "v")]), 'a "b"') == (
        b'{"log":{"step":"a \\"b\\"","t":7,"lvl":3,"msg":"x","detail":[["k","v"]]}}\n'
    )
    assert log_event("warn: x", 7, step="s") == tagged(log_event("warn: x", 7), "s")


def test_only_whole_log_and_txt_events_are_tagged() -> None:
    for bad in (b'{"log":{"t":7,"lvl":2,"msg":"cut', b'{"other":{"t":1}}\n', b"{\n", result_event(RECORD), b"x\n"):
        with pytest.raises(ValueError):
            tagged(bad, "s")


def test_a_step_result_and_emerges_final_result() -> None:
    assert result_event(RECORD, step="left").startswith(
        b'{\n    "result": {\n        "step": "left",\n        "runRecord"'
    )
    final = result_event(None, exports={"b": "tar:2", "a": "tar:1"})
    assert final == (
        b'{\n    "result": {\n        "exports": {\n'
        b'            "a": "tar:1",\n            "b": "tar:2"\n        }\n    }\n}\n\n'
    )


@given(
    st.lists(
        st.one_of(
            st.builds(lambda line, t: log_event(line, t), _text, st.integers(min_value=0, max_value=2**40)),
            st.builds(lambda data: output_event(data, 1), st.binary(max_size=20).filter(lambda b: b"\n" not in b)),
            st.builds(
                result_event,
                st.one_of(st.none(), _records),
                st.one_of(st.none(), st.tuples(_text, _text)),
            ),
        ),
        max_size=6,
    )
)
def test_a_stream_splits_back_into_its_events(events: list[bytes]) -> None:
    stream = io.BytesIO(b"".join(events))
    assert list(split_events(stream)) == events
    for event in events:
        if event.startswith(b"{\n"):
            record, error = read_result(event)
            assert result_event(record, error) == event
        else:
            assert json.loads(tagged(event, "s")) == {
                key: {"step": "s", **body} for key, body in json.loads(event).items()
            }


def test_a_result_cut_short_is_no_event() -> None:
    whole = log_event("info: a", 1)
    assert list(split_events(io.BytesIO(whole + result_event(RECORD)[:-5]))) == [whole]


def test_read_result_refuses_what_is_no_result() -> None:
    for bad in (log_event("info: a", 1), b'{"result": {"error": {"category": 1}}}', b'{"result": 3}'):
        with pytest.raises(ValueError):
            read_result(bad)
