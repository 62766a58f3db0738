"""The Kubernetes driver's pod options for one run, from the run's Kubernetes options.

The operator (a FlowRun's spec) and the server (a run's ``kubernetes`` object) both build
their driver's :class:`PodOptions` here, so an option means the same on either path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from lightkube.models.core_v1 import Affinity, Toleration

from mentatlab.engine.drivers.kubernetes import Owner, PodGcPolicy, PodOptions
from mentatlab.engine.plan import FlowPlan
from mentatlab.model.kubernetes import KubernetesRunOptions, PodGC

__all__ = ["run_pod_options"]


def run_pod_options(
    options: KubernetesRunOptions,
    plan: FlowPlan,
    *,
    owner: Owner,
    name: str,
    node_selector: Mapping[str, str] | None = None,
    tolerations: tuple[Toleration, ...] = (),
    labels: Mapping[str, str] | None = None,
) -> PodOptions:
    """The pod options of the run of ``plan`` named ``name``, whose pods ``owner`` owns.

    ``node_selector`` and ``tolerations`` are added to the run's own (the run's win on a
    clash of keys); ``labels`` go on every pod. Raises :class:`ValueError` when a toleration
    or the affinity is not a valid Kubernetes object.
    """
    manifests = {(b.manifest.id, b.manifest.version): b.manifest for b in plan.agents.values()}
    affinity = options.affinity
    return PodOptions(
        owner=owner,
        flowrun=name,
        service_account=options.service_account_name,
        node_selector={**(node_selector or {}), **options.node_selector},
        tolerations=tolerations
        + tuple(cast(Toleration, Toleration.from_dict(t)) for t in options.tolerations),
        affinity=cast(Affinity, Affinity.from_dict(affinity)) if affinity else None,
        priority_class=options.priority_class_name,
        gc=PodGcPolicy.DELETE if options.pod_gc is PodGC.ON_POD_COMPLETION else PodGcPolicy.KEEP,
        labels=labels or {},
        agents=lambda agent_id, version: manifests.get((agent_id, version)),
    )
