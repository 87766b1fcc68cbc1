#!/usr/bin/env python3
"""Benchmark the KRM function (``r2k8s fn``) beside kustomize's built-in ``images:`` transformer.

    python bench/krm_function.py [--sizes 2000,20000] [--stream-sizes 50000] [--repeat N] [--startup-runs N]
                                 [--workdir DIR] [--keep]

For each size N the script writes, in a temporary directory and always the
same way, N mixed resources (Deployments, StatefulSets, CronJobs, Services,
ConfigMaps and a CRD-ish ``Worker`` with a pod template) spread over 8
namespaces. N/10 of them are workloads whose main container has
``image: ./web.formula`` (a copy of kustomize/examples/web/web.formula next to
them); the other containers have ordinary images, about half of them ``nginx``.
Rows, each the median of ``--repeat`` fresh processes (cases interleaved):

* baseline ``kustomize images:``: standalone ``kustomize build`` with only
  ``images: [{name: nginx, newName: ..., newTag: ...}]`` on the resources;
* ``r2k8s fn``: the r2k8s console script, the ResourceList (items plus the
  function config) on stdin, output to a file;
* ``r2k8s resolve -f DIR``: the same resources, one file each (``res-00000.yaml`` …) in a folder
  with ``web.formula``, resolved into one stream (each file read, joined, the function's processor
  run once, the formula-origins record written);
* ``kustomize + r2k8s fn``: ``kustomize build --enable-alpha-plugins
  --enable-exec`` of a kustomization whose transformer is the r2k8s function
  (``config.kubernetes.io/function: {exec: {path: <console script>}}``).

With ``--image IMAGE`` (the function's image, e.g. ``localhost/r2k8s/function:v0.1.0`` after
``image/build --load``), two more rows: ``r2k8s fn in podman``, the same ResourceList piped to
``podman run --rm -i --network none --user nobody`` with the resources' folder mounted on
``/source``; and ``kustomize + r2k8s container``, the same kustomization with the transformer in
kustomize's ``container:`` form (``mounts: [{src: ., dst: /source}]``), kustomize's ``docker`` being
podman (a link on PATH). Their peak RSS is podman's client (the function runs under conmon, outside
the measured tree); the overhead over the exec form is printed under the table.

kustomize runs only up to ``--kustomize-max`` resources (default 5,000):
``kustomize build`` itself grows about quadratically with the resource count
(kubernetes-sigs/kustomize#5084), so 20,000 would take it hours per run; above
the cap only ``r2k8s fn`` runs and its ratio is n/a.

The r2k8s measured is a compiled copy of this checkout's package (put
first on ``PYTHONPATH`` of every child, kustomize's exec child included), as an
installed package has ``.pyc`` files even where ``PYTHONDONTWRITEBYTECODE`` is
set; start-up is also shown for the checkout as it is.

Ratios are over the baseline of the same size. Wall time is the whole process
(interpreter start-up and imports included); peak RSS comes from GNU time
(``%M``): for kustomize running the function, the larger of the two
processes. Each output is checked: every formula container rewritten, every
``nginx`` image renamed by the baseline.

Then the plain-stream rows (``--stream-sizes``, default 50,000): ``r2k8s fn`` as
helm's post-renderer, on a plain multi-document stream of one Deployment whose
image is ``./web.formula`` and N ordinary Deployments, each under a helm 3
``# Source:`` comment. Reading such a stream once took time quadratic in the
number of documents (92 s at 50,000); the row shows it linear.

Then the cost of a changed item with its comments kept (``--changed N``, default 500): ``r2k8s fn`` on N
commented kubectl-style Deployments that all name ``./web.formula``, beside the same list where only the
first does; the difference over N - 1. ``--rows`` picks the resource-list rows; the ``goal:`` lines give
issue 17's targets (<= 0.1x kustomize, linear per-document time, <= 5 ms a changed item).

Then start-up: ``r2k8s fn`` on an empty ResourceList (median of
``--startup-runs``), as the console script and as ``python -m r2k8s fn``,
beside ``python -c pass`` (the interpreter floor, same interpreter, same
site-packages). The target is < 100 ms; a child run with ``-X importtime``
lists what that path imports, and the script exits 1 if the Kubernetes
client is among it. Otherwise the exit status is 0: it is a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from machine_load import busy_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = ROOT / "plugin"
FORMULA = ROOT / "kustomize" / "examples" / "web" / "web.formula"
TIME_BIN = "/usr/bin/time"
STARTUP_TARGET = 0.100
RATIO_TARGET = 0.10
"""``r2k8s fn`` over standalone kustomize's ``images:`` build of the same resources (issue 17)."""
CHANGED_TARGET = 0.005
"""Seconds per changed item, comments kept (issue 17)."""
NAMESPACES = 8
NEW_NGINX = "registry.example.com/mirror/nginx"
NEW_TAG = "1.27.3"
ROWS = ("baseline", "fn", "resolve", "kustomize-fn")
ROW_OF = {
    "baseline kustomize images:": "baseline",
    "r2k8s fn": "fn",
    "r2k8s fn in podman": "fn",
    "r2k8s resolve -f DIR": "resolve",
    "kustomize + r2k8s fn": "kustomize-fn",
}
FORBIDDEN_ON_STARTUP = ("kubernetes", "jsonschema", "urllib3")
"""The Kubernetes client and its companions must not load on the function's path (an assertion for the first)."""

