"""Content a profile's rules do not name, which could still carry identity: a sequence under an
attribute pydicom's dictionary does not know (read as UN, its items undecoded), and Burned In
Annotation values other than YES or NO, and values of such attributes shaped like UIDs, dates or
names."""

from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
import pytest
from e2e_support import Keys, read_output, run_cli
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from corpus import bundled, fictional
from dicomscrub.process import burned_in_annotation

UNKNOWN = 0x00109997
"""An even-group tag no dictionary knows (as an attribute newer than pydicom's dictionary)."""
INNER = ("Innerfamily^Innergiven", "INNERID0042", "19230417")


def _inner_item() -> Dataset:
    item = Dataset()
    item.PatientName, item.PatientID, item.PatientBirthDate = INNER
    return item


def _write(path: Path, ds: Dataset, syntax: str) -> None:
    ds.file_meta.TransferSyntaxUID = syntax
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, implicit_vr=syntax == ImplicitVRLittleEndian, little_endian=True)


def _unknown_sequence_file(path: Path, syntax: str, patient: int) -> None:
    """CT_small with a defined-length sequence under ``UNKNOWN``: in implicit VR pydicom reads
    it back as UN; in explicit VR it is written as UN (its raw, implicit VR items)."""
    ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), patient, 1, 1, 1)
    if syntax == ImplicitVRLittleEndian:
        seq = Sequence([_inner_item()])
        seq.is_undefined_length = False
        ds.add_new(UNKNOWN, "SQ", seq)
        ds[UNKNOWN].is_undefined_length = False
        seq[0].is_undefined_length_sequence_item = False
    else:
        ds.add_new(UNKNOWN, "UN", _implicit_items(_inner_item()))
    _write(path, ds, syntax)


def _implicit_items(item: Dataset) -> bytes:
    """``item`` as one defined-length item in implicit VR little endian (a UN sequence value)."""
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, True
    write_dataset(body, item)
    data = body.getvalue()
    return b"\xfe\xff\x00\xe0" + len(data).to_bytes(4, "little") + data


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_sequence_under_an_unknown_attribute_is_cleaned_inside(
    tmp_path: Path, keys: Keys, jobs: str
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    # two files of each syntax: the second is laid out as the first (a replayed plan)
    for i, syntax in enumerate([ImplicitVRLittleEndian, ExplicitVRLittleEndian] * 2):
        _unknown_sequence_file(inputs / f"f{i}.dcm", syntax, 800 + i)
    run = run_cli([inputs], tmp_path / "out", keys.a, "--jobs", jobs)
    assert run.exit_code == 0, run.output_text
    written = run.written()
    assert len(written) == 4
    for path in written.values():
        data = path.read_bytes()
        for value in (*INNER, "Innerfamily", "Innergiven"):
            assert value.encode() not in data, (path.name, value)
        elem = read_output(path)[UNKNOWN]
        assert elem.VR in ("SQ", "UN")  # (UN again when written in implicit VR)
    assert all(row["status"] == "written" for row in run.file_rows)


def test_an_unknown_attribute_that_starts_like_items_but_cannot_be_read_is_removed(
    tmp_path: Path, keys: Keys
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), 810, 1, 1, 1)
    broken = _implicit_items(_inner_item())[:-6] + b"\0\0"  # an item length past its value
    ds.add_new(UNKNOWN, "UN", broken)
    _write(inputs / "broken.dcm", ds, ExplicitVRLittleEndian)
    run = run_cli([inputs], tmp_path / "out", keys.a)
    assert run.exit_code == 0, run.output_text
    (path,) = run.written().values()
    assert UNKNOWN not in read_output(path)
    assert INNER[1].encode() not in path.read_bytes()


