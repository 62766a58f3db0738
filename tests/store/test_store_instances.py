"""for_each body instances (NODE[i]) appear in a run when their loop starts them."""

from __future__ import annotations

import pytest

from mentatlab.model.run import EventType, NodeStatus
from mentatlab.store import InvalidEventError, NewEvent, SqlRunStore


def _run(store: SqlRunStore) -> str:
    return store.create_run(
        flow={}, inputs={}, node_ids=["loop", "body"], flow_id=None, flow_name=None
    ).id


def test_node_status_creates_an_instance_node_after_the_known_ones(store: SqlRunStore) -> None:
    run_id = _run(store)
    store.append_events(
        run_id,
        [
            NewEvent(EventType.RUN_STATUS, data={"status": "running"}),
            NewEvent(EventType.NODE_STATUS, node="body[1]", attempt=1, data={"status": "running"}),
            NewEvent(EventType.NODE_STATUS, node="body[0]", attempt=1, data={"status": "running"}),
            NewEvent(EventType.OUTPUT, node="body[0]", attempt=1, data={"pin": "r", "value": 1}),
        ],
    )
    record = store.get_run(run_id)
    assert list(record.nodes) == ["loop", "body", "body[1]", "body[0]"]
    assert record.nodes["body[0]"].status is NodeStatus.RUNNING
    assert record.nodes["body[0]"].outputs == {"r": 1}


def test_other_unknown_nodes_are_still_refused(store: SqlRunStore) -> None:
    run_id = _run(store)
    with pytest.raises(InvalidEventError):
        store.append_events(
            run_id, [NewEvent(EventType.NODE_STATUS, node="typo", data={"status": "running"})]
        )
    with pytest.raises(InvalidEventError):
        store.append_events(
            run_id, [NewEvent(EventType.OUTPUT, node="body[3]", data={"pin": "r", "value": 1})]
        )