sys.path.insert(0, str(PLUGIN_DIR))


def child_env(source: Path) -> dict[str, str]:
    """The environment of every measured process: ``source`` (holding the r2k8s package) first on the path."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")]))}


def snapshot(work: Path) -> Path:
    """Copy the checkout's package and compile it, as ``pip install`` would.

    With ``PYTHONDONTWRITEBYTECODE`` set (as in some CI images) the checkout has
    no ``.pyc`` files and every start-up recompiles r2k8s from source; the copy
    keeps the checkout untouched and the measurement about what users run.
    """
    source = work / "src"
    shutil.copytree(PLUGIN_DIR / "r2k8s", source / "r2k8s", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(source / "r2k8s")], check=True)
    return source


# --- YAML written by hand: block style, as people write manifests (JSON would be flow style) ---------------------

_PLAIN = re.compile(r"[A-Za-z_./][A-Za-z0-9_.:/@-]*")
_SPECIAL = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _SPECIAL and not text.endswith(":"):
        return text
    return json.dumps(text)


def emit(value: Any, indent: int = 0) -> list[str]:
    """Block-style YAML lines for dicts, lists and scalars (lists at their key's indentation, like kubectl)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict) and item:
                lines += [f"{pad}{key}:", *emit(item, indent + 2)]
            elif isinstance(item, list) and item:
                lines += [f"{pad}{key}:", *emit(item, indent)]
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                sub = emit(item, indent + 2)
                lines += [f"{pad}- {sub[0][indent + 2 :]}", *sub[1:]]
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(pad + _scalar(value))
    return lines


def dump(value: Any) -> str:
    return "\n".join(emit(value)) + "\n"


# --- the resources -------------------------------------------------------------------------------------------------

ORDINARY_IMAGES = (
    "nginx:1.25.3",
    "redis:7.2.4",
    "nginx:1.27-alpine",
    "busybox:1.36",
    "ghcr.io/example/api:v2.3.1",
    "nginx",
)
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "CronJob", "Worker")
KINDS = ("Deployment", "Service", "StatefulSet", "ConfigMap", "CronJob", "Worker")


@dataclass
class Generated:
    documents: list[dict[str, Any]]
    formula_containers: int
    nginx_containers: int
    kinds: dict[str, int] = field(default_factory=dict)


