"""Formula paths in kustomize bases, overlays and components, under the real standalone kustomize (issue 13, 9).

``image: ./web.formula`` is relative to the file that wrote it, wherever the transformer is declared. kustomize
says which file that is only when the kustomization being built asks for ``buildMetadata: [originAnnotations]``
(it then annotates every item, in the transformer's input and in its own output, with paths relative to that
kustomization's folder); without it, a path that is not found where the transformer is declared fails with a
message naming that line.

Each formula's action names the formula (``/bin/base``, ``/bin/a`` …), so a test sees *which* file was read.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import tools
import yaml
from krm_inputs import write_formula

from r2k8s.core.agent.contract import SERVICE_SPEC_ENV
from r2k8s.core.agent.service_spec import ServiceSpec

ORIGIN = "config.kubernetes.io/origin"
ORIGIN_LINE = "buildMetadata: [originAnnotations]"
TRANSFORMER = """\
apiVersion: fn.r2k8s.io/v1alpha1
kind: R2k8sFunction
metadata:
  name: r2k8s
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: r2k8s
"""


def build(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [str(tools.kustomize()), "build", "--enable-alpha-plugins", "--enable-exec", str(folder)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)


def built(folder: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The resources of a successful build, by ``Kind/name``."""
    result = build(folder, env)
    assert result.returncode == 0, result.stderr[-3000:]
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in documents}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def kustomization(*, resources: tuple[str, ...] = (), components: tuple[str, ...] = (), **fields: Any) -> str:
    document: dict[str, Any] = {"resources": list(resources)}
    if components:
        document["components"] = list(components)
    document.update(fields)
    return yaml.safe_dump(document)


def workload(name: str, image: str = "./web.formula", namespace: str | None = None) -> str:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata,
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": name, "image": image}]},
                },
            },
        }
    )


def bookkeeping(resource: dict[str, Any]) -> dict[str, str]:
    """The resource's annotations in kustomize's and kyaml's namespaces (origin, path, index, id)."""
    annotations = resource["metadata"].get("annotations") or {}
    return {k: v for k, v in annotations.items() if "config.kubernetes.io/" in k or "config.k8s.io/" in k}


def formula_exec(resource: dict[str, Any]) -> str:
    """The first word of the action of the formula the resource's (only) container runs."""
    container = resource["spec"]["template"]["spec"]["containers"][0]
    spec = ServiceSpec.from_json(next(e["value"] for e in container["env"] if e["name"] == SERVICE_SPEC_ENV))
    return (spec.formula.action.exec or ("?",))[0]


def base(root: Path, folder: str = "base", name: str = "web", formula: str = "/bin/base") -> None:
    write(root / folder, {"kustomization.yaml": kustomization(resources=("deployment.yaml",))})
    write(root / folder, {"deployment.yaml": workload(name)})
    write_formula(root / folder / "web.formula", exec_=[formula])


def overlay(root: Path, folder: str, *resources: str, components: tuple[str, ...] = (), origins: bool = True) -> Path:
    fields: dict[str, Any] = {"transformers": ["r2k8s.yaml"]}
    if origins:
        fields["buildMetadata"] = ["originAnnotations"]
    return write(
        root / folder,
        {
            "kustomization.yaml": kustomization(resources=resources, components=components, **fields),
            "r2k8s.yaml": TRANSFORMER,
        },
    )


def test_a_base_formula_resolves_in_the_base_with_the_transformer_in_the_overlay(
    tmp_path: Path, r2k8s_on_path: dict[str, str]
) -> None:
    base(tmp_path)
    dev = overlay(tmp_path, "overlays/dev", "../../base")
    resources = built(dev, r2k8s_on_path)
    assert formula_exec(resources["Deployment/web"]) == "/bin/base"
    # the user asked kustomize for origins: they are in the output, as kustomize wrote them, and only those
    assert bookkeeping(resources["Deployment/web"]) == {ORIGIN: "path: ../../base/deployment.yaml\n"}


