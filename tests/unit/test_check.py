"""``dicomscrub check``: what it finds in a de-identified tree, where it says it found it, the
report formats and exit codes, and that it never prints an identifying value in full."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydicom
import pytest
from click.testing import CliRunner, Result
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomscrub.check import CSV_COLUMNS, collect_identity
from dicomscrub.cli import cli
from dicomscrub.profile.model import CompiledProfile

BuildCT = Callable[..., Dataset]
WriteDicom = Callable[..., Path]

ROSSI_SOP = "1.2.826.0.1.3680043.8.498.31"
ROSSI_STUDY = "1.2.826.0.1.3680043.8.498.32"
ROSSI_SERIES = "1.2.826.0.1.3680043.8.498.33"
# Full identifying values of the input tree: none may appear in any report.
IDENTITY = (
    "DOE^JANE",
    "JANE",
    "MRN0012345",
    "ROSSI^MARIO",
    "MARIO",
    "MRN0024680",
    "ACC0001",
    "1.2.826.0.1.3680043.8.498.11",
    "1.2.826.0.1.3680043.8.498.14",
    "20240305",
    "19700101",
)


def invoke(*args: str | Path) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def check_json(*args: str | Path) -> tuple[int, dict[str, object]]:
    result = invoke("check", *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def findings(report: dict[str, object], problem: str | None = None) -> list[dict[str, str]]:
    rows = report["findings"]
    assert isinstance(rows, list)
    return [f for f in rows if problem is None or f["problem"] == problem]


def read(path: Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def save(ds: Dataset, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=True)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.key"
    path.write_bytes(b"k" * 32)
    return path


@pytest.fixture
def tree(tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom) -> Path:
    """Two patients; folder names hold their names, as real exports do."""
    root = tmp_path / "in"
    write_dicom(root / "DOE_JANE" / "ct1.dcm", make_ct())
    write_dicom(
        root / "DOE_JANE" / "ct2.dcm", make_ct(sop_instance_uid="1.2.826.0.1.3680043.8.498.21")
    )
    write_dicom(
        root / "ROSSI_MARIO" / "ct3.dcm",
        make_ct(
            patient_name="ROSSI^MARIO",
            patient_id="MRN0024680",
            sop_instance_uid=ROSSI_SOP,
            study_uid=ROSSI_STUDY,
            series_uid=ROSSI_SERIES,
        ),
    )
    return root


@pytest.fixture
def deid(tmp_path: Path, tree: Path, key_file: Path) -> Path:
    """dicomscrub's own output of ``tree`` (Basic Profile, hierarchy layout)."""
    out = tmp_path / "out"
    result = invoke("run", tree, "-o", out, "--key-file", key_file, "-q")
    assert result.exit_code == 0, result.output
    return out


def one_output(out: Path) -> Path:
    return sorted(out.rglob("*.dcm"))[0]


# ---- clean, and an untouched copy ----------------------------------------------------------------


def test_check_passes_on_dicomscrubs_own_output(deid: Path, tree: Path) -> None:
    code, report = check_json(deid, "--against", tree)
    assert code == 0
    assert report["clean"] is True
    assert findings(report) == []
    assert report["files"] == report["dicom_files"] == 3
    assert report["inputs_searched"] == 3
    assert isinstance(report["identifying_values_searched"], int)
    assert report["identifying_values_searched"] > 10


def test_a_link_to_a_folder_already_checked_is_no_finding(deid: Path, tree: Path) -> None:
    top = next(p for p in deid.iterdir() if p.is_dir() and p.name != ".dicomscrub")
    os.symlink(top.name, deid / "latest")  # a convenience link
    os.symlink(".", next(p for p in top.iterdir() if p.is_dir()) / "loop")  # and a loop
    code, report = check_json(deid, "--against", tree)
    assert code == 0, findings(report)
    assert report["clean"] is True and report["files"] == 3