def _container(name: str, image: str, index: int, formula: bool) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": 8080 if formula else 80}],
        "env": [{"name": "MODE", "value": "production"}, {"name": "SHARD", "value": str(index % 16)}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
    }
    if index % 2 == 0:
        container["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}
    if index % 5 == 0:
        container["securityContext"] = {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
    if formula and index % 3 == 0:
        container["args"] = ["--verbose"]
    return container


def _pod_spec(index: int, formula: bool, images: list[str]) -> dict[str, Any]:
    main_image = "./web.formula" if formula else ORDINARY_IMAGES[index % len(ORDINARY_IMAGES)]
    images.append(main_image)
    containers = [_container("main", main_image, index, formula)]
    if index % 3 == 1:  # some workloads carry an ordinary sidecar, formula or not
        sidecar = ORDINARY_IMAGES[(index // 3) % len(ORDINARY_IMAGES)]
        images.append(sidecar)
        containers.append(_container("sidecar", sidecar, index + 1, False))
    spec: dict[str, Any] = {"containers": containers}
    if index % 4 == 0:
        spec["volumes"] = [{"name": "config", "configMap": {"name": f"settings-{index:05d}"}}]
        containers[0]["volumeMounts"] = [{"name": "config", "mountPath": "/etc/app"}]
    return spec


def generate(count: int, seed: int = 20250101) -> Generated:
    """``count`` resources; exactly ``count // 10`` of them (all workloads) refer to ./web.formula."""
    kinds = [KINDS[i % len(KINDS)] for i in range(count)]
    workloads = [i for i, kind in enumerate(kinds) if kind in WORKLOAD_KINDS]
    formula_at = set(random.Random(seed).sample(workloads, count // 10))
    documents: list[dict[str, Any]] = []
    images: list[str] = []
    for index, kind in enumerate(kinds):
        name = f"{kind.lower()}-{index:05d}"
        labels = {"app": name, "tier": ("web", "cache", "batch")[index % 3]}
        metadata = {"name": name, "namespace": f"team-{index % NAMESPACES}", "labels": labels}
        formula = index in formula_at
        if kind == "Service":
            documents.append(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": metadata,
                    "spec": {
                        "selector": {"app": f"deployment-{index - 1:05d}"},
                        "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                    },
                }
            )
        elif kind == "ConfigMap":
            documents.append(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": metadata,
                    "data": {
                        "LOG_LEVEL": "info",
                        "FEATURE_FLAGS": "a,b,c",
                        "app.properties": f"name={name}\nreplicas=3\ntimeout=30s\n",
                    },
                }
            )
        else:
            template = {"metadata": {"labels": labels}, "spec": _pod_spec(index, formula, images)}
            if kind == "Deployment":
                spec = {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": template}
                documents.append({"apiVersion": "apps/v1", "kind": kind, "metadata": metadata, "spec": spec})
            elif kind == "StatefulSet":
                spec = {
                    "serviceName": name,
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": name}},
                    "template": template,
                    "volumeClaimTemplates": [
                        {
                            "metadata": {"name": "data"},
                            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                        }
                    ],
                }
                documents.append({"apiVersion": "apps/v1", "kind": kind, "metadata": metadata, "spec": spec})
            elif kind == "CronJob":
                template["spec"]["restartPolicy"] = "OnFailure"
                spec = {
                    "schedule": f"{index % 60} * * * *",
                    "concurrencyPolicy": "Forbid",
                    "jobTemplate": {"spec": {"backoffLimit": 2, "template": template}},
                }
                documents.append({"apiVersion": "batch/v1", "kind": kind, "metadata": metadata, "spec": spec})
            else:  # a CRD-ish kind with a pod template: found by shape, not by kind
                spec = {"replicas": 1, "queue": f"queue-{index % 7}", "template": template}
                documents.append(
                    {"apiVersion": "workers.example.com/v1", "kind": kind, "metadata": metadata, "spec": spec}
                )
    counts = {kind: kinds.count(kind) for kind in KINDS}
    nginx = sum(1 for image in images if image == "nginx" or image.startswith("nginx:"))
    return Generated(documents, len(formula_at), nginx, counts)


def function_config(script: Path) -> dict[str, Any]:
    return {
        "apiVersion": "fn.r2k8s.io/v1alpha1",
        "kind": "R2k8sFunction",
        "metadata": {"name": "r2k8s", "annotations": {"config.kubernetes.io/function": f"exec:\n  path: {script}\n"}},
        "spec": {"agent": {"image": "docker.io/library/python:3.11-slim"}},
    }


def write_case(where: Path, generated: Generated, script: Path) -> dict[str, Path]:
    """The files: resources.yaml, the ResourceList, and a kustomization per kustomize case."""
    stream = "".join(f"---\n{dump(doc)}" for doc in generated.documents)
    config = function_config(script)
    for sub in ("images", "r2k8s"):
        (where / sub).mkdir(parents=True)
        (where / sub / "resources.yaml").write_text(stream)
        shutil.copyfile(FORMULA, where / sub / "web.formula")
    (where / "images" / "kustomization.yaml").write_text(
        dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["resources.yaml"],
                "images": [{"name": "nginx", "newName": NEW_NGINX, "newTag": NEW_TAG}],
            }
        )
    )
    (where / "r2k8s" / "kustomization.yaml").write_text(
        dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["resources.yaml"],
                "transformers": ["r2k8s.yaml"],
            }
        )
    )
    (where / "r2k8s" / "r2k8s.yaml").write_text(dump(config))
    (where / "resolve").mkdir()
    shutil.copyfile(FORMULA, where / "resolve" / "web.formula")
    for index, document in enumerate(generated.documents):
        (where / "resolve" / f"res-{index:05d}.yaml").write_text(dump(document))
    resource_list = where / "r2k8s" / "resourcelist.yaml"
    resource_list.write_text(
        dump(
            {
                "apiVersion": "config.kubernetes.io/v1",
                "kind": "ResourceList",
                "functionConfig": config,
                "items": generated.documents,
            }
        )
    )
    return {"images": where / "images", "r2k8s": where / "r2k8s", "list": resource_list, "resolve": where / "resolve"}


# --- measuring -----------------------------------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    rss_kib: int
    cpu_seconds: float
    foreign_cpus: float


@dataclass
class Case:
    name: str
    n: int
    samples: list[Sample] = field(default_factory=list)
    check: str = ""

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def peak_mib(self) -> float:
        return max(s.rss_kib for s in self.samples) / 1024

    @property
    def foreign(self) -> float:
        return max(s.foreign_cpus for s in self.samples)


def measure(
    argv: list[str], scratch: Path, cwd: Path, env: dict[str, str], stdin: Path | None = None
) -> tuple[Sample, Path, str]:
    """Run ``argv`` under GNU time, stdout to a file: the sample, that file and stderr."""
    rss_file, out_file = scratch / "time.txt", scratch / "stdout.yaml"
    busy_before = busy_cpu_seconds()
    with open(out_file, "wb") as out, open(stdin, "rb") if stdin else open(os.devnull, "rb") as given:
        started = time.perf_counter()
        proc = subprocess.run(
            [TIME_BIN, "-f", "%M %U %S", "-o", str(rss_file), *argv],
            stdin=given,
            stdout=out,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
        )
        seconds = time.perf_counter() - started
    busy = busy_cpu_seconds() - busy_before
    stderr = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)} in {cwd}\n{stderr[-4000:]}")
    rss, user, system = rss_file.read_text().splitlines()[-1].split()
    cpu = float(user) + float(system)
    return Sample(seconds, int(rss), cpu, max(0.0, busy - cpu) / seconds), out_file, stderr


