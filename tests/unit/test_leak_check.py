"""``run``'s leak check (fail closed) and ``run --dry-run``."""

from __future__ import annotations

import csv
import struct
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import RLELossless

from dicomscrub import process as process_module
from dicomscrub.cli import cli
from dicomscrub.needles import Needles
from dicomscrub.process import FileResult
from dicomscrub.pseudonym import Key
from dicomscrub.state import STATE_DIR
from dicomscrub.tags import format_tag

BuildCT = Callable[..., Dataset]
WriteDicom = Callable[..., Path]


def invoke(*args: str | Path) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def file_rows(audit: Path) -> dict[str, dict[str, str]]:
    with audit.open(encoding="utf-8", newline="") as fh:
        return {r["input"]: r for r in csv.DictReader(fh) if r["record"] == "file"}


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.key"
    path.write_bytes(b"k" * 32)
    return path


@pytest.fixture
def ct_tree(tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom) -> Path:
    """One CT whose private element (0019,1010) holds the patient's name."""
    root = tmp_path / "in"
    write_dicom(root / "img1.dcm", make_ct())
    return root


@pytest.fixture
def keep_private_name(tmp_path: Path) -> Path:
    """A profile that keeps (0019,xx10) of GEMS_ACQU_01, which holds the patient's name."""
    path = tmp_path / "keep-name.yaml"
    path.write_text(
        'extends: [basic]\nrules:\n  - {tag: "(0019,xx10)", creator: GEMS_ACQU_01, action: K}\n',
        encoding="utf-8",
    )
    return path


# ---- fail closed ---------------------------------------------------------------------------------


def test_file_that_would_leak_a_value_of_its_input_is_rejected_and_not_written(
    tmp_path: Path, ct_tree: Path, key_file: Path, keep_private_name: Path
) -> None:
    out = tmp_path / "out"
    result = invoke("run", ct_tree, "-o", out, "-p", keep_private_name, "--key-file", key_file)
    assert result.exit_code == 1
    row = file_rows(tmp_path / "out.audit.csv")["img1.dcm"]
    assert row["status"] == "rejected"
    assert row["output"] == ""
    assert row["detail"] == (
        "leak check: the output would hold identifying values of its input "
        "(PatientName at (0019,1010)); not written"
    )
    assert [
        p for p in out.rglob("*") if p.is_file() and STATE_DIR not in p.relative_to(out).parts
    ] == []
    assert "DOE^JANE" not in result.output and "JANE" not in result.output


def test_full_name_in_a_description_the_profile_keeps_is_a_leak(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key_file: Path
) -> None:
    ds = make_ct(private=False)
    ds.StudyDescription = "CT chest, Jane Doe, follow-up"
    write_dicom(tmp_path / "in" / "img1.dcm", ds)
    profile = tmp_path / "keep-description.yaml"
    profile.write_text(
        "extends: [basic]\nrules:\n  - {keyword: StudyDescription, action: K}\n",
        encoding="utf-8",
    )
    result = invoke(
        "run", tmp_path / "in", "-o", tmp_path / "out", "-p", profile, "--key-file", key_file
    )
    assert result.exit_code == 1
    assert file_rows(tmp_path / "out.audit.csv")["img1.dcm"]["detail"] == (
        "leak check: the output would hold identifying values of its input "
        "(PatientName at (0008,1030)); not written"
    )


def test_the_same_file_is_written_with_the_leak_check_off(
    tmp_path: Path, ct_tree: Path, key_file: Path, keep_private_name: Path
) -> None:
    """The benchmark switch proves it is the leak check that rejects (and what would leak)."""
    out = tmp_path / "out"
    result = invoke(
        "run",
        ct_tree,
        "-o",
        out,
        "-p",
        keep_private_name,
        "--key-file",
        key_file,
        "--benchmark-no-leak-check",
    )
    assert result.exit_code == 0
    assert "leak check disabled" in result.stderr
    (written,) = [
        p for p in out.rglob("*") if p.is_file() and STATE_DIR not in p.relative_to(out).parts
    ]
    assert b"DOE^JANE" in written.read_bytes()


