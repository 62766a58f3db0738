"""Python client of the MentatLab HTTP API (``mentatctl serve``), blocking and asyncio.

::

    from mentatlab.client import Client

    with Client("http://127.0.0.1:8000", api_key="mlk_…") as client:
        run = client.create_run(flow)
        for event in client.follow_events(run.id):
            print(event.seq, event.type, event.data)

It depends on ``mentatlab.model`` and httpx only. Errors are :class:`ApiError`, carrying the
server's problem document.
"""

from mentatlab.client._calls import API_KEY_ENV, SERVER_ENV, ApiError, ReconnectPolicy
from mentatlab.client.aio import AsyncClient
from mentatlab.client.sync import Client

__all__ = ["API_KEY_ENV", "SERVER_ENV", "ApiError", "AsyncClient", "Client", "ReconnectPolicy"]