# An image still naming the formula; r2k8s.io/source (the way back for re-renders) names it as a value too.
LEFT_REFERENCE = re.compile(r"^[ -]*image: [\"']?\./web\.formula", re.MULTILINE)


def check_output(case: str, out_file: Path, generated: Generated) -> str:
    text = out_file.read_text()
    documents = len(re.findall(r"^kind: ", text, re.MULTILINE))
    if case.startswith("baseline"):
        renamed = text.count(f"image: {NEW_NGINX}:{NEW_TAG}")
        ok = renamed == generated.nginx_containers
        return (
            f"{'ok' if ok else 'MISMATCH'}: {renamed}/{generated.nginx_containers} nginx images renamed,"
            f" {documents} documents"
        )
    left = len(LEFT_REFERENCE.findall(text))
    annotated = text.count("r2k8s.io/formulas:")
    ok = left == 0 and annotated == generated.formula_containers
    if "resolve" in case:  # and each expanded pod template records where its formula came from
        recorded = text.count("r2k8s.io/formula-origins: ")
        ok = ok and recorded == annotated
        return (
            f"{'ok' if ok else 'MISMATCH'}: {annotated}/{generated.formula_containers} pod templates rewritten,"
            f" {recorded} records, {left} formula references left, {documents} documents"
        )
    return (
        f"{'ok' if ok else 'MISMATCH'}: {annotated}/{generated.formula_containers} pod templates rewritten,"
        f" {left} formula references left, {documents} documents"
    )


def console_script(given: str | None) -> Path:
    """The ``r2k8s`` console script next to this interpreter (not a pyenv shim, which is a bash script)."""
    if given:
        return Path(given).resolve()
    beside = Path(sys.executable).parent / "r2k8s"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("r2k8s")
    if found is None:
        raise SystemExit("no r2k8s console script found: pip install -e . (or pass --r2k8s PATH)")
    return Path(found)


def find_kustomize(given: str | None) -> Path:
    if given:
        return Path(given)
    sys.path.insert(0, str(ROOT / "tests" / "support"))
    try:
        from tools import VERSIONS, cache_bin  # type: ignore[import-not-found]  # tests/support is put on the path just above

        candidate = cache_bin() / f"kustomize-{VERSIONS['kustomize']}" / "kustomize"
        if os.access(candidate, os.X_OK):
            return candidate
    except Exception:
        pass
    cached = sorted(Path.home().glob(".cache/r2k8s-ci/bin/kustomize-*/kustomize"))
    if cached:
        return cached[-1]
    found = shutil.which("kustomize")
    if found is None:
        raise SystemExit("standalone kustomize not found: run .ci/install-tools or pass --kustomize PATH")
    return Path(found)


def helm_stream(n: int) -> str:
    """One Deployment with ``image: ./web.formula`` and ``n`` ordinary ones, as helm 3 renders a chart."""
    documents = []
    for index in range(n + 1):
        name = f"web-{index:05d}"
        metadata = {"name": name, "labels": {"app": name}}
        container = {"name": "main", "image": "./web.formula" if index == 0 else "nginx:1.27"}
        spec = {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
        }
        document = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}
        documents.append(f"---\n# Source: chart/templates/{name}.yaml\n{dump(document)}")
    return "".join(documents)


def bench_stream(n: int, repeat: int, work: Path, env: dict[str, str], script: Path, log) -> Case:
    """``r2k8s fn`` on a plain stream (helm's post-renderer protocol): one formula Deployment and ``n`` others."""
    where = work / f"stream{n}"
    where.mkdir(parents=True)
    (where / "stream.yaml").write_text(helm_stream(n))
    shutil.copyfile(FORMULA, where / "web.formula")
    log(f"stream n={n}: {(where / 'stream.yaml').stat().st_size / 2**20:.1f} MiB of YAML")
    scratch = work / "scratch"
    scratch.mkdir(exist_ok=True)
    case = Case("r2k8s fn, helm stream", n)
    for run in range(repeat):
        sample, out_file, _ = measure([str(script)], scratch, where, env, where / "stream.yaml")
        case.samples.append(sample)
        if run == 0:
            text = out_file.read_text()
            documents = len(re.findall(r"^kind: ", text, re.MULTILINE))
            ok = text.count("r2k8s.io/formulas:") == 1 and not LEFT_REFERENCE.search(text) and documents == n + 2
            case.check = (
                f"{'ok' if ok else 'MISMATCH'}: 1 formula Deployment rewritten among {n + 1}, {documents} documents"
                " out (the agent ConfigMap added)"
            )
        log(f"  {case.name:<27} run {run + 1}/{repeat}: {sample.seconds:7.2f} s, {sample.rss_kib / 1024:7.1f} MiB")
    shutil.rmtree(where)
    return case


