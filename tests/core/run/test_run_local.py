"""``r2k8s run --local`` runs formulas for real on a busybox root filesystem (no ../shared needed).

Every test runs the CLI as a subprocess, as root, with its own ware cache and
job directory, and checks what a user sees: the run record on stdout, the
action's output and the errors on stderr, the exit code, the saved wares,
and that nothing is left behind (job trees, mounts, processes).
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from busybox_rootfs import needs_busybox, needs_root, rootfs_tgz, rootfs_ware_id
from formula_runs import Outcome, run_local, start_local, write_formula
from loopback_http import serve
from tarbuild import D, F, L, make_tar

from r2k8s.core.formula.ids import formula_id
from r2k8s.core.run.record import to_json
from r2k8s.core.ware.filters import UNPACK_CONSERVATIVE
from r2k8s.core.ware.ingest import ingest_tar
from r2k8s.formula_files import load_formula_file

pytestmark = [needs_root, needs_busybox]

EXECUTORS = ["namespaced", "chroot"]
ROUTINE_CAPS = f"{(1 << 29) | (1 << 5) | (1 << 10):016x}"  # AUDIT_WRITE, KILL, NET_BIND_SERVICE


@dataclass
class Env:
    """A formula folder holding the busybox rootfs, plus a private cache and jobs dir."""

    dir: Path
    cache: Path
    jobs: Path

    @property
    def rootfs(self) -> dict[str, str]:
        return {"/": rootfs_ware_id()}

    @property
    def fetch(self) -> dict[str, list[str]]:
        return {"/": ["file://./rootfs.tgz"]}

    def formula(self, action: dict, **kw) -> Path:
        kw.setdefault("fetch", self.fetch)
        return write_formula(self.dir, kw.pop("inputs", self.rootfs), action, **kw)

    def run(self, formula: Path, *args: str, **kw) -> Outcome:
        return run_local(formula, *args, cache=self.cache, jobs=self.jobs, **kw)

    def assert_clean(self) -> None:
        """No job tree left, and no mount of ours visible on the host."""
        leftovers = sorted(p.name for p in self.jobs.iterdir()) if self.jobs.exists() else []
        assert leftovers == []
        assert str(self.jobs) not in Path("/proc/self/mountinfo").read_text()


@pytest.fixture
def env(tmp_path: Path) -> Env:
    work = tmp_path / "pkg"
    work.mkdir()
    (work / "rootfs.tgz").write_bytes(rootfs_tgz())
    (work / "wares").mkdir()
    return Env(work, tmp_path / "cache", tmp_path / "jobs")


def sh(script: str, **action) -> dict:
    return {"exec": ["/bin/sh", "-c", script], **action}


def scan(path: Path) -> str:
    with path.open("rb") as f:
        return str(ingest_tar(f, UNPACK_CONSERVATIVE).prefilter_id)


def ca_path(warehouse: Path, ware: str) -> Path:
    h = ware.split(":", 1)[1]
    return warehouse / h[:3] / h[3:6] / h


# -- the run record and the output ---------------------------------------------------------------


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_run_prints_repeatrs_record_on_stdout_and_the_output_on_stderr(env: Env, executor: str) -> None:
    formula = env.formula({"exec": ["/bin/echo", "hello from busybox"]})
    outcome = env.run(formula, "--executor", executor)
    record = outcome.record
    assert outcome.stdout == to_json(record)  # nothing else on stdout, byte for byte repeatr's layout
    assert outcome.stdout.startswith('{\n    "guid": ')
    assert record.formula_id == formula_id(load_formula_file(formula).formula)
    assert (record.exit_code, record.results, record.hostname) == (0, {}, socket.gethostname())
    assert abs(record.time - time.time()) < 120
    assert outcome.output_lines() == ["hello from busybox"]
    assert "runrecord follows:" in outcome.stderr.splitlines()[-1]
    env.assert_clean()


def test_the_namespaced_executor_isolates_like_repeatrs_runc_config(env: Env) -> None:
    script = (
        "echo pid=$$; echo host=$(hostname); grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status;"
        " echo id=$(id -u):$(id -g):$(id -G); echo cwd=$(pwd); ls /dev | tr '\\n' ' '; echo;"
        " echo ok > /dev/null && echo devnull=ok; echo nofile=$(ulimit -n); echo home=$HOME user=$USER path=$PATH;"
        " cat /proc/mounts | cut -d' ' -f2 | sort | tr '\\n' ' '"
    )
    outcome = env.run(env.formula(sh(script)))
    lines = outcome.output_lines()
    record = outcome.record
    assert "pid=1" in lines
    assert f"host={record.guid}" in lines  # no hostname in the formula: the job guid, as runc does
    for key in ("CapEff", "CapBnd", "CapAmb"):
        assert f"{key}:\t{ROUTINE_CAPS}" in lines  # uid 1000 keeps the routine policy's three capabilities
    assert "NoNewPrivs:\t1" in lines
    assert "id=1000:1000:1000" in lines and "cwd=/task" in lines
    dev = next(line for line in lines if "null" in line and "urandom" in line).split()
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "fd", "ptmx"} <= set(dev)
    assert "devnull=ok" in lines and "nofile=1024" in lines
    assert "home=/home/reuser user=reuser path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in lines
    mounts = lines[-1].split()
    assert {"/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/proc/sys"} <= set(mounts)


def test_hostname_and_policy_come_from_the_formula(env: Env) -> None:
    script = "hostname; grep CapEff /proc/self/status; id -u"
    outcome = env.run(env.formula(sh(script, hostname="builder", policy="governor", userinfo={"uid": 0, "gid": 0})))
    lines = outcome.output_lines()
    governor = sum(1 << n for n in (29, 0, 1, 4, 3, 5, 10, 13, 6, 7, 31, 8, 18))
    assert lines == ["builder", f"CapEff:\t{governor:016x}", "0"]


def test_an_unknown_policy_is_a_usage_error(env: Env) -> None:
    outcome = env.run(env.formula(sh("true", policy="superuser")))
    assert outcome.code == 1 and outcome.stdout == ""
    assert 'invalid policy "superuser"' in outcome.stderr


def test_the_chroot_executor_only_changes_root_and_user(env: Env) -> None:
    outcome = env.run(env.formula(sh("echo pid=$$; hostname; ls -A /proc | wc -l; id -u")), "--executor", "chroot")
    pid, host, proc_entries, uid = outcome.output_lines()
    assert pid != "pid=1" and host == socket.gethostname() and proc_entries == "0" and uid == "1000"


def test_runc_is_accepted_as_repeatrs_name_for_the_namespaced_executor(env: Env) -> None:
    outcome = env.run(env.formula(sh("echo $$")), "--executor", "runc")
    assert outcome.output_lines() == ["1"]


# -- exit codes of the action -----------------------------------------------------------------


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_failing_action_is_reported_in_the_record_and_outputs_are_still_packed(env: Env, executor: str) -> None:
    formula = env.formula(
        sh("mkdir -p out && echo partial > out/log && exit 3"), outputs={"/task/out": {"packtype": "tar"}}
    )
    outcome = env.run(formula, "--executor", executor)
    assert outcome.code == 0  # repeatr: the formula was evaluated; the action's failure is data
    assert outcome.record.exit_code == 3
    assert outcome.record.results["/task/out"].startswith("tar:")


def test_an_action_killed_by_a_signal_reports_128_plus_the_signal(env: Env) -> None:
    outcome = env.run(env.formula(sh("kill -9 $$")), "--executor", "chroot")
    assert outcome.record.exit_code == 137


# -- outputs --------------------------------------------------------------------------------------


def test_outputs_are_packed_with_repeatrs_defaults_and_saved_in_the_ca_layout(env: Env) -> None:
    script = "mkdir -p out/sub && echo data > out/sub/file && chmod 640 out/sub/file && mkdir kept && echo k > kept/f"
    outputs = {
        "/task/out": {"packtype": "tar"},
        "/task/kept": {"packtype": "tar", "filters": {"uid": "keep"}},
        "/task/never": {"packtype": "tar"},
    }
    save = {"/task/out": "ca+file://./wares/", "/task/kept": "file://./kept.tgz", "/task/never": "ca+file://./wares/"}
    formula = env.formula(sh(script), outputs=outputs, save=save)
    first = env.run(formula).record
    assert first.results["/task/never"] == "tar:-"  # a path the action never made: the empty ware, not an error
    out_ware = first.results["/task/out"]
    saved = ca_path(env.dir / "wares", out_ware)
    assert saved.is_file() and scan(saved) == out_ware
    assert scan(env.dir / "kept.tgz") == first.results["/task/kept"]
    # Flatten sets uid/gid 1000 and mtime 2010: a second run gives the same IDs although every mtime differs.
    second = env.run(formula).record
    assert second.results == first.results and second.guid != first.guid
    # The default filters are flatten's: the same tree packed by hand with them gives the same ID.
    names = sorted(p.relative_to(env.dir / "wares").as_posix() for p in (env.dir / "wares").rglob("*") if p.is_file())
    assert names == [f"{out_ware[4:7]}/{out_ware[7:10]}/{out_ware[4:]}"]
    env.assert_clean()


@pytest.mark.parametrize("placer", ["overlay", "copy"])
def test_a_ware_that_is_one_file_is_placed_as_that_file(env: Env, tmp_path: Path, placer: str) -> None:
    """rio packs a file as one entry '.'; as an input it is that file at the input's path, copied whatever the
    placer (rio's overlay placer hands files to its copy placer), replacing what the rootfs had there."""
    from r2k8s.core.ware.filters import PACK_LOSSLESS
    from r2k8s.core.ware.pack import pack_tree

    tool = tmp_path / "tool"
    tool.write_bytes(b"#!/bin/sh\necho one-file tool\n")
    tool.chmod(0o755)
    os.utime(tool, (1_000_000_000, 1_000_000_000))
    with (env.dir / "tool.tgz").open("wb") as out:
        ware = pack_tree(tool, PACK_LOSSLESS, out)
    formula = env.formula(
        sh("/bin/echo replaced; ls -ln --full-time /bin/echo | awk '{print $1, $6, $7}'"),
        inputs={**env.rootfs, "/bin/echo": str(ware)},
        fetch={**env.fetch, "/bin/echo": ["file://./tool.tgz"]},
    )
    first = env.run(formula, "--placer", placer)
    # busybox's echo is gone: the input's file answers, with its mode and mtime
    assert first.output_lines() == ["one-file tool", "-rwxr-xr-x 2001-09-09 01:46:40"], first.stderr
    second = env.run(formula, "--placer", placer)
    assert f'cache already has ware "{ware}"' in second.stderr  # the file is kept in the cache like a tree
    env.assert_clean()


def test_a_ware_that_is_one_file_cannot_be_the_root(env: Env, tmp_path: Path) -> None:
    from r2k8s.core.ware.filters import PACK_LOSSLESS
    from r2k8s.core.ware.pack import pack_tree

    (tmp_path / "f").write_bytes(b"x")
    with (env.dir / "f.tgz").open("wb") as out:
        ware = pack_tree(tmp_path / "f", PACK_LOSSLESS, out)
    outcome = env.run(env.formula(sh("true"), inputs={"/": str(ware)}, fetch={"/": ["file://./f.tgz"]}))
    expect_failure(outcome, 10, "the root must be a directory")
    env.assert_clean()


def test_a_zip_output_is_packed_and_saved_as_rio_packs_zips(env: Env) -> None:
    """repeatr hands a ``zip`` output to rio's zip packer: the record names a ``zip:`` ware, the saved file is that
    zip (any zip reader can open it), and its hash part is the tar's of the same tree (one tree hash)."""
    import zipfile

    from r2k8s.core.ware.ingest import ingest_zip

    script = "mkdir -p out/sub && echo data > out/sub/file && ln -s sub/file out/link"
    outputs = {"/task/out": {"packtype": "zip"}, "/task/same": {"packtype": "tar"}, "/task/none": {"packtype": "zip"}}
    save = {"/task/out": "file://./out.zip", "/task/same": "ca+file://./wares/"}
    record = env.run(env.formula(sh(script + " && cp -a out same"), outputs=outputs, save=save)).record
    zipped, tarred = record.results["/task/out"], record.results["/task/same"]
    assert zipped.startswith("zip:") and zipped[4:] == tarred[4:]
    assert record.results["/task/none"] == "zip:-"
    with (env.dir / "out.zip").open("rb") as saved:
        assert str(ingest_zip(saved, UNPACK_CONSERVATIVE).prefilter_id) == zipped
    with zipfile.ZipFile(env.dir / "out.zip") as archive:
        assert archive.read("./sub/file") == b"data\n"
    env.assert_clean()


def test_output_filters_change_the_ware_exactly_as_written(env: Env) -> None:
    script = "mkdir out && echo x > out/f"
    flat = env.run(env.formula(sh(script), outputs={"/task/out": {"packtype": "tar"}})).record.results
    keep = env.run(
        env.formula(
            sh(script, userinfo={"uid": 4242, "gid": 4242}),
            outputs={"/task/out": {"packtype": "tar", "filters": {"uid": "keep", "gid": "keep"}}},
        )
    )
    assert keep.record.results["/task/out"] != flat["/task/out"]
    expected = make_tar([D(".", uid=4242, gid=4242), F("f", b"x\n", uid=4242, gid=4242)])
    assert keep.record.results["/task/out"] == str(ingest_tar(io.BytesIO(expected), UNPACK_CONSERVATIVE).prefilter_id)


@pytest.mark.parametrize("placer", ["overlay", "copy"])
def test_roundtripping_the_root_gives_back_the_input_ware_and_the_cache_stays_pristine(env: Env, placer: str) -> None:
    keep_all = {"uid": "keep", "gid": "keep", "mtime": "keep", "sticky": "keep", "setid": "keep", "dev": "keep"}
    roundtrip = env.formula(
        {"exec": ["/bin/true"], "cradle": "disable"},
        outputs={"/": {"packtype": "tar", "filters": keep_all}},
        name="roundtrip.formula",
    )
    outcome = env.run(roundtrip, "--placer", placer)
    assert outcome.record.results == {"/": rootfs_ware_id()}
    # A job that vandalises its root changes only its own copy.
    vandal = env.formula(
        sh("rm /bin/ls && echo changed > /etc/hostname", userinfo={"uid": 0, "gid": 0}), name="vandal.formula"
    )
    assert env.run(vandal, "--placer", placer).record.exit_code == 0
    again = env.run(roundtrip, "--placer", placer)
    assert again.record.results == {"/": rootfs_ware_id()}
    assert "cache already has ware" in again.stderr


# -- inputs: cache, assembly, mounts -------------------------------------------------------------------


def test_a_second_run_fetches_nothing(env: Env, tmp_path: Path) -> None:
    warehouse = tmp_path / "http"
    warehouse.mkdir()
    (warehouse / "rootfs.tgz").write_bytes(rootfs_tgz())
    with serve(warehouse) as http:
        formula = env.formula({"exec": ["/bin/echo", "hi"]}, fetch={"/": [http.url("/rootfs.tgz")]})
        first = env.run(formula)
        second = env.run(formula)
    assert http.requests == ["/rootfs.tgz"]
    assert "opened from warehouse" in first.stderr and "opened from warehouse" not in second.stderr
    assert "cache already has ware" in second.stderr
    assert first.record.formula_id == second.record.formula_id and second.output_lines() == ["hi"]


def test_inputs_are_stacked_in_path_order_with_parents_made_for_the_job(env: Env) -> None:
    data = make_tar([D(".", mode=0o777), F("readme", b"second ware\n")], compression="gzip")
    (env.dir / "data.tgz").write_bytes(data)
    data_id = str(ingest_tar(io.BytesIO(data), UNPACK_CONSERVATIVE).prefilter_id)
    inputs = {"/": rootfs_ware_id(), "/opt/lib/data": data_id}
    fetch = {"/": ["file://./rootfs.tgz"], "/opt/lib/data": ["file://./data.tgz"]}
    script = (
        "cat /opt/lib/data/readme; stat -c '%u:%g %a %Y' /opt /opt/lib; echo x > /opt/lib/data/new && echo writable"
    )
    outcome = env.run(env.formula(sh(script), inputs=inputs, fetch=fetch))
    assert outcome.output_lines() == ["second ware", "1000:1000 755 1262304000", "1000:1000 755 1262304000", "writable"]


def test_host_mounts_are_bound_read_only_or_writable(env: Env, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "given").write_text("from the host\n")
    inputs = {**env.rootfs, "/mnt/ro": f"mount:ro:{host}", "/mnt/rw": f"mount:rw:{host}"}
    script = "cat /mnt/ro/given; touch /mnt/ro/nope 2>/dev/null || echo ro-refused; echo made > /mnt/rw/made"
    outcome = env.run(env.formula(sh(script, userinfo={"uid": 0, "gid": 0}), inputs=inputs))
    assert outcome.output_lines() == ["from the host", "ro-refused"]
    assert (host / "made").read_text() == "made\n" and not (host / "nope").exists()
    env.assert_clean()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"/mnt": "mount:ro:/tmp", "/mnt/inner": "mount:ro:/tmp"}, "cannot stitch additional inputs under a mount"),
        ({"/mnt": "mount:xx:/tmp"}, "mounts must specify mode"),
        ({"/mnt": "mount:ro:relative/path"}, "must be an absolute path"),
    ],
)
def test_invalid_mount_inputs_are_refused_before_anything_runs(env: Env, extra: dict, message: str) -> None:
    outcome = env.run(env.formula(sh("echo ran"), inputs={**env.rootfs, **extra}))
    assert outcome.code == 10 and outcome.stdout == "" and message in outcome.stderr
    assert "ran" not in outcome.output_lines()
    env.assert_clean()


