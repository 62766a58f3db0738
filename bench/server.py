"""A real ``mentatctl serve`` process for the event and API benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import AGENTS_DIR
from mentatlab.store import generate_key

__all__ = ["Server", "serving"]

_START_SECONDS = 60


@dataclass(frozen=True)
class Server:
    url: str
    api_key: str
    pid: int


@contextlib.contextmanager
def serving(home: Path, *, workers: int = 4) -> Iterator[Server]:
    """The server on a free loopback port with a fresh store in ``home``, stopped at exit."""
    home.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    port = _free_port()
    process = subprocess.Popen(
        [
            *(str(Path(sys.executable).with_name("mentatctl")), "serve", "--port", str(port)),
            *("--agents", str(AGENTS_DIR), "--workers", str(workers)),
        ],
        env={**os.environ, "MENTATLAB_HOME": str(home), "MENTATLAB_ADMIN_KEY": key},
        stdout=subprocess.DEVNULL,
        stderr=(home / "server.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        yield Server(url, key, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mentatctl serve exited {process.returncode} at start")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"mentatctl serve was not ready within {_START_SECONDS} s")
