"""The Kubernetes Pod Security Standards, checked on a pod as MentatLab is about to create it.

The operator checks every pod it would create for a FlowRun before it creates any, so a
FlowRun whose options or agents would produce a pod outside the policy's profile is refused
whole. The checks follow https://kubernetes.io/docs/concepts/security/pod-security-standards/
("baseline" and "restricted"; "privileged" checks nothing). Pods are plain Kubernetes JSON
(camelCase), as ``lightkube``'s ``to_dict()`` gives them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from mentatlab.model.policy import PodSecurityProfile, PodSecurityRules
from mentatlab.validation.policy import Violation

__all__ = ["pod_violations"]

_CONTAINER_LISTS: Final = ("initContainers", "containers", "ephemeralContainers")
_BASELINE_CAPABILITIES: Final = frozenset(
    {
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
)
_RESTRICTED_CAPABILITIES: Final = frozenset({"NET_BIND_SERVICE"})
_SAFE_SYSCTLS: Final = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
_RESTRICTED_VOLUMES: Final = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
_SECCOMP_OK: Final = frozenset({"RuntimeDefault", "Localhost"})


def pod_violations(pod: Mapping[str, Any], rules: PodSecurityRules) -> list[Violation]:
    """Every way ``pod`` breaks the profile and service accounts of ``rules``.

    Paths are JSON paths in the pod (``$.spec.containers[0].securityContext.privileged``).
    """
    spec: Mapping[str, Any] = pod.get("spec") or {}
    found: list[Violation] = []
    account = spec.get("serviceAccountName")
    if not rules.allows_service_account(account):
        message = (
            f"pods may not run as service account {account!r} "
            f"(allowed: {', '.join(rules.allowed_service_accounts) or 'only the default'})"
        )
        found.append(Violation("$.spec.serviceAccountName", "policy.service-account", message))
    if rules.profile is PodSecurityProfile.PRIVILEGED:
        return found
    restricted = rules.profile is PodSecurityProfile.RESTRICTED
    problems = list(_baseline(spec))
    if restricted:
        problems += _restricted(spec)
    profile = rules.profile.value
    found += [
        Violation(path, "policy.pod-security", f"{message} (Pod Security Standard {profile!r})")
        for path, message in problems
    ]
    return found


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key in _CONTAINER_LISTS:
        for index, container in enumerate(spec.get(key) or ()):
            yield f"$.spec.{key}[{index}]", container


def _baseline(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            yield f"$.spec.{key}", f"{key} shares the node's namespace"
    pod_context: Mapping[str, Any] = spec.get("securityContext") or {}
    yield from _baseline_context(pod_context, "$.spec.securityContext")
    for index, sysctl in enumerate(pod_context.get("sysctls") or ()):
        if sysctl.get("name") not in _SAFE_SYSCTLS:
            path = f"$.spec.securityContext.sysctls[{index}].name"
            yield path, f"sysctl {sysctl.get('name')!r} is not a safe sysctl"
    for index, volume in enumerate(spec.get("volumes") or ()):
        if "hostPath" in volume:
            yield f"$.spec.volumes[{index}].hostPath", "hostPath volumes expose the node's files"
    for path, container in _containers(spec):
        context: Mapping[str, Any] = container.get("securityContext") or {}
        where = f"{path}.securityContext"
        yield from _baseline_context(context, where)
        if context.get("privileged"):
            yield f"{where}.privileged", "privileged containers are not allowed"
        if context.get("procMount") not in (None, "Default"):
            yield f"{where}.procMount", "procMount must be Default"
        added = (context.get("capabilities") or {}).get("add") or ()
        for position, capability in enumerate(added):
            if capability not in _BASELINE_CAPABILITIES:
                yield (
                    f"{where}.capabilities.add[{position}]",
                    f"capability {capability!r} is not allowed",
                )
        for position, port in enumerate(container.get("ports") or ()):
            if port.get("hostPort"):
                yield f"{path}.ports[{position}].hostPort", "host ports are not allowed"


def _baseline_context(context: Mapping[str, Any], where: str) -> Iterator[tuple[str, str]]:
    """The checks a pod's and a container's security context share."""
    if (context.get("windowsOptions") or {}).get("hostProcess"):
        yield f"{where}.windowsOptions.hostProcess", "Windows host processes are not allowed"
    if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
        yield f"{where}.seccompProfile.type", "seccomp may not be Unconfined"
    if (context.get("appArmorProfile") or {}).get("type") == "Unconfined":
        yield f"{where}.appArmorProfile.type", "AppArmor may not be Unconfined"
    selinux: Mapping[str, Any] = context.get("seLinuxOptions") or {}
    if selinux.get("type") not in (None, "", "container_t", "container_init_t", "container_kvm_t"):
        yield f"{where}.seLinuxOptions.type", f"SELinux type {selinux['type']!r} is not allowed"
    for key in ("user", "role"):
        if selinux.get(key):
            yield f"{where}.seLinuxOptions.{key}", f"a custom SELinux {key} is not allowed"


def _restricted(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for index, volume in enumerate(spec.get("volumes") or ()):
        kinds = sorted(set(volume) - {"name"})
        # hostPath is already a baseline violation.
        if kinds and kinds[0] not in _RESTRICTED_VOLUMES | {"hostPath"}:
            yield f"$.spec.volumes[{index}]", f"{kinds[0]} volumes are not allowed"
    pod_context: Mapping[str, Any] = spec.get("securityContext") or {}
    if pod_context.get("runAsUser") == 0:
        yield "$.spec.securityContext.runAsUser", "pods may not run as root (user 0)"
    pod_non_root = pod_context.get("runAsNonRoot") is True
    pod_seccomp = (pod_context.get("seccompProfile") or {}).get("type") in _SECCOMP_OK
    for path, container in _containers(spec):
        context: Mapping[str, Any] = container.get("securityContext") or {}
        where = f"{path}.securityContext"
        if context.get("allowPrivilegeEscalation") is not False:
            yield f"{where}.allowPrivilegeEscalation", "allowPrivilegeEscalation must be false"
        non_root = context.get("runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            yield f"{where}.runAsNonRoot", "runAsNonRoot must be true (on the pod or container)"
        if context.get("runAsUser") == 0:
            yield f"{where}.runAsUser", "containers may not run as root (user 0)"
        seccomp = (context.get("seccompProfile") or {}).get("type")
        if seccomp not in _SECCOMP_OK and not (seccomp is None and pod_seccomp):
            message = "seccompProfile.type must be RuntimeDefault or Localhost (pod or container)"
            yield f"{where}.seccompProfile.type", message
        capabilities: Mapping[str, Any] = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or ()):
            yield f"{where}.capabilities.drop", "capabilities must drop ALL"
        for position, capability in enumerate(capabilities.get("add") or ()):
            if capability not in _RESTRICTED_CAPABILITIES and capability in _BASELINE_CAPABILITIES:
                message = f"capability {capability!r} is not allowed (only NET_BIND_SERVICE)"
                yield f"{where}.capabilities.add[{position}]", message
