"""The pod and Secret of one attempt, as the Kubernetes driver builds them (no cluster)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from lightkube.models.core_v1 import Toleration

from mentatlab.engine.drivers.base import AttemptSpec, ExecutionLimits
from mentatlab.engine.drivers.kubernetes.names import label_value
from mentatlab.engine.drivers.kubernetes.pods import (
    ENVELOPE_KEY,
    ENVELOPE_PATH,
    SHELL_WRAPPER,
    Owner,
    PodOptions,
    attempt_name,
    build_pod,
    build_secret,
)
from mentatlab.model.manifest import AgentManifest

DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
INPUT_VALUE = "s3cret-input-value-7f1c"
PARAM_VALUE = "s3cret-param-value-9a2d"

OWNER = Owner(api_version="mentatlab.io/v1", kind="FlowRun", name="demo-run", uid="uid-1234")


def options(**changes: Any) -> PodOptions:
    return PodOptions(owner=OWNER, flowrun="demo-run", **changes)


def spec(**changes: Any) -> AttemptSpec:
    fields: dict[str, Any] = {
        "run_id": "r-42",
        "node_id": "process[3]",
        "attempt": 2,
        "agent_id": "mentatlab.echo",
        "agent_version": "1.0.0",
        "command": ("python", "main.py", "--flag", 'it\'s "quoted" $HOME'),
        "workdir": Path("/nonexistent"),
        "image": "ghcr.io/mentatlab/echo:1.0.0",
        "inputs": {"text": INPUT_VALUE},
        "params": {"style": PARAM_VALUE},
        "resume": {"chunk": 4},
        "env": {"GREETING": "hello"},
        "limits": ExecutionLimits(timeout_seconds=90.5, kill_grace_seconds=7),
    }
    fields.update(changes)
    return AttemptSpec(**fields)


def manifest(**changes: Any) -> AgentManifest:
    data: dict[str, Any] = {
        "id": "mentatlab.echo",
        "version": "1.0.0",
        "image": "ghcr.io/mentatlab/echo:1.0.0",
        "description": "test",
        "command": ["python", "main.py"],
    }
    data.update(changes)
    return AgentManifest.model_validate(data)


def pod_dict(s: AttemptSpec | None = None, o: PodOptions | None = None, **kw: Any) -> Any:
    s = s or spec()
    o = o or options()
    name = attempt_name(o, s.node_id, s.attempt)
    return build_pod(s, o, name=name, namespace="agents", manifest=kw.get("m")).to_dict()


def container(pod: Any) -> Any:
    (only,) = pod["spec"]["containers"]
    return only


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flowrun", "node"),
    [
        ("demo-run", "process[3]"),
        ("Demo_Run.v2", "loop[0][12]"),
        ("x" * 200, "y" * 200),
        ("", "---"),
        ("9lives", "_node_"),
    ],
)
def test_names_are_dns_1123_labels_and_deterministic(flowrun: str, node: str) -> None:
    o = PodOptions(owner=OWNER, flowrun=flowrun)
    name = attempt_name(o, node, 1)
    assert len(name) <= 63
    assert DNS_1123_LABEL.fullmatch(name), name
    assert name == attempt_name(PodOptions(owner=OWNER, flowrun=flowrun), node, 1)


def test_names_are_readable() -> None:
    name = attempt_name(options(), "process[3]", 2)
    assert name.startswith("demo-run-process-3-2-")


def test_instances_that_sanitise_alike_get_distinct_names() -> None:
    nodes = ["process[3]", "process-3", "process.3", "process_3", "Process[3]", "process[3]-"]
    names = {attempt_name(options(), node, 1) for node in nodes}
    assert len(names) == len(nodes)


def test_attempts_and_owners_get_distinct_names() -> None:
    base = attempt_name(options(), "a", 1)
    assert attempt_name(options(), "a", 2) != base
    recreated = PodOptions(owner=Owner(**{**OWNER.__dict__, "uid": "uid-5678"}), flowrun="demo-run")
    assert attempt_name(recreated, "a", 1) != base


def test_long_names_keep_the_hash_apart() -> None:
    long_flow = "f" * 100
    a = attempt_name(PodOptions(owner=OWNER, flowrun=long_flow), "node-a" * 20, 1)
    b = attempt_name(PodOptions(owner=OWNER, flowrun=long_flow), "node-b" * 20, 1)
    assert a != b
    assert len(a) == len(b) == 63


@pytest.mark.parametrize("text", ["process[3]", "a" * 100, "-x-", "ü-node", "[0]"])
def test_label_values_are_valid(text: str) -> None:
    value = label_value(text)
    assert len(value) <= 63
    assert LABEL_VALUE.fullmatch(value), value


# --- the secret -------------------------------------------------------------------------------


def test_secret_holds_the_envelope_and_is_owned_by_the_flowrun() -> None:
    s = spec()
    secret = build_secret(s, options(), name="n", namespace="agents").to_dict()
    assert secret["type"] == "Opaque"
    assert secret["immutable"] is True
    envelope = json.loads(base64.b64decode(secret["data"][ENVELOPE_KEY]))
    assert envelope == {
        "protocol": "mentatlab.agent/v1",
        "run": {"id": "r-42", "node": "process[3]", "attempt": 2},
        "inputs": {"text": INPUT_VALUE},
        "params": {"style": PARAM_VALUE},
        "resume": {"chunk": 4},
    }
    (ref,) = secret["metadata"]["ownerReferences"]
    assert ref["uid"] == "uid-1234"
    assert ref["kind"] == "FlowRun"


# --- the pod --------------------------------------------------------------------------------


def test_no_input_value_appears_in_the_pod() -> None:
    text = json.dumps(pod_dict())
    assert INPUT_VALUE not in text
    assert PARAM_VALUE not in text
    assert "chunk" not in text


def test_pod_runs_once_with_the_envelope_mounted_read_only() -> None:
    pod = pod_dict()
    name = pod["metadata"]["name"]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["input"]["secret"] == {"secretName": name, "defaultMode": 0o440}
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}}
    mounts = {m["name"]: m for m in container(pod)["volumeMounts"]}
    assert mounts["input"]["readOnly"] is True
    assert ENVELOPE_PATH.startswith(mounts["input"]["mountPath"] + "/")
    assert mounts["tmp"]["mountPath"] == "/tmp"
    assert container(pod)["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_security_context_is_restricted() -> None:
    pod = pod_dict()
    assert pod["spec"]["securityContext"] == {
        "fsGroup": 65532,
        "runAsGroup": 65532,
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container(pod)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }


def test_run_as_user_none_keeps_the_image_user_but_still_non_root() -> None:
    pod = pod_dict(o=options(run_as_user=None))
    assert pod["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def test_command_is_the_wrapper_then_the_agent_argv() -> None:
    c = container(pod_dict())
    assert c["command"] == ["/bin/sh", "-c", SHELL_WRAPPER, "sh"]
    assert c["args"] == ["python", "main.py", "--flag", 'it\'s "quoted" $HOME']
    assert c["image"] == "ghcr.io/mentatlab/echo:1.0.0"
    assert c["name"] == "agent"


def test_the_wrapper_feeds_the_envelope_on_stdin_and_passes_argv_verbatim(tmp_path: Path) -> None:
    envelope = tmp_path / "envelope.json"
    envelope.write_text('{"protocol": "mentatlab.agent/v1"}\n')
    script = SHELL_WRAPPER.replace(ENVELOPE_PATH, str(envelope))
    c = container(pod_dict())
    assert c["command"][2] == SHELL_WRAPPER
    program = (
        "import json, sys; print(json.dumps({'stdin': sys.stdin.read(), 'argv': sys.argv[1:]}))"
    )
    out = subprocess.run(
        ["/bin/sh", "-c", script, "sh", "python3", "-c", program, *c["args"][2:]],
        capture_output=True,
        check=True,
        text=True,
    )
    assert json.loads(out.stdout) == {
        "stdin": '{"protocol": "mentatlab.agent/v1"}\n',
        "argv": ["--flag", 'it\'s "quoted" $HOME'],
    }


def test_env_has_protocol_variables_last_and_literal_env() -> None:
    s = spec(env={"GREETING": "hello", "MENTAT_RUN_ID": "spoofed"})
    env = container(pod_dict(s))["env"]
    values = {e["name"]: e.get("value") for e in env}
    assert values["GREETING"] == "hello"
    assert values["MENTAT_PROTOCOL"] == "mentatlab.agent/v1"
    assert values["MENTAT_RUN_ID"] == "r-42"
    assert values["MENTAT_NODE_ID"] == "process[3]"
    assert values["MENTAT_ATTEMPT"] == "2"
    assert values["PYTHONUNBUFFERED"] == "1"
    assert len(values) == len(env), "each variable once"


def test_value_from_references_become_kubernetes_env_sources() -> None:
    m = manifest(
        env=[
            "PLAIN=1",
            {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "llm", "key": "token"}}},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
        ]
    )
    env = {e["name"]: e for e in container(pod_dict(m=m))["env"]}
    assert env["API_KEY"] == {
        "name": "API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "llm", "key": "token"}},
    }
    assert env["MODE"] == {
        "name": "MODE",
        "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}},
    }


def test_resources_from_the_manifest() -> None:
    m = manifest(
        resources={
            "requests": {"cpu": "250m", "memory": "64Mi"},
            "limits": {"cpu": "1", "memory": "256Mi"},
        }
    )
    assert container(pod_dict(m=m))["resources"] == {
        "requests": {"cpu": "250m", "memory": "64Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    }


def test_defaults_fill_what_the_manifest_leaves_out() -> None:
    o = options(default_requests={"cpu": "50m", "memory": "32Mi"}, default_limits={"cpu": "2"})
    assert container(pod_dict(o=o, m=manifest()))["resources"] == {
        "requests": {"cpu": "50m", "memory": "32Mi"},
        "limits": {"cpu": "2"},
    }
    m = manifest(resources={"limits": {"memory": "1Gi"}})
    assert container(pod_dict(o=o, m=m))["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}


def test_a_default_request_never_exceeds_the_agents_limit() -> None:
    m = manifest(resources={"limits": {"memory": "64Mi", "cpu": "50m"}})
    resources = container(pod_dict(m=m))["resources"]
    assert resources["requests"] == {"cpu": "50m", "memory": "64Mi"}


def test_without_a_manifest_the_memory_limit_comes_from_execution_limits() -> None:
    s = spec(limits=ExecutionLimits(memory_bytes=100 * 2**20))
    resources = container(pod_dict(s))["resources"]
    assert resources["limits"]["memory"] == str(100 * 2**20)


def test_gpus_are_limits_of_nvidia_com_gpu() -> None:
    m = manifest(resources={"limits": {"gpu": 2, "memory": "1Gi"}, "requests": {"gpu": 1}})
    resources = container(pod_dict(m=m))["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == "2"
    assert "nvidia.com/gpu" not in resources["requests"]
    assert "nvidia.com/gpu" not in container(pod_dict(m=manifest()))["resources"]["limits"]


def test_deadline_and_grace_from_the_limits() -> None:
    pod = pod_dict()
    assert pod["spec"]["activeDeadlineSeconds"] == 91
    assert pod["spec"]["terminationGracePeriodSeconds"] == 7
    unlimited = pod_dict(spec(limits=ExecutionLimits()))
    assert "activeDeadlineSeconds" not in unlimited["spec"]


def test_labels_annotations_and_owner() -> None:
    o = options(labels={"team": "ml", "mentatlab.io/node": "spoofed"})
    metadata = pod_dict(o=o)["metadata"]
    assert metadata["labels"] == {
        "team": "ml",
        "app.kubernetes.io/name": "mentatlab-agent",
        "app.kubernetes.io/instance": "demo-run",
        "app.kubernetes.io/component": "node",
        "app.kubernetes.io/managed-by": "mentatlab-operator",
        "mentatlab.io/flowrun": "demo-run",
        # Encoded with a hash of the instance name: process[3] and process-3 stay apart.
        "mentatlab.io/node": label_value("process[3]"),
        "mentatlab.io/agent": "mentatlab.echo",
        "mentatlab.io/attempt": "2",
    }
    assert metadata["labels"]["mentatlab.io/node"] != label_value("process-3")
    assert metadata["labels"]["mentatlab.io/node"].startswith("process-3-")
    assert metadata["annotations"]["mentatlab.io/node-instance"] == "process[3]"
    assert metadata["annotations"]["mentatlab.io/run-id"] == "r-42"
    assert metadata["namespace"] == "agents"
    assert metadata["ownerReferences"] == [
        {
            "apiVersion": "mentatlab.io/v1",
            "kind": "FlowRun",
            "name": "demo-run",
            "uid": "uid-1234",
            "blockOwnerDeletion": True,
            "controller": True,
        }
    ]


def test_scheduling_options_are_passed_through() -> None:
    toleration = Toleration(key="gpu", operator="Exists", effect="NoSchedule")
    o = options(
        service_account="agents",
        node_selector={"pool": "gpu"},
        tolerations=(toleration,),
        priority_class="batch",
        image_pull_policy="IfNotPresent",
    )
    pod = pod_dict(o=o)
    assert pod["spec"]["serviceAccountName"] == "agents"
    assert pod["spec"]["nodeSelector"] == {"pool": "gpu"}
    assert pod["spec"]["tolerations"] == [
        {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert pod["spec"]["priorityClassName"] == "batch"
    assert container(pod)["imagePullPolicy"] == "IfNotPresent"
    plain = pod_dict()
    for key in ("serviceAccountName", "nodeSelector", "tolerations", "priorityClassName"):
        assert key not in plain["spec"]
