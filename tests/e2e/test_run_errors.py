"""What a run says when the machine gets in its way: a loop of symbolic links in an input, an
audit or summary that cannot be written, a full disk under the audit, a mistyped --jobs. Never a
traceback; a located message, and an exit code from the README's table."""

from __future__ import annotations

import csv
import errno
import fcntl
import json
import os
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner
from e2e_support import Keys

import dicomscrub.audit
from corpus import bundled, fictional
from dicomscrub.cli import cli
from dicomscrub.state import OutputLock


def _inputs(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), 700 + i, 1, 1, i)
        ds.save_as(folder / f"f{i}.dcm", enforce_file_format=True)
    return folder


def words(text: str) -> str:
    """Text with line wrapping undone (click and rich may wrap a long message)."""
    return " ".join(text.split())


def _run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"crashed: {result.output}") from result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _run_process(*args: object) -> tuple[int, str]:
    """:func:`_run` in a process of its own, with a time limit: where a regression would wait
    forever (opening a FIFO), the test fails on the limit rather than hangs the suite."""
    done = subprocess.run(
        [sys.executable, "-m", "dicomscrub", "run", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout + done.stderr


def test_a_loop_of_symbolic_links_in_an_input_is_skipped_and_the_rest_is_done(
    tmp_path: Path,
) -> None:
    inputs = _inputs(tmp_path / "in", 2)
    os.symlink("loop2", inputs / "loop1")
    os.symlink("loop1", inputs / "loop2")
    code, output = _run(inputs, "-o", tmp_path / "out", "--jobs", "1")
    assert code == 0, output
    rows = (tmp_path / "out.audit.csv").read_text(encoding="utf-8").splitlines()
    statuses = {r.split(",")[2]: r.split(",")[4] for r in rows[1:] if r.startswith("file,")}
    assert statuses == {
        "f0.dcm": "written",
        "f1.dcm": "written",
        "loop1": "skipped",
        "loop2": "skipped",
    }
    assert "loop of links" in "\n".join(rows)


def test_an_input_that_is_a_loop_of_links_is_named_as_one(tmp_path: Path) -> None:
    os.symlink("self", tmp_path / "self")
    code, output = _run(tmp_path / "self", "-o", tmp_path / "out")
    assert code == 2
    assert "symbolic link that leads nowhere" in output


@pytest.mark.parametrize("jobs", ["0", "100000", "99999999999999999999"])
def test_jobs_out_of_range_is_a_usage_error(tmp_path: Path, jobs: str) -> None:
    inputs = _inputs(tmp_path / "in", 1)
    code, output = _run(inputs, "-o", tmp_path / "out", "--jobs", jobs)
    assert code == 2
    assert "--jobs" in output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option", ["--audit", "--summary-json", "--mapping-out"])
def test_an_audit_or_summary_that_cannot_be_written_is_refused_before_any_file(
    tmp_path: Path, option: str
) -> None:
    inputs = _inputs(tmp_path / "in", 1)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder", encoding="utf-8")
    code, output = _run(inputs, "-o", tmp_path / "out", option, blocked / "x" / "y.csv")
    assert code == 2, output
    assert "cannot write in" in output
    assert not (tmp_path / "out").exists()
    code, output = _run(inputs, "-o", tmp_path / "out", option, tmp_path)  # a folder
    assert code == 2, output
    assert "is a directory" in output or "is a folder" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mapping-out", "{t}/same.json", "--summary-json", "{t}/same.json"), "summary file"),
        (("--summary-json", "{t}/same.csv", "--audit", "{t}/same.csv"), "the audit file"),
        (("--quarantine", "{t}/q", "--mapping-out", "{t}/q/index.csv"), "quarantine folder"),
        (("--quarantine", "{t}/q", "--summary-json", "{t}/q/s.json"), "quarantine folder"),
        (("--quarantine", "{t}/q", "--audit", "{t}/q/a.csv"), "quarantine folder"),
    ],
)
def test_files_a_run_writes_beside_its_output_may_not_overwrite_each_other(
    tmp_path: Path, keys: Keys, args: tuple[str, ...], message: str
) -> None:
    """The crosswalk, the summary, the audit and the quarantine's index are four files: two
    options naming one of them is refused before any file is touched."""
    inputs = _inputs(tmp_path / "in", 1)
    given = [arg.format(t=tmp_path) for arg in args]
    code, output = _run(inputs, "-o", tmp_path / "out", "--key-file", keys.a, *given)
    assert code == 2, output
    assert "must not be" in output and message in output
    assert not (tmp_path / "out").exists()


