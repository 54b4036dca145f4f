"""``run --scheduler``: the per-file work on a real Dask cluster (a LocalCluster of worker processes
on loopback) gives the same files and audit as the local engine, survives a killed worker, resumes,
and keeps its key to memory. Skipped only where the dask extra is not installed."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

import cloudpickle  # noqa: E402  (after the skip: installed with distributed)
import dask  # noqa: E402
import pydicom  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from distributed.diagnostics.plugin import WorkerPlugin  # noqa: E402

from corpus import KEY_TEXT, bundled, fictional, snapshot  # noqa: E402
from dicomscrub.cli import cli  # noqa: E402
from dicomscrub.cluster import ClusterPool, SchedulerLost  # noqa: E402
from dicomscrub.process import FileResult, Status  # noqa: E402
from dicomscrub.pseudonym import Key  # noqa: E402
from dicomscrub.report import Report  # noqa: E402
from dicomscrub.runner import execute, job_spec, plan_run  # noqa: E402
from dicomscrub.writer import TEMP_PREFIX  # noqa: E402

Tree = Callable[..., Path]
WORKERS = 3

# The poison plugin below is defined here: workers get it by value, not by importing this file.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    settings = {
        "distributed.comm.timeouts.connect": "5s",
        "distributed.scheduler.allowed-failures": 1,  # a poison file kills two workers, not four
        "distributed.scheduler.worker-saturation": 1.0,  # one task per worker thread at a time
    }
    with (
        dask.config.set(settings),
        distributed.LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as local,
    ):
        yield local


@pytest.fixture
def client(cluster: Any) -> Iterator[Any]:
    with distributed.Client(cluster, set_as_default=False) as c:
        c.wait_for_workers(WORKERS, timeout=60)  # after a test that killed one
        yield c


def audit_text(path: Path, out: Path) -> str:
    return path.read_text(encoding="utf-8").replace(f"/{out.name}/", "/")


def audit_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [row for row in csv.DictReader(fh) if row["record"] == "file"]


def local_reference(inputs: Path, tmp_path: Path, key: Key) -> Path:
    out = tmp_path / "local"
    report = execute(plan_run([inputs], out, key=key, jobs=1))
    assert report.counts["failed"] == 0
    return out


def mixed_tree(tree: Tree, count: int, **kwargs: int) -> Path:
    """``count`` DICOM files, a non-DICOM file and a rejected (burned-in) image."""
    inputs = tree(count, **kwargs)
    (inputs / "notes.txt").write_text("not DICOM", encoding="utf-8")
    ds = pydicom.dcmread(bundled("CT_small.dcm"))
    fictional(ds, 900, 1, 1, 1).BurnedInAnnotation = "YES"
    ds.save_as(inputs / "DOE_JANE900_burned.dcm", enforce_file_format=True)
    return inputs


def no_temp_files(out: Path) -> bool:
    return not [p for p in out.rglob("*") if p.name.startswith(TEMP_PREFIX)]


def test_cluster_writes_the_same_bytes_and_audit_as_the_local_engine(
    cluster: Any, tree: Tree, tmp_path: Path, key: Key
) -> None:
    inputs = mixed_tree(tree, 30)
    local = local_reference(inputs, tmp_path, key)
    out = tmp_path / "dask"
    report = execute(plan_run([inputs], out, key=key, scheduler=cluster.scheduler_address))
    assert dict(report.counts) == {"written": 30, "skipped": 1, "rejected": 1}
    assert snapshot(out) == snapshot(local)
    assert audit_text(tmp_path / "dask.audit.csv", out) == audit_text(
        tmp_path / "local.audit.csv", local
    )
    assert sorted((out / ".dicomscrub").iterdir()) == [
        out / ".dicomscrub" / "lock",
        out / ".dicomscrub" / "state.sqlite",
    ]  # the workers' token file is gone


class Caught(WorkerPlugin):
    """Catches one worker in the middle of its task and holds it there until it is killed: with
    ``named`` temporary files (as on a file system without O_TMPFILE, NFS, the usual shared
    storage) the first worker to have written a temporary file in full, before it is linked;
    else the worker that starts the run's twelfth file (a task is eight). The worker caught
    writes its process id into ``folder/caught`` and waits there (at most a minute)."""

    def __init__(self, folder: Path, named: bool) -> None:
        self.folder, self.named = folder, named

    def setup(self, worker: Any) -> None:
        import dicomscrub.process
        import dicomscrub.writer

        folder = self.folder

        def catch() -> None:
            try:  # (the first to claim it: one worker only)
                fd = os.open(folder / "claim", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                return
            os.close(fd)
            (folder / "caught.partial").write_text(str(os.getpid()), encoding="ascii")
            os.replace(folder / "caught.partial", folder / "caught")
            time.sleep(60)  # (killed here)

        self.saved = (dicomscrub.writer._unnamed, dicomscrub.writer._write_parts)
        self.saved_process = real_process = dicomscrub.process.process_file
        if self.named:
            real_write = dicomscrub.writer._write_parts

            def written(*args: Any, **kwargs: Any) -> None:
                real_write(*args, **kwargs)
                catch()  # (the temporary file written, not linked yet)

            dicomscrub.writer._unnamed = False
            dicomscrub.writer._write_parts = written
        else:

            def started(*args: Any, **kwargs: Any) -> Any:
                (folder / f"started-{os.getpid()}-{time.monotonic_ns()}").touch()
                if len(list(folder.glob("started-*"))) >= 12:
                    catch()
                return real_process(*args, **kwargs)

            dicomscrub.process.process_file = started

    def teardown(self, worker: Any) -> None:
        import dicomscrub.process
        import dicomscrub.writer

        dicomscrub.writer._unnamed, dicomscrub.writer._write_parts = self.saved
        dicomscrub.process.process_file = self.saved_process


class Killer(threading.Thread):
    """Kills, with SIGKILL, the worker :class:`Caught` caught, once it is; looks until told to
    stop (the run has ended)."""

    def __init__(self, folder: Path, pids: set[int]) -> None:
        super().__init__(daemon=True)
        self.folder, self.pids, self.killed = folder, pids, 0
        self.stop = threading.Event()

    def run(self) -> None:
        caught = self.folder / "caught"
        while not self.stop.is_set():
            if caught.exists():
                pid = int(caught.read_text(encoding="ascii"))
                assert pid in self.pids
                os.kill(pid, signal.SIGKILL)
                self.killed = pid
                return
            time.sleep(0.001)


def killed_run(
    client: Any, cluster: Any, inputs: Path, out: Path, key: Key, folder: Path
) -> Report:
    """A run during which the worker :class:`Caught` caught is killed with SIGKILL."""
    pids: dict[str, int] = client.run(os.getpid)
    plan = plan_run([inputs], out, key=key, scheduler=cluster.scheduler_address)
    killer = Killer(folder, set(pids.values()))
    killer.start()
    try:
        report = execute(plan)
    finally:
        killer.stop.set()
        killer.join()
    assert killer.killed, "no worker was caught"
    return report


@pytest.mark.parametrize("named", [True, False], ids=["named-temporary-files", "unnamed"])
def test_a_worker_killed_mid_run_loses_no_file_and_leaves_no_partial_one(
    cluster: Any, client: Any, tree: Tree, tmp_path: Path, key: Key, named: bool
) -> None:
    inputs = tree(48, pixel_bytes=4 << 20)
    out = tmp_path / "dask"
    folder = tmp_path / "caught"
    folder.mkdir()
    client.register_plugin(Caught(folder, named), name="caught")
    try:
        report = killed_run(client, cluster, inputs, out, key, folder)
    finally:
        client.unregister_worker_plugin("caught")
    # files of the killed worker's batch whose outputs were linked are found identical
    assert report.counts["written"] + report.counts["skipped"] == 48, report.failures
    assert no_temp_files(out)  # the one a worker killed while writing left was removed
    assert snapshot(out) == snapshot(local_reference(inputs, tmp_path, key))
    rows = audit_rows(tmp_path / "dask.audit.csv")
    assert [r["input"] for r in rows] == sorted(
        p.relative_to(inputs).as_posix() for p in inputs.rglob("*.dcm")
    )
    assert {r["status"] for r in rows} <= {"written", "skipped"}


class Poison(WorkerPlugin):
    """Makes the worker process die, as the out-of-memory killer would, on one file."""

    def __init__(self, victim: str) -> None:
        self.victim = victim

    def setup(self, worker: Any) -> None:
        import dicomscrub.process as tasks

        real = tasks.process_file

        def dying(source: Any, job: Any) -> Any:
            if source.rel == self.victim:
                os._exit(3)
            return real(source, job)

        tasks.process_file = dying  # type: ignore[assignment]
        self.real = real

    def teardown(self, worker: Any) -> None:
        import dicomscrub.process as tasks

        tasks.process_file = self.real  # type: ignore[method-assign]


def test_a_file_that_keeps_killing_workers_is_recorded_failed_and_the_batch_goes_on(
    cluster: Any, client: Any, tree: Tree, tmp_path: Path, key: Key
) -> None:
    inputs = tree(9)
    victim = sorted(p.relative_to(inputs).as_posix() for p in inputs.rglob("*.dcm"))[4]
    client.register_plugin(Poison(victim), name="poison")
    try:
        plan = plan_run([inputs], tmp_path / "dask", key=key, scheduler=cluster.scheduler_address)
        report = not_hung(lambda: execute(plan))
    finally:
        client.unregister_worker_plugin("poison")
    assert report.counts["written"] + report.counts["skipped"] == 8
    assert [(r.input, r.status) for r in report.failures] == [(victim, Status.FAILED)]
    assert report.failures[0].detail == (
        "the Dask workers processing this file died 2 times (out of memory or a crash); not written"
    )
    assert no_temp_files(tmp_path / "dask")


HUNG = 300  # seconds: a safety net against a hang, not a time budget of the test


def not_hung(run: Callable[[], Report]) -> Report:
    """``run()`` in a thread of its own: a run still waiting after :data:`HUNG` seconds (on a
    machine so loaded that the killed workers never came back, a run waits for workers, as a
    Dask client does) fails the test instead of hanging the suite."""
    done: list[Report | BaseException] = []

    def target() -> None:
        try:
            done.append(run())
        except BaseException as exc:  # (re-raised in the test's thread)
            done.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HUNG)
    if not done:
        pytest.fail(f"the run was still waiting after {HUNG} s (no worker came back?)")
    if isinstance(done[0], BaseException):
        raise done[0]
    return done[0]


class SlowFiles(WorkerPlugin):
    """Workers take at least 40 ms a file, so that a run of small files is far from done when
    the parent has its first results (else the two workers can finish them all before)."""

    def setup(self, worker: Any) -> None:
        import dicomscrub.process

        self.saved = real = dicomscrub.process.process_file

        def slow(*args: Any, **kwargs: Any) -> Any:
            time.sleep(0.04)
            return real(*args, **kwargs)

        dicomscrub.process.process_file = slow

    def teardown(self, worker: Any) -> None:
        import dicomscrub.process

        dicomscrub.process.process_file = self.saved


def test_an_interrupted_cluster_run_keeps_finished_files_and_the_rerun_finishes_it(
    cluster: Any, client: Any, tree: Tree, tmp_path: Path, key: Key
) -> None:
    inputs, out = tree(96), tmp_path / "dask"  # 12 tasks: far from done after 5 files
    client.register_plugin(SlowFiles(), name="slow-files")
    seen: list[FileResult] = []

    def ctrl_c_after_five(result: FileResult) -> None:
        seen.append(result)
        if len(seen) == 5:
            raise KeyboardInterrupt

    plan = plan_run([inputs], out, key=key, scheduler=cluster.scheduler_address)
    try:
        first = execute(plan, on_result=ctrl_c_after_five)
    finally:
        client.unregister_worker_plugin("slow-files")
    assert first.interrupted and int(first.exit_code) == 130
    assert 5 <= first.counts["written"] < 96 and first.counts["failed"] == 0
    assert no_temp_files(out)
    written = {r["output"] for r in audit_rows(tmp_path / "dask.audit.csv")}
    assert written == set(snapshot(out))  # every file the audit names is there, and only those

    second = execute(plan)
    assert _jobs_held(client) == []  # each run took its job and its guard back
    assert second.counts["unchanged"] == first.counts["written"]
    assert second.counts["unchanged"] + second.counts["written"] + second.counts["skipped"] == 96
    assert int(second.exit_code) == 0
    assert snapshot(out) == snapshot(local_reference(inputs, tmp_path, key))


def _in_a_batch() -> bool:
    """On a worker: whether it is processing a batch of files."""
    from dicomscrub import cluster_worker

    return cluster_worker._ONE_AT_A_TIME.locked()


def _jobs_held(client: Any) -> list[str]:
    """The names of dicomscrub's plugins on the scheduler (jobs and guards) and on the workers."""

    def on_scheduler(dask_scheduler: Any) -> list[str]:
        names = [*dask_scheduler.worker_plugins, *dask_scheduler.plugins]
        return [n for n in names if n.startswith("dicomscrub-")]

    def on_worker(dask_worker: Any) -> list[str]:
        return [n for n in dask_worker.plugins if n.startswith("dicomscrub-")]

    held: list[str] = client.run_on_scheduler(on_scheduler)
    for names in client.run(on_worker).values():
        held += names
    return held


