"""The Kubernetes driver: each attempt of an agent node is a pod (docs/kubernetes-driver.md)."""

from mentatlab.engine.drivers.kubernetes.connections import cluster_client, cluster_transport
from mentatlab.engine.drivers.kubernetes.driver import KubernetesDriver
from mentatlab.engine.drivers.kubernetes.logs import LogSource, LogStreamError, PodLogApi
from mentatlab.engine.drivers.kubernetes.pods import (
    AgentLookup,
    Owner,
    PodGcPolicy,
    PodOptions,
    attempt_name,
)
from mentatlab.engine.drivers.kubernetes.timeouts import Timeouts

__all__ = [
    "AgentLookup",
    "KubernetesDriver",
    "LogSource",
    "LogStreamError",
    "Owner",
    "PodGcPolicy",
    "PodLogApi",
    "PodOptions",
    "Timeouts",
    "attempt_name",
    "cluster_client",
    "cluster_transport",
]