def test_components_resolve_in_the_component(tmp_path: Path, r2k8s_on_path: dict[str, str]) -> None:
    base(tmp_path)
    component = {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "resources": ["worker.yaml"],
    }
    write(tmp_path / "components/worker", {"kustomization.yaml": yaml.safe_dump(component)})
    write(tmp_path / "components/worker", {"worker.yaml": workload("worker", "./worker.formula")})
    write_formula(tmp_path / "components/worker/worker.formula", exec_=["/bin/worker"])
    dev = overlay(tmp_path, "overlays/dev", "../../base", components=("../../components/worker",))
    resources = built(dev, r2k8s_on_path)
    assert formula_exec(resources["Deployment/web"]) == "/bin/base"
    assert formula_exec(resources["Deployment/worker"]) == "/bin/worker"


def test_an_overlay_of_an_overlay_resolves_each_formula_in_its_own_folder(
    tmp_path: Path, r2k8s_on_path: dict[str, str]
) -> None:
    base(tmp_path)
    write(tmp_path / "overlays/dev", {"kustomization.yaml": kustomization(resources=("../../base", "api.yaml"))})
    write(tmp_path / "overlays/dev", {"api.yaml": workload("api", "./formulas/api.formula")})
    write_formula(tmp_path / "overlays/dev/formulas/api.formula", exec_=["/bin/api"])
    prod = overlay(tmp_path, "overlays/prod", "../dev")
    resources = built(prod, r2k8s_on_path)
    assert formula_exec(resources["Deployment/web"]) == "/bin/base"
    assert formula_exec(resources["Deployment/api"]) == "/bin/api"


@pytest.mark.parametrize("origins", [False, True], ids=["without-origins", "origins-asked-at-the-top"])
def test_a_transformer_declared_in_the_base(tmp_path: Path, r2k8s_on_path: dict[str, str], origins: bool) -> None:
    """kustomize runs it in the base's folder; with origins asked by the overlay (the paths then relative to the
    overlay, which the transformer never sees), the file still resolves in the base. Its config in a subfolder."""
    base(tmp_path)
    fields: dict[str, Any] = {"transformers": ["functions/r2k8s.yaml"]}
    write(tmp_path / "base", {"kustomization.yaml": kustomization(resources=("deployment.yaml",), **fields)})
    write(tmp_path / "base", {"functions/r2k8s.yaml": TRANSFORMER})
    asked: dict[str, Any] = {"buildMetadata": ["originAnnotations"]} if origins else {}
    write(tmp_path / "overlays/dev", {"kustomization.yaml": kustomization(resources=("../../base",), **asked)})
    resources = built(tmp_path / "overlays/dev", r2k8s_on_path)
    assert formula_exec(resources["Deployment/web"]) == "/bin/base"
    asked_for = {ORIGIN: "path: ../../base/deployment.yaml\n"} if origins else {}
    assert bookkeeping(resources["Deployment/web"]) == asked_for


def test_the_same_file_name_in_two_bases_names_two_formulas(tmp_path: Path, r2k8s_on_path: dict[str, str]) -> None:
    base(tmp_path, "bases/a", "a", "/bin/a")
    base(tmp_path, "bases/b", "b", "/bin/b")
    write_formula(tmp_path / "app/web.formula", exec_=["/bin/overlay"])  # where the transformer is: not read
    app = overlay(tmp_path, "app", "../bases/a", "../bases/b")
    resources = built(app, r2k8s_on_path)
    assert formula_exec(resources["Deployment/a"]) == "/bin/a"
    assert formula_exec(resources["Deployment/b"]) == "/bin/b"


