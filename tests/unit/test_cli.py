"""The command line, through click's CliRunner: help, exit codes, messages, audit."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pydicom
import pytest
from click.testing import CliRunner, Result
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from dicomscrub import __version__
from dicomscrub.audit import COLUMNS
from dicomscrub.cli import MAX_JOBS, cli
from dicomscrub.profile.loader import builtin_dir
from dicomscrub.pseudonym import KEY_ENV
from dicomscrub.state import STATE_DIR

REPO = Path(__file__).resolve().parents[2]
ACTIONS = "D, Z, X, K, C, U, Z/D, X/Z, X/D, X/Z/D, X/Z/U*"
BUILTIN_CODES = {
    "basic": "113100",
    "clean-descriptors": "113105",
    "clean-graphics": "113103",
    "clean-structured-content": "113104",
    "retain-device-identity": "113109",
    "retain-institution-identity": "113112",
    "retain-long-full-dates": "113106",
    "retain-long-modified-dates": "113107",
    "retain-patient-characteristics": "113108",
    "retain-safe-private": "113111",
    "retain-uids": "113110",
}

BuildCT = Callable[..., Dataset]
WriteDicom = Callable[..., Path]


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    # A crash is not an exit code: only SystemExit (from click or sys.exit) is expected.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def words(text: str) -> str:
    """Text with line wrapping undone (rich wraps at the console width)."""
    return " ".join(text.split())


def command_paths(
    group: click.Group = cli, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


COMMANDS = list(command_paths())


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and STATE_DIR not in p.relative_to(root).parts
    }


def outputs(out: Path) -> list[Path]:
    """The de-identified files (not dicomscrub's own state folder)."""
    return sorted(
        p for p in out.rglob("*") if p.is_file() and STATE_DIR not in p.relative_to(out).parts
    )


def audit_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def file_rows(path: Path) -> dict[str, dict[str, str]]:
    return {row["input"]: row for row in audit_rows(path) if row["record"] == "file"}


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.key"
    path.write_bytes(b"k" * 32)
    return path


@pytest.fixture
def good_tree(tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom) -> Path:
    """Two CT files of one series (Part 10 and a raw data set) and a text file."""
    root = tmp_path / "in"
    write_dicom(root / "series1" / "img1.dcm", make_ct())
    write_dicom(root / "series1" / "img2", make_ct(sop_instance_uid="1.2.3.4.5.2"), "raw-implicit")
    (root / "README.txt").write_text("Exported for the research team.\n", encoding="utf-8")
    return root


def part10_header(make_ct: BuildCT, write_dicom: WriteDicom, tmp_path: Path) -> bytes:
    """Preamble, DICM and a valid File Meta Information group, without the data set."""
    data = write_dicom(tmp_path / "whole.dcm", make_ct()).read_bytes()
    (tmp_path / "whole.dcm").unlink()
    meta_length = int.from_bytes(data[140:144], "little")  # (0002,0000) UL, the first element
    return data[: 144 + meta_length]


# ---- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "dicomscrub" for p in COMMANDS])
def test_every_command_has_short_and_long_help_with_an_example(path: tuple[str, ...]) -> None:
    short, long = invoke(*path, "-h"), invoke(*path, "--help")
    assert short.exit_code == long.exit_code == 0
    assert short.output == long.output
    assert short.output.startswith("Usage: ")
    assert "Example" in short.output


def test_help_test_sees_the_group_and_every_documented_command() -> None:
    for path in [(), ("run",), ("profiles",), ("profiles", "list"), ("profiles", "show")]:
        assert path in COMMANDS
    assert ("profiles", "validate") in COMMANDS


def test_python_dash_m_dicomscrub_help_works() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dicomscrub", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: dicomscrub [OPTIONS] COMMAND [ARGS]...")


