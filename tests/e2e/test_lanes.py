"""Elements kept or removed from their bytes, unparsed (dicomscrub.lanes), give exactly what
parsing every element gives: the same status, detail, audit rows and output bytes, on every
bundled file and on files made to exercise the edge cases (implicit VR, private elements read as UN,
values pydicom cannot decode, creators that are not plain ASCII, blocks without a creator,
declared blocks, non-zero reserved bytes)."""

from __future__ import annotations

import functools
import io
import struct
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from corpus import TEST_FILES
from dicomscrub import lanes as lanes_module
from dicomscrub.discover import Kind, Source
from dicomscrub.lanes import PLAIN_CHARSETS, split
from dicomscrub.pipeline import Scrubber, private_creators
from dicomscrub.process import FileResult, Job, process_file
from dicomscrub.profile.loader import load_profile
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.pseudonym import Key, Pseudonymizer
from dicomscrub.structure import UNDEFINED, WINDOW, _dictionary_sq, scan
from dicomscrub.writer import Layout, OutputPlan

REPO = Path(__file__).resolve().parents[2]
BUNDLED = sorted(p.name for p in TEST_FILES.iterdir() if p.is_file())
PROFILES = {
    "basic": ("basic", ()),
    "safe-private": ("basic", ("retain-safe-private",)),
    "retain": ("basic", ("retain-uids", "retain-device-identity", "retain-long-full-dates")),
    "my-profile": (str(REPO / "examples" / "my-profile.yaml"), ()),
    "pseudonyms": ("basic", ("patient-pseudonyms",)),
    "keep-patient-id": (str(REPO / "tests" / "data" / "keep-patient-id.yaml"), ()),
    "remove-patient-id": (str(REPO / "tests" / "data" / "remove-patient-id.yaml"), ()),
}


@functools.lru_cache(maxsize=8)
def compiled(name: str) -> CompiledProfile:
    profile, options = PROFILES[name]
    return load_profile(profile, options)


def run(
    path: Path, out: Path, key: Key, profile: str, *, lanes: bool, leak_check: bool = True
) -> FileResult:
    scrubber = Scrubber(compiled(profile), Pseudonymizer(key))
    plan = OutputPlan(out, Layout.HIERARCHY, ("in",))
    job = Job(scrubber, plan, lanes=lanes, leak_check=leak_check)
    return process_file(Source(path, 0, path.parent, path.name), job)


def assert_same(path: Path, tmp_path: Path, key: Key, profile: str) -> FileResult:
    fast = run(path, tmp_path / "lanes", key, profile, lanes=True)
    slow = run(path, tmp_path / "parsed", key, profile, lanes=False)
    assert (fast.status, fast.detail, fast.output) == (slow.status, slow.detail, slow.output)
    assert fast.private == slow.private
    assert (fast.methods, fast.method_codes) == (slow.methods, slow.method_codes)
    if fast.output and fast.status.value == "written":
        ours = (tmp_path / "lanes" / fast.output).read_bytes()
        assert ours == (tmp_path / "parsed" / slow.output).read_bytes()
    return fast


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("name", BUNDLED)
def test_lanes_give_what_parsing_gives_on_bundled_files(
    name: str, profile: str, tmp_path: Path, key: Key
) -> None:
    assert_same(TEST_FILES / name, tmp_path, key, profile)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("lanes", [True, False], ids=["lanes", "parsed"])
# (a profile that keeps Patient ID can leak: in examples_palette.dcm it holds the study's date)
@pytest.mark.parametrize("profile", sorted(set(PROFILES) - {"keep-patient-id"}))
@pytest.mark.parametrize("name", BUNDLED)
def test_the_leak_check_never_changes_what_is_written(
    name: str, profile: str, lanes: bool, tmp_path: Path, key: Key
) -> None:
    """The leak check reads every value the scrub does not keep; what it reads is decoded aside,
    so the elements kept as read are still written back byte for byte."""
    path = TEST_FILES / name
    checked = run(path, tmp_path / "checked", key, profile, lanes=lanes)
    unchecked = run(path, tmp_path / "unchecked", key, profile, lanes=lanes, leak_check=False)
    assert (checked.status, checked.detail) == (unchecked.status, unchecked.detail)
    assert checked.private == unchecked.private
    if checked.output and checked.status.value == "written":
        ours = (tmp_path / "checked" / checked.output).read_bytes()
        assert ours == (tmp_path / "unchecked" / unchecked.output).read_bytes()


# ---- edge cases -------------------------------------------------------------------------------


def _base() -> Dataset:
    ds = pydicom.dcmread(TEST_FILES / "CT_small.dcm")
    block = ds.private_block(0x0033, "TEST CREATOR", create=True)
    block.add_new(0x01, "LO", "Dr DOE")
    block.add_new(0x02, "DS", "1.5")
    block.add_new(0x03, "US", 7)
    return ds


def _save(ds: Dataset, path: Path, **kwargs: object) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=True, **kwargs)  # type: ignore[arg-type]
    return path.read_bytes()


