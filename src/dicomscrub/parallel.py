"""Run :func:`process_files` over many files in worker processes, results in input order.

Workers are forked once; the pool initializer hands each one the compiled profile and the key (in
memory, through the pool's pipe, never through a file) and builds the pipeline once. Each task is a
batch of consecutive :class:`Source` s, processed together (their outputs written after their
headers are processed: see :func:`process_files`), and returns their plain :class:`FileResult` s
(one task per file cost more in the pool's queues, threads and pipes than a file costs to
de-identify). Given the number of files, batches are guided (see :func:`batch_size`): up to
:data:`BATCH` files while many are left, fewer towards the end. At most ``window`` batches are in
flight, so memory stays flat however many files a run has, and results are handed back in the
order the files were given.
A worker that dies (out of memory, a crash in a library) breaks the pool: the pool is rebuilt and
the files that were in flight are retried one at a time, so that only the file that kills a worker
is reported failed.

On Ctrl-C or SIGTERM (KeyboardInterrupt in the parent; workers ignore both, the parent decides)
no new file is started (workers see a shared flag between the files of a batch), the file being
processed is finished, the outputs of a batch processed but not yet written are dropped (see
:func:`process_files`), the results of the files done are handed back, and KeyboardInterrupt is
raised again. A signal that arrives while the parent records a result is held until it is
recorded (:class:`HeldInterrupts`). A second signal while they finish kills the workers.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, InvalidStateError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from dicomscrub.audit import pack
from dicomscrub.discover import Source
from dicomscrub.pipeline import Scrubber
from dicomscrub.process import FileResult, Job, Status, process_files
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.pseudonym import Key, Pseudonymizer
from dicomscrub.writer import OutputPlan

_JOB: Job | None = None
_STOP: Any = None  # a shared byte (see OrderedPool): 1 when the parent stops starting files
BATCH = 64
"""The most files in one task."""
SMALL_BATCH = 16
"""Files per task when the number of files is not known."""


def batch_size(left: int, jobs: int) -> int:
    """Files in the next task when ``left`` files are still to be handed out: each worker's share
    of them, from 1 to :data:`BATCH`. Large tasks cost less in the pool's queues
    and pipes, and give a worker the slices of a series together (the first slice of a layout
    it has not seen costs it several times what the next ones do: see
    :mod:`dicomscrub.structure`); small ones at the end keep every worker busy to the last
    file."""
    return max(1, min(BATCH, left // jobs))


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to build its :class:`Job` (picklable; holds the key in memory only)."""

    profile: CompiledProfile
    key: Key
    plan: OutputPlan
    stream: bool = True
    subjects: dict[str, str] | None = None  # --mapping-in: Patient ID -> pseudonym
    collect_mapping: bool = False  # --mapping-out: results carry original -> new values
    leak_check: bool = True  # the fail-closed check of each output (off only in benchmarks)
    dry_run: bool = False  # run --dry-run: everything but the writes

    def build(self) -> Job:
        scrubber = Scrubber(
            self.profile,
            Pseudonymizer(self.key, self.subjects),
            collect_mapping=self.collect_mapping,
        )
        return Job(
            scrubber,
            self.plan,
            stream=self.stream,
            leak_check=self.leak_check,
            dry_run=self.dry_run,
        )


_WORKER_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _quiet_cancelled_futures() -> None:
    """Python 3.11's pool thread, when a worker dies after the parent cancelled the tasks still
    queued (a second Ctrl-C), tries to fail those cancelled tasks and dies printing a traceback
    of InvalidStateError (the tasks stay cancelled; nothing else goes wrong). That one error of
    that thread is not printed; every other goes to the hook as before."""
    previous = threading.excepthook
    if getattr(previous, "_dicomscrub", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is InvalidStateError and type(args.thread).__name__ == (
            "_ExecutorManagerThread"
        ):
            return
        previous(args)

    hook._dicomscrub = True  # type: ignore[attr-defined]
    threading.excepthook = hook


def _init_worker(spec: JobSpec, stop: Any, parent: int | None = None) -> None:
    global _JOB, _STOP
    # the parent decides what Ctrl-C and SIGTERM (sent to the whole process group by timeout,
    # cron or CI) do: it stops starting files and records those done (see HeldInterrupts); a
    # worker ends when its parent is gone (_end_with), or is killed by a second signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _WORKER_SIGNALS)  # (blocked by the fork)
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent,), name="parent-watch", daemon=True).start()
    _JOB = spec.build()
    _STOP = stop
    tune_gc()


