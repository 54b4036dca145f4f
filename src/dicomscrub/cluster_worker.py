"""What runs inside the Dask workers of ``run --scheduler`` (see :mod:`dicomscrub.cluster`).

This module imports ``distributed`` at the top: only :mod:`dicomscrub.cluster` imports it, and only
once a run has been given ``--scheduler``.

The job (profile, key, output plan) reaches each worker as a worker plugin: the scheduler keeps it
in memory and hands it to every worker, including workers that join or are restarted during the
run, and it never enters the worker's data store, which Dask may spill to disk. The plugin builds
the :class:`Job` once per worker process; every task is then a batch of files, each processed
exactly as the local pool processes it (``process_files`` then ``pack``), and returns their
plain :class:`FileResult` s. A task never raises: a failure is a result record, so that Dask logs
nothing about a file (its arguments name input paths, which can hold patient names).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from dicomscrub import __version__
from dicomscrub.audit import pack
from dicomscrub.discover import Source
from dicomscrub.parallel import JobSpec
from dicomscrub.process import FileResult, Job, Status, process_files, safe_message

_JOBS: dict[str, Job | str] = {}
"""Plugin name -> the job built from it, or why this worker cannot do it. The client withdraws
the plugin when the run ends or is interrupted: a task that starts after that does nothing."""

_ONE_AT_A_TIME = threading.Lock()
"""Batches are processed one at a time per worker process: process_file sets pydicom's global
validation mode and warning filters for the file it works on, which threads would share. Start
workers with ``--nthreads 1`` and as many processes as cores (``--nworkers``)."""


class JobPlugin(WorkerPlugin):
    """Carries a run's :class:`JobSpec` (and so its key, in memory only) to every worker."""

    def __init__(self, name: str, spec: JobSpec, marker: tuple[str, str] | None) -> None:
        self.name = name  # also the name the plugin is registered under
        self.spec = spec
        self.marker = marker  # (path, token) the client wrote in the output's state folder
        self.version = __version__

    def __repr__(self) -> str:  # never the spec: it holds the key and any imported subjects
        return f"JobPlugin({self.name!r})"

    def setup(self, worker: Any) -> None:
        _JOBS[self.name] = _build(self)

    def teardown(self, worker: Any) -> None:
        _JOBS.pop(self.name, None)


def _build(plugin: JobPlugin) -> Job | str:
    if plugin.version != __version__:
        return (
            f"the Dask worker runs dicomscrub {__version__}, the client {plugin.version}; "
            "install the same version everywhere"
        )
    if plugin.marker is not None:
        path, token = plugin.marker
        try:
            seen = Path(path).read_text(encoding="ascii").strip()
        except OSError:
            seen = ""
        if seen != token:
            return (
                f"the Dask worker does not see the output folder {plugin.spec.plan.root} the "
                "client writes to (it needs the same shared storage, mounted at the same path)"
            )
    try:
        return plugin.spec.build()
    except Exception as exc:  # a broken environment on one worker must not raise in Dask's logs
        return f"the Dask worker cannot build the job: {safe_message(exc)}"


def scrub(sources: list[Source], *, job_name: str) -> list[FileResult]:
    """A batch of files on a worker: the task of ``run --scheduler``. Never raises.

    The results are in order. The job is looked up before each file: once the client has
    withdrawn it (Ctrl-C), the batch ends, and the files not done are not in the list (see
    :func:`process_files`)."""
    job = _JOBS.get(job_name)
    if job is None:
        return []
    if isinstance(job, str):
        return [_failed(source, job) for source in sources]

    def withdrawn() -> bool:
        return _JOBS.get(job_name) is not job

    done: list[FileResult] = []
    try:
        with _ONE_AT_A_TIME:
            process_files(sources, job, withdrawn, results=done)
    except Exception as exc:  # process_files never raises: the files done, the others failed
        detail = f"internal error on the Dask worker: {safe_message(exc)}"
        done += [_failed(s, detail) for s in sources[len(done) :]]
    results = []
    for source, result in zip(sources, done, strict=False):
        try:
            results.append(pack(result))
        except Exception as exc:  # pack could only fail on a bug
            results.append(
                _failed(source, f"internal error on the Dask worker: {safe_message(exc)}")
            )
    return results


def _failed(source: Source, detail: str) -> FileResult:
    return FileResult(
        input=source.rel,
        root=str(source.root),
        status=Status.FAILED,
        detail=detail,
        sort_key=source.sort_key,
    )


def facts(paths: list[str]) -> dict[str, Any]:
    """What the client checks on each worker before a run: the dicomscrub version, and which of
    the inputs it cannot see."""
    return {"version": __version__, "missing": [p for p in paths if not os.path.exists(p)]}