def test_a_key_file_inside_the_quarantine_folder_is_refused(tmp_path: Path, keys: Keys) -> None:
    inputs = _inputs(tmp_path / "in", 1)
    (tmp_path / "q").mkdir()
    key = tmp_path / "q" / "site.key"
    key.write_bytes(keys.a.read_bytes())
    code, output = _run(
        inputs, "-o", tmp_path / "out", "--key-file", key, "--quarantine", tmp_path / "q"
    )
    assert code == 2, output
    assert f"key file {key} must not be inside the quarantine folder" in output
    assert not (tmp_path / "out").exists()


READ_ROLES = {
    "key": "the key file (--key-file)",
    "profile": "the profile file (--profile)",
    "extended": "a profile file that --profile or --option extends",
    "option": "an option file (--option)",
    "mapping-in": "the subject table (--mapping-in)",
    "input": "input ",
}


def _files_read(tmp_path: Path, keys: Keys) -> tuple[dict[str, Path], list[str]]:
    """Files a run reads, and the command line (but its inputs) that reads them all."""
    files = {
        "key": tmp_path / "k.key",
        "profile": tmp_path / "p.yaml",
        "extended": tmp_path / "parent.yaml",
        "option": tmp_path / "o.yaml",
        "mapping-in": tmp_path / "subjects.csv",
        "input": tmp_path / "one.dcm",
    }
    files["key"].write_bytes(keys.a.read_bytes())
    files["extended"].write_text("name: parent\nextends: [basic]\n", encoding="utf-8")
    files["profile"].write_text("name: p\nextends: [parent.yaml]\n", encoding="utf-8")
    files["option"].write_text(
        "name: o\nkind: option\nextends: [patient-pseudonyms]\n", encoding="utf-8"
    )
    files["mapping-in"].write_text("original,deidentified\nMRN1,SUBJ-1\n", encoding="utf-8")
    ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), 700, 1, 1, 0)
    ds.save_as(files["input"], enforce_file_format=True)
    args = ["--key-file", files["key"], "-p", files["profile"], "--option", files["option"]]
    args += ["--mapping-in", files["mapping-in"]]
    return files, [str(a) for a in args]


@pytest.mark.parametrize("via", ["path", "symbolic link", "hard link"])
@pytest.mark.parametrize("read", list(READ_ROLES))
@pytest.mark.parametrize("option", ["--audit", "--summary-json", "--mapping-out"])
def test_a_file_a_run_writes_may_not_be_one_it_reads(
    tmp_path: Path, keys: Keys, option: str, read: str, via: str
) -> None:
    """The audit, the summary and the crosswalk may not be the key, a profile or option file
    (or one they extend), the subject table or an input: the audit would move it aside, the
    others replace it. Refused before any file is touched, naming both, whatever name the file
    is given (a symbolic or a hard link to it)."""
    files, args = _files_read(tmp_path, keys)
    inputs = _inputs(tmp_path / "in", 1)
    before = {name: path.read_bytes() for name, path in files.items()}
    given = files[read]
    if via != "path":
        given = tmp_path / "other-name"
        (os.symlink if via == "symbolic link" else os.link)(files[read], given)
    code, output = _run(inputs, files["input"], "-o", tmp_path / "out", *args, option, given)
    assert code == 2, output
    assert f"{option} {given} is {READ_ROLES[read]}" in words(output), output
    assert "give it another name" in output
    assert {name: path.read_bytes() for name, path in files.items()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if "earlier" in p.name) == []
    assert not (tmp_path / "out").exists()


def test_the_crosswalk_may_not_be_the_subject_table(tmp_path: Path, keys: Keys) -> None:
    inputs = _inputs(tmp_path / "in", 1)
    table = tmp_path / "subjects.csv"
    table.write_text("original,deidentified\nMRN1,SUBJ-1\n", encoding="utf-8")
    args = ("--option", "patient-pseudonyms", "--mapping-in", table, "--mapping-out", table)
    code, output = _run(inputs, "-o", tmp_path / "out", "--key-file", keys.a, *args)
    assert code == 2, output
    assert f"--mapping-out {table} is the subject table (--mapping-in)" in words(output)
    assert table.read_text(encoding="utf-8") == "original,deidentified\nMRN1,SUBJ-1\n"


def test_the_default_audit_may_not_be_the_key_file(tmp_path: Path, keys: Keys) -> None:
    inputs = _inputs(tmp_path / "in", 1)
    key = tmp_path / "out.audit.csv"  # (a strange name for a key, but the run's default audit)
    key.write_bytes(keys.a.read_bytes())
    code, output = _run(inputs, "-o", tmp_path / "out", "--key-file", key)
    assert code == 2, output
    assert "is the key file (--key-file); give --audit another name" in words(output)
    assert key.read_bytes() == keys.a.read_bytes()


