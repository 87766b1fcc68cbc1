"""``r2k8s run --dry-run``: the ConfigMap and Job a run would create, printed, with nothing created.

The output is what ``kubectl create --dry-run=client -o yaml`` would print for
both: complete objects, the agent ConfigMap's ``binaryData`` in full, so
``kubectl apply -f`` (or a server-side dry run, kubeconform, a policy
engine) takes it as it is. Everything a real run checks before touching the
cluster is checked here too, with the same messages and exit codes: the
formula, the plan, the pod settings, and the client-local inputs (opened,
then closed).

No API server is asked. The namespace is ``-n``, else the kubeconfig
context's (the file is read, nobody is called), else ``default``: no
kubeconfig is needed at all. A Job applied from this output waits
for a client like any build pod: its agent gives up after its first-contact
timeout when nobody attaches (inputs only this machine holds reach a pod
only through ``r2k8s run`` itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r2k8s.cluster.conversation import close_all, open_inputs
from r2k8s.cluster.plan import plan_run
from r2k8s.cluster.run import ClusterOptions, job_body
from r2k8s.core.run.job import Monitor
from r2k8s.core.run.record import new_guid

__all__ = ["dry_run_manifests", "dry_run_yaml"]


def _namespace(options: ClusterOptions) -> str:
    if options.namespace:
        return options.namespace
    from r2k8s.cluster.kube import connect, is_configured

    if not is_configured(options.kubeconfig):
        return "default"  # as kubectl, with no configuration at all
    return connect(options.kubeconfig, options.context, None).namespace  # reads the file; calls nobody


def dry_run_manifests(formula_path: Path, options: ClusterOptions, monitor: Monitor) -> list[dict[str, Any]]:
    """The agent ConfigMap and the build Job, in the order a run creates them."""
    from r2k8s.agent_bundle import agent_zipapp, configmap_manifest, configmap_name
    from r2k8s.formula_files import load_formula_file

    loaded = load_formula_file(formula_path)
    for note in loaded.notes:
        monitor.log(f"warn: {note}")
    plan = plan_run(loaded, heartbeat_timeout=options.heartbeat_timeout, log=monitor.log)
    close_all(open_inputs(plan, monitor.log))
    namespace = _namespace(options)
    data = agent_zipapp()
    configmap = configmap_manifest(configmap_name(data), data)
    run_id = new_guid()
    job = job_body(f"r2k8s-run-{run_id}", plan, run_id, configmap["metadata"]["name"], options)
    for manifest in (configmap, job):
        meta = manifest["metadata"]
        manifest["metadata"] = {"name": meta.pop("name"), "namespace": namespace, **meta}
    return [configmap, job]


def dry_run_yaml(formula_path: Path, options: ClusterOptions, monitor: Monitor) -> str:
    """:func:`dry_run_manifests` as one YAML stream (``---`` between documents), for ``kubectl apply -f -``."""
    import yaml

    documents = dry_run_manifests(formula_path, options, monitor)
    return "---\n".join(
        yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1 << 30) for doc in documents
    )
