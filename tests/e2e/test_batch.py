"""The batch engine: resume, lock, parallel workers, rejection and quarantine, CI summary."""

from __future__ import annotations

import csv
import errno
import gc
import json
import multiprocessing
import os
import shutil
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner

import dicomscrub.parallel
import dicomscrub.process
import dicomscrub.quarantine
import dicomscrub.runner
import dicomscrub.writer
from corpus import TEST_FILES, bundled, fictional, refuse_listing, snapshot
from dicomscrub.cli import cli
from dicomscrub.process import FileResult, Status
from dicomscrub.pseudonym import Key
from dicomscrub.runner import RunError, execute, job_spec, plan_run
from dicomscrub.state import OutputLock, StateStore
from dicomscrub.writer import TEMP_PREFIX

Tree = Callable[..., Path]


def audit_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [row for row in csv.DictReader(fh) if row["record"] == "file"]


def statuses(path: Path) -> list[str]:
    return [row["status"] for row in audit_rows(path)]


def run_cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def burned_in(folder: Path) -> Path:
    ds = pydicom.dcmread(bundled("CT_small.dcm"))
    fictional(ds, 900, 1, 1, 1)
    ds.BurnedInAnnotation = "YES"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "DOE_JANE900_burned.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_second_run_marks_done_files_unchanged_and_writes_nothing(
    tree: Tree, tmp_path: Path, key: Key
) -> None:
    inputs, out = tree(12), tmp_path / "out"
    first = execute(plan_run([inputs], out, key=key, jobs=1))
    written = snapshot(out)
    first_rows = audit_rows(tmp_path / "out.audit.csv")
    second = execute(plan_run([inputs], out, key=key, jobs=1))
    assert first.counts["written"] == 12 and int(first.exit_code) == 0
    assert second.counts["unchanged"] == 12 and second.counts["written"] == 0
    assert int(second.exit_code) == 0
    assert snapshot(out) == written
    rows = audit_rows(tmp_path / "out.audit.csv")
    assert {r["status"] for r in rows} == {"unchanged"}
    same = ("input", "output", "methods", "method_codes", "private_kept", "private_removed")
    assert [[r[c] for c in same] for r in rows] == [[r[c] for c in same] for r in first_rows]
    assert all(r["detail"].startswith("done by an earlier run") for r in rows)


def test_new_inputs_are_processed_and_done_ones_are_not(
    tree: Tree, tmp_path: Path, key: Key
) -> None:
    inputs, out = tree(6), tmp_path / "out"
    execute(plan_run([inputs], out, key=key, jobs=1))
    ds = pydicom.dcmread(bundled("MR_small.dcm"))
    fictional(ds, 77, 1, 1, 1).save_as(inputs / "late.dcm", enforce_file_format=True)
    report = execute(plan_run([inputs], out, key=key, jobs=1))
    assert report.counts["unchanged"] == 6 and report.counts["written"] == 1
    assert (
        dict(
            zip(
                [r["input"] for r in audit_rows(tmp_path / "out.audit.csv")],
                statuses(tmp_path / "out.audit.csv"),
                strict=True,
            )
        )["late.dcm"]
        == "written"
    )


def test_an_input_touched_since_is_checked_again_and_found_identical(
    tree: Tree, tmp_path: Path, key: Key
) -> None:
    inputs, out = tree(3), tmp_path / "out"
    execute(plan_run([inputs], out, key=key, jobs=1))
    first = sorted(inputs.rglob("*.dcm"))[0]
    os.utime(first, ns=(1_000_000_000, 1_000_000_000))
    report = execute(plan_run([inputs], out, key=key, jobs=1))
    assert report.counts["unchanged"] == 2 and report.counts["skipped"] == 1
    third = execute(plan_run([inputs], out, key=key, jobs=1))
    assert third.counts["unchanged"] == 3  # the identical output was recorded as done