@pytest.mark.parametrize("option", ["--summary-json", "--mapping-out"])
def test_a_hard_link_to_the_audit_is_the_audit(tmp_path: Path, keys: Keys, option: str) -> None:
    inputs = _inputs(tmp_path / "in", 1)
    (tmp_path / "audit.csv").write_text("an earlier run's rows\n", encoding="utf-8")
    os.link(tmp_path / "audit.csv", tmp_path / "other.csv")
    args = ("--audit", tmp_path / "audit.csv", option, tmp_path / "other.csv")
    code, output = _run(inputs, "-o", tmp_path / "out", "--key-file", keys.a, *args)
    assert code == 2, output
    assert "must not be the audit file" in output


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_key_file_inside_the_output_is_refused(tmp_path: Path, keys: Keys, dry_run: bool) -> None:
    """The output tree is what gets shared: a key kept in it would go with it (as the audit,
    the summary and the crosswalk may not be in it either)."""
    inputs = _inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    (out / "keys").mkdir(parents=True)
    key = out / "keys" / "site.key"
    key.write_bytes(keys.a.read_bytes())
    os.symlink(key, tmp_path / "link.key")  # (the same, under a name outside)
    for given in (key, tmp_path / "link.key"):
        args = ("--dry-run",) if dry_run else ()
        code, output = _run(inputs, "-o", out, "--key-file", given, *args)
        assert code == 2, output
        assert f"key file {given} must not be inside the output folder" in words(output)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "keys",
        "keys/site.key",
    ]


def test_a_mapping_in_table_inside_the_output_is_refused(tmp_path: Path, keys: Keys) -> None:
    """The --mapping-in table pairs original Patient IDs with subject IDs: inside the output
    tree it would be shared with it."""
    inputs = _inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    out.mkdir()
    table = out / "subjects.csv"
    table.write_text("original,deidentified\nMRN0012345,SUBJ-001\n", encoding="utf-8")
    args = ("--option", "patient-pseudonyms", "--mapping-in", table)
    code, output = _run(inputs, "-o", out, "--key-file", keys.a, *args)
    assert code == 2, output
    assert f"--mapping-in {table} must not be inside the output folder" in words(output)
    assert sorted(p.name for p in out.iterdir()) == ["subjects.csv"]


@pytest.mark.parametrize(
    "refusal", ["profile", "usage", "key", "output in use", "audit in use", "summary is the key"]
)
def test_a_refused_run_leaves_no_earlier_summary_as_its_own(
    tmp_path: Path, keys: Keys, refusal: str
) -> None:
    """A run refused with exit code 2 says so in its --summary-json (exit code 2, and why): an
    earlier run's summary left in place, exit code 0, would read as this run's result in CI. Not
    where the summary is itself the problem and names a file that is no summary (the key)."""
    inputs = _inputs(tmp_path / "in", 1)
    out, summary = tmp_path / "out", tmp_path / "summary.json"
    code, output = _run(inputs, "-o", out, "--key-file", keys.a, "--summary-json", summary)
    assert code == 0, output
    assert json.loads(summary.read_text(encoding="utf-8"))["exit_code"] == 0
    key = tmp_path / "site.key"
    key.write_bytes(keys.a.read_bytes())
    args: list[object] = [inputs, "-o", out, "--key-file", key, "--summary-json", summary]
    held: list[object] = []
    if refusal == "profile":
        args += ["-p", "nonexist"]
    elif refusal == "usage":
        args += ["--dry-run", "--mapping-out", tmp_path / "crosswalk.csv"]
    elif refusal == "key":
        key.write_bytes(b"short")
    elif refusal == "output in use":
        held.append(OutputLock(out).__enter__())
    elif refusal == "audit in use":
        args += ["--audit", tmp_path / "shared.csv"]
        held.append(dicomscrub.audit.AuditWriter(tmp_path / "shared.csv").__enter__())
    else:
        args[-1] = key
    try:
        code, output = _run(*args)
    finally:
        for thing in held:
            thing.__exit__(None, None, None)  # type: ignore[attr-defined]
    assert code == 2, output
    if refusal == "summary is the key":
        assert key.read_bytes() == keys.a.read_bytes()
        assert json.loads(summary.read_text(encoding="utf-8"))["exit_code"] == 0  # (not given)
        return
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert (doc["exit_code"], doc["interrupted"], doc["files"]) == (2, False, 0)
    assert doc["error"] and f"Error: {doc['error']}" in words(output)
    assert doc["started"] and doc["finished"]
    assert not list(tmp_path.glob(".summary.json*"))  # (written by a rename)