PARENT_POLL = 0.2
"""Seconds between two checks by a worker that its parent is alive."""


def _end_with(parent: int) -> None:
    """End this worker process once ``parent`` is gone. A parent killed with SIGKILL (the
    out-of-memory killer, ``kill -9``) tells its workers nothing: they would wait for work forever,
    holding the output folder's lock (inherited), so that every later run is refused. Ending at
    any moment is safe: an output being written has no name yet (see :mod:`dicomscrub.writer`)."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    os._exit(1)


GC_THRESHOLD = 10_000
"""Allocations between two collections of the youngest generation in a worker (Python's default,
700, collected some 35 times a second while a worker de-identifies files, 3 % of its time)."""


def tune_gc() -> None:
    """For a process that only processes files from now on: what exists now (modules, the job)
    is moved out of the collector's sight (never garbage), and the youngest generation is collected
    less often (the objects of a file are freed by reference counting when it is done)."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 50, 100)


def _work(sources: list[Source]) -> list[FileResult]:
    """A batch, in order; it ends early when the parent stops starting files (the files not
    done are not in the list: see :func:`process_files`)."""
    assert _JOB is not None
    flag = _STOP
    stop = (lambda: flag.value != 0) if flag is not None else None
    return [pack(result) for result in process_files(sources, _JOB, stop)]


def _died(source: Source) -> FileResult:
    return FileResult(
        input=source.rel,
        root=str(source.root),
        status=Status.FAILED,
        detail="the worker process died while processing this file (out of memory or a crash)",
        sort_key=source.sort_key,
    )


Item = Source | FileResult
"""A file to process, or a result already known in the parent (e.g. done by an earlier run)."""


Entry = tuple[list[Source] | FileResult, "Future[list[FileResult]] | None"]
"""A batch of files and its task, or a result already known."""