def container_kustomization(where: Path, image: str) -> Path:
    """A copy of the r2k8s kustomization whose transformer is the container form of the function."""
    container = where.with_name(where.name + "-container")
    shutil.copytree(where, container)
    config = function_config(Path("unused"))
    config["metadata"]["annotations"]["config.kubernetes.io/function"] = (
        f"container:\n  image: {image}\n  mounts:\n  - type: bind\n    src: .\n    dst: /source\n"
    )
    (container / "r2k8s.yaml").write_text(dump(config))
    return container


def podman_as_docker(work: Path) -> dict[str, str]:
    """PATH with ``docker`` = podman: kustomize execs ``docker run --rm``, whose exit status podman's API
    service loses before podman 4.6 (containers/podman#18889); podman itself reports it."""
    directory = work / "podman-as-docker"
    directory.mkdir(exist_ok=True)
    link = directory / "docker"
    if not link.exists():
        link.symlink_to(shutil.which("podman") or "podman")
    return {"PATH": f"{directory}{os.pathsep}{os.environ.get('PATH', '')}"}


def bench_size(
    n: int,
    repeat: int,
    work: Path,
    env: dict[str, str],
    script: Path,
    kustomize: Path | None,
    log,
    image: str | None = None,
    rows: frozenset[str] = frozenset(ROWS),
) -> list[Case]:
    """The four cases on ``n`` resources (six with ``image``); without ``kustomize``, only the function's two;
    of them, those ``rows`` names (:data:`ROWS`)."""
    started = time.perf_counter()
    generated = generate(n)
    paths = write_case(work / f"n{n}", generated, script)
    size = (paths["images"] / "resources.yaml").stat().st_size
    log(
        f"n={n}: {generated.kinds}; {generated.formula_containers} formula workloads, {generated.nginx_containers}"
        f" nginx containers; {size / 2**20:.1f} MiB of YAML; written in {time.perf_counter() - started:.1f} s"
    )
    scratch = work / "scratch"
    scratch.mkdir(exist_ok=True)
    plans = [("r2k8s fn", [str(script)], paths["r2k8s"], paths["list"])]
    podman_run = ["podman", "run", "--rm", "-i", "--network", "none", "--user", "nobody"]
    podman_run += ["--security-opt=no-new-privileges", "--mount", f"type=bind,src={paths['r2k8s']},dst=/source"]
    if image is not None:
        plans.append(("r2k8s fn in podman", [*podman_run, image], paths["r2k8s"], paths["list"]))
    if kustomize is not None and image is not None:
        container = container_kustomization(paths["r2k8s"], image)
        argv = [str(kustomize), "build", "--enable-alpha-plugins", "."]
        plans.append(("kustomize + r2k8s container", argv, container, None))
    if kustomize is not None:
        plans = [
            ("baseline kustomize images:", [str(kustomize), "build", "."], paths["images"], None),
            *plans[:2],
            (
                "kustomize + r2k8s fn",
                [str(kustomize), "build", "--enable-alpha-plugins", "--enable-exec", "."],
                paths["r2k8s"],
                None,
            ),
            *plans[2:],
        ]
    resolving = ("r2k8s resolve -f DIR", [str(script), "resolve", "-f", "."], paths["resolve"], None)
    plans.insert(next(i for i, plan in enumerate(plans) if plan[0] == "r2k8s fn") + 1, resolving)
    plans = [plan for plan in plans if ROW_OF.get(plan[0], "container") in rows or "container" in plan[0]]
    cases = [Case(name, n) for name, *_ in plans]
    for run in range(repeat):
        for case, (name, argv, cwd, stdin) in zip(cases, plans, strict=True):
            case_env = {**env, **podman_as_docker(work)} if name.endswith("container") else env
            sample, out_file, _ = measure(argv, scratch, cwd, case_env, stdin)
            case.samples.append(sample)
            if run == 0:
                case.check = check_output(name, out_file, generated)
            log(
                f"  {name:<27} run {run + 1}/{repeat}: {sample.seconds:7.2f} s, {sample.rss_kib / 1024:7.1f} MiB,"
                f" cpu {sample.cpu_seconds:.2f} s, other load {sample.foreign_cpus:.2f} CPUs"
            )
    shutil.rmtree(work / f"n{n}")
    return cases