def test_a_symlinked_parent_of_a_mount_point_is_refused(env: Env, tmp_path: Path) -> None:
    evil = make_tar(
        [D("."), D("bin"), F("bin/busybox", Path("/bin/busybox").read_bytes(), mode=0o755), L("opt", "/")],
        compression="gzip",
    )
    (env.dir / "evil.tgz").write_bytes(evil)
    evil_id = str(ingest_tar(io.BytesIO(evil), UNPACK_CONSERVATIVE).prefilter_id)
    data = make_tar([D("."), F("x", b"x")], compression="gzip")
    (env.dir / "data.tgz").write_bytes(data)
    data_id = str(ingest_tar(io.BytesIO(data), UNPACK_CONSERVATIVE).prefilter_id)
    formula = env.formula(
        {"exec": ["/bin/busybox", "true"]},
        inputs={"/": evil_id, "/opt/etc": data_id},
        fetch={"/": ["file://./evil.tgz"], "/opt/etc": ["file://./data.tgz"]},
    )
    outcome = env.run(formula)
    assert outcome.code == 10 and "is a symlink" in outcome.stderr
    assert not Path("/etc/x").exists()
    env.assert_clean()


# -- the cradle ------------------------------------------------------------------------------------


def test_the_cradle_makes_cwd_home_and_tmp_usable(env: Env) -> None:
    script = "stat -c '%n %u:%g %a' /task /home/dev /tmp; touch /task/t /home/dev/h /tmp/x && echo wrote"
    outcome = env.run(env.formula(sh(script, userinfo={"uid": 1234, "gid": 99, "username": "dev"})))
    assert outcome.output_lines() == ["/task 1234:99 755", "/home/dev 1234:99 755", "/tmp 0:0 1777", "wrote"]