@pytest.mark.parametrize("problem", ["missing key file", "jobs", "unknown option", "no summary"])
def test_a_command_line_refused_by_click_leaves_no_earlier_summary_as_its_own(
    tmp_path: Path, keys: Keys, problem: str
) -> None:
    """A command line refused as it is read (a --key-file that is not there: a CI secret not
    mounted) replaces an earlier summary with one that says exit code 2; where none is, or what
    is there is no summary, nothing is written (nothing else of the command line is known)."""
    inputs = _inputs(tmp_path / "in", 1)
    summary = tmp_path / "summary.json"
    code, output = _run(
        inputs, "-o", tmp_path / "out", "--key-file", keys.a, "--summary-json", summary
    )
    assert code == 0, output
    args: list[object] = [inputs, "-o", tmp_path / "out", f"--summary-json={summary}"]
    if problem == "missing key file":
        args += ["--key-file", tmp_path / "missing.key"]
    elif problem == "jobs":
        args += ["--key-file", keys.a, "--jobs", "0"]
    else:
        args += ["--key-file", keys.a, "--no-such-option"]
    if problem == "no summary":
        summary.write_text("6b" * 32, encoding="utf-8")
    code, output = _run(*args)
    assert code == 2, output
    if problem == "no summary":
        assert summary.read_text(encoding="utf-8") == "6b" * 32
        return
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert (doc["exit_code"], doc["interrupted"], doc["files"]) == (2, False, 0)
    assert doc["error"] and words(doc["error"]) in words(output)


@pytest.mark.parametrize("what", ["key", "profile", "input", "inside an input", "inside output"])
def test_a_refused_run_writes_no_summary_over_a_file_it_was_not_given_as_one(
    tmp_path: Path, keys: Keys, what: str
) -> None:
    """Refused before its paths are checked (here: by an unknown option profile), a run writes
    its summary only where nothing is yet or an earlier summary is, outside the output folder
    and the inputs: a summary path that names the key, the profile or an input may be why it
    was refused."""
    inputs = _inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    key = tmp_path / "site.key"
    key.write_bytes(keys.a.read_bytes())
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\nextends: [basic]\n", encoding="utf-8")
    summary = {
        "key": key,
        "profile": profile,
        "input": inputs / "f0.dcm",
        "inside an input": inputs / "summary.json",
        "inside output": out / "summary.json",
    }[what]
    before = {p: p.read_bytes() for p in (key, profile, inputs / "f0.dcm")}
    args = ("--key-file", key, "-p", profile, "--option", "nonexist", "--summary-json", summary)
    code, output = _run(inputs, "-o", out, *args)
    assert code == 2, output
    assert "nonexist" in output
    assert {p: p.read_bytes() for p in before} == before
    assert not (inputs / "summary.json").exists() and not out.exists()


def test_a_summary_that_cannot_be_written_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: Keys
) -> None:
    """A full disk under --summary-json: exit 1 with why, and no ``.summary.json.partial``."""
    inputs = _inputs(tmp_path / "in", 2)
    real_write_text = Path.write_text

    def write_text(self: Path, data: str, *args: object, **kwargs: object) -> int:
        if self.name.endswith(".partial") and "summary" in self.name:
            real_write_text(self, data[:10], encoding="utf-8")  # (some of it, then the disk)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_text(self, data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", write_text)
    summary = tmp_path / "summary.json"
    code, output = _run(
        inputs, "-o", tmp_path / "out", "--summary-json", summary, "--key-file", keys.a
    )
    assert code == 1, output
    assert "No space left on device" in output
    assert not summary.exists() and not (tmp_path / ".summary.json.partial").exists()


