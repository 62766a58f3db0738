"""Fixtures for run store tests: each test that uses ``store_url`` (or ``store``) runs twice,
on SQLite and on a real PostgreSQL server, each time on a database of its own.

The server is the one ``MENTATLAB_TEST_POSTGRES_URL`` names (``make test`` starts it with
``hack/postgres/up.sh``); when unset, the same script starts it here, and it is stopped after
the session if it was not running before. Each test gets a new, empty schema in that URL's
database, made the only one on the store's ``search_path`` and dropped afterwards: as isolated
as a database of its own for the store, in a tenth of the time ``CREATE DATABASE`` takes.
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

from mentatlab.store import SqlRunStore, open_store
from mentatlab.store.postgres import create_postgres_engine, postgres_url
from mentatlab.store.sqlite import create_sqlite_engine

REPO = Path(__file__).resolve().parents[2]
HACK = REPO / "hack" / "postgres"
POSTGRES_URL_ENV = "MENTATLAB_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


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


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a store that does not exist yet (a plain string: worker processes get it)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mentatlab-home' / 'store.db'}"
    schema: URL = request.getfixturevalue("postgres_schema")
    return schema.render_as_string(hide_password=False)


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """A bare engine on the empty database of ``store_url`` (no migrations run)."""
    url = make_url(store_url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        path.parent.mkdir(parents=True)
        created = create_sqlite_engine(path)
    else:
        created = create_postgres_engine(url)
    yield created
    created.dispose()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "mentatlab-home"


@pytest.fixture
def store(store_url: str) -> Iterator[SqlRunStore]:
    with open_store(url=store_url) as opened:
        yield opened