@pytest.mark.parametrize("options", [(), ("--option", "retain-uids")])
def test_a_file_whose_sop_instance_uid_is_empty_everywhere_is_rejected(
    tmp_path: Path, keys: Keys, options: tuple[str, ...]
) -> None:
    """An empty SOP Instance UID, in the data set and the file meta: no valid output can be
    written (it was `failed` with pydicom's AttributeError); a file with one of the two is
    written."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, empty_meta in (("empty.dcm", True), ("meta-only.dcm", False)):
        ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), 830, 1, 1, 1)
        ds.SOPInstanceUID = ""
        if empty_meta:
            ds.file_meta.MediaStorageSOPInstanceUID = ""
        _write(inputs / name, ds, ExplicitVRLittleEndian)
    run = run_cli([inputs], tmp_path / "out", keys.a, *options)
    assert run.exit_code == 1, run.output_text
    rows = {row["input"]: row for row in run.file_rows}
    assert rows["empty.dcm"]["status"] == "rejected"
    assert rows["empty.dcm"]["detail"].startswith(
        "no SOP Instance UID: (0008,0018) and (0002,0003)"
    )
    assert rows["meta-only.dcm"]["status"] == "written", rows["meta-only.dcm"]["detail"]
    assert "Traceback" not in run.output_text and "AttributeError" not in run.output_text


@pytest.mark.parametrize(
    ("value", "rejected"),
    [
        ("YES", True),
        ("yes ", True),
        ("YES\\NO", True),
        ("NO\\YES", True),
        ("Y", True),
        ("UNKNOWN", True),
        ("NO", False),
        ("no", False),
        ("", False),
        (None, False),
    ],
)
def test_burned_in_annotation_other_than_a_single_no_is_rejected(
    tmp_path: Path, keys: Keys, value: str | None, rejected: bool
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), 820, 1, 1, 1)
    if value is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (pydicom warns of an invalid CS value)
            ds.BurnedInAnnotation = value.split("\\") if "\\" in value else value
    _write(inputs / "f.dcm", ds, ExplicitVRLittleEndian)
    run = run_cli([inputs], tmp_path / "out", keys.a)
    (row,) = run.file_rows
    if rejected:
        assert run.exit_code == 1, run.output_text
        assert row["status"] == "rejected"
        assert row["detail"].startswith("Burned In Annotation (0028,0301) is ")
        assert not run.written()
        assert not any(p.is_file() for p in (tmp_path / "out").rglob("*.dcm"))
    else:
        assert run.exit_code == 0, run.output_text
        assert row["status"] == "written"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"YES ", "YES"),
        (b"NO", None),
        (b"", None),
        (["NO", "NO"], "not a single YES or NO (read as YES)"),
        (["YES"], "YES"),
        ("MAYBE", "not a single YES or NO (read as YES)"),
    ],
)
def test_burned_in_annotation_reads_raw_and_multi_values(value: object, expected: str) -> None:
    assert burned_in_annotation(value) == expected


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
def test_person_names_the_table_does_not_list_are_emptied(
    tmp_path: Path, keys: Keys, syntax: str
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(2):  # the second laid out as the first (a replayed plan)
        ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), 830 + i, 1, 1, 1)
        ds.EvaluatorName = "Evaluator^Eva"
        ds.SecondaryReviewerName = "Reviewer^Rita"
        _write(inputs / f"f{i}.dcm", ds, syntax)
    run = run_cli([inputs], tmp_path / "out", keys.a)
    assert run.exit_code == 0, run.output_text
    assert len(run.written()) == 2
    for path in run.written().values():
        data = path.read_bytes()
        assert b"Evaluator" not in data and b"Reviewer" not in data
        out = read_output(path)
        assert out["EvaluatorName"].is_empty and out["SecondaryReviewerName"].is_empty


@pytest.mark.parametrize(("vr", "value"), [("US", 1), ("DS", "0"), ("FL", 0.0), ("AT", 0x00100010)])
def test_burned_in_annotation_written_with_another_vr_is_rejected(
    tmp_path: Path, keys: Keys, vr: str, value: object
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), 840, 1, 1, 1)
    ds.add_new(0x00280301, vr, value)
    _write(inputs / "f.dcm", ds, ExplicitVRLittleEndian)
    run = run_cli([inputs], tmp_path / "out", keys.a)
    (row,) = run.file_rows
    assert row["status"] == "rejected", row["detail"]
    assert row["detail"].startswith("Burned In Annotation (0028,0301) is not a single YES or NO")


SHAPED = {
    # unknown tag: (value as read, what the Basic Profile does, and with the options below)
    0x00109991: (b"1.2.826.0.1.3680043.99.4242", "new UID", "kept"),
    0x00109992: (b"19230417", "emptied", "shifted"),
    0x00109993: (b"20190605101500 ", "emptied", "shifted"),
    0x00109994: (b"Unknownfamily^Unknowngiven ", "emptied", "emptied"),
    0x00109995: (b"plain words ", "kept", "kept"),
    0x00109996: (b"1.5\\2.25", "kept", "kept"),  # numbers (one dot each): not UIDs
    0x001099A1: (b"Smith^Jane\\", "emptied", "emptied"),  # an empty value beside a name
    0x001099A2: (b"\\19230417", "emptied", "emptied"),  # (a date list with a gap: emptied)
    0x001099A3: (b"3.2.1 ", "kept", "kept"),  # a version: no UID starts with 3
    0x001099A4: (b"192.168.10.20 ", "kept", "kept"),  # an address
    0x001099A5: (b"10000101", "kept", "kept"),  # a number: no date of the year 1000
    0x001099A6: (b"20230229", "kept", "kept"),  # no such day
    0x001099A7: (b"x^2 + y^2 ", "kept", "kept"),  # a formula, not a name
    0x001099A8: (b"Otherfamily^Othergiven\\Room 12", "emptied", "emptied"),  # one name is enough
    0x001099A9: (b"x^2\\Bed 7 ", "kept", "kept"),  # neither value a name
}


@pytest.mark.parametrize("options", [(), ("retain-uids", "retain-long-modified-dates")])
@pytest.mark.parametrize(
    ("syntax", "vr"),
    [
        (ImplicitVRLittleEndian, "UN"),
        (ExplicitVRLittleEndian, "UN"),
        (ExplicitVRLittleEndian, "LO"),
        (ExplicitVRLittleEndian, "LT"),
    ],
)
def test_an_unknown_attribute_shaped_like_a_uid_date_or_name_is_handled_as_one(
    tmp_path: Path, keys: Keys, syntax: str, vr: str, options: tuple[str, ...]
) -> None:
    """An attribute the dictionary does not know, read as UN or written with a text VR (a name
    written as LT is still a name), gets the unlisted_uids, unlisted_dates or unlisted_names
    action of the VR its value has the form of; other values are kept as read
    (settings.default)."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(2):  # the second laid out as the first (a replayed plan)
        ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), 850 + i, 1, 1, 1)
        for tag, (value, _, _) in SHAPED.items():
            ds.add_new(tag, vr, value if vr == "UN" else value.decode("ascii"))
        _write(inputs / f"f{i}.dcm", ds, syntax)
    extra = [arg for name in options for arg in ("--option", name)]
    run = run_cli([inputs], tmp_path / "out", keys.a, *extra)
    assert run.exit_code == 0, run.output_text
    assert len(run.written()) == 2
    for path in run.written().values():
        out = read_output(path)
        for tag, (value, basic, optioned) in SHAPED.items():
            expected = optioned if options else basic
            written = out[tag].value
            if isinstance(written, MultiValue):  # (a multi-valued LO, read back as its values)
                written = "\\".join(map(str, written))
            written = written if isinstance(written, bytes | None) else str(written).encode()
            written = (written or b"").rstrip(b"\0 ")
            if expected == "kept":
                assert written == value.rstrip(b"\0 "), hex(tag)
            elif expected == "emptied":
                assert written == b"", hex(tag)
            else:  # a new UID, or a date shifted: another value of the same form
                assert written and written != value.rstrip(b"\0 "), hex(tag)
                assert len(written.split(b".")) > 2 or written[:8].isdigit(), hex(tag)


