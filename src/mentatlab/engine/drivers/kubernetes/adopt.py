"""Creating an attempt's objects idempotently: an object that already exists is adopted.

Names are deterministic, so after an operator restart the same attempt finds the pod (and
Secret) its predecessor created: a 409 Conflict means "already there", and the driver follows
that object instead of failing or starting the agent twice. An object of the same name that
belongs to another run is never adopted.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

from lightkube import ApiError, AsyncClient
from lightkube.resources.core_v1 import Pod, Secret

from mentatlab.engine.drivers.kubernetes.pods import RUN_ID_ANNOTATION

__all__ = ["ForeignObjectError", "create_or_adopt"]

_Object = TypeVar("_Object", Pod, Secret)


class ForeignObjectError(Exception):
    """An object with the attempt's name exists but is not this attempt's."""


async def create_or_adopt(
    client: AsyncClient, obj: _Object, *, run_id: str, owner_uid: str, request_seconds: float
) -> tuple[_Object, bool]:
    """``obj`` as created, or the existing object of that name; ``True`` when adopted."""
    assert obj.metadata is not None  # noqa: S101 - built by pods.py with a name
    name, namespace = obj.metadata.name, obj.metadata.namespace
    assert name is not None  # noqa: S101
    try:
        async with asyncio.timeout(request_seconds):
            return await client.create(obj), False
    except ApiError as exc:
        if exc.status.code != 409:
            raise
    async with asyncio.timeout(request_seconds):
        existing = await client.get(type(obj), name, namespace=namespace)
    metadata = existing.metadata
    owners = {ref.uid for ref in (metadata.ownerReferences or [])} if metadata else set()
    annotations = (metadata.annotations or {}) if metadata else {}
    if owner_uid not in owners or annotations.get(RUN_ID_ANNOTATION) != run_id:
        raise ForeignObjectError(
            f"{type(obj).__name__} {namespace}/{name} already exists and belongs to another run"
        )
    return existing, True
