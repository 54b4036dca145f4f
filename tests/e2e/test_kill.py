"""A run killed with SIGKILL (or stopped with Ctrl-C) in the middle leaves only complete, valid
outputs, and the next run finishes with the same bytes as an uninterrupted run."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest

from corpus import snapshot
from dicomscrub.state import LockedError, OutputLock
from dicomscrub.writer import TEMP_PREFIX

Tree = Callable[..., Path]
FILES = 60
POLL_LIMIT = 60_000  # polls, not a time budget: the test waits for files, never for a duration
# (a run started on a loaded machine took more than 2,000 polls to write its first file)

HOLD = """
import sys, time
from pathlib import Path
held, release = sys.argv[1], Path(sys.argv[2])
sys.argv = ["dicomscrub", *sys.argv[3:]]
from dicomscrub._startup import defer_unused_pydicom_modules
defer_unused_pydicom_modules()
import dicomscrub.process
real = dicomscrub.process.process_file

def holding(source, job):  # (inherited by the forked workers)
    while source.rel == held and not release.exists():
        time.sleep(0.005)
    return real(source, job)

dicomscrub.process.process_file = holding
from dicomscrub.__main__ import main

main()
"""
"""``python -m dicomscrub`` whose workers do not start the file ``held`` until the file
``release`` exists: a run held so is still running when the test stops it, however fast the
machine or loaded the test (a run of small files could otherwise finish between the test's last
look at its outputs and its signal)."""


def start(
    inputs: Path, out: Path, key_file: Path, *extra: str, release: Path | None = None
) -> subprocess.Popen[bytes]:
    """The run; with ``release``, one that holds its last file until ``release`` exists."""
    command = ["-m", "dicomscrub"]
    if release is not None:
        held = max(p.relative_to(inputs).as_posix() for p in inputs.rglob("*.dcm"))
        command = ["-c", HOLD, held, str(release)]
    return subprocess.Popen(
        [
            sys.executable,
            *command,
            "run",
            str(inputs),
            "-o",
            str(out),
            "--key-file",
            str(key_file),
            "--jobs",
            "2",
            "-q",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the signal reaches the workers too
    )


@contextlib.contextmanager
def held_run(
    inputs: Path, out: Path, key_file: Path, *extra: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A run holding its last file (see :data:`HOLD`) and the file that releases it; a run
    left behind by a failed test is killed, its workers with it."""
    release = out.parent / f"{out.name}.release"
    proc = start(inputs, out, key_file, *extra, release=release)
    try:
        yield proc, release
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def finished_outputs(out: Path) -> list[Path]:
    return [p for p in out.rglob("*.dcm") if ".dicomscrub" not in p.parts]


def wait_for_outputs(proc: subprocess.Popen[bytes], out: Path, count: int) -> None:
    """Until ``count`` outputs are in place (a held run cannot finish before)."""
    for _ in range(POLL_LIMIT):
        if len(finished_outputs(out)) >= count:
            return
        assert proc.poll() is None, f"the run ended before it wrote {count} files"
        time.sleep(0.002)
    raise AssertionError(f"the run wrote fewer than {count} files in {POLL_LIMIT} polls")


def assert_only_complete_files(out: Path) -> None:
    leftovers = [p for p in out.rglob("*") if p.name.startswith(TEMP_PREFIX)]
    visible = finished_outputs(out)
    for path in visible:  # every file under a final name is complete and valid
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES"
        assert len(ds.PixelData) == ds.Rows * ds.Columns * 2 * int(ds.get("NumberOfFrames", 1))
    assert all(not p.name.endswith(".dcm") for p in leftovers)


def assert_rerun_matches_an_uninterrupted_run(
    inputs: Path, out: Path, key_file: Path, reference: Path
) -> None:
    rerun = start(inputs, out, key_file)
    _, err = rerun.communicate()
    assert rerun.returncode == 0, err.decode()
    fresh = start(inputs, reference, key_file)
    _, err = fresh.communicate()
    assert fresh.returncode == 0, err.decode()
    assert not [p for p in out.rglob("*") if p.name.startswith(TEMP_PREFIX)]
    assert snapshot(out) == snapshot(reference)


def kill_mid_run(inputs: Path, out: Path, key_file: Path, *, whole_group: bool) -> None:
    """Start a run and kill it with SIGKILL once it has written a few outputs: the parent and
    its workers (``whole_group``), or the parent alone. (The run holds its last file: it is
    still running when killed.)"""
    with held_run(inputs, out, key_file) as (proc, _):
        wait_for_outputs(proc, out, 5)
        if whole_group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()  # (not communicate(): living workers would keep its stderr open)
        assert proc.stderr is not None
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL


def test_sigkill_mid_run_leaves_complete_files_and_rerun_matches_uninterrupted_run(
    tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    inputs = tree(FILES, pixel_bytes=1 << 20)
    out = tmp_path / "killed"
    kill_mid_run(inputs, out, key_file, whole_group=True)
    assert 5 <= len(finished_outputs(out)) < FILES
    assert_only_complete_files(out)

    assert_rerun_matches_an_uninterrupted_run(inputs, out, key_file, tmp_path / "reference")
    kept = tmp_path / "killed.audit.interrupted-1.csv"  # the killed run's rows are kept
    assert kept.read_text(encoding="utf-8").startswith("record,root,input,output,status")
    assert len(snapshot(out)) == FILES


def test_ctrl_c_mid_run_exits_130_keeping_finished_files_and_no_partial_one(
    tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    inputs = tree(FILES, pixel_bytes=1 << 20)
    out, summary = tmp_path / "out", tmp_path / "summary.json"
    with held_run(inputs, out, key_file, "--summary-json", str(summary)) as (proc, release):
        wait_for_outputs(proc, out, 5)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the whole group
        release.touch()  # (the file held is finished, as any file being processed is)
        _, err = proc.communicate()
    assert proc.returncode == 130, err.decode()
    assert "interrupted: finished files kept" in err.decode()
    assert "Traceback" not in err.decode()
    assert_only_complete_files(out)
    assert not [p for p in out.rglob("*") if p.name.startswith(TEMP_PREFIX)]
    with (tmp_path / "out.audit.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["record"] == "file"]
    written = {r["output"] for r in rows if r["status"] == "written"}
    assert written == {p.relative_to(out).as_posix() for p in finished_outputs(out)}
    assert '"interrupted": true' in summary.read_text(encoding="utf-8")
    rerun = start(inputs, out, key_file)
    rerun.communicate()
    assert rerun.returncode == 0 and len(finished_outputs(out)) == FILES


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_whole_group_leaves_every_output_audited_recorded_and_counted(
    tree: Tree, tmp_path: Path, key_file: Path, signum: int
) -> None:
    """Ctrl-C from a terminal, or SIGTERM from timeout, cron or CI, reaches the parent and its
    workers: the parent stops starting files, and every file whose output is in place has its
    audit row, its resume record and its count in the summary (none is lost between them)."""
    inputs = tree(400)
    out, summary = tmp_path / "out", tmp_path / "summary.json"
    with held_run(inputs, out, key_file, "--summary-json", str(summary)) as (proc, release):
        wait_for_outputs(proc, out, 60)
        os.killpg(proc.pid, signum)
        release.touch()  # (the file held is finished, as any file being processed is)
        _, err = proc.communicate()
    assert proc.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    with (tmp_path / "out.audit.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["record"] == "file"]
    written = {r["output"] for r in rows if r["status"] == "written"}
    outputs = {p.relative_to(out).as_posix() for p in finished_outputs(out)}
    assert written == outputs
    assert json.loads(summary.read_text(encoding="utf-8"))["counts"]["written"] == len(written)
    rerun = start(inputs, out, key_file)  # every file recorded is unchanged, none done again
    _, err = rerun.communicate()
    assert rerun.returncode == 0, err.decode()
    with (tmp_path / "out.audit.csv").open(encoding="utf-8", newline="") as fh:
        again = [r for r in csv.DictReader(fh) if r["record"] == "file"]
    assert sum(r["status"] == "unchanged" for r in again) == len(written)
    assert sum(r["status"] == "written" for r in again) == 400 - len(written)


def _lock_free(out: Path) -> bool:
    try:
        with OutputLock(out):
            return True
    except LockedError:
        return False


def test_workers_end_when_the_parent_alone_is_killed_and_the_next_run_is_not_refused(
    tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    inputs = tree(FILES, pixel_bytes=1 << 20)
    out = tmp_path / "killed"
    kill_mid_run(inputs, out, key_file, whole_group=False)  # as the out-of-memory killer does
    assert len(finished_outputs(out)) < FILES
    for _ in range(POLL_LIMIT):  # the workers held the lock: it is free once they are gone
        if _lock_free(out):
            break
        time.sleep(0.002)
    assert _lock_free(out), "the workers of the killed run still hold the output folder's lock"
    assert_only_complete_files(out)
    assert_rerun_matches_an_uninterrupted_run(inputs, out, key_file, tmp_path / "reference")
