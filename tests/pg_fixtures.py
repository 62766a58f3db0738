"""Shared PostgreSQL fixtures (a pytest plugin that tests/conftest.py registers), used by the
store, API and CLI suites alike.

The server is the one ``MENTATLAB_TEST_POSTGRES_URL`` names (``make test`` starts it with
``hack/postgres/up.sh``); when unset, the same script starts it here, and it is stopped after
the session if it was not running before. Each test that asks for ``postgres_schema`` gets a
new, empty schema in that URL's database, made the only one on the connections' search_path
and dropped afterwards: as isolated as a database of its own, in a tenth of the time
``CREATE DATABASE`` takes.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, create_engine, make_url
from sqlalchemy.pool import NullPool

from mentatlab.store.postgres import postgres_url

HACK = Path(__file__).resolve().parents[1] / "hack" / "postgres"
POSTGRES_URL_ENV = "MENTATLAB_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[URL]:
    """The URL of a database on the test server, whose role may create schemas in it."""
    url = os.environ.get(POSTGRES_URL_ENV)
    started_here = False
    if not url:
        up = subprocess.run(
            [HACK / "up.sh"], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
        if up.returncode != 0:
            pytest.fail(f"hack/postgres/up.sh failed:\n{up.stdout}\n{up.stderr}", pytrace=False)
        started_here = "already up" not in up.stdout + up.stderr
        exports = subprocess.run(
            [HACK / "env.sh"], capture_output=True, text=True, check=True
        ).stdout
        _, _, value = exports.strip().removeprefix("export ").partition("=")
        url = shlex.split(value)[0]
    yield postgres_url(make_url(url))
    if started_here:
        subprocess.run([HACK / "down.sh"], check=False, capture_output=True)


@pytest.fixture(scope="session")
def postgres_admin(postgres_server: URL) -> Iterator[Engine]:
    engine = create_engine(postgres_server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_schema(postgres_server: URL, postgres_admin: Engine) -> Iterator[URL]:
    """The URL of a new, empty schema: the only one its connections' search_path names."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    with postgres_admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    yield postgres_server.update_query_dict({"options": f"-csearch_path={name}"})
    with postgres_admin.connect() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
