"""The MentatLab HTTP server: runs, live events, validation, API keys and the audit log.

``create_app(Settings(store=...))`` is the ASGI application; :func:`serve` runs it on
uvicorn as ``mentatctl serve`` does. ``docs/server.md`` describes the API.
"""

from mentatlab.api.app import create_app
from mentatlab.api.paths import API_PREFIX
from mentatlab.api.settings import DEFAULT_MAX_BODY_BYTES, Settings

__all__ = ["API_PREFIX", "DEFAULT_MAX_BODY_BYTES", "Settings", "create_app"]
