"""Every object a MentatLab installation needs: namespace, CRDs, operator and its RBAC.

The operator runs as one replica without kopf peering (no ``KopfPeering`` objects, no
``kopf.zalando.org`` permissions): the Deployment uses the ``Recreate`` strategy so two
operators never run at once. Its ClusterRole grants only what the operator uses; no rule
contains a wildcard.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from mentatlab import __version__
from mentatlab.k8s.crds import custom_resource_definitions
from mentatlab.k8s.naming import COMMON_LABELS, GROUP, SYSTEM_NAMESPACE

__all__ = [
    "OPERATOR_IMAGE",
    "OPERATOR_NAME",
    "cluster_role",
    "cluster_role_binding",
    "deploy_manifests",
    "namespace",
    "operator_deployment",
    "service_account",
]

OPERATOR_NAME: Final = "mentatlab-operator"
OPERATOR_IMAGE: Final = f"ghcr.io/mentatlab/mentatlab:{__version__}"
_LABELS: Final = {
    **COMMON_LABELS,
    "app.kubernetes.io/name": OPERATOR_NAME,
    "app.kubernetes.io/component": "operator",
}
_SELECTOR: Final = {"app.kubernetes.io/name": OPERATOR_NAME}
_NONROOT_ID: Final = 65532
_READ: Final = ("get", "list", "watch")
_MANAGE: Final = (*_READ, "create", "update", "patch", "delete")
_KINDS: Final = ("agents", "flows", "flowruns", "agentdeployments")


def deploy_manifests() -> list[dict[str, Any]]:
    """Every object of an installation, in the order to apply them."""
    return [
        namespace(),
        *custom_resource_definitions(),
        service_account(),
        cluster_role(),
        cluster_role_binding(),
        operator_deployment(),
    ]


def namespace() -> dict[str, Any]:
    # The operator's pod meets the 'restricted' Pod Security Standard; enforce it.
    labels = {**COMMON_LABELS, "pod-security.kubernetes.io/enforce": "restricted"}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": SYSTEM_NAMESPACE, "labels": labels},
    }


def service_account() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(namespaced=True),
    }


def cluster_role() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _metadata(namespaced=False),
        "rules": [
            # Reconciled kinds: read, and patch (status is separate; kopf keeps its progress
            # and finalizer on the object).
            _rule(GROUP, _KINDS, (*_READ, "patch", "update")),
            _rule(GROUP, [f"{kind}/status" for kind in _KINDS], ("get", "patch", "update")),
            # ttlSecondsAfterFinished deletes finished FlowRuns.
            _rule(GROUP, ["flowruns"], ("delete",)),
            # Owner references with blockOwnerDeletion, from pods/Deployments to their owners.
            _rule(GROUP, ["flowruns/finalizers", "agentdeployments/finalizers"], ("update",)),
            # One pod per node attempt; its log for the event stream when the agent dies.
            _rule("", ["pods"], ("get", "list", "watch", "create", "patch", "delete")),
            _rule("", ["pods/log"], ("get",)),
            # Input envelopes and run secrets for agent pods, created and removed per run.
            _rule("", ["secrets", "configmaps"], ("get", "list", "create", "delete")),
            _rule("", ["events"], ("create", "patch")),
            _rule("events.k8s.io", ["events"], ("create", "patch")),
            # AgentDeployments: Deployment + Service + HorizontalPodAutoscaler.
            _rule("apps", ["deployments"], _MANAGE),
            _rule("", ["services"], _MANAGE),
            _rule("autoscaling", ["horizontalpodautoscalers"], _MANAGE),
            # kopf notices CRDs installed after the operator started.
            _rule("apiextensions.k8s.io", ["customresourcedefinitions"], ("list", "watch")),
        ],
    }


def cluster_role_binding() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _metadata(namespaced=False),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": OPERATOR_NAME,
        },
        "subjects": [
            {"kind": "ServiceAccount", "name": OPERATOR_NAME, "namespace": SYSTEM_NAMESPACE}
        ],
    }


def operator_deployment() -> dict[str, Any]:
    container = {
        "name": "operator",
        "image": OPERATOR_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["mentatctl", "operator", "run"],
        "env": [{"name": "MENTATLAB_HOME", "value": "/var/lib/mentatlab"}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        # The root filesystem is read-only: MentatLab's home and /tmp are scratch volumes.
        "volumeMounts": [
            {"name": "home", "mountPath": "/var/lib/mentatlab"},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, not the host's /tmp
        ],
    }
    pod = {
        "serviceAccountName": OPERATOR_NAME,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": _NONROOT_ID,
            "runAsGroup": _NONROOT_ID,
            "fsGroup": _NONROOT_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "home", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(namespaced=True),
        "spec": {
            "replicas": 1,
            # Without peering, an old and a new operator must never overlap.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": dict(_SELECTOR)},
            "template": {"metadata": {"labels": dict(_LABELS)}, "spec": pod},
        },
    }


def _metadata(*, namespaced: bool) -> dict[str, Any]:
    namespace_ = {"namespace": SYSTEM_NAMESPACE} if namespaced else {}
    return {"name": OPERATOR_NAME, **namespace_, "labels": dict(_LABELS)}


def _rule(group: str, resources: Sequence[str], verbs: tuple[str, ...]) -> dict[str, Any]:
    return {"apiGroups": [group], "resources": list(resources), "verbs": list(verbs)}