def test_shifted_date_equal_to_another_original_date_is_not_a_leak(
    tmp_path: Path, ct_tree: Path, key_file: Path
) -> None:
    """ContentDate 20240306 moved back one day is 20240305, the original Study Date."""
    profile = tmp_path / "one-day.yaml"
    profile.write_text(
        "extends: [basic, retain-long-modified-dates]\ndate_shift_days: [-1, -1]\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = invoke("run", ct_tree, "-o", out, "-p", profile, "--key-file", key_file)
    assert result.exit_code == 0, result.output
    (written,) = [
        p for p in out.rglob("*") if p.is_file() and STATE_DIR not in p.relative_to(out).parts
    ]
    assert b"20240305" in written.read_bytes()


# ---- dry run -------------------------------------------------------------------------------------


def test_dry_run_writes_the_audit_and_no_output(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key_file: Path
) -> None:
    root = tmp_path / "in"
    write_dicom(root / "a.dcm", make_ct())
    write_dicom(root / "b.dcm", make_ct(sop_instance_uid="1.2.826.0.1.3680043.8.498.99"))
    (root / "notes.txt").write_text("hello\n", encoding="utf-8")
    out = tmp_path / "out"
    result = invoke("run", root, "-o", out, "--key-file", key_file, "--dry-run")
    assert result.exit_code == 0, result.output
    assert not out.exists()
    assert not (tmp_path / "out.audit.csv").exists()  # (the real runs' audit: not moved aside)
    rows = file_rows(tmp_path / "out.dry-run.audit.csv")
    assert {k: r["status"] for k, r in rows.items()} == {
        "a.dcm": "would-write",
        "b.dcm": "would-write",
        "notes.txt": "skipped",
    }
    assert rows["a.dcm"]["output"].endswith(".dcm") and rows["a.dcm"]["detail"] == ""
    text = " ".join(result.stderr.split())
    assert "dicomscrub summary (dry run)" in text
    assert "would-write │ 2" in text
    assert f"dry run, nothing written to {out}" in text
    # a real run, then another plan: the real run's audit stays where it is, not set aside
    assert invoke("run", root, "-o", out, "--key-file", key_file).exit_code == 0
    real = (tmp_path / "out.audit.csv").read_bytes()
    assert invoke("run", root, "-o", out, "--key-file", key_file, "--dry-run").exit_code == 0
    assert (tmp_path / "out.audit.csv").read_bytes() == real
    assert not list(tmp_path.glob("out.audit.earlier-*"))


def test_dry_run_reports_what_the_real_run_then_does(
    tmp_path: Path, ct_tree: Path, key_file: Path
) -> None:
    out = tmp_path / "out"
    audits = {name: tmp_path / f"{name}.csv" for name in ("dry", "real", "again")}
    dry = invoke(
        "run", ct_tree, "-o", out, "--key-file", key_file, "--dry-run", "--audit", audits["dry"]
    )
    real = invoke("run", ct_tree, "-o", out, "--key-file", key_file, "--audit", audits["real"])
    again = invoke(
        "run", ct_tree, "-o", out, "--key-file", key_file, "--dry-run", "--audit", audits["again"]
    )
    assert dry.exit_code == real.exit_code == again.exit_code == 0
    planned, done, rerun = (file_rows(audits[n])["img1.dcm"] for n in ("dry", "real", "again"))
    assert (planned["status"], done["status"], rerun["status"]) == (
        "would-write",
        "written",
        "skipped",
    )
    assert planned["output"] == done["output"] == rerun["output"]
    assert rerun["detail"] == "identical output already present"


def test_dry_run_still_rejects_a_file_that_would_leak(
    tmp_path: Path, ct_tree: Path, key_file: Path, keep_private_name: Path
) -> None:
    out = tmp_path / "out"
    result = invoke(
        "run", ct_tree, "-o", out, "-p", keep_private_name, "--key-file", key_file, "--dry-run"
    )
    assert result.exit_code == 1
    assert file_rows(tmp_path / "out.dry-run.audit.csv")["img1.dcm"]["status"] == "rejected"
    assert not out.exists()


def test_dry_run_refuses_a_crosswalk(tmp_path: Path, ct_tree: Path, key_file: Path) -> None:
    result = invoke(
        "run",
        ct_tree,
        "-o",
        tmp_path / "out",
        "--key-file",
        key_file,
        "--dry-run",
        "--mapping-out",
        tmp_path / "map.csv",
    )
    assert result.exit_code == 2
    assert result.stderr == "Error: --dry-run writes no crosswalk; leave out --mapping-out\n"
    assert not (tmp_path / "map.csv").exists()


def _outputs(out: Path) -> list[Path]:
    """The files of an output tree, without dicomscrub's own state folder."""
    return [p for p in out.rglob("*") if p.is_file() and STATE_DIR not in p.relative_to(out).parts]


def _runner(
    tmp_path: Path, key: Key, lanes: bool, profile: str, options: tuple[str, ...] = ()
) -> Callable[[Path], FileResult]:
    """process_file with ``profile`` (a name or a file) and ``options``, with or without the
    lanes."""
    from dicomscrub.discover import Source
    from dicomscrub.pipeline import Scrubber
    from dicomscrub.process import Job, process_file
    from dicomscrub.profile.loader import load_profile
    from dicomscrub.pseudonym import Pseudonymizer
    from dicomscrub.writer import Layout, OutputPlan

    job = Job(
        Scrubber(load_profile(profile, options), Pseudonymizer(key)),
        OutputPlan(tmp_path / f"out-{lanes}", Layout.HIERARCHY, ("in",)),
        lanes=lanes,
    )
    return lambda path: process_file(Source(path, 0, path.parent, path.name), job)


def _keeping_descriptions(tmp_path: Path, key: Key, lanes: bool) -> Callable[[Path], FileResult]:
    """process_file with the Basic Profile that also keeps Study Description and the private
    (0019,xx11) of GEMS_ACQU_01, with or without the lanes."""
    profile = tmp_path / "keep.yaml"
    profile.write_text(
        "extends: [basic]\nrules:\n  - {keyword: StudyDescription, action: K}\n"
        '  - {tag: "(0019,xx11)", creator: GEMS_ACQU_01, action: K}\n',
        encoding="utf-8",
    )
    return _runner(tmp_path, key, lanes, str(profile))


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_values_removed_unparsed_are_searched_like_parsed_ones(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A private value and an X attribute removed from their bytes (never parsed) are still
    identifying values of the input: found in a kept description, the file is rejected."""
    from dicomscrub.process import Status

    run_one = _keeping_descriptions(tmp_path, key, lanes)
    unparsed: list[int] = []
    real_split = process_module.split

    def spy(*args: object, **kwargs: object) -> object:
        found = real_split(*args, **kwargs)  # type: ignore[arg-type]
        unparsed.extend(item[0] for item in (found.removed if found else []))
        return found

    monkeypatch.setattr(process_module, "split", spy)
    # a full name of an X attribute kept in a description (a name component alone is not a leak
    # in text the profile keeps); an ID inside an X sequence kept in a description; a private
    # value kept in a private element
    cases = {
        "Featherstonehaugh": ("(0008,1030)", "CT chest Hugo Featherstonehaugh"),
        "ALT0099887": ("(0008,1030)", "CT ALT0099887"),
        "Wolverhampton": ("(0019,1011)", "CT"),
    }
    for word, (place, description) in cases.items():
        ds = make_ct()
        ds[0x00191010].value = "Wolverhampton"  # GEMS_ACQU_01, undeclared: removed under basic
        ds.OtherPatientNames = "Featherstonehaugh^Hugo"  # X under basic
        other = Dataset()
        other.PatientID = "ALT0099887"
        ds.OtherPatientIDsSequence = [other]  # X under basic
        ds.StudyDescription = description
        ds.private_block(0x0019, "GEMS_ACQU_01").add_new(0x11, "LO", f"{word} General")
        path = write_dicom(tmp_path / "in" / f"{word}.dcm", ds)
        result = run_one(path)
        assert result.status is Status.REJECTED, (place, result.detail)
        assert place in result.detail
        assert word not in result.detail
    if lanes:  # the values were removed from their bytes, never parsed
        assert {0x00191010, 0x00101001, 0x00101002} <= set(unparsed)


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_name_written_as_utf16_in_a_kept_binary_value_is_found(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    encoding: str,
) -> None:
    """The patient's name and ID as a Windows program writes wide strings, in a private OB value
    the profile keeps: found (8-bit text runs alone never held them), located at that value."""
    from dicomscrub.process import Status

    ds = make_ct(private=False)
    text = f"{ds.PatientName} {ds.PatientID}".encode(encoding)
    ds.private_block(0x0019, "GEMS_ACQU_01", create=True).add_new(0x11, "OB", text)
    result = _keeping_descriptions(tmp_path, key, lanes)(write_dicom(tmp_path / "in" / "w.dcm", ds))
    assert result.status is Status.REJECTED, result.detail
    assert "at (0019,1011)" in result.detail
    assert str(ds.PatientID) not in result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_a_removed_value_the_profile_keeps_elsewhere_is_not_a_leak(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool
) -> None:
    """What is not a leak is judged on the output, elements written as read included: a private
    value removed under the Basic Profile that is also a word of a description the profile keeps
    is shown anyway, so the file is written; the same value kept in a private element is not."""
    from dicomscrub.process import Status

    run_one = _keeping_descriptions(tmp_path, key, lanes)
    outcomes = {}
    for description in ("CT Wolverhampton protocol", "CT"):
        ds = make_ct()
        ds[0x00191010].value = "Wolverhampton"  # GEMS_ACQU_01, undeclared: removed under basic
        ds.StudyDescription = description
        ds.private_block(0x0019, "GEMS_ACQU_01").add_new(0x11, "LO", "Wolverhampton")
        path = write_dicom(tmp_path / "in" / f"{len(description)}.dcm", ds)
        outcomes[description] = run_one(path)
    assert outcomes["CT Wolverhampton protocol"].status is Status.WRITTEN
    rejected = outcomes["CT"]
    assert rejected.status is Status.REJECTED
    assert "(0019,1011)" in rejected.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("Featherstonehaugh Hugo", "PatientName"),
        ("MRN0099887", "PatientID"),
        ("1.2.826.0.1.3680043.2.1143.777.1", "UID"),
        ("19610317", "date"),
    ],
)
def test_a_whole_value_copied_into_an_attribute_no_rule_lists_is_a_leak(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    value: str,
    kind: str,
) -> None:
    """Manufacturer's Model Name is not in Table E.1-1: the profile's default keeps it, and a
    value typed there that equals the whole name, ID, UID or date the profile removes is the
    leak (it used to excuse itself, being a value the output holds). A Patient ID equal to a
    number the output holds (Acquisition Number) is still no leak: a number names no one."""
    from dicomscrub.process import Status

    run_one = _runner(tmp_path, key, lanes, "basic")
    ds = make_ct(
        patient_name="Featherstonehaugh^Hugo",
        patient_id="MRN0099887",
        study_uid="1.2.826.0.1.3680043.2.1143.777.1",
    )
    ds.PatientBirthDate = "19610317"
    ds.ManufacturerModelName = value
    result = run_one(write_dicom(tmp_path / "in" / "copied.dcm", ds))
    assert result.status is Status.REJECTED, result.detail
    assert f"{kind} at (0008,1090)" in result.detail
    assert value not in result.detail

    number = make_ct(patient_id="4400917")
    number.AcquisitionNumber = "4400917"  # IS, no rule: kept
    result = run_one(write_dicom(tmp_path / "in" / "number.dcm", number))
    assert result.status is Status.WRITTEN, result.detail


def _with_raw(
    write_dicom: WriteDicom, path: Path, ds: Dataset, tag: int, vr: str, value: bytes
) -> Path:
    """``ds`` written to ``path`` with an element as a device wrote it, its value not checked
    against its VR (written as a placeholder of its length, then patched in the bytes)."""
    value += b" " if len(value) % 2 else b""
    placeholder = b"9" * len(value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (pydicom warns of a DS or CS that long)
        ds.add_new(tag, vr, placeholder.decode())
        data = write_dicom(path, ds).read_bytes()
    assert data.count(placeholder) == 1
    path.write_bytes(data.replace(placeholder, value))
    return path


NAME, ID, BORN = "Hendricks^Margaret", "PID77123", "19750315"


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("tag", "vr", "value", "kind"),
    [
        (0x00180015, "CS", b"HENDRICKS MARGARET", "PatientName"),  # Body Part Examined
        (0x00180088, "DS", b"Margaret Hendricks", "PatientName"),  # Spacing Between Slices
        (0x00180088, "DS", BORN.encode(), "date"),  # a number, and the birth date
        (0x00200012, "IS", ID.encode(), "PatientID"),  # Acquisition Number
    ],
    ids=["cs-name", "ds-name", "ds-birth-date", "is-id"],
)
def test_a_code_string_or_number_no_rule_lists_is_judged_by_its_value(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    tag: int,
    vr: str,
    value: bytes,
    kind: str,
) -> None:
    """A CS, DS or IS kept by the default excuses a whole name, ID or date equal to it only when
    it is a number that is no date: a name typed into Body Part Examined, or an invalid DS kept
    as read, is the leak (it excused itself, and the same value anywhere else in the file). A
    code string still excuses the patient's name part equal to a word of it (a patient Head and
    Body Part Examined HEAD)."""
    from dicomscrub.process import Status

    run_one = _runner(tmp_path, key, lanes, "basic")
    ds = make_ct(private=False, patient_name=NAME, patient_id=ID)
    ds.PatientBirthDate = BORN
    result = run_one(_with_raw(write_dicom, tmp_path / "in" / "a.dcm", ds, tag, vr, value))
    assert result.status is Status.REJECTED, result.detail
    assert f"{kind} at ({tag >> 16:04X},{tag & 0xFFFF:04X})" in result.detail
    copied = make_ct(private=False, patient_name=NAME, patient_id=ID)
    copied.PatientBirthDate = BORN
    copied.ManufacturerModelName = f"x {value.decode()} y"  # (rejected alone: see above)
    result = run_one(_with_raw(write_dicom, tmp_path / "in" / "b.dcm", copied, tag, vr, value))
    assert result.status is Status.REJECTED, result.detail
    assert "at (0008,1090)" in result.detail

    head = make_ct(private=False, patient_name="Head^Margaret", patient_id=ID)
    head.BodyPartExamined = "HEAD"
    result = run_one(write_dicom(tmp_path / "in" / "head.dcm", head))
    assert result.status is Status.WRITTEN, result.detail
    chest = make_ct(private=False, patient_name=NAME, patient_id=ID)
    chest.StudyID = chest.BodyPartExamined = "CHEST"  # (one word of letters: vocabulary)
    chest.SOPInstanceUID += ".2"
    result = run_one(write_dicom(tmp_path / "in" / "chest.dcm", chest))
    assert result.status is Status.WRITTEN, result.detail


@pytest.mark.filterwarnings("ignore:Unknown encoding")
@pytest.mark.filterwarnings("ignore:Incorrect value for Specific Character Set")
@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_a_surname_typed_into_specific_character_set_is_a_leak(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool
) -> None:
    """A value there that names no character set is no vocabulary that excuses the patient's
    surname: the file is rejected, not written with it."""
    from dicomscrub.process import Status

    ds = make_ct(private=False, patient_name="Kowalczyk^Wojciech")
    ds.SpecificCharacterSet = "ISO_IR 100"
    path = write_dicom(tmp_path / "in" / "a.dcm", ds)
    data = path.read_bytes()
    assert data.count(b"ISO_IR 100") == 1
    path.write_bytes(data.replace(b"ISO_IR 100", b"Kowalczyk "))
    result = _runner(tmp_path, key, lanes, "basic")(path)
    assert result.status is Status.REJECTED, result.detail
    assert "PatientName component at (0008,0005)" in result.detail


def _checked_against(tmp_path: Path, key_file: Path, *options: str | Path) -> Result:
    """``check --against`` (with ``options``) of an output of ``tmp_path/in`` written by ``run``
    (with the same options) without its leak check."""
    out = tmp_path / "out"
    ran = invoke(
        "run", tmp_path / "in", "-o", out, "--key-file", key_file, *options,
        "--benchmark-no-leak-check",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    return invoke("check", out, "--against", tmp_path / "in", *options, "--json")


def _rejected_by_run_and_check(
    tmp_path: Path,
    key: Key,
    key_file: Path,
    lanes: bool,
    path: Path,
    found: str,
    where: str,
    options: tuple[str, ...] = (),
) -> None:
    """``run`` (with ``options``) rejects ``path``, its detail naming ``found``, and ``check
    --against`` of an output written without the leak check reports ``where``."""
    from dicomscrub.process import Status

    result = _runner(tmp_path, key, lanes, "basic", options)(path)
    assert result.status is Status.REJECTED, result.detail
    assert found in result.detail
    flags = [arg for option in options for arg in ("--option", option)]
    checked = _checked_against(tmp_path, key_file, *flags)
    assert checked.exit_code == 1 and where in checked.output, checked.output


def test_check_against_judges_a_code_string_no_rule_lists_by_its_value(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key_file: Path
) -> None:
    """``check --against`` judges as ``run`` does: a whole name in Body Part Examined (CS, kept
    by the default) is found, and excuses no copy of it elsewhere."""
    ds = make_ct(private=False, patient_name=NAME, patient_id=ID)
    ds.ManufacturerModelName = "HENDRICKS MARGARET"
    _with_raw(write_dicom, tmp_path / "in" / "a.dcm", ds, 0x00180015, "CS", b"HENDRICKS MARGARET")
    checked = _checked_against(tmp_path, key_file)
    assert checked.exit_code == 1, checked.output
    assert "(0018,0015)" in checked.output and "(0008,1090)" in checked.output
    assert "HENDRICKS" not in checked.output.upper()


def _mis_encoded(write_dicom: WriteDicom, path: Path, ds: Dataset) -> Path:
    """``ds`` written as a data set that says it is UTF-8 but holds Latin-1 bytes (Mxller is
    written M\xfcller, Jxrgen J\xfcrgen), as a device that ignores its own character set does."""
    ds.SpecificCharacterSet = "ISO_IR 192"
    data = write_dicom(path, ds).read_bytes()
    path.write_bytes(data.replace(b"Mxller", b"M\xfcller").replace(b"Jxrgen", b"J\xfcrgen"))
    return path


@pytest.mark.filterwarnings("ignore:Failed to decode")
@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("written", ["Jxrgen Mxller", "Mxller", "Dr. Mxller-Smith"])
def test_a_name_in_bytes_its_character_set_cannot_decode_is_found(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    key_file: Path,
    lanes: bool,
    written: str,
) -> None:
    """pydicom decodes what the character set cannot with a replacement character
    (M\ufffdller): the value is searched for as the bytes it was read from, whatever they were
    (the output holds them as read), by run and by ``check --against``."""
    from dicomscrub.process import Status

    ds = make_ct(private=False, patient_name="Mxller^Jxrgen", patient_id="PID998877")
    ds.add_new(0x60001500, "LO", written)  # (Overlay Label: no rule lists it)
    path = _mis_encoded(write_dicom, tmp_path / "in" / "a.dcm", ds)
    _rejected_by_run_and_check(
        tmp_path, key, key_file, lanes, path, "PatientName component at (6000,1500)", "(6000,1500)"
    )

    other = make_ct(private=False, patient_name="Mxller^Jxrgen", patient_id="PID998877")
    other.add_new(0x60001500, "LO", "Mxllerhof")  # (no whole word of the name)
    path = _mis_encoded(write_dicom, tmp_path / "in2" / "b.dcm", other)
    assert _runner(tmp_path, key, lanes, "basic")(path).status is Status.WRITTEN


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("charset", "written", "kind"),
    [
        ("ISO_IR 192", "ＨＥＮＤＲＩＣＫＳ ＭＡＲＧＡＲＥＴ", "PatientName"),
        ("ISO_IR 192", "生年月日 １９７５年３月１５日", "date"),
        ("GB18030", "ＩＤ：ＰＩＤ７７１２３", "PatientID"),
        (["", "ISO 2022 IR 87"], "ｈｅｎｄｒｉｃｋｓ\u3000ｍａｒｇａｒｅｔ", "PatientName"),
    ],
    ids=["utf-8", "utf-8-date", "gb18030", "iso-2022-ir-87"],
)
def test_a_value_written_in_full_width_letters_and_digits_is_found(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    key_file: Path,
    lanes: bool,
    charset: str | list[str],
    written: str,
    kind: str,
) -> None:
    """Japanese, Chinese and Korean systems type Latin letters and digits full-width: a name, an
    ID or a date so written into a kept attribute is found by run and by ``check --against``;
    full-width text that holds none is no leak."""
    from dicomscrub.process import Status

    run_one = _runner(tmp_path, key, lanes, "basic")
    ds = make_ct(private=False, patient_name=NAME, patient_id=ID)
    ds.PatientBirthDate = BORN
    ds.SpecificCharacterSet = charset
    ds.ManufacturerModelName = written
    result = run_one(write_dicom(tmp_path / "in" / "a.dcm", ds))
    assert result.status is Status.REJECTED, result.detail
    assert f"{kind} at (0008,1090)" in result.detail
    checked = _checked_against(tmp_path, key_file)
    assert checked.exit_code == 1 and "(0008,1090)" in checked.output, checked.output

    other = make_ct(private=False, patient_name=NAME, patient_id=ID)
    other.SpecificCharacterSet = charset
    other.ManufacturerModelName = "ＣＴ ＣＨＥＳＴ ７７１２３"
    assert run_one(write_dicom(tmp_path / "in2" / "b.dcm", other)).status is Status.WRITTEN


def test_check_against_names_why_an_input_could_not_be_read(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the system says it (Permission denied), not as Python's exception is named."""
    from dicomscrub import check, process
    from dicomscrub.profile.loader import load_profile

    write_dicom(tmp_path / "in" / "a.dcm", make_ct(private=False))

    def refused(path: Path) -> Any:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(process, "read_dataset", refused)
    identity = check.collect_identity([tmp_path / "in"], load_profile("basic"))
    assert identity.skipped == [("a.dcm", "cannot read: Permission denied")]


def test_check_against_finds_a_whole_value_copied_into_an_attribute_no_rule_lists(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key_file: Path
) -> None:
    """``check --against`` judges as ``run`` does: the Patient ID written whole in Manufacturer's
    Model Name (kept by the default, no rule) is found in an output written without the check."""
    ds = make_ct(private=False, patient_id="MRN0099887")
    ds.ManufacturerModelName = "MRN0099887"
    write_dicom(tmp_path / "in" / "img1.dcm", ds)
    checked = _checked_against(tmp_path, key_file)
    assert checked.exit_code == 1, checked.output
    assert "(0008,1090)" in checked.output
    assert "MRN0099887" not in checked.output


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_values_inside_private_sequences_are_identifying_unless_kept(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool
) -> None:
    """A private sequence is read from its bytes for the leak check: an ID inside one the profile
    removes, or emptied inside one it keeps, is still an identifying value of the input, found
    in a kept description; the same kept sequence beside a description without it is written."""
    from dicomscrub.process import Status

    run_one = _keeping_descriptions(tmp_path, key, lanes)  # keeps (0019,xx11) of GEMS_ACQU_01
    outcomes = {}
    for name, element, description in (
        ("removed", 0x12, "CT ALT0099887"),
        ("kept", 0x11, "CT ALT0099887"),
        ("kept-clean", 0x11, "CT"),
    ):
        ds = make_ct()
        inner = Dataset()
        inner.PatientID = "ALT0099887"  # Z under basic, wherever it stands
        inner.Manufacturer = "Example"
        ds.private_block(0x0019, "GEMS_ACQU_01").add_new(element, "SQ", [inner])
        ds.StudyDescription = description
        outcomes[name] = run_one(write_dicom(tmp_path / "in" / f"{name}.dcm", ds))
    for name in ("removed", "kept"):
        assert outcomes[name].status is Status.REJECTED, (name, outcomes[name].detail)
        assert "(0008,1030)" in outcomes[name].detail
        assert "ALT0099887" not in outcomes[name].detail
    assert outcomes["kept-clean"].status is Status.WRITTEN, outcomes["kept-clean"].detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_a_value_the_profile_keeps_as_read_is_not_searched_for(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scrub records no decision for an element it leaves as read (the leak check never
    counts one): Patient ID kept by the profile is written, and is not among the values searched
    for, though the lanes always parse it; the Patient Name it removes is."""
    from dicomscrub import check as check_module
    from dicomscrub.process import Status

    profile = tmp_path / "keep-id.yaml"
    profile.write_text(
        "extends: [basic]\nrules:\n  - {keyword: PatientID, action: K}\n", encoding="utf-8"
    )
    run_one = _runner(tmp_path, key, lanes, str(profile))
    searched: set[str] = set()
    real_search = check_module.search_needles

    def spy(groups: list[Needles], *rest: Any) -> Any:
        for group in groups:
            for tokens in group.by_key.values():
                searched.update(token.text for token in tokens)
            searched.update(token.text for token in group.always)
        return real_search(groups, *rest)

    monkeypatch.setattr(check_module, "search_needles", spy)
    ds = make_ct()
    ds.PatientID = "KEPT0099887"
    ds.PatientName = "Featherstonehaugh^Hugo"
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    result = run_one(path)
    assert result.status is Status.WRITTEN, result.detail
    assert "kept0099887" not in searched
    assert "featherstonehaugh" in searched


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("charset", "value"),
    [
        ("ISO_IR 100", "Wolverhampton"),
        ("ISO_IR 192", "Müllerstraße"),
        ("ISO_IR 100", "Müllerstraße"),
    ],
)
def test_what_is_not_a_leak_is_judged_in_the_output_s_encoding(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    charset: str,
    value: str,
) -> None:
    """A private value removed under the Basic Profile that is also a word of a description the
    profile keeps is shown anyway, whatever the encoding of the file and the letters of the value
    (only values that hold a candidate's bytes are decoded to judge it)."""
    from dicomscrub.process import Status

    run_one = _keeping_descriptions(tmp_path, key, lanes)
    ds = make_ct()
    ds.SpecificCharacterSet = charset
    ds[0x00191010].value = value  # GEMS_ACQU_01, undeclared: removed under basic
    ds.StudyDescription = f"CT {value} protocol"
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    result = run_one(path)
    assert result.status is Status.WRITTEN, result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("place", ["item", "item-own-charset", "nested-item"])
def test_what_is_not_a_leak_in_sequence_items_is_judged_as_if_all_were_decoded(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    place: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A removed private value that a kept private element shows again is not a leak when it is
    also a word of a code meaning the profile keeps, in a sequence item at any depth (the file is
    written), and is one without that code meaning; the values left undecoded because their bytes
    hold no candidate never hold one."""
    from pydicom.sequence import Sequence
    from pydicom.uid import generate_uid

    from dicomscrub import check as check_module
    from dicomscrub.process import Status

    real = check_module.output_values
    judged: list[str] = []

    def both_ways(
        ds: Dataset,
        kept: Any,
        context: Any,
        memo: Any,
        texts: Any = (),
        unchanged: Any = None,
        cleaned: Any = (),
    ) -> Any:
        texts = tuple(texts)
        filtered = list(real(ds, kept, context, memo, texts, unchanged, cleaned))
        everything = list(real(ds, kept, context, memo, (), unchanged, cleaned))
        for text in texts:
            judged.append(text)
            holding = {value for _, value in everything if text in value.lower()}
            assert holding == {value for _, value in filtered if text in value.lower()}
        return iter(filtered)

    monkeypatch.setattr(check_module, "output_values", both_ways)
    run_one = _keeping_descriptions(tmp_path, key, lanes)
    outcomes = {}
    for meaning in ("Wolverhampton region", "Brain"):
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator = "T-A0100", "SRT"
        code.CodeMeaning = meaning
        item = code
        if place == "item-own-charset":
            code.SpecificCharacterSet = "ISO_IR 192"
        elif place == "nested-item":
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "1", "99X", "Outer"
            item.ModifierCodeSequence = Sequence([code])
        ds = make_ct()
        ds[0x00191010].value = "Wolverhampton"  # GEMS_ACQU_01, undeclared: removed under basic
        ds.private_block(0x0019, "GEMS_ACQU_01").add_new(0x11, "LO", "Wolverhampton")  # kept
        ds.AnatomicRegionSequence = Sequence([item])  # kept (not in Table E.1-1)
        ds.SOPInstanceUID = generate_uid(entropy_srcs=[meaning])  # two outputs, two names
        path = write_dicom(tmp_path / "in" / f"{len(meaning)}.dcm", ds)
        outcomes[meaning] = run_one(path)
    assert outcomes["Wolverhampton region"].status is Status.WRITTEN
    assert outcomes["Brain"].status is Status.REJECTED
    assert "(0019,1011)" in outcomes["Brain"].detail
    assert "wolverhampton" in judged


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("charset", "name"),
    [
        ("ISO_IR 144", "ИВАНОВ^ИВАН"),
        ("ISO_IR 144", "Иванов^Иван"),
        ("ISO_IR 126", "Παπαδόπουλος^Νίκος"),
        ("ISO_IR 138", "כהן^דוד"),
        ("GB18030", "王小明^明"),
        ("ISO_IR 192", "Иванов^Иван"),
        ("ISO_IR 100", "Ölçer^Ñúñez"),
    ],
)
def test_a_leak_is_found_in_the_file_s_own_character_set_and_letter_case(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    keep_private_name: Path,
    lanes: bool,
    charset: str,
    name: str,
) -> None:
    """A profile that keeps a private element holding the patient's name: the leak check finds
    the name written in the file's Specific Character Set (which the profile keeps as read), and
    in title case as well as in upper and lower case."""
    from dicomscrub.process import Status

    ds = make_ct(patient_name=name)
    ds.SpecificCharacterSet = charset
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    result = _runner(tmp_path, key, lanes, str(keep_private_name))(path)
    assert result.status is Status.REJECTED, result.detail
    assert "(0019,1010)" in result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("charset", "name"),
    [
        ("ISO_IR 101", "Dvořák^Řehoř"),
        ("ISO_IR 126", "Παπαδόπουλος^Νίκος"),
        ("ISO_IR 127", "قباني^نزار"),
        ("ISO_IR 138", "כהן^דוד"),
        ("ISO_IR 144", "ИВАНОВА^МАРИЯ"),
        ("ISO_IR 148", "Çelikşah^Ayşegül"),
        ("ISO_IR 166", "ศรีสุข^สมชาย"),
        ("GB18030", "王小明^明华"),
        ("GBK", "王小明^明华"),
        ("\\ISO 2022 IR 87", "山田^太郎"),
        ("\\ISO 2022 IR 149", "김희중^희중"),
    ],
)
def test_a_name_in_a_standard_element_the_basic_profile_keeps_is_found_in_any_charset(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    charset: str,
    name: str,
) -> None:
    """The Basic Profile keeps Overlay Label (6000,1500) and the Specific Character Set as read:
    with no sequence to parse, the lanes parse neither, and the patient's name written there in
    the file's own character set is still found (as when the file is parsed)."""
    from dicomscrub.process import Status

    family, given = name.split("^")
    ds = make_ct(patient_name=name)
    del ds.AnatomicRegionSequence, ds.ReferencedImageSequence  # nothing parsed in the lanes
    ds.SpecificCharacterSet = charset
    ds.add_new(0x60001500, "LO", f"scan {given} {family}")
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    result = _runner(tmp_path, key, lanes, "basic")(path)
    assert result.status is Status.REJECTED, result.detail
    assert "(6000,1500)" in result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("where", ["unknown", "description"])
@pytest.mark.parametrize(
    ("charset", "name", "copy"),
    [
        ("ISO_IR 192", "Yamada^Tarou=山田^太郎=やまだ^たろう", "山田 太郎"),
        ("ISO_IR 192", "Yamada^Tarou=山田^太郎=やまだ^たろう", "山田太郎"),
        ("ISO_IR 192", "Yamada^Tarou=山田^太郎=やまだ^たろう", "やまだ たろう"),
        ("\\ISO 2022 IR 87", "Yamada^Tarou=山田^太郎=やまだ^たろう", "山田 太郎"),
        ("\\ISO 2022 IR 87", "Yamada^Tarou=山田^太郎=やまだ^たろう", "山田\u3000太郎"),
        ("ISO_IR 192", "王^小明", "王小明"),
        ("GB18030", "王^小明", "王小明"),
        ("ISO_IR 192", "=김^희중", "김희중"),
    ],
)
def test_a_name_s_ideographic_and_phonetic_groups_are_found_as_cjk_names_are_written(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    where: str,
    charset: str,
    name: str,
    copy: str,
) -> None:
    """The whole name of any group (not only the first), written as CJK names are (family name
    first, joined or with a space), copied into an attribute the dictionary does not know (read
    as UN in implicit VR) or into a description the profile keeps, is found."""
    from dicomscrub.process import Status

    ds = make_ct(patient_name=name)
    ds.SpecificCharacterSet = charset
    if where == "unknown":
        ds.add_new(0x12345678, "LO", copy)
        expected = "(1234,5678)"
    else:
        ds.StudyDescription = f"CT {copy} follow-up"  # (a kept value equal to it excuses it)
        expected = "(0008,1030)"
    path = write_dicom(tmp_path / "in" / "one.dcm", ds, "raw-implicit")
    result = _keeping_descriptions(tmp_path, key, lanes)(path)
    assert result.status is Status.REJECTED, result.detail
    assert f"PatientName at {expected}" in result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("where", ["unknown", "description"])
@pytest.mark.parametrize(
    ("charset", "name", "copy"),
    [
        # (given names too short to search alone: only what follows the escape is found)
        ("\\ISO 2022 IR 149", "김희중^홍길동", "김희중 홍길동"),
        ("\\ISO 2022 IR 144", "Иванов^Ян", "Иванов Ян"),
        ("\\ISO 2022 IR 126", "Παπαδόπουλος^Ιω", "Παπαδόπουλος Ιω"),
        ("\\ISO 2022 IR 87", "田中^太郎", "田中太郎"),  # JIS X 0208 bytes EDCfB@O:
        ("\\ISO 2022 IR 87", "Tanaka^Tarou=田中^太郎", "田中 太郎"),
    ],
)
def test_a_name_after_an_iso_2022_escape_sequence_is_found(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    where: str,
    charset: str,
    name: str,
    copy: str,
) -> None:
    """A name written after the escape sequence that switches to its character set (ESC $ ) C,
    ESC - L, ESC - F, ESC $ B: each ends in a letter) in an attribute the dictionary does not
    know (read as UN in implicit VR) or in a description the profile keeps is found: the escape
    is no letter touching it, and the name's bytes are searched as the file writes them."""
    from dicomscrub.process import Status

    ds = make_ct(patient_name=name)
    ds.SpecificCharacterSet = charset
    if where == "unknown":
        ds.add_new(0x12345678, "LO", copy)
        expected = "(1234,5678)"
    else:
        ds.StudyDescription = f"{copy} CT"  # (an 8-bit set's escape opens the value)
        expected = "(0008,1030)"
    path = write_dicom(tmp_path / "in" / "one.dcm", ds, "raw-implicit")
    result = _keeping_descriptions(tmp_path, key, lanes)(path)
    assert result.status is Status.REJECTED, result.detail
    assert f"at {expected}" in result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("attribute", "stored", "written"),
    [
        ("PatientTelephoneNumbers", "555-123-4567", "call 5551234567"),
        ("PatientTelephoneNumbers", "+1(555)123-4567", "tel 555.123.4567"),
        ("PatientTelecomInformation", "tel:+44 20 7946 0958", "phone 020 7946 0958"),
        ("OtherPatientIDs", "123-45-6789", "ssn 123 45 6789"),
    ],
)
def test_a_telephone_number_or_an_id_of_digits_is_found_in_another_layout(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    key_file: Path,
    lanes: bool,
    attribute: str,
    stored: str,
    written: str,
) -> None:
    """A telephone number copied into a kept attribute with other separators, with or without
    a country code or a trunk prefix, is found by run and by ``check --against``."""

    ds = make_ct(private=False, patient_name=NAME, patient_id=ID)
    setattr(ds, attribute, stored)
    ds.add_new(0x60001500, "LO", written)
    path = write_dicom(tmp_path / "in" / "a.dcm", ds)
    _rejected_by_run_and_check(
        tmp_path, key, key_file, lanes, path, f"{attribute} at (6000,1500)", "(6000,1500)"
    )


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("frames", [1, 3])
def test_text_after_the_frames_of_native_pixel_data_is_found(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    key_file: Path,
    lanes: bool,
    frames: int,
) -> None:
    """Native pixels are copied unchanged and not searched, but bytes after the frames their
    image attributes call for (a device's note after the image) are: a name there makes the file
    rejected, in run and in ``check --against``; a pad byte, or none, is no text."""
    from dicomscrub.process import Status

    ds = make_ct(private=False, patient_name=NAME, patient_id=ID)
    ds.NumberOfFrames = frames
    pixels = bytes(range(8)) * frames
    ds.PixelData = pixels + f"scan of {NAME} {ID}".encode().ljust(40)
    path = write_dicom(tmp_path / "in" / "a.dcm", ds)
    _rejected_by_run_and_check(
        tmp_path, key, key_file, lanes, path, "at Pixel Data, after its frames", "after its frames"
    )
    for n, fine in enumerate((pixels, pixels + b"\0\0")):
        ds.PixelData = fine
        path = write_dicom(tmp_path / f"fine{n}" / "a.dcm", ds)
        result = _runner(tmp_path / f"fine{n}", key, lanes, "basic")(path)
        assert result.status is Status.WRITTEN, result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("case", ["ybr-422", "no-rows"])
def test_text_after_frames_whose_size_is_by_their_colour_model_or_unknown_is_found(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    key_file: Path,
    lanes: bool,
    case: str,
) -> None:
    """YBR_FULL_422 frames hold two samples a pixel, not three: an ID written in the third a
    pixel would take is after the frames. Where the image attributes do not give the frames'
    size (no Rows), the whole value is searched: the file is rejected, by run and by ``check
    --against``, and the same image without the ID is written."""
    from dicomscrub.process import Status

    ds = make_ct(private=False, patient_name=NAME, patient_id=ID)
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    if case == "no-rows":
        del ds.Rows
    pixels = bytes(range(32))  # 4 x 4 pixels, 2 bytes each
    ds.PixelData = pixels
    path = write_dicom(tmp_path / "fine" / "a.dcm", ds)
    result = _runner(tmp_path / "fine", key, lanes, "basic")(path)
    assert result.status is Status.WRITTEN, result.detail
    ds.PixelData = pixels + f" {ID} ".encode().ljust(16)  # (48 bytes: 4 x 4 x 3)
    path = write_dicom(tmp_path / "in" / "a.dcm", ds)
    _rejected_by_run_and_check(tmp_path, key, key_file, lanes, path, "at Pixel Data", "Pixel Data")


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("tag", [0x7FE00010, 0x54001010, 0x56000020])
def test_sample_data_inside_a_kept_sequence_is_searched(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    key_file: Path,
    lanes: bool,
    tag: int,
) -> None:
    """Only the top-level sample data (the image, the waveform) goes unsearched: a thumbnail or
    waveform inside a sequence the profile keeps is searched as any other value, and a name or ID
    written there makes the file rejected, by run and by ``check --against``."""
    from pydicom.dataelem import DataElement

    from dicomscrub.process import Status

    outcomes = {}
    for name, text in (("fine", "scan"), ("leaky", f"scan of {NAME} {ID}")):
        ds = make_ct(private=False, patient_name=NAME, patient_id=ID)
        inner = Dataset()
        inner.add(DataElement(tag, "OB", bytes(range(16)) + text.encode().ljust(30)))
        ds.private_block(0x0019, "GEMS_ACQU_01", create=True).add_new(0x11, "SQ", [inner])
        path = write_dicom(tmp_path / "in" / f"{name}.dcm", ds)
        (tmp_path / name).mkdir()  # (its profile keeps (0019,xx11) of GEMS_ACQU_01)
        outcomes[name] = _keeping_descriptions(tmp_path / name, key, lanes)(path)
    assert outcomes["fine"].status is Status.WRITTEN, outcomes["fine"].detail
    leaked = outcomes["leaky"]
    assert leaked.status is Status.REJECTED, leaked.detail
    assert f"at (0019,1011)[0]/{format_tag(tag)}" in leaked.detail
    (tmp_path / "in" / "fine.dcm").unlink()
    checked = _checked_against(tmp_path, key_file, "-p", tmp_path / "leaky" / "keep.yaml")
    assert checked.exit_code == 1, checked.output
    assert f"(0019,1011)[0]/{format_tag(tag)}" in checked.output, checked.output


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_a_kept_uid_attribute_that_holds_no_uid_excuses_no_id(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    key_file: Path,
    lanes: bool,
) -> None:
    """Retain UIDs keeps Study Instance UID as read; a PACS that wrote the Patient ID there made
    it no UID, and the kept value is no proof that the profile keeps the ID: the file is
    rejected (its folder would be named after the ID), and ``check --against`` reports it."""

    ds = make_ct(private=False, patient_name=NAME, patient_id=ID)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (pydicom warns of a UI value that is no UID)
        ds.StudyInstanceUID = ID
        path = write_dicom(tmp_path / "in" / "a.dcm", ds)
    _rejected_by_run_and_check(
        tmp_path,
        key,
        key_file,
        lanes,
        path,
        "PatientID at (0020,000D)",
        "(0020,000D)",
        ("retain-uids",),
    )


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("name", "model", "written"),
    [
        ("SOLA^MARIA", "MAGNETOM Sola", True),
        ("Gal\u00e1n^Mar\u00eda", "Vantage Galan 3T", True),
        ("SOLA^MARIA", "MAGNETOM Sola Maria", False),  # (the whole name)
    ],
)
def test_a_patient_named_like_the_scanner_model_is_written(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    name: str,
    model: str,
    written: bool,
) -> None:
    """Manufacturer's Model Name is the modality's text: a component of the patient's name that
    is a word of it (a patient Sola scanned on a MAGNETOM Sola) is no leak, where the same word
    alone in an Overlay Label is; the whole name there still is one."""
    from dicomscrub.process import Status

    ds = make_ct(private=False, patient_name=name, patient_id=ID)
    ds.ManufacturerModelName = model
    ds.SpecificCharacterSet = "ISO_IR 192"
    path = write_dicom(tmp_path / "in" / "a.dcm", ds)
    result = _runner(tmp_path, key, lanes, "basic")(path)
    expected = Status.WRITTEN if written else Status.REJECTED
    assert result.status is expected, result.detail


def _jis(text: str) -> bytes:
    """``text`` as the ISO 2022 IR 87 encoder writes it (ESC $ B before kanji, ESC ( B after)."""
    return text.encode("iso2022_jp")


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    "written",
    [
        b"scan " + _jis("\u5c71\u7530") + _jis("\u592a\u90ce"),  # two values joined
        b"scan " + b"".join(_jis(c)[:-3] for c in "\u5c71\u7530\u592a\u90ce") + b"\x1b(B",
    ],
    ids=["joined", "each-character"],
)
def test_a_jis_name_split_by_escapes_to_the_set_in_force_is_found(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    key_file: Path,
    lanes: bool,
    written: bytes,
) -> None:
    """A Japanese name whose characters are parted by escapes that designate the set already in
    force (ESC ( B ESC $ B where two values were joined, ESC $ B before every character) reads as
    the name: run and ``check --against`` find it in an attribute the Basic Profile keeps."""

    ds = make_ct(private=False, patient_name="Yamada^Tarou=\u5c71\u7530^\u592a\u90ce")
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    path = _with_raw(write_dicom, tmp_path / "in" / "a.dcm", ds, 0x60001500, "LO", written)
    _rejected_by_run_and_check(
        tmp_path, key, key_file, lanes, path, "PatientName at (6000,1500)", "(6000,1500)"
    )


def test_escapes_that_change_the_set_are_kept_where_redundant_ones_are_dropped() -> None:
    """Only an escape to the set already in force is left out; text in another set, or in a run
    of its own, is not joined to the name."""
    from dicomscrub.check import escapes_collapsed

    joined = b"x " + _jis("\u5c71\u7530") + _jis("\u592a\u90ce") + b" y"
    (found,) = escapes_collapsed([(100, joined)], ["", "ISO 2022 IR 87"])
    assert found == (102, _jis("\u5c71\u7530\u592a\u90ce") + b" y")
    changed = b"x \x1b$B;3\x1b(JED"  # (JIS X 0201 Roman, not the set in force)
    assert escapes_collapsed([(0, changed)], ["", "ISO 2022 IR 87"]) == []
    parted = _jis("\u5c71\u7530") + b"\n" + _jis("\u592a\u90ce")  # (a line between them)
    assert escapes_collapsed([(0, parted)], None) == []
    assert escapes_collapsed([(0, joined)], ["ISO_IR 100"]) == []


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("where", ["unknown", "description"])
@pytest.mark.parametrize(
    "written", ["2024-03-05T10:15:00", "20240305T101500", "20240305101500", "20240305101500.5"]
)
def test_a_date_in_an_iso_8601_date_and_time_is_found(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    where: str,
    written: str,
) -> None:
    """The study date written as the date of an ISO 8601 date and time (the T touches it) or of
    a DICOM DT (the time's digits touch it) in an attribute the dictionary does not know or in a
    kept description is found."""
    from dicomscrub.process import Status

    ds = make_ct()  # Study Date 20240305
    if where == "unknown":  # (a DICOM DT alone is shaped like one: unlisted_dates empties it)
        ds.add_new(0x12345678, "LO", written if "T" in written else f"at {written}")
        expected = "(1234,5678)"
    else:
        ds.StudyDescription = f"CT {written}"
        expected = "(0008,1030)"
    path = write_dicom(tmp_path / "in" / "one.dcm", ds, "raw-implicit")
    result = _keeping_descriptions(tmp_path, key, lanes)(path)
    assert result.status is Status.REJECTED, result.detail
    assert f"date at {expected}" in result.detail


FAULTS = {
    # fault: (the element the scrub decides on and leaves as read, options, where it leaks)
    "name-left": (0x00100010, (), "(0010,0010)"),
    "sequence-left-in-place": (0x00101002, (), "(0010,1002)[0]/(0010,0020)"),
    "date-not-shifted": (0x00080020, ("retain-long-modified-dates",), "(0008,0020)"),
    "uid-left": (0x00200052, (), "(0020,0052)"),
    "sop-instance-uid-left": (0x00080018, (), "(0008,0018)"),
    "patient-id-left": (0x00100020, (), "(0010,0020)"),
}


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_value_the_scrub_fails_to_change_is_not_excused_by_itself(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    fault: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The leak check is the net under the scrub: when a fault leaves an element as read that the
    scrub decided to change (Patient Name (Z), replaced in the lanes from its bytes or parsed;
    Other Patient IDs Sequence (X), inside which nothing is recorded; Study Date, which Retain
    Longitudinal Temporal Information Modified Dates shifts, never by zero days), the input's
    value the output then holds does not prove itself "kept by the profile": rejected. (Frame of
    Reference UID (U): given new UIDs in the lanes from its bytes, or parsed.)"""
    from pydicom.sequence import Sequence

    from dicomscrub.pipeline import Scrubber
    from dicomscrub.process import Status

    target, options, where = FAULTS[fault]
    real_replacement, real_apply = Scrubber.replacement, Scrubber._apply
    real_uid_element = Scrubber.uid_element

    def faulty_replacement(self: Scrubber, tag: int, vr: Any, element: bytes, *rest: Any) -> Any:
        if tag == target:
            return element, 1  # "replaced" by itself
        return real_replacement(self, tag, vr, element, *rest)

    def faulty_uid_element(self: Scrubber, tag: int, value: bytes, *rest: Any) -> Any:
        if tag == target:  # new UIDs that are the old ones
            head = struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, b"UI", len(value))
            return head + value, value.rstrip(b"\0").decode("ascii")
        return real_uid_element(self, tag, value, *rest)

    def faulty_apply(self: Scrubber, ds: Dataset, elem: Any, *rest: Any) -> Any:
        if int(elem.tag) == target:
            return None  # decided and recorded, not done
        return real_apply(self, ds, elem, *rest)

    monkeypatch.setattr(Scrubber, "replacement", faulty_replacement)
    monkeypatch.setattr(Scrubber, "_apply", faulty_apply)
    monkeypatch.setattr(Scrubber, "uid_element", faulty_uid_element)
    ds = make_ct(patient_name="FEATHERSTONE^HUGO", private=False)
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.9.7433.1.42"
    del ds.AnatomicRegionSequence  # the name only in (0010,0010)
    other = Dataset()
    other.PatientID = "OTHER0042137"
    other.IssuerOfPatientID = "Elsewhere"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds["OtherPatientIDsSequence"].is_undefined_length = True  # (the lanes parse it)
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    result = _runner(tmp_path, key, lanes, "basic", options)(path)
    assert result.status is Status.REJECTED, result.detail
    assert where in result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("kind", ["part10", "raw-implicit"])
def test_values_inside_a_private_sequence_read_as_un_are_identifying(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    kind: str,
) -> None:
    """A private sequence that the file holds as UN (explicit VR) or that is read as UN (implicit
    VR): an ID inside it, found in a description the profile keeps, is a leak, whether the lanes
    remove the sequence from its bytes or the scrub parses it."""
    import struct

    from pydicom.dataelem import DataElement
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    from dicomscrub.process import Status

    inner = Dataset()
    inner.PatientID = "AB1234XY"
    inner.StudyDate = "20230101"
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, True
    write_dataset(fp, inner)
    body = fp.getvalue()
    items = struct.pack("<HHL", 0xFFFE, 0xE000, len(body)) + body
    run_one = _keeping_descriptions(tmp_path, key, lanes)
    outcomes = {}
    for description in ("CT AB1234XY protocol", "CT protocol"):
        ds = make_ct()
        block = ds.private_block(0x0043, "ACME_PRIV", create=True)
        ds.add(DataElement(block.get_tag(0x10), "UN", items))
        ds.StudyDescription = description
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.{len(description)}"
        path = write_dicom(tmp_path / "in" / f"{len(description)}.dcm", ds, kind)
        outcomes[description] = run_one(path)
    assert outcomes["CT protocol"].status is Status.WRITTEN, outcomes["CT protocol"].detail
    leaked = outcomes["CT AB1234XY protocol"]
    assert leaked.status is Status.REJECTED, leaked.detail
    assert "(0008,1030)" in leaked.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("options", [(), ("retain-safe-private",)], ids=["basic", "safe-private"])
def test_a_creator_that_holds_the_patient_id_is_masked_in_the_audit_and_never_written(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    options: tuple[str, ...],
) -> None:
    """A block whose creator is the patient's ID, declared SAFE in (0008,0300): the audit names
    creators, so that one is masked there; kept under Retain Safe Private it (and the Private
    Creator Reference that copies it, which excuses no whole ID) would be written: rejected."""
    from pydicom.sequence import Sequence

    from dicomscrub.process import Status

    ds = make_ct(patient_id="PID4242X9", private=False)
    ds.private_block(0x0009, "PID4242X9", create=True).add_new(0x01, "LO", "safe words")
    declared = Dataset()
    declared.PrivateGroupReference = 0x0009
    declared.PrivateCreatorReference = "PID4242X9"
    declared.BlockIdentifyingInformationStatus = "SAFE"
    ds.PrivateDataElementCharacteristicsSequence = Sequence([declared])
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    result = _runner(tmp_path, key, lanes, "basic", options)(path)
    creators = {record.creator for record in result.private}
    assert creators == {"P*** (9 chars)"}
    assert all("creator masked" in record.detail for record in result.private)
    if options:
        assert result.status is Status.REJECTED, result.detail
        assert "PatientID at (0008,0300)[0]/(0008,0302)" in result.detail
        assert "(0009,0010)" in result.detail
    else:
        assert result.status is Status.WRITTEN, result.detail
        assert b"PID4242X9" not in next(iter(_outputs(tmp_path / f"out-{lanes}"))).read_bytes()


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_a_creator_that_holds_the_patient_id_in_full_width_is_masked(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool
) -> None:
    """Masked in the audit as the same ID in ASCII is (the search reads full-width letters and
    digits as the ASCII they stand for)."""
    ds = make_ct(patient_id="PID4242X9", private=False)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.private_block(0x0009, "ＰＩＤ４２４２Ｘ９", create=True).add_new(0x01, "LO", "safe words")
    result = _runner(tmp_path, key, lanes, "basic")(write_dicom(tmp_path / "in" / "one.dcm", ds))
    assert {record.creator for record in result.private} == {"Ｐ*** (9 chars)"}


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_a_rule_that_names_a_creator_holding_the_patient_s_name_is_shown_masked(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool
) -> None:
    """A profile rule selects a block by its creator, the patient's name: the audit's detail and
    explain show the rule's text with the creator masked, as the creator column is."""
    profile = tmp_path / "p.yaml"
    profile.write_text(
        'extends: basic\nrules:\n  - tag: "(0033,xx10)"\n    creator: Johanna Smithson\n'
        "    action: K\n"
    )
    ds = make_ct(patient_name="Smithson^Johanna", private=False)
    ds.private_block(0x0033, "Johanna Smithson", create=True).add_new(0x10, "LO", "ten")
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    result = _runner(tmp_path, key, lanes, str(profile))(path)
    details = [record.detail for record in result.private if record.tag == "(0033,1010)"]
    assert details == [
        "p: (0033,xx10) [J*** (16 chars)] K; creator masked: it holds an identifying value"
    ]
    shown = invoke("explain", path, "-p", profile)
    assert "Smithson" not in shown.output and "[J***] K" in shown.output, shown.output


def test_explain_and_check_mask_a_creator_in_full_width_as_in_ascii(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom
) -> None:
    """``redact`` and the creator search read full-width letters as ASCII: explain shows the
    block named after the patient's ID masked (Ｐ***), as PID4242X9 is; and masks no word of the
    program's own rule text that a value of the file happens to equal."""
    from dicomscrub.check import redact
    from dicomscrub.identity import Category, Matcher, Token

    ds = make_ct(patient_id="PID4242X9", private=False)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.private_block(0x0031, "ＰＩＤ４２４２Ｘ９", create=True).add_new(0x10, "LO", "words")
    ds.InstitutionName = "Organisation"
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    shown = invoke("explain", path)
    assert "ＰＩＤ" not in shown.output and "[Ｐ***]" in shown.output, shown.output
    assert "organisation UID: kept" in shown.output  # (the rule's own words)
    matcher = Matcher([Token("山田太郎", "PatientName", Category.NAME)], ["ISO_IR 192"])
    assert redact("患者 山田太郎 様", matcher) == "患者 山*** 様"  # (a whole first character)
    named = Matcher([Token("hendricks", "PatientName component", Category.NAME_PART)])
    assert matcher.search_text("x") == [] and named.search_text("ＨＥＮＤＲＩＣＫＳ")  # (check)


def _pid_named_block(ds: Dataset, creator: str) -> None:
    """A block named ``creator``, declared SAFE in (0008,0300), holding free text."""
    from pydicom.sequence import Sequence

    ds.private_block(0x0009, creator, create=True).add_new(0x01, "LO", "xyzzy secret 1234")
    declared = Dataset()
    declared.PrivateGroupReference = 0x0009
    declared.PrivateCreatorReference = creator
    declared.BlockIdentifyingInformationStatus = "SAFE"
    ds.PrivateDataElementCharacteristicsSequence = Sequence([declared])


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_a_rejection_never_names_a_creator_that_holds_the_patient_id(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool
) -> None:
    """The value of a removed private element is found in a kept unknown attribute: the reason
    names its kind by the block's creator, masked when the creator holds the patient's ID (the
    reason reaches the audit, the summary, the terminal and the quarantine index); a vendor's
    creator in the same file stays as read."""
    from dicomscrub.process import Status

    ds = make_ct(patient_id="PID4242X9")  # with the vendor block GEMS_ACQU_01
    _pid_named_block(ds, "ACME PID4242X9")
    ds.add_new(0x00109995, "UN", b"xyzzy secret 1234 ")  # unknown, kept as read
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    result = _runner(tmp_path, key, lanes, "basic")(path)
    assert result.status is Status.REJECTED, result.detail
    assert "PID4242X9" not in result.detail
    assert "private value (A*** (14 chars)) at (0010,9995)" in result.detail
    creators = {record.creator for record in result.private}
    assert creators == {"A*** (14 chars)", "GEMS_ACQU_01"}


def test_check_does_not_excuse_a_whole_id_by_a_private_creator_reference(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key_file: Path
) -> None:
    """An output whose kept block (and its Private Creator Reference) is named after the
    patient's ID, made with the leak check off: check --against finds the ID there."""
    ds = make_ct(patient_id="PID4242X9", private=False)
    _pid_named_block(ds, "PID4242X9")
    inputs = tmp_path / "in"
    write_dicom(inputs / "one.dcm", ds)
    out = tmp_path / "out"
    made = invoke(
        "run", inputs, "-o", out, "--key-file", key_file,
        "--option", "retain-safe-private", "--benchmark-no-leak-check",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    found = invoke("check", out, "--against", inputs, "--option", "retain-safe-private", "--csv")
    assert found.exit_code == 1, found.output
    assert '"(0009,0010)",identifying-value,PatientID' in found.output
    assert "PID4242X9" not in found.output


def test_a_vendor_creator_is_not_masked(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key
) -> None:
    """Creators that hold no identifying value of the input are written to the audit as read,
    even where a removed private value equals one (only the values of standard attributes mask a
    creator)."""
    ds = make_ct()
    ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True).add_new(
        0x10, "LO", "SIEMENS CSA HEADER"
    )
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    result = _runner(tmp_path, key, True, "basic")(path)
    assert {record.creator for record in result.private} == {"GEMS_ACQU_01", "SIEMENS CSA HEADER"}


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("creator", "shown"),
    [
        ("GRIMSBY INFIRMARY", "G*** (17 chars)"),  # the whole Institution Name
        ("FEATHERSTONEHAUGH", "F*** (17 chars)"),  # the patient's surname
        ("Dr Plimsoll-Wyatt", "D*** (17 chars)"),  # the referring physician's surname
    ],
)
def test_a_creator_that_holds_a_name_part_or_the_institution_is_masked(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    creator: str,
    shown: str,
) -> None:
    """Not only whole names and IDs: a block named after the hospital or a surname is masked in
    the audit's rows and in the reason of a rejection (which reaches the terminal, the summary and
    the quarantine index), as the value of a standard attribute the scrub did not keep."""
    from dicomscrub.process import Status

    ds = make_ct(patient_name="Featherstonehaugh^Hugo", private=False)
    ds.InstitutionName = "Grimsby Infirmary"
    ds.ReferringPhysicianName = "Plimsoll-Wyatt^Anne"
    _pid_named_block(ds, creator)
    ds.add_new(0x00109995, "UN", b"xyzzy secret 1234 ")  # the block's text, kept as read
    result = _runner(tmp_path, key, lanes, "basic")(write_dicom(tmp_path / "in" / "one.dcm", ds))
    assert result.status is Status.REJECTED, result.detail
    assert f"private value ({shown}) at (0010,9995)" in result.detail
    assert {record.creator for record in result.private} == {shown}
    for word in creator.split():
        assert word.lower() not in result.detail.lower()


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    "written",
    [
        *("17/03/1961", "17.03.1961", "17-03-1961", "03/17/1961", "1961:03:17 08:15:00"),
        *(
            "17.3.1961",
            "3/17/1961",
            "17 Mar 1961",
            "17 MARCH 1961",
            "March 17, 1961",
            "17-Mar-1961",
        ),
        *("17. März 1961", "17 Maerz 1961", "17 mars 1961", "17 marzo 1961", "17 maart 1961"),
        *("17 de marzo de 1961", "17 DE MARÇO DE 1961"),
        *("03-17-1961", "03.17.1961", "Mar. 17, 1961", "17 Mar. 1961", "1961/3/17", "1961-Mar-17"),
        *("17031961", "03171961", "610317", "170361", "031761", "610317-1234"),  # compact
        *("17/Mar/1961", "17.Mar.1961", "17.III.1961", "17 III 1961"),  # a Roman month
    ],
)
def test_a_date_as_people_and_exif_write_it_is_found(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool, written: str
) -> None:
    """The birth date in a description the profile keeps, written day first, month first (with
    or without leading zeros, or the month's name, also in German, French, Italian, Dutch,
    Spanish or Portuguese) or as an Exif header writes it, is the birth
    date (they were not searched); a date that the
    calendar lacks gives no such forms (31/02/1961 is no date)."""
    from dicomscrub.process import Status

    run_one = _keeping_descriptions(tmp_path, key, lanes)
    ds = make_ct(private=False)
    ds.PatientBirthDate = "19610317"
    ds.SpecificCharacterSet = "ISO_IR 100"  # (März, março)
    ds.StudyDescription = f"CT chest, born {written}, follow-up"
    result = run_one(write_dicom(tmp_path / "in" / "born.dcm", ds))
    assert result.status is Status.REJECTED, result.detail
    assert "date at (0008,1030)" in result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_a_time_that_is_also_a_date_s_compact_form_is_not_a_leak(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool
) -> None:
    """Six digits that are a time of day (12:03:15) are not searched as a date's compact form
    with a two-digit year (120315 for 2012-03-15): a kept time would be taken for the date. One
    that is no time (610317) is searched."""
    from dicomscrub.process import Status

    run_one = _keeping_descriptions(tmp_path, key, lanes)
    ds = make_ct(private=False)
    ds.PatientBirthDate = "20120315"
    ds.StudyDescription = "CT chest at 120315, 150312 and 031512"
    result = run_one(write_dicom(tmp_path / "in" / "kid.dcm", ds))
    assert result.status is Status.WRITTEN, result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("Quixotez^Dulcinella^^^", "Quixotez^Dulcinella"),  # empty components after the name
        ("Quixotez^Dulcinella^Maribeth", "Quixotez^Dulcinella"),  # without the middle name
        ("Quixotez^Dulcinella^Maribeth", "Dulcinella Maribeth Quixotez"),
        ("Quixotez^Dulcinella^Maribeth", "Quixotez, Dulcinella Maribeth"),
        ("Quixotez^Dulcinella", "Quixotez,Dulcinella"),
        ("Quixotez^Dulcinella", "QUIXOTEZ_DULCINELLA"),  # as folder and file names write it
        ("Quixotez^Dulcinella", "Quixotez.Dulcinella"),
        ("Quixotez^Dulcinella", "dulcinella_quixotez"),
        ("Müller-Lüdenscheid^Jürgen", "Jurgen Muller-Ludenscheid"),  # where accents cannot be
        ("Müller-Lüdenscheid^Jürgen", "MUELLER-LUEDENSCHEID^JUERGEN"),
        ("Ñúñez^Zoë", "Nunez^Zoe"),
    ],
)
def test_a_whole_name_as_people_and_folder_names_write_it_is_found(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    name: str,
    written: str,
) -> None:
    """The patient's whole name in a kept description, written as people, folder names and
    ASCII-only systems write it: the name (each component alone is a word of the description
    itself, which does not count; the whole name was not searched in these forms)."""
    from dicomscrub.process import Status

    ds = make_ct(private=False)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = name
    ds.StudyDescription = f"CT chest {written} follow-up"
    result = _keeping_descriptions(tmp_path, key, lanes)(write_dicom(tmp_path / "in" / "n.dcm", ds))
    assert result.status is Status.REJECTED, result.detail
    assert "PatientName at (0008,1030)" in result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("written", ["MRN-0012345", "mrn 0012345", "MRN_0012345", "MRN/0012345"])