def test_without_origins_the_error_names_the_line_to_add(tmp_path: Path, r2k8s_on_path: dict[str, str]) -> None:
    base(tmp_path)
    dev = overlay(tmp_path, "overlays/dev", "../../base", origins=False)
    result = build(dev, r2k8s_on_path)
    assert result.returncode != 0 and result.stdout == ""
    assert "Deployment/web" in result.stderr and "web.formula not found" in result.stderr
    assert ORIGIN_LINE in result.stderr and str(dev / "kustomization.yaml") in result.stderr


def test_a_base_outside_the_root_is_refused(tmp_path: Path, r2k8s_on_path: dict[str, str]) -> None:
    base(tmp_path)
    dev = overlay(tmp_path, "overlays/dev", "../../base")
    (dev / "r2k8s.yaml").write_text(TRANSFORMER + "spec:\n  root: .\n")  # the user narrowed the root
    result = build(dev, r2k8s_on_path)
    assert result.returncode != 0 and result.stdout == ""
    assert "Deployment/web" in result.stderr
    assert f"{tmp_path / 'base' / 'deployment.yaml'} is outside the root {dev}" in result.stderr


def test_a_remote_base_is_refused(tmp_path: Path, r2k8s_on_path: dict[str, str]) -> None:
    base(tmp_path, "remote/app")
    git = ["git", "-C", str(tmp_path / "remote"), "-c", "user.email=t@example", "-c", "user.name=t"]
    subprocess.run([*git[:3], "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)
    app = overlay(tmp_path, "app", f"file://{tmp_path / 'remote'}//app?ref=main")
    result = build(app, r2k8s_on_path)
    assert result.returncode != 0 and result.stdout == ""
    assert "Deployment/web" in result.stderr and f"remote base file://{tmp_path / 'remote'}" in result.stderr


def test_an_earlier_function_does_not_move_the_file(tmp_path: Path, r2k8s_on_path: dict[str, str]) -> None:
    """After another exec function, kustomize hands r2k8s kyaml's made-up ``internal.config.kubernetes.io/path``
    (``NAMESPACE/deployment_web.yaml``): it names no file and must not be read as one."""
    write(tmp_path, {"deployment.yaml": workload("web", namespace="prod")})
    write_formula(tmp_path / "web.formula", exec_=["/bin/web"])
    earlier = "apiVersion: example.com/v1\nkind: Copy\nmetadata:\n  name: copy\n  annotations:\n"
    earlier += "    config.kubernetes.io/function: |\n      exec:\n        path: /bin/cat\n"
    transformers: dict[str, Any] = {"transformers": ["copy.yaml", "r2k8s.yaml"]}
    write(tmp_path, {"kustomization.yaml": kustomization(resources=("deployment.yaml",), **transformers)})
    write(tmp_path, {"copy.yaml": earlier, "r2k8s.yaml": TRANSFORMER})
    assert formula_exec(built(tmp_path, r2k8s_on_path)["Deployment/web"]) == "/bin/web"


def test_an_origin_that_is_no_origin_is_refused_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What kustomize hands the function, with the item's origin replaced by text kustomize never writes."""
    from r2k8s.krm.function import run

    write_formula(tmp_path / "web.formula")
    monkeypatch.chdir(tmp_path)
    item = yaml.safe_load(workload("web"))
    item["metadata"]["annotations"] = {ORIGIN: "[not, an, origin]", "kustomize.config.k8s.io/id": "kind: Deployment\n"}
    config = yaml.safe_load(TRANSFORMER)
    config["metadata"]["annotations"][ORIGIN] = "path: r2k8s.yaml\n"
    (tmp_path / "r2k8s.yaml").write_text(TRANSFORMER)
    text = yaml.safe_dump({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [item]})
    outcome = run(text.rstrip("\n") + "\n" + yaml.safe_dump({"functionConfig": config}))
    assert outcome.exit_code == 1 and outcome.output
    [message] = outcome.messages
    assert "Deployment/web" in message and "containers[0].image" in message
    assert f"metadata.annotations.{ORIGIN}: not an origin kustomize writes" in message
