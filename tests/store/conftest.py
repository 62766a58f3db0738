"""Fixtures for run store tests: each test that uses ``store_url`` (or ``store``) runs twice,
on SQLite and on a real PostgreSQL server, each time on a database of its own.

The PostgreSQL server and the schema per test come from tests/pg_fixtures.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, make_url

from mentatlab.store import SqlRunStore, open_store
from mentatlab.store.postgres import create_postgres_engine
from mentatlab.store.sqlite import create_sqlite_engine

BACKENDS = ["sqlite", "postgresql"]


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