def test_an_id_written_with_a_separator_between_its_letters_and_digits_is_found(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool, written: str
) -> None:
    """Patient ID MRN0012345 in a kept description as people write it: the ID."""
    from dicomscrub.process import Status

    ds = make_ct(private=False)
    assert ds.PatientID == "MRN0012345"
    ds.StudyDescription = f"CT chest {written} follow-up"
    result = _keeping_descriptions(tmp_path, key, lanes)(write_dicom(tmp_path / "in" / "f.dcm", ds))
    assert result.status is Status.REJECTED, result.detail
    assert "at (0008,1030)" in result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("patient", "written", "kind"),
    [
        (("Kim^Minsu", "4455667", "19610317"), "MRN 445-5667", "PatientID"),
        (("Kim^Minsu", "000445566789", "19610317"), "MRN 445566789", "PatientID"),
        (("Kim^Minsu", "4455667", "19610317"), "생년월일 1961년 3월 17일", "date"),
        (("Kim^Minsu", "4455667", "19610317"), "生年月日 昭和36年3月17日", "date"),
        (("Kim^Minsu", "4455667", "19610317"), "DOB S36.3.17", "date"),
        (("Jørgensen^Åse", "4455667", "19610317"), "JOERGENSEN, AASE", "PatientName"),
        (("Jørgensen^Åse", "4455667", "19610317"), "Aase Joergensen", "PatientName"),
    ],
    ids=["id-7-digits", "id-no-zeros", "korean", "japanese-era", "era-letter", "oe", "aa"],
)
def test_ids_dates_and_names_as_they_are_written_elsewhere_are_found(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    patient: tuple[str, str, str],
    written: str,
    kind: str,
) -> None:
    """A Patient ID of seven digits in groups, one without its leading zeros, a birth date as
    Korean text or by the Japanese era's year, a Danish or Norwegian name with oe and aa: in a
    kept description, each is the patient's."""
    from dicomscrub.process import Status

    name, patient_id, born = patient
    ds = make_ct(private=False, patient_name=name, patient_id=patient_id)
    ds.PatientBirthDate = born
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.StudyDescription = f"CT chest, {written}, follow-up"
    result = _keeping_descriptions(tmp_path, key, lanes)(write_dicom(tmp_path / "in" / "f.dcm", ds))
    assert result.status is Status.REJECTED, result.detail
    assert f"{kind} at (0008,1030)" in result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("Müller^Jürgen", "Mu\u0308ller Ju\u0308rgen"),  # decomposed, as macOS writes text
        ("Mu\u0308ller^Ju\u0308rgen", "Müller Jürgen"),
        ("Mueller^Juergen", "Jürgen Müller"),  # the German way back
        ("Joergensen^Aase", "JØRGENSEN, ÅSE"),  # the Danish and Norwegian way back
    ],
    ids=["nfd", "nfc", "umlaut", "nordic"],
)
def test_a_name_in_another_unicode_spelling_is_found(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    lanes: bool,
    name: str,
    written: str,
) -> None:
    """The patient's name composed or decomposed, or with the letters an ASCII spelling stands
    for, typed into Manufacturer's Model Name (kept, no rule): the patient's."""
    from dicomscrub.process import Status

    ds = make_ct(private=False, patient_name=name, patient_id="PID998877")
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ManufacturerModelName = written
    result = _runner(tmp_path, key, lanes, "basic")(write_dicom(tmp_path / "in" / "f.dcm", ds))
    assert result.status is Status.REJECTED, result.detail
    assert "PatientName at (0008,1090)" in result.detail