def test_a_killed_client_leaves_no_job_on_the_cluster(
    cluster: Any, client: Any, tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    """The job holds the key: a client killed with SIGKILL cannot take it back, so the
    scheduler's guard does once the client has not come back, and no file starts after that."""
    inputs, out = tree(96), tmp_path / "dask"
    client.register_plugin(SlowFiles(), name="slow-files")
    command = [sys.executable, "-m", "dicomscrub", "run", str(inputs), "-o", str(out)]
    command += ["--key-file", str(key_file), "--scheduler", cluster.scheduler_address, "-q"]

    def written() -> int:
        return len(list(out.rglob("*.dcm")))

    # the guard waits twice the client's connect timeout for it to come back: 2 s here
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    try:
        run = subprocess.Popen(command, start_new_session=True, env=env)
        try:
            deadline = time.monotonic() + 60
            while written() < 8:
                assert run.poll() is None and time.monotonic() < deadline, "the run did not start"
                time.sleep(0.01)
            held = _jobs_held(client)
            assert any(name.endswith("-guard") for name in held), held
            run.send_signal(signal.SIGKILL)
        finally:
            run.kill()
            run.wait()
        deadline = time.monotonic() + 30
        while _jobs_held(client):
            assert time.monotonic() < deadline, f"still held: {_jobs_held(client)}"
            time.sleep(0.05)
        # a file being processed when the job was taken back is finished: then no worker is
        # in a batch any more, and no file starts after
        deadline = time.monotonic() + 30
        while any(client.run(_in_a_batch).values()):
            assert time.monotonic() < deadline, "a worker is still in a batch"
            time.sleep(0.05)
        done = written()
        time.sleep(0.5)
        assert written() == done < 96
        assert no_temp_files(out)
    finally:
        client.unregister_worker_plugin("slow-files")


def _drop_clients_but(dask_scheduler: Any, keep: str) -> list[str]:
    """Close the connection of every client but ``keep`` (a network failure, as they see it)."""
    dropped = []
    for client_id, stream in list(dask_scheduler.client_comms.items()):
        if client_id not in (keep, "fire-and-forget") and stream.comm is not None:
            stream.comm.abort()
            dropped.append(client_id)
    return dropped


def _run_dropping_connection(
    cluster: Any,
    client: Any,
    inputs: Path,
    out: Path,
    key: Key,
    at: tuple[int, ...],
    then: Callable[[], None] = lambda: None,
    connect: str = "1s",
) -> tuple[Report, list[FileResult], list[list[str]]]:
    """A run (40 ms a file) whose connection to the scheduler is dropped when it has ``at``
    results, ``then()`` called after each drop; the report, the results and the clients dropped."""
    client.register_plugin(SlowFiles(), name="slow-files")
    seen: list[FileResult] = []
    dropped: list[list[str]] = []

    def drop(result: FileResult) -> None:
        seen.append(result)
        if len(seen) in at:
            dropped.append(client.run_on_scheduler(_drop_clients_but, keep=client.id))
            then()

    try:
        with dask.config.set({"distributed.comm.timeouts.connect": connect}):
            plan = plan_run([inputs], out, key=key, scheduler=cluster.scheduler_address)
            report = execute(plan, on_result=drop)
    finally:
        client.unregister_worker_plugin("slow-files")
    return report, seen, dropped


def test_a_client_that_reconnects_keeps_its_job(
    cluster: Any, client: Any, tree: Tree, tmp_path: Path, key: Key
) -> None:
    """A network failure between client and scheduler is not a killed client: the guard waits
    for the client to come back (it does, under the same id) and leaves its job alone."""
    held_after: list[list[str]] = []

    def wait_past_the_guard() -> None:
        time.sleep(3)  # (more than the guard's 2 s)
        held_after.append(_jobs_held(client))

    report, seen, dropped = _run_dropping_connection(
        cluster, client, tree(200), tmp_path / "dask", key, (5,), wait_past_the_guard
    )
    assert len(dropped) == 1 and dropped[0]  # the run's client lost its connection
    assert held_after and any(not name.endswith("-guard") for name in held_after[0])
    assert not [r for r in seen if "had no job" in r.detail]
    assert report.counts["written"] > 5
    assert _jobs_held(client) == []


def test_the_tasks_a_dropped_connection_cancelled_are_handed_out_again(
    cluster: Any, client: Any, tree: Tree, tmp_path: Path, key: Key
) -> None:
    """Dask cancels every task of a client whose connection fails; dicomscrub waits for the
    client to connect again and hands them out again: no file fails, twice over, and the output
    is the local engine's. (No pause after a drop: the run sees the cancelled tasks at once.)"""
    inputs, out = tree(120), tmp_path / "dask"
    report, seen, dropped = _run_dropping_connection(
        cluster, client, inputs, out, key, (5, 40), connect="2s"
    )
    assert len(dropped) == 2 and all(dropped)  # the run's client lost its connection twice
    assert not report.interrupted and report.counts["failed"] == 0, [
        r.detail for r in seen if r.status is Status.FAILED
    ]
    # a task cancelled while its worker ran it may have written files all the same: found again
    assert report.counts["written"] + report.counts["skipped"] == 120
    again = [r.detail for r in seen if r.status is Status.SKIPPED]
    assert all(detail == "identical output already present" for detail in again)
    assert int(report.exit_code) == 0
    assert _jobs_held(client) == []
    assert no_temp_files(out)
    assert snapshot(out) == snapshot(local_reference(inputs, tmp_path, key))


class _Reconnecting:
    """A client whose connection failed: ``connecting`` for a few looks, then ``after``, with
    the scheduler ``now`` behind it."""

    def __init__(self, after: str, now: str) -> None:
        self.looks, self.after, self.now = 0, after, now

    @property
    def status(self) -> str:
        self.looks += 1
        return "connecting" if self.looks < 4 else self.after

    def scheduler_info(self, n_workers: int = -1) -> dict[str, str]:
        return {"id": self.now}


@pytest.mark.parametrize(
    ("after", "now", "says"),
    [
        ("closed", "scheduler-1", "lost the connection to the Dask scheduler at tcp://sched:8786"),
        ("running", "scheduler-2", "was replaced during the run (a new scheduler holds no job)"),
    ],
)
def test_cancelled_tasks_are_not_handed_to_a_client_that_gave_up_or_to_another_scheduler(
    tmp_path: Path, key: Key, after: str, now: str, says: str
) -> None:
    (tmp_path / "in").mkdir()
    plan = plan_run([tmp_path / "in"], tmp_path / "out", key=key, jobs=1)
    pool = ClusterPool(job_spec(plan), "tcp://sched:8786")
    pool._client, pool._scheduler_id = _Reconnecting(after, now), "scheduler-1"
    with pytest.raises(SchedulerLost, match=re.escape(says)):
        pool._await_connection()
    pool._client = None


def test_a_lost_scheduler_stops_the_run_as_an_interruption_and_the_rerun_finishes_it(
    tree: Tree, tmp_path: Path, key: Key
) -> None:
    inputs, out = tree(40), tmp_path / "dask"
    settings = {"distributed.comm.timeouts.connect": "1s"}  # how long the client tries again
    with (
        dask.config.set(settings),
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as doomed,
        distributed.Client(doomed, set_as_default=False) as helper,
    ):
        helper.register_plugin(SlowFiles(), name="slow-files")  # (not done when it is closed)
        seen: list[FileResult] = []

        def close_the_cluster_after_three(result: FileResult) -> None:
            seen.append(result)
            if len(seen) == 3:
                doomed.close()

        plan = plan_run([inputs], out, key=key, scheduler=doomed.scheduler_address)
        first = execute(plan, on_result=close_the_cluster_after_three)
    assert first.interrupted and int(first.exit_code) == 130
    assert first.stop_reason == (
        f"lost the connection to the Dask scheduler at {doomed.scheduler_address}"
    )
    assert 3 <= first.counts["written"] < 40 and first.counts["failed"] == 0
    assert no_temp_files(out)
    second = execute(plan_run([inputs], out, key=key, jobs=1))
    assert second.counts["unchanged"] == first.counts["written"]
    assert snapshot(out) == snapshot(local_reference(inputs, tmp_path, key))


def test_the_cli_runs_on_the_cluster_by_address_and_by_scheduler_file(
    cluster: Any, tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    inputs = tree(6)
    scheduler_file = tmp_path / "scheduler.json"
    scheduler_file.write_text(json.dumps({"address": cluster.scheduler_address}), encoding="utf-8")
    for name, target in (("a", cluster.scheduler_address), ("b", str(scheduler_file))):
        result = CliRunner().invoke(
            cli,
            [
                "run",
                str(inputs),
                "-o",
                str(tmp_path / name),
                "--key-file",
                str(key_file),
                "--scheduler",
                target,
                "--summary-json",
                str(tmp_path / f"{name}.json"),
            ],
        )
        assert result.exit_code == 0, result.output
        assert f"Dask scheduler {cluster.scheduler_address if name == 'a' else target}" in (
            result.output.replace("\n", "")
        )
        summary = json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))
        assert summary["counts"]["written"] == 6
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")