COMMENTED = """\
# {name}: the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}  # one per team
  namespace: team-{team}
  labels:
    app: {name}
spec:
  # two, so that a rollout keeps one serving
  replicas: 2
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: main
        image: {image}
        args:
        - --port
        - "8080"  # the probes use it
        env:
        - name: MODE
          value: production

        # what it may use
        resources:
          requests:
            cpu: "50m"
            memory: 64Mi
        readinessProbe:
          httpGet:
            path: /healthz
            port: 8080
"""


def bench_changed(n: int, repeat: int, work: Path, env: dict[str, str], script: Path, log) -> list[Case]:
    """What one changed item costs with its comments kept: ``r2k8s fn`` on ``n`` commented Deployments (a
    kubectl-style ResourceList, comments above, beside and between fields) that all name ``./web.formula``,
    beside the same list where only the first does. (median(all) - median(one)) / (n - 1) is the figure."""
    where = work / f"changed{n}"
    where.mkdir(parents=True)
    shutil.copyfile(FORMULA, where / "web.formula")
    cases = []
    for label, formulas in (("all", n), ("one", 1)):
        items = []
        for index in range(n):
            image = "./web.formula" if index < formulas else "nginx:1.27"
            document = COMMENTED.format(name=f"web-{index:05d}", team=index % NAMESPACES, image=image)
            items.append("- " + document.replace("\n", "\n  ").rstrip(" "))
        text = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n" + "".join(items)
        (where / f"{label}.yaml").write_text(text)
        cases.append(Case(f"r2k8s fn, commented, {formulas} changed", n))
    scratch = work / "scratch"
    scratch.mkdir(exist_ok=True)
    for run in range(repeat):
        for case, label in zip(cases, ("all", "one"), strict=True):
            sample, out_file, _ = measure([str(script)], scratch, where, env, where / f"{label}.yaml")
            case.samples.append(sample)
            if run == 0:
                text = out_file.read_text()
                expected = n if label == "all" else 1
                kept = text.count("# what it may use") == n and text.count("  # one per team") == n
                ok = text.count("r2k8s.io/formulas:") == expected and not LEFT_REFERENCE.search(text) and kept
                case.check = (
                    f"{'ok' if ok else 'MISMATCH'}: {expected} rewritten, comments {'kept' if kept else 'LOST'}"
                )
            log(f"  {case.name:<27} run {run + 1}/{repeat}: {sample.seconds:7.2f} s, {sample.rss_kib / 1024:7.1f} MiB")
    shutil.rmtree(where)
    return cases


@dataclass
class Startup:
    name: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def _wall(argv: list[str], stdin: bytes, env: dict[str, str]) -> tuple[float, bytes]:
    started = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, capture_output=True, env=env)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr.decode(errors='replace')}")
    return seconds, proc.stdout


EMPTY_LIST = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n"


def bench_startup(runs: int, script: Path, env: dict[str, str]) -> tuple[list[Startup], str]:
    checkout = child_env(PLUGIN_DIR)
    compiled = any((PLUGIN_DIR / "r2k8s" / "krm" / "__pycache__").glob("function.*.pyc"))
    commands = [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"], env),
        ("r2k8s (console script)", [str(script)], env),
        ("python -m r2k8s fn", [sys.executable, "-m", "r2k8s", "fn"], env),
        (f"  same, checkout{' (no .pyc)' if not compiled else ''}", [sys.executable, "-m", "r2k8s", "fn"], checkout),
    ]
    results = [Startup(name, []) for name, *_ in commands]
    outputs = set()
    for _, argv, where in commands:  # one untimed warm-up each (page cache)
        _wall(argv, EMPTY_LIST, where)
    for _ in range(runs):
        for result, (_, argv, where) in zip(results, commands, strict=True):
            seconds, out = _wall(argv, EMPTY_LIST, where)
            result.seconds.append(seconds)
            if argv[-1] != "pass":
                outputs.add(out)
    verdict = "ok" if all(re.search(rb"^items: \[\]$", out, re.MULTILINE) for out in outputs) else "UNEXPECTED"
    return results, f"{verdict}: output {sorted(o.decode()[:80] for o in outputs)!r}"


IMPORT_LINE = re.compile(r"^import time:\s*(\d+) \|\s*(\d+) \|( *)(\S+)$")