def test_a_token_in_cjk_characters_is_a_needle_only_where_the_character_set_writes_them() -> None:
    """A date by the Japanese era's year (its longest word, 15, is a word of nearly every
    output) is no token of a data set in Latin-1: each such file would pay for its search."""
    from dicomscrub.identity import Category, Token, encodings_of

    era = Token("令和6年3月15日", "date", Category.DATE)
    for charsets, findable in (([], False), (["ISO_IR 100"], False), (["ISO_IR 192"], True)):
        found: dict[str, Token] = {}
        Needles.of([era], encodings_of(charsets)).add_findable({b"15", b"6", b"3"}, found)
        assert bool(found) is findable, charsets
    for charsets in (["\\ISO 2022 IR 87"], ["GB18030"], ["\\ISO 2022 IR 149"], ["ISO_IR 13"]):
        found = {}
        Needles.of([era], encodings_of(charsets)).add_findable({b"15", b"6", b"3"}, found)
        assert found, charsets


WRITTEN_AS_TEXT = {  # tag: (VR written, value, how a kept description holds it)
    0x00142006: ("LO", "Keeper^Roland", "Roland Keeper"),  # Evaluator Name, a PN
    0x0008041F: ("LO", "19990704101010", "1999-07-04"),  # Study Update DateTime, a DT
    0x00189999: ("LO", "Keeper^Roland", "Keeper, Roland"),  # unknown: shaped like a name
    0x00189998: ("UN", "19990704", "04.07.1999"),  # unknown: shaped like a date
}


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize("tag", list(WRITTEN_AS_TEXT), ids=lambda t: f"{t:08X}")
def test_a_name_or_date_the_scrub_handles_by_attribute_or_form_is_searched_as_one(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool, tag: int
) -> None:
    """A name or a date written with a text VR (or read as UN) is emptied as one by the scrub
    (see judged_vr, shaped_as); its forms as a name's or a date's are searched as such: a kept
    description holding one does not excuse it as a mere text's word would be."""
    from dicomscrub.process import Status

    vr, value, written = WRITTEN_AS_TEXT[tag]
    ds = make_ct(private=False)
    ds.add_new(tag, vr, value.encode() if vr == "UN" else value)
    ds.StudyDescription = f"CT {written} follow-up"
    path = write_dicom(tmp_path / "in" / "f.dcm", ds, "raw-explicit")
    result = _keeping_descriptions(tmp_path, key, lanes)(path)
    assert result.status is Status.REJECTED, result.detail
    assert "at (0008,1030)" in result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_a_value_followed_by_a_tag_whose_first_byte_is_a_letter_is_a_leak(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool
) -> None:
    """The Patient ID copied into Image ID (0054,0400), which no rule lists, is followed by the
    tag of (0054,0410): its first byte is a T. The whole-word search used to read PID77123T
    and let it through; the same under Retain Safe Private for a name in a block declared safe
    that GE's group 0043 (C) follows."""
    from pydicom.sequence import Sequence

    from dicomscrub.process import Status

    ds = make_ct(private=False, patient_id="PID77123")
    ds.add_new(0x00540400, "SH", "PID77123")
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "F-10450", "99SDM", "recumbent"
    ds.add_new(0x00540410, "SQ", Sequence([code]))
    result = _runner(tmp_path, key, lanes, "basic")(write_dicom(tmp_path / "in" / "a.dcm", ds))
    assert result.status is Status.REJECTED, result.detail
    assert "at (0054,0400)" in result.detail

    ds = make_ct(private=False, patient_name="Doe^Jane")
    ds.private_block(0x0031, "ACME SAFE 1", create=True).add_new(0x11, "LO", "Doe^Jane")
    ds.private_block(0x0043, "GEMS_PARM_01", create=True).add_new(0x01, "SS", 1)
    declared = Dataset()
    declared.PrivateGroupReference = 0x0031
    declared.PrivateCreatorReference = "ACME SAFE 1"
    declared.BlockIdentifyingInformationStatus = "MIXED"
    declared.NonidentifyingPrivateElements = [0x11]
    ds.PrivateDataElementCharacteristicsSequence = Sequence([declared])
    run_one = _runner(tmp_path, key, lanes, "basic", ("retain-safe-private",))
    result = run_one(write_dicom(tmp_path / "in" / "b.dcm", ds))
    assert result.status is Status.REJECTED, result.detail
    assert "at (0031,1011)" in result.detail