def test_check_flags_an_untouched_copy_of_the_inputs(tmp_path: Path, tree: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    code, report = check_json(copy, "--against", tree)
    assert code == 1
    problems = {f["problem"] for f in findings(report)}
    assert problems == {"not-marked", "must-be-removed", "identifying-value", "private-not-allowed"}
    places = {(f["file"], f["location"], f["kind"]) for f in findings(report, "identifying-value")}
    assert ("D***/ct1.dcm", "(0010,0010)", "PatientName") in places
    assert ("D***/ct1.dcm", "(0008,2218)[0]/(0010,0010)", "PatientName") in places
    assert ("D***/ct1.dcm", "(0019,1010)", "PatientName") in places
    assert ("D***/ct1.dcm", "(0010,0020)", "PatientID") in places
    assert ("D***/ct1.dcm", "(0020,000D)", "UID") in places
    # the folders DOE_JANE and ROSSI_MARIO are the whole names, as folder names write them
    assert ("D***", "folder name", "PatientName") in places
    assert ("R***", "folder name", "PatientName") in places


@pytest.mark.parametrize("fmt", ["--json", "--csv", None])
def test_check_never_prints_an_identifying_value_in_full(
    tmp_path: Path, tree: Path, fmt: str | None
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    result = invoke("check", copy, "--against", tree, *([fmt] if fmt else []))
    assert result.exit_code == 1
    assert "(0010,0010)" in result.output
    leaked = [value for value in IDENTITY if value.lower() in result.output.lower()]
    assert leaked == []


# ---- a name hidden in the output -----------------------------------------------------------------


def hide_in_private_element(out: Path) -> tuple[str, str]:
    path = one_output(out)
    ds = read(path)
    ds.private_block(0x0011, "ACME 1.0", create=True).add_new(0x01, "LO", "Doe^Jane")
    save(ds, path)
    return path.relative_to(out).as_posix(), "(0011,1001)"


def hide_in_undecoded_private_data(out: Path) -> tuple[str, str]:
    path = one_output(out)
    ds = read(path)
    block = ds.private_block(0x0011, "ACME 1.0", create=True)
    block.add_new(0x02, "UN", b"\x01\x02\x03\x04DOE^JANE\x00\x00\xff\xfe")
    save(ds, path)
    return path.relative_to(out).as_posix(), "(0011,1002)"


def hide_as_utf16_in_private_data(out: Path) -> tuple[str, str]:
    path = one_output(out)
    ds = read(path)
    block = ds.private_block(0x0011, "ACME 1.0", create=True)
    block.add_new(0x03, "OB", b"\x01\x02" + "DOE^JANE from a wide string".encode("utf-16-le"))
    save(ds, path)
    return path.relative_to(out).as_posix(), "(0011,1003)"


def hide_in_nested_sequence(out: Path) -> tuple[str, str]:
    path = one_output(out)
    ds = read(path)
    inner = Dataset()
    inner.CodeMeaning = "JANE"
    ds.ReferencedImageSequence[0].PurposeOfReferenceCodeSequence = Sequence([inner])
    save(ds, path)
    return path.relative_to(out).as_posix(), "(0008,1140)[0]/(0040,A170)[0]/(0008,0104)"


def hide_in_overlay(out: Path) -> tuple[str, str]:
    path = one_output(out)
    ds = read(path)
    ds.add_new(0x60003000, "OB", b"\x00" * 16 + b"ROSSI^MARIO\x00" + b"\x00" * 4)
    save(ds, path)
    return path.relative_to(out).as_posix(), "(6000,3000)"


def hide_in_preamble(out: Path) -> tuple[str, str]:
    path = one_output(out)
    data = bytearray(path.read_bytes())
    data[0:8] = b"DOE^JANE"
    path.write_bytes(bytes(data))
    return path.relative_to(out).as_posix(), "preamble"


def hide_in_folder_name(out: Path) -> tuple[str, str]:
    path = one_output(out)
    folder = path.parent / "export_for_JANE"
    folder.mkdir()
    path.rename(folder / path.name)
    return folder.relative_to(out).as_posix().replace("JANE", "J***"), "folder name"


@pytest.mark.parametrize(
    "hide",
    [
        hide_in_private_element,
        hide_in_undecoded_private_data,
        hide_as_utf16_in_private_data,
        hide_in_nested_sequence,
        hide_in_overlay,
        hide_in_preamble,
        hide_in_folder_name,
    ],
    ids=lambda f: f.__name__,
)
def test_check_against_finds_a_name_hidden_in_the_output(
    deid: Path, tree: Path, hide: Callable[[Path], tuple[str, str]]
) -> None:
    assert check_json(deid, "--against", tree)[0] == 0
    file, location = hide(deid)
    code, report = check_json(deid, "--against", tree)
    assert code == 1
    found = {(f["file"], f["location"]) for f in findings(report, "identifying-value")}
    assert found == {(file, location)}
    for hit in findings(report, "identifying-value"):
        assert hit["kind"].startswith("PatientName")
        assert hit["detail"].endswith("chars)") and "***" in hit["detail"]


# ---- the profile's own rules ---------------------------------------------------------------------


def test_attribute_the_profile_removes_is_reported_inside_a_sequence(deid: Path) -> None:
    path = one_output(deid)
    ds = read(path)
    ds.ReferencedImageSequence[0].InstitutionAddress = "1 Example Way"
    save(ds, path)
    code, report = check_json(deid)
    assert code == 1
    (hit,) = findings(report)
    assert hit["problem"] == "must-be-removed"
    assert hit["location"] == "(0008,1140)[0]/(0008,0081)"
    assert hit["kind"] == "InstitutionAddress"
    assert hit["detail"] == "has a value; removed by basic: (0008,0081) X"
    assert "Example Way" not in json.dumps(report)


def test_emptied_attribute_with_a_value_is_reported(deid: Path) -> None:
    path = one_output(deid)
    ds = read(path)
    ds.StudyDate = "20240305"  # basic: Z
    save(ds, path)
    (hit,) = findings(check_json(deid)[1])
    assert (hit["location"], hit["detail"]) == (
        "(0008,0020)",
        "has a value; empty by basic: (0008,0020) Z",
    )


def test_missing_markers_are_reported(deid: Path) -> None:
    path = one_output(deid)
    ds = read(path)
    del ds.PatientIdentityRemoved
    ds.DeidentificationMethodCodeSequence[0].CodeValue = "113111"
    save(ds, path)
    code, report = check_json(deid)
    assert code == 1
    assert {(f["location"], f["problem"]) for f in findings(report)} == {
        ("(0012,0062)", "not-marked"),
        ("(0012,0064)", "not-marked"),
    }


def test_private_element_the_profile_removes_is_reported(deid: Path) -> None:
    hide_in_private_element(deid)
    (hit,) = findings(check_json(deid)[1])
    assert hit["problem"] == "private-not-allowed"
    assert hit["location"] == "(0011,1001)"
    assert hit["kind"] == "private element (ACME 1.0)"
    assert hit["detail"] == "basic: private X (every private element is removed)"


def test_safe_private_element_passes_only_under_the_profile_that_keeps_it(
    tmp_path: Path, tree: Path, key_file: Path
) -> None:
    out = tmp_path / "safe"
    run = invoke("run", tree, "-o", out, "--key-file", key_file, "--option", "retain-safe-private")
    assert run.exit_code == 0, run.output
    code, report = check_json(out, "--against", tree, "--option", "retain-safe-private")
    assert (code, findings(report)) == (0, [])
    code, report = check_json(out, "--against", tree)
    assert code == 1
    assert {(f["location"], f["problem"]) for f in findings(report)} == {
        ("(0019,1023)", "private-not-allowed")
    }


def test_files_that_cannot_be_verified_are_reported(deid: Path) -> None:
    (deid / "notes.txt").write_text("release notes\n", encoding="utf-8")
    (deid / ".dicomscrub-tmp-123-abc").write_bytes(one_output(deid).read_bytes()[:300])
    code, report = check_json(deid)
    assert code == 1
    assert {(f["file"], f["problem"], f["detail"]) for f in findings(report)} == {
        ("notes.txt", "unverifiable", "not DICOM (no DICM marker and no recognisable data set)"),
        (
            ".dicomscrub-tmp-123-abc",
            "unverifiable",
            "temporary file of an interrupted dicomscrub run; not processed",
        ),
    }


# ---- formats and exit codes ----------------------------------------------------------------------


def test_json_report_has_the_documented_fields(tmp_path: Path, tree: Path) -> None:
    code, report = check_json(tree, "--against", tree)
    assert code == 1
    assert set(report) == {
        "output",
        "profile",
        "clean",
        "files",
        "dicom_files",
        "files_with_findings",
        "checked",
        "compared",
        "inputs_searched",
        "inputs_skipped",
        "identifying_values_searched",
        "thresholds",
        "findings",
    }
    assert report["thresholds"] == {
        "min_chars": 4,
        "min_digits": 6,
        "min_binary_run": 8,
        "min_binary_word": 4,
    }
    assert report["profile"] == ["basic"]
    assert report["files_with_findings"] == 5  # 3 files and 2 folders
    assert all(set(f) == set(CSV_COLUMNS) for f in findings(report))


def test_csv_report_has_a_header_and_one_row_per_finding(tree: Path) -> None:
    as_csv = invoke("check", tree, "--against", tree, "--csv")
    code, report = check_json(tree, "--against", tree)
    assert as_csv.exit_code == code == 1
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]] == findings(report)


