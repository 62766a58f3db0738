"""API group, object names and labels of MentatLab's Kubernetes objects.

Kubernetes object names are DNS-1123 subdomains (lowercase letters, digits, ``-`` and ``.``,
at most 253 characters, alphanumeric at both ends of every dot-separated part) and label
values are at most 63 characters of ``[A-Za-z0-9._-]``. Agent ids, versions and flow ids
allow more than that, so they are encoded: a text that is already valid is used as it is
(``mentatlab.echo-1.0.0``); anything else is lowercased/sanitised and gets an 8-hex-digit
hash of the original appended, so two different texts never share a name. The spec always
holds the original id and version; names and labels are handles for ``kubectl`` and for
label selectors.
"""

from __future__ import annotations

import re
from typing import Final

from mentatlab.engine.drivers.kubernetes.names import hashed, label_value, trim

__all__ = [
    "ANNOTATION_FLOW_API_VERSION",
    "API_VERSION",
    "COMMON_LABELS",
    "GROUP",
    "LABEL_AGENT_ID",
    "LABEL_AGENT_VERSION",
    "LABEL_FLOW",
    "LABEL_FLOW_ID",
    "SYSTEM_NAMESPACE",
    "VERSION",
    "agent_labels",
    "agent_object_name",
    "generate_name_prefix",
    "label_value",
    "object_name",
]

GROUP: Final = "mentatlab.io"
VERSION: Final = "v1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
SYSTEM_NAMESPACE: Final = "mentatlab-system"
COMMON_LABELS: Final = {"app.kubernetes.io/part-of": "mentatlab"}
"""On every object of MentatLab's installation (CRDs, operator), for ``kubectl get -l``."""

LABEL_AGENT_ID: Final = "mentatlab.io/agent-id"
LABEL_AGENT_VERSION: Final = "mentatlab.io/agent-version"
LABEL_FLOW_ID: Final = "mentatlab.io/flow-id"
LABEL_FLOW: Final = "mentatlab.io/flow"
"""On a FlowRun: the name of the Flow object it runs (``spec.flowRef``)."""
ANNOTATION_FLOW_API_VERSION: Final = "mentatlab.io/flow-api-version"
"""On a Flow: the document's original ``apiVersion`` when it was not ``mentatlab.io/v1``."""

_MAX_NAME: Final = 253
# The API server cuts generateName to 58 characters and appends 5 random ones.
_MAX_GENERATE_NAME: Final = 58
_SUBDOMAIN: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def object_name(text: str) -> str:
    """``text`` as a Kubernetes object name (DNS-1123 subdomain), encoded only if it must be."""
    if len(text) <= _MAX_NAME and _SUBDOMAIN.match(text):
        return text
    parts = (re.sub(r"[^a-z0-9-]+", "-", part).strip("-") for part in text.lower().split("."))
    base = ".".join(part for part in parts if part)
    return hashed(base, text, _MAX_NAME)


def agent_object_name(agent_id: str, version: str) -> str:
    """The name of the Agent object of one agent version: ``ID-VERSION``."""
    return object_name(f"{agent_id}-{version}")


def agent_labels(agent_id: str, version: str) -> dict[str, str]:
    return {LABEL_AGENT_ID: label_value(agent_id), LABEL_AGENT_VERSION: label_value(version)}


def generate_name_prefix(name: str) -> str:
    """A ``metadata.generateName`` from an object name: ``NAME-`` cut to what the server keeps."""
    return trim(name, _MAX_GENERATE_NAME - 1) + "-"