def test_check_against_finds_a_value_followed_by_a_tag_whose_first_byte_is_a_letter(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key_file: Path
) -> None:
    """``check --against`` finds the Patient ID in Image ID (0054,0400) before the T of the
    next tag, as ``run`` does."""
    from pydicom.sequence import Sequence

    ds = make_ct(private=False, patient_id="PID77123")
    ds.add_new(0x00540400, "SH", "PID77123")
    ds.add_new(0x00540410, "SQ", Sequence([Dataset()]))
    write_dicom(tmp_path / "in" / "img1.dcm", ds)
    checked = _checked_against(tmp_path, key_file)
    assert checked.exit_code == 1, checked.output
    assert "(0054,0400)" in checked.output
    assert "PID77123" not in checked.output


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    "copy", ["患者山田太郎様", "山田太郎様", "患者山田太郎"], ids=["both", "after", "before"]
)
def test_a_japanese_name_next_to_other_kanji_is_found(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    key_file: Path,
    lanes: bool,
    copy: str,
) -> None:
    """ISO 2022 IR 87 writes 患者山田太郎様 (patient Yamada Taro) with no space, as 7-bit bytes
    the whole-word search took for one long word: the name was written. ``run`` rejects the file
    and ``check --against`` finds the name in an output written without the leak check."""
    from dicomscrub.process import Status

    ds = make_ct(private=False, patient_name="Yamada^Tarou=山田^太郎")
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.StudyDescription = copy
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    result = _keeping_descriptions(tmp_path, key, lanes)(path)
    assert result.status is Status.REJECTED, result.detail
    assert "at (0008,1030)" in result.detail

    if lanes:
        return
    checked = _checked_against(tmp_path, key_file, "--profile", tmp_path / "keep.yaml")
    assert checked.exit_code == 1, checked.output
    assert "(0008,1030)" in checked.output


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_a_removed_private_id_in_a_cleaned_description_is_a_leak(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool
) -> None:
    """Clean Descriptors knows no private values: the hospital's ID held only in a private
    element and typed into Series Description stays there. The cleaned value used to excuse it
    as a kept one; it is now a leak. A vendor's word (HEAD) in both is still none."""
    from dicomscrub.process import Status

    run_one = _runner(tmp_path, key, lanes, "basic", ("clean-descriptors",))
    outcomes = {}
    for value in ("MRN-A77QX19", "HEAD"):
        ds = make_ct(private=False, sop_instance_uid=f"1.2.826.0.1.3680043.8.498.{len(value)}")
        ds.private_block(0x0029, "ACME HOSPITAL DATA", create=True).add_new(0x10, "LO", value)
        ds.SeriesDescription = f"CT {value} axial"
        outcomes[value] = run_one(write_dicom(tmp_path / "in" / f"{len(value)}.dcm", ds))
    assert outcomes["MRN-A77QX19"].status is Status.REJECTED, outcomes["MRN-A77QX19"].detail
    assert "at (0008,103E)" in outcomes["MRN-A77QX19"].detail
    assert outcomes["HEAD"].status is Status.WRITTEN, outcomes["HEAD"].detail