def test_table_report_ends_with_a_summary_line(deid: Path, tree: Path) -> None:
    result = invoke("check", deid, "--against", tree)
    assert result.exit_code == 0
    assert " ".join(result.stdout.split()).endswith(
        "3 files checked (3 DICOM); searched for "
        f"{check_json(deid, '--against', tree)[1]['identifying_values_searched']} identifying "
        "values of 3 input files (0 input files not searched): clean"
    )


def test_check_usage_and_profile_errors_exit_2(tmp_path: Path, deid: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - keyword: PatientName\n    action: Y\n", encoding="utf-8")
    result = invoke("check", deid, "-p", bad)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {bad}:3:13: rules[0].action:")
    assert invoke("check", deid, "--json", "--csv").exit_code == 2
    assert invoke("check", tmp_path / "missing").exit_code == 2


def test_words_of_kept_text_do_not_count_even_when_nested_in_a_longer_value(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, basic: CompiledProfile
) -> None:
    ds = make_ct()
    ds.Manufacturer = "Philips Medical Systems"  # kept (basic: not listed)
    ds.InstitutionName = "Philips Medical"  # replaced: a loose token ...
    ds.private_block(0x0019, "GEMS_ACQU_01").add_new(0x11, "LO", "PHILIPS")  # ... and another
    write_dicom(tmp_path / "in" / "a.dcm", ds)
    tokens = collect_identity([tmp_path / "in"], basic).tokens
    assert "philips medical" not in tokens
    assert "philips" not in tokens
    assert "doe^jane" in tokens


def test_check_against_is_not_fooled_by_a_scrub_that_fails_to_change_a_value(
    deid: Path, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``check --against`` judges what is kept by de-identifying the inputs itself: when that scrub
    leaves Patient Name (Z) as read (a fault), the name does not excuse itself, and an output that
    holds it in (0010,0010) is reported."""
    from dicomscrub.pipeline import Scrubber

    path = one_output(deid)
    ds = read(path)
    ds.PatientName = "DOE^JANE"  # a name of the inputs, where the faulty scrub leaves it
    save(ds, path)
    real_apply = Scrubber._apply

    def faulty_apply(self: Scrubber, data: Dataset, elem: Any, *rest: Any) -> Any:
        if int(elem.tag) == 0x00100010:
            return None  # decided and recorded, not done
        return real_apply(self, data, elem, *rest)

    monkeypatch.setattr(Scrubber, "_apply", faulty_apply)
    code, report = check_json(deid, "--against", tree)
    assert code == 1
    assert any(
        f["location"] == "(0010,0010)" and f["kind"].startswith("PatientName")
        for f in findings(report, "identifying-value")
    )


# ---- names read from the file system ------------------------------------------------------------


@pytest.fixture
def odd_names(
    tmp_path: Path, make_ct: Callable[..., Dataset], write_dicom: Callable[..., Path]
) -> tuple[Path, Path]:
    """An output tree whose files are named with a newline, an escape sequence and bytes that
    are not UTF-8 (not DICOM: each is a finding), and an input tree with one such name too."""
    out = os.fsencode(tmp_path / "out")
    os.makedirs(out + b"/sub")
    for name in (b"bad\nname\x1b[31m.txt", b"caf\xe9\xff.txt"):
        with open(out + b"/sub/" + name, "wb") as fh:
            fh.write(b"not DICOM")
    against = tmp_path / "in"
    write_dicom(against / "ok.dcm", make_ct())
    with open(os.fsencode(against) + b"/in\x1b\xfe.txt", "wb") as fh:
        fh.write(b"not DICOM")
    return tmp_path / "out", against


ESCAPED = {"sub/bad\\x0aname\\x1b[31m.txt", "sub/caf\\xe9\\xff.txt"}


def test_check_shows_controls_and_bytes_of_file_names_as_the_audit_does(
    odd_names: tuple[Path, Path],
) -> None:
    """The table and the CSV named files as they are: a newline broke a CSV row and a table
    cell, an escape sequence went to the terminal, a byte that is not UTF-8 went out raw."""
    out, against = odd_names
    as_csv = invoke("check", out, "--against", against, "--csv")
    table = invoke("check", out, "--against", against)
    assert as_csv.exit_code == table.exit_code == 1, table.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {row["file"] for row in rows} == ESCAPED
    assert len(as_csv.stdout.splitlines()) == len(rows) + 1  # one line per finding
    text = table.stdout.replace(" ", "")  # (cells may be padded)
    assert all(name.replace(" ", "") in text for name in ESCAPED)
    assert "inputnotsearched:in\\x1b\\xfe.txt:notDICOM" in text
    for shown in (as_csv.stdout, table.stdout):
        assert not any(c in "\x1b\ufffd" or 0xDC80 <= ord(c) <= 0xDCFF for c in shown)


@pytest.mark.parametrize("fmt", ["--json", "--csv", None])
def test_check_writes_odd_file_names_to_a_strict_utf_8_output(
    odd_names: tuple[Path, Path], fmt: str | None
) -> None:
    """Standard output that takes UTF-8 only (PYTHONIOENCODING=utf-8): a byte of a name that is
    not UTF-8 stopped the report with a traceback. In JSON it is ``\\udcNN``, as
    ``--summary-json`` writes it: read back, the names are the files' own."""
    out, against = odd_names
    done = subprocess.run(
        [sys.executable, "-m", "dicomscrub", "check", out, "--against", against]
        + ([fmt] if fmt else []),
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "200"},
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert b"Traceback" not in done.stderr
    text = done.stdout.decode("utf-8")  # (strict: all of it UTF-8)
    if fmt == "--json":
        report = json.loads(text)
        assert {os.fsencode(f["file"]) for f in report["findings"]} == {
            b"sub/bad\nname\x1b[31m.txt",
            b"sub/caf\xe9\xff.txt",
        }
        assert os.fsencode(report["inputs_skipped"][0]["input"]) == b"in\x1b\xfe.txt"