def test_without_the_cradle_nothing_is_made_and_cwd_is_root(env: Env) -> None:
    outcome = env.run(env.formula(sh("pwd; ls -d /task /home 2>&1 | wc -l; echo HOME=$HOME", cradle="disable")))
    assert outcome.output_lines() == ["/", "2", "HOME="]  # ls prints two errors; no HOME is set


# -- failures -------------------------------------------------------------------------------------


def expect_failure(outcome: Outcome, code: int, *fragments: str) -> None:
    assert outcome.code == code, outcome.stderr
    assert outcome.stdout == ""  # no run record when the run failed, as repeatr
    assert "error: failed to evaluate formula --- error: " in outcome.stderr
    for fragment in fragments:
        assert fragment in outcome.stderr


def test_an_input_without_warehouses_fails_as_unavailable(env: Env) -> None:
    expect_failure(env.run(env.formula({"exec": ["/bin/true"]}, fetch={})), 3, "no warehouses were available")
    env.assert_clean()


def test_an_input_missing_from_its_only_warehouse_is_not_found(env: Env, tmp_path: Path) -> None:
    with serve(tmp_path) as http:
        http.respond("/rootfs.tgz", 404)
        outcome = env.run(env.formula({"exec": ["/bin/true"]}, fetch={"/": [http.url("/rootfs.tgz")]}))
    expect_failure(outcome, 5, "none of the available warehouses have ware")
    env.assert_clean()


