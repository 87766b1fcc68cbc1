"""Per-run pod settings: what the flags put into the build Job, and what they refuse (exit 1, naming the flag).

What the cluster makes of them is in ``test_run_knobs_e2e.py``; here, the checking and the Job, with random
settings showing that none of them can take the pod out of Pod Security baseline or clobber r2k8s's labels.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pss_baseline import baseline_violations

from r2k8s.cluster.kube_values import parse_quantity, qualified_name_problem
from r2k8s.cluster.manifests import DISRUPTIONS_IGNORED, job_manifest
from r2k8s.cluster.pod_settings import CacheVolume, PodSettings, Toleration
from r2k8s.core.agent.contract import CACHE_DIR
from r2k8s.core.errors import Category, R2k8sError


def job(settings_: PodSettings | None = None) -> dict[str, Any]:
    return job_manifest(
        run_id="abc",
        formula_id="FID",
        spec_json="{}",
        configmap="r2k8s-agent-x",
        image="img",
        timeout=600,
        ttl=60,
        settings=settings_,
    )


def refusal(**flags: Any) -> str:
    with pytest.raises(R2k8sError) as caught:
        PodSettings.from_flags(**flags)
    assert caught.value.category is Category.USAGE
    return caught.value.message


# -- quantities -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Decimal(1)),
        ("500m", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("2Gi", Decimal(2 * 2**30)),
        ("64Mi", Decimal(64 * 2**20)),
        ("1k", Decimal(1000)),
        ("1e3", Decimal(1000)),
        ("1E", Decimal(10**18)),
        ("1E2", Decimal(100)),
        ("100n", Decimal("1E-7")),
        ("+3", Decimal(3)),
    ],
)
def test_quantities_are_read_as_kubernetes_reads_them(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1Gb", "1 Gi", "1.2.3", "--1", "Gi", "1i", "1KiB", "1e", "0x10", "1m1"])
def test_what_is_no_quantity(text: str) -> None:
    assert parse_quantity(text) is None


@given(
    st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False),
    st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi", "Ti"]),
)
def test_every_written_quantity_has_its_value(number: Decimal, suffix: str) -> None:
    scale = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20}
    scale |= {"Gi": 2**30, "Ti": 2**40}
    assert parse_quantity(f"{number}{suffix}") == number * scale[suffix]


# -- what the flags do ----------------------------------------------------------------------------------------------


def test_no_settings_change_nothing_but_disruptions_are_always_ignored() -> None:
    plain = job()
    assert job(PodSettings()) == plain
    assert plain["spec"]["podFailurePolicy"] == DISRUPTIONS_IGNORED
    assert plain["spec"]["backoffLimit"] == 0  # an ignored disruption does not count; a real failure still ends it
    assert plain["spec"]["template"]["spec"]["restartPolicy"] == "Never"  # what podFailurePolicy requires


def test_each_flag_lands_in_the_job() -> None:
    pod = PodSettings.from_flags(
        requests=["cpu=1,memory=2Gi", "ephemeral-storage=1Gi"],
        limits=["memory=4Gi", "example.com/fpga=2"],
        node_selector=["disk=ssd,zone=a"],
        tolerations=["dedicated=builds:NoSchedule", "gpu:NoExecute", "spot", "flaky:Exists"],
        service_account="builder",
        priority_class="batch-low",
        labels=["team=infra", "tier="],
        annotations=["note=a, b=c", "example.com/owner=me"],
    )
    body = job(pod)
    template = body["spec"]["template"]
    spec = template["spec"]
    container = spec["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "1", "ephemeral-storage": "1Gi", "memory": "2Gi"},
        "limits": {"example.com/fpga": "2", "memory": "4Gi"},
    }
    assert spec["nodeSelector"] == {"disk": "ssd", "zone": "a"}
    assert spec["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "builds", "effect": "NoSchedule"},
        {"key": "gpu", "operator": "Exists", "effect": "NoExecute"},
        {"key": "spot", "operator": "Exists"},
        {"key": "flaky", "operator": "Exists"},
    ]
    assert (spec["serviceAccountName"], spec["priorityClassName"]) == ("builder", "batch-low")
    assert spec["automountServiceAccountToken"] is False
    for meta in (body["metadata"], template["metadata"]):
        assert meta["labels"]["team"] == "infra" and meta["labels"]["tier"] == ""
        assert meta["labels"]["r2k8s.io/run-id"] == "abc"
        assert meta["annotations"]["note"] == "a, b=c" and meta["annotations"]["example.com/owner"] == "me"
    assert body["metadata"]["annotations"]["r2k8s.io/formula-id"] == "FID"


@pytest.mark.parametrize(
    ("text", "volume"),
    [
        ("pvc:wares", {"name": "cache", "persistentVolumeClaim": {"claimName": "wares"}}),
        (
            "hostPath:/var/cache/r2k8s",
            {"name": "cache", "hostPath": {"path": "/var/cache/r2k8s", "type": "DirectoryOrCreate"}},
        ),
    ],
)
def test_the_cache_volume_is_mounted_and_given_to_the_agent(text: str, volume: dict[str, Any]) -> None:
    spec = job(PodSettings.from_flags(cache_volume=text))["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert volume in spec["volumes"]
    assert {"name": "cache", "mountPath": CACHE_DIR} in container["volumeMounts"]
    assert container["command"][-2:] == ["--cache", CACHE_DIR]


def test_only_a_host_path_cache_leaves_baseline() -> None:
    assert baseline_violations(job(PodSettings.from_flags(cache_volume="pvc:wares"))) == []
    assert baseline_violations(job(PodSettings.from_flags(cache_volume="hostPath:/var/cache/r2k8s"))) == [
        ".spec.template.spec.volumes[cache].hostPath"
    ]


# -- refusals -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ({"requests": ["cpu=lots"]}, ["--requests", "'lots' is not a Kubernetes quantity"]),
        ({"limits": ["memory=1Gb"]}, ["--limits", "'1Gb'"]),
        ({"requests": ["cpu=-1"]}, ["--requests", "negative"]),
        ({"requests": ["gpu=1"]}, ["--requests", "unknown resource 'gpu'"]),
        ({"requests": ["cpu"]}, ["--requests", "KEY=VALUE"]),
        ({"requests": ["cpu=1,cpu=2"]}, ["--requests", "given twice"]),
        ({"requests": ["cpu=2"], "limits": ["cpu=1500m"]}, ["--requests", "more than its limit"]),
        ({"requests": ["example.com/fpga=1"]}, ["--requests", "needs --limits example.com/fpga=1"]),
        ({"requests": ["example.com/fpga=1"], "limits": ["example.com/fpga=2"]}, ["exactly its limit"]),
        ({"limits": ["example.com/fpga=500m"]}, ["--limits", "whole units"]),
        ({"labels": ["r2k8s.io/run-id=x"]}, ["--label", "choose another"]),
        ({"labels": ["app.kubernetes.io/managed-by=me"]}, ["--label", "choose another"]),
        ({"labels": ["job-name=x"]}, ["--label", "choose another"]),
        ({"labels": ["batch.kubernetes.io/job-name=x"]}, ["--label", "choose another"]),
        ({"labels": ["-bad=x"]}, ["--label", "starting and ending"]),
        ({"labels": ["team=has space"]}, ["--label", "'team=has space'"]),
        ({"labels": ["team=" + "x" * 64]}, ["--label", "longer than 63"]),
        ({"labels": ["Bad_Prefix/team=x"]}, ["--label", "prefix"]),
        ({"annotations": ["r2k8s.io/formula-id=x"]}, ["--annotation", "choose another"]),
        ({"annotations": ["container.apparmor.security.beta.kubernetes.io/main=unconfined"]}, ["Pod Security"]),
        ({"annotations": ["x=" + "y" * 200_000]}, ["--annotation", "KiB"]),
        ({"node_selector": ["disk"]}, ["--node-selector", "KEY=VALUE"]),
        ({"node_selector": ["disk=a b"]}, ["--node-selector"]),
        ({"tolerations": ["key=value:Sometimes"]}, ["--toleration", "'Sometimes' is none of"]),
        ({"tolerations": ["=value:NoSchedule"]}, ["--toleration", "key is empty"]),
        ({"tolerations": ["key=bad value"]}, ["--toleration"]),
        ({"service_account": "Builder"}, ["--service-account", "lowercase"]),
        ({"priority_class": ""}, ["--priority-class", "empty"]),
        ({"cache_volume": "nfs:/x"}, ["--cache-volume", "pvc:CLAIM or hostPath:/DIR"]),
        ({"cache_volume": "pvc:Bad_Name"}, ["--cache-volume", "claim name"]),
        ({"cache_volume": "hostPath:relative"}, ["--cache-volume", "absolute"]),
        ({"cache_volume": "hostPath:/var/../etc"}, ["--cache-volume", "'..'"]),
        ({"cache_volume": "hostPath:/"}, ["--cache-volume", "one of its own"]),
        ({"cache_volume": "hostPath:/var/lib/"}, ["--cache-volume", "one of its own"]),
        ({"cache_volume": "hostPath://etc"}, ["--cache-volume", "one of its own"]),
    ],
)
def test_bad_values_are_usage_errors_naming_the_flag(flags: dict[str, Any], words: list[str]) -> None:
    message = refusal(**flags)
    for word in words:
        assert word in message, message


def test_kubectls_taint_syntax() -> None:
    assert Toleration.parse("k=v:NoExecute") == Toleration("k", "Equal", "v", "NoExecute")
    assert Toleration.parse("k=v") == Toleration("k", "Equal", "v", "")
    assert Toleration.parse("k:PreferNoSchedule") == Toleration("k", "Exists", "", "PreferNoSchedule")
    assert Toleration.parse("example.com/k") == Toleration("example.com/k", "Exists", "", "")
    assert Toleration.parse("k=:NoSchedule").manifest() == {
        "key": "k",
        "operator": "Equal",
        "value": "",
        "effect": "NoSchedule",
    }
    assert CacheVolume.parse("pvc:wares") == CacheVolume("pvc", "wares")


# -- random settings ------------------------------------------------------------------------------------------------

_name = st.from_regex(r"[a-z0-9]([a-z0-9._-]{0,20}[a-z0-9])?", fullmatch=True)
_key = st.one_of(_name, st.builds(lambda p, n: f"{p}.io/{n}", st.from_regex(r"[a-z]{1,8}", fullmatch=True), _name))
_value = st.one_of(st.just(""), _name)
_effect = st.sampled_from(["", ":NoSchedule", ":PreferNoSchedule", ":NoExecute", ":Exists"])


@settings(max_examples=150, deadline=None)
@given(
    labels=st.dictionaries(_key, _value, max_size=4),
    annotations=st.dictionaries(_key, st.text(max_size=40), max_size=4),
    selector=st.dictionaries(_key, _value, max_size=3),
    tolerations=st.lists(st.tuples(_key, st.one_of(st.none(), _value), _effect), max_size=3),
    cpu=st.integers(min_value=1, max_value=4000),
)
def test_no_accepted_setting_leaves_baseline_or_clobbers_r2k8s_labels(
    labels: dict[str, str],
    annotations: dict[str, str],
    selector: dict[str, str],
    tolerations: list[tuple[str, str | None, str]],
    cpu: int,
) -> None:
    try:
        pod = PodSettings.from_flags(
            requests=[f"cpu={cpu}m"],
            limits=[f"cpu={cpu * 2}m"],
            labels=[f"{k}={v}" for k, v in labels.items()],
            annotations=[f"{k}={v}" for k, v in annotations.items()],
            node_selector=[f"{k}={v}" for k, v in selector.items()],
            tolerations=[f"{k}{'' if v is None else '=' + v}{e}" for k, v, e in tolerations],
        )
    except R2k8sError as exc:  # only keys r2k8s or the Job controller own are refused here
        assert "choose another" in exc.message, exc.message
        return
    body = job(pod)
    assert baseline_violations(body) == []
    template = body["spec"]["template"]
    assert template["metadata"]["labels"]["r2k8s.io/run-id"] == "abc"
    assert template["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "r2k8s"
    assert all(qualified_name_problem(k) is None for k in template["metadata"].get("annotations", {}))
    assert not any(k.startswith("container.apparmor") for k in template["metadata"].get("annotations", {}))


# -- emerge passes them on ------------------------------------------------------------------------------------------


def test_emerge_hands_every_steps_run_the_same_settings() -> None:
    from r2k8s.cli.app import build_parser
    from r2k8s.cli.run import pod_settings, pod_settings_arguments

    flags = ["--requests", "cpu=1,memory=2Gi", "--label", "team=a", "--label", "tier=b", "--annotation", "x=1, 2"]
    flags += ["--toleration", "gpu:NoSchedule", "--service-account", "builder", "--cache-volume", "pvc:wares"]
    emerge = build_parser().parse_args(["emerge", "module.tl", *flags])
    passed = pod_settings_arguments(emerge)
    run = build_parser().parse_args(["run", *passed, "job.formula"])
    assert pod_settings(run) == pod_settings(emerge) == pod_settings(build_parser().parse_args(["run", *flags, "f"]))
    assert pod_settings_arguments(build_parser().parse_args(["emerge"])) == []


def test_emerge_refuses_bad_settings_before_any_step(tmp_path: Any) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "r2k8s", "emerge", str(tmp_path / "module.tl"), "--limits", "cpu=lots"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "--limits" in done.stderr and done.stdout == ""
