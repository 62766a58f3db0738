"""Flow v1: a graph of nodes whose edges connect ``node.pin`` outputs to ``node.pin`` inputs.

Mirrors ``schemas/flow.v1.schema.json``; ``docs/flows.md`` describes the semantics.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    model_validator,
)

from mentatlab.model.manifest import RetryPolicy, drop_extension_keys

__all__ = [
    "BUILTIN_NODE_TYPES",
    "AgentRef",
    "ConditionalConfig",
    "Edge",
    "Flow",
    "FlowMeta",
    "ForEachConfig",
    "Node",
    "PinRef",
    "RunConfig",
    "Targets",
]

BUILTIN_NODE_TYPES = frozenset({"ui.prompt", "ui.console", "conditional", "for_each"})


class PinRef(BaseModel):
    """``node.pin``, as written in edges and ``-i NODE.PIN=VALUE``."""

    model_config = ConfigDict(frozen=True)

    node: str
    pin: str

    @classmethod
    def parse(cls, text: str) -> PinRef:
        node, sep, pin = text.partition(".")
        if not sep or not node or not pin or "." in pin:
            raise ValueError(f"{text!r} is not of the form NODE.PIN")
        return cls(node=node, pin=pin)

    def __str__(self) -> str:
        return f"{self.node}.{self.pin}"


class AgentRef(BaseModel):
    """An agent reference in ``node.type``: ``id``, ``id:version`` or ``id@version``."""

    model_config = ConfigDict(frozen=True)

    id: str
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> AgentRef:
        for separator in ("@", ":"):
            agent_id, sep, version = text.partition(separator)
            if sep:
                return cls(id=agent_id, version=version or None)
        return cls(id=text)

    def __str__(self) -> str:
        return f"{self.id}@{self.version}" if self.version else self.id


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class FlowMeta(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    id: str = Field(min_length=1)
    name: str
    description: str | None = None
    version: str | None = None
    created_by: str | None = Field(default=None, alias="createdBy")
    created_at: str | None = Field(default=None, alias="createdAt")


class Targets(_Model):
    targets: tuple[str, ...]


class ConditionalConfig(_Model):
    type: Literal["switch", "if"]
    expression: str = Field(min_length=1)
    branches: dict[str, Targets] | None = None
    default: str | tuple[str, ...] | Targets | None = None
    then: Targets | None = None
    else_: Targets | None = Field(default=None, alias="else")

    @model_validator(mode="after")
    def _check_form(self) -> ConditionalConfig:
        # The schema's oneOf: 'switch' has branches (and a default), 'if' has then (and else).
        if self.type == "switch":
            if self.branches is None or self.then is not None or self.else_ is not None:
                raise ValueError(
                    "a 'switch' conditional has 'branches' (and 'default'), not then/else"
                )
        elif self.then is None or self.branches is not None or self.default is not None:
            raise ValueError("an 'if' conditional has 'then' (and 'else'), not branches/default")
        return self

    def default_targets(self) -> tuple[str, ...]:
        if self.default is None:
            return ()
        if isinstance(self.default, str):
            return (self.default,)
        if isinstance(self.default, Targets):
            return self.default.targets
        return self.default

    def all_targets(self) -> tuple[str, ...]:
        """Every node this conditional may route to, in declaration order, without repeats."""
        groups: list[tuple[str, ...]] = [t.targets for t in (self.branches or {}).values()]
        groups.append(self.default_targets())
        groups += [t.targets for t in (self.then, self.else_) if t is not None]
        return tuple(dict.fromkeys(target for group in groups for target in group))


class ForEachConfig(_Model):
    collection: str = Field(min_length=1)
    item_var: str = Field(default="item", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    index_var: str = Field(default="index", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    max_parallel: int | None = Field(default=None, ge=1)
    body: tuple[str, ...] = Field(min_length=1)


class Node(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_-]*$", max_length=63)
    type: str = Field(min_length=1)
    label: str | None = None
    description: str | None = None
    position: dict[str, float] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    retries: RetryPolicy | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, alias="timeoutSeconds")

    @model_validator(mode="after")
    def _check_builtin_params(self) -> Node:
        # As in the schema: conditional and for_each nodes carry a valid configuration.
        configs: dict[str, type[BaseModel]] = {
            "conditional": ConditionalConfig,
            "for_each": ForEachConfig,
        }
        config = configs.get(self.type)
        if config is not None:
            if self.type not in self.params:
                raise ValueError(f"a {self.type} node needs params.{self.type}")
            try:
                config.model_validate(self.params[self.type])
            except ValidationError as exc:
                raise ValueError(f"invalid params.{self.type}: {exc}") from exc
        return self

    @property
    def is_builtin(self) -> bool:
        return self.type in BUILTIN_NODE_TYPES

    @property
    def agent_ref(self) -> AgentRef | None:
        return None if self.is_builtin else AgentRef.parse(self.type)

    @property
    def conditional(self) -> ConditionalConfig | None:
        if self.type != "conditional":
            return None
        return ConditionalConfig.model_validate(self.params["conditional"])

    @property
    def for_each(self) -> ForEachConfig | None:
        if self.type != "for_each":
            return None
        return ForEachConfig.model_validate(self.params["for_each"])


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    source: PinRef = Field(alias="from")
    target: PinRef = Field(alias="to")

    @field_serializer("source", "target")
    def _spell_ref(self, ref: PinRef) -> str:
        return str(ref)  # documents spell references "node.pin"

    @model_validator(mode="before")
    @classmethod
    def _parse_refs(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                key: PinRef.parse(value) if isinstance(value, str) else value
                for key, value in data.items()
            }
        return data


class Graph(_Model):
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...] = ()


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    max_tokens: int | None = Field(default=None, alias="maxTokens")
    temperature: float | None = None
    max_parallel: int | None = Field(default=None, ge=1, alias="maxParallel")
    secrets: tuple[str, ...] = ()


class Flow(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    api_version: str = Field(
        alias="apiVersion", pattern=r"^(mentatlab\.io/v1|v1((alpha|beta)\d*)?)$"
    )
    kind: Literal["Flow"] = "Flow"
    meta: FlowMeta
    graph: Graph
    layout: dict[str, Any] | None = None
    run_config: RunConfig = Field(default_factory=RunConfig, alias="runConfig")

    _drop_extension_keys = model_validator(mode="before")(drop_extension_keys)

    def node(self, node_id: str) -> Node | None:
        return next((node for node in self.graph.nodes if node.id == node_id), None)