def test_a_full_disk_under_the_audit_stops_the_run_as_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: Keys
) -> None:
    inputs = _inputs(tmp_path / "in", 6)
    real_write = dicomscrub.audit.AuditWriter.write
    rows = 0

    def write(self: dicomscrub.audit.AuditWriter, result: object) -> None:
        nonlocal rows
        rows += 1
        if rows > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(self, result)  # type: ignore[arg-type]

    monkeypatch.setattr(dicomscrub.audit.AuditWriter, "write", write)
    summary = tmp_path / "summary.json"
    args = (inputs, "-o", tmp_path / "out", "--jobs", "1", "--summary-json", summary)
    args += ("--key-file", keys.a)
    code, output = _run(*args)
    assert code == 130, output
    assert "cannot write the audit" in output and "No space left on device" in output
    assert "written after the audit failed are not in it" in output
    assert not (tmp_path / "out.audit.csv").exists()  # not presented as a whole audit
    # (nor named as one by the summary line)
    assert f"audit: {tmp_path / 'out.audit.csv'}.partial (incomplete" in words(output)
    partial = (tmp_path / "out.audit.csv.partial").read_text(encoding="utf-8")
    assert partial.count("\nfile,") == 2
    assert json.loads(summary.read_text(encoding="utf-8"))["interrupted"] is True
    monkeypatch.setattr(dicomscrub.audit.AuditWriter, "write", real_write)
    code, output = _run(*args)  # the next run finishes the job and audits every file
    assert code == 0, output
    audit = (tmp_path / "out.audit.csv").read_text(encoding="utf-8")
    assert audit.count("\nfile,") == 6
    statuses = sorted(r.split(",")[4] for r in audit.splitlines() if r.startswith("file,"))
    # the two audited files are done; those written but not audited are found identical
    assert statuses.count("unchanged") == 2
    assert statuses.count("skipped") >= 1
    assert set(statuses) <= {"unchanged", "skipped", "written"}


def test_a_rerun_keeps_the_audit_of_the_run_before(tmp_path: Path, keys: Keys) -> None:
    inputs = _inputs(tmp_path / "in", 2)
    args = (inputs, "-o", tmp_path / "out", "--key-file", keys.a)
    assert _run(*args)[0] == 0
    first = (tmp_path / "out.audit.csv").read_text(encoding="utf-8")
    code, output = _run(*args)
    assert code == 0, output
    assert "the audit of the run before was kept as" in output
    assert (tmp_path / "out.audit.earlier-1.csv").read_text(encoding="utf-8") == first
    second = (tmp_path / "out.audit.csv").read_text(encoding="utf-8")
    assert second.count(",unchanged,") == 2 and first.count(",written,") >= 2
    assert _run(*args)[0] == 0
    assert (tmp_path / "out.audit.earlier-2.csv").read_text(encoding="utf-8") == second


def test_an_audit_being_written_by_another_run_is_refused(tmp_path: Path, keys: Keys) -> None:
    inputs = _inputs(tmp_path / "in", 1)
    shared = tmp_path / "shared.csv"
    partial = tmp_path / "shared.csv.partial"
    partial.write_text("record,root\n", encoding="utf-8")
    with partial.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as a run still writing it holds it
        code, output = _run(inputs, "-o", tmp_path / "out", "--audit", shared, "--key-file", keys.a)
    assert code == 2, output
    assert "being written by another dicomscrub run" in output
    assert partial.read_text(encoding="utf-8") == "record,root\n"  # left to its run
    assert not (tmp_path / "out").exists()  # refused before the output folder was made
    # once that run is gone (killed: its lock went with it), its rows are kept aside
    code, output = _run(inputs, "-o", tmp_path / "out", "--audit", shared, "--key-file", keys.a)
    assert code == 0, output
    kept = tmp_path / "shared.interrupted-1.csv"
    assert kept.read_text(encoding="utf-8") == "record,root\n"
    assert shared.read_text(encoding="utf-8").count("\nfile,") == 1


@pytest.mark.parametrize("option", ["--audit", "--summary-json", "--quarantine", "--mapping-out"])
def test_an_option_path_through_a_loop_of_links_is_a_usage_error(
    tmp_path: Path, option: str
) -> None:
    inputs = _inputs(tmp_path / "in", 1)
    os.symlink("l2", tmp_path / "l1")
    os.symlink("l1", tmp_path / "l2")
    code, output = _run(inputs, "-o", tmp_path / "out", option, tmp_path / "l1" / "x.csv")
    assert code == 2, output
    assert "loop of symbolic links" in output