def test_explain_says_an_unknown_attribute_was_handled_by_its_form(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dicomscrub.cli import cli

    ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), 860, 1, 1, 1)
    for tag, (value, _, _) in SHAPED.items():
        ds.add_new(tag, "UN", value)
    _write(tmp_path / "f.dcm", ds, ImplicitVRLittleEndian)
    result = CliRunner().invoke(cli, ["explain", str(tmp_path / "f.dcm")])
    assert result.exit_code == 0, result.output
    lines = {line[:11]: line for line in result.output.splitlines()}
    assert "unknown attribute shaped like a UID: settings.unlisted_uids" in lines["(0010,9991)"]
    assert "shaped like a date/time: settings.unlisted_dates" in lines["(0010,9993)"]
    assert "shaped like a person name: settings.unlisted_names" in lines["(0010,9994)"]
    assert "not listed: settings.default (basic) K" in lines["(0010,9995)"]


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRLittleEndian])
def test_an_unknown_attribute_inside_a_kept_sequence_is_handled_by_its_form(
    tmp_path: Path, keys: Keys, syntax: str
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), 870, 1, 1, 1)
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "T-D3000", "SRT", "Chest"
    item.add_new(0x00109994, "UN", b"Unknownfamily^Unknowngiven ")
    item.add_new(0x00109995, "UN", b"plain words ")
    ds.AnatomicRegionSequence = Sequence([item])  # kept by the Basic Profile
    _write(inputs / "f.dcm", ds, syntax)
    run = run_cli([inputs], tmp_path / "out", keys.a)
    assert run.exit_code == 0, run.output_text
    (path,) = run.written().values()
    assert b"Unknownfamily" not in path.read_bytes()
    kept = read_output(path).AnatomicRegionSequence[0]
    assert kept.CodeMeaning == "Chest"
    assert bytes(kept[0x00109995].value).rstrip(b"\0 ") == b"plain words"