def test_a_hash_mismatch_fails_and_caches_nothing(env: Env) -> None:
    wrong = "tar:6q7G4hWr283FpTa5Lf8heVqw9t97b5VoMU6AGszuBYAz9EzQdeHVFAou7c4W9vFcQ6"
    outcome = env.run(env.formula({"exec": ["/bin/true"]}, inputs={"/": wrong}))
    expect_failure(outcome, 7, "hash mismatch", wrong)
    assert not any(p.is_file() for p in env.cache.rglob("*"))
    env.assert_clean()


@pytest.mark.parametrize(
    ("action", "fragment"),
    [
        ({"exec": ["/bin/no-such-program"]}, "exec invalid: /bin/no-such-program"),
        ({"exec": ["/etc"]}, "exec invalid: /etc is a directory"),
        ({"exec": ["/bin/true"], "cwd": "/etc/hostname", "cradle": "disable"}, "cwd invalid: /etc/hostname is a file"),
        ({"exec": ["/bin/true"], "cwd": "/etc/hostname/sub"}, "failed building cradle fs (cwd)"),
    ],
)
def test_an_action_that_cannot_start_is_an_invalid_job(env: Env, action: dict, fragment: str) -> None:
    expect_failure(env.run(env.formula(action)), 40, fragment)
    env.assert_clean()


