"""Run the per-file work on a Dask cluster (``run --scheduler``), results in input order.

:class:`ClusterPool` offers what :class:`dicomscrub.parallel.OrderedPool` offers (``start``,
``run``, ``drain``, ``close``, ``died``), so the runner does everything else exactly as for a
local run: the resume state, the audit, the summary, quarantine and the crosswalk are written by
this process only, in input order. Pseudonyms depend on the key and the original value alone, so
the workers share nothing but the job they are handed and the storage they read and write.

* **The job** goes to the workers as a worker plugin (:mod:`dicomscrub.cluster_worker`): pickled
  over Dask's connections, held in the scheduler's and the workers' memory, never written to a file
  and never in a worker's data store (which may spill to disk). It is removed when the run ends;
  if this process is killed before it can remove it, a guard on the scheduler does
  (:mod:`dicomscrub.cluster_guard`).
* **Tasks** are batches of :data:`FILES_PER_TASK` consecutive files, named
  ``dicomscrub-<run>-<keyed hash of the first file's input path>``: the name says nothing about a
  file to anyone without the key, and a retry is the same task.
* **In flight**: at most ``window`` tasks; results are gathered in batches, in input order.
* **A worker that dies** (killed, out of memory) loses no file: the atomic write leaves no partial
  output, and the scheduler gives its tasks to other workers. A task that keeps killing workers
  ends as Dask's KilledWorker; its files are then tried one per task, so that only a file that
  kills workers on its own is recorded failed; the batch goes on. After any worker died, ``died``
  is set and the runner removes the temporary files left behind.
* **Ctrl-C**: the job is withdrawn from the workers, so that no file starts any more (a worker
  looks for it before each file); the files being processed are finished and handed back.
* **The connection to the scheduler fails** and comes back (the client tries again for its
  connect timeout): Dask cancels every task of the client; once the client is connected again to
  the same scheduler, those tasks are handed out again (at most :data:`AGAIN_MAX` times; a file
  whose output a cancelled task wrote all the same is then found identical).
* **The scheduler lost** mid-run (the client could not connect again, or the scheduler at that
  address is another one, without the job): the run stops as if interrupted (finished files kept
  and recorded); running the same command again finishes it.

Dask is imported only when a pool is connected: ``import dicomscrub.cli`` never imports it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from dicomscrub.discover import Source
from dicomscrub.parallel import Item, JobSpec
from dicomscrub.process import FileResult, Status
from dicomscrub.state import STATE_DIR, input_id

Entry = tuple[list[Source] | FileResult, Any]
"""A batch of files and its task (a Dask Future), or a result known here (task None)."""

# distributed is only partly typed (untyped methods on Client and Future): its objects are held
# as Any here, the one module that uses them.
Client = Any
Future = Any

EXTRA_HINT = "pip install 'dicomscrub[dask]'"
FILES_PER_TASK = 8
"""Files per Dask task: a task costs the scheduler about a millisecond, a file a few."""
WINDOW_MIN = 64  # tasks in flight at least: enough for an adaptive cluster to see the demand
GATHER_MAX = 64  # tasks whose results are fetched from the workers in one round trip
AGAIN_MAX = 3
"""Times the tasks of a batch are handed out again after a failed connection cancelled them."""
CONNECTION_LOST = "scheduler-connection-lost"  # the reason Dask gives a future it cancels so
RECONNECT_POLL = 0.05  # seconds between two looks at a reconnecting client
_SCHEMES = frozenset({"tcp", "tls", "ws", "wss", "ucx", "inproc"})
"""The protocols of Dask's communications (``distributed.comm``)."""
_ADDRESS = re.compile(r"^[A-Za-z0-9+.-]+://\S+$|^[^\s/:]+:\d+$|^\[[0-9A-Fa-f:.]+\]:\d+$")


class ClusterError(Exception):
    """The cluster cannot be used: not installed, unreachable, no workers, workers that differ."""


class SchedulerLost(KeyboardInterrupt):
    """The connection to the scheduler was lost mid-run: the run stops as if interrupted."""


def dask_installed() -> bool:
    """True if the ``dask`` extra is installed (found without importing it)."""
    return importlib.util.find_spec("distributed") is not None