def imports_of(argv: list[str], env: dict[str, str]) -> list[tuple[int, int, str]]:
    """(depth, cumulative µs, module) of every import ``argv`` (a Python child) makes, from ``-X importtime``."""
    proc = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], input=EMPTY_LIST, capture_output=True, env=env)
    rows = []
    for line in proc.stderr.decode(errors="replace").splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            rows.append(((len(match.group(3)) - 1) // 2, int(match.group(2)), match.group(4)))
    return rows


def r2k8s_version() -> str:
    try:

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", "-C", str(PLUGIN_DIR), *args], capture_output=True, text=True, check=True
            ).stdout.strip()

        dirty = git("status", "--porcelain", "--", ".")
        return f"{git('rev-parse', '--short', 'HEAD')}{'+dirty' if dirty else ''}"
    except Exception as exc:
        return f"unknown ({exc.__class__.__name__})"


def tool_version(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except Exception as exc:
        return f"unknown ({exc.__class__.__name__})"


def container_overhead(cases: list[Case]) -> None:
    """The container form beside the exec form, per n: ratio and difference of the median wall times."""
    pairs = (("r2k8s fn in podman", "r2k8s fn"), ("kustomize + r2k8s container", "kustomize + r2k8s fn"))
    for container_name, exec_name in pairs:
        for case in cases:
            exec_case = next((c for c in cases if c.n == case.n and c.name == exec_name), None)
            if case.name == container_name and exec_case is not None:
                print(
                    f"container overhead, n={case.n:,}: {container_name} / {exec_name} ="
                    f" {case.median / exec_case.median:.2f}x ({case.median - exec_case.median:+.2f} s)"
                )


def goals(cases: list[Case], changed: list[Case]) -> None:
    """Issue 17's goals for the function, each with its figure: the ratio to kustomize at each n where both
    ran, the time per document at each n (linear: the same at every n), the cost of a changed item."""
    print()
    for case in cases:
        base = next((c for c in cases if c.n == case.n and c.name.startswith("baseline")), None)
        if case.name == "r2k8s fn" and base is not None:
            ratio = case.median / base.median
            verdict = "met" if ratio <= RATIO_TARGET else "NOT met"
            print(
                f"goal: r2k8s fn <= {RATIO_TARGET:.2f}x standalone kustomize images:, n={case.n:,}: {ratio:.3f}x"
                f" ({case.median:.2f} s against {base.median:.2f} s): {verdict}"
            )
    function = sorted((c for c in cases if c.name == "r2k8s fn"), key=lambda c: c.n)
    if len(function) > 1:
        per = ", ".join(f"{c.n:,}: {c.median / c.n * 1e6:.0f} µs" for c in function)
        growth = (function[-1].median / function[-1].n) / (function[0].median / function[0].n)
        print(
            f"goal: linear: r2k8s fn per document {per}; largest over smallest n {growth:.2f}x"
            f" ({'met' if growth <= 1.5 else 'NOT met'}: <= 1.5x, start-up amortised)"
        )
    if len(changed) == 2:
        every, one = changed
        per_item = (every.median - one.median) / (every.n - 1)
        print(
            f"goal: <= {CHANGED_TARGET * 1000:.0f} ms per changed item, comments kept: {per_item * 1000:.2f} ms"
            f" (({every.median:.2f} s with {every.n:,} changed - {one.median:.2f} s with 1) / {every.n - 1:,}):"
            f" {'met' if per_item <= CHANGED_TARGET else 'NOT met'}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="2000,20000", help="comma-separated resource counts (default 2000,20000)")
    parser.add_argument(
        "--stream-sizes",
        default="50000",
        help="comma-separated Deployment counts for the plain-stream (helm) rows; empty for none (default 50000)",
    )
    parser.add_argument(
        "--rows",
        default=",".join(ROWS),
        help=f"which resource-list rows to run (default all: {','.join(ROWS)}); the container rows follow --image",
    )
    parser.add_argument(
        "--changed",
        type=int,
        default=500,
        help="commented Deployments for the per-changed-item figure (default 500; 0 for none)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per case; the median is shown (default 3)")
    parser.add_argument("--startup-runs", type=int, default=10, help="runs of each start-up command (default 10)")
    parser.add_argument("--workdir", type=Path, help="where to create the temporary work directory")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--kustomize", help="standalone kustomize binary (default: the one tests/support/tools.py finds)"
    )
    parser.add_argument(
        "--kustomize-max",
        type=int,
        default=5000,
        help="largest n to run kustomize on (default 5000): kustomize build itself grows about"
        " quadratically with the resource count, 20,000 takes it hours on 2 cores",
    )
    parser.add_argument("--r2k8s", help="r2k8s console script (default: the one next to this interpreter)")
    parser.add_argument("--image", help="the function's image in podman's store: adds the container rows")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the tables")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = frozenset(r for r in args.rows.split(",") if r)
    if not rows <= set(ROWS):
        parser.error(f"--rows: unknown {', '.join(sorted(rows - set(ROWS)))} (known: {', '.join(ROWS)})")
    stream_sizes = [int(s) for s in args.stream_sizes.split(",") if s]
    if not os.access(TIME_BIN, os.X_OK):
        parser.error(f"{TIME_BIN} (GNU time) is required to measure per-process peak RSS")

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    script, kustomize = console_script(args.r2k8s), find_kustomize(args.kustomize)
    version = r2k8s_version()  # before the run: the snapshot is taken now, the checkout may move meanwhile
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="r2k8s-bench-krm-", dir=args.workdir))
    try:
        env = child_env(snapshot(work))
        measured = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=env).stdout.strip()
        where = subprocess.run(
            [sys.executable, "-c", "import r2k8s; print(r2k8s.__file__)"], capture_output=True, text=True, env=env
        ).stdout.strip()
        log(f"work dir {work}; kustomize {kustomize}; r2k8s {script} ({measured}) importing {where}")
        startup, startup_check = bench_startup(args.startup_runs, script, env)
        imported = imports_of([sys.executable, "-m", "r2k8s", "fn"], env)
        floor = {name for _, _, name in imports_of([sys.executable, "-c", "pass"], env)}
        cases: list[Case] = []
        skipped: list[int] = []
        for n in sizes:
            if n > args.kustomize_max:
                skipped.append(n)
            within = kustomize if n <= args.kustomize_max else None
            cases += bench_size(n, args.repeat, work, env, script, within, log, args.image, rows)
        for n in stream_sizes:
            cases.append(bench_stream(n, args.repeat, work, env, script, log))
        changed = bench_changed(args.changed, args.repeat, work, env, script, log) if args.changed > 1 else []
        cases += changed
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print(
        f"r2k8s KRM function benchmark: r2k8s {version} ({sys.executable}, "
        f"{sys.version.split()[0]}); {tool_version([str(kustomize), 'version'])}; {os.cpu_count()} CPUs"
    )
    print(
        f"Each row: median wall time of {args.repeat} fresh process(es), start-up included; peak RSS = max over"
        " the runs (GNU time %M; largest process of the tree).\nRatios over 'baseline kustomize images:' of the"
        " same n."
    )
    header = ("case", "n", "wall s", "ms/resource", "peak RSS MiB", "time ratio", "RSS ratio")
    table = []
    for case in cases:
        base = next((c for c in cases if c.n == case.n and c.name.startswith("baseline")), None)
        table.append(
            (
                case.name,
                f"{case.n:,}",
                f"{case.median:.2f}",
                f"{case.median / case.n * 1000:.1f}",
                f"{case.peak_mib:.1f}",
                f"{case.median / base.median:.2f}x" if base else "n/a",
                f"{case.peak_mib / base.peak_mib:.2f}x" if base else "n/a",
            )
        )
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        """The first column left-aligned, the figures right-aligned."""
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in pairs)

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print(line(row))
    for n in skipped:
        print(
            f"(n={n:,}: kustomize rows skipped, n > --kustomize-max {args.kustomize_max:,}: kustomize build grows"
            " about quadratically with the resource count, kubernetes-sigs/kustomize#5084)"
        )
    container_overhead(cases)
    goals(cases, changed)
    print("\nChecks and noise (other load = CPUs busy with anything else during the run, max over runs):")
    for case in cases:
        runs = ", ".join(f"{s.seconds:.2f}" for s in case.samples)
        cpu = statistics.median(s.cpu_seconds for s in case.samples)
        print(
            f"  {case.name:<27} n={case.n:<6} runs [{runs}] s; cpu {cpu:.2f} s; other load {case.foreign:.2f};"
            f" {case.check}"
        )

    print(
        f"\nStart-up on an empty ResourceList (median of {args.startup_runs}; target < {STARTUP_TARGET * 1000:.0f} ms):"
    )
    floor_time = startup[0].median
    for result in startup:
        extra = (
            ""
            if result is startup[0]
            else (
                f"  (+{(result.median - floor_time) * 1000:.0f} ms over the floor;"
                f" {'under' if result.median < STARTUP_TARGET else 'OVER'} {STARTUP_TARGET * 1000:.0f} ms)"
            )
        )
        print(
            f"  {result.name:<30} {result.median * 1000:6.0f} ms  [min {min(result.seconds) * 1000:.0f},"
            f" max {max(result.seconds) * 1000:.0f}]{extra}"
        )
    print(f"  output: {startup_check}")
    names = {name for _, _, name in imported}
    tops = {name.split(".")[0] for name in names}
    found = {bad: bad in tops for bad in FORBIDDEN_ON_STARTUP}
    print(
        f"  imports on that path: {len(names)} modules ({len(names - floor)} beyond the floor's {len(floor)});"
        + ";".join(f" {bad} {'IMPORTED' if hit else 'not imported'}" for bad, hit in found.items())
    )
    direct = sorted(((us, name) for depth, us, name in imported if depth == 0 and name not in floor), reverse=True)
    print(
        "  heaviest top-level imports (cumulative, one -X importtime run): "
        + ", ".join(f"{name} {us / 1000:.0f} ms" for us, name in direct[:6])
    )
    if found["kubernetes"]:
        print("FAIL: the Kubernetes client is imported on the function's start-up path")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
