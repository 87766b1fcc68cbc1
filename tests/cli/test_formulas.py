"""``r2k8s formula-id`` as a user runs it: the ID alone on stdout, the legacy setup hash for legacy files."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from upstream_formulas import RELEASE_V014, UPSTREAM

from r2k8s.core.formula.ids import formula_id, legacy_setup_hash, raw_setup_hash
from r2k8s.formula_files import load_formula_file


def formula_id_command(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "r2k8s", "formula-id", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("raw", [False, True])
def test_a_modern_formula_prints_its_id_or_with_raw_its_memo_key(tmp_path: Path, raw: bool) -> None:
    path = tmp_path / "f.formula"
    path.write_text(UPSTREAM["example_03_output.formula"])
    formula = load_formula_file(path).formula
    expected = raw_setup_hash(formula) if raw else formula_id(formula)
    assert formula_id_command(str(path), *(["--raw"] if raw else [])) == expected + "\n"
    assert raw_setup_hash(formula) != formula_id(formula)  # so the two cases differ


@pytest.mark.parametrize("raw", [False, True])
def test_a_legacy_formula_prints_its_legacy_setup_hash_either_way(tmp_path: Path, raw: bool) -> None:
    path = tmp_path / "release.frm"
    path.write_text(RELEASE_V014)
    legacy = load_formula_file(path).legacy
    assert legacy is not None
    assert formula_id_command(str(path), *(["--raw"] if raw else [])) == legacy_setup_hash(legacy) + "\n"


# -- formulas repeatr hashes but cannot run: formula-id prints repeatr's ID, and warns -------------------------
# Expected bytes are the canonical CBOR of reference §2.3, written out by hand: the defaulted action of a formula
# with no action (cwd /task, HOME/PATH/USER, userinfo 1000/1000/reuser/home/reuser), as in §2.4 minus exec.

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58(data: bytes) -> str:
    number, out = int.from_bytes(data, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        out = _B58[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def _text(value: str) -> bytes:
    raw = value.encode()
    assert len(raw) < 24 or len(raw) < 256
    return (bytes([0x60 + len(raw)]) if len(raw) < 24 else bytes([0x78, len(raw)])) + raw


_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ACTION = (
    b"\xa3"
    + _text("cwd")
    + _text("/task")
    + _text("env")
    + b"\xa3"
    + _text("HOME")
    + _text("/home/reuser")
    + _text("PATH")
    + _text(_PATH)
    + _text("USER")
    + _text("reuser")
    + _text("userinfo")
    + b"\xa4"
    + _text("uid")
    + b"\x19\x03\xe8"
    + _text("gid")
    + b"\x19\x03\xe8"
    + _text("username")
    + _text("reuser")
    + _text("homedir")
    + _text("/home/reuser")
)


def _id(inputs: bytes, outputs: bytes = b"\xf6") -> str:
    cbor = b"\xa3" + _text("inputs") + inputs + _text("action") + _ACTION + _text("outputs") + outputs
    return _b58(hashlib.sha384(cbor).digest())


def _run(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "f.formula"
    path.write_text(text)
    return subprocess.run([sys.executable, "-m", "r2k8s", *args, str(path)], capture_output=True, text=True)


@pytest.mark.parametrize(
    ("text", "expected", "warning"),
    [
        # No formula at all: refmt leaves the zero Formula (inputs and outputs null).
        ("{}", _id(b"\xf6"), "no 'formula' key"),
        ('{"context": {"fetchUrls": {}}}', _id(b"\xf6"), "no 'formula' key"),
        # Keys and values as written: a relative and an empty mount path; WareID.String() of "tar:" is "tar:-",
        # of ":x" and "" is "".
        ('{"formula": {"inputs": {"rel": "tar:"}}}', _id(b"\xa1" + _text("rel") + _text("tar:-")), "empty hash"),
        ('{"formula": {"inputs": {"": ":x"}}}', _id(b"\xa1" + _text("") + _text("")), "empty packtype"),
        ('{"formula": {"inputs": {"/": ""}}}', _id(b"\xa1" + _text("/") + _text("")), "is empty"),
        # An output with unknown filter keys hashes as the filters refmt read: here none, {}.
        (
            '{"formula": {"outputs": {"out": {"packtype": "tar", "filters": {"colour": "blue"}}}}}',
            _id(
                b"\xf6",
                b"\xa1" + _text("out") + b"\xa2" + _text("packtype") + _text("tar") + _text("filters") + b"\xa0",
            ),
            "unknown filter 'colour' is ignored",
        ),
    ],
)
def test_formula_id_prints_repeatrs_id_for_what_cannot_run_and_warns(
    tmp_path: Path, text: str, expected: str, warning: str
) -> None:
    done = _run(tmp_path, text, "formula-id")
    assert (done.returncode, done.stdout) == (0, expected + "\n"), done.stderr
    assert "warning: " in done.stderr and warning in done.stderr
    linted = _run(tmp_path, text, "lint")
    assert linted.returncode == 1 and warning in linted.stdout


def test_relative_cwd_and_homedir_hash_as_written(tmp_path: Path) -> None:
    text = '{"formula": {"action": {"cwd": "task", "userinfo": {"homedir": "h"}}}}'
    # FormulaDefaults: HOME is the homedir, as given.
    action = (
        _ACTION.replace(_text("/task"), _text("task"))
        .replace(_text("homedir") + _text("/home/reuser"), _text("homedir") + _text("h"))
        .replace(_text("HOME") + _text("/home/reuser"), _text("HOME") + _text("h"))
    )
    cbor = b"\xa3" + _text("inputs") + b"\xf6" + _text("action") + action + _text("outputs") + b"\xf6"
    done = _run(tmp_path, text, "formula-id")
    assert done.stdout == _b58(hashlib.sha384(cbor).digest()) + "\n"
    assert "cwd 'task' must be an absolute path" in done.stderr and "homedir 'h'" in done.stderr


def test_lint_is_quiet_and_exits_0_on_a_runnable_formula(tmp_path: Path) -> None:
    done = _run(tmp_path, UPSTREAM["example_03_output.formula"], "lint")
    assert (done.returncode, done.stdout) == (0, "")
