"""The Job and ConfigMap ``r2k8s run`` creates, and how it splits a formula between client and pod."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from formula_runs import write_formula

from r2k8s.agent_bundle import agent_zipapp, configmap_manifest, configmap_name
from r2k8s.cluster.manifests import job_manifest
from r2k8s.cluster.plan import plan_run
from r2k8s.core.agent.contract import AGENT_ZIPAPP, BUILD_CAPABILITIES
from r2k8s.core.errors import R2k8sError
from r2k8s.formula_files import load_formula_file

#: Pod Security Standards, baseline: capabilities that may be added.
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}


def job(**kw):
    args = dict(
        run_id="abc", formula_id="FID", spec_json="{}", configmap="r2k8s-agent-x", image="img", timeout=600, ttl=60
    )
    args.update(kw)
    return job_manifest(**args)


def test_the_job_never_retries_has_a_deadline_and_a_ttl() -> None:
    spec = job()["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (0, 600, 60)
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    container = pod["containers"][0]
    assert container["stdin"] is True and container["stdinOnce"] is True and container["tty"] is False
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_the_pod_fits_pod_security_baseline() -> None:
    pod = job()["spec"]["template"]["spec"]
    assert not any(pod.get(key) for key in ("hostNetwork", "hostPID", "hostIPC"))
    assert all("hostPath" not in volume for volume in pod["volumes"])
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["privileged"] is False
        assert set(context["capabilities"]["add"]) <= BASELINE_CAPABILITIES
        assert context["seccompProfile"]["type"] == "RuntimeDefault"
        assert "procMount" not in context
    assert set(BUILD_CAPABILITIES) >= {"SYS_CHROOT", "SETUID", "SETGID", "MKNOD"}  # what the chroot executor needs


def test_the_job_is_labelled_for_finding_and_sweeping() -> None:
    body = job()
    labels = body["spec"]["template"]["metadata"]["labels"]
    assert labels["r2k8s.io/run-id"] == "abc" and labels["app.kubernetes.io/managed-by"] == "r2k8s"
    assert body["metadata"]["annotations"]["r2k8s.io/formula-id"] == "FID"


def test_the_agent_configmap_is_immutable_and_named_by_its_content() -> None:
    data = agent_zipapp()
    assert agent_zipapp() == data  # deterministic
    name = configmap_name(data)
    body = configmap_manifest(name, data)
    assert body["immutable"] is True
    assert base64.b64decode(body["binaryData"][AGENT_ZIPAPP]) == data
    assert len(json.dumps(body)) < 1 << 20  # a ConfigMap holds at most 1 MiB
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "__main__.py" in names and "r2k8s/core/agent/build.py" in names
    assert not any(n.startswith("r2k8s/cluster") for n in names)  # only the standard-library core ships


def test_client_local_wares_are_streamed_and_http_ones_left_to_the_pod(tmp_path: Path) -> None:
    (tmp_path / "wares").mkdir()
    formula = write_formula(
        tmp_path,
        {"/": "tar:aaa", "/b": "tar:bbb", "/c": "tar:aaa"},
        {"exec": ["/bin/true"]},
        outputs={"/out": {"packtype": "tar"}, "/web": {"packtype": "tar"}, "/none": {"packtype": "tar"}},
        fetch={"/": ["file://./r.tgz"], "/b": ["https://example.invalid/b.tgz"], "/c": ["ca+file://./wares"]},
        save={"/out": "ca+file://./wares", "/web": "ca+https://example.invalid/"},
    )
    plan = plan_run(load_formula_file(formula))
    assert plan.spec.streamed == {"tar:aaa": ("/", "/c")}
    assert plan.streamed["tar:aaa"].urls == ["file://./r.tgz", "ca+file://./wares"]
    assert plan.spec.context.fetch_urls == {"/b": ("https://example.invalid/b.tgz",)}
    assert plan.spec.returned == ("/out",)
    assert plan.spec.context.save_urls == {"/web": "ca+https://example.invalid/"}


def test_a_missing_client_save_warehouse_fails_before_the_run(tmp_path: Path) -> None:
    formula = write_formula(
        tmp_path,
        {},
        {"exec": ["/bin/true"]},
        outputs={"/out": {"packtype": "tar"}},
        save={"/out": "ca+file://./nowhere"},
    )
    with pytest.raises(R2k8sError, match="does not exist") as caught:
        plan_run(load_formula_file(formula))
    assert caught.value.category.exit_code == 3


def test_the_readme_role_grants_every_permission_the_client_asks_for() -> None:
    import re

    import yaml
    from repo import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("### Permissions", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    granted = {
        (f"{r}.{rule['apiGroups'][0]}" if rule["apiGroups"][0] else r, verb)
        for rule in yaml.safe_load(block)["rules"]
        for r in rule["resources"]
        for verb in rule["verbs"]
    }
    source = "".join(p.read_text() for p in (REPO_ROOT / "plugin" / "r2k8s" / "cluster").glob("*.py"))
    needed = {(resource, verb) for verb, resource in re.findall(r'Permission\("(\w+)", "([\w./]+)"\)', source)}
    needed |= {("pods", "list"), ("pods", "watch")}  # podwatch's _LIST and _WATCH
    assert len(needed) >= 8
    assert needed <= granted, needed - granted


def test_the_agent_configmap_fits_kubectl_apply_s_annotation_with_room_to_grow() -> None:
    """Client-side ``kubectl apply`` copies the object into an annotation; the API server caps annotations at
    256 KiB. The documented core no longer fit (the apply was refused); the slimmed one must, with a margin."""
    from r2k8s.agent_bundle import APPLY_ANNOTATION_LIMIT

    data = agent_zipapp()
    annotation = json.dumps(configmap_manifest(configmap_name(data), data), separators=(",", ":"))
    assert len(annotation) < 0.85 * APPLY_ANNOTATION_LIMIT, len(annotation)


def test_slimming_keeps_what_the_code_does() -> None:
    """Docstrings, comment lines and blank lines go; strings that look like them stay; a body that was only a
    docstring is still a body."""
    from r2k8s.agent_bundle import slim_source

    source = (
        '"""Module doc."""\n'
        "from __future__ import annotations\n\n"
        "# a comment\n"
        "def only_doc() -> None:\n"
        '    """Nothing else."""\n\n\n'
        "class Thing:\n"
        '    """A class\n\n    # not a comment: inside the docstring\n    """\n'
        '    text = """first\n# kept: inside a string\n\n"""  # trailing comment stays\n'
        "    def method(self) -> str:\n"
        "        # gone\n"
        '        return self.text + "#" + str(only_doc())\n'
    )
    slim = slim_source(source)
    assert "Module doc" not in slim and "Nothing else" not in slim and "# a comment" not in slim
    assert "# kept: inside a string\n\n" in slim
    original: dict[str, Any] = {}
    slimmed: dict[str, Any] = {}
    exec(compile(source, "original", "exec"), original)
    exec(compile(slim, "slim", "exec"), slimmed)
    assert original["Thing"]().method() == slimmed["Thing"]().method() == "first\n# kept: inside a string\n\n#None"