def test_the_key_and_input_names_reach_no_log_and_no_worker_file(
    cluster: Any, client: Any, tree: Tree, tmp_path: Path, key: Key
) -> None:
    inputs = tree(6)
    execute(plan_run([inputs], tmp_path / "dask", key=key, scheduler=cluster.scheduler_address))
    logs = repr(client.get_scheduler_logs()) + repr(client.get_worker_logs())
    assert KEY_TEXT not in logs and "DOE_JANE" not in logs
    assert KEY_TEXT not in repr(key)
    folders: dict[str, str] = client.run(lambda dask_worker: dask_worker.local_directory)
    for folder in set(folders.values()):
        for path in Path(folder).rglob("*"):
            if path.is_file():
                assert KEY_TEXT.encode() not in path.read_bytes(), path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_an_unreachable_scheduler_is_a_usage_error_before_anything_is_touched(
    tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    inputs, out, port = tree(2), tmp_path / "out", closed_port()
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code, output = run_cli(
            inputs, "-o", out, "--key-file", key_file, "--scheduler", f"tcp://127.0.0.1:{port}"
        )
    assert code == 2
    assert output.startswith(f"Error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}: ")
    assert "Traceback" not in output
    assert not out.exists() and not (tmp_path / "out.audit.csv").exists()


def test_a_scheduler_of_another_version_is_a_usage_error(
    cluster: Any, tree: Tree, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler reads the tasks and holds the job's guard: it runs the client's version."""
    import dicomscrub.cluster_guard

    # (this test's scheduler runs in this process: what it is asked, it answers from here)
    monkeypatch.setattr(dicomscrub.cluster_guard, "version", lambda: "0.0.1")
    inputs, out = tree(2), tmp_path / "out"
    code, output = run_cli(
        inputs, "-o", out, "--key-file", key_file, "--scheduler", cluster.scheduler_address
    )
    assert code == 2
    assert output == (
        f"Error: the Dask scheduler at {cluster.scheduler_address} runs dicomscrub 0.0.1, this "
        "client 0.1.0; install the same version everywhere\n"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ("--scheduler", "no-such-file.json"),
            "Error: --scheduler no-such-file.json: neither a scheduler address "
            "(tcp://HOST:8786) nor an existing scheduler file\n",
        ),
        (
            ("--scheduler", "tcp://127.0.0.1:8786", "--jobs", "2"),
            "Error: --jobs sets local worker processes; with --scheduler leave it out\n",
        ),
        (  # (it was reported at once, then the command hung 60 s and printed a traceback)
            ("--scheduler", "tpc://127.0.0.1:8786"),
            "Error: --scheduler tpc://127.0.0.1:8786: unknown protocol tpc:// (Dask's are "
            "inproc, tcp, tls, ucx, ws, wss; the usual one: tcp://HOST:8786)\n",
        ),
        (
            ("--scheduler", "{not_json}"),
            "Error: --scheduler {not_json}: not a scheduler file (the JSON with the "
            "scheduler's address that `dask scheduler --scheduler-file FILE` writes)\n",
        ),
    ],
)
def test_scheduler_usage_errors_exit_2(
    tree: Tree, tmp_path: Path, key_file: Path, extra: tuple[str, ...], message: str
) -> None:
    not_json = tmp_path / "scheduler.json"
    not_json.write_text("not json\n", encoding="utf-8")
    extra = tuple(e.format(not_json=not_json) for e in extra)
    started = time.monotonic()
    code, output = run_cli(tree(1), "-o", tmp_path / "out", "--key-file", key_file, *extra)
    assert (code, output) == (2, message.format(not_json=not_json))
    assert time.monotonic() - started < 10


def test_without_the_extra_scheduler_says_how_to_install_it(
    tree: Tree, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dicomscrub.cluster

    monkeypatch.setattr(dicomscrub.cluster, "dask_installed", lambda: False)
    code, output = run_cli(
        tree(1), "-o", tmp_path / "out", "--key-file", key_file, "--scheduler", "tcp://h:8786"
    )
    assert (code, output) == (
        2,
        "Error: --scheduler needs the dask extra: pip install 'dicomscrub[dask]'\n",
    )


def test_a_run_without_scheduler_never_imports_dask(
    tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from dicomscrub.cli import cli\n"
        "args = ['run', sys.argv[1], '-o', sys.argv[2], '--key-file', sys.argv[3], '-q']\n"
        "for jobs in ('1', '2'):\n"
        "    result = CliRunner().invoke(cli, [*args, '--jobs', jobs])\n"
        "    assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tree(3)), str(tmp_path / "out"), str(key_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


def test_a_task_that_breaks_keeps_the_results_of_the_files_it_finished(
    tree: Tree, tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dicomscrub.cluster_worker as tasks
    import dicomscrub.process
    from dicomscrub.discover import discover

    inputs = tree(4)
    sources = discover([inputs])
    spec = job_spec(plan_run([inputs], tmp_path / "out", key=key, jobs=2))
    real = dicomscrub.process.process_file
    seen: list[str] = []

    def broken(source: Any, job: Any) -> FileResult:
        seen.append(source.rel)
        if len(seen) == 3:
            raise RuntimeError("a bug")
        return real(source, job)

    monkeypatch.setattr(dicomscrub.process, "process_file", broken)
    monkeypatch.setitem(tasks._JOBS, "test-job", spec.build())
    monkeypatch.setattr(dicomscrub.process, "DEFER_FILES", 1)  # each output written at once
    results = tasks.scrub(sources, job_name="test-job")
    assert [r.input for r in results] == [s.rel for s in sources]
    assert [r.status for r in results] == [Status.WRITTEN] * 2 + [Status.FAILED] * 2
    assert "internal error on the Dask worker: RuntimeError" in results[2].detail
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 2
