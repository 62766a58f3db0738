"""Which run store the operator opens: ``database_url`` (``--db``), else ``home``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentatlab.operator.app import OperatorOptions
from mentatlab.store import InvalidStoreUrlError


def test_the_operator_opens_the_database_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared' / 'runs.db'}"
    with OperatorOptions(database_url=url).open_store() as store:
        store.create_run(flow={}, inputs={}, node_ids=[], flow_id=None, flow_name=None)
    assert (tmp_path / "shared" / "runs.db").is_file()


def test_the_operator_opens_the_home_store_without_a_url(tmp_path: Path) -> None:
    with OperatorOptions(home=tmp_path / "home").open_store():
        pass
    assert (tmp_path / "home" / "store.db").is_file()


def test_home_and_url_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        OperatorOptions(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(InvalidStoreUrlError):
        OperatorOptions(database_url="mysql://localhost/runs").open_store()
