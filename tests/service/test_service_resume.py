"""Resuming a run from the store, as the operator does after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mentatlab.engine.drivers.local import LocalProcessDriver
from mentatlab.model.run import EventType, RunStatus
from mentatlab.service.execution import resume_run
from mentatlab.service.preparation import prepare_flow
from mentatlab.store import NewEvent, RunOwner, open_store

REPO = Path(__file__).resolve().parents[2]
FLOW = REPO / "examples" / "hello.flow.yaml"


def test_resume_runs_only_what_had_not_finished(tmp_path: Path) -> None:
    prepared, findings = prepare_flow(FLOW)
    assert prepared is not None, findings
    with open_store(tmp_path) as store:
        run_id = store.create_run(
            flow=prepared.document,
            inputs={},
            node_ids=list(prepared.plan.nodes),
            flow_id="examples.hello",
            flow_name="hello",
            owner=RunOwner.kubernetes("default", "hello"),
        ).id
        text = prepared.plan.nodes["text"].outputs
        store.append_events(
            run_id,
            [
                NewEvent(EventType.RUN_STATUS, data={"status": "running"}),
                NewEvent(
                    EventType.NODE_STATUS,
                    node="text",
                    data={"status": "succeeded", "outputs": text},
                ),
                NewEvent(
                    EventType.NODE_STATUS, node="keywords", attempt=1, data={"status": "running"}
                ),
                NewEvent(
                    EventType.NODE_STATUS,
                    node="keywords",
                    attempt=1,
                    data={"status": "succeeded", "outputs": {"keywords": ["saved"]}},
                ),
                NewEvent(EventType.NODE_STATUS, node="mood", attempt=1, data={"status": "running"}),
            ],
        )
        before = len(store.read_events(run_id))
        record = asyncio.run(resume_run(store, prepared.plan, run_id, driver=LocalProcessDriver()))
        assert record.status is RunStatus.SUCCEEDED
        assert record.outputs["report"]["keywords"] == ["saved"]  # not computed again
        assert record.outputs["report"]["sentiment"] == "positive"
        assert record.nodes["mood"].attempts == 1  # the running attempt continued
        later = store.read_events(run_id, after_seq=before)
        assert {e.node for e in later if e.type == EventType.NODE_STATUS} == {
            "summary",
            "mood",
            "report",
        }
        assert [e.data["status"] for e in later if e.type == EventType.RUN_STATUS] == ["succeeded"]
        seqs = [e.seq for e in store.read_events(run_id)]
        assert seqs == list(range(1, len(seqs) + 1))
        again = asyncio.run(resume_run(store, prepared.plan, run_id, driver=LocalProcessDriver()))
        assert again == record  # a finished run is returned as it is