WRONG_VR = {  # a name or a date written with another text VR than its attribute's
    0x00142006: ("LO", "Plumbottom^Horatio", "PN"),  # Evaluator Name
    0x00140104: ("SH", "Grizzelda^Opal", "PN"),  # Secondary Reviewer Name
    0x0008041F: ("LO", "20240315101010", "DT"),  # Study Update DateTime
    0x00080013: ("LO", "101010", "TM"),  # Instance Creation Time: a rule's action, not a setting's
}


@pytest.mark.parametrize("options", [(), ("retain-long-modified-dates",)])
def test_a_name_or_date_written_with_another_vr_is_handled_as_its_attribute(
    tmp_path: Path, keys: Keys, options: tuple[str, ...]
) -> None:
    """settings.unlisted_names and unlisted_dates follow the attribute, not the explicit VR the
    file wrote: at the top level and inside a kept sequence, a name written as LO or SH is
    emptied like one written as PN, a date-time written as LO is emptied or shifted like a DT,
    and what is written has the attribute's own VR."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    ds = fictional(pydicom.dcmread(bundled("CT_small.dcm")), 880, 1, 1, 1)
    item = Dataset()
    for tag, (vr, value, _) in WRONG_VR.items():
        ds.add_new(tag, vr, value)
        item.add_new(tag, vr, value)
    ds.AnatomicRegionSequence = Sequence([item])  # not listed: kept, cleaned inside
    _write(inputs / "f.dcm", ds, ExplicitVRLittleEndian)
    extra = [arg for name in options for arg in ("--option", name)]
    run = run_cli([inputs], tmp_path / "out", keys.a, *extra)
    assert run.exit_code == 0, run.output_text
    (path,) = run.written().values()
    raw = path.read_bytes()
    for _, value, vr in WRONG_VR.values():
        assert value.encode() not in raw or (options and vr == "TM")  # times kept with the option
    out = read_output(path)
    for where in (out, out.AnatomicRegionSequence[0]):
        for tag, (_, _, vr) in WRONG_VR.items():
            if tag not in where:
                continue
            assert vr == where[tag].VR, hex(tag)
            written = str(where[tag].value or "")
            if options and vr == "DT":
                assert written[:8].isdigit() and written != WRONG_VR[tag][1], hex(tag)
            elif not (options and vr == "TM"):
                assert written in ("", "000000"), hex(tag)