def _console(*args: str | Path, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m dicomscrub ARGS`` (or ``python -c CODE``) in a process of its own."""
    command = ["-c", code] if code is not None else ["-m", "dicomscrub", *map(str, args)]
    return subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, check=False, timeout=120
    )


def test_the_console_script_exits_with_the_command_s_code_and_all_it_wrote(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    out, summary = tmp_path / "out", tmp_path / "summary.json"
    done = _console("run", good_tree, "-o", out, "--key-file", key_file, "--summary-json", summary)
    assert done.returncode == 0, done.stderr
    assert "dicomscrub summary" in done.stdout + done.stderr  # (flushed before the exit)
    assert json.loads(summary.read_text(encoding="utf-8"))["counts"]["written"] == 2
    with (tmp_path / "out.audit.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["status"] for r in rows if r["record"] == "file"].count("written") == 2
    missing = _console("run", tmp_path / "nowhere", "-o", out, "--key-file", key_file)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_a_fast_exit_exits_as_sys_exit_does() -> None:
    message = _console(code="from dicomscrub.cli import fast_exit; fast_exit('stopped: why')")
    assert (message.returncode, message.stderr) == (1, "stopped: why\n")
    none = _console(
        code="from dicomscrub.cli import fast_exit; print('out', end=''); fast_exit(None)"
    )
    assert (none.returncode, none.stdout) == (0, "out")
    assert _console(code="from dicomscrub.cli import fast_exit; fast_exit(130)").returncode == 130


def test_a_fast_exit_waits_for_a_thread_still_at_work(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    code = (
        "import threading, time\n"
        "from dicomscrub.cli import fast_exit\n"
        f"def work(): time.sleep(0.3); open({str(mark)!r}, 'w').write('done')\n"
        "threading.Thread(target=work).start()\n"
        "fast_exit(3)\n"
    )
    done = _console(code=code)
    assert done.returncode == 3, done.stderr
    assert mark.read_text(encoding="utf-8") == "done"


def test_version_option_prints_the_version() -> None:
    result = invoke("-V")
    assert result.exit_code == 0
    assert result.output == f"dicomscrub, version {__version__}\n"


# ---- run: usage errors (exit 2, nothing touched) -------------------------------------------------


def test_bad_profile_exits_2_with_located_message_before_writing(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    profile = tmp_path / "bad.yaml"
    profile.write_text("rules:\n  - keyword: PatientName\n    action: Y\n", encoding="utf-8")
    out = tmp_path / "out"
    result = invoke("run", good_tree, "-o", out, "-p", profile, "--key-file", key_file)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {profile}:3:13: rules[0].action: expected one of {ACTIONS}; got 'Y'\n"
    )
    assert result.stdout == ""
    assert not out.exists()
    assert not (tmp_path / "out.audit.csv").exists()


def test_unknown_option_exits_2_with_a_suggestion(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    out = tmp_path / "out"
    result = invoke("run", good_tree, "-o", out, "--option", "retain-uid", "--key-file", key_file)
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --option: no built-in profile and no file named 'retain-uid' "
        "(did you mean 'retain-uids'?)\n"
    )
    assert not out.exists()


def test_output_inside_input_exits_2(good_tree: Path, key_file: Path) -> None:
    out = good_tree / "deid"
    result = invoke("run", good_tree, "-o", out, "--key-file", key_file)
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"Error: output folder {out} is inside input folder {good_tree}; refusing\n"
    )
    assert not out.exists()


def test_an_input_given_twice_or_inside_another_exits_2(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    """Its files would be processed, audited (and under --layout mirror written) twice."""
    out = tmp_path / "out"
    inner = next(p for p in sorted(good_tree.rglob("*")) if p.is_file())
    link = tmp_path / "link"
    link.symlink_to(good_tree)
    cases = {
        (good_tree, good_tree): f"input {good_tree} is given twice (also as {good_tree})",
        (good_tree, link): f"input {link} is given twice (also as {good_tree})",
        (good_tree, inner): f"input {inner} is inside input {good_tree}",
        (inner, good_tree): f"input {inner} is inside input {good_tree}",
    }
    for inputs, message in cases.items():
        result = invoke("run", *inputs, "-o", out, "--key-file", key_file, "--layout", "mirror")
        assert result.exit_code == 2
        assert result.stderr == f"Error: {message}: its files would be processed twice\n"
        assert not out.exists()


def test_audit_inside_output_exits_2(tmp_path: Path, good_tree: Path, key_file: Path) -> None:
    out = tmp_path / "out"
    audit = out / "audit.csv"
    result = invoke("run", good_tree, "-o", out, "--audit", audit, "--key-file", key_file)
    assert result.exit_code == 2
    assert result.stderr == f"Error: audit file {audit} must not be inside the output folder\n"
    assert not out.exists()


def test_missing_input_exits_2(tmp_path: Path, key_file: Path) -> None:
    missing = tmp_path / "missing"
    result = invoke("run", missing, "-o", tmp_path / "out", "--key-file", key_file)
    assert result.exit_code == 2
    assert result.stderr == f"Error: input {missing} does not exist\n"


def test_too_short_key_exits_2_without_showing_the_key(tmp_path: Path, good_tree: Path) -> None:
    key = tmp_path / "short.key"
    key.write_bytes(b"tiny-s3cret")
    out = tmp_path / "out"
    result = invoke("run", good_tree, "-o", out, "--key-file", key)
    assert result.exit_code == 2
    assert "s3cret" not in result.output
    assert "at least 16 bytes" in result.stderr
    assert not out.exists()


# ---- run: outcomes ------------------------------------------------------------------------------


def test_good_tree_exits_0_and_skips_non_dicom(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    before = tree_digest(good_tree)
    out = tmp_path / "out"
    result = invoke("run", good_tree, "-o", out, "--key-file", key_file)
    assert result.exit_code == 0, result.stderr
    written = outputs(out)
    assert len(written) == 2
    for path in written:
        ds = pydicom.dcmread(path)
        assert ds.PatientName == ""
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.preamble == b"\0" * 128
    rows = file_rows(tmp_path / "out.audit.csv")
    assert {name: row["status"] for name, row in rows.items()} == {
        "README.txt": "skipped",
        "series1/img1.dcm": "written",
        "series1/img2": "written",
    }
    assert rows["README.txt"]["detail"].startswith("not DICOM")
    assert tree_digest(good_tree) == before


def test_rerun_into_the_same_output_marks_done_files_unchanged(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    out = tmp_path / "out"
    assert invoke("run", good_tree, "-o", out, "--key-file", key_file, "-q").exit_code == 0
    first = tree_digest(out)
    result = invoke(
        "run", good_tree, "-o", out, "--key-file", key_file, "--audit", tmp_path / "again.csv"
    )
    assert result.exit_code == 0
    assert tree_digest(out) == first
    statuses = {row["status"] for row in file_rows(tmp_path / "again.csv").values()}
    assert statuses == {"unchanged", "skipped"}  # skipped: the non-DICOM file


def test_rerun_with_lost_state_finds_identical_outputs_already_present(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    out = tmp_path / "out"
    assert invoke("run", good_tree, "-o", out, "--key-file", key_file, "-q").exit_code == 0
    first = tree_digest(out)
    shutil.rmtree(out / STATE_DIR)
    result = invoke(
        "run", good_tree, "-o", out, "--key-file", key_file, "--audit", tmp_path / "again.csv"
    )
    assert result.exit_code == 0
    assert tree_digest(out) == first
    details = {row["detail"] for row in file_rows(tmp_path / "again.csv").values()}
    assert "identical output already present" in details


def test_broken_dicom_exits_1_and_the_other_files_are_written(
    tmp_path: Path, good_tree: Path, key_file: Path, make_ct: BuildCT, write_dicom: WriteDicom
) -> None:
    # Part 10 header, then a sequence of undefined length whose item is cut short.
    broken = (
        part10_header(make_ct, write_dicom, tmp_path)
        + b"\x08\x00\x40\x11SQ\x00\x00\xff\xff\xff\xff"
        + b"\xfe\xff\x00\xe0\x10\x00\x00\x00\x01\x02\x03"
    )
    (good_tree / "series1" / "img3.dcm").write_bytes(broken)
    out = tmp_path / "out"
    result = invoke("run", good_tree, "-o", out, "--key-file", key_file)
    assert result.exit_code == 1
    assert "rejected: series1/img3.dcm: damaged input: " in result.stderr
    assert len(outputs(out)) == 2
    rows = file_rows(tmp_path / "out.audit.csv")
    assert rows["series1/img3.dcm"]["status"] == "rejected"
    assert rows["series1/img3.dcm"]["output"] == ""
    assert rows["README.txt"]["status"] == "skipped"


@pytest.mark.parametrize(
    "garbage",
    [b"this is not a data set at all, just garbage text\n" * 3, b"\xff" * 64],
    ids=["text", "ff-bytes"],
)
def test_part10_header_followed_by_garbage_is_rejected_as_unreadable(
    tmp_path: Path,
    good_tree: Path,
    key_file: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    garbage: bytes,
) -> None:
    (good_tree / "series1" / "img3.dcm").write_bytes(
        part10_header(make_ct, write_dicom, tmp_path) + garbage
    )
    out = tmp_path / "out"
    result = invoke("run", good_tree, "-o", out, "--key-file", key_file)
    assert all(garbage[:16] not in p.read_bytes() for p in outputs(out))
    row = file_rows(tmp_path / "out.audit.csv")["series1/img3.dcm"]
    assert row["status"] == "rejected"
    assert row["detail"].startswith("damaged input: ")
    assert result.exit_code == 1
    assert len(outputs(out)) == 2


def test_file_without_sop_class_is_rejected_with_exit_1(
    tmp_path: Path, good_tree: Path, key_file: Path, make_ct: BuildCT, write_dicom: WriteDicom
) -> None:
    ds = make_ct(sop_instance_uid="1.2.3.4.5.9")
    del ds.SOPClassUID
    write_dicom(good_tree / "noclass", ds, "raw-explicit")
    result = invoke("run", good_tree, "-o", tmp_path / "out", "--key-file", key_file)
    assert result.exit_code == 1
    row = file_rows(tmp_path / "out.audit.csv")["noclass"]
    assert row["status"] == "rejected"
    assert len(outputs(tmp_path / "out")) == 2


# ---- run: warnings ------------------------------------------------------------------------------


def test_random_key_warning_without_key_file(
    tmp_path: Path, good_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    result = invoke("run", good_tree, "-o", tmp_path / "out")
    assert result.exit_code == 0
    assert "warning: no --key-file and no $DICOMSCRUB_KEY: using a random key" in words(
        result.stderr
    )


def test_output_that_is_not_a_terminal_is_not_wrapped(
    tmp_path: Path, good_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cron log or a CI job gets each message on one line, and each path whole: rich would
    cut them at 80 columns, mid-name (CliRunner's streams are not terminals)."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    out = tmp_path / ("a-folder-name-long-enough-to-pass-eighty-columns-on-its-own" * 2) / "out"
    result = invoke("run", good_tree, "-o", out)
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "warning: no --key-file and no $DICOMSCRUB_KEY: using a random key for this run; its new "
        "UIDs will not match those of other runs, and nothing an earlier run did counts as done"
    )
    assert any(f"output: {out}; audit: " in line for line in lines)
    (out / "a-file-whose-name-alone-is-longer-than-a-table-cell-of-an-80-column-screen.txt").touch()
    result = invoke("check", out)
    assert result.exit_code == 1
    assert "a-file-whose-name-alone-is-longer-than-a-table-cell-of-an-80-column-screen.txt" in (
        result.stdout
    )


def test_no_random_key_warning_with_quiet(
    tmp_path: Path, good_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    result = invoke("run", good_tree, "-o", tmp_path / "out", "--quiet")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout == ""


def test_no_random_key_warning_with_key_file(
    tmp_path: Path, good_tree: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    result = invoke("run", good_tree, "-o", tmp_path / "out", "--key-file", key_file)
    assert result.exit_code == 0
    assert "random key" not in words(result.stderr)
    assert "dicomscrub summary" in result.stderr


def test_no_random_key_warning_with_key_in_environment(
    tmp_path: Path, good_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "an-environment-key-of-32-bytes!!")
    result = invoke("run", good_tree, "-o", tmp_path / "out")
    assert result.exit_code == 0
    assert "random key" not in words(result.stderr)


def test_mirror_layout_warns_that_names_may_identify(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    out = tmp_path / "out"
    result = invoke("run", good_tree, "-o", out, "--layout", "mirror", "--key-file", key_file)
    assert result.exit_code == 0
    assert "--layout mirror copies input folder and file names" in words(result.stderr)
    assert [p.relative_to(out).as_posix() for p in outputs(out)] == [
        "series1/img1.dcm",
        "series1/img2",
    ]


# ---- audit --------------------------------------------------------------------------------------


def test_audit_has_the_documented_header_and_no_original_values(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    ct_small = get_testdata_file("CT_small.dcm", download=False)
    assert ct_small is not None
    (good_tree / "vendor").mkdir()
    (good_tree / "vendor" / "ct_small").write_bytes(Path(ct_small).read_bytes())
    originals: set[str] = set()
    for path in (good_tree / "series1" / "img1.dcm", Path(ct_small)):
        ds = pydicom.dcmread(path)
        originals |= {str(ds.PatientID), str(ds.PatientName), *str(ds.PatientName).split("^")}
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            originals.add(str(ds[keyword].value))
        if "FrameOfReferenceUID" in ds:
            originals.add(str(ds.FrameOfReferenceUID))

    audit = tmp_path / "audit.csv"
    result = invoke(
        "run", good_tree, "-o", tmp_path / "out", "--audit", audit, "--key-file", key_file
    )
    assert result.exit_code == 0, result.stderr
    text = audit.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert not (tmp_path / "audit.csv.partial").exists()
    for value in sorted(originals):
        assert value not in text, value
    rows = audit_rows(audit)
    private = [r for r in rows if r["record"] == "private" and r["input"] == "vendor/ct_small"]
    assert private
    assert {r["decision"] for r in private} == {"removed"}


def test_audit_rows_follow_the_sorted_input_order(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    audit = tmp_path / "audit.csv"
    invoke("run", good_tree, "-o", tmp_path / "out", "--audit", audit, "--key-file", key_file)
    inputs = [row["input"] for row in audit_rows(audit) if row["record"] == "file"]
    assert inputs == ["README.txt", "series1/img1.dcm", "series1/img2"]


def test_audit_private_rows_name_tag_creator_and_basis(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    audit = tmp_path / "audit.csv"
    invoke("run", good_tree, "-o", tmp_path / "out", "--audit", audit, "--key-file", key_file)
    rows = [r for r in audit_rows(audit) if r["input"] == "series1/img1.dcm"]
    assert rows[0]["record"] == "file"
    assert (rows[0]["private_kept"], rows[0]["private_removed"]) == ("0", "3")
    assert rows[0]["method_codes"] == "113100"
    assert {(r["tag"], r["creator"], r["decision"], r["basis"]) for r in rows[1:]} == {
        ("(0019,1010)", "GEMS_ACQU_01", "removed", "basic-profile"),
        ("(0019,1023)", "GEMS_ACQU_01", "removed", "basic-profile"),
        ("(0019,0010)", "GEMS_ACQU_01", "removed", "creator-of-removed-block"),
    }


def test_a_creator_of_several_values_or_of_a_sequence_is_audited_as_its_text(
    tmp_path: Path, key_file: Path, make_ct: BuildCT, write_dicom: WriteDicom
) -> None:
    """A Private Creator has one value, but a file may write two (the audit showed Python's
    list, ``['ACME', 'OTHER']``) or a sequence (``[]``): the text as written, backslash-joined
    and escaped as the audit escapes text read from a file; a sequence, which holds no text, as
    ``(sequence)``. A block declared in (0008,0300) by the same two values is found, kept, and
    declared by them in the output."""
    creators: dict[str, object] = {
        "two": ["ACME", "OTHER"],
        "controls": ["AC\x1bME", "NEW\nLINE"],
        "sequence": pydicom.Sequence([Dataset()]),
    }
    for name, value in creators.items():
        ds = make_ct(private=False, sop_instance_uid=f"1.2.3.4.{len(name)}")
        ds.add_new(0x00290010, "SQ" if name == "sequence" else "LO", value)
        ds.add_new(0x00291001, "DS", "1.5")
        if name == "two":
            item = Dataset()
            item.PrivateGroupReference = 0x0029
            item.PrivateCreatorReference = ["ACME", "OTHER"]
            item.BlockIdentifyingInformationStatus = "SAFE"
            ds.PrivateDataElementCharacteristicsSequence = pydicom.Sequence([item])
        write_dicom(tmp_path / "in" / f"{name}.dcm", ds)
    audit = tmp_path / "audit.csv"
    result = invoke(
        "run",
        tmp_path / "in",
        "-o",
        tmp_path / "out",
        "--audit",
        audit,
        "--key-file",
        key_file,
        "--option",
        "retain-safe-private",
    )
    assert result.exit_code == 0, result.output
    rows = audit_rows(audit)
    assert {(r["input"], r["tag"], r["creator"]) for r in rows if r["record"] == "private"} == {
        ("two.dcm", "(0029,0010)", "ACME\\OTHER"),
        ("two.dcm", "(0029,1001)", "ACME\\OTHER"),
        ("controls.dcm", "(0029,0010)", "AC\\x1bME\\NEW\\x0aLINE"),
        ("controls.dcm", "(0029,1001)", "AC\\x1bME\\NEW\\x0aLINE"),
        ("sequence.dcm", "(0029,0010)", "(sequence)"),
        ("sequence.dcm", "(0029,1001)", "(sequence)"),
    }
    kept = {(r["input"], r["tag"]) for r in rows if r["decision"] == "kept"}
    assert kept == {("two.dcm", "(0029,0010)"), ("two.dcm", "(0029,1001)")}
    (written,) = [p for p in outputs(tmp_path / "out") if pydicom.dcmread(p).get(0x00290010)]
    declared = pydicom.dcmread(written).PrivateDataElementCharacteristicsSequence[0]
    assert list(declared.PrivateCreatorReference) == ["ACME", "OTHER"]


# ---- profiles -----------------------------------------------------------------------------------


def test_profiles_list_shows_every_built_in_with_its_code() -> None:
    result = invoke("profiles", "list", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    for name, code in BUILTIN_CODES.items():
        kind = "profile" if name == "basic" else "option"
        pattern = re.compile(rf"^\s*{re.escape(name)}\s+{kind}\s+{code}\s+\S")
        assert any(pattern.match(line) for line in lines), name
    assert len([line for line in lines if re.search(r"\s1131\d\d\s", line)]) == 11


def test_profiles_show_basic_prints_its_yaml() -> None:
    result = invoke("profiles", "show", "basic")
    assert result.exit_code == 0
    assert "(0010,0010)" in result.stdout
    assert result.stdout == (builtin_dir() / "basic.yaml").read_text(encoding="utf-8")


def test_profiles_show_unknown_name_exits_2() -> None:
    result = invoke("profiles", "show", "basik")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no built-in profile and no file named 'basik'")


def test_profiles_show_validates_a_file_first(tmp_path: Path) -> None:
    """A file that is not a valid profile is an error located as profiles validate locates it
    (a DICOM file given by mistake was a traceback); a valid one is printed as it is."""
    binary = tmp_path / "IM0001.dcm"
    binary.write_bytes(b"\0" * 128 + b"DICM\xba\xff")
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: basic\nrules:\n  - keyword: Nope\n    action: K\n")
    good = tmp_path / "opt.yaml"
    good.write_text("kind: option\nrules:\n  - keyword: PatientSex\n    action: K\n")
    result = invoke("profiles", "show", str(binary))
    assert (result.exit_code, result.stderr) == (2, f"Error: {binary}: profile is not UTF-8 text\n")
    result = invoke("profiles", "show", str(bad))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"Error: {bad}:3:14: rules[0].keyword: unknown DICOM keyword 'Nope'\n"
    result = invoke("profiles", "show", str(good))
    assert (result.exit_code, result.stdout) == (0, good.read_text())


def test_profiles_validate_accepts_the_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = invoke("profiles", "validate", "examples/my-profile.yaml")
    assert result.exit_code == 0
    assert result.stdout.startswith(
        "examples/my-profile.yaml: ok (basic + retain-long-modified-dates + example-research;"
    )


def test_profiles_validate_rejects_a_broken_profile(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("extends: [basic]\nrules:\n  - keyword: PatientsName\n", encoding="utf-8")
    result = invoke("profiles", "validate", broken)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: {broken}:3:14: rules[0].keyword: unknown DICOM keyword 'PatientsName'"
    )
    assert result.stdout == ""


def test_profiles_validate_checks_an_option_file_as_it_runs(tmp_path: Path) -> None:
    """A user's option file (kind: option) is checked layered over basic, as --option runs it
    (it was refused as "not a profile", and --option alone had no FILES to check)."""
    good, bad = tmp_path / "opt.yaml", tmp_path / "bad.yaml"
    option = "kind: option\nname: {}\nrules:\n  - {{keyword: StudyDescription, action: {}}}\n"
    good.write_text(option.format("my-opt", "K"), encoding="utf-8")
    bad.write_text(option.format("bad-opt", "Y"), encoding="utf-8")
    result = invoke("profiles", "validate", good)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        f"{good}: ok (an option, as --option over basic: basic + my-opt;"
    )
    result = invoke("profiles", "validate", bad)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {bad}:4:")
    assert "rules[0].action" in result.stderr


def test_profiles_validate_missing_file_exits_2(tmp_path: Path) -> None:
    result = invoke("profiles", "validate", tmp_path / "nope.yaml")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path / 'nope.yaml'}: no such file\n"


def test_run_output_is_readable_dicom_with_new_uids(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    out = tmp_path / "out"
    invoke("run", good_tree, "-o", out, "--key-file", key_file, "-q")
    for path in outputs(out):
        ds = pydicom.dcmread(io.BytesIO(path.read_bytes()))
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.SOPInstanceUID.startswith("2.25.")
        assert path.name == f"{ds.SOPInstanceUID}.dcm"
        assert path.parent.name == ds.SeriesInstanceUID


def test_the_summary_line_counts_in_words_and_says_what_an_earlier_run_did(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    one = good_tree / "series1" / "img1.dcm"
    alone = words(invoke("run", one, "-o", tmp_path / "one", "--key-file", key_file).stderr)
    assert " 1 file in " in f" {alone}" and "already done" not in alone
    out = tmp_path / "out"
    first = words(invoke("run", good_tree, "-o", out, "--key-file", key_file).stderr)
    assert "3 files in " in first and "already done" not in first
    again = words(invoke("run", good_tree, "-o", out, "--key-file", key_file).stderr)
    assert "3 files in " in again
    assert "(1 examined, 2 already done: " in again  # (README.txt is looked at again)
    one = words(
        invoke("run", good_tree, "-o", tmp_path / "o1", "--key-file", key_file, "-j", "1").stderr
    )
    assert ", 1 job)" in one and "1 jobs" not in one


def test_the_summary_line_gives_a_short_run_time_in_two_digits() -> None:
    """A run of a few files is not "in 0.0 s" beside a rate of 287 files/s."""
    from dicomscrub.cli import _seconds

    assert [_seconds(t) for t in (0.0418, 0.2, 0.95, 1.04, 12.345)] == [
        *("0.042 s", "0.2 s", "0.95 s", "1.0 s", "12.3 s")
    ]


def test_usage_errors_say_what_is_expected(tmp_path: Path, good_tree: Path) -> None:
    out = tmp_path / "out"
    cases = {
        ("run", "", "-o", out): "Invalid value for 'INPUTS...': an empty path is not an input "
        "(give . for the current folder)",
        ("run", good_tree, "-o", out, "--jobs", "abc"): "Invalid value for '-j' / '--jobs': "
        f"expected a whole number from 1 to {MAX_JOBS}; got 'abc'",
        ("profiles", "validate", "basic"): "basic: no such file; basic is a built-in profile, "
        "checked when it was made (see it with: dicomscrub profiles show basic)",
    }
    for args, message in cases.items():
        result = invoke(*args)
        assert result.exit_code == 2, args
        assert words(result.stderr).endswith(f"Error: {message}"), result.stderr
        assert not out.exists()


def test_messages_name_an_input_by_its_root_when_there_are_several(
    tmp_path: Path, good_tree: Path, key_file: Path
) -> None:
    """Two inputs may hold files of the same relative path: with several, a rejected file is
    named under the input it came from; an empty input folder alone gets a warning."""
    roots = [tmp_path / "a", tmp_path / "b"]
    for root in roots:
        root.mkdir()
        (root / "cut.dcm").write_bytes(b"\0" * 128 + b"DICM")
    result = invoke("run", *roots, "-o", tmp_path / "out", "--key-file", key_file)
    assert result.exit_code == 1
    for root in roots:
        assert f"rejected: {root / 'cut.dcm'}: damaged input: file ends after its DICM marker" in (
            words(result.stderr)
        )
    alone = invoke("run", roots[0], "-o", tmp_path / "out-a", "--key-file", key_file, "-q")
    assert "rejected: cut.dcm: damaged input" in alone.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = invoke("run", empty, "-o", tmp_path / "out-e", "--key-file", key_file)
    assert nothing.exit_code == 0
    assert "warning: the inputs hold no file: nothing was done" in words(nothing.stderr)


def test_paths_with_rich_markup_are_printed_as_they_are(good_tree: Path, key_file: Path) -> None:
    """The run's last line names the output, audit and summary as given: a folder name with
    brackets is no rich markup (``[/]`` made the run end in a MarkupError after its files were
    written, exit 1 against the summary's 0; ``[bold]`` vanished from the path shown)."""
    base = good_tree.parent
    for name in ("o[/]x", "deid [bold]"):
        out, summary = base / name, base / f"{name.replace('/', '_')}.json"
        result = invoke(
            "run", good_tree, "-o", out, "--key-file", key_file, "--summary-json", summary
        )
        assert result.exit_code == 0, result.output
        assert f"output: {out}" in words(result.output)
        assert f"summary: {summary}" in words(result.output)
        assert json.loads(summary.read_text(encoding="utf-8"))["exit_code"] == 0