def scheduler_target(text: str) -> str:
    """``--scheduler``'s value checked: an address (``tcp://HOST:8786``, ``HOST:8786``) as
    given, or a scheduler file (written by ``dask scheduler --scheduler-file``) as an absolute
    path. Raises ClusterError for anything else, and when the extra is not installed."""
    value = text.strip()
    if not dask_installed():
        raise ClusterError(f"--scheduler needs the dask extra: {EXTRA_HINT}")
    if _ADDRESS.match(value):
        scheme = value.partition("://")[0].lower() if "://" in value else "tcp"
        if scheme not in _SCHEMES:
            raise ClusterError(
                f"--scheduler {text}: unknown protocol {scheme}:// (Dask's are "
                f"{', '.join(sorted(_SCHEMES))}; the usual one: tcp://HOST:8786)"
            )
        return value
    path = Path(value).expanduser()
    if path.is_file():
        try:
            address = json.loads(path.read_text(encoding="utf-8")).get("address")
        except (OSError, UnicodeError, ValueError, AttributeError):
            address = None
        if not isinstance(address, str) or not _ADDRESS.match(address):
            raise ClusterError(
                f"--scheduler {text}: not a scheduler file (the JSON with the scheduler's "
                "address that `dask scheduler --scheduler-file FILE` writes)"
            )
        return str(path.resolve())
    raise ClusterError(
        f"--scheduler {text}: neither a scheduler address (tcp://HOST:8786) nor an existing "
        "scheduler file"
    )


def _is_file(target: str) -> bool:
    return not _ADDRESS.match(target)


def _failed(source: Source, detail: str) -> FileResult:
    return FileResult(
        input=source.rel,
        root=str(source.root),
        status=Status.FAILED,
        detail=detail,
        sort_key=source.sort_key,
    )