def test_check_against_masks_a_creator_that_names_someone_in_every_finding(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom
) -> None:
    """An output that still holds a block named after the patient's ID (not de-identified by
    dicomscrub): the finding that the profile cannot keep the block masks its creator as the
    finding of the identifying value does; it was printed whole."""
    ds = make_ct(private=False, patient_id="PID4242424")
    ds.private_block(0x0033, "PID4242424", create=True).add_new(0x01, "LO", "harmless")
    write_dicom(tmp_path / "in" / "one.dcm", ds)
    write_dicom(tmp_path / "out" / "not_scrubbed.dcm", ds)
    checked = invoke("check", tmp_path / "out", "--against", tmp_path / "in", "--csv")
    assert checked.exit_code == 1, checked.output
    assert "private-not-allowed" in checked.output
    assert "PID4242424" not in checked.output


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_a_rule_value_equal_to_the_patient_s_name_or_id_is_a_leak(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool
) -> None:
    """A profile that writes Doe^Jane as every Patient's Name (D with a value) writes this
    patient's name into this patient's files: rejected, as a --mapping-in pseudonym equal to it
    is. A date or text a rule writes (a placeholder birth date equal to the input's) still
    excuses itself: it names no one."""
    from dicomscrub.process import Status

    profile = tmp_path / "values.yaml"
    profile.write_text(
        "extends: [basic]\nrules:\n"
        "  - {keyword: PatientName, action: D, value: Doe^Jane}\n"
        '  - {keyword: PatientBirthDate, action: D, value: "19000101"}\n',
        encoding="utf-8",
    )
    run_one = _runner(tmp_path, key, lanes, str(profile))
    named = make_ct(private=False, patient_name="Doe^Jane", sop_instance_uid="1.2.826.0.1.36.1")
    result = run_one(write_dicom(tmp_path / "in" / "named.dcm", named))
    assert result.status is Status.REJECTED, result.detail
    assert "PatientName at (0010,0010)" in result.detail
    other = make_ct(private=False, patient_name="Roe^Rita", sop_instance_uid="1.2.826.0.1.36.2")
    other.PatientBirthDate = "19000101"
    result = run_one(write_dicom(tmp_path / "in" / "other.dcm", other))
    assert result.status is Status.WRITTEN, result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_a_surname_alone_in_an_attribute_no_rule_lists_is_a_leak(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key: Key, lanes: bool
) -> None:
    """Overlay Label (6000,1500), which Table E.1-1 does not list, holding the surname alone: it
    used to excuse itself as a kept value. A code meaning that holds the word is still none."""
    from dicomscrub.process import Status

    run_one = _runner(tmp_path, key, lanes, "basic")
    labelled = make_ct(private=False, patient_name="Featherstone^Hugo", sop_instance_uid="1.2.3.1")
    labelled.add_new(0x60001500, "LO", "Featherstone")
    result = run_one(write_dicom(tmp_path / "in" / "label.dcm", labelled))
    assert result.status is Status.REJECTED, result.detail
    assert "component at (6000,1500)" in result.detail

    coded = make_ct(private=False, patient_name="Long^Anna", sop_instance_uid="1.2.3.2")
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "G-A166", "SRT"
    code.CodeMeaning = "Long axis"
    from pydicom.sequence import Sequence

    coded.AnatomicRegionSequence = Sequence([code])
    result = run_one(write_dicom(tmp_path / "in" / "coded.dcm", coded))
    assert result.status is Status.WRITTEN, result.detail


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("PatientAddress", "42 Wallaby Way Sydney"),
        ("InstitutionName", "Mercy General Hospital"),
        ("InstitutionalDepartmentName", "Quimby Oncology Wing"),
        ("RegionOfResidence", "Wallaby County"),
    ],
)
def test_a_place_copied_whole_into_text_no_rule_lists_does_not_excuse_itself(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key_file: Path,
    keyword: str,
    value: str,
) -> None:
    """An address or an institution's name (Table E.1-1: removed) typed whole into an attribute
    that no rule lists (kept by default: Detector Description, an earlier export's
    De-identification Method) is the leak, not a proof that the profile keeps that text."""
    ds = make_ct()
    setattr(ds, keyword, value)
    ds.add_new(0x00187006, "LT", value)  # Detector Description: not in Table E.1-1
    write_dicom(tmp_path / "in" / "a.dcm", ds)
    ds.DeidentificationMethod = f"{value} export"
    del ds[0x00187006]
    write_dicom(tmp_path / "in" / "b.dcm", ds)
    invoke("run", tmp_path / "in", "-o", tmp_path / "out", "--key-file", key_file)
    rows = file_rows(tmp_path / "out.audit.csv")
    assert rows["a.dcm"]["status"] == "rejected", rows["a.dcm"]
    assert f"{keyword} at (0018,7006)" in rows["a.dcm"]["detail"]
    assert rows["b.dcm"]["status"] == "rejected", rows["b.dcm"]
    assert f"{keyword} at (0012,0063)" in rows["b.dcm"]["detail"]


