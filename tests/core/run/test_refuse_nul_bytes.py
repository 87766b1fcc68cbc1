"""A formula holding a NUL byte where the kernel takes a C string is refused before the run does anything (issue 12).

Its formula ID is still computed (repeatr computes one: a NUL is a character
like any other in JSON), but running it fails at once with the field named,
as ``repeatr-job-invalid`` for the action's fields, ``rio-assembly-invalid``
for input paths and mount sources, ``rio-pack-invalid`` for output paths: not
an internal error or an executor failure after the inputs were fetched. The
job runs in process and never gets as far as the jobs directory or the ware
cache, so neither root nor busybox is needed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from r2k8s.core.errors import Category, R2k8sError
from r2k8s.core.formula.ids import formula_id
from r2k8s.core.run import linux
from r2k8s.core.run.job import Job, JobOptions
from r2k8s.core.warehouse.cache import WareCache
from r2k8s.formula_files import load_formula_bytes

SOME_WARE = "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"

JOB_INVALID, ASSEMBLY_INVALID, PACK_INVALID = Category.JOB_INVALID, Category.ASSEMBLY_INVALID, Category.PACK_INVALID


class Quiet:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, line: str) -> None:
        self.lines.append(line)

    def output(self, line: bytes) -> None:
        raise AssertionError("nothing may run")


def document(action: dict[str, Any], inputs: dict[str, str] | None = None, **formula: Any) -> bytes:
    body = {"inputs": {"/": SOME_WARE, **(inputs or {})}, "action": {"exec": ["/bin/true"], **action}, **formula}
    return json.dumps({"formula": body, "context": {"fetchUrls": {"/": ["file://./nowhere.tgz"]}}}).encode()


CASES = [
    ({"exec": ["/bin/\x00sh", "-c", "true"]}, {}, JOB_INVALID, '$.formula.action.exec[0] "/bin/\\u0000sh"'),
    ({"exec": ["/bin/sh", "-c", "tr\x00ue"]}, {}, JOB_INVALID, '$.formula.action.exec[2] "tr\\u0000ue"'),
    ({"env": {"A": "a\x00b"}}, {}, JOB_INVALID, '$.formula.action.env.A "a\\u0000b"'),
    ({"env": {"A\x00": "b"}}, {}, JOB_INVALID, 'the name of $.formula.action.env["A\\u0000"]'),
    ({"cwd": "/task\x00/x"}, {}, JOB_INVALID, '$.formula.action.cwd "/task\\u0000/x"'),
    ({"hostname": "h\x00x"}, {}, JOB_INVALID, '$.formula.action.hostname "h\\u0000x"'),
    ({"userinfo": {"homedir": "/h\x00"}}, {}, JOB_INVALID, '$.formula.action.userinfo.homedir "/h\\u0000"'),
    # the defaults make $USER and the home directory from the user name: that is the field to fix
    ({"userinfo": {"username": "u\x00"}}, {}, JOB_INVALID, '$.formula.action.userinfo.username "u\\u0000"'),
    ({}, {"/a\x00b": SOME_WARE}, ASSEMBLY_INVALID, 'the path of $.formula.inputs["/a\\u0000b"]'),
    ({}, {"/m": "mount:ro:/tmp\x00/etc"}, ASSEMBLY_INVALID, '$.formula.inputs["/m"] "mount:ro:/tmp\\u0000/etc"'),
]


IDS = ["exec0", "exec2", "env-value", "env-name", "cwd", "hostname", "homedir", "username", "input-path", "mount"]


@pytest.mark.parametrize(("action", "inputs", "category", "names"), CASES, ids=IDS)
def test_a_nul_byte_is_refused_with_its_field_named_before_anything_is_done(
    tmp_path: Path, action: dict[str, Any], inputs: dict[str, str], category: Category, names: str
) -> None:
    loaded = load_formula_bytes(document(action, inputs), "job.formula")
    assert formula_id(loaded.formula)  # an ID as repeatr computes it: the formula itself is valid
    options = JobOptions(cache=WareCache(tmp_path / "cache"), jobs_dir=tmp_path / "jobs")
    job = Job(loaded.formula, loaded.context, loaded.formula_id, Quiet(), options, base_dir=tmp_path)
    with pytest.raises(R2k8sError) as caught:
        job.run()
    assert caught.value.category is category
    assert names in caught.value.message and "holds a NUL byte" in caught.value.message
    assert not (tmp_path / "jobs").exists() and not (tmp_path / "cache").exists()


def test_an_output_path_with_a_nul_byte_cannot_be_packed(tmp_path: Path) -> None:
    loaded = load_formula_bytes(document({}, outputs={"/o\x00": {"packtype": "tar"}}), "job.formula")
    options = JobOptions(cache=WareCache(tmp_path / "cache"), jobs_dir=tmp_path / "jobs")
    job = Job(loaded.formula, loaded.context, loaded.formula_id, Quiet(), options, base_dir=tmp_path)
    with pytest.raises(R2k8sError) as caught:
        job.run()
    assert caught.value.category is PACK_INVALID
    assert 'the path of $.formula.outputs["/o\\u0000"] holds a NUL byte' in caught.value.message


def test_fields_the_run_does_not_use_are_not_refused(tmp_path: Path) -> None:
    """Without the cradle no home directory is made, and a ``$USER`` the formula sets replaces the user name."""
    action = {"cradle": "disable", "userinfo": {"homedir": "/h\x00", "username": "u\x00"}}
    loaded = load_formula_bytes(document(action), "job.formula")
    options = JobOptions(cache=WareCache(tmp_path / "cache"), jobs_dir=tmp_path / "jobs")
    job = Job(loaded.formula, loaded.context, loaded.formula_id, Quiet(), options, base_dir=tmp_path)
    with pytest.raises(R2k8sError) as caught:
        job.run()
    assert caught.value.category is Category.WARE_NOT_FOUND  # it got as far as the fetch: nowhere.tgz is not there


def test_a_long_argument_is_shown_around_its_nul_byte(tmp_path: Path) -> None:
    argument = "a" * 100_000 + "\x00" + "b" * 100_000
    loaded = load_formula_bytes(document({"exec": ["/bin/echo", argument]}), "job.formula")
    options = JobOptions(cache=WareCache(tmp_path / "cache"), jobs_dir=tmp_path / "jobs")
    job = Job(loaded.formula, loaded.context, loaded.formula_id, Quiet(), options, base_dir=tmp_path)
    with pytest.raises(R2k8sError) as caught:
        job.run()
    assert "a\\u0000b" in caught.value.message and "(200001 characters)" in caught.value.message
    assert len(caught.value.message) < 400


def test_libc_calls_refuse_a_nul_byte_rather_than_cut_the_path_short() -> None:
    """``ctypes`` would hand libc the bytes and libc would stop at the NUL: ``mount`` on another path."""
    with pytest.raises(ValueError, match="null byte"):
        linux.mount("/tmp\x00/etc", "/nonexistent", None, linux.MS_REC)
    with pytest.raises(ValueError, match="null byte"):
        linux.umount2("/nonexistent\x00")