def _patch(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


def _case_bad_length(path: Path) -> None:  # US of 3 bytes: pydicom cannot decode it
    data = _save(_base(), path)
    old = struct.pack("<HH2sH", 0x0033, 0x1003, b"US", 2) + struct.pack("<H", 7)
    new = struct.pack("<HH2sH", 0x0033, 0x1003, b"US", 3) + b"\0\0\0"
    path.write_bytes(_patch(data, old, new))


def _case_unknown_vr_text(path: Path) -> None:  # DS that is not a number: decodes as UN
    data = _save(_base(), path)
    old = struct.pack("<HH2sH", 0x0033, 0x1002, b"DS", 4) + b"1.5 "
    path.write_bytes(_patch(data, old, old[:8] + b"abc "))


def _case_implicit(path: Path) -> None:
    ds = _base()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    _save(ds, path, implicit_vr=True, little_endian=True)


def _case_big_endian(path: Path) -> None:
    ds = _base()
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pydicom.dcmwrite(path, ds, implicit_vr=False, little_endian=False, force_encoding=True)


def _case_un_privates(path: Path) -> None:  # explicit VR, private elements written as UN
    ds = _base()
    for tag in [t for t in ds.keys() if t.group % 2 and t.element >= 0x1000]:  # noqa: SIM118
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, True
        write_data_element(fp, ds[tag])
        ds.add_new(tag, "UN", fp.getvalue()[8:])
    _save(ds, path)


def _case_non_ascii_creator(path: Path) -> None:
    ds = _base()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds[0x00330010].value = "TEST CRÉATOR"
    _save(ds, path)


def _case_latin1_values(path: Path) -> None:  # kept, emptied and dummied values in Latin-1
    ds = _base()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstitutionName = "Hôpital Général"
    ds.PatientName = "Müller^Jürgen"
    ds.StudyDescription = "Thorax échographie"
    ds.add_new(0x00181030, "LO", "Protocole spécial")
    _save(ds, path)


def _case_code_extensions(path: Path) -> None:  # ISO 2022: creators parsed and checked
    ds = _base()
    ds.SpecificCharacterSet = ["ISO 2022 IR 6", "ISO 2022 IR 87"]
    ds.PatientName = "Yamada^Tarou=山田^太郎"
    _save(ds, path)


def _case_creator_with_backslash(path: Path) -> None:
    ds = _base()
    ds[0x00330010].value = ["TEST", "CREATOR"]
    _save(ds, path)


def _case_creator_padded_with_nulls(path: Path) -> None:
    data = _save(_base(), path)
    old = struct.pack("<HH2sH", 0x0033, 0x0010, b"LO", 12) + b"TEST CREATOR"
    new = struct.pack("<HH2sH", 0x0033, 0x0010, b"LO", 14) + b" TEST CREATOR\0"
    path.write_bytes(_patch(data, old, new))


def _case_no_creator(path: Path) -> None:
    ds = _base()
    del ds[0x00330010]
    ds.add_new(0x00350001, "LO", "below 1000")  # a private element below (gggg,1000)
    _save(ds, path)


def _case_declared(path: Path) -> None:
    ds = _base()
    item = Dataset()
    item.PrivateGroupReference = 0x0033
    item.PrivateCreatorReference = "TEST CREATOR"
    item.BlockIdentifyingInformationStatus = "SAFE"
    ds.PrivateDataElementCharacteristicsSequence = Sequence([item])
    _save(ds, path)


def _case_reserved_bytes(path: Path) -> None:  # an OB kept by the profile, reserved bytes set
    ds = _base()
    ds.add_new(0x00189219, "OB", b"\1\2\3\4")  # not in Table E.1-1: kept
    data = _save(ds, path)
    old = struct.pack("<HH2sHL", 0x0018, 0x9219, b"OB", 0, 4)
    path.write_bytes(_patch(data, old, struct.pack("<HH2sHL", 0x0018, 0x9219, b"OB", 0x4141, 4)))


def _case_private_sequence(path: Path) -> None:
    ds = _base()
    inner = Dataset()
    inner.add_new(0x00100010, "PN", "DOE^JANE")
    ds.private_block(0x0033, "TEST CREATOR").add_new(0x04, "SQ", Sequence([inner]))
    _save(ds, path)


def _sequences() -> Dataset:
    ds = _base()
    plain = Dataset()
    plain.PatientID = "OTHER-ID-1"
    with_private = Dataset()
    with_private.PatientID = "OTHER-ID-2"
    with_private.private_block(0x0019, "GEMS_ACQU_01", create=True).add_new(0x10, "LO", "x")
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref.ReferencedSOPInstanceUID = "1.2.3.4.5"
    ds.OtherPatientIDsSequence = Sequence([plain])  # X, nothing private inside
    ds.ReferencedPatientSequence = Sequence([with_private])  # X, a private element inside
    ds.ReferencedStudySequence = Sequence([ref])  # X/Z: emptied
    ds.ReferencedPerformedProcedureStepSequence = Sequence([ref, plain])  # X/Z/D: emptied
    ds.RequestAttributesSequence = Sequence([])  # X, no items
    return ds


def _case_sequences(path: Path) -> None:
    _save(_sequences(), path)


def _case_sequences_implicit(path: Path) -> None:
    ds = _sequences()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    _save(ds, path, implicit_vr=True, little_endian=True)


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "SRT", meaning
    return item


def _kept_sequences() -> Dataset:
    """Sequences the profiles keep with all they hold (codes), nested, of undefined length too,
    next to kept sequences that hold something the profiles change."""
    ds = _base()
    ds.AnatomicRegionSequence = Sequence([_code("T-A0100", "Brain")])
    modifier = _code("G-A101", "Left")
    region = _code("T-D3000", "Chest")
    region.AnatomicRegionModifierSequence = Sequence([modifier])  # a kept sequence inside
    ds.PrimaryAnatomicStructureSequence = Sequence([region, _code("T-D4000", "Abdomen")])
    ds.ProcedureCodeSequence = Sequence([_code("P5-0800", "CT")])
    ds.ProcedureCodeSequence.is_undefined_length = True
    ds.ProcedureCodeSequence[0].is_undefined_length_sequence_item = True
    dated = _code("C-B0300", "Contrast")
    dated.add_new(0x00080020, "DA", "20240102")  # a date inside: changed by the profiles
    ds.AdministrationRouteCodeSequence = Sequence([dated])
    named = _code("121007", "Reader")
    named.add_new(0x00081060, "PN", "DOE^JANE")  # a name inside
    ds.ViewCodeSequence = Sequence([named])
    private_inside = _code("R-10202", "frontal")
    private_inside.private_block(0x0019, "GEMS_ACQU_01", create=True).add_new(0x10, "LO", "x")
    ds.ViewModifierCodeSequence = Sequence([private_inside])
    return ds


def _case_kept_sequences(path: Path) -> None:
    _save(_kept_sequences(), path)


def _case_kept_sequences_implicit(path: Path) -> None:  # left to the parser
    ds = _kept_sequences()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    _save(ds, path, implicit_vr=True, little_endian=True)


def _identifying_codes(ds: Dataset) -> Sequence:
    item = _code(str(ds.PatientID), str(ds.PatientName))
    return Sequence([item])


def _case_sequence_as_group_length(path: Path) -> None:  # (0018,0000) written as SQ: dropped
    ds = _base()
    ds.add_new(0x00180001, "SQ", _identifying_codes(ds))
    data = _save(ds, path)
    old = struct.pack("<HH2sH", 0x0018, 0x0001, b"SQ", 0)
    path.write_bytes(_patch(data, old, struct.pack("<HH2sH", 0x0018, 0x0000, b"SQ", 0)))


def _case_sequence_in_a_forbidden_odd_group(path: Path) -> None:  # removed whole
    ds = _base()
    ds.add_new(0x00070001, "LO", "x")
    ds.add_new(0x00071000, "SQ", Sequence([_code("MRN-778899", "SECRET HOSPITAL NOTE")]))
    _save(ds, path)


def _numeric_private(path: Path, *, tail: bool, un: bool) -> None:
    """A private SL of -1 (four 0xFF bytes, as an undefined length) that pydicom decodes as a
    number from its creator's private dictionary: read in implicit VR, or written as UN; in the
    header or after Pixel Data; beside a sequence of undefined length."""
    ds = _base()
    ds.ProcedureCodeSequence = Sequence([_code("P5-0800", "CT")])
    ds.ProcedureCodeSequence.is_undefined_length = True
    ds.ProcedureCodeSequence[0].is_undefined_length_sequence_item = True
    group, creator = (
        (0x7FE1, "GEMS_Ultrasound_MovieGroup_001") if tail else (0x0043, "GEMS_PARM_01")
    )
    ds.private_block(group, creator, create=True).add_new(0x54 if tail else 0x47, "SL", 0x11111111)
    element = 0x1054 if tail else 0x1047
    if un:
        data = _save(ds, path)
        old = struct.pack("<HH2sH", group, element, b"SL", 4) + b"\x11" * 4
        new = struct.pack("<HH2s2sL", group, element, b"UN", b"\0\0", 4) + b"\xff" * 4
    else:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        data = _save(ds, path, implicit_vr=True, little_endian=True)
        old = struct.pack("<HHL", group, element, 4) + b"\x11" * 4
        new = old[:8] + b"\xff" * 4
    path.write_bytes(_patch(data, old, new))


def _case_numeric_private_implicit(path: Path) -> None:
    _numeric_private(path, tail=False, un=False)


def _case_numeric_private_un(path: Path) -> None:
    _numeric_private(path, tail=False, un=True)


def _case_numeric_private_implicit_tail(path: Path) -> None:
    _numeric_private(path, tail=True, un=False)


def _case_numeric_private_un_tail(path: Path) -> None:
    _numeric_private(path, tail=True, un=True)


def _case_kept_sequence_reserved_bytes(path: Path) -> None:  # set in the SQ's header: zeroed
    ds = _base()
    ds.AnatomicRegionSequence = Sequence([_code("T-A0100", "Brain")])
    data = _save(ds, path)
    old = struct.pack("<HH2sH", 0x0008, 0x2218, b"SQ", 0)
    path.write_bytes(_patch(data, old, old[:6] + b"\x01\x02"))


def _case_empty_values(path: Path) -> None:
    ds = _base()
    ds.add_new(0x00181030, "LO", "")  # Protocol Name, empty
    ds.add_new(0x00280034, "IS", None)  # empty number
    ds.private_block(0x0033, "TEST CREATOR").add_new(0x05, "FL", None)
    _save(ds, path)


_UID_VALUES = {
    "multi": b"1.2.3.4\\1.2.840.10008.1.2 \\ 5.6.7\0",
    "padded_with_spaces": b"1.2.826.0.1.3680043.2 ",
    "leading_space": b" 1.2.826.0.1.3680043.3",
    "nul_inside": b"1.2.3\x004.5\0",
    "only_nuls": b"\0\0",
    "empty": b"",
    "standard": b"1.2.840.10008.5.1.4.1.1.2\0",
    "backslash": b"\\ ",
    "empty_items": b"1.2.3\\\\4.5",
    "not_ascii": b"1.2.3.\xe9",
}


def _uid_values(path: Path, name: str, syntax: str = "explicit") -> None:
    """Frame of Reference UID and Instance Creator UID (rule U, not otherwise read) holding the
    bytes ``_UID_VALUES[name]``, in explicit VR little endian, implicit VR or big endian."""
    ds = _base()
    ds.FrameOfReferenceUID = "1.2.3.999"
    ds.InstanceCreatorUID = "1.2.3.998"
    implicit, little = syntax == "implicit", syntax != "big"
    ds.file_meta.TransferSyntaxUID = {"implicit": ImplicitVRLittleEndian}.get(
        syntax, ExplicitVRBigEndian if syntax == "big" else ds.file_meta.TransferSyntaxUID
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pydicom.dcmwrite(path, ds, implicit_vr=implicit, little_endian=little, force_encoding=True)
    data = path.read_bytes()
    e = "<" if little else ">"
    value = _UID_VALUES[name]
    for tag, old_value in ((0x00200052, b"1.2.3.999\0"), (0x00080014, b"1.2.3.998\0")):
        group, elem = tag >> 16, tag & 0xFFFF
        if implicit:
            old = struct.pack(e + "HHL", group, elem, len(old_value)) + old_value
            new = struct.pack(e + "HHL", group, elem, len(value)) + value
        else:
            old = struct.pack(e + "HH2sH", group, elem, b"UI", len(old_value)) + old_value
            new = struct.pack(e + "HH2sH", group, elem, b"UI", len(value)) + value
        data = _patch(data, old, new)
    path.write_bytes(data)


def _case_uids(path: Path) -> None:  # every value of _UID_VALUES: see the test below
    _uid_values(path, "multi")


def _case_uids_implicit(path: Path) -> None:
    _uid_values(path, "padded_with_spaces", "implicit")


def _case_uids_big_endian(path: Path) -> None:
    _uid_values(path, "multi", "big")


def _case_no_patient_id(path: Path) -> None:  # the Study Instance UID keys the patient
    ds = _base()
    del ds.PatientID
    _save(ds, path)


def _patient_id(path: Path, value: bytes) -> None:
    ds = _base()
    ds.PatientID = "PID-0042"
    data = _save(ds, path)
    old = struct.pack("<HH2sH", 0x0010, 0x0020, b"LO", 8) + b"PID-0042"
    path.write_bytes(
        _patch(data, old, struct.pack("<HH2sH", 0x0010, 0x0020, b"LO", len(value)) + value)
    )


def _case_patient_id_spaces(path: Path) -> None:
    _patient_id(path, b"  PID 42  ")


def _case_patient_id_nul(path: Path) -> None:  # not plain text: parsed
    _patient_id(path, b"PID-42\0\0")


def _case_patient_id_latin1(path: Path) -> None:  # not plain text: parsed
    _patient_id(path, b"M\xfcller-42")


def _case_patient_id_empty(path: Path) -> None:
    _patient_id(path, b"")


def _trailing(ds: Dataset) -> Dataset:
    """Elements after Pixel Data: a private block (creator and an ID), a kept retired standard
    element, and trailing padding."""
    ds.private_block(0x7FE1, "TEST TRAILER", create=True).add_new(0x01, "LO", "PID-TRAILING-77")
    ds.add_new(0x7FE00020, "OW", b"\1\0\2\0")  # Coefficients SDVN (retired): not in E.1-1
    ds.add_new(0xFFFCFFFC, "OB", b"\0" * 16)  # Data Set Trailing Padding
    return ds


def _case_trailing(path: Path) -> None:
    _save(_trailing(_base()), path)


def _case_trailing_implicit(path: Path) -> None:
    ds = _trailing(_base())
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    _save(ds, path, implicit_vr=True, little_endian=True)


def _case_trailing_without_creator(path: Path) -> None:  # left to the parser
    ds = _trailing(_base())
    del ds[0x7FE10010]
    _save(ds, path)


def _case_two_sop_instance_uids(path: Path) -> None:  # not one UID: parsed
    ds = _base()
    ds.SOPInstanceUID = ["1.2.3.4.5", "1.2.3.4.6"]
    ds.SeriesInstanceUID = ""
    _save(ds, path)


CASES = {
    name.removeprefix("_case_"): func
    for name, func in globals().items()
    if name.startswith("_case_") and callable(func)
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_lanes_give_what_parsing_gives_on_edge_cases(
    case: str, profile: str, tmp_path: Path, key: Key
) -> None:
    path = tmp_path / f"{case}.dcm"
    CASES[case](path)
    assert_same(path, tmp_path, key, profile)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("syntax", ["explicit", "implicit", "big"])
@pytest.mark.parametrize("value", sorted(_UID_VALUES))
def test_new_uids_made_from_bytes_are_what_parsing_makes(
    value: str, syntax: str, tmp_path: Path, key: Key
) -> None:
    path = tmp_path / f"uid-{value}.dcm"
    _uid_values(path, value, syntax)
    assert_same(path, tmp_path, key, "basic")


# ---- the lanes are used --------------------------------------------------------------------


def _split(path: Path, profile: str, key: Key) -> lanes_module.Split | None:
    scrubber = Scrubber(compiled(profile), Pseudonymizer(key))
    with path.open("rb") as fh:
        size = path.stat().st_size
        fmap = scan(fh, size, Kind.PART10)
        assert fmap.pixel is not None
        fh.seek(0)
        return split(fmap, fh.read(fmap.pixel.start), scrubber)


def test_most_elements_of_a_ct_header_are_not_parsed(key: Key) -> None:
    sp = _split(TEST_FILES / "CT_small.dcm", "basic", key)
    assert sp is not None
    assert len(sp.kept) > 20 and len(sp.lane.private) > 50
    assert sp.parsed < len(sp.kept) + len(sp.lane.private)


def test_a_profile_that_cleans_parses_every_element(key: Key, tmp_path: Path) -> None:
    profile = tmp_path / "clean.yaml"
    profile.write_text("extends: [basic, retain-long-modified-dates]\n", encoding="utf-8")
    scrubber = Scrubber(load_profile(str(profile)), Pseudonymizer(key))
    assert not scrubber.lanes_allowed


@pytest.mark.parametrize("charset", sorted(PLAIN_CHARSETS - {""}))
@pytest.mark.parametrize(
    "raw", [b"GEMS_IDEN_01", b" SIEMENS CSA HEADER", b"ELSCINT1\0", b"A  ", b"x~!()[]{}?"]
)
def test_creators_read_from_bytes_are_what_pydicom_decodes(charset: str, raw: bytes) -> None:
    """In the character sets where creators are removed unparsed, the creator text read from the
    bytes is the text pydicom gives the parsed element."""
    ds = Dataset()
    ds.SpecificCharacterSet = charset
    padded = raw + (b" " if len(raw) % 2 else b"")
    ds.add(RawDataElement(BaseTag(0x00190010), "LO", len(padded), padded, 0, False, True))
    decoded = ds[0x00190010].value
    assert lanes_module._creator("LO", padded) == (decoded, private_creators(ds)[(0x0019, 0x10)])


def test_a_creator_pydicom_decodes_otherwise_refuses_the_lanes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: Key
) -> None:
    """Where a creator is parsed (a character set with code extensions, say), a lane decision
    that assumed another creator than pydicom decodes makes the file processed again with every
    element parsed, and the result is the same."""
    path = tmp_path / "iso2022.dcm"
    ds = _base()
    ds.SpecificCharacterSet = ["ISO 2022 IR 6", "ISO 2022 IR 87"]
    _save(ds, path)
    original = lanes_module._creator

    def wrong(vr: str | None, value: bytes) -> tuple[str, str] | None:
        found = original(vr, value)
        return None if found is None else (found[0] + "X", found[1] + "X")

    monkeypatch.setattr(lanes_module, "_creator", wrong)
    refused = []
    check = lanes_module.check_creators

    def spy(ds: Dataset, sp: lanes_module.Split) -> None:
        try:
            check(ds, sp)
        except lanes_module.LanesRefused:
            refused.append(True)
            raise

    monkeypatch.setattr("dicomscrub.process.check_creators", spy)
    assert_same(path, tmp_path, key, "basic")
    assert refused


def test_elements_written_from_bytes_are_those_the_parsed_path_writes(
    key: Key, tmp_path: Path
) -> None:
    """Each element a lane writes (kept as read, or given a fixed new value) is, byte for byte,
    the element the output of the fully parsed path holds."""
    path = TEST_FILES / "CT_small.dcm"
    sp = _split(path, "basic", key)
    assert sp is not None
    assert len(sp.kept) > 30
    parsed = run(path, tmp_path, key, "basic", lanes=False)
    out = pydicom.dcmread(tmp_path / parsed.output)
    for tag, data in sp.kept:
        fp = DicomBytesIO()
        fp.is_little_endian, fp.is_implicit_VR = True, False
        write_data_element(fp, out.get_item(tag))  # undecoded: written as it is in the file
        assert fp.getvalue() == data


@pytest.mark.parametrize(("value", "parsed"), [("multi", False), ("not_ascii", True)])
def test_uids_given_new_values_are_made_from_their_bytes(
    value: str, parsed: bool, tmp_path: Path, key: Key
) -> None:
    path = tmp_path / f"uid-{value}.dcm"
    _uid_values(path, value)
    sp = _split(path, "basic", key)
    assert sp is not None and sp.elements is not None
    tags = {e[0] for e in sp.elements}
    assert (0x00200052 in tags) is parsed and (0x00080014 in tags) is parsed
    assert ({tag for tag, _ in sp.kept} >= {0x00200052, 0x00080014}) is not parsed


def test_values_read_for_the_output_path_are_decided_unparsed_but_for_a_crosswalk(
    tmp_path: Path, key: Key
) -> None:
    path = tmp_path / "ct.dcm"
    _save(_base(), path)
    read = {0x00080018, 0x0020000D, 0x0020000E}
    sp = _split(path, "basic", key)
    assert sp is not None and sp.elements is not None
    assert not read & {e[0] for e in sp.elements}
    assert set(sp.lane.values) == read | {0x00100020, 0x00080016}  # (SOP Class: kept, unparsed)
    old, new = sp.lane.values[0x00080018]
    assert old == str(pydicom.dcmread(path).SOPInstanceUID) and new.startswith("2.25.")
    scrubber = Scrubber(compiled("basic"), Pseudonymizer(key), collect_mapping=True)
    with path.open("rb") as fh:
        fmap = scan(fh, path.stat().st_size, Kind.PART10)
        assert fmap.pixel is not None
        fh.seek(0)
        mapped = split(fmap, fh.read(fmap.pixel.start), scrubber)
    assert mapped is not None and mapped.elements is not None
    assert read | {0x00100020} <= {e[0] for e in mapped.elements} and not mapped.lane.values


def test_two_sop_instance_uids_are_parsed(tmp_path: Path, key: Key) -> None:
    path = tmp_path / "two.dcm"
    _case_two_sop_instance_uids(path)
    sp = _split(path, "basic", key)
    assert sp is not None and sp.elements is not None
    parsed = {e[0] for e in sp.elements}
    assert {0x00080018, 0x0020000E} <= parsed and 0x0020000D not in parsed


@pytest.mark.parametrize(
    ("case", "decided"), [("trailing", True), ("trailing_without_creator", False)]
)
def test_elements_after_pixel_data_are_decided_unparsed_when_all_can_be(
    case: str, decided: bool, tmp_path: Path, key: Key
) -> None:
    path = tmp_path / f"{case}.dcm"
    CASES[case](path)
    scrubber = Scrubber(compiled("basic"), Pseudonymizer(key))
    data = path.read_bytes()
    with path.open("rb") as fh:
        fmap = scan(fh, len(data), Kind.PART10)
    assert fmap.pixel is not None
    sp = split(fmap, data[: fmap.pixel.start], scrubber, tail=data[fmap.pixel.end :])
    assert sp is not None
    assert (sp.tail is not None) is decided
    if decided:
        assert sp.tail is not None
        assert [tag for tag, _ in sp.tail] == [0x7FE00020]  # kept; the block and padding go
        assert 0x7FE11001 in sp.lane.private_tags
        assert 0x7FE10010 in [tag for tag, _ in sp.lane.creators]


# ---- a series: the plan of its first file replayed on the next (see lanes._Plan) --------------

SERIES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_expb.dcm",
    "MR_small_bigendian.dcm",
    "liver_1frame.dcm",
    "rtdose.dcm",
    "nested_priv_SQ.dcm",
    "SC_rgb_small_odd.dcm",
    "examples_rgb_color.dcm",
]


def _shifted(value: bytes, shift: int) -> bytes:
    return bytes((b - 48 + shift) % 10 + 48 if 48 <= b <= 57 else b for b in value)


def _slices(data: bytes) -> list[tuple[str, bytes]]:
    """Files laid out as ``data`` (same tags, VRs and lengths) with other values: digits changed
    in every top-level value but the Specific Character Set and the Private Creators (three
    ways); then a Patient ID that is not plain ASCII, a Private Creator of another vendor, and
    another Specific Character Set (which the plan must not be replayed for)."""
    fmap = scan(io.BytesIO(data), len(data), Kind.PART10)
    assert fmap.pixel is not None
    found: list[tuple[str, bytes]] = []
    for shift in (1, 2, 3):
        changed = bytearray(data)
        for tag, raw_vr, _, value, length, after in fmap.elements:
            group, element = tag >> 16, tag & 0xFFFF
            creator = group & 1 and element <= 0xFF
            sequence = raw_vr in (b"SQ", b"UN") or (raw_vr is None and _dictionary_sq(tag))
            if tag in (0x00080005, fmap.pixel.tag) or creator or sequence or length == UNDEFINED:
                continue
            changed[value:after] = _shifted(data[value:after], shift)
        found.append((f"digits+{shift}", bytes(changed)))
    creator_changed = False
    for tag, _, _, value, length, _ in fmap.elements:
        group, element = tag >> 16, tag & 0xFFFF
        if tag == 0x00100020 and length:
            changed = bytearray(found[0][1])
            changed[value] = 0xE9  # é in Latin-1
            found.append(("patient-id-latin-1", bytes(changed)))
        creator = group & 1 and 0x10 <= element <= 0xFF
        if creator and length and data[value] != 0x5A and not creator_changed:
            changed = bytearray(found[1][1])
            changed[value] += 1
            found.append(("another-creator", bytes(changed)))
            creator_changed = True
        if tag == 0x00080005 and length >= 8:
            changed = bytearray(found[2][1])
            changed[value : value + 8] = b"ISO_IR 6" if data[value + 7] != ord("6") else b"ISO_IR 1"
            found.append(("another-charset", bytes(changed)))
    return found


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("name", SERIES)
def test_a_series_gives_what_parsing_gives_with_the_plan_of_its_first_file(
    name: str, profile: str, tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker de-identifies a file, then files of the same layout: their lanes are made again
    from the first file's plan where its decisions hold (and split anew where they do not), and
    give what parsing every element gives, file by file."""
    replays: list[bool] = []
    replay = lanes_module._replay

    def counted(*args: Any) -> lanes_module.Split | None:
        found = replay(*args)
        replays.append(found is not None)
        return found

    monkeypatch.setattr(lanes_module, "_replay", counted)
    data = (TEST_FILES / name).read_bytes()
    scrubber = Scrubber(compiled(profile), Pseudonymizer(key))
    planned = False
    files = [("first", data), ("first-again", data), *_slices(data)]
    for label, content in files:
        path = tmp_path / "in" / label / name
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
        job = Job(scrubber, OutputPlan(tmp_path / "lanes" / label, Layout.HIERARCHY, ("in",)))
        calls = len(replays)
        fast = process_file(Source(path, 0, path.parent, path.name), job)  # (the same scrubber)
        slow = run(path, tmp_path / "parsed" / label, key, profile, lanes=False)
        assert (fast.status, fast.detail, fast.output) == (slow.status, slow.detail, slow.output)
        assert fast.private == slow.private, label
        assert (fast.methods, fast.method_codes) == (slow.methods, slow.method_codes)
        if fast.output and fast.status.value == "written":
            ours = (tmp_path / "lanes" / label / fast.output).read_bytes()
            assert ours == (tmp_path / "parsed" / label / slow.output).read_bytes(), label
        if label == "first":
            planned = bool(scrubber.lane_memo.get("plans"))
        if label == "another-charset":  # a value the plan's decisions read: split anew
            assert not any(replays[calls:])
    if planned:
        assert any(replays), "the plan was replayed"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("name", SERIES)
def test_a_replayed_plan_splits_as_split_does(name: str, profile: str, key: Key) -> None:
    """Everything the lanes hand on (kept bytes, audit rows, the values for the leak check, the
    values kept aside) is what :func:`split` finds without a plan."""
    data = (TEST_FILES / name).read_bytes()
    scrubber = Scrubber(compiled(profile), Pseudonymizer(key))
    replayed = 0
    for _, content in [("first", data), ("first-again", data), *_slices(data)]:
        fmap = scan(io.BytesIO(content), len(content), Kind.PART10, first=content[:WINDOW])
        assert fmap.pixel is not None
        header = content[: fmap.pixel.start]
        tail = content[fmap.pixel.end :] or None
        for originals in (True, False):
            plans = scrubber.lane_memo.get("plans", {})
            planned = any(plan.elements is fmap.elements for plan in plans.values())
            with_plan = split(fmap, header, scrubber, originals=originals, tail=tail)
            kept = scrubber.lane_memo.pop("plans", None)
            without = split(fmap, header, scrubber, originals=originals, tail=tail)
            scrubber.lane_memo["plans"] = kept if kept is not None else {}
            assert with_plan == without
            replayed += planned
    assert replayed or not scrubber.lanes_allowed or not scrubber.lane_memo.get("plans")


# ---- nothing left to parse: the Specific Character Set and SOP Class UID kept unparsed ------

SOP_CLASS = b"1.2.840.10008.5.1.4.1.1.2\0"  # CT Image Storage, as CT_small holds it


def _unparsed_case(path: Path, case: str) -> None:
    ds = _base()
    encoding: dict[str, object] = {}
    if case == "no-charset":
        del ds.SpecificCharacterSet
    elif case.startswith("charset-"):
        ds.SpecificCharacterSet = {"utf8": "ISO_IR 192", "2022": "ISO 2022 IR 87"}.get(
            case[8:], "ISO_IR 100"
        )
    elif case == "implicit":
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        encoding = {"implicit_vr": True, "little_endian": True}
    data = _save(ds, path, **encoding)
    patches = {
        "sop-space-padded": b"1.2.840.10008.5.1.4.1.1.2 ",
        "sop-leading-space": b" 1.2.840.10008.5.1.4.1.1.2",
        "sop-two-values": b"1.2.840.10008.5.1.4.1\\1.22",
        "sop-not-ascii": b"1.2.840.10008.5.1.4.1.1.2\xe9",
    }
    assert all(len(value) == len(SOP_CLASS) for value in patches.values())
    if case in patches:  # (in the data set: the file meta holds it too)
        head = struct.pack("<HH2sH", 0x0008, 0x0016, b"UI", len(SOP_CLASS))
        data = _patch(data, head + SOP_CLASS, head + patches[case])
    if case == "charset-leading-space":
        data = _patch(data, b"ISO_IR 100", b" ISO_IR 10")
    if case in ("charset-space-padded", "charset-nul-padded"):  # (pydicom writes it unpadded)
        pad = b"  " if case == "charset-space-padded" else b"\0\0"
        old = struct.pack("<HH2sH", 0x0008, 0x0005, b"CS", 10) + b"ISO_IR 100"
        data = _patch(data, old, old[:6] + struct.pack("<H", 12) + old[8:] + pad)
    path.write_bytes(data)


UNPARSED_CASES = {  # case -> whether nothing is parsed
    "plain": True,
    "no-charset": True,
    "implicit": True,
    "charset-latin1": True,
    "charset-utf8": True,
    "charset-2022": False,  # not a plain character set
    "charset-leading-space": False,
    "charset-space-padded": False,  # (parsed: pydicom writes it as it decodes it, unpadded)
    "charset-nul-padded": False,
    "sop-space-padded": True,  # (written as pydicom writes it: padded with a NUL)
    "sop-leading-space": False,
    "sop-two-values": False,
    "sop-not-ascii": False,
}


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("profile", ["basic", "pseudonyms", "safe-private", "keep-sop-class"])
@pytest.mark.parametrize("case", sorted(UNPARSED_CASES))
def test_a_header_with_nothing_to_parse_gives_what_parsing_gives(
    case: str, profile: str, tmp_path: Path, key: Key
) -> None:
    path = tmp_path / f"{case}.dcm"
    _unparsed_case(path, case)
    if profile == "keep-sop-class":
        PROFILES[profile] = (str(REPO / "tests" / "data" / "keep-sop-class.yaml"), ())
    sp = _split(path, profile, key)
    assert sp is not None
    if profile in ("basic", "keep-sop-class"):  # (the others parse other elements anyway)
        # (a profile with a rule of its own for the SOP Class UID: parsed)
        assert (sp.parsed == 0) is (UNPARSED_CASES[case] and profile == "basic")
    if sp.parsed == 0:
        assert sp.encodings is not None and not sp.elements
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            assert sp.encodings == ds._character_set
            assert sp.lane.values[0x00080016] == (str(ds.SOPClassUID), str(ds.SOPClassUID))
    result = assert_same(path, tmp_path, key, profile)
    assert result.status.value == "written"


def _series_file(tmp_path: Path, case: str) -> list[bytes]:
    """Series whose first file's plan must not be replayed as it was on the next (found in
    review): a tail whose decisions stop after a value; a SOP Class UID that is not plain in the
    first file only; a tail creator that is not plain in the first file only."""
    ds = _base()
    if case == "tail-stops":
        ds.private_block(0x7FE1, "TEST TRAILER", create=True).add_new(0x01, "LO", "PID-TRAIL-77")
        item = Dataset()
        item.MACIDNumber = 1
        ds.add_new(0xFFFAFFFA, "SQ", Sequence([item]))
        ds[0xFFFAFFFA].is_undefined_length = True
    elif case == "tail-creator":
        ds.private_block(0x7FE1, "TEST TRAILER", create=True).add_new(0x01, "LO", "PID-TRAIL-77")
        ds.add_new(0x7FE00020, "OW", b"\1\0\2\0")
    data = _save(ds, tmp_path / f"{case}.dcm")
    if case == "sop-class":
        head = struct.pack("<HH2sH", 0x0008, 0x0016, b"UI", len(SOP_CLASS))
        first = _patch(data, head + SOP_CLASS, head + b" " + SOP_CLASS[:-1])
        return [first, data, data]
    if case == "tail-creator":
        return [_patch(data, b"TEST TRAILER", b"TEST TRAIL\xe9R"), data, data]
    return [data, data]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", ["tail-stops", "sop-class", "tail-creator"])
def test_a_plan_replays_only_what_split_would_decide(case: str, tmp_path: Path, key: Key) -> None:
    scrubber = Scrubber(compiled("basic"), Pseudonymizer(key))
    for n, content in enumerate(_series_file(tmp_path, case)):
        fmap = scan(io.BytesIO(content), len(content), Kind.PART10, first=content[:WINDOW])
        assert fmap.pixel is not None
        header, tail = content[: fmap.pixel.start], content[fmap.pixel.end :] or None
        with_plan = split(fmap, header, scrubber, originals=True, tail=tail)
        kept = scrubber.lane_memo.pop("plans", None)
        without = split(fmap, header, scrubber, originals=True, tail=tail)
        scrubber.lane_memo["plans"] = kept if kept is not None else {}
        assert with_plan == without, n
        path = tmp_path / f"{case}-{n}.dcm"
        path.write_bytes(content)
        assert_same(path, tmp_path / str(n), key, "basic")


def test_a_plan_takes_runs_of_elements_kept_as_read_in_one_step() -> None:
    m = lanes_module
    data = bytes(range(256)) * 4
    ops = [
        (m._OP_SLICE, 0x00080020, b"DA", 0, 18),
        (m._OP_SLICE, 0x00080030, b"TM", 18, 32),
        (m._OP_FIXED, 0x00100010, b"fixed bytes", 0, 0),
        (m._OP_AS_READ, 0x00101002, b"SQ", 40, 60),
        (m._OP_SLICE, 0x00180050, b"DS", 60, 70),
        (m._OP_SLICE, 0x00200011, b"IS", 70, 80),
        (m._OP_SLICE, 0x00200013, b"IS", 80, 96),
    ]
    program = m._program(ops)
    assert [op[0] for op in program] == [m._OP_RUN, m._OP_FIXED, m._OP_AS_READ, m._OP_RUN]
    assert program[-1][2] == ((0x00180050, 60, 70), (0x00200011, 70, 80), (0x00200013, 80, 96))
    made = m._kept(program, data, Any, Any, Any)  # (none of these ops reads the last three)
    assert made == m._kept(tuple(ops), data, Any, Any, Any)
    assert [tag for tag, _ in made] == [op[1] for op in ops]
    assert m._program([]) == ()


def test_sequences_kept_with_all_they_hold_are_written_from_their_bytes(
    key: Key, tmp_path: Path
) -> None:
    path = tmp_path / "kept.dcm"
    _case_kept_sequences(path)
    sp = _split(path, "basic", key)
    assert sp is not None and sp.elements is not None
    kept, parsed = {tag for tag, _ in sp.kept}, {e[0] for e in sp.elements}
    assert {0x00082218, 0x00082228, 0x00081032} <= kept  # codes, nested, undefined length
    assert {0x00540302, 0x00540220, 0x00540222} <= parsed  # a date, a name, a private inside
    implicit = tmp_path / "implicit.dcm"
    _case_kept_sequences_implicit(implicit)
    sp = _split(implicit, "basic", key)
    assert sp is not None and not {tag for tag, _ in sp.kept} & {0x00082218, 0x00081032}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_file_after_another_of_its_layout_keeps_only_the_sequences_it_may(
    key: Key, tmp_path: Path
) -> None:
    """The second file is made from the plan of the first; a sequence of the same length that
    holds something else in the second (a private element for a code) is parsed there."""
    first, second = tmp_path / "in" / "1.dcm", tmp_path / "in" / "2.dcm"
    first.parent.mkdir()
    ds = _base()
    ds.AnatomicRegionSequence = Sequence([_code("T-A0100", "Brain")])
    ds.SOPInstanceUID = "1.2.3.4.5.6.1"
    _save(ds, first)
    ds.SOPInstanceUID = "1.2.3.4.5.6.2"
    data = _save(ds, second)
    old = struct.pack("<HH2sH", 0x0008, 0x0104, b"LO", 6) + b"Brain "
    second.write_bytes(
        _patch(data, old, struct.pack("<HH2sH", 0x0009, 0x0104, b"LO", 6) + b"DOE^J ")
    )
    for lanes, folder in ((True, "lanes"), (False, "parsed")):
        scrubber = Scrubber(compiled("basic"), Pseudonymizer(key))
        job = Job(scrubber, OutputPlan(tmp_path / folder, Layout.HIERARCHY, ("in",)), lanes=lanes)
        results = [process_file(Source(p, 0, p.parent, p.name), job) for p in (first, second)]
        assert [r.status.value for r in results] == ["written", "written"]
        if lanes:
            fast = results
        else:
            slow = results
    for a, b in zip(fast, slow, strict=True):
        assert a.private == b.private and a.output == b.output
        assert (tmp_path / "lanes" / a.output).read_bytes() == (
            tmp_path / "parsed" / b.output
        ).read_bytes()
    assert b"DOE^J" not in (tmp_path / "lanes" / fast[1].output).read_bytes()


@pytest.mark.parametrize("case", ["sequence_as_group_length", "sequence_in_a_forbidden_odd_group"])
def test_sequences_the_scrub_removes_whatever_they_hold_are_never_kept(
    case: str, key: Key, tmp_path: Path
) -> None:
    path = tmp_path / f"{case}.dcm"
    CASES[case](path)
    sp = _split(path, "basic", key)
    assert sp is not None
    assert not {tag for tag, _ in sp.kept} & {0x00180000, 0x00071000}
    result = run(path, tmp_path / "out", key, "basic", lanes=True)
    if result.status.value == "written":
        data = (tmp_path / "out" / result.output).read_bytes()
        for value in (b"CompressedSamples", b"MRN-778899", b"SECRET HOSPITAL"):
            assert value not in data
