"""On the Dask scheduler of ``run --scheduler``: a run's job is taken back from the scheduler and
the workers when the run's client has left for good without doing so itself.

The job (see :mod:`dicomscrub.cluster_worker`) holds the run's key. The client takes it back when
the run ends, fails or is interrupted; but a client process killed outright (``kill -9``, the
out-of-memory killer) cannot, and the scheduler would keep the job, and hand it to every worker
that joins, for as long as it runs. :class:`JobGuard`, registered on the scheduler by the client
before the job, is told when that client's connection closes. A Dask client whose connection
dropped tries to reconnect, under the same id, for its connect timeout: so the guard waits
``grace`` seconds (twice that timeout) and, if the client has not come back, removes the job (the
workers drop it) and itself. The scheduler has already released the tasks of a client that left,
so no new batch starts for it in the meantime. This module imports nothing of dicomscrub but
itself, so that the scheduler loads it with ``distributed`` alone (and the client checks, with
:func:`version`, that the scheduler runs the same dicomscrub).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

_TAKING_BACK: set[asyncio.Future[Any]] = set()
"""The removals under way (a task the event loop holds only weakly must be held somewhere)."""


def guard_name(job: str) -> str:
    return f"{job}-guard"


def version() -> str:
    """The dicomscrub version the scheduler runs (the client checks it before a run)."""
    from dicomscrub import __version__

    return __version__


class JobGuard(SchedulerPlugin):
    """Removes the worker plugin ``job`` once the client ``client`` (its id) has left and not
    come back within ``grace`` seconds."""

    def __init__(self, job: str, client: str, grace: float) -> None:
        self.job = job
        self.client = client
        self.grace = grace
        self.name = guard_name(job)

    def remove_client(self, scheduler: Any, client: str) -> None:
        if client == self.client:  # (called in the scheduler's event loop)
            asyncio.get_running_loop().call_later(self.grace, self._unless_back, scheduler)

    def _unless_back(self, scheduler: Any) -> None:
        if self.client in scheduler.clients or scheduler.plugins.get(self.name) is not self:
            return  # reconnected (a network failure), or the run ended and removed this guard
        with contextlib.suppress(ValueError):
            scheduler.remove_plugin(name=self.name)
        if self.job in scheduler.worker_plugins:
            # comm=None: as for a call from within the scheduler
            removal = asyncio.ensure_future(scheduler.unregister_worker_plugin(None, self.job))
            _TAKING_BACK.add(removal)
            removal.add_done_callback(_done)


def _done(removal: asyncio.Future[Any]) -> None:
    _TAKING_BACK.discard(removal)
    if not removal.cancelled():
        removal.exception()  # (retrieved: a worker gone meanwhile is no error of the run)
