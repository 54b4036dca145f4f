"""On the Dask scheduler of ``run --scheduler``: a run's job is taken back from the scheduler and
the workers when the run's client leaves without doing so itself.

The job (see :mod:`dicomscrub.cluster_worker`) holds the run's key. The client takes it back when
the run ends, fails or is interrupted; but a client process killed outright (``kill -9``, the
out-of-memory killer) cannot, and the scheduler would keep the job, and hand it to every worker
that joins, for as long as it runs. :class:`JobGuard`, registered on the scheduler by the client
before the job, watches for that client to leave and then removes the job: the workers drop it, so
that no file starts any more (a worker looks for the job before each file), and the guard removes
itself. This module imports nothing of dicomscrub but itself, so that a scheduler can load it
with ``distributed`` alone (a scheduler without dicomscrub installed cannot: the client then runs
without the guard, as the README says).
"""

from __future__ import annotations

import asyncio
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

_TAKING_BACK: set[asyncio.Future[Any]] = set()
"""The removals under way (a task the event loop holds only weakly must be held somewhere)."""


def guard_name(job: str) -> str:
    return f"{job}-guard"


class JobGuard(SchedulerPlugin):
    """Removes the worker plugin ``job`` when the client ``client`` (its id) leaves."""

    def __init__(self, job: str, client: str) -> None:
        self.job = job
        self.client = client
        self.name = guard_name(job)

    def remove_client(self, scheduler: Any, client: str) -> None:
        if client != self.client:
            return
        scheduler.remove_plugin(name=self.name)
        if self.job in scheduler.worker_plugins:
            # (called in the scheduler's event loop; comm=None as for a call from the scheduler)
            removal = asyncio.ensure_future(scheduler.unregister_worker_plugin(None, self.job))
            _TAKING_BACK.add(removal)
            removal.add_done_callback(_TAKING_BACK.discard)