def test_an_unparsable_formula_is_a_usage_error(env: Env) -> None:
    bad = env.dir / "bad.formula"
    bad.write_text('{"formula": {"inputs": {"/": "tar"}}}')
    outcome = env.run(bad)
    assert outcome.code == 1 and outcome.stdout == "" and "bad.formula" in outcome.stderr


def test_without_root_the_error_says_what_is_missing(env: Env) -> None:
    formula = env.formula({"exec": ["/bin/true"]})
    os.chmod(env.dir.parent, 0o755)
    done = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-m",
            "r2k8s",
            "run",
            "--local",
            str(formula),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, R2K8S_CACHE=str(env.cache), R2K8S_JOBS=str(env.jobs)),
    )
    assert done.returncode == 42 and done.stdout == ""
    assert "needs root" in done.stderr and "uid 65534" in done.stderr


# -- stopping ---------------------------------------------------------------------------------------


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes().replace(b"\0", b" "):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> str:
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if needle in line:
            return seen
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"never saw {needle!r}; stderr so far:\n{seen}")


def wait_until(predicate, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_stops_the_action_and_removes_the_job(env: Env, executor: str, sig: int) -> None:
    marker = f"sleep {4000 + sig}"
    formula = env.formula(sh(f"echo started; {marker}"))
    proc = start_local(formula, "--executor", executor, cache=env.cache, jobs=env.jobs)
    try:
        wait_for_line(proc, "started")
        assert wait_until(lambda: processes_with(marker) != [])
        started = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 8 and out == ""
    assert f"cancelled: received {signal.Signals(sig).name}" in err
    assert time.monotonic() - started < 10  # SIGTERM to a pid-1 shell is ignored: SIGKILL follows after 5 s
    assert processes_with(marker) == []
    env.assert_clean()


def test_killing_r2k8s_takes_the_action_with_it_and_the_next_run_sweeps_up(env: Env) -> None:
    marker = "sleep 4242"
    proc = start_local(env.formula(sh(f"echo started; {marker}")), cache=env.cache, jobs=env.jobs)
    try:
        wait_for_line(proc, "started")
        proc.kill()
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert wait_until(lambda: processes_with(marker) == [])
    assert len(list(env.jobs.iterdir())) == 1  # SIGKILL leaves the job tree; its lock died with the process
    outcome = env.run(env.formula({"exec": ["/bin/true"]}))
    assert outcome.code == 0 and "left behind by a run that did not finish" in outcome.stderr
    env.assert_clean()


# -- legacy formulas ---------------------------------------------------------------------------------


def test_a_legacy_formula_runs_with_its_inputs_verified_by_the_legacy_hash(env: Env) -> None:
    from r2k8s.core.formula.ids import legacy_setup_hash

    legacy_hash = ingest_tar(io.BytesIO(rootfs_tgz()), UNPACK_CONSERVATIVE, legacy=True).prefilter_id.hash
    formula = env.dir / "legacy.formula"
    formula.write_text(
        "inputs:\n"
        f"  rootfs:\n    type: tar\n    mount: /\n    hash: {legacy_hash}\n    silo: file://./rootfs.tgz\n"
        "action:\n  command:\n    - /bin/sh\n    - -c\n    - echo legacy $HOME; pwd\n"
    )
    outcome = env.run(formula)
    assert outcome.output_lines() == ["legacy /home/luser", "/task"]
    assert outcome.record.formula_id == legacy_setup_hash(load_formula_file(formula).legacy)
    assert json.loads(outcome.stdout)["exitCode"] == 0


def test_a_stop_signal_during_a_slow_fetch_stops_it_and_caches_nothing(env: Env, tmp_path: Path) -> None:
    warehouse = tmp_path / "slow"
    warehouse.mkdir()
    (warehouse / "rootfs.tgz").write_bytes(rootfs_tgz())
    with serve(warehouse) as http:
        http.body_delay = 0.5  # ~1 MiB in 64 KiB steps: about 8 seconds
        formula = env.formula({"exec": ["/bin/true"]}, fetch={"/": [http.url("/rootfs.tgz")]})
        proc = start_local(formula, cache=env.cache, jobs=env.jobs)
        try:
            wait_for_line(proc, "opened from warehouse")
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
    assert proc.returncode == 8 and out == "" and "cancelled" in err
    assert time.monotonic() - started < 3
    assert not any(p.is_file() for p in env.cache.rglob("*"))  # no entry, no staging leftovers
    env.assert_clean()


def test_the_cli_offers_exactly_the_executors_and_placers_the_core_has() -> None:
    from r2k8s.cli import run as run_command
    from r2k8s.core.run.assembly import PLACERS
    from r2k8s.core.run.executor import ALIASES, EXECUTORS

    assert EXECUTORS + tuple(ALIASES) == run_command.EXECUTOR_CHOICES
    assert run_command.PLACER_CHOICES == PLACERS
    probe = (
        "import sys, r2k8s.cli.app; r2k8s.cli.app.build_parser();"
        " print(sorted(m for m in sys.modules if m.startswith('r2k8s.core')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "assembly" not in loaded and "executor" not in loaded  # building the parser stays cheap


BASELINE_CAPS = (
    "chown",
    "dac_override",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "net_bind_service",
    "net_raw",
    "sys_chroot",
    "mknod",
    "audit_write",
    "setfcap",
)
"""The capabilities a container gets by default and Pod Security "baseline" allows: no CAP_SYS_ADMIN."""

IN_POD_PIPELINE = """
import sys
from pathlib import Path
from r2k8s.core.formula.ids import formula_id
from r2k8s.core.run.job import Job, JobOptions
from r2k8s.core.run.monitor import AnsiMonitor
from r2k8s.core.run.record import to_json
from r2k8s.core.warehouse.cache import WareCache
from r2k8s.formula_files import load_formula_file

loaded = load_formula_file(sys.argv[1])
options = JobOptions(executor="chroot", placer="copy", cache=WareCache(sys.argv[2]), jobs_dir=Path(sys.argv[3]))
job = Job(loaded.formula, loaded.context, formula_id(loaded.formula), AnsiMonitor(), options,
          base_dir=loaded.path.parent)
sys.stdout.write(to_json(job.run()))
"""


def test_the_pipeline_needs_no_mount_privilege_with_the_chroot_executor_and_copy_placer(env: Env) -> None:
    """What a build pod under Pod Security baseline can do: no mounts, only the default capabilities."""
    formula = env.formula(
        sh("mkdir out && id -u > out/uid && grep CapEff /proc/self/status 2>/dev/null; true"),
        outputs={"/task/out": {"packtype": "tar"}},
    )
    local = env.run(formula).record
    bounding = "-all," + ",".join(f"+{cap}" for cap in BASELINE_CAPS)
    done = subprocess.run(
        [
            "setpriv",
            f"--bounding-set={bounding}",
            sys.executable,
            "-c",
            IN_POD_PIPELINE,
            str(formula),
            str(env.cache),
            str(env.jobs),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    in_pod = Outcome(0, done.stdout, done.stderr).record
    assert (in_pod.formula_id, in_pod.exit_code, in_pod.results) == (local.formula_id, 0, local.results)
    env.assert_clean()


# -- formulas repeatr hashes but cannot run: the same exit code as repeatr (reference §3.4) -------------------
# repeatr calls fs.MustAbsolutePath on input paths (before assembly), cwd and homedir (the cradle, after it)
# and output paths (when packing, after the action): a relative one panics, exit 2.


@pytest.mark.parametrize(
    ("change", "ran"),
    [
        (lambda e: {"inputs": {**e.rootfs, "rel": e.rootfs["/"]}, "fetch": {**e.fetch, "rel": e.fetch["/"]}}, False),
        (lambda e: {"inputs": {**e.rootfs, "": e.rootfs["/"]}}, False),
        (lambda e: {"action": sh("echo ran", cwd="task")}, False),
        (lambda e: {"action": sh("echo ran", userinfo={"homedir": "home"})}, False),
        (lambda e: {"outputs": {"out": {"packtype": "tar"}}}, True),
    ],
)
def test_relative_paths_fail_as_repeatrs_panic(env: Env, change, ran: bool) -> None:
    kw = {"action": sh("echo ran"), **change(env)}
    outcome = env.run(env.formula(kw.pop("action"), **kw))
    assert outcome.code == 2 and outcome.stdout == "" and "not an absolute path" in outcome.stderr, outcome.stderr
    assert ("ran" in outcome.output_lines()) is ran
    env.assert_clean()


def test_relative_homedir_runs_with_the_cradle_disabled(env: Env) -> None:
    outcome = env.run(env.formula(sh("echo ran", cradle="disable", userinfo={"homedir": "home"})))
    assert outcome.code == 0 and outcome.output_lines() == ["ran"]
    assert "homedir 'home' must be an absolute path" in outcome.stderr  # still said, as a warning


def test_an_input_with_no_hash_is_looked_up_as_rio_does_and_not_found(env: Env) -> None:
    """repeatr hands rio ``tar:-`` (WareID.String()); with its only warehouse serving another ware: hash mismatch."""
    outcome = env.run(env.formula(sh("echo ran"), inputs={"/": "tar:"}))
    expect_failure(outcome, 7, "hash mismatch")
    outcome = env.run(env.formula(sh("echo ran"), inputs={"/": "tar:"}, fetch={}))
    expect_failure(outcome, 3, "no warehouses were available")
    env.assert_clean()


def test_an_input_with_no_packtype_is_a_usage_error(env: Env) -> None:
    for ware in ("", ":abc"):
        outcome = env.run(env.formula(sh("echo ran"), inputs={**env.rootfs, "/x": ware}))
        expect_failure(outcome, 1, "unsupported packtype")
    env.assert_clean()


def test_unknown_filter_keys_are_ignored_as_repeatr_does(env: Env) -> None:
    plain = env.run(env.formula(sh("mkdir -p /out; echo x > /out/f"), outputs={"/out": {"packtype": "tar"}}))
    odd = env.run(
        env.formula(
            sh("mkdir -p /out; echo x > /out/f"), outputs={"/out": {"packtype": "tar", "filters": {"colour": "x"}}}
        )
    )
    assert odd.code == plain.code == 0 and odd.record.results == plain.record.results
    assert odd.record.formula_id == plain.record.formula_id
    assert "unknown filter 'colour' is ignored" in odd.stderr


@pytest.mark.parametrize("text", ["{}", '{"context": {}}', '{"formula": null}', '{"formula": {"action": {}}}'])
def test_a_formula_with_nothing_to_run_fails_as_repeatrs_panic(env: Env, text: str) -> None:
    """No ``formula`` is the empty formula to repeatr: no exec, and CheckFSReadyForExec indexes Exec[0]."""
    path = env.dir / "empty.formula"
    path.write_text(text)
    outcome = env.run(path)
    assert outcome.code == 2 and outcome.stdout == "" and "has no exec" in outcome.stderr, outcome.stderr


def test_an_output_path_that_is_a_file_packs_as_a_single_file_ware(env: Env) -> None:
    """repeatr packs outputs with rio pack: a file path is one entry named '.' (Flatten: 1000:1000, 2010-01-01)."""
    outcome = env.run(
        env.formula(sh("printf x > /task/r; chmod 640 /task/r"), outputs={"/task/r": {"packtype": "tar"}})
    )
    assert outcome.code == 0, outcome.stderr
    ware = outcome.record.results["/task/r"]
    single = env.dir / "single"
    single.write_bytes(b"x")
    single.chmod(0o640)
    done = subprocess.run(
        [sys.executable, "-m", "r2k8s", "pack", str(single), "--filters", "flatten"], capture_output=True, text=True
    )
    assert done.stdout == ware + "\n"
