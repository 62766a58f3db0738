"""MentatLab on Kubernetes: custom resources, their schemas, and the deploy manifests.

``docs/kubernetes-resources.md`` is the reference of the custom resources.
"""

from mentatlab.k8s.crds import (
    CATEGORY,
    agent_spec_schema,
    custom_resource_definitions,
    flow_spec_schema,
)
from mentatlab.k8s.manifests import OPERATOR_IMAGE, OPERATOR_NAME, deploy_manifests
from mentatlab.k8s.naming import (
    API_VERSION,
    GROUP,
    LABEL_AGENT_ID,
    LABEL_AGENT_VERSION,
    LABEL_FLOW,
    LABEL_FLOW_ID,
    SYSTEM_NAMESPACE,
    VERSION,
    agent_object_name,
    label_value,
    object_name,
)
from mentatlab.k8s.objects import (
    FlowRunOptions,
    FlowRunSpec,
    InvalidResourceError,
    agent_to_cr,
    cr_to_flow,
    cr_to_flowrun,
    cr_to_manifest,
    flow_to_cr,
    flowrun_cr,
)
from mentatlab.k8s.openapi import SchemaConversionError, to_structural
from mentatlab.k8s.render import kustomize_files, to_yaml, write_kustomize
from mentatlab.k8s.status import (
    MESSAGE_MAX_LENGTH,
    NODE_OUTPUTS_LIMIT_BYTES,
    ConditionType,
    FlowRunPhase,
    NodePhase,
    PodGC,
)
from mentatlab.k8s.structural import structural_violations

__all__ = [
    "API_VERSION",
    "CATEGORY",
    "GROUP",
    "LABEL_AGENT_ID",
    "LABEL_AGENT_VERSION",
    "LABEL_FLOW",
    "LABEL_FLOW_ID",
    "MESSAGE_MAX_LENGTH",
    "NODE_OUTPUTS_LIMIT_BYTES",
    "OPERATOR_IMAGE",
    "OPERATOR_NAME",
    "SYSTEM_NAMESPACE",
    "VERSION",
    "ConditionType",
    "FlowRunOptions",
    "FlowRunPhase",
    "FlowRunSpec",
    "InvalidResourceError",
    "NodePhase",
    "PodGC",
    "SchemaConversionError",
    "agent_object_name",
    "agent_spec_schema",
    "agent_to_cr",
    "cr_to_flow",
    "cr_to_flowrun",
    "cr_to_manifest",
    "custom_resource_definitions",
    "deploy_manifests",
    "flow_spec_schema",
    "flow_to_cr",
    "flowrun_cr",
    "kustomize_files",
    "label_value",
    "object_name",
    "structural_violations",
    "to_structural",
    "to_yaml",
    "write_kustomize",
]