class ClusterPool:
    """Like :class:`dicomscrub.parallel.OrderedPool`, with the workers of a Dask cluster."""

    def __init__(self, spec: JobSpec, scheduler: str, window: int | None = None) -> None:
        # Workers do not share this process's working directory: every path they get is absolute.
        plan = replace(spec.plan, root=Path(os.path.abspath(spec.plan.root)))
        self.spec = replace(spec, plan=plan)
        self.scheduler = scheduler
        self.window = window or 0
        self.token = secrets.token_hex(4)
        self.name = f"dicomscrub-{self.token}"  # the worker plugin's name; task names start so
        self.pending: deque[Entry] = deque()
        self.died = False  # a worker left during the run: it may have left a temporary file
        self.workers = 0
        self.threads = 0
        self._client: Client | None = None
        self._marker: Path | None = None
        self._registered = False
        self._withdrawn = False
        self.guarded = False  # the scheduler holds this run's JobGuard
        self._roots: dict[int, Path] = {}
        self._scheduler_id: str | None = None  # the scheduler that holds the job
        self._again: dict[tuple[int, str], int] = {}  # a batch's first file -> times handed again

    # ---- connecting ----------------------------------------------------------------------------

    def connect(self, inputs: Iterable[Path] = ()) -> None:
        """Connect to the scheduler and check its workers; raise ClusterError if they cannot do
        the run. Touches no file: the runner calls it before it creates the output folder."""
        if self._client is not None:
            return
        try:
            import distributed
        except ImportError:
            raise ClusterError(f"--scheduler needs the dask extra: {EXTRA_HINT}") from None
        new_client: Any = distributed.Client
        where = f"scheduler file {self.scheduler}" if _is_file(self.scheduler) else self.scheduler
        try:
            if _is_file(self.scheduler):
                client = new_client(scheduler_file=self.scheduler, set_as_default=False)
            else:
                client = new_client(self.scheduler, set_as_default=False)
        except Exception as exc:  # OSError, TimeoutError, a bad scheduler file...
            raise ClusterError(
                f"cannot reach the Dask scheduler at {where}: {_reason(exc)}"
            ) from None
        self._client = client
        try:
            self._check_workers(client, where, [os.path.abspath(p) for p in inputs])
        except BaseException:
            self._close_client()
            raise
        client.subscribe_topic("all", self._event)  # remove-worker events: see ``died``

    def _check_workers(self, client: Client, where: str, inputs: list[str]) -> None:
        from dicomscrub import __version__
        from dicomscrub.cluster_worker import facts

        try:
            client.wait_for_workers(1, timeout=_connect_timeout())
        except (OSError, TimeoutError):
            raise ClusterError(f"the Dask scheduler at {where} has no workers") from None
        try:
            replies = client.run(facts, inputs, on_error="return")
        except Exception as exc:  # a worker that left while asked, a lost scheduler
            raise ClusterError(f"cannot ask the workers of {where}: {_reason(exc)}") from None
        problems = []
        for address, reply in sorted(replies.items()):
            if isinstance(reply, BaseException):
                problems.append(
                    f"worker {address} cannot run dicomscrub ({type(reply).__name__}: {reply}); "
                    f"install dicomscrub with its dask extra there ({EXTRA_HINT})"
                )
            elif reply["version"] != __version__:
                problems.append(
                    f"worker {address} runs dicomscrub {reply['version']}, this client "
                    f"{__version__}; install the same version everywhere"
                )
            elif reply["missing"]:
                problems.append(
                    f"worker {address} cannot see {reply['missing'][0]}: inputs and output must "
                    "be on storage every worker reaches, under the same paths"
                )
        problems += self._scheduler_problems(client, where)
        if problems:
            raise ClusterError("; ".join(problems))
        self._scheduler_id = _scheduler_id(client)
        nthreads = client.nthreads()
        self.workers = len(nthreads)
        self.threads = sum(nthreads.values())
        self.window = self.window or max(WINDOW_MIN, 4 * self.threads)

    @staticmethod
    def _scheduler_problems(client: Client, where: str) -> list[str]:
        """The scheduler runs dicomscrub too: it reads the tasks, and it holds the job's guard
        (:mod:`dicomscrub.cluster_guard`); the same version as this client."""
        from dicomscrub import __version__
        from dicomscrub.cluster_guard import version

        try:
            theirs = client.run_on_scheduler(version)
        except Exception as exc:
            return [
                f"the Dask scheduler at {where} cannot run dicomscrub ({_reason(exc)}); "
                f"install dicomscrub with its dask extra there too ({EXTRA_HINT})"
            ]
        if theirs != __version__:
            return [
                f"the Dask scheduler at {where} runs dicomscrub {theirs}, this client "
                f"{__version__}; install the same version everywhere"
            ]
        return []

    def _event(self, event: tuple[float, dict[str, Any]]) -> None:
        """Scheduler events (in the client's own thread): note any worker that leaves."""
        _, msg = event
        if isinstance(msg, dict) and msg.get("action") == "remove-worker":
            self.died = True

    def start(self) -> None:
        """Hand the job to every worker (present and future). The output folder exists by now,
        unless this is a dry run: a token file in its state folder lets each worker check that
        it sees the same folder as this client."""
        if self._registered:
            return
        self.connect()
        client = self._client
        assert client is not None
        from dicomscrub.cluster_worker import JobPlugin

        marker = None
        if not self.spec.dry_run:
            self._marker = self.spec.plan.root / STATE_DIR / f"cluster-{self.token}"
            self._marker.write_text(self.token + "\n", encoding="ascii")
            marker = (str(self._marker), self.token)
        self._guard(client)
        try:
            client.register_plugin(JobPlugin(self.name, self.spec, marker), name=self.name)
        except Exception as exc:  # the scheduler went away since connect()
            raise SchedulerLost(
                f"cannot hand the job to the Dask scheduler at {self.scheduler}: {_reason(exc)}"
            ) from None
        self._registered = True

    def _guard(self, client: Client) -> None:
        """Before the job: the scheduler's guard that takes it back if this process is killed
        (:mod:`dicomscrub.cluster_guard`). The scheduler runs the same dicomscrub (checked on
        connecting), so it can load it."""
        from dicomscrub.cluster_guard import JobGuard, guard_name

        grace = 2 * _connect_timeout()  # (how long a client tries to reconnect, twice)
        guard = JobGuard(self.name, client.id, grace)
        try:
            client.register_plugin(guard, name=guard_name(self.name))
        except Exception as exc:
            raise SchedulerLost(
                f"cannot hand the job's guard to the Dask scheduler at {self.scheduler}: "
                f"{_reason(exc)}"
            ) from None
        self.guarded = True

    # ---- running -------------------------------------------------------------------------------

    def _task_key(self, source: Source, suffix: str = "") -> str:
        root = self._roots.get(source.root_index)
        if root is None:
            root = self._roots[source.root_index] = source.root.resolve()
        return f"{self.name}-{input_id(self.spec.key, root, source.rel, resolved=True)}{suffix}"

    def _submit(self, batches: list[list[Source]], suffix: str = "") -> list[Future]:
        """One task per batch, named after its first file (a retry is the same task)."""
        from dicomscrub.cluster_worker import scrub

        client = self._client
        assert client is not None
        absolute = [[replace(s, path=Path(os.path.abspath(s.path))) for s in b] for b in batches]
        futures: list[Future] = client.map(
            scrub,
            absolute,
            key=[self._task_key(b[0], suffix) for b in batches],
            job_name=self.name,
        )
        return futures

    def _fill(self, it: Iterator[Item]) -> bool:
        """Take items until ``window`` entries are pending, files in batches of
        FILES_PER_TASK (a known result ends a batch: results stay in input order). True once
        the items are exhausted."""
        new: list[list[Source] | FileResult] = []
        batch: list[Source] = []
        exhausted = False
        while len(self.pending) + len(new) < self.window:
            item = next(it, None)
            if item is None:
                exhausted = True
                break
            if isinstance(item, FileResult):
                if batch:
                    new.append(batch)
                    batch = []
                new.append(item)
            else:
                batch.append(item)
                if len(batch) == FILES_PER_TASK:
                    new.append(batch)
                    batch = []
        if batch:
            new.append(batch)
        futures = iter(self._submit([e for e in new if isinstance(e, list)]))
        for entry in new:
            self.pending.append((entry, next(futures) if isinstance(entry, list) else None))
        return exhausted

    def run(self, items: Iterable[Item]) -> Iterator[FileResult]:
        """Results in input order. On KeyboardInterrupt, call :meth:`drain`, then :meth:`close`."""
        self.start()
        it = iter(items)
        exhausted = False
        while True:
            if not exhausted and len(self.pending) <= self.window // 2:
                exhausted = self._fill(it)
            if not self.pending:
                return
            yield from self._leading()

    def _leading(self) -> Iterator[FileResult]:
        """Wait for the first task in flight; turn it and the done tasks after it into their
        files' results (one round trip to the workers for all); hand back the results at the
        head. Every result stays in ``pending`` until it is handed back, so that what the
        caller has not seen is drained after Ctrl-C."""
        pending = self.pending
        head = pending[0][1]
        if head is not None and not head.done():
            head.exception()  # waits for the task; fetches nothing
        count = 0
        for _, fut in pending:
            if count >= GATHER_MAX or (fut is not None and not fut.done()):
                break
            count += 1
        done = [pending[i] for i in range(count)]
        values = self._gather([f for _, f in done if f is not None and f.status == "finished"])
        expanded: list[Entry] = []
        for entry, fut in done:
            if fut is None:
                expanded.append((entry, None))
            else:
                assert isinstance(entry, list)
                value = values[fut.key] if fut.key in values else _value(fut)
                expanded.extend(self._expand(entry, fut, value))
        for _ in range(count):
            pending.popleft()
        pending.extendleft(reversed(expanded))
        while pending and pending[0][1] is None:
            result = pending.popleft()[0]
            assert isinstance(result, FileResult)
            yield result

    def _gather(self, futures: list[Future]) -> dict[Any, Any]:
        if not futures:
            return {}
        client = self._client
        assert client is not None
        try:
            got = client.gather(futures)
        except Exception:  # e.g. a worker holding a result died: one by one
            got = [_value(f) for f in futures]
        return dict(zip([f.key for f in futures], got, strict=True))

    def _expand(self, batch: list[Source], fut: Future, value: Any) -> list[Entry]:
        """A done task's files, as known results, or as tasks of one file each when the task
        kept killing workers (so that only a file that kills them again is failed)."""
        from distributed import KilledWorker

        if isinstance(value, list):
            results: list[Entry] = [(r, None) for r in value]
            if not self._withdrawn:  # a worker stops early only when the job is withdrawn
                results += [(_no_job(s), None) for s in batch[len(value) :]]
            return results  # withdrawn: the files not started are left to the next run
        if isinstance(value, KilledWorker):
            self.died = True
            if len(batch) > 1:
                singles = [[s] for s in batch]
                return list(zip(singles, self._submit(singles, "-alone"), strict=True))
        if getattr(value, "reason", None) == CONNECTION_LOST and fut.cancelled():
            again = self._hand_out_again(batch)
            if again is not None:
                return [(batch, again)]
        return [(self._settle(s, fut, value), None) for s in batch]

    def _hand_out_again(self, batch: list[Source]) -> Future | None:
        """The batch's task, submitted again after a failed connection cancelled it, once the
        client is connected again to the scheduler that holds the job (else SchedulerLost);
        None after :data:`AGAIN_MAX` times (the files then fail as cancelled)."""
        first = (batch[0].root_index, batch[0].rel)
        times = self._again.get(first, 0) + 1
        if times > AGAIN_MAX or self._withdrawn:
            return None
        self._await_connection()
        self._again[first] = times
        return self._submit([batch], f"-again{times}")[0]

    def _await_connection(self) -> None:
        """Wait while the client connects again (it tries for its connect timeout); raise
        SchedulerLost if it gave up, or if the scheduler it reached is not the one that holds
        this run's job (restarted at the same address: a new scheduler has no job)."""
        client = self._client
        assert client is not None
        deadline = time.monotonic() + 2 * _connect_timeout() + 1
        while client.status == "connecting" and time.monotonic() < deadline:
            time.sleep(RECONNECT_POLL)
        lost = f"lost the connection to the Dask scheduler at {self.scheduler}"
        if client.status != "running":
            raise SchedulerLost(lost)
        try:
            now = _scheduler_id(client)
        except Exception:
            raise SchedulerLost(lost) from None
        if now != self._scheduler_id:
            raise SchedulerLost(
                f"the Dask scheduler at {self.scheduler} was replaced during the run (a new "
                "scheduler holds no job)"
            )

    def _settle(self, source: Source, fut: Future, exc: Any) -> FileResult:
        """The result of a file whose task did not finish: killed workers, cancelled, lost."""
        from distributed import KilledWorker

        client = self._client
        assert client is not None
        if client.status != "running":
            raise SchedulerLost(f"lost the connection to the Dask scheduler at {self.scheduler}")
        if isinstance(exc, KilledWorker):
            return _failed(
                source,
                f"the Dask workers processing this file died {exc.allowed_failures + 1} times "
                "(out of memory or a crash); not written",
            )
        if fut.cancelled():
            # (a Dask client cancels its tasks when its connection to the scheduler fails; one
            # already running on a worker may still have written the file)
            return _failed(
                source,
                "the Dask cluster cancelled this file's task (the connection to the scheduler "
                "failed?); its output may be in place all the same: the next run checks it",
            )
        return _failed(source, f"internal error on the Dask cluster: {type(exc).__name__}")

    # ---- stopping ------------------------------------------------------------------------------

    def drain(self) -> Iterator[FileResult]:
        """After Ctrl-C: withdraw the job from the workers, so that no file is started any more
        (a task that starts finds no job and touches nothing); hand back, in order, the files
        that were being processed. A second Ctrl-C cancels everything (a file already being
        processed still completes on its worker; the next run finds its output and records it)."""
        if self._client is None:
            self.pending.clear()
            return
        try:
            self._withdraw()
            while self.pending:
                yield from self._leading()
        except SchedulerLost:
            self.pending.clear()
        except KeyboardInterrupt:
            self._cancel_all()

    def _withdraw(self) -> None:
        """Take the job back from the scheduler and every worker (it holds the key)."""
        if self._registered and self._client is not None:
            self._withdrawn = True
            with contextlib.suppress(Exception):
                self._client.unregister_worker_plugin(self.name)
            self._registered = False

    def _cancel_all(self) -> None:
        futures = [f for _, f in self.pending if f is not None]
        self.pending.clear()
        if self._client is not None and futures:
            with contextlib.suppress(Exception):
                self._client.cancel(futures)

    def close(self) -> None:
        """Cancel what is left, take the job back from the workers, disconnect."""
        client = self._client
        if client is None:
            return
        self._withdraw()
        self._cancel_all()
        if self.guarded:
            from dicomscrub.cluster_guard import guard_name

            with contextlib.suppress(Exception):
                client.unregister_scheduler_plugin(guard_name(self.name))
            self.guarded = False
        if self._marker is not None:
            with contextlib.suppress(OSError):
                self._marker.unlink()
            self._marker = None
        self._close_client()

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.unsubscribe_topic("all")
            with contextlib.suppress(Exception):
                client.close()


def _scheduler_id(client: Client) -> str:
    return str(client.scheduler_info(n_workers=0)["id"])


def _no_job(source: Source) -> FileResult:
    return _failed(source, "the Dask worker had no job for this run (worker plugin); not written")


def _value(fut: Future) -> Any:
    """A future's result, or the exception it ended with (waits for it)."""
    try:
        return fut.result()
    except Exception as exc:
        return exc


def _connect_timeout() -> float:
    import dask
    from dask.utils import parse_timedelta

    value = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s")
    return float(value or 30)


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or type(exc).__name__
