"""End-to-end API tests: a real ``mentatctl serve`` process on a free loopback port, with a
temporary MENTATLAB_HOME, real agent processes, driven through mentatlab.client and httpx."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from ruamel.yaml import YAML
from sqlalchemy import URL

from mentatlab.api import Settings, create_app
from mentatlab.client import Client
from mentatlab.store import SqlRunStore, generate_key, open_store

REPO = Path(__file__).resolve().parents[2]
MENTATCTL = str(Path(sys.executable).with_name("mentatctl"))
STARTUP_SECONDS = 60

# An agent that reports progress every `interval` seconds, `steps` times, then answers.
TICKER_MANIFEST = """\
apiVersion: mentatlab.io/v1
kind: Agent
id: t.ticker
version: 1.0.0
description: ticks
command: [python, main.py]
inputs: []
outputs: [{name: done, type: boolean}]
"""

TICKER_MAIN = """\
import json, os, sys, time
envelope = json.loads(sys.stdin.read())
params = envelope.get("params") or {}
with open("agent.pid", "w") as pid_file:
    pid_file.write(str(os.getpid()))
steps, interval = int(params.get("steps", 20)), float(params.get("interval", 0.05))
for step in range(steps):
    print(json.dumps({"type": "progress", "percent": round(100 * step / steps, 1)}), flush=True)
    time.sleep(interval)
print(json.dumps({"type": "output", "pin": "done", "value": True}), flush=True)
"""


def ticker_flow(*, steps: int, interval: float, flow_id: str = "t.ticks") -> dict[str, Any]:
    """A flow whose one agent emits ``steps`` progress events ``interval`` seconds apart."""
    return {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Flow",
        "meta": {"id": flow_id, "name": "ticks"},
        "graph": {
            "nodes": [
                {
                    "id": "tick",
                    "type": "t.ticker",
                    "params": {"steps": steps, "interval": interval},
                },
                {"id": "after", "type": "ui.console"},
            ],
            "edges": [{"from": "tick.done", "to": "after.done"}],
        },
    }


def quick_flow(flow_id: str = "t.quick") -> dict[str, Any]:
    """A flow of built-ins only: it starts no process and finishes at once."""
    return {
        "apiVersion": "mentatlab.io/v1",
        "kind": "Flow",
        "meta": {"id": flow_id, "name": "quick"},
        "graph": {
            "nodes": [
                {"id": "text", "type": "ui.prompt", "outputs": {"text": "hi"}},
                {"id": "show", "type": "ui.console"},
            ],
            "edges": [{"from": "text.text", "to": "show.text"}],
        },
    }


def hello_flow() -> dict[str, Any]:
    document: dict[str, Any] = YAML(typ="safe").load(REPO / "examples" / "hello.flow.yaml")
    return document


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Keys:
    admin: str
    write: str = ""
    read: str = ""


@dataclass
class Server:
    """One ``mentatctl serve`` process; :meth:`start` again after it stopped or was killed."""

    home: Path
    agents: Path
    log: Path
    options: list[str] = field(default_factory=list)
    db: str | None = None
    """``--db`` URL; None: SQLite under ``home``."""
    admin_key: str = field(default_factory=generate_key)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "MENTATLAB_HOME": str(self.home),
            "MENTATLAB_ADMIN_KEY": self.admin_key,
        }
        env.pop("MENTATLAB_AGENTS_PATH", None)
        command = [MENTATCTL, "serve", "--port", str(self.port), "--agents", str(self.agents)]
        if self.db is not None:
            command += ["--db", self.db]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--agents", str(REPO / "agents"), *self.options],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited at start:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not become ready:\n{self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        self.process = None
        return code

    def client(self, key: str | None = None) -> Client:
        return Client(self.url, api_key=key or self.admin_key)

    def http(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def write_agents(directory: Path) -> Path:
    ticker = directory / "ticker"
    ticker.mkdir(parents=True)
    (ticker / "manifest.yaml").write_text(TICKER_MANIFEST)
    (ticker / "main.py").write_text(TICKER_MAIN)
    return directory


def agent_pid(agents: Path) -> int:
    return int((agents / "ticker" / "agent.pid").read_text())


def wait_until(predicate: Any, *, timeout: float = 30, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Decode raw Server-Sent Events lines into ``{"id", "event", "data"}`` records; comments
    come out as ``{"comment": text}``."""
    fields: dict[str, Any] = {}
    for line in lines:
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
        elif line == "":
            if fields:
                fields["data"] = json.loads(fields["data"])
                yield fields
            fields = {}
        else:
            name, _, value = line.partition(": ")
            fields[name] = value


@pytest.fixture
def agents_dir(tmp_path: Path) -> Path:
    return write_agents(tmp_path / "agents")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> str | None:
    """A store URL per backend: None for SQLite under MENTATLAB_HOME, or a new, empty
    PostgreSQL schema (tests/pg_fixtures.py), the only one on the connections' search_path."""
    if request.param == "sqlite":
        return None
    schema: URL = request.getfixturevalue("postgres_schema")
    return schema.render_as_string(hide_password=False)


@pytest.fixture
def server_factory(tmp_path: Path, agents_dir: Path) -> Iterator[Any]:
    """Start servers (options are mentatctl serve options; ``db=`` a store URL); each is
    stopped at the end."""
    started: list[Server] = []

    def start(*options: str, db: str | None = None) -> Server:
        server = Server(
            home=tmp_path / "home",
            agents=agents_dir,
            log=tmp_path / f"server-{len(started)}.log",
            options=list(options),
            db=db,
        )
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        if server.process is not None:
            server.process.kill()
            server.process.wait(timeout=30)


@pytest.fixture
def server(server_factory: Any) -> Server:
    started: Server = server_factory("--heartbeat-seconds", "0.5")
    return started


@pytest.fixture
def keys(server: Server) -> Keys:
    with server.client() as admin:
        return Keys(
            admin=server.admin_key,
            write=admin.create_key("writer", ["write"]).key,
            read=admin.create_key("reader", ["read"]).key,
        )


@dataclass
class App:
    """The application in this process (no uvicorn), with an admin key and keys per scope."""

    http: TestClient
    keys: Keys
    store: SqlRunStore

    def as_(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}


def make_app(tmp_path: Path, **settings: Any) -> Iterator[App]:
    admin = generate_key()
    with open_store(tmp_path / "app-home") as store:
        app = create_app(
            Settings(store=store, admin_key=admin, agent_dirs=(REPO / "agents",), **settings)
        )
        with TestClient(app, raise_server_exceptions=False) as http:
            keys = Keys(admin=admin)
            for scope in ("write", "read"):
                answer = http.post(
                    "/api/v1/keys",
                    json={"name": scope, "scopes": [scope]},
                    headers={"Authorization": f"Bearer {admin}"},
                )
                setattr(keys, scope, answer.json()["key"])
            yield App(http=http, keys=keys, store=store)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    yield from make_app(tmp_path)
