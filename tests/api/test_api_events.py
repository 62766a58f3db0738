"""Server-Sent Events: replay, resume with Last-Event-ID, heartbeats, many clients at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
from api_harness import Keys, Server, sse_events, ticker_flow, wait_until

from mentatlab.client import AsyncClient, Client, ReconnectPolicy
from mentatlab.model.run import RunEvent, RunStatus

STEPS = 40


def _seqs(events: list[RunEvent]) -> list[int]:
    return [event.seq for event in events]


def _raw(http: httpx.Client, run_id: str, **headers: str) -> Iterator[dict[str, object]]:
    with http.stream("GET", f"/api/v1/runs/{run_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield from sse_events(response.iter_lines())


def test_resume_with_last_event_id_after_a_forced_disconnect(server: Server, keys: Keys) -> None:
    with server.client(keys.write) as client, server.http(keys.read) as http:
        run_id = client.create_run(ticker_flow(steps=STEPS, interval=0.05)).id
        seen: list[dict[str, object]] = []
        for event in _raw(http, run_id):
            if "comment" not in event:
                seen.append(event)
            if len(seen) == 5:
                break  # the client goes away mid-run
        resumed = list(_raw(http, run_id, **{"Last-Event-ID": str(seen[-1]["id"])}))
        events = seen + [e for e in resumed if "comment" not in e]
        ids = [int(str(event["id"])) for event in events]
        assert ids == list(range(1, len(ids) + 1))
        assert all(event["data"]["seq"] == int(str(event["id"])) for event in events)  # type: ignore[index]
        assert events[-1]["event"] == "run.status"
        assert events[-1]["data"]["data"]["status"] == "succeeded"  # type: ignore[index]
        replay = [event for event in _raw(http, run_id) if "comment" not in event]
        assert replay == events  # the whole log, as a late client replays it
        # the query parameter resumes as well; after the final event the stream just ends
        by_query = http.get(f"/api/v1/runs/{run_id}/events", params={"last_event_id": ids[-3]})
        assert [e["id"] for e in sse_events(iter(by_query.text.splitlines()))] == [
            str(i) for i in ids[-2:]
        ]
        assert list(_raw(http, run_id, **{"Last-Event-ID": str(ids[-1])})) == []


def test_without_follow_the_stream_ends_with_the_events_stored_so_far(
    server: Server, keys: Keys
) -> None:
    with server.client(keys.write) as client:
        run_id = client.create_run(ticker_flow(steps=3000, interval=0.05)).id
        wait_until(lambda: len(list(client.follow_events(run_id, live=False))) >= 5)
        so_far = list(client.follow_events(run_id, live=False))  # returns: the run goes on
        assert client.get_run(run_id).status is RunStatus.RUNNING
        assert _seqs(so_far) == list(range(1, len(so_far) + 1))
        later = list(client.follow_events(run_id, last_event_id=so_far[-1].seq, live=False))
        assert all(event.seq > so_far[-1].seq for event in later)
        client.cancel_run(run_id)
        everything = list(client.follow_events(run_id))  # live: to the final event
        assert everything[: len(so_far)] == so_far
        assert everything[-1].data["status"] == "cancelled"


class _Flaky(httpx.BaseTransport):
    """Cuts the first event streams after a few lines, as a network would."""

    def __init__(self, cuts: int, after_lines: int) -> None:
        self._inner = httpx.HTTPTransport()
        self._cuts = cuts
        self._after = after_lines
        self.connections = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if not request.url.path.endswith("/events"):
            return response
        self.connections += 1
        if self.connections > self._cuts:
            return response
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_Cut(response, self._after),
            request=request,
        )

    def close(self) -> None:
        self._inner.close()


class _Cut(httpx.SyncByteStream):
    def __init__(self, response: httpx.Response, after_lines: int) -> None:
        self._response = response
        self._after = after_lines

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for chunk in self._response.stream:  # type: ignore[union-attr]
            # Cut mid-event too: half of a chunk, then the connection drops.
            if sent + chunk.count(b"\n") >= self._after:
                yield chunk[: len(chunk) // 2]
                raise httpx.ReadError("connection reset by the test")
            sent += chunk.count(b"\n")
            yield chunk

    def close(self) -> None:
        self._response.close()


def test_client_reconnects_and_sees_each_event_once_in_order(server: Server, keys: Keys) -> None:
    flaky = _Flaky(cuts=3, after_lines=9)
    with (
        server.client(keys.write) as writer,
        Client(
            server.url,
            api_key=keys.read,
            transport=flaky,
            reconnect=ReconnectPolicy(initial_delay=0.05),
        ) as reader,
    ):
        run_id = writer.create_run(ticker_flow(steps=STEPS, interval=0.05)).id
        events = list(reader.follow_events(run_id))
        assert flaky.connections == 4
        assert _seqs(events) == list(range(1, len(events) + 1))
        assert events[-1].data["status"] == "succeeded"
        # resuming from an id given by the caller
        assert _seqs(list(reader.follow_events(run_id, last_event_id=10))) == _seqs(events)[10:]


def test_many_concurrent_clients_all_receive_every_event(server: Server, keys: Keys) -> None:
    clients = 25

    async def follow_all(run_id: str) -> list[list[int]]:
        async with AsyncClient(server.url, api_key=keys.read) as reader:

            async def follow(slow: bool) -> list[int]:
                seqs = []
                async for event in reader.follow_events(run_id):
                    seqs.append(event.seq)
                    if slow:
                        await asyncio.sleep(0.05)  # a slow reader holds up nobody else
                return seqs

            return await asyncio.gather(*(follow(i % 5 == 0) for i in range(clients)))

    with server.client(keys.write) as writer:
        run_id = writer.create_run(ticker_flow(steps=STEPS, interval=0.02)).id
        results = asyncio.run(follow_all(run_id))
        final = writer.get_run(run_id)
    assert final.status is RunStatus.SUCCEEDED
    with server.client(keys.read) as reader:
        expected = [event.seq for event in reader.follow_events(run_id)]
    assert expected == list(range(1, len(expected) + 1))
    assert [seqs for seqs in results if seqs != expected] == []


def test_idle_streams_send_heartbeats(server: Server, keys: Keys) -> None:
    with server.client(keys.write) as writer, server.http(keys.read) as http:
        run_id = writer.create_run(ticker_flow(steps=1, interval=3)).id
        wait_until(lambda: writer.get_run(run_id).nodes["tick"].status == "running")
        comments = 0
        for event in _raw(http, run_id):
            comments += "comment" in event and event["comment"] == "ping"
        assert comments >= 2  # 3 quiet seconds, a ping every 0.5 s
