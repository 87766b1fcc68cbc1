"""The image as a user meets it: its configuration, what it holds, and the function as podman runs it.

The KRM functions specification asks for a container that runs as ``nobody``; kpt and kustomize add
``--network none`` and no-new-privileges, and a careful user a read-only root. Whatever runs it, the
answer must be the exec form's, byte for byte, on the same input.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from image_under_test import REPOSITORY, FunctionImage, build, ensure_runtime
from krm_inputs import WEB_EXAMPLE
from program_runs import run
from repo import REPO_ROOT

HARDENED = ["--network", "none", "--read-only", "--user", "nobody", "--security-opt=no-new-privileges"]


def web_resource_list() -> bytes:
    """The web example as a ResourceList whose Deployment names a formula inlined in the function config."""
    deployment = yaml.safe_load((WEB_EXAMPLE / "deployment.yaml").read_text())
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "formula:web"
    service = yaml.safe_load((WEB_EXAMPLE / "service.yaml").read_text())
    config = {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r2k8s"},
        "spec": {"formulas": {"web": json.loads((WEB_EXAMPLE / "web.formula").read_text())}},
    }
    items = {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [deployment, service]}
    return yaml.safe_dump({**items, "functionConfig": config}).encode()


def test_the_image_runs_the_function_as_nobody_in_source_under_version_tags(function_image: FunctionImage) -> None:
    inspected = run(["podman", "image", "inspect", function_image.name], function_image.env)
    (image,) = json.loads(inspected.stdout)
    assert image["Config"]["User"] == "65534:65534"
    assert image["Config"]["WorkingDir"] == "/source"
    assert image["Config"]["Entrypoint"] == ["/usr/bin/python3", "-I", "-m", "r2k8s"]
    ours = [name for name in image["RepoTags"] if name.startswith(f"{REPOSITORY}:")]  # one image may have more names
    tags = sorted(name.rpartition(":")[2] for name in ours)
    assert tags == ["v0.1", "v0.1.0"]  # the project's version, never latest
    assert image["Digest"] == function_image.digest


def test_podman_runs_it_offline_as_nobody_on_a_read_only_root_answering_as_the_exec_form(
    function_image: FunctionImage,
) -> None:
    given = web_resource_list()
    container = run(["podman", "run", "--rm", "-i", *HARDENED, function_image.name], function_image.env, input=given)
    exec_form = run([sys.executable, "-m", "r2k8s", "fn"], function_image.env, input=given)
    assert container.stdout == exec_form.stdout
    assert b"image: docker.io/library/python:3.11-slim" in container.stdout
    assert b"formula:web" not in container.stdout.split(b"functionConfig:")[0]


def test_the_image_holds_python_and_the_function_and_no_shell_or_package_manager(
    function_image: FunctionImage,
) -> None:
    probe = (
        "import importlib.util as u, json, os, r2k8s\n"
        "print(json.dumps({'uid': os.getuid(), 'cwd': os.getcwd(), 'source': os.listdir('/source'),"
        " 'package': r2k8s.__file__,"
        " 'present': [p for p in ('/bin/sh', '/usr/bin/apt', '/usr/bin/dpkg', '/var/lib/dpkg') if os.path.lexists(p)],"
        " 'kubernetes': u.find_spec('kubernetes') is not None}))\n"
    )
    no_user = ["--network", "none", "--read-only", "--security-opt=no-new-privileges"]  # nobody by the image's config
    argv = ["podman", "run", "--rm", *no_user, "--entrypoint", "/usr/bin/python3", function_image.name]
    found = json.loads(run([*argv, "-I", "-c", probe], function_image.env).stdout)
    assert found == {
        "uid": 65534,
        "cwd": "/source",
        "source": [],
        "package": "/usr/lib/python3/dist-packages/r2k8s/__init__.py",
        "present": [],
        "kubernetes": False,
    }


def test_r2k8s_files_in_the_image_are_the_checkouts_with_bytecode_and_no_machine_paths(
    function_image: FunctionImage,
) -> None:
    """The r2k8s layer: the package's modules and schemas, an unchecked-hash pyc each, never this checkout's path."""
    with tarfile.open(function_image.archive) as archive:
        index = json.load(archive.extractfile("index.json"))
        manifest = json.load(archive.extractfile("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
        top = archive.extractfile("blobs/sha256/" + manifest["layers"][-1]["digest"][7:])
        with tarfile.open(fileobj=top) as layer:
            files = {m.name: layer.extractfile(m).read() for m in layer if m.isfile()}
    site = "usr/lib/python3/dist-packages/"
    module = REPO_ROOT / "plugin" / "r2k8s" / "krm" / "function.py"
    assert files[site + "r2k8s/krm/function.py"] == module.read_bytes()
    assert site + "r2k8s/schemas/function-config.schema.json" in files
    pycs = [name for name in files if name.endswith(".pyc")]
    assert len(pycs) == len([name for name in files if name.endswith(".py")])
    assert all(files[name][4:8] == (1).to_bytes(4, "little") for name in pycs)  # hash-based, never checked
    assert [name for name, content in files.items() if str(REPO_ROOT).encode() in content] == []


def test_the_function_never_imports_the_kubernetes_client() -> None:
    """Why the image can leave ``kubernetes`` out: only ``r2k8s run`` imports it."""
    probe = (
        "import json, sys\nfrom r2k8s.cli import main\nmain(['fn'])\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], input=web_resource_list(), capture_output=True, check=True, timeout=120
    )
    modules = json.loads(result.stdout.decode().splitlines()[-1])
    assert "r2k8s" in modules and "kubernetes" not in modules


@pytest.mark.slow
def test_two_builds_from_one_checkout_give_one_digest(function_image: FunctionImage, tmp_path: Path) -> None:
    """The second build makes its Debian layer again (from the cached downloads): the same archive, byte for byte."""
    again = build(tmp_path / "again.oci.tar", "--repository", REPOSITORY, "--fresh")
    assert again.digest == function_image.digest
    assert again.archive.read_bytes() == function_image.archive.read_bytes()


def test_the_test_clusters_image_archives_come_from_the_same_writer_and_skopeo_reads_them(tmp_path: Path) -> None:
    """tests/support/testcluster writes its pause and Python images with image/'s OCI writer: one layout writer."""
    from testcluster.oci import layer_from_files, read_image_archive, write_image_archive

    ensure_runtime()
    layer = tmp_path / "layer.tar"
    layer_from_files(layer, {"pause": (b"#!/bin/sh\n", 0o755), "etc/motd": (b"hi\n", 0o644)})
    name = "registry.example:5000/pause:3.10"
    written = write_image_archive(tmp_path / "a.oci.tar", name, layer, {"Entrypoint": ["/pause"]})
    again = write_image_archive(tmp_path / "b.oci.tar", name, layer, {"Entrypoint": ["/pause"]})
    assert (tmp_path / "a.oci.tar").read_bytes() == (tmp_path / "b.oci.tar").read_bytes()
    assert read_image_archive(written.path) == written and again.digest == written.digest
    manifest = run(["skopeo", "inspect", "--raw", f"oci-archive:{written.path}"], dict(os.environ)).stdout
    assert "sha256:" + hashlib.sha256(manifest).hexdigest() == written.digest
    config = json.loads(run(["skopeo", "inspect", "--config", f"oci-archive:{written.path}"], dict(os.environ)).stdout)
    assert config["config"]["Entrypoint"] == ["/pause"] and config["architecture"] == "amd64"