def test_an_input_replaced_by_another_of_the_same_size_and_time_is_processed_again(
    tree: Tree, tmp_path: Path, key: Key
) -> None:
    """``cp -p`` of another patient's file of the same size over a done input keeps its size and
    modification time; its change time is new, so the next run de-identifies it (it used to be
    "unchanged", its output the earlier patient's)."""
    inputs, out = tree(2), tmp_path / "out"
    execute(plan_run([inputs], out, key=key, jobs=1))
    first, _ = sorted(inputs.rglob("*.dcm"))
    ds = pydicom.dcmread(first)
    uid = ds.SOPInstanceUID  # another instance, its UID of the same length: the same size
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid[:-1] + str(9 - int(uid[-1]))
    replacement = tmp_path / "replacement.dcm"
    ds.save_as(replacement)
    assert replacement.stat().st_size == first.stat().st_size
    before = first.stat()
    time.sleep(0.02)  # (a change time that can differ at the file system's resolution)
    shutil.copyfile(replacement, first)
    os.utime(first, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (first.stat().st_size, first.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    report = execute(plan_run([inputs], out, key=key, jobs=1))
    assert report.counts["unchanged"] == 1 and report.counts["written"] == 1, report.counts


def test_other_settings_do_not_count_earlier_files_as_done(
    tree: Tree, tmp_path: Path, key: Key
) -> None:
    """Another option: nothing counts as done, and the report says that the folder holds files
    written otherwise. Another key would name every output otherwise: refused."""
    inputs, out = tree(3), tmp_path / "out"
    execute(plan_run([inputs], out, key=key, jobs=1))
    report = execute(plan_run([inputs], out, key=key, jobs=1, options=("clean-descriptors",)))
    assert report.counts["unchanged"] == 0
    assert report.other_settings
    with pytest.raises(RunError, match="another key or layout"):
        plan_run([inputs], out, key=Key(b"another-key-0123456789", "file"), jobs=1)


def test_two_workers_give_the_same_files_and_audit_as_one(
    tree: Tree, tmp_path: Path, key: Key
) -> None:
    inputs = tree(20)
    burned_in(inputs / "odd")
    (inputs / "notes.txt").write_text("not DICOM", encoding="utf-8")
    one = execute(plan_run([inputs], tmp_path / "one", key=key, jobs=1))
    two = execute(plan_run([inputs], tmp_path / "two", key=key, jobs=2))
    assert one.counts == two.counts
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")
    a = (tmp_path / "one.audit.csv").read_text(encoding="utf-8").replace("/one/", "/")
    b = (tmp_path / "two.audit.csv").read_text(encoding="utf-8").replace("/two/", "/")
    assert a == b
    inputs_order = [r["input"] for r in audit_rows(tmp_path / "two.audit.csv")]
    assert inputs_order == sorted(inputs_order)


def test_a_worker_that_dies_fails_only_its_own_file(
    tree: Tree, tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = tree(8)
    victim = sorted(p.relative_to(inputs).as_posix() for p in inputs.rglob("*.dcm"))[3]
    real = dicomscrub.process.process_file

    def dying(source: object, job: object) -> FileResult:
        if getattr(source, "rel", "") == victim:
            os._exit(3)  # as if killed by the out-of-memory killer
        return real(source, job)  # type: ignore[arg-type]

    monkeypatch.setattr(dicomscrub.process, "process_file", dying)  # inherited by the fork
    report = execute(plan_run([inputs], tmp_path / "out", key=key, jobs=2))
    # a file whose worker was stopped when the pool broke, after its output was linked, is
    # found identical when retried
    assert report.counts["written"] + report.counts["skipped"] == 7
    assert report.counts["failed"] == 1
    assert [r.input for r in report.failures] == [victim]
    assert "worker process died" in report.failures[0].detail


def test_a_second_run_on_a_locked_output_is_refused_with_exit_2(
    tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    inputs, out = tree(2), tmp_path / "out"
    with OutputLock(out):
        before = sorted(p.name for p in tmp_path.iterdir())
        code, output = run_cli(inputs, "-o", out, "--key-file", key_file)
    assert code == 2
    assert f"output folder {out} is in use by another dicomscrub run" in output
    assert not any(out.rglob("*.dcm"))
    # the refused run claimed the audit first, and gave it up: no audit and no .partial of it
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    code, _ = run_cli(inputs, "-o", out, "--key-file", key_file)  # the lock is gone with it
    assert code == 0
    audit = (tmp_path / "out.audit.csv").read_bytes()
    with OutputLock(out):
        assert run_cli(inputs, "-o", out, "--key-file", key_file)[0] == 2
    # the audit of the run before is left as it was, not kept aside as "earlier"
    assert (tmp_path / "out.audit.csv").read_bytes() == audit
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "out.audit.csv"])


def test_temporary_files_of_a_killed_run_are_removed_at_start(
    tree: Tree, tmp_path: Path, key: Key
) -> None:
    inputs, out = tree(2), tmp_path / "out"
    execute(plan_run([inputs], out, key=key, jobs=1))
    leftover = out / "somewhere" / f"{TEMP_PREFIX}999-abc"
    leftover.parent.mkdir()
    leftover.write_bytes(b"half a file")
    state = StateStore(out, "x")
    state.begin_run()  # a run that never finished
    state.close()
    report = execute(plan_run([inputs], out, key=key, jobs=1))
    assert report.swept == 1 and not leftover.exists()


def test_the_state_folder_holds_no_identifying_value(tree: Tree, tmp_path: Path, key: Key) -> None:
    inputs, out = tree(6), tmp_path / "out"
    execute(plan_run([inputs], out, key=key, jobs=1))
    stored = b"".join(p.read_bytes() for p in (out / ".dicomscrub").iterdir())
    with sqlite3.connect(out / ".dicomscrub" / "state.sqlite") as db:
        stored += repr(db.execute("SELECT * FROM done").fetchall()).encode()
    for path in inputs.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        rel = path.relative_to(inputs).as_posix()
        for value in (str(ds.PatientName), ds.PatientID, ds.StudyInstanceUID, ds.SOPInstanceUID):
            assert value.encode() not in stored
        for part in rel.split("/"):
            assert part.encode() not in stored
        assert str(inputs).encode() not in stored
        assert str(path.stat().st_mtime_ns).encode() not in stored


def test_burned_in_annotation_is_rejected_quarantined_and_fails_the_job(
    tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    inputs, out, review = tree(2), tmp_path / "out", tmp_path / "review"
    original = burned_in(inputs / "odd").read_bytes()
    summary = tmp_path / "ci" / "summary.json"
    code, output = run_cli(
        inputs,
        "-o",
        out,
        "--key-file",
        key_file,
        "--quarantine",
        review,
        "--summary-json",
        summary,
    )
    assert code == 1
    assert "rejected: odd/DOE_JANE900_burned.dcm: Burned In Annotation (0028,0301) is YES" in output
    rows = {r["input"]: r for r in audit_rows(tmp_path / "out.audit.csv")}
    row = rows["odd/DOE_JANE900_burned.dcm"]
    assert row["status"] == "rejected" and row["output"] == ""
    copies = [p for p in review.iterdir() if p.suffix == ".dcm"]
    assert len(copies) == 1 and copies[0].read_bytes() == original
    assert "DOE" not in copies[0].name and copies[0].name in row["detail"]
    with (review / "index.csv").open(encoding="utf-8", newline="") as fh:
        index = list(csv.DictReader(fh))
    assert [(r["quarantine_file"], r["input"]) for r in index] == [
        (copies[0].name, "odd/DOE_JANE900_burned.dcm")
    ]
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert doc["counts"] == {"written": 2, "unchanged": 0, "skipped": 0, "failed": 0, "rejected": 1}
    assert doc["exit_code"] == 1 and doc["files"] == 3 and doc["seconds"] >= 0
    assert doc["failures"][0]["input"] == "odd/DOE_JANE900_burned.dcm"
    assert doc["failures"][0]["reason"].startswith("Burned In Annotation (0028,0301) is YES")
    assert set(doc) >= {"started", "finished", "files_per_second", "mb_per_second"}
    assert not any("burned" in p.name for p in out.rglob("*"))


@pytest.mark.parametrize("temporary", ["unnamed", "named"])
@pytest.mark.parametrize("folder", ["made by the run", "there before"])
def test_quarantine_copies_and_index_are_for_the_run_s_user_only(
    tree: Tree,
    tmp_path: Path,
    key_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    temporary: str,
    folder: str,
) -> None:
    """The copies and the index hold full identity: mode 0600 as the crosswalk, and the folder
    0700 when the run makes it (one there already keeps its mode; the folders made above it are
    made as any folder). Whichever way the copy's temporary file is made."""
    inputs, review = tree(1), tmp_path / "shared" / "review"
    burned_in(inputs / "odd")
    if folder == "there before":
        review.mkdir(parents=True, mode=0o755)
    if temporary == "named":  # (a file system without O_TMPFILE)
        monkeypatch.setattr(dicomscrub.writer, "_unnamed", False)
    previous = os.umask(0o022)
    try:
        args = (inputs, "-o", tmp_path / "out", "--key-file", key_file, "--quarantine", review)
        assert run_cli(*args)[0] == 1
    finally:
        os.umask(previous)
    copies = [p for p in review.iterdir() if p.suffix == ".dcm"]
    assert len(copies) == 1
    assert stat.S_IMODE(copies[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((review / "index.csv").stat().st_mode) == 0o600
    expected = 0o700 if folder == "made by the run" else 0o755
    assert stat.S_IMODE(review.stat().st_mode) == expected
    assert stat.S_IMODE(review.parent.stat().st_mode) == 0o755


def test_a_rejected_input_whose_mode_changed_is_not_copied_aside_twice(
    tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    """A chmod changes an input's change time, which the resume state counts; the quarantine
    names a copy by size and modification time only, so the next run finds it there."""
    inputs, review = tree(1), tmp_path / "review"
    burned = burned_in(inputs / "odd")
    args = (inputs, "-o", tmp_path / "out", "--key-file", key_file, "--quarantine", review)
    assert run_cli(*args)[0] == 1
    burned.chmod(0o600)
    assert run_cli(*args)[0] == 1
    assert len([p for p in review.iterdir() if p.suffix == ".dcm"]) == 1
    with (review / "index.csv").open(encoding="utf-8", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 1


def test_allow_rejected_exits_0_when_only_rejections_happened(
    tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    inputs = tree(1)
    burned_in(inputs)
    code, _ = run_cli(inputs, "-o", tmp_path / "out", "--key-file", key_file, "--allow-rejected")
    assert code == 0


def test_a_quarantine_that_fails_during_the_run_is_noted_per_file_and_the_batch_goes_on(
    tree: Tree, tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quarantine is checked when the run is planned, but it can change (or its disk fill)
    while the run goes on: each rejected input then says what became of it, and every other
    input, the audit and the summary are done as ever."""
    inputs, review = tree(3), tmp_path / "review"
    burned_in(inputs / "a")
    burned_in(inputs / "z")
    summary = tmp_path / "summary.json"
    plan = plan_run(
        [inputs],
        tmp_path / "out",
        key=key,
        jobs=1,
        quarantine=review,
        summary_json=summary,
        allow_rejected=True,
    )
    (review / "index.csv").mkdir(parents=True)  # after the plan: the index cannot be written
    report = execute(plan)
    assert report.exit_code == 1  # not set aside for review: --allow-rejected does not cover it
    rows = {r["input"]: r for r in audit_rows(tmp_path / "out.audit.csv")}
    assert [r["status"] for r in rows.values()].count("written") == 3
    for name in ("a/DOE_JANE900_burned.dcm", "z/DOE_JANE900_burned.dcm"):
        assert rows[name]["status"] == "rejected"
        assert "but not listed in its index: Is a directory" in rows[name]["detail"]
    assert report.counts["rejected"] == 2 and report.counts["written"] == 3
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert doc["counts"]["rejected"] == 2 and doc["files"] == 5
    assert (doc["quarantine_failed"], doc["exit_code"]) == (2, 1)
    assert len([p for p in review.iterdir() if p.suffix == ".dcm"]) == 2  # (copied, unlisted)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(dicomscrub.quarantine, "write_atomic", full)
    (review / "index.csv").rmdir()
    for copy in review.iterdir():
        copy.unlink()
    plan = plan_run([inputs], tmp_path / "out2", key=key, jobs=1, quarantine=review)
    report = execute(plan)
    rows = {r["input"]: r for r in audit_rows(tmp_path / "out2.audit.csv")}
    assert len(rows) == 5 and report.counts["written"] == 3
    assert rows["z/DOE_JANE900_burned.dcm"]["detail"].endswith(
        "; quarantine copy failed: No space left on device"
    )
    assert list(review.iterdir()) == []


def test_allow_rejected_exits_1_when_a_rejected_input_could_not_be_set_aside(
    tree: Tree, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--allow-rejected trusts the quarantine to hold the rejected inputs for review: one it
    could not copy (a full disk) or list makes the run fail."""
    inputs, review, summary = tree(1), tmp_path / "review", tmp_path / "summary.json"
    burned_in(inputs)
    args = (inputs, "--key-file", key_file, "--quarantine", review, "--allow-rejected")
    code, output = run_cli(*args, "-o", tmp_path / "out")
    assert code == 0, output  # set aside: --allow-rejected as ever

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    for copy in review.iterdir():
        copy.unlink()
    monkeypatch.setattr(dicomscrub.quarantine, "write_atomic", full)
    code, output = run_cli(*args, "-o", tmp_path / "out2", "--summary-json", summary, "-q")
    assert code == 1, output
    assert "quarantine copy failed: No space left on device" in output
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert doc["exit_code"] == 1 and doc["counts"]["rejected"] == 1 and doc["counts"]["failed"] == 0


@pytest.mark.parametrize("when", ["walking the inputs", "opening the state"])
def test_a_run_stopped_before_any_file_says_so_in_its_summary(
    tree: Tree, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """SIGTERM (or Ctrl-C) while a large tree is walked, or while the output folder is made
    ready: exit 130, and the summary of an earlier run is replaced by one that says this run
    was interrupted, with its counts so far (none); once the inputs are being walked, the audit
    is written too (of no file), the earlier one kept aside as ever."""
    inputs, summary = tree(2), tmp_path / "summary.json"
    args = (inputs, "-o", tmp_path / "out", "--key-file", key_file, "--summary-json", summary)
    assert run_cli(*args)[0] == 0
    assert json.loads(summary.read_text(encoding="utf-8"))["exit_code"] == 0
    earlier_audit = (tmp_path / "out.audit.csv").read_text(encoding="utf-8")

    def stop(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # (as the CLI's SIGTERM handler raises it)

    if when == "walking the inputs":
        monkeypatch.setattr(dicomscrub.runner, "discover", stop)
    else:
        monkeypatch.setattr(StateStore, "begin_run", stop)
    code, output = run_cli(*args, "-q")
    assert code == 130, output
    assert "interrupted: finished files kept" in output and "Traceback" not in output
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert doc["interrupted"] is True and doc["exit_code"] == 130
    assert doc["files"] == 0 and doc["started"] and doc["finished"]
    if when == "walking the inputs":
        assert statuses(tmp_path / "out.audit.csv") == []
        kept = (tmp_path / "out.audit.earlier-1.csv").read_text(encoding="utf-8")
        assert kept == earlier_audit
    else:  # (no audit of this run: the earlier one stays where it is)
        assert (tmp_path / "out.audit.csv").read_text(encoding="utf-8") == earlier_audit
    monkeypatch.undo()
    code, output = run_cli(*args, "-q")  # the next run finds it all done
    assert code == 0, output
    assert statuses(tmp_path / "out.audit.csv") == ["unchanged", "unchanged"]


def test_quarantine_inside_the_output_is_refused(tmp_path: Path, key: Key) -> None:
    with pytest.raises(
        RunError, match=r"quarantine folder .* must not be inside the output folder"
    ):
        plan_run(
            [TEST_FILES / "CT_small.dcm"],
            tmp_path / "out",
            key=key,
            quarantine=tmp_path / "out" / "q",
        )


def test_quiet_prints_nothing_when_all_goes_well(
    tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    result = CliRunner().invoke(
        cli, ["run", str(tree(2)), "-o", str(tmp_path / "out"), "--key-file", str(key_file), "-q"]
    )
    assert result.exit_code == 0 and result.output == ""


def test_run_help_documents_the_batch_options_and_exit_codes() -> None:
    text = CliRunner().invoke(cli, ["run", "-h"]).output
    for word in ("--jobs", "--quarantine", "--summary-json", "--allow-rejected", "130", "in use"):
        assert word in text


def test_statuses_cover_every_audit_status() -> None:
    assert [s.value for s in Status] == [
        "written",
        "unchanged",
        "skipped",
        "failed",
        "rejected",
        "would-write",
    ]


def test_batches_are_large_while_many_files_are_left_and_small_at_the_end() -> None:
    sizes, left = [], 2000
    while left:
        sizes.append(min(left, dicomscrub.parallel.batch_size(left, 2)))
        left -= sizes[-1]
    assert sizes[0] == dicomscrub.parallel.BATCH
    assert sizes == sorted(sizes, reverse=True) and sizes[-2:] == [1, 1]
    assert dicomscrub.parallel.batch_size(20, 2) == 10
    assert dicomscrub.parallel.batch_size(0, 4) == 1


def test_a_resumed_run_with_two_workers_hands_back_every_file_in_order(
    tree: Tree, tmp_path: Path, key: Key
) -> None:
    # (done files, known in the parent, among those sent to the workers in guided batches)
    inputs = tree(30)
    out = tmp_path / "out"
    done = sorted(inputs.rglob("*.dcm"))[::3]
    elsewhere = tmp_path / "later"
    elsewhere.mkdir()
    later = [p for p in sorted(inputs.rglob("*.dcm")) if p not in done]
    for path in later:
        path.rename(elsewhere / path.name)
    execute(plan_run([inputs], out, key=key, jobs=2))
    for path in later:
        (elsewhere / path.name).rename(path)
    report = execute(plan_run([inputs], out, key=key, jobs=2))
    rows = audit_rows(tmp_path / "out.audit.csv")
    assert [r["input"] for r in rows] == sorted(r["input"] for r in rows)
    assert report.counts["unchanged"] == len(done)
    assert report.counts["written"] == len(later)


def test_a_pool_broken_before_a_batch_is_handed_over_stops_nothing(
    tree: Tree, tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a worker that dies between two tasks: the next submit raises BrokenProcessPool at once
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    inputs = tree(12)
    real = ProcessPoolExecutor.submit
    refused: list[int] = []

    def submit(self: ProcessPoolExecutor, fn: Callable[..., object], *args: object) -> object:
        if fn is dicomscrub.parallel._work and not refused:
            refused.append(1)
            raise BrokenProcessPool("a worker died")
        return real(self, fn, *args)

    monkeypatch.setattr(ProcessPoolExecutor, "submit", submit)
    report = execute(plan_run([inputs], tmp_path / "out", key=key, jobs=2))
    assert refused and report.counts["written"] == len(list(inputs.rglob("*.dcm")))
    assert not report.failures


def test_inputs_are_looked_up_in_the_state_only_once_something_is_done(
    tree: Tree, tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs, out = tree(3), tmp_path / "out"
    looked_up: list[str] = []
    real = StateStore.lookup

    def lookup(self: StateStore, input_key: str, fingerprint: str) -> object:
        looked_up.append(input_key)
        return real(self, input_key, fingerprint)

    monkeypatch.setattr(StateStore, "lookup", lookup)
    (out / ".dicomscrub").mkdir(parents=True)
    assert not StateStore(out, "x").has_done()
    first = execute(plan_run([inputs], out, key=key, jobs=1))
    assert first.counts["written"] == 3 and looked_up == []
    assert StateStore(out, "x").has_done()
    second = execute(plan_run([inputs], out, key=key, jobs=1))
    assert second.counts["unchanged"] == 3 and len(looked_up) == 3


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names descriptors in /proc")
@pytest.mark.parametrize("fsync", [False, True])
def test_the_audit_is_flushed_to_disk_when_the_outputs_are(
    tree: Tree, tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch, fsync: bool
) -> None:
    inputs, out = tree(3), tmp_path / "out"
    flushed: list[str] = []
    real = os.fsync

    def recorded(fd: int) -> None:
        flushed.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", recorded)
    report = execute(plan_run([inputs], out, key=key, jobs=1, fsync=fsync))
    assert report.counts["written"] == 3
    if fsync:
        # (the audit's descriptor names the file it was made as, linked to .partial since)
        audit_flushes = [n for n in flushed if n.startswith("out.audit.csv.partial")]
        assert len(audit_flushes) == 1 and len(flushed) == 4
    else:
        assert flushed == []
    assert (tmp_path / "out.audit.csv").is_file()


@pytest.mark.parametrize("fsync", [False, True])
def test_the_resume_state_is_flushed_to_disk_only_when_the_outputs_are(
    tmp_path: Path, fsync: bool
) -> None:
    (tmp_path / ".dicomscrub").mkdir()
    state = StateStore(tmp_path, "x", durable=fsync)
    assert state.db.execute("PRAGMA synchronous").fetchone() == ((1,) if fsync else (0,))
    assert state.db.execute("PRAGMA journal_mode").fetchone() == (b"wal",)
    state.close()


def _damage_a_page(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) >= 4 * page
    data[2 * page : 3 * page] = bytes(range(256)) * (page // 256)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["not a database", "a damaged page"])
def test_a_damaged_resume_state_is_set_aside_and_every_input_done_again(
    tree: Tree, tmp_path: Path, key_file: Path, damage: str
) -> None:
    inputs, out = tree(12), tmp_path / "out"
    summary = tmp_path / "summary.json"
    code, _ = run_cli(inputs, "-o", out, "--key-file", key_file)
    assert code == 0
    written = snapshot(out)
    db = out / ".dicomscrub" / "state.sqlite"
    if damage == "not a database":
        db.write_bytes(b"\x00not sqlite at all" * 300)
    else:
        _damage_a_page(db)
    code, output = run_cli(inputs, "-o", out, "--key-file", key_file, "--summary-json", summary)
    assert code == 0, output
    aside = json.loads(summary.read_text())["resume_state_set_aside"]
    assert aside and Path(aside).parent == db.parent and Path(aside).is_file()
    assert "resume state of this output folder could not be used" in " ".join(output.split())
    assert statuses(tmp_path / "out.audit.csv") == ["skipped"] * 12  # identical outputs found
    assert snapshot(out) == written
    code, _ = run_cli(inputs, "-o", out, "--key-file", key_file, "--summary-json", summary)
    assert code == 0 and statuses(tmp_path / "out.audit.csv") == ["unchanged"] * 12
    assert json.loads(summary.read_text())["resume_state_set_aside"] is None


def test_a_resume_state_that_cannot_be_opened_is_not_set_aside(
    tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    inputs, out = tree(2), tmp_path / "out"
    (out / ".dicomscrub" / "state.sqlite").mkdir(parents=True)  # not a file: cannot be opened
    code, output = run_cli(inputs, "-o", out, "--key-file", key_file)
    assert code == 2 and "cannot use the state database" in output
    assert sorted(p.name for p in (out / ".dicomscrub").iterdir()) == ["lock", "state.sqlite"]
    assert not any(out.rglob("*.dcm"))


def _gc_state() -> tuple[tuple[int, int, int], int]:
    return gc.get_threshold(), gc.get_freeze_count()


def test_workers_collect_garbage_less_often_and_never_look_at_what_they_inherited(
    tree: Tree, tmp_path: Path, key: Key
) -> None:
    spec = job_spec(plan_run([tree(1)], tmp_path / "out", key=key, jobs=2))
    context = multiprocessing.get_context("fork")
    pool = context.Pool(1, dicomscrub.parallel._init_worker, (spec, None))
    try:
        threshold, frozen = pool.apply(_gc_state)
    finally:  # (ended by its queue: workers ignore SIGTERM, which Pool.terminate sends)
        pool.close()
        pool.join()
    assert threshold[0] == dicomscrub.parallel.GC_THRESHOLD > gc.get_threshold()[0]
    assert frozen > 10_000  # the modules and the job


def test_ctrl_c_while_writing_with_one_job_records_the_files_already_written(
    tree: Tree, tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs, out = tree(6), tmp_path / "out"
    real = dicomscrub.process.write_atomic
    calls: list[Path] = []

    def interrupted(target: Path, parts: object, *, fsync: bool = True) -> None:
        calls.append(target)
        if len(calls) == 4:
            raise KeyboardInterrupt
        real(target, parts, fsync=fsync)  # type: ignore[arg-type]

    monkeypatch.setattr(dicomscrub.process, "write_atomic", interrupted)
    report = execute(plan_run([inputs], out, key=key, jobs=1))
    assert report.interrupted and report.counts["written"] == 3
    written = audit_rows(tmp_path / "out.audit.csv")
    assert [r["status"] for r in written] == ["written"] * 3
    assert len(list(out.rglob("*.dcm"))) == 3
    monkeypatch.undo()
    again = execute(plan_run([inputs], out, key=key, jobs=1))
    assert again.counts["unchanged"] == 3 and again.counts["written"] == 3


def test_a_folder_that_cannot_be_listed_fails_the_run(
    tree: Tree, tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = tree(2)
    (inputs / "locked").mkdir()
    refuse_listing(monkeypatch, "locked")
    report = execute(plan_run([inputs], tmp_path / "out", key=key, jobs=1))
    assert report.counts["written"] == 2 and report.counts["failed"] == 1
    assert int(report.exit_code) == 1
    assert [(r.input, r.detail) for r in report.failures] == [
        ("locked", "cannot list folder: Permission denied")
    ]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_collision_writes_nothing_and_counts_no_private_element(
    tree: Tree, tmp_path: Path, key: Key, jobs: int
) -> None:
    inputs, out = tree(3), tmp_path / "out"
    first = execute(plan_run([inputs], out, key=key, jobs=1))
    assert first.counts["written"] == 3 and first.private_removed > 0
    with (tmp_path / "out.audit.csv").open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["record"] == "file"]
    chosen = next(r for r in rows if int(r["private_removed"]) > 0)
    target = out / chosen["output"]
    target.write_bytes(target.read_bytes() + b"\0\0")  # no longer what the input gives
    (out / ".dicomscrub" / "state.sqlite").unlink()  # (so that every input is examined again)
    report = execute(plan_run([inputs], out, key=key, jobs=jobs))
    assert report.counts["failed"] == 1 and report.counts["skipped"] == 2
    with (tmp_path / "out.audit.csv").open(encoding="utf-8", newline="") as fh:
        failed = [r for r in csv.DictReader(fh) if r["status"] == "failed"]
    assert [(r["record"], r["private_kept"], r["private_removed"]) for r in failed] == [
        ("file", "0", "0")
    ]
    assert report.private_removed == first.private_removed - int(chosen["private_removed"])


def test_the_stop_flag_the_workers_share_has_no_lock_a_killed_worker_could_keep(
    tree: Tree, tmp_path: Path, key: Key
) -> None:
    # An Event's lock, held by a worker killed while it looked at the flag (a worker that died,
    # or the pool terminated to retry a batch), was never released: the others waited forever.
    spec = job_spec(plan_run([tree(1)], tmp_path / "out", key=key, jobs=2))
    pool = dicomscrub.parallel.OrderedPool(spec, 2)
    assert not hasattr(pool._stop, "get_lock") and not hasattr(pool._stop, "_cond")
    assert pool._stop.value == 0
    list(pool.drain())
    assert pool._stop.value == 1
    pool.close()


# ---- two inputs, one output path -----------------------------------------------------------------


def _colliding_pair(root: Path, same_bytes: bool) -> tuple[Path, Path]:
    """a/x.dcm and b/x.dcm with the same UIDs (one output path): the same bytes, or another
    Instance Number (kept by the Basic Profile: another output)."""
    paths = []
    for folder, number in (("a", 1), ("b", 1 if same_bytes else 2)):
        ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), 900, 1, 1, 1)
        ds.InstanceNumber = number
        path = root / folder / "x.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths[0], paths[1]


def test_files_from_just_before_the_run_are_not_its_own_and_files_from_just_after_are(
    tmp_path: Path, key: Key
) -> None:
    """File times come from the kernel's coarse clock, up to a tick behind the time a process
    reads: told apart by the file system's own clock, a file made just before the run is not
    one of its own (its collision stands) and one linked just after it is (it is taken back)."""
    from dicomscrub.runner import _FirstInOrder

    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "in").mkdir()
    spec = job_spec(plan_run([tmp_path / "in"], out, key=key, jobs=2))
    for _ in range(20):
        (out / "before.dcm").write_bytes(b"x")
        settle = _FirstInOrder(spec, {})
        (out / "made.tmp").write_bytes(b"x")
        os.link(out / "made.tmp", out / "after.dcm")
        assert not settle._this_run("before.dcm")
        assert settle._this_run("after.dcm")
        for name in ("before.dcm", "made.tmp", "after.dcm"):
            (out / name).unlink()
    assert sorted(p.name for p in out.iterdir()) == []  # (nor is its clock's file left)


@pytest.mark.parametrize("same_bytes", [False, True], ids=["other-bytes", "same-bytes"])
def test_the_first_input_in_order_keeps_a_shared_output_path_when_a_later_one_won_the_race(
    tmp_path: Path, key: Key, same_bytes: bool
) -> None:
    """Workers race to a shared output path: here the later input (b/) wins, as a worker that
    ran ahead would. Recorded in input order, the earlier input (a/) takes the path back, and
    the later one is recorded as with --jobs 1: failed (a collision) or skipped (identical)."""
    from dicomscrub.discover import discover
    from dicomscrub.process import COLLISION, IDENTICAL, process_file
    from dicomscrub.runner import COLLISION_IN_RUN, _FirstInOrder

    inputs = tmp_path / "in"
    _colliding_pair(inputs, same_bytes)
    reference = tmp_path / "reference"
    expected = execute(plan_run([inputs], reference, key=key, jobs=1))
    assert expected.counts["written"] == 1

    out = tmp_path / "out"
    spec = job_spec(plan_run([inputs], out, key=key, jobs=2))
    first, second = discover([inputs])
    out.mkdir()  # (as the run makes it before the workers start)
    settle = _FirstInOrder(spec, {s.sort_key: s for s in (first, second)})
    job = spec.build()
    later = process_file(second, job)  # b/ linked first
    earlier = process_file(first, job)  # a/ then finds the path taken
    assert later.status is Status.WRITTEN
    assert earlier.detail == (IDENTICAL if same_bytes else COLLISION)

    settled = [settle(earlier), settle(later)]
    assert [r.status for r in settled] == [
        Status.WRITTEN,
        Status.SKIPPED if same_bytes else Status.FAILED,
    ]
    assert settled[1].detail == (IDENTICAL if same_bytes else COLLISION_IN_RUN)
    assert settled[1].private_kept + settled[1].private_removed == (
        later.private_kept + later.private_removed if same_bytes else 0
    )
    assert snapshot(out) == snapshot(reference)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_collision_with_an_output_of_this_run_says_so(
    tmp_path: Path, key: Key, jobs: int
) -> None:
    """Two inputs with one SOP Instance UID and other bytes (an instance exported twice): the
    second's failure says that an earlier input of this run wrote the path, not as if a stale
    file of some other run were in the way."""
    from dicomscrub.runner import COLLISION_IN_RUN

    inputs = tmp_path / "in"
    _colliding_pair(inputs, same_bytes=False)
    report = execute(plan_run([inputs], tmp_path / "out", key=key, jobs=jobs))
    assert report.counts["written"] == 1 and report.counts["failed"] == 1
    with (tmp_path / "out.audit.csv").open(encoding="utf-8", newline="") as fh:
        failed = [r for r in csv.DictReader(fh) if r["status"] == "failed"]
    assert [r["detail"] for r in failed] == [COLLISION_IN_RUN]


def test_a_collision_with_a_file_from_before_the_run_stands(tmp_path: Path, key: Key) -> None:
    from dicomscrub.discover import discover
    from dicomscrub.process import COLLISION, process_file
    from dicomscrub.runner import _FirstInOrder

    inputs = tmp_path / "in"
    _colliding_pair(inputs, same_bytes=False)
    out = tmp_path / "out"
    spec = job_spec(plan_run([inputs], out, key=key, jobs=2))
    first, second = discover([inputs])
    job = spec.build()
    process_file(second, job)  # b/'s output, written before the run
    settle = _FirstInOrder(spec, {s.sort_key: s for s in (first, second)})
    earlier = settle(process_file(first, job))
    assert (earlier.status, earlier.detail) == (Status.FAILED, COLLISION)


def test_inputs_sharing_output_paths_give_the_same_audit_and_outputs_for_any_jobs(
    tmp_path: Path, key: Key
) -> None:
    inputs = tmp_path / "in"
    for i in range(12):
        for folder, number in (("a", 1), ("b", 2)):
            ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), 910 + i, 1, 1, 1)
            ds.InstanceNumber = number
            path = inputs / folder / f"{i:02d}.dcm"
            path.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(path, enforce_file_format=True)
    audits = {}
    for jobs in (1, 2, 4):
        out = tmp_path / f"out{jobs}"
        execute(plan_run([inputs], out, key=key, jobs=jobs, audit=tmp_path / f"{jobs}.csv"))
        audits[jobs] = (
            (tmp_path / f"{jobs}.csv").read_text(encoding="utf-8").replace(f"out{jobs}", "OUT"),
            snapshot(out),
        )
    assert audits[2] == audits[1] and audits[4] == audits[1]
