"""The MentatLab run store: runs, node states, attempts and each run's append-only event log.

``open_store()`` returns the SQLite store under ``$MENTATLAB_HOME``; callers program against
the :class:`RunStore` protocol.
"""

from mentatlab.store.base import AttemptRecord, NewEvent, RunStore
from mentatlab.store.errors import (
    InvalidEventError,
    RunFinishedError,
    RunNotFoundError,
    StoreError,
)
from mentatlab.store.home import open_store, resolve_home
from mentatlab.store.owner import RunOwner
from mentatlab.store.sql import SqlRunStore

__all__ = [
    "AttemptRecord",
    "InvalidEventError",
    "NewEvent",
    "RunFinishedError",
    "RunNotFoundError",
    "RunOwner",
    "RunStore",
    "SqlRunStore",
    "StoreError",
    "open_store",
    "resolve_home",
]
