"""``r2k8s mirror`` as a user runs it before going offline: every ware the manifests (expanded or not) or a lock
need, copied from real HTTP and file warehouses into one CA folder, verified, atomically, skipping verified
copies; a failure names the ware and the URLs tried and leaves nothing half-written."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from cli_runs import r2k8s
from expansions import expand, write_documents
from krm_inputs import BUSYBASH, deployment, formula_document, write_formula
from loopback_http import LoopbackWarehouse, serve
from repo import needs_shared
from service_cluster import BUSYBASH_TGZ

pytestmark = needs_shared


def ca_path(root: Path, ware: str) -> Path:
    digest = ware.split(":", 1)[1]
    return root / digest[:3] / digest[3:6] / digest


def stock(root: Path, ware: str = BUSYBASH, data: Path = BUSYBASH_TGZ) -> Path:
    target = ca_path(root, ware)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(data, target)
    return target


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def origin(tmp_path: Path) -> object:
    with serve(tmp_path / "origin") as running:
        stock(running.root)
        yield running


def test_expanded_manifests_are_mirrored_from_http_then_found_verified(
    tmp_path: Path, origin: LoopbackWarehouse
) -> None:
    write_formula(tmp_path / "web.formula", urls=[origin.ca_url()])
    (tmp_path / "out.yaml").write_text(expand(tmp_path, [deployment()]))
    done = mirror("-f", "out.yaml", "--to", "ca+file://./offline", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"copied {BUSYBASH} from {origin.url('/' + str(ca_path(Path(), BUSYBASH)))}\n"
    assert ca_path(tmp_path / "offline", BUSYBASH).read_bytes() == BUSYBASH_TGZ.read_bytes()
    assert files_under(tmp_path / "offline") == [str(ca_path(Path(), BUSYBASH))]  # no staging file left
    again = mirror("-f", "out.yaml", "--to", "ca+file://./offline", cwd=tmp_path)
    assert again.returncode == 0
    assert again.stdout == f"present {BUSYBASH} (already there, verified)\n"
    assert "0 copied, 1 already there, 0 failed, of 1 ware (1 expanded container, 0 formula references)" in again.stderr


def test_the_urls_are_tried_in_order_past_unreachable_and_empty_ones_and_a_bad_copy_is_replaced(
    tmp_path: Path, origin: LoopbackWarehouse
) -> None:
    unreachable = "ca+http://127.0.0.1:9/wares"  # as an in-cluster mirror is, seen from the machine mirroring
    with serve(tmp_path / "empty") as empty:
        write_formula(tmp_path / "web.formula", urls=[unreachable, empty.ca_url(), origin.ca_url()])
        (tmp_path / "out.yaml").write_text(expand(tmp_path, [deployment()]))
        bad = stock(tmp_path / "offline", data=tmp_path / "web.formula")  # not even a tar
        done = mirror("-f", "out.yaml", "--to", "ca+file://./offline", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"copied {BUSYBASH} from {origin.url('/')}")
        assert len(empty.requests) == 1 and len(origin.requests) == 1
        assert "does not verify" in done.stderr
        assert bad.read_bytes() == BUSYBASH_TGZ.read_bytes()


def test_a_hash_mismatch_fails_naming_the_ware_and_saves_nothing(tmp_path: Path) -> None:
    wrong = "tar:" + "7" + BUSYBASH.split(":", 1)[1][1:]
    with serve(tmp_path / "origin") as origin:
        stock(origin.root, wrong)  # the right bytes under the wrong name
        write_formula(tmp_path / "web.formula", urls=[origin.ca_url()], ware=wrong)
        (tmp_path / "out.yaml").write_text(expand(tmp_path, [deployment()]))
        (tmp_path / "offline").mkdir()
        done = mirror("-f", "out.yaml", "--to", "ca+file://./offline", cwd=tmp_path)
    assert done.returncode == 7
    assert done.stdout.startswith(f"failed {wrong}: hash mismatch: ")
    assert f"holds {BUSYBASH}, not {wrong}; nothing was saved" in done.stdout
    assert "needed by out.yaml: Deployment/web: container 'web'" in done.stdout
    assert done.stderr.splitlines()[-1] == f"r2k8s: error: rio-hash-mismatch: 1 ware not mirrored: {wrong}"
    assert files_under(tmp_path / "offline") == []


def test_no_reachable_warehouse_fails_naming_every_url_tried(tmp_path: Path) -> None:
    write_formula(tmp_path / "web.formula", urls=["ca+file://./gone", "ca+http://127.0.0.1:9/wares"])
    (tmp_path / "out.yaml").write_text(expand(tmp_path, [deployment()]))
    done = mirror("-f", "out.yaml", "--to", "ca+file://./offline", cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert done.stdout.startswith(f"failed {BUSYBASH}: no warehouse served it (tried: ca+file://{tmp_path / 'gone'}: ")
    assert "; ca+http://127.0.0.1:9/wares: error connecting to warehouse" in done.stdout


def test_unexpanded_manifests_read_their_formula_files_and_formula_resources(
    tmp_path: Path, origin: LoopbackWarehouse
) -> None:
    other = "tar:" + "8" + BUSYBASH.split(":", 1)[1][1:]
    app = tmp_path / "app"
    write_formula(app / "formulas" / "web.formula", urls=[origin.ca_url()])
    job = formula_document(urls=["ca+file://./wares"], ware=other)
    stock(app / "wares", other)  # wrong bytes under this name: a failure, named, beside the other's success
    formula_item = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "Formula",
        "metadata": {"name": "job", "annotations": {"config.kubernetes.io/local-config": "true"}},
        "spec": job,
    }
    write_documents(app / "deploy.yaml", [deployment(image="./formulas/web.formula"), formula_item])
    write_documents(app / "job.yaml", [deployment(name="job", image="formula:job")])
    done = mirror("-f", "app", "--to", "ca+file://./offline", cwd=tmp_path)
    assert done.returncode == 7, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"copied {BUSYBASH} from {origin.url('/')}")
    assert lines[1].startswith(f"failed {other}: hash mismatch")
    assert "needed by app/job.yaml: Deployment/job: container 'job'" in lines[1]

    config = {  # a kustomize folder's function config may inline formulas too
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r2k8s"},
        "spec": {"formulas": {"inline": formula_document(urls=[origin.ca_url()])}},
    }
    (tmp_path / "inline").mkdir()
    write_documents(tmp_path / "inline" / "r2k8s.yaml", [config])
    write_documents(tmp_path / "inline" / "deploy.yaml", [deployment(image="formula:inline")])
    done = mirror("-f", "inline", "--to", "ca+file://./offline", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"present {BUSYBASH}")

    missing = write_documents(tmp_path / "missing.yaml", [deployment(image="./nowhere.formula")])
    done = mirror("-f", missing, "--to", "ca+file://./offline", cwd=tmp_path)
    assert done.returncode == 1
    assert f"{missing}: Deployment/web: container 'web': image './nowhere.formula': " in done.stderr


def test_a_lock_is_enough_to_mirror(tmp_path: Path, origin: LoopbackWarehouse) -> None:
    write_formula(tmp_path / "web.formula", urls=[origin.ca_url()])
    (tmp_path / "out.yaml").write_text(expand(tmp_path, [deployment()]))
    locked = subprocess.run(
        [sys.executable, "-m", "r2k8s", "inspect", "out.yaml", "--lock-output", "formulas.lock.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert locked.returncode == 0, locked.stderr
    (tmp_path / "out.yaml").unlink()
    done = mirror("--lock", "formulas.lock.yaml", "--to", "ca+file://./offline", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"copied {BUSYBASH}")


def test_a_warehouse_serving_wrong_bytes_stops_the_search_rather_than_hide_it(
    tmp_path: Path, origin: LoopbackWarehouse
) -> None:
    with serve(tmp_path / "broken") as broken:
        stock(broken.root, data=_other_tar(tmp_path))
        write_formula(tmp_path / "web.formula", urls=[broken.ca_url(), origin.ca_url()])
        write_documents(tmp_path / "deploy.yaml", [deployment()])
        done = mirror("-f", "deploy.yaml", "--to", "ca+file://./offline", cwd=tmp_path)
    assert done.returncode == 7, done.stderr
    assert done.stdout.startswith(f"failed {BUSYBASH}: hash mismatch: {broken.url('/')}")
    assert origin.requests == []


def test_a_zip_ware_is_mirrored_and_verified_as_a_zip(tmp_path: Path) -> None:
    """A zip cannot be hashed as it streams (its directory is at the end): it is spooled, then verified."""
    from zipbuild import ZEntry, build_zip

    data = build_zip([ZEntry("bin/", mode=0o40755), ZEntry("bin/hello", b"#!/bin/sh\necho hi\n", mode=0o100755)])
    (tmp_path / "x.zip").write_bytes(data)
    scanned = r2k8s("scan", "x.zip", "--packtype", "zip", cwd=tmp_path)
    ware = scanned.stdout.strip()
    assert ware.startswith("zip:"), scanned.stderr
    with serve(tmp_path / "origin") as origin:
        stock(origin.root, ware, tmp_path / "x.zip")
        write_formula(tmp_path / "web.formula", urls=[origin.ca_url()], ware=ware)
        write_documents(tmp_path / "deploy.yaml", [deployment()])
        done = mirror("-f", "deploy.yaml", "--to", "ca+file://./offline", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"copied {ware}")
        assert ca_path(tmp_path / "offline", ware).read_bytes() == data
        again = mirror("-f", "deploy.yaml", "--to", "ca+file://./offline", cwd=tmp_path)
    assert again.stdout.startswith(f"present {ware}"), again.stdout + again.stderr


def _other_tar(folder: Path) -> Path:
    tarball = folder / "other.tar"
    with tarfile.open(tarball, "w") as archive:
        archive.addfile(tarfile.TarInfo("empty"))
    return tarball


def test_a_stop_signal_mid_transfer_leaves_nothing_half_written(tmp_path: Path, origin: LoopbackWarehouse) -> None:
    origin.body_delay = 0.3  # a pause after every 64 KiB: the transfer is certainly under way when the signal goes
    write_formula(tmp_path / "web.formula", urls=[origin.ca_url()])
    write_documents(tmp_path / "deploy.yaml", [deployment()])
    (tmp_path / "offline").mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "r2k8s", "mirror", "-f", "deploy.yaml", "--to", "ca+file://./offline"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".tmp.upload.") for p in (tmp_path / "offline").iterdir()):
        assert time.monotonic() < deadline and process.poll() is None, "the transfer never started"
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 8, stderr
    assert stdout == "" and "cancelled: received SIGTERM" in stderr
    assert files_under(tmp_path / "offline") == []


@pytest.mark.parametrize(
    ("target", "code", "message"),
    [
        ("ca+http://127.0.0.1:9/w", 4, "http warehouses are read-only"),
        ("file://./one.tgz", 1, "a mirror holds many; use ca+file://DIR"),
    ],
)
def test_a_target_that_cannot_hold_a_mirror_is_refused(tmp_path: Path, target: str, code: int, message: str) -> None:
    write_documents(tmp_path / "plain.yaml", [deployment(image="nginx")])
    done = mirror("-f", "plain.yaml", "--to", target, cwd=tmp_path)
    assert done.returncode == code and message in done.stderr and done.stdout == ""


def test_manifests_needing_no_ware_are_an_error_not_an_empty_success(tmp_path: Path) -> None:
    write_documents(tmp_path / "plain.yaml", [deployment(image="nginx")])
    done = mirror("-f", "plain.yaml", "--to", "ca+file://./offline", cwd=tmp_path)
    assert done.returncode == 1
    assert "nothing to mirror: no expanded container or formula reference in 1 resource of 1 input" in done.stderr


@pytest.mark.slow
def test_a_large_ware_is_streamed_not_held_in_memory(tmp_path: Path) -> None:
    size = 192 << 20
    tarball = tmp_path / "big.tar"
    with tarfile.open(tarball, "w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("big")
        info.size = size
        seed = hashlib.sha256(b"r2k8s").digest() * (1 << 15)  # 1 MiB, repeated: no RAM-sized pattern needed
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(reader)
            with os.fdopen(writer, "wb") as out:
                for _ in range(size // len(seed)):
                    out.write(seed)
            os._exit(0)
        os.close(writer)
        with os.fdopen(reader, "rb") as source:
            archive.addfile(info, source)
        os.waitpid(pid, 0)
    scanned = subprocess.run(
        [sys.executable, "-m", "r2k8s", "scan", str(tarball)], capture_output=True, text=True, timeout=300
    )
    ware = scanned.stdout.strip()
    stock(tmp_path / "src", ware, tarball)
    write_formula(tmp_path / "big.formula", urls=["ca+file://./src"], ware=ware)
    write_documents(tmp_path / "deploy.yaml", [deployment(image="./big.formula")])
    # a fresh process whose only child is the mirror: its children's peak is the mirror's own
    measured = subprocess.run(
        [
            sys.executable,
            "-c",
            MEASURE,
            sys.executable,
            "-m",
            "r2k8s",
            "mirror",
            "-f",
            "deploy.yaml",
            "--to",
            "ca+file://./o",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    code, peak_kib = map(int, measured.stdout.split())
    assert code == 0, measured.stderr
    assert peak_kib < 100 * 1024, f"mirroring a {size >> 20} MiB ware peaked at {peak_kib >> 10} MiB"
    assert ca_path(tmp_path / "o", ware).stat().st_size == tarball.stat().st_size


MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def test_a_legacy_formulas_ware_is_verified_with_the_legacy_hash(tmp_path: Path) -> None:
    scanned = subprocess.run(
        [sys.executable, "-m", "r2k8s", "scan", "--legacy", str(BUSYBASH_TGZ)], capture_output=True, text=True
    )
    legacy_hash = scanned.stdout.strip()
    (tmp_path / "src").mkdir()
    shutil.copy(BUSYBASH_TGZ, tmp_path / "src" / legacy_hash)  # the legacy flat CA layout
    (tmp_path / "old.formula").write_text(
        f'inputs:\n\t"/":\n\t\ttype: "tar"\n\t\thash: "{legacy_hash}"\n\t\tsilo: "file+ca://./src"\n'
        'action:\n\tcommand: ["/bin/sh", "-c", "echo old"]\n'
    )
    write_documents(tmp_path / "pod.yaml", [deployment(image="./old.formula")])
    done = mirror("-f", "pod.yaml", "--to", "ca+file://./offline", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"copied tar:{legacy_hash} from {tmp_path / 'src' / legacy_hash}")
    again = mirror("-f", "pod.yaml", "--to", "ca+file://./offline", cwd=tmp_path)
    assert again.stdout == f"present tar:{legacy_hash} (already there, verified)\n"


def mirror(*args: str | Path, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return r2k8s("mirror", *args, cwd=cwd, stdin=stdin, timeout=300)