def test_an_existing_audit_file_without_write_permission_is_kept_aside_not_refused(
    tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = _inputs(tmp_path / "in", 1)
    audit = tmp_path / "a.csv"
    audit.write_text("an earlier run's rows\n", encoding="utf-8")
    audit.chmod(0o444)  # (replaced by a rename: the file's own mode does not matter)
    real_access = os.access

    def access(path: object, mode: int, **kwargs: object) -> bool:
        if Path(str(path)) == audit and mode & os.W_OK:  # as for a user other than root
            return False
        return real_access(path, mode, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", access)
    code, output = _run(inputs, "-o", tmp_path / "out", "--audit", audit, "--key-file", keys.a)
    assert code == 0, output
    assert (tmp_path / "a.earlier-1.csv").read_text(encoding="utf-8") == "an earlier run's rows\n"


def test_a_run_that_claims_the_audit_first_keeps_it(tmp_path: Path, keys: Keys) -> None:
    """Two runs start together on one --audit: the second to link its .partial finds the first
    one's, locked, and stops; the first run's file is never set aside."""
    inputs = _inputs(tmp_path / "in", 1)
    audit = tmp_path / "shared.csv"
    first = dicomscrub.audit.AuditWriter(audit).__enter__()  # (claimed, locked, still open)
    code, output = _run(inputs, "-o", tmp_path / "out", "--audit", audit, "--key-file", keys.a)
    assert code == 2, output
    assert "being written by another dicomscrub run" in output
    assert not list(tmp_path.glob("shared.interrupted-*"))
    first.__exit__(None, None, None)
    assert audit.read_text(encoding="utf-8").startswith("record,root,input")
    assert [p.name for p in tmp_path.glob("shared.csv.partial*")] == []


def test_no_key_is_refused_where_an_earlier_run_wrote_files(
    tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From cron without a key, each run would write every input again under new UIDs (and,
    under -q, say nothing): a random key is refused (exit 2, nothing touched) where the output
    folder holds files an earlier run recorded; a new output folder, or the key, still works."""
    monkeypatch.delenv("DICOMSCRUB_KEY", raising=False)
    inputs, out = _inputs(tmp_path / "in", 2), tmp_path / "out"
    code, text = _run(inputs, "-o", out, "-q")
    assert code == 0, text
    before = sorted(p for p in out.rglob("*") if p.is_file())
    code, text = _run(inputs, "-o", out, "-q")
    assert code == 2, text
    assert "holds files an earlier run wrote, and no key was given" in text
    assert sorted(p for p in out.rglob("*") if p.is_file()) == before
    code, text = _run(inputs, "-o", out, "-q", "--dry-run")  # (as the run would be)
    assert code == 2, text
    code, text = _run(inputs, "-o", tmp_path / "other", "-q")
    assert code == 0, text
    code, text = _run(inputs, "-o", out, "-q", "--key-file", keys.a)
    assert code == 2, text  # (another key than the first run's random one: written beside)
    assert "another key or layout" in words(text)


@pytest.mark.parametrize("where", ["under a file", "index a folder", "unwritable parent"])
def test_a_quarantine_that_cannot_be_used_is_refused_before_any_file(
    tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Found when the run is planned, not at the first rejected input after outputs were
    written: exit 2, the path named, nothing made."""
    inputs = _inputs(tmp_path / "in", 1)
    quarantine = tmp_path / "q" / "review"
    expected = "cannot write in"
    if where == "under a file":
        (tmp_path / "q").write_text("a file, not a folder", encoding="utf-8")
        expected = "which is not a folder"
    elif where == "index a folder":
        (quarantine / "index.csv").mkdir(parents=True)
        expected = "index.csv exists and is not a regular file"
    else:
        (tmp_path / "q").mkdir()
        real_access = os.access

        def access(path: object, mode: int, **kwargs: object) -> bool:
            if Path(str(path)) == tmp_path / "q" and mode & os.W_OK:  # as for a user, not root
                return False
            return real_access(path, mode, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "access", access)
    args = (inputs, "-o", tmp_path / "out", "--key-file", keys.a, "--quarantine", quarantine)
    code, output = _run(*args, "--allow-rejected")
    assert code == 2, output
    assert expected in output and "quarantine" in output
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.audit.csv").exists()


@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.parametrize("option", ["--audit", "--summary-json", "--mapping-out", "--quarantine"])
def test_a_file_a_run_writes_may_not_be_a_device_or_a_fifo(
    tmp_path: Path, keys: Keys, option: str, kind: str
) -> None:
    """The audit, the summary and the crosswalk are replaced by a rename, the quarantine's index
    is appended to: a device or a FIFO in their place (``--audit /dev/null``) is refused before
    any file, and left as it is."""
    inputs = _inputs(tmp_path / "in", 1)
    node = tmp_path / "node"
    if option == "--quarantine":
        (tmp_path / "q").mkdir()
        node = tmp_path / "q" / "index.csv"
    if kind == "fifo":
        os.mkfifo(node)
    elif os.geteuid() == 0:  # (a null device of this test's own, never the system's)
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    else:
        pytest.skip("making a device needs root")
    given = tmp_path / "q" if option == "--quarantine" else node
    run = _run_process if kind == "fifo" else _run
    code, output = run(inputs, "-o", tmp_path / "out", "--key-file", keys.a, option, given)
    assert code == 2, output
    assert "exists and is not a regular file" in output and str(node) in output
    mode = node.lstat().st_mode
    assert (stat.S_ISFIFO if kind == "fifo" else stat.S_ISCHR)(mode)
    made = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    assert made - {p.relative_to(tmp_path).as_posix() for p in inputs.rglob("*")} == {
        "in",
        node.relative_to(tmp_path).as_posix(),
        *(["q"] if option == "--quarantine" else []),
    }


def test_an_audit_given_as_a_link_to_a_regular_file_replaces_that_file(
    tmp_path: Path, keys: Keys
) -> None:
    inputs = _inputs(tmp_path / "in", 1)
    (tmp_path / "real.csv").write_text("an earlier run's rows\n", encoding="utf-8")
    os.symlink("real.csv", tmp_path / "link.csv")
    args = (inputs, "-o", tmp_path / "out", "--key-file", keys.a, "--audit", tmp_path / "link.csv")
    code, output = _run(*args)
    assert code == 0, output
    assert (tmp_path / "real.csv").read_text(encoding="utf-8").count("\nfile,") == 1
    assert (tmp_path / "real.earlier-1.csv").read_text(
        encoding="utf-8"
    ) == "an earlier run's rows\n"


@pytest.mark.parametrize("audit", ["default", "shared", "default, before the lock"])
def test_a_second_run_on_an_output_in_use_says_the_output_is_in_use(
    tmp_path: Path, keys: Keys, audit: str
) -> None:
    """Two runs on one output folder meet at its audit first (claimed before the lock): the
    second is told the folder is in use, as the lock says, not to give itself its own --audit
    (which the lock would refuse next). Also in the moment the first run has claimed its
    default audit and not yet locked the folder."""
    inputs = _inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    path = tmp_path / ("shared.csv" if audit == "shared" else "out.audit.csv")
    other_audit = dicomscrub.audit.AuditWriter(path).__enter__()  # (the first run's, held)
    lock = OutputLock(out)
    if audit != "default, before the lock":
        lock.__enter__()
    given = ("--audit", path) if audit == "shared" else ()
    try:
        code, output = _run(inputs, "-o", out, "--key-file", keys.a, *given)
    finally:
        lock.__exit__(None, None, None)
        other_audit.__exit__(None, None, None)
    assert code == 2, output
    assert f"output folder {out} is in use by another dicomscrub run" in output
    assert "--audit" not in output


@pytest.mark.parametrize("option", ["--key-file", "--mapping-in"])
def test_a_file_a_run_reads_may_not_be_a_fifo(tmp_path: Path, keys: Keys, option: str) -> None:
    """Reading a FIFO waits for a writer (forever, from cron): the key file and the subject
    table are refused when they are not regular files (run in a process of its own, so that a
    regression fails on the time limit rather than hangs the suite)."""
    inputs = _inputs(tmp_path / "in", 1)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    args = ["run", str(inputs), "-o", str(tmp_path / "out"), "-q", option, str(fifo)]
    if option == "--mapping-in":
        args += ["--key-file", str(keys.a), "--option", "patient-pseudonyms"]
    done = subprocess.run(
        [sys.executable, "-m", "dicomscrub", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "not a regular file" in done.stderr and str(fifo) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_transfer_syntax_pydicom_does_not_know_is_rejected_with_its_uid(
    tmp_path: Path, keys: Keys
) -> None:
    """GE's private implicit VR big endian (1.2.840.113619.5.2) in (0002,0010): pydicom can
    neither read nor write such a data set. The file is rejected, quarantined with
    --quarantine, and the run exits 0 with --allow-rejected; it was `failed` with a bare
    ValueError, and --allow-rejected did not help. explain says that run rejects it."""
    folder = _inputs(tmp_path / "in", 1)
    data = bytearray((folder / "f0.dcm").read_bytes())
    old, new = b"1.2.840.10008.1.2.1\x00", b"1.2.840.113619.5.2\x00\x00"
    at = data.find(old)
    assert at > 0
    data[at : at + len(old)] = new
    (folder / "f0.dcm").write_bytes(bytes(data))
    out, audit = tmp_path / "out", tmp_path / "audit.csv"
    code, output = _run(
        folder, "-o", out, "--key-file", keys.a, "--audit", audit,
        "--quarantine", tmp_path / "q", "--allow-rejected", "-q",
    )  # fmt: skip
    assert code == 0, output
    with audit.open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["record"] == "file"]
    assert [r["status"] for r in rows] == ["rejected"]
    assert "unsupported transfer syntax 1.2.840.113619.5.2 in (0002,0010)" in rows[0]["detail"]
    assert len(list((tmp_path / "q").glob("*.dcm"))) == 1
    explained = CliRunner().invoke(cli, ["explain", str(folder / "f0.dcm")])
    assert explained.exit_code == 0, explained.output
    assert "run rejects this file" in explained.output


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_another_key_or_layout_into_an_output_is_refused(
    tmp_path: Path, keys: Keys, dry_run: bool
) -> None:
    """Another key (or layout) names every output otherwise: into a folder an earlier run wrote,
    it would add a second copy of every study beside the first, with no collision to tell. It
    is refused with exit 2 (a dry run says so too); the same key and layout go on as before."""
    folder = _inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert _run(folder, "-o", out, "--key-file", keys.a, "-q")[0] == 0
    before = sorted(p for p in out.rglob("*.dcm"))
    dry = ("--dry-run",) if dry_run else ()
    for other in (("--key-file", keys.b), ("--key-file", keys.a, "--layout", "mirror")):
        code, output = _run(folder, "-o", out, *other, *dry, "-q")
        assert code == 2, output
        assert "another key or layout" in words(output)
    assert sorted(p for p in out.rglob("*.dcm")) == before
    assert _run(folder, "-o", out, "--key-file", keys.a_copy, *dry, "-q")[0] == 0


def test_a_dry_run_without_a_key_into_a_written_output_is_refused_as_the_run_is(
    tmp_path: Path, keys: Keys
) -> None:
    folder = _inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    assert _run(folder, "-o", out, "--key-file", keys.a, "-q")[0] == 0
    code, output = _run(folder, "-o", out, "--dry-run", "-q")
    assert code == 2, output
    assert "no key was given" in words(output)


def test_links_to_files_outside_the_inputs_are_skipped_with_a_warning(
    tmp_path: Path, keys: Keys
) -> None:
    """An export tree made of symbolic links to a store elsewhere: nothing is followed, and the
    run says so in one warning (it said nothing: a cron job saw success)."""
    store = _inputs(tmp_path / "store", 2)
    export = tmp_path / "export"
    export.mkdir()
    for i, target in enumerate(sorted(store.iterdir())):
        (export / f"IM{i}").symlink_to(target)
    code, output = _run(export, "-o", tmp_path / "out", "--key-file", keys.a)
    assert code == 0, output
    assert "2 symbolic links lead to files outside the inputs and were not followed" in words(
        output
    )
    code, output = _run(export, "-o", tmp_path / "out2", "--key-file", keys.a, "-q")
    assert (code, output) == (0, "")  # (--quiet: errors only)


def _deflate_bomb(path: Path, size: int) -> None:
    """pydicom's deflated image with ``size`` bytes of Data Set Trailing Padding (zeros) added
    before it is deflated again: a few megabytes that inflate to ``size``."""
    data = bundled("image_dfl.dcm").read_bytes()
    start = 144 + int.from_bytes(data[140:144], "little")  # after the file meta
    body = zlib.decompress(data[start:], -zlib.MAX_WBITS)
    packer = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    with path.open("wb") as fh:
        fh.write(data[:start])
        fh.write(packer.compress(body + b"\xfc\xff\xfc\xffOB\0\0" + struct.pack("<L", size)))
        zeros = bytes(1 << 24)
        for at in range(0, size, len(zeros)):
            fh.write(packer.compress(zeros[: size - at]))
        fh.write(packer.flush())


def test_a_deflate_bomb_is_rejected_without_exhausting_memory(tmp_path: Path) -> None:
    """1 GB inflated from 5 MB: the worker held it several times over (3 GB at its peak) and
    wrote it. Refused unread past the limit of the inflated size; the other files are done."""
    inputs = _inputs(tmp_path / "in", 1)
    _deflate_bomb(inputs / "bomb.dcm", 1 << 30)
    audit = tmp_path / "audit.csv"
    script = (
        "import resource, sys\n"
        "from click.testing import CliRunner\n"
        "from dicomscrub.cli import cli\n"
        "result = CliRunner().invoke(cli, sys.argv[1:])\n"
        "print(result.exit_code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10)\n"
    )
    args = ["run", inputs, "-o", tmp_path / "out", "--audit", audit, "-j", "1", "-q"]
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    code, peak_mb = map(int, done.stdout.split())
    assert code == 1 and peak_mb < 600, done.stderr
    with audit.open(newline="") as fh:
        rows = {Path(r["input"]).name: r for r in csv.DictReader(fh) if r["record"] == "file"}
    assert rows["f0.dcm"]["status"] == "written"
    assert rows["bomb.dcm"]["status"] == "rejected"
    assert rows["bomb.dcm"]["detail"].startswith(
        "input too large to read: deflated data set inflates to more than 256 MB (byte "
    )
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 1
