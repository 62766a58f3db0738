"""Showing a run while it happens: a live per-node table on a terminal, plain lines otherwise."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from mentatlab.model.run import EventType, RunEvent, RunRecord, RunStatus

__all__ = ["RunView", "render_outputs"]

_STYLES = {
    "pending": "dim",
    "running": "cyan",
    "succeeded": "green",
    "failed": "bold red",
    "skipped": "yellow",
    "cancelled": "magenta",
}


@dataclass
class _NodeLine:
    status: str = "pending"
    attempt: int | None = None
    progress: float | None = None
    detail: str = ""
    started: float | None = None
    finished: float | None = None

    def elapsed(self) -> str:
        if self.started is None:
            return ""
        return f"{(self.finished or time.monotonic()) - self.started:.1f}s"


@dataclass
class RunView:
    """Receives a run's events in order and shows them on ``console``."""

    console: Console
    node_ids: list[str]
    live: bool
    nodes: dict[str, _NodeLine] = field(init=False)
    _live: Live | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.nodes = {node_id: _NodeLine() for node_id in self.node_ids}

    def __enter__(self) -> Self:
        if self.live:
            self._live = Live(
                self._table(), console=self.console, refresh_per_second=8, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(exc_type, exc, tb)

    def on_event(self, event: RunEvent) -> None:
        if event.node is None:
            return
        line = self.nodes.setdefault(event.node, _NodeLine())
        data = event.data
        match event.type:
            case EventType.NODE_STATUS:
                self._on_status(event.node, line, data, event.attempt)
            case EventType.PROGRESS:
                line.progress = float(data.get("percent", 0))
                line.detail = str(data.get("message") or line.detail)
            case EventType.LOG if data.get("level") in ("warning", "error"):
                line.detail = str(data.get("message", ""))[:120]
                if not self.live:
                    self.console.print(
                        f"  {event.node}: {data.get('level')}: {line.detail}",
                        markup=False,
                        highlight=False,
                    )
            case _:
                pass
        if self._live is not None:
            self._live.update(self._table())

    def _on_status(
        self, node: str, line: _NodeLine, data: dict[str, Any], attempt: int | None
    ) -> None:
        status = str(data.get("status"))
        line.status, line.attempt = status, attempt or line.attempt
        if status == "running" and line.started is None:
            line.started = time.monotonic()
        if status in ("succeeded", "failed", "skipped", "cancelled"):
            line.finished = time.monotonic()
        error = data.get("error")
        if isinstance(error, dict):
            line.detail = str(error.get("message", ""))
        elif data.get("reason"):
            line.detail = str(data["reason"])
        if status == "pending" and "retry_in_seconds" in data:
            line.detail = f"retrying in {data['retry_in_seconds']}s: {line.detail}"
        if not self.live:
            suffix = f" (attempt {line.attempt})" if line.attempt else ""
            detail = f": {line.detail}" if status in ("failed", "pending") and line.detail else ""
            timing = f" in {line.elapsed()}" if line.finished and line.started else ""
            self.console.print(
                f"{node} {status}{suffix}{timing}{detail}", markup=False, highlight=False
            )

    def _table(self) -> Table:
        table = Table(expand=False, show_edge=False, pad_edge=False, box=None)
        for column in ("node", "status", "attempt", "progress", "elapsed", "detail"):
            table.add_column(column, overflow="fold" if column == "detail" else "ellipsis")
        for node_id, line in self.nodes.items():
            progress = f"{line.progress:.0f}%" if line.progress is not None else ""
            table.add_row(
                node_id,
                Text(line.status, style=_STYLES.get(line.status, "")),
                str(line.attempt or ""),
                progress,
                line.elapsed(),
                Text(line.detail[:100]),
            )
        return table


def render_outputs(console: Console, record: RunRecord) -> None:
    """The run's outcome and final outputs, for people (``--output json`` is for programs)."""
    style = "green" if record.status is RunStatus.SUCCEEDED else "bold red"
    console.print(Text(f"run {record.id} {record.status.value}", style=style))
    if record.error is not None:
        console.print(Text(f"error: {record.error.message}", style="red"))
    for node_id, outputs in record.outputs.items():
        for pin, value in outputs.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            console.print(Text(f"{node_id}.{pin} = ", style="bold") + Text(text))