class HeldInterrupts:
    """Ctrl-C and SIGTERM in the parent, held except while it waits for files to be processed.

    A KeyboardInterrupt raised at any bytecode could land between the audit row of a result and
    its resume record, or after a finished batch was taken from the pool and before all of its
    results were recorded: files written, never audited. While :attr:`holding` is set, the
    signal is only noted; :meth:`check`, called after each result is recorded, raises it then.
    Waiting for the workers (or, with ``--jobs 1``, processing a batch) is done in
    :meth:`waiting`, where a signal raises at once: a run stops without delay, and the files
    being processed are finished and handed back by ``drain``. Used as a context manager
    around the run's loop; a no-op outside the main thread (signals cannot be handled there)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.holding = False
        self.held = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> HeldInterrupts:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._signal)
        return self

    def __exit__(self, *exc: object) -> None:
        self.holding = False
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _signal(self, signum: int, frame: object) -> None:
        if self.holding:
            self.held = True
            return
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise the interrupt held meanwhile, if any."""
        if self.held:
            self.held = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Signals raise at once in here (one held before is raised on entry)."""
        was = self.holding
        self.check()
        self.holding = False
        try:
            yield
        finally:
            self.holding = was


NO_HOLD = HeldInterrupts()
"""A guard never entered: holding it changes nothing (a signal raises at once)."""


def _lost(batch: list[Source], exc: Exception) -> list[FileResult]:
    """Failed results for a batch whose results could not come back from the worker."""
    results = [_died(source) for source in batch]
    for result in results:
        result.detail = f"internal error in the worker: {type(exc).__name__}"
    return results


def _submit(ex: ProcessPoolExecutor, batch: list[Source]) -> Future[list[FileResult]]:
    """``batch``'s task; a pool that broke before it could take it (a worker died since the last
    task was handed over) gives a task failed as if the pool had broken while it ran, so that its
    files are retried as those in flight are (the run is never stopped by it)."""
    try:
        return ex.submit(_work, batch)
    except BrokenProcessPool as exc:
        broken: Future[list[FileResult]] = Future()
        broken.set_exception(exc)
        return broken


def _finished(item: list[Source] | FileResult, fut: Future[list[FileResult]] | None) -> list[Item]:
    """The results of the files done before the pool broke, and the files to do again."""
    if isinstance(item, FileResult):
        return [item]
    done: list[FileResult] = []
    if fut is not None and fut.done() and not fut.cancelled() and fut.exception() is None:
        done = fut.result()
    return [*done, *item[len(done) :]]


class OrderedPool:
    """A process pool that yields results in input order with a bounded number in flight."""

    def __init__(self, spec: JobSpec, jobs: int, window: int | None = None) -> None:
        self.spec = spec
        self.jobs = jobs
        self.window = window or jobs * 4  # batches in flight
        self._executor: ProcessPoolExecutor | None = None
        self._context = multiprocessing.get_context("fork")
        # a byte of shared memory without a lock (an Event's lock, held by a worker killed while
        # it looked at it, is never released: every worker after it waited forever)
        self._stop = self._context.RawValue("b", 0)
        self.pending: deque[Entry] = deque()
        self.ready: deque[FileResult] = deque()  # results of a finished batch not yet handed over
        self.retry: deque[Item] = deque()  # after a worker died: what is left to hand over or retry
        self.died = False  # a worker died: it may have left a temporary file
        self._broken = False  # the pool broke while draining: its workers are killed at close
        self._hold = NO_HOLD

    def _start(self) -> ProcessPoolExecutor:
        # fork: workers start at once with everything imported. The first submit launches all
        # of them before the executor's own thread starts; start() does it before the progress
        # bar starts its thread, so no thread is running when the process forks. (Its result is
        # not waited for: the inputs are walked while the workers start.)
        self._executor = ProcessPoolExecutor(
            self.jobs,
            mp_context=self._context,
            initializer=_init_worker,
            initargs=(self.spec, self._stop, os.getpid()),
        )
        # Ctrl-C and SIGTERM are blocked while the workers fork, and each worker unblocks them
        # once it has its own handlers: one signalled before that would run the parent's handler
        # (a KeyboardInterrupt traceback from a worker). The parent gets them after the fork.
        _quiet_cancelled_futures()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _WORKER_SIGNALS)
        try:
            self._executor.submit(int)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return self._executor

    def start(self) -> None:
        if self._executor is None:
            self._start()

    def terminate(self) -> None:
        """End the workers now: a second Ctrl-C, a broken pool (the caller removes temporary
        files)."""
        ex = self._executor
        if ex is None:
            return
        processes = list(getattr(ex, "_processes", {}).values())
        ex.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            proc.kill()  # (workers ignore SIGTERM: see _init_worker)
        for proc in processes:
            proc.join(5)
        self._executor = None

    def run(
        self, items: Iterable[Item], total: int | None = None, hold: HeldInterrupts = NO_HOLD
    ) -> Iterator[FileResult]:
        """Results in input order (``total``: how many ``items`` there are, for the size of the
        batches). On KeyboardInterrupt, call :meth:`drain`, then :meth:`close`. With ``hold``
        held by the caller, a signal is raised only while a batch is waited for, or by the
        caller's ``hold.check()`` once it has recorded a result: nothing taken off the queue is
        lost (see :class:`HeldInterrupts`)."""
        ex = self._executor or self._start()
        self._hold = hold
        ready = self.ready
        pending = self.pending
        it = iter(items)
        exhausted = False
        batch: list[Source] = []
        left = total  # items not yet taken from ``it``
        size = SMALL_BATCH
        while True:
            while not exhausted and len(pending) < self.window:
                item = next(it, None)
                if item is None:
                    exhausted = True
                    continue
                if left is not None:
                    left -= 1
                if isinstance(item, FileResult):
                    if batch:  # results stay in input order
                        pending.append((batch, _submit(ex, batch)))
                        batch = []
                    pending.append((item, None))
                else:
                    if not batch and left is not None:
                        size = batch_size(left + 1, self.jobs)
                    batch.append(item)
                    if len(batch) >= size:
                        pending.append((batch, _submit(ex, batch)))
                        batch = []
            if exhausted and batch:
                pending.append((batch, _submit(ex, batch)))
                batch = []
            if not pending:
                return
            entry, fut = pending[0]  # left in place until done, for drain() after Ctrl-C
            if fut is None:
                pending.popleft()
                assert isinstance(entry, FileResult)
                yield entry
                continue
            assert isinstance(entry, list)
            try:
                with hold.waiting():
                    results = fut.result()
            except BrokenProcessPool:
                self.died = True
                items_left = [x for i, f in pending for x in _finished(i, f)]
                pending.clear()
                yield from self._recover(items_left, hold)
                ex = self._start()
                continue
            except Exception as exc:  # process_file never raises; a result that cannot travel
                results = _lost(entry, exc)
            ready.extend(results)
            pending.popleft()
            while ready:
                yield ready.popleft()

    def _recover(self, items: list[Item], hold: HeldInterrupts) -> Iterator[FileResult]:
        """After a worker died: retry the files in flight one by one in a fresh pool. What is
        left stays where :meth:`drain` finds it after Ctrl-C: the results not yet handed over in
        :attr:`retry`, the file being retried in :attr:`pending`."""
        self.terminate()
        retry = self.retry = deque(items)
        while retry:
            item = retry.popleft()
            if isinstance(item, FileResult):
                yield item
                continue
            ex = self._executor or self._start()
            fut = _submit(ex, [item])
            self.pending.append(([item], fut))
            try:
                with hold.waiting():
                    results = fut.result()
            except BrokenProcessPool:
                self.terminate()
                results = [_died(item)]
            except Exception as exc:  # (a result that cannot travel: as in run)
                results = _lost([item], exc)
            self.pending.popleft()
            self.ready.extend(results)
            while self.ready:
                yield self.ready.popleft()
        self.terminate()

    def drain(self) -> Iterator[FileResult]:
        """After Ctrl-C: start no other file (cancel what has not started, and tell the workers
        to end their batches); hand back, in order, what finishes. A second Ctrl-C terminates
        the workers (the caller then removes temporary files)."""
        self._stop.value = 1
        pending = self.pending
        for _, fut in pending:
            if fut is not None:
                fut.cancel()
        try:
            while self.ready:
                yield self.ready.popleft()
            while pending or self.retry:
                if not pending:  # (after a worker died: the results waiting behind the retry)
                    left = self.retry.popleft()
                    if isinstance(left, FileResult):
                        yield left
                    continue
                item, fut = pending.popleft()
                if fut is None:
                    assert isinstance(item, FileResult)
                    yield item
                elif not fut.cancelled():
                    try:
                        with self._hold.waiting():
                            results = fut.result()
                    except Exception:  # e.g. BrokenProcessPool: the files were not finished
                        self._broken = self.died = True  # (the others wait for work: see close)
                        continue
                    yield from results
        except KeyboardInterrupt:
            self.terminate()

    def close(self) -> None:
        if self._broken:  # a worker died while draining: waiting for the others never ends
            self.terminate()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


class InlineRun:
    """``--jobs 1``: everything in this process, in order (simple to debug and test), in batches
    of :data:`SMALL_BATCH` files (see :func:`process_files`). The results of a batch wait in
    :attr:`ready` until handed over, so that after Ctrl-C :meth:`drain` hands over those of the
    files done (their outputs are in place)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.ready: deque[FileResult] = deque()

    def run(self, items: Iterable[Item], hold: HeldInterrupts = NO_HOLD) -> Iterator[FileResult]:
        batch: list[Source] = []
        for item in items:
            if isinstance(item, FileResult):
                yield from self._batch(batch, hold)
                batch = []
                yield item
                continue
            batch.append(item)
            if len(batch) >= SMALL_BATCH:
                yield from self._batch(batch, hold)
                batch = []
        yield from self._batch(batch, hold)

    def _batch(self, batch: list[Source], hold: HeldInterrupts) -> Iterator[FileResult]:
        if not batch:
            return
        done: list[FileResult] = []
        try:
            with hold.waiting():
                process_files(batch, self.job, results=done)
        finally:  # (on Ctrl-C, the files done before it)
            self.ready.extend(map(pack, done))  # (as a worker's: counted once, rows shared)
        yield from self.drain()

    def drain(self) -> Iterator[FileResult]:
        while self.ready:
            yield self.ready.popleft()