def test_every_core_module_still_compiles_slimmed() -> None:
    import r2k8s
    from r2k8s.agent_bundle import slim_source

    core = Path(r2k8s.__file__).parent / "core"
    for path in sorted(core.rglob("*.py")):
        compile(slim_source(path.read_text()), str(path), "exec")


def test_the_cached_agent_zipapp_is_the_built_one_and_a_damaged_cache_entry_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zipapp is kept beside the package's bytecode (building it takes a third of a second per run); what
    comes from there must be the bytes a build makes, and a cache file that is not must never be used."""
    import r2k8s.agent_bundle as bundle

    def fresh() -> bytes:
        agent_zipapp.cache_clear()  # the process keeps it too: ask again as a new run would
        return agent_zipapp()

    assert bundle._cache_dir() == Path(bundle.__file__).parent / "__pycache__"  # never the user's home
    cache = tmp_path / "pycache"
    cache.mkdir()
    monkeypatch.setattr(bundle, "_cache_dir", lambda: cache)
    built = fresh()
    (entry,) = cache.glob("agent-*.pyz")
    assert entry.read_bytes() == built
    assert fresh() == built  # read from the cache this time
    entry.write_bytes(built[:-1] + b"\0")
    assert fresh() == built  # damaged: built again, and kept again
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setattr(bundle, "_cache_dir", lambda: blocked)  # nowhere to keep it (a read-only package): built
    assert fresh() == built
    agent_zipapp.cache_clear()