def test_an_institution_named_as_its_vendor_is_still_excused_by_manufacturer(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key_file: Path
) -> None:
    ds = make_ct()
    ds.Manufacturer = "Philips Medical Systems"
    ds.InstitutionName = "Philips Medical"
    write_dicom(tmp_path / "in" / "a.dcm", ds)
    invoke("run", tmp_path / "in", "-o", tmp_path / "out", "--key-file", key_file)
    assert file_rows(tmp_path / "out.audit.csv")["a.dcm"]["status"] == "written"


def test_a_kept_block_named_after_the_patients_surname_is_rejected(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, key_file: Path
) -> None:
    """Retain Safe Private keeps a block declared SAFE; its creator, the patient's surname, is
    masked in the audit and must not reach the output either (its copy in Private Creator
    Reference (0008,0302) is no proof that the profile keeps that word)."""
    ds = make_ct()
    ds.PatientName = "HENDRICKS^MARGARET"
    block = ds.private_block(0x0029, "HENDRICKS", create=True)
    block.add_new(0x10, "DS", "1.5")
    item = Dataset()
    item.PrivateGroupReference = 0x0029
    item.PrivateCreatorReference = "HENDRICKS"
    item.BlockIdentifyingInformationStatus = "SAFE"
    ds.PrivateDataElementCharacteristicsSequence = [item]
    write_dicom(tmp_path / "in" / "a.dcm", ds)
    invoke(
        "run",
        tmp_path / "in",
        "-o",
        tmp_path / "out",
        "--key-file",
        key_file,
        "--option",
        "retain-safe-private",
    )
    row = file_rows(tmp_path / "out.audit.csv")["a.dcm"]
    assert row["status"] == "rejected", row
    assert "private creator at (0029,0010)" in row["detail"]
    assert "HENDRICKS" not in row["detail"]
    assert not list((tmp_path / "out").rglob("*.dcm"))


