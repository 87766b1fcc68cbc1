"""A service pod on the real test cluster whose formula takes a tar, a git and a zip input (marker ``e2e``).

The tar ware (busybash) and the zip ware come from the HTTP warehouse on the host, the git commit from a
real ``git http-backend`` on the host; the pods reach both through the node's bridge address. The fetch
init container fetches all three (the agent has no ``git`` binary: the protocol and pack format are the
core's own), the agent places them, and the formula serves what it finds: the page proves every input
arrived with the content and metadata rio gives it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from git_http import commit, make_repo, serve_git
from krm_inputs import BUSYBASH, copy_web_example
from loopback_http import LoopbackWarehouse
from orchestrators import kustomize_exec_build
from repo import needs_shared
from service_cluster import cluster_function_config, cluster_settings, http_get, pod_of

from r2k8s.core.ware.filters import PACK, PACK_LOSSLESS, Filters
from r2k8s.core.ware.pack import pack_tree

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_shared]

PAGE = (
    "mkdir -p /tmp/www && { cat /src/hello.txt /src/lib/nested.txt /data/greeting; ls -ln /src/run.sh /data/greeting"
    " | awk '{print $1, $3, $4}'; readlink /src/link; } > /tmp/www/index.html"
    " && exec /bin/busybox httpd -f -v -p 8080 -h /tmp/www"
)


def zip_ware(warehouse: LoopbackWarehouse, tmp_path: Path) -> str:
    """A zip ware holding ``greeting`` owned 4000:4000, saved into the warehouse's content-addressed layout."""
    tree = tmp_path / "data"
    tree.mkdir()
    (tree / "greeting").write_text("hello from a zip\n")
    packed = tmp_path / "data.zip"
    with packed.open("wb") as out:
        owned = Filters.parse(PACK, "uid=4000,gid=4000").with_defaults(PACK_LOSSLESS)
        ware = pack_tree(tree, owned, out, packtype="zip")
    target = warehouse.root / ware.hash[:3] / ware.hash[3:6] / ware.hash
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(packed.read_bytes())
    return str(ware)


def test_a_formula_with_tar_git_and_zip_inputs_serves_them_all(
    kubectl: Any, namespace: str, warehouse: LoopbackWarehouse, r2k8s_on_path: dict[str, str], tmp_path: Path
) -> None:
    repos = tmp_path / "repos"
    source = make_repo(repos / "src")
    (source / "run.sh").write_text("#!/bin/sh\necho run\n")
    (source / "run.sh").chmod(0o755)
    head = commit(source, {"hello.txt": "hello from git\n", "lib/nested.txt": "nested\n", "link": "symlink:hello.txt"})
    zipped = zip_ware(warehouse, tmp_path)
    example = copy_web_example(tmp_path / "web")
    with serve_git(repos, host=cluster_settings()[1]) as git_server:
        document = {
            "formula": {
                "inputs": {"/": BUSYBASH, "/src": f"git:{head}", "/data": zipped},
                "action": {"exec": ["/bin/sh", "-c", PAGE]},
            },
            "context": {"fetchUrls": {"/": [warehouse.ca_url()], "/src": [git_server.url("src")]}},
        }
        (example / "web.formula").write_text(json.dumps(document))
        config = cluster_function_config({"mirrors": [warehouse.ca_url()]})
        config["metadata"]["annotations"] = {"config.kubernetes.io/function": "exec:\n  path: r2k8s\n"}
        (example / "r2k8s.yaml").write_text(yaml.safe_dump(config))
        rendered = kustomize_exec_build(example, r2k8s_on_path)
        pod_spec = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment")
        fetch = pod_spec["spec"]["template"]["spec"]["initContainers"][0]
        assert fetch["name"] == "r2k8s-fetch-web"
        kubectl("apply", "-n", namespace, "-f", "-", input=rendered)
        kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=240s", timeout=260)
        pod = pod_of(kubectl, namespace, "app=web")
        page = http_get(pod).splitlines()
        requests = list(git_server.requests)
    assert page == [
        "hello from git",
        "nested",
        "hello from a zip",
        "-rw-r--r-- 4000 4000",  # zip (ls sorts its arguments): the owner its Unix extra field records
        "-rwxr-xr-x 1000 1000",  # git: an executable is 0755, owned 1000:1000 as rio places it
        "hello.txt",
    ]
    assert ("POST", "/src/git-upload-pack") in requests, "the pod fetched the commit from the git server"
