"""Where the API lives on a server, and query parameters several of its routes share."""

from __future__ import annotations

from typing import Any

from fastapi import Query

from mentatlab.model.api import MAX_REGISTRY_VERSION

__all__ = ["API_PREFIX", "version_query"]

API_PREFIX = "/api/v1"


def version_query(description: str) -> Any:
    """The ``?version=`` of a registered agent or stored flow."""
    return Query(min_length=1, max_length=MAX_REGISTRY_VERSION, description=description)