@pytest.mark.parametrize(
    ("charset", "name", "typed"),
    [
        ("ISO_IR 126", "Παπαδόπουλος^Γιώργος", "ΠΑΠΑΔΟΠΟΥΛΟΣ ΓΙΩΡΓΟΣ"),  # Greek capitals: no tonos
        ("ISO_IR 126", "Παπαδόπουλος^Γιώργος", "ΠΑΠΑΔΟΠΟΥΛΟΣ"),
        ("ISO_IR 192", "Фёдоров^Пётр", "Федоров Петр"),  # Russian text writes ё as е
    ],
)
def test_a_name_in_another_script_is_found_without_its_marks(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key_file: Path,
    charset: str,
    name: str,
    typed: str,
) -> None:
    ds = make_ct()
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.add_new(0x00187006, "LT", typed)  # Detector Description: kept
    write_dicom(tmp_path / "in" / "a.dcm", ds)
    invoke("run", tmp_path / "in", "-o", tmp_path / "out", "--key-file", key_file)
    row = file_rows(tmp_path / "out.audit.csv")["a.dcm"]
    assert row["status"] == "rejected", row
    assert "at (0018,7006)" in row["detail"]


def _rle_frame(planes: list[bytes], after: list[bytes], header_tail: bytes = b"") -> bytes:
    """An RLE frame (PS3.5 G.3) of ``planes`` (each one literal run, padded to an even length),
    with ``after[i]`` written after segment i's runs, and ``header_tail`` in the header's
    unused offsets."""
    segments = []
    for plane, extra in zip(planes, after, strict=True):
        runs = bytes([len(plane) - 1]) + plane + extra
        segments.append(runs + b"\0" * (len(runs) % 2))
    offsets, at = [], 64
    for segment in segments:
        offsets.append(at)
        at += len(segment)
    header = struct.pack(f"<{1 + len(offsets)}L", len(offsets), *offsets)
    header = (header + header_tail).ljust(64, b"\0")
    return header + b"".join(segments)


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("after", "header_tail", "where"),
    [
        ([b"", f"scan of {NAME} {ID}".encode()], b"", "RLE segment 2 of fragment 1"),
        ([f"{NAME}".encode(), b""], b"", "RLE segment 1 of fragment 1"),
        ([b"", b""], f"{ID}".encode(), "RLE header in fragment 1"),
    ],
    ids=["after-the-last-segment", "between-segments", "in-the-header"],
)
def test_text_beside_the_runs_of_an_rle_frame_is_found(
    tmp_path: Path,
    make_ct: BuildCT,
    key: Key,
    key_file: Path,
    lanes: bool,
    after: list[bytes],
    header_tail: bytes,
    where: str,
) -> None:
    """An RLE frame is copied unchanged; a decoder stops each segment after Rows x Columns
    bytes and never reads the header's unused offsets: a name or ID written there was copied
    into the output. Found by run and by ``check --against``; a frame with nothing beside its
    runs (zero padding aside) is written."""
    from dicomscrub.process import Status

    def write(folder: Path, frame: bytes) -> Path:
        ds = make_ct(private=False, patient_name=NAME, patient_id=ID)
        ds.PixelData = encapsulate([frame])
        ds["PixelData"].is_undefined_length = True
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = RLELossless
        path = folder / "a.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        return path

    planes = [bytes([0, 0, 1, 1]), bytes([0, 1, 2, 3])]  # (high bytes, then low: 2 x 2, 16 bits)
    path = write(tmp_path / "in", _rle_frame(planes, after, header_tail))
    _rejected_by_run_and_check(tmp_path, key, key_file, lanes, path, where, where)
    fine = write(tmp_path / "fine", _rle_frame(planes, [b"", b"\0\0"]))
    result = _runner(tmp_path / "fine", key, lanes, "basic")(fine)
    assert result.status is Status.WRITTEN, result.detail


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
@pytest.mark.parametrize(
    ("charset", "written"),
    [
        ("ISO_IR 100", "Dr. MÜLLER"),
        ("ISO_IR 192", "befundet: Müller"),
        ("ISO_IR 192", "Łukasz MÜLLER"),
    ],
)
def test_a_name_the_input_holds_in_ascii_is_found_typed_with_its_accents(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    key_file: Path,
    lanes: bool,
    charset: str,
    written: str,
) -> None:
    """Registration wrote MULLER^HANS in ASCII; someone typed Müller into a kept attribute: the
    marks are taken off the output's text before it is searched (the other way round, Müller in
    the input and Muller in the output, was found before)."""
    ds = make_ct(private=False, patient_name="MULLER^HANS", patient_id=ID)
    ds.SpecificCharacterSet = charset
    ds.add_new(0x60001500, "LO", written)
    path = write_dicom(tmp_path / "in" / "a.dcm", ds)
    _rejected_by_run_and_check(
        tmp_path, key, key_file, lanes, path, "at (6000,1500)", "(6000,1500)"
    )


@pytest.mark.parametrize("lanes", [True, False], ids=["unparsed", "parsed"])
def test_a_vendor_named_like_the_patient_with_accents_still_excuses_the_name_component(
    tmp_path: Path,
    make_ct: BuildCT,
    write_dicom: WriteDicom,
    key: Key,
    key_file: Path,
    lanes: bool,
) -> None:
    """A patient MULLER scanned on a Müller Medical Systems scanner: the marks taken off the
    output's text find MULLER in the manufacturer, which excuses a name component as its ASCII
    spelling does (the whole name still counts). Judged on the values with their marks taken off
    too, or every such file was rejected."""
    from dicomscrub.process import Status

    ds = make_ct(private=False, patient_name="MULLER^HANS", patient_id=ID)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.Manufacturer = "Müller Medical Systems"
    ds.ManufacturerModelName = "MÜLLER CT 64"
    path = write_dicom(tmp_path / "in" / "a.dcm", ds)
    result = _runner(tmp_path, key, lanes, "basic")(path)
    assert result.status is Status.WRITTEN, result.detail
    checked = _checked_against(tmp_path, key_file)
    assert checked.exit_code == 0, checked.output
