"""The scrub pipeline: each action per VR, UIDs, cleaning, unlisted values, private elements, and
the attributes recorded after the rules (PS3.15 E.1.1)."""

from __future__ import annotations

import datetime as dt
import functools
import io
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import config
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filereader import dcmread, read_dataset
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, MRImageStorage
from pydicom.valuerep import validate_value

from corpus import bundled
from dicomscrub.actions import Action
from dicomscrub.pipeline import PrivateRecord, Scrubber, ScrubResult
from dicomscrub.profile.loader import load_layers, load_profile
from dicomscrub.profile.model import (
    PRIVATE,
    CompiledProfile,
    Method,
    ProfileDoc,
    Rule,
    Selector,
    compile_layers,
)
from dicomscrub.pseudonym import Key, Pseudonymizer
from dicomscrub.tags import parse_tag_or_mask, private_mask

BuildCT = Callable[..., Dataset]

PATIENT_ID = "MRN0012345"
STUDY_UID = "1.2.826.0.1.3680043.8.498.11"
REFERENCED_SOP_INSTANCE_UID = "1.2.826.0.1.3680043.8.498.15"
UID_RE = re.compile(r"^2\.25\.[1-9][0-9]*$")
STRING_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UI"}


# ---- helpers ------------------------------------------------------------------------------------


def rule(selector: str, action: str, value: str | None = None, creator: str | None = None) -> Rule:
    """A rule for a keyword, a tag or mask text, or ``private``."""
    sel: Selector
    if selector == PRIVATE:
        sel = PRIVATE
    elif creator is not None:
        sel = private_mask(selector, creator)
    elif selector.startswith("("):
        sel = parse_tag_or_mask(selector)
    else:
        found = tag_for_keyword(selector)
        assert found is not None, selector
        sel = found
    return Rule(sel, Action(action), "test", "test.yaml:1", value)


def layer(
    *rules: Rule,
    settings: dict[str, str] | None = None,
    method: Method | None = None,
    name: str = "test",
) -> ProfileDoc:
    return ProfileDoc(
        name=name,
        kind="profile",
        path=Path(f"{name}.yaml"),
        builtin=False,
        method=method,
        settings={k: Action(v) for k, v in (settings or {}).items()},
        rules=rules,
    )


def scrub(ds: Dataset, profile: CompiledProfile | ProfileDoc, key: Key) -> ScrubResult:
    compiled = compile_layers((profile,)) if isinstance(profile, ProfileDoc) else profile
    return Scrubber(compiled, Pseudonymizer(key)).scrub(ds)


def single(keyword: str, value: object, vr: str | None = None) -> Dataset:
    ds = Dataset()
    if vr is None:
        setattr(ds, keyword, value)
    else:
        tag = tag_for_keyword(keyword)
        assert tag is not None
        ds.add_new(tag, vr, value)
    return ds


def as_list(elem: DataElement) -> list[object]:
    if elem.VM == 0:
        return []
    return list(elem.value) if elem.VM > 1 else [elem.value]


def roundtrip(ds: Dataset) -> Dataset:
    """Encode ``ds`` as Explicit VR Little Endian and read it back."""
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, implicit_vr=False, little_endian=True)
    buffer.seek(0)
    return dcmread(buffer, force=True)


def assert_valid_for_vr(elem: DataElement) -> None:
    for value in as_list(elem):
        if elem.VR in STRING_VRS:
            validate_value(elem.VR, str(value), config.RAISE)
        elif elem.VR in ("US", "SS", "UL", "SL"):
            assert isinstance(value, int)
        elif elem.VR in ("FD", "FL"):
            assert isinstance(value, float)
        elif elem.VR in ("OB", "OW"):
            assert isinstance(value, bytes)
            assert len(value) % 2 == 0


@functools.cache
def basic_layers(*options: str) -> tuple[ProfileDoc, ...]:
    """The layers of ``basic`` plus ``options``, loaded once per test session (they are frozen)."""
    return load_layers("basic", options)


@functools.cache
def with_options(*options: str) -> CompiledProfile:
    return compile_layers(basic_layers(*options))


def private_tags(ds: Dataset) -> list[int]:
    return [int(tag) for tag in ds.keys() if (tag >> 16) % 2 == 1]  # noqa: SIM118


def records(result: ScrubResult) -> set[tuple[str, str, str, str]]:
    return {(r.tag, r.creator, r.decision, r.basis) for r in result.private}


# ---- D ------------------------------------------------------------------------------------------

DUMMY_CASES = [
    ("PatientName", "PN", "DOE^JANE"),
    ("PatientID", "LO", "MRN0012345"),
    ("AccessionNumber", "SH", "ACC0001"),
    ("PatientSex", "CS", "F"),
    ("StudyDate", "DA", "20240305"),
    ("AcquisitionDateTime", "DT", "20240305101500"),
    ("StudyTime", "TM", "101500"),
    ("PatientAge", "AS", "042Y"),
    ("PatientWeight", "DS", "70.5"),
    ("SeriesNumber", "IS", "3"),
    ("StudyInstanceUID", "UI", STUDY_UID),
    ("Rows", "US", 512),
    ("EstimatedDoseSaving", "FD", 1.5),
    ("ICCProfile", "OB", b"\x01\x02\x03\x04"),
]


@pytest.mark.parametrize(
    ("keyword", "vr", "original"), DUMMY_CASES, ids=[c[1] for c in DUMMY_CASES]
)
def test_d_gives_non_empty_value_valid_for_the_vr(
    keyword: str, vr: str, original: object, key: Key
) -> None:
    ds = single(keyword, original)
    assert vr == ds[keyword].VR
    scrub(ds, layer(rule(keyword, "D")), key)
    elem = ds[keyword]
    assert vr == elem.VR
    assert elem.VM == 1
    assert elem.value != original
    assert not elem.is_empty
    assert_valid_for_vr(elem)
    back = roundtrip(ds)[keyword]
    assert back.VM == 1
    assert not back.is_empty


def test_d_on_uid_gives_new_2_25_uid(key: Key) -> None:
    ds = single("StudyInstanceUID", STUDY_UID)
    scrub(ds, layer(rule("StudyInstanceUID", "D")), key)
    assert UID_RE.match(ds.StudyInstanceUID)


def test_d_on_sequence_leaves_one_empty_item(key: Key) -> None:
    first, second = Dataset(), Dataset()
    first.ReferencedSOPInstanceUID = REFERENCED_SOP_INSTANCE_UID
    second.ReferencedSOPClassUID = CTImageStorage
    ds = single("ReferencedStudySequence", Sequence([first, second]))
    scrub(ds, layer(rule("ReferencedStudySequence", "D")), key)
    items = ds.ReferencedStudySequence
    assert len(items) == 1
    assert len(items[0]) == 0


@pytest.mark.parametrize(("keyword", "vm"), [("PixelSpacing", 2), ("ImageOrientationPatient", 6)])
def test_d_gives_as_many_values_as_the_minimum_vm(keyword: str, vm: int, key: Key) -> None:
    original = ["0.5"] * vm
    ds = single(keyword, original)
    scrub(ds, layer(rule(keyword, "D")), key)
    assert vm == ds[keyword].VM
    assert_valid_for_vr(ds[keyword])
    assert vm == roundtrip(ds)[keyword].VM


def test_d_with_value_writes_that_value(key: Key) -> None:
    ds = single("PatientName", "DOE^JANE")
    scrub(ds, layer(rule("PatientName", "D", value="RESEARCH^SUBJECT")), key)
    assert ds.PatientName == "RESEARCH^SUBJECT"


@pytest.mark.parametrize(
    ("keyword", "vr", "old", "value", "written"),
    [
        ("Rows", "US", 512, "2", 2),
        ("DiffusionBValue", "FD", 1000.0, "0.5", 0.5),
        ("FrameIncrementPointer", "AT", 0x00181063, "00181065", 0x00181065),
        ("ReferencedFrameNumbers", "US", [1, 2], "3\\4", [3, 4]),
    ],
)
def test_d_with_a_value_for_a_binary_number_writes_that_number(
    key: Key, keyword: str, vr: str, old: object, value: str, written: object
) -> None:
    """A profile's value is text (numbers too: ``value: "2"``); a binary number VR gets it as
    a number (an AT as hexadecimal, as the profile checks it). Given as text, pydicom failed to
    encode every file ('cannot read or write')."""
    ds = single(keyword, old, vr)
    scrub(ds, layer(rule(keyword, "D", value=value)), key)
    back = roundtrip(ds)[keyword]
    assert (list(back.value) if isinstance(written, list) else back.value) == written


def test_d_with_backslash_value_writes_several_values(key: Key) -> None:
    ds = single("OtherPatientIDs", "OLD1")
    scrub(ds, layer(rule("OtherPatientIDs", "D", value="SUBJ1\\SUBJ2")), key)
    assert list(ds.OtherPatientIDs) == ["SUBJ1", "SUBJ2"]


def test_d_value_from_yaml_list_writes_several_values(tmp_path: Path, key: Key) -> None:
    path = tmp_path / "value.yaml"
    path.write_text(
        "extends: basic\n"
        "rules:\n  - keyword: OtherPatientIDs\n    action: D\n    value: [SUBJ1, SUBJ2]\n",
        encoding="utf-8",
    )
    ds = single("OtherPatientIDs", "OLD1")
    scrub(ds, load_profile(str(path)), key)
    assert list(ds.OtherPatientIDs) == ["SUBJ1", "SUBJ2"]


# ---- Z and X ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "vr", "original"), DUMMY_CASES, ids=[c[1] for c in DUMMY_CASES]
)
def test_z_gives_zero_length_value(keyword: str, vr: str, original: object, key: Key) -> None:
    ds = single(keyword, original)
    scrub(ds, layer(rule(keyword, "Z")), key)
    assert keyword in ds
    assert vr == ds[keyword].VR
    assert ds[keyword].is_empty
    assert roundtrip(ds)[keyword].is_empty


def test_z_on_sequence_leaves_no_items(key: Key) -> None:
    item = Dataset()
    item.ReferencedSOPInstanceUID = REFERENCED_SOP_INSTANCE_UID
    ds = single("ReferencedStudySequence", Sequence([item]))
    scrub(ds, layer(rule("ReferencedStudySequence", "Z")), key)
    assert "ReferencedStudySequence" in ds
    assert len(ds.ReferencedStudySequence) == 0


@pytest.mark.parametrize(
    ("keyword", "original"),
    [(c[0], c[2]) for c in DUMMY_CASES] + [("ReferencedStudySequence", Sequence([Dataset()]))],
)
def test_x_removes_the_element(keyword: str, original: object, key: Key) -> None:
    ds = single(keyword, original)
    ds.Modality = "CT"
    scrub(ds, layer(rule(keyword, "X")), key)
    assert keyword not in ds
    assert ds.Modality == "CT"


@pytest.mark.parametrize(
    ("action", "expected"),
    [("X/Z", ""), ("Z/D", "ANONYMIZED"), ("X/D", "ANONYMIZED"), ("X/Z/D", "ANONYMIZED")],
)
def test_compound_code_on_element_never_removes_it(action: str, expected: str, key: Key) -> None:
    ds = single("PatientID", PATIENT_ID)
    scrub(ds, layer(rule("PatientID", action)), key)
    assert ds.PatientID == expected


@pytest.mark.parametrize(("action", "items"), [("X/Z", 0), ("Z/D", 0), ("X/D", 1), ("X/Z/D", 0)])
def test_compound_code_on_sequence_empties_or_dummies_it(action: str, items: int, key: Key) -> None:
    item = Dataset()
    item.ReferencedSOPInstanceUID = REFERENCED_SOP_INSTANCE_UID
    ds = single("ReferencedStudySequence", Sequence([item, Dataset()]))
    scrub(ds, layer(rule("ReferencedStudySequence", action)), key)
    assert len(ds.ReferencedStudySequence) == items
    assert all(len(i) == 0 for i in ds.ReferencedStudySequence)


# ---- K ------------------------------------------------------------------------------------------


def test_k_keeps_value(key: Key) -> None:
    ds = single("PatientName", "DOE^JANE")
    scrub(ds, layer(rule("PatientName", "K")), key)
    assert ds.PatientName == "DOE^JANE"


def test_kept_sequence_is_still_cleaned_inside(
    ct: Dataset, basic: CompiledProfile, key: Key
) -> None:
    assert basic.standard_rule(tag_for_keyword("AnatomicRegionSequence") or 0) is None  # K
    scrub(ct, basic, key)
    region = ct.AnatomicRegionSequence
    assert len(region) == 1
    assert region[0].CodeMeaning == "Chest"
    assert region[0].PatientName == ""


# ---- U ------------------------------------------------------------------------------------------


def test_u_replaces_uid_by_2_25_integer(key: Key) -> None:
    ds = single("StudyInstanceUID", STUDY_UID)
    scrub(ds, layer(rule("StudyInstanceUID", "U")), key)
    assert UID_RE.match(ds.StudyInstanceUID)
    assert len(ds.StudyInstanceUID) <= 64
    assert ds.StudyInstanceUID == Pseudonymizer(key).uid(STUDY_UID)


def test_u_maps_same_uid_to_same_new_uid_across_data_sets(key: Key) -> None:
    profile = compile_layers(
        (layer(rule("StudyInstanceUID", "U"), rule("SeriesInstanceUID", "U")),)
    )
    first, second = single("StudyInstanceUID", STUDY_UID), single("StudyInstanceUID", STUDY_UID)
    second.SeriesInstanceUID = STUDY_UID  # the same UID in another attribute
    Scrubber(profile, Pseudonymizer(key)).scrub(first)
    Scrubber(profile, Pseudonymizer(key)).scrub(second)
    assert first.StudyInstanceUID == second.StudyInstanceUID == second.SeriesInstanceUID


def test_u_with_different_key_gives_different_uid(key: Key) -> None:
    first, second = single("StudyInstanceUID", STUDY_UID), single("StudyInstanceUID", STUDY_UID)
    scrub(first, layer(rule("StudyInstanceUID", "U")), key)
    scrub(second, layer(rule("StudyInstanceUID", "U")), Key(b"j" * 32, "file"))
    assert first.StudyInstanceUID != second.StudyInstanceUID


def test_u_leaves_standard_uids_alone(key: Key) -> None:
    ds = single("SOPClassUID", CTImageStorage)
    scrub(ds, layer(rule("SOPClassUID", "U")), key)
    assert ds.SOPClassUID == CTImageStorage


def test_u_maps_each_value_of_a_multi_valued_uid(key: Key) -> None:
    originals = ["1.2.3.4.1", CTImageStorage, "1.2.3.4.2"]
    ds = single("FailedSOPInstanceUIDList", originals)
    scrub(ds, layer(rule("FailedSOPInstanceUIDList", "U")), key)
    pseudo = Pseudonymizer(key)
    new = list(ds.FailedSOPInstanceUIDList)
    assert new == [pseudo.uid("1.2.3.4.1"), CTImageStorage, pseudo.uid("1.2.3.4.2")]
    assert new[0] != new[2]
    assert UID_RE.match(new[0])


# ---- X/Z/U* -------------------------------------------------------------------------------------


def _referenced_images() -> Dataset:
    inner = Dataset()
    inner.ReferencedSOPClassUID = MRImageStorage
    inner.ReferencedSOPInstanceUID = "1.2.3.4.77"
    item = Dataset()
    item.ReferencedSOPClassUID = CTImageStorage
    item.ReferencedSOPInstanceUID = REFERENCED_SOP_INSTANCE_UID
    item.ReferencedFrameNumber = "1"
    item.SourceImageSequence = Sequence([inner])
    return single("ReferencedImageSequence", Sequence([item]))


def test_x_z_u_keeps_sequence_and_replaces_every_instance_uid_inside(key: Key) -> None:
    # No rule names the UIDs inside and unlisted UIDs are kept: only X/Z/U* can replace them.
    profile = layer(rule("ReferencedImageSequence", "X/Z/U*"), settings={"unlisted_uids": "K"})
    ds = _referenced_images()
    scrub(ds, profile, key)
    pseudo = Pseudonymizer(key)
    assert len(ds.ReferencedImageSequence) == 1
    item = ds.ReferencedImageSequence[0]
    assert item.ReferencedSOPInstanceUID == pseudo.uid(REFERENCED_SOP_INSTANCE_UID)
    assert item.ReferencedFrameNumber == 1
    inner = item.SourceImageSequence[0]
    assert inner.ReferencedSOPInstanceUID == pseudo.uid("1.2.3.4.77")


def test_x_z_u_keeps_sop_class_uids(key: Key) -> None:
    profile = layer(rule("ReferencedImageSequence", "X/Z/U*"), settings={"unlisted_uids": "K"})
    ds = _referenced_images()
    scrub(ds, profile, key)
    item = ds.ReferencedImageSequence[0]
    assert item.ReferencedSOPClassUID == CTImageStorage
    assert item.SourceImageSequence[0].ReferencedSOPClassUID == MRImageStorage


def test_references_match_the_referenced_instance_after_scrub(
    make_ct: BuildCT, basic: CompiledProfile, key: Key
) -> None:
    referencing = make_ct()
    original_study = referencing.StudyInstanceUID
    target = referencing.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    referenced = make_ct(sop_instance_uid=target)
    scrub(referenced, basic, key)
    scrub(referencing, basic, key)
    ref = referencing.ReferencedImageSequence[0]
    assert ref.ReferencedSOPInstanceUID == referenced.SOPInstanceUID != target
    assert ref.ReferencedSOPClassUID == CTImageStorage
    assert referenced.StudyInstanceUID == referencing.StudyInstanceUID != original_study


# ---- C ------------------------------------------------------------------------------------------


def test_c_on_text_removes_identifying_tokens_of_the_same_data_set(ct: Dataset, key: Key) -> None:
    scrub(ct, with_options("clean-descriptors"), key)
    assert ct.StudyDescription == "CT CHEST follow-up"


def test_c_on_text_matches_tokens_case_insensitively(make_ct: BuildCT, key: Key) -> None:
    ds = make_ct(patient_name="MUSTERMANN^ERIKA")
    ds.SeriesDescription = "erika mustermann axial"
    scrub(ds, with_options("clean-descriptors"), key)
    assert ds.SeriesDescription == "axial"


@pytest.mark.parametrize(
    "written",
    [
        *("19700101", "1970-01-01", "1970.01.01", "1970/01/01"),
        *("01/01/1970", "01.01.1970", "01-01-1970", "1970:01:01"),
        *("1.1.1970", "1/1/1970", "1 Jan 1970", "01 JAN 1970", "1 January 1970"),
        *("Jan 1, 1970", "January 1 1970", "01-Jan-1970", "1JAN1970"),
        *("1 January, 1970", "1st January 1970", "January 1st, 1970", "1970-1-1"),
    ],
)
def test_c_on_text_removes_a_date_as_people_write_it(
    make_ct: BuildCT, key: Key, written: str
) -> None:
    ds = make_ct()  # Patient's Birth Date 19700101
    ds.SeriesDescription = f"born {written} axial"
    scrub(ds, with_options("clean-descriptors"), key)
    assert ds.SeriesDescription == "born axial"


@pytest.mark.parametrize("written", ["MRN0012345", "MRN-0012345", "mrn 0012345", "MRN_0012345"])
def test_c_on_text_removes_an_id_as_people_write_it(
    make_ct: BuildCT, key: Key, written: str
) -> None:
    ds = make_ct()  # Patient ID MRN0012345
    ds.SeriesDescription = f"axial {written} thin"
    scrub(ds, with_options("clean-descriptors"), key)
    assert ds.SeriesDescription == "axial thin"


def _text_item(text: str, nested: Dataset | None = None) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "TEXT"
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = (
        "121106",
        "DCM",
        "Comment",
    )
    item.ConceptNameCodeSequence = Sequence([concept])
    item.TextValue = text
    item.MeasurementUnitsCodeSequence = Sequence()
    if nested is not None:
        item.ContentSequence = Sequence([nested])
    return item


def test_c_on_content_sequence_cleans_the_text_of_its_items_at_any_depth(
    make_ct: BuildCT, key: Key
) -> None:
    """Clean Structured Content (PS3.15 E.3.4): Text Value, which Table E.1-1 does not list
    (the default keeps it), is cleaned inside a Content Sequence that is cleaned, in nested
    items too; codes (CS such as Value Type, and a coded entry's Code Meaning) are kept as they
    were, even holding a word of a name. Outside such a sequence Text Value is kept."""
    ds = make_ct(patient_name="Quixotic^Zebulon", private=False)
    ds.InstitutionName = "Grimsby Infirmary"
    nested = _text_item("Zebulon Quixotic again, Grimsby Infirmary")
    ds.ContentSequence = Sequence([_text_item("Pt Quixotic seen at Grimsby Infirmary", nested)])
    ds.TextValue = "Quixotic outside"  # top level: no sequence cleaned around it
    ds.ReferringPhysicianName = "Text^Contains"  # words of codes: removed as a name, never there
    ds.ContentSequence[0].ConceptNameCodeSequence[0].CodeMeaning = "Zebulon axis length"
    result = scrub(ds, with_options("clean-structured-content"), key)
    item = ds.ContentSequence[0]
    assert item.TextValue == "Pt seen at"
    assert item.ContentSequence[0].TextValue == "again,"
    assert item.ConceptNameCodeSequence[0].CodeMeaning == "Zebulon axis length"
    assert item.ContentSequence[0].ConceptNameCodeSequence[0].CodeMeaning == "Comment"
    assert item.ConceptNameCodeSequence[0].CodeValue == "121106"
    assert item.ValueType == "TEXT" and item.RelationshipType == "CONTAINS"
    assert ds.TextValue == "Quixotic outside"
    assert "Clean Structured Content Option" in result.methods


def test_text_in_a_content_sequence_is_cleaned_only_where_the_sequence_is(
    make_ct: BuildCT, key: Key
) -> None:
    """Under a profile that keeps Content Sequence (K), its items' text is kept: only C asks
    for the content to be cleaned."""
    ds = make_ct(patient_name="Quixotic^Zebulon", private=False)
    ds.ContentSequence = Sequence([_text_item("Pt Quixotic")])
    keep = layer(rule("ContentSequence", "K"), name="keep-content")
    profile = compile_layers((*basic_layers(), keep))
    scrub(ds, profile, key)
    assert ds.ContentSequence[0].TextValue == "Pt Quixotic"


def test_c_on_text_removes_a_date_the_profile_shifts(make_ct: BuildCT, key: Key) -> None:
    ds = make_ct()  # Study Date 20240305, shifted under Modified Dates
    ds.SeriesDescription = "study of 2024-03-05 axial"
    scrub(ds, with_options("clean-descriptors", "retain-long-modified-dates"), key)
    assert ds.SeriesDescription == "study of axial"
    assert ds.StudyDate != "20240305"


@pytest.mark.parametrize(
    "written", ["5. März 2024", "5 mars 2024", "05 de marzo de 2024", "05/03/24", "03/05/24"]
)
def test_c_on_text_removes_a_date_with_a_foreign_month_name_or_a_two_digit_year(
    make_ct: BuildCT, key: Key, written: str
) -> None:
    ds = make_ct()  # Study Date 20240305
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SeriesDescription = f"study of {written} axial"
    scrub(ds, with_options("clean-descriptors"), key)
    assert ds.SeriesDescription == "study of axial"


_SHORT_YEAR_FORMS = (
    *("07/03/61", "03/07/61", "07.03.61", "03.07.61", "07-03-61", "03-07-61"),
    *("7/3/61", "3/7/61", "7.3.61", "3.7.61", "7-3-61", "3-7-61"),
)
"""1961-03-07 with a two-digit year, day first and month first, with each separator, with and
without its leading zeros (the README: Clean removes them)."""


@pytest.mark.parametrize("written", _SHORT_YEAR_FORMS)
def test_c_on_text_removes_every_form_of_a_date_with_a_two_digit_year(
    make_ct: BuildCT, key: Key, written: str
) -> None:
    ds = make_ct()
    ds.PatientBirthDate = "19610307"
    ds.StudyDescription = f"born {written} CT"
    ds.ImageComments = f"dob {written}, seen"
    scrub(ds, with_options("clean-descriptors"), key)
    assert ds.StudyDescription == "born CT"
    assert ds.ImageComments == "dob , seen"


@pytest.mark.parametrize("written", ["5.3.24", "05-03-24", "3/5/24", "03.05.24", "3-5-24"])
def test_c_on_text_removes_a_shifted_date_with_a_two_digit_year(
    make_ct: BuildCT, key: Key, written: str
) -> None:
    ds = make_ct()  # Study Date 20240305, shifted under Modified Dates
    ds.SeriesDescription = f"study of {written} axial"
    scrub(ds, with_options("clean-descriptors", "retain-long-modified-dates"), key)
    assert ds.SeriesDescription == "study of axial"
    assert ds.StudyDate != "20240305"


@pytest.mark.parametrize(
    "written",
    [
        *("17-03-611", "107.3.61", "7.3.610", "07/03/611", "a7-3-61", "3-7-61b", "13.7.61"),
        *("v1.7.3.61", "7.3.61.2", "2-7-3-61", "3/7/61/4", "1.03.07.61", "07.03.61.9"),
    ],
)
def test_c_on_text_leaves_a_two_digit_year_date_inside_a_longer_number(
    make_ct: BuildCT, key: Key, written: str
) -> None:
    """Only a whole date is removed: not its digits inside a longer number, nor inside a run of
    numbers joined by its own separator (a version number such as 1.7.3.61)."""
    ds = make_ct()
    ds.PatientBirthDate = "19610307"
    ds.StudyDescription = f"CT {written} axial"
    scrub(ds, with_options("clean-descriptors"), key)
    assert ds.StudyDescription == f"CT {written} axial"


@pytest.mark.parametrize("written", ["Jurgen Muller-Ludenscheid", "MUELLER-LUEDENSCHEID"])
def test_c_on_text_removes_a_name_written_without_its_accents(
    make_ct: BuildCT, key: Key, written: str
) -> None:
    ds = make_ct(patient_name="Müller-Lüdenscheid^Jürgen", private=False)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SeriesDescription = f"study of {written} axial"
    scrub(ds, with_options("clean-descriptors"), key)
    assert ds.SeriesDescription == "study of axial"


@pytest.mark.parametrize(
    ("charset", "name", "written", "left"),
    [
        ("ISO_IR 100", "Li^Na", "CT Na Li chest", "CT chest"),  # components too short alone
        ("ISO_IR 100", "Li^Na", "CT LI_NA chest", "CT chest"),
        ("ISO_IR 100", "Li^Na", "CT LI^NA chest", "CT chest"),
        ("ISO_IR 100", "Li^Na^^^", "CT Li, Na chest", "CT chest"),
        ("ISO_IR 100", "Li^Na", "CT Na  Li\tchest", "CT chest"),  # any white space
        ("ISO_IR 100", "Smith-Jones^Mary", "seen Mrs Smith today", "seen Mrs today"),
        ("ISO_IR 100", "O'Brien^Sean", "CT OBrien chest", "CT chest"),
        ("ISO_IR 192", "O'Brien^Sean", "CT O\u2019Brien chest", "CT chest"),
        ("ISO_IR 100", "van der Berg^Anna", "CT VANDERBERG chest", "CT chest"),
        ("ISO_IR 192", "王^小明", "CT 王小明 chest", "CT chest"),
        ("ISO_IR 192", "Yamada^Tarou=山田^太郎", "患者山田太郎様", "患者様"),
        ("ISO_IR 192", "Yamada^Tarou=山田^太郎", "CT 山田 太郎", "CT"),
        ("ISO_IR 192", "Yamada^Tarou=山田^太郎", "CT 山田・太郎", "CT"),
        ("ISO_IR 192", "Li^Na", "CT ＬＩ　ＮＡ chest", "CT chest"),
        ("GB18030", "Wang^Xiaoming", "ＷＡＮＧ ＸＩＡＯＭＩＮＧ 胸部", "胸部"),
        ("ISO_IR 192", "Müller^Jürgen", "CT Mu\u0308ller Ju\u0308rgen chest", "CT chest"),
        ("ISO_IR 192", "Mueller^Juergen", "CT Müller chest", "CT chest"),
        ("ISO_IR 192", "Aaseberg^Kari", "CT ÅSEBERG chest", "CT chest"),
        ("ISO_IR 100", "MULLER^HANS", "CT Hr. Müller chest", "CT Hr. chest"),
        ("ISO_IR 192", "Lukasz^Nowak", "CT ŁUKASZ chest", "CT chest"),
        ("ISO_IR 100", "MULLER^HANS", "CT Müllerstraße", "CT Müllerstraße"),
    ],
    ids=[
        *("reversed", "underscore", "caret", "comma", "spaces"),
        *("hyphen-part", "apostrophe-dropped", "apostrophe-curly", "particles-joined"),
        *("cjk-joined", "cjk-in-text", "cjk", "cjk-middle-dot", "full-width", "full-width-gb"),
        *("decomposed", "umlaut-back", "nordic-back"),
        *("ascii-typed-with-marks", "ascii-typed-with-stroke", "marked-inside-a-longer-word"),
    ],
)
def test_c_on_text_removes_a_whole_name_as_people_write_it(
    make_ct: BuildCT, key: Key, charset: str, name: str, written: str, left: str
) -> None:
    """What the leak check searches as the whole name, cleaning removes: other orders and
    separators where the components are too short to remove alone, CJK names joined, also
    next to other characters (Japanese text has no spaces)."""
    ds = make_ct(patient_name=name, private=False)
    ds.SpecificCharacterSet = charset
    ds.SeriesDescription = written
    scrub(ds, with_options("clean-descriptors"), key)
    assert ds.SeriesDescription == left


@pytest.mark.parametrize("written", ["943 476 5919", "943-476-5919"])
def test_c_on_text_removes_an_id_of_digits_written_in_groups(
    make_ct: BuildCT, key: Key, written: str
) -> None:
    ds = make_ct(patient_id="9434765919", private=False)
    ds.SeriesDescription = f"NHS {written} CT"
    scrub(ds, with_options("clean-descriptors"), key)
    assert ds.SeriesDescription == "NHS CT"


def test_c_on_text_removes_a_date_written_the_acr_nema_way(make_ct: BuildCT, key: Key) -> None:
    """A birth date read as 1961.03.17 (ACR-NEMA) is removed from text as 1961-03-17 too."""
    ds = make_ct(private=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (pydicom warns of an invalid DA)
        ds.PatientBirthDate = "1961.03.17"
    ds.SeriesDescription = "born 1961-03-17 CT"
    scrub(ds, with_options("clean-descriptors"), key)
    assert ds.SeriesDescription == "born CT"


@pytest.mark.parametrize(
    ("birth", "written"),
    [("19610317", "610317"), ("19610317", "170361"), ("20120315", "120315")],
)
def test_c_on_text_removes_a_date_written_compact_with_a_two_digit_year(
    make_ct: BuildCT, key: Key, birth: str, written: str
) -> None:
    """610317 and 170361 for 1961-03-17, also 120315 for 2012-03-15, which the leak check does
    not search (it is also a time of day)."""
    ds = make_ct(private=False)
    ds.PatientBirthDate = birth
    ds.SeriesDescription = f"born {written} CT"
    scrub(ds, with_options("clean-descriptors"), key)
    assert ds.SeriesDescription == "born CT"


@pytest.mark.parametrize(
    "written",
    [
        "15.III.1975",
        "15/Mar/1975",
        "1975년 3월 15일",
        "昭和50年3月15日",
        "S50.3.15",
        "445-5667",
        "Mercy_General_Hospital",
    ],
)
def test_c_on_text_removes_dates_ids_and_institutions_as_they_are_written_elsewhere(
    make_ct: BuildCT, key: Key, written: str
) -> None:
    """A birth date with a Roman month, the month's name between slashes, as Korean text or by
    the Japanese era's year; a Patient ID of seven digits in groups; an institution's name with
    underscores between its words."""
    ds = make_ct(patient_id="4455667", private=False)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientBirthDate = "19750315"
    ds.InstitutionName = "Mercy General Hospital"
    ds.SeriesDescription = f"CT {written} chest"
    scrub(ds, with_options("clean-descriptors"), key)
    assert ds.SeriesDescription == "CT chest"


def test_c_on_text_keeps_text_without_identifying_tokens(make_ct: BuildCT, key: Key) -> None:
    ds = make_ct()
    ds.SeriesDescription = "AXIAL 5mm"
    scrub(ds, with_options("clean-descriptors"), key)
    assert ds.SeriesDescription == "AXIAL 5mm"


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("101500", True),
        ("101500.123456", True),
        ("10", True),
        ("10:15:00", True),
        ("19610417", False),  # a date written as a time: the birth date
        ("Quixotez", False),  # a name
        ("246000", False),  # no such hour
    ],
)
def test_c_on_a_time_keeps_only_a_time(make_ct: BuildCT, key: Key, value: str, kept: bool) -> None:
    ds = make_ct()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (pydicom warns of an invalid TM)
        ds.StudyTime = value
    scrub(ds, with_options("retain-long-modified-dates"), key)
    assert str(ds.StudyTime) == (value if kept else "")


def _days(value: str) -> dt.date:
    return dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))


def test_c_on_dates_shifts_by_one_nonzero_offset_per_patient(ct: Dataset, key: Key) -> None:
    patient = ct.PatientID
    study, content = _days(ct.StudyDate), _days(ct.ContentDate)
    scrub(ct, with_options("retain-long-modified-dates"), key)
    offset = _days(ct.StudyDate) - study
    assert offset != dt.timedelta(0)
    assert abs(offset.days) <= 3650
    assert _days(ct.ContentDate) - content == offset
    assert offset == Pseudonymizer(key).date_offset(patient)


def test_c_on_datetime_keeps_time_and_utc_offset(ct: Dataset, key: Key) -> None:
    original, patient = str(ct.AcquisitionDateTime), ct.PatientID
    assert original.endswith("101500+0100")
    scrub(ct, with_options("retain-long-modified-dates"), key)
    shifted = str(ct.AcquisitionDateTime)
    assert shifted.endswith("101500+0100")
    assert len(shifted) == len(original)
    assert _days(shifted) - _days(original) == Pseudonymizer(key).date_offset(patient)


def test_c_on_dates_uses_same_offset_in_every_file_of_the_patient(
    make_ct: BuildCT, key: Key
) -> None:
    profile = with_options("retain-long-modified-dates")
    first, second = make_ct(), make_ct(sop_instance_uid="1.2.3.4.99")
    second.StudyDate = "20250101"
    scrub(first, profile, key)
    scrub(second, profile, key)
    assert _days(second.StudyDate) - _days(first.StudyDate) == _days("20250101") - _days("20240305")


def test_c_on_dates_of_another_patient_uses_another_offset(make_ct: BuildCT, key: Key) -> None:
    profile = with_options("retain-long-modified-dates")
    first, second = make_ct(), make_ct(patient_id="MRN0067890")
    scrub(first, profile, key)
    scrub(second, profile, key)
    assert first.StudyDate != second.StudyDate


def test_c_on_time_keeps_it(ct: Dataset, key: Key) -> None:
    scrub(ct, with_options("retain-long-modified-dates"), key)
    assert ct.StudyTime == "101500"


def test_c_on_sequence_cleans_each_item(key: Key) -> None:
    layers = (*basic_layers("clean-descriptors"), layer(rule("AnatomicRegionSequence", "C")))
    item = Dataset()
    item.CodeMeaning = "Chest"
    item.PatientName = "DOE^JANE"
    item.StudyDescription = "DOE chest"
    ds = single("AnatomicRegionSequence", Sequence([item]))
    ds.PatientName = "DOE^JANE"
    scrub(ds, compile_layers(layers), key)
    assert len(ds.AnatomicRegionSequence) == 1
    cleaned = ds.AnatomicRegionSequence[0]
    assert cleaned.CodeMeaning == "Chest"
    assert cleaned.PatientName == ""
    assert cleaned.StudyDescription == "chest"


def test_default_c_cleans_unlisted_text(tmp_path: Path, ct: Dataset, key: Key) -> None:
    path = tmp_path / "default-c.yaml"
    path.write_text("extends: [basic]\nsettings:\n  default: C\n", encoding="utf-8")
    ct.AnatomicRegionSequence[0].CodeMeaning = "Chest of DOE"
    scrub(ct, load_profile(str(path)), key)
    assert ct.AnatomicRegionSequence[0].CodeMeaning == "Chest of"


# ---- unlisted values, group lengths -------------------------------------------------------------

UNLISTED_UID = "1.3.6.1.4.1.5962.99.1"  # CreatorVersionUID: no row of Table E.1-1


def test_unlisted_uid_is_replaced_under_basic(basic: CompiledProfile, key: Key) -> None:
    ds = single("CreatorVersionUID", UNLISTED_UID)
    scrub(ds, basic, key)
    assert ds.CreatorVersionUID == Pseudonymizer(key).uid(UNLISTED_UID)


def test_unlisted_standard_uid_is_kept_under_basic(basic: CompiledProfile, key: Key) -> None:
    ds = single("CreatorVersionUID", "1.2.840.10008.1.2.1")
    scrub(ds, basic, key)
    assert ds.CreatorVersionUID == "1.2.840.10008.1.2.1"


def test_unlisted_uid_is_kept_with_retain_uids(ct: Dataset, key: Key) -> None:
    ct.CreatorVersionUID = UNLISTED_UID
    study, sop = ct.StudyInstanceUID, ct.SOPInstanceUID
    scrub(ct, with_options("retain-uids"), key)
    assert ct.CreatorVersionUID == UNLISTED_UID
    assert ct.StudyInstanceUID == study
    assert ct.SOPInstanceUID == sop


@pytest.mark.parametrize("keyword", ["SecondaryReviewerName", "EvaluatorName"])
def test_unlisted_person_name_is_emptied_under_basic(
    keyword: str, basic: CompiledProfile, key: Key
) -> None:
    ds = single(keyword, "Reviewer^Rita")  # PN attributes with no row of Table E.1-1
    scrub(ds, basic, key)
    assert ds[keyword].is_empty


def test_unlisted_person_name_follows_settings_unlisted_names(key: Key) -> None:
    ds = single("EvaluatorName", "Reviewer^Rita")
    scrub(ds, layer(settings={"unlisted_names": "K"}), key)
    assert ds.EvaluatorName == "Reviewer^Rita"


def _unlisted_dates() -> Dataset:
    ds = Dataset()
    ds.DateOfGainCalibration = "20230101"
    ds.TimeOfGainCalibration = "083000"
    return ds


def test_unlisted_date_and_time_are_emptied_under_basic(basic: CompiledProfile, key: Key) -> None:
    ds = _unlisted_dates()
    scrub(ds, basic, key)
    assert ds["DateOfGainCalibration"].is_empty
    assert ds["TimeOfGainCalibration"].is_empty


def test_unlisted_date_and_time_are_kept_with_retain_long_full_dates(key: Key) -> None:
    ds = _unlisted_dates()
    scrub(ds, with_options("retain-long-full-dates"), key)
    assert ds.DateOfGainCalibration == "20230101"
    assert ds.TimeOfGainCalibration == "083000"


def test_unlisted_date_is_shifted_with_retain_long_modified_dates(key: Key) -> None:
    ds = _unlisted_dates()
    ds.PatientID = PATIENT_ID
    scrub(ds, with_options("retain-long-modified-dates"), key)
    offset = Pseudonymizer(key).date_offset(PATIENT_ID)
    assert _days(ds.DateOfGainCalibration) == _days("20230101") + offset


def test_group_length_elements_are_removed_at_every_level(key: Key) -> None:
    item = Dataset()
    item.add_new(0x00080000, "UL", 8)
    item.CodeMeaning = "Chest"
    ds = single("AnatomicRegionSequence", Sequence([item]))
    ds.add_new(0x00080000, "UL", 100)
    ds.add_new(0x00100000, "UL", 10)
    ds.PatientSex = "F"
    scrub(ds, layer(), key)
    assert 0x00080000 not in ds
    assert 0x00100000 not in ds
    assert 0x00080000 not in ds.AnatomicRegionSequence[0]
    assert ds.PatientSex == "F"


# ---- private elements ---------------------------------------------------------------------------


def test_basic_removes_every_private_element_with_a_record_each(
    ct: Dataset, basic: CompiledProfile, key: Key
) -> None:
    result = scrub(ct, basic, key)
    assert private_tags(ct) == []
    assert records(result) == {
        ("(0019,1010)", "GEMS_ACQU_01", "removed", "basic-profile"),
        ("(0019,1023)", "GEMS_ACQU_01", "removed", "basic-profile"),
        ("(0019,0010)", "GEMS_ACQU_01", "removed", "creator-of-removed-block"),
    }
    assert len(result.private) == 3


def test_private_record_path_names_the_sequence_item(
    ct: Dataset, basic: CompiledProfile, key: Key
) -> None:
    block = ct.AnatomicRegionSequence[0].private_block(0x0029, "ACME 1.0", create=True)
    block.add_new(0x01, "LO", "note")
    result = scrub(ct, basic, key)
    assert ("(0008,2218)[0]/(0029,1001)", "ACME 1.0", "removed", "basic-profile") in records(result)
    assert private_tags(ct.AnatomicRegionSequence[0]) == []


def test_private_records_never_hold_a_value(ct: Dataset, basic: CompiledProfile, key: Key) -> None:
    result = scrub(ct, basic, key)
    for record in result.private:
        assert isinstance(record, PrivateRecord)
        assert "DOE" not in repr(record)
        assert "39.375" not in repr(record)


def test_private_element_without_creator_is_removed(key: Key) -> None:
    ds = Dataset()
    ds.add_new(0x00191010, "LO", "orphan")
    result = scrub(ds, with_options("retain-safe-private"), key)
    assert private_tags(ds) == []
    assert records(result) == {("(0019,1010)", "", "removed", "no-private-creator")}


def _moved_gems_block() -> Dataset:
    """GEMS_ACQU_01 reserved at block byte 0x11, not at the usual 0x10."""
    ds = Dataset()
    ds.PatientID = PATIENT_ID
    ds.add_new(0x00190010, "LO", "OTHER VENDOR")
    ds.add_new(0x00190011, "LO", "GEMS_ACQU_01")
    ds.add_new(0x00191023, "DS", "1.0")  # OTHER VENDOR's element 23: not safe
    ds.add_new(0x00191110, "LO", "DOE^JANE")  # not in the safe list
    ds.add_new(0x00191123, "DS", "39.375")  # Table Speed: safe
    return ds


def test_retain_safe_private_keeps_safe_element_and_its_creator_in_any_block(key: Key) -> None:
    ds = _moved_gems_block()
    result = scrub(ds, with_options("retain-safe-private"), key)
    assert private_tags(ds) == [0x00190011, 0x00191123]
    assert ds[0x00190011].value == "GEMS_ACQU_01"
    assert ds[0x00191123].value == "39.375"
    assert records(result) == {
        ("(0019,1123)", "GEMS_ACQU_01", "kept", "safe-private-table"),
        ("(0019,0011)", "GEMS_ACQU_01", "kept", "creator-of-kept-block"),
        ("(0019,1110)", "GEMS_ACQU_01", "removed", "not-declared"),
        ("(0019,1023)", "OTHER VENDOR", "removed", "not-declared"),
        ("(0019,0010)", "OTHER VENDOR", "removed", "creator-of-removed-block"),
    }


def _table_speed_as(vr: str | None, value: bytes) -> Dataset:
    """GEMS_ACQU_01 (0019,xx23), Table Speed, DS in Table E.3.10-1, with ``value`` read from
    bytes with VR ``vr`` (None: implicit VR)."""
    data = b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100"  # (a head, so the reader has a charset)
    data += b"\x19\x00\x10\x00LO\x0c\x00GEMS_ACQU_01"
    if vr is None:
        ds = read_dataset(io.BytesIO(data), False, True)
        implicit = b"\x19\x00\x23\x10" + len(value).to_bytes(4, "little") + value
        for tag, elem in read_dataset(io.BytesIO(implicit), True, True).items():
            ds[tag] = elem
        return ds
    head = b"\x19\x00\x23\x10" + vr.encode()
    if vr in ("UN", "SQ", "OB"):
        head += b"\0\0" + len(value).to_bytes(4, "little")
    else:
        head += len(value).to_bytes(2, "little")
    return read_dataset(io.BytesIO(data + head + value), False, True)


@pytest.mark.parametrize(
    ("vr", "value", "kept", "detail"),
    [
        ("DS", b"39.375", True, ""),
        (None, b"39.375", True, ""),
        ("UN", b"39.375", True, ""),
        ("LO", b"ZZNEEDLE0444", False, "lists it as DS, but it is written as LO"),
        ("DS", b"DOE^JANE", False, "lists it as DS, but its value is not one"),
        (None, b"DOE^JANE", False, "lists it as DS, but its value is not one"),
        ("UN", b"MRN0012345", False, "lists it as DS, but its value is not one"),
        ("DS", b"39.375\\1.5\\2\\3 ", False, "lists it with VM 1, but it holds 4 values"),
        (None, b"39.375\\1.5", False, "lists it with VM 1, but it holds 2 values"),
        ("UN", b"39.375\\1.5", False, "lists it with VM 1, but it holds 2 values"),
        ("DS", b"", True, ""),
    ],
)
def test_safe_table_keeps_an_element_only_when_its_value_is_of_the_listed_vr(
    vr: str | None, value: bytes, kept: bool, detail: str, key: Key
) -> None:
    ds = _table_speed_as(vr, value)
    result = scrub(ds, with_options("retain-safe-private"), key)
    (row,) = [r for r in result.private if r.tag == "(0019,1023)"]
    if kept:
        assert (row.decision, row.basis) == ("kept", "safe-private-table")
        assert 0x00191023 in ds
    else:
        assert (row.decision, row.basis) == ("removed", "not-declared")
        assert detail in row.detail
        assert value.decode() not in row.detail
        assert 0x00191023 not in ds


def test_user_creator_mask_rule_keeps_that_private_element(
    tmp_path: Path, ct: Dataset, key: Key
) -> None:
    path = tmp_path / "keep-gems.yaml"
    path.write_text(
        "extends: [basic]\n"
        "rules:\n"
        '  - tag: "(0019,xx10)"\n'
        "    creator: GEMS_ACQU_01\n"
        "    action: K\n",
        encoding="utf-8",
    )
    result = scrub(ct, load_profile(str(path)), key)
    assert private_tags(ct) == [0x00190010, 0x00191010]
    assert ct[0x00191010].value == "DOE^JANE"
    assert ("(0019,1010)", "GEMS_ACQU_01", "kept", "profile-rule") in records(result)
    assert ("(0019,1023)", "GEMS_ACQU_01", "removed", "basic-profile") in records(result)
    assert ("(0019,0010)", "GEMS_ACQU_01", "kept", "creator-of-kept-block") in records(result)


def test_creator_mask_rule_does_not_apply_to_another_creator(tmp_path: Path, key: Key) -> None:
    path = tmp_path / "keep-gems.yaml"
    path.write_text(
        'extends: [basic]\nrules:\n  - {tag: "(0019,xx10)", creator: GEMS_ACQU_01, action: K}\n',
        encoding="utf-8",
    )
    ds = Dataset()
    ds.private_block(0x0019, "SIEMENS MED", create=True).add_new(0x10, "LO", "DOE^JANE")
    scrub(ds, load_profile(str(path)), key)
    assert private_tags(ds) == []


def test_a_user_rule_c_on_a_private_element_says_why_it_removed_it(
    tmp_path: Path, key: Key
) -> None:
    """C on a private element keeps it only where it is declared or listed safe (as Retain Safe
    Private does): the audit's detail names the rule, not only "not-declared"."""
    path = tmp_path / "clean-acme.yaml"
    path.write_text(
        'extends: [basic]\nrules:\n  - {tag: "(0033,xx10)", creator: ACME 1.0, action: C}\n',
        encoding="utf-8",
    )
    ds = Dataset()
    ds.private_block(0x0033, "ACME 1.0", create=True).add_new(0x10, "LO", "scan note")
    result = scrub(ds, load_profile(str(path)), key)
    (row,) = [r for r in result.private if r.tag == "(0033,1010)"]
    assert (row.decision, row.basis) == ("removed", "not-declared")
    assert row.detail == (
        f"{path.stem}: (0033,xx10) [ACME 1.0] C, which keeps only what is declared or listed safe"
    )


# ---- after the rules: PS3.15 E.1.1 bookkeeping ---------------------------------------------------


def test_patient_identity_removed_is_yes(ct: Dataset, basic: CompiledProfile, key: Key) -> None:
    ct.PatientIdentityRemoved = "NO"
    scrub(ct, basic, key)
    assert ct.PatientIdentityRemoved == "YES"


def test_method_is_appended_after_existing_values(
    ct: Dataset, basic: CompiledProfile, key: Key
) -> None:
    ct.DeidentificationMethod = "Earlier tool"
    result = scrub(ct, basic, key)
    assert list(ct.DeidentificationMethod) == [
        "Earlier tool",
        "Basic Application Confidentiality Profile",
    ]
    assert result.methods == ("Basic Application Confidentiality Profile",)


def test_method_keeps_several_existing_values_in_order(ct: Dataset, key: Key) -> None:
    ct.DeidentificationMethod = ["Tool A", "Tool B"]
    scrub(ct, with_options("retain-uids"), key)
    assert list(ct.DeidentificationMethod) == [
        "Tool A",
        "Tool B",
        "Basic Application Confidentiality Profile",
        "Retain UIDs Option",
    ]


def _codes(ds: Dataset) -> list[tuple[str, str, str]]:
    return [
        (i.CodeValue, i.CodingSchemeDesignator, i.CodeMeaning)
        for i in ds.DeidentificationMethodCodeSequence
    ]


def test_method_code_sequence_gets_one_item_for_basic(
    ct: Dataset, basic: CompiledProfile, key: Key
) -> None:
    result = scrub(ct, basic, key)
    assert _codes(ct) == [("113100", "DCM", "Basic Application Confidentiality Profile")]
    assert result.method_codes == ("113100",)


def test_method_code_sequence_gets_one_item_per_coded_layer_after_existing_items(
    ct: Dataset, key: Key
) -> None:
    earlier = Dataset()
    earlier.CodeValue = "113100"
    earlier.CodingSchemeDesignator = "DCM"
    earlier.CodeMeaning = "Earlier basic profile"
    ct.DeidentificationMethodCodeSequence = Sequence([earlier])
    uncoded = layer(method=Method("Site export v1"), name="site")
    profile = compile_layers((*basic_layers("retain-safe-private"), uncoded))
    result = scrub(ct, profile, key)
    assert _codes(ct) == [
        ("113100", "DCM", "Earlier basic profile"),
        ("113100", "DCM", "Basic Application Confidentiality Profile"),
        ("113111", "DCM", "Retain Safe Private Option"),
    ]
    assert result.method_codes == ("113100", "113111")
    assert list(ct.DeidentificationMethod)[-1] == "Site export v1"


def test_method_code_sequence_holds_each_code_once_per_step(ct: Dataset, key: Key) -> None:
    """A site profile whose own code repeats a code of a layer it extends adds its label, but
    not a second item of that code in the same step (one code per profile and option, E.1.1)."""
    site = layer(method=Method("Site export v1", "113111", "Retain Safe Private Option"))
    profile = compile_layers((*basic_layers("retain-safe-private"), site))
    result = scrub(ct, profile, key)
    assert [c[0] for c in _codes(ct)] == ["113100", "113111"]
    assert result.method_codes == ("113100", "113111")
    assert list(ct.DeidentificationMethod)[-1] == "Site export v1"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ((), "REMOVED"),
        (("retain-long-full-dates",), "UNMODIFIED"),
        (("retain-long-modified-dates",), "MODIFIED"),
    ],
)
def test_longitudinal_temporal_information_modified_tells_what_happened_to_dates(
    ct: Dataset, options: tuple[str, ...], expected: str, key: Key
) -> None:
    ct.LongitudinalTemporalInformationModified = "UNMODIFIED"
    result = scrub(ct, with_options(*options), key)
    assert ct.LongitudinalTemporalInformationModified == expected
    assert result.dates == expected


@pytest.mark.parametrize(
    ("earlier", "options", "expected"),
    [
        ("MODIFIED", ("retain-long-full-dates",), "MODIFIED"),
        ("REMOVED", ("retain-long-full-dates",), "REMOVED"),
        ("REMOVED", ("retain-long-modified-dates",), "REMOVED"),
        ("MODIFIED", (), "REMOVED"),
        ("UNMODIFIED", ("retain-long-full-dates",), "UNMODIFIED"),
    ],
)
def test_longitudinal_temporal_information_modified_keeps_what_an_earlier_step_did(
    ct: Dataset, earlier: str, options: tuple[str, ...], expected: str, key: Key
) -> None:
    """Dates an earlier de-identification step shifted or replaced are not made UNMODIFIED by a
    later step that keeps them (PS3.15 E.3.6; (0028,0303) describes the dates in the file)."""
    ct.PatientIdentityRemoved = "YES"
    ct.LongitudinalTemporalInformationModified = earlier
    result = scrub(ct, with_options(*options), key)
    assert ct.LongitudinalTemporalInformationModified == expected
    assert result.dates == expected


def _with_private_characteristics(ds: Dataset) -> Dataset:
    """Declare the GEMS block MIXED with only Table Speed (xx23) non-identifying, and a second
    block UNSAFE: under Retain Safe Private only the GEMS block keeps an element."""
    ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True).add_new(0x08, "CS", "IMAGE NUM 4")
    gems = Dataset()
    gems.PrivateGroupReference = 0x0019
    gems.PrivateCreatorReference = "GEMS_ACQU_01"
    gems.BlockIdentifyingInformationStatus = "MIXED"
    gems.NonidentifyingPrivateElements = [0x23]
    siemens = Dataset()
    siemens.PrivateGroupReference = 0x0029
    siemens.PrivateCreatorReference = "SIEMENS CSA HEADER"
    siemens.BlockIdentifyingInformationStatus = "UNSAFE"
    ds.PrivateDataElementCharacteristicsSequence = Sequence([gems, siemens])
    return ds


def test_private_characteristics_are_dropped_with_their_blocks(
    ct: Dataset, basic: CompiledProfile, key: Key
) -> None:
    ds = _with_private_characteristics(ct)
    scrub(ds, basic, key)
    assert "PrivateDataElementCharacteristicsSequence" not in ds


def test_private_characteristics_are_kept_for_blocks_still_present(ct: Dataset, key: Key) -> None:
    ds = _with_private_characteristics(ct)
    scrub(ds, with_options("retain-safe-private"), key)
    assert private_tags(ds) == [0x00190010, 0x00191023]
    items = ds.PrivateDataElementCharacteristicsSequence
    assert [(i.PrivateGroupReference, i.PrivateCreatorReference) for i in items] == [
        (0x0019, "GEMS_ACQU_01")
    ]


def test_scrubbing_the_same_data_set_twice_gives_the_same_result(
    make_ct: BuildCT, basic: CompiledProfile, key: Key
) -> None:
    first, second = make_ct(), make_ct()
    scrub(first, basic, key)
    scrub(second, basic, key)
    assert first == second


@pytest.fixture
def uids_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The UIDs given to :meth:`Pseudonymizer.uid` from now on, in order."""
    made: list[str] = []
    real = Pseudonymizer.uid

    def counted(self: Pseudonymizer, original: str) -> str:
        made.append(original)
        return real(self, original)

    monkeypatch.setattr(Pseudonymizer, "uid", counted)
    return made


def test_new_uid_elements_are_made_once_per_value(key: Key, uids_made: list[str]) -> None:
    scrubber = Scrubber(load_profile("basic"), Pseudonymizer(key))
    value = b"1.2.3.4.5.6.7.8\\1.2.3.9\0"
    first = scrubber.uid_element(0x0020000D, value, False, True)
    assert first is not None and len(uids_made) == 2
    fresh = Scrubber(load_profile("basic"), Pseudonymizer(key))
    assert fresh.uid_element(0x0020000D, value, False, True) == first
    assert scrubber.uid_element(0x0020000D, value, False, True) == first
    assert len(uids_made) == 4  # (the fresh scrubber's two) none for the value seen before
    element, text = first
    expected = [Pseudonymizer(key).uid(u) for u in ("1.2.3.4.5.6.7.8", "1.2.3.9")]
    assert text == "\\".join(expected)
    assert element.endswith(text.encode("ascii") + b"\0" * (len(text) % 2))
    assert scrubber.uid_element(0x0020000D, b"1.2.\xe9", False, True) is None
    assert scrubber.uid_element(0x0020000D, b"1.2.\xe9", False, True) is None
    other_tag = scrubber.uid_element(0x0020000E, value, True, True)
    assert other_tag is not None and other_tag[1] == text and other_tag[0] != element


def test_long_uid_values_are_not_remembered(key: Key, uids_made: list[str]) -> None:
    scrubber = Scrubber(load_profile("basic"), Pseudonymizer(key))
    value = "\\".join(f"1.2.3.{n}" for n in range(100)).encode("ascii")  # 790 bytes
    first = scrubber.uid_element(0x0020000D, value, True, True)
    assert first == scrubber.uid_element(0x0020000D, value, True, True)
    assert len(uids_made) == 200


def test_u_or_x_z_u_on_a_mask_that_reaches_no_uid_removes_or_empties_it(key: Key) -> None:
    """A rule on a mask or on private elements reaches VRs the profile could not know: U on a
    number or a name failed the file ("could not convert string to float"); it is removed, as a
    declared U is, and X/Z/U* empties it (a compound code never removes)."""
    ds = single("SliceThickness", "1.25")
    ds.StudyInstanceUID = STUDY_UID
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "DS", "7.5")
    ds.add_new(0x00091002, "UI", STUDY_UID)
    ds.add_new(0x00091003, "LO", "SOMETHING")
    profile = layer(
        rule("(0018,xxxx)", "U"),
        rule("(0020,xxxx)", "U"),
        rule("(0009,xx01)", "U", creator="ACME 1.0"),
        rule("(0009,xx02)", "U", creator="ACME 1.0"),
        rule("(0009,xx03)", "X/Z/U*", creator="ACME 1.0"),
    )
    result = scrub(ds, profile, key)
    assert "SliceThickness" not in ds
    assert UID_RE.match(ds.StudyInstanceUID)
    assert 0x00091001 not in ds
    assert UID_RE.match(ds[0x00091002].value)
    assert ds[0x00091003].value == ""
    details = {r.tag: (r.decision, r.detail) for r in result.private}
    assert details["(0009,1001)"] == (
        "removed",
        "test: (0009,xx01) [ACME 1.0] U, which cannot be applied to VR DS; removed",
    )
    assert details["(0009,1002)"] == ("replaced", "test: (0009,xx02) [ACME 1.0] U")
    assert details["(0009,1003)"] == (
        "emptied",
        "test: (0009,xx03) [ACME 1.0] X/Z/U*, which cannot be applied to VR LO; emptied",
    )


@pytest.mark.parametrize(
    ("action", "frames"), [("Z", []), ("D", [b"\0\0"])], ids=["empty", "dummy"]
)
def test_z_or_d_on_compressed_pixel_data_writes_it_encapsulated(
    key: Key, action: str, frames: list[bytes]
) -> None:
    """A default or rule of D or Z that reaches Pixel Data of a JPEG file: an empty value or two
    zero bytes cannot be written in its transfer syntax, and the file failed with pydicom's
    text ("hasn't been encapsulated as required", "not subscriptable")."""
    ds = dcmread(bundled("JPEG-lossy.dcm"))
    scrub(ds, layer(rule("PixelData", action)), key)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    again = dcmread(io.BytesIO(buffer.getvalue()))
    assert again.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    assert again["PixelData"].is_undefined_length
    assert again.PixelData == encapsulate(frames)


def test_a_profile_that_removes_pixel_representation_still_reads_what_it_decides(
    key: Key,
) -> None:
    """Smallest Image Pixel Value is US or SS as Pixel Representation says; in an implicit VR
    file it is decoded after Pixel Representation was removed (`default: X` did): the file
    failed with pydicom's "Failed to resolve ambiguous VR". Decoded as SS, written as read."""
    ds = dcmread(bundled("MR_small_implicit.dcm"))
    read = ds.get_item(0x00280106).value
    assert ds.PixelRepresentation == 1
    scrub(ds, layer(rule("PixelRepresentation", "X")), key)
    assert "PixelRepresentation" not in ds
    assert ds["SmallestImagePixelValue"].VR == "SS"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert dcmread(io.BytesIO(buffer.getvalue())).get_item(0x00280106).value == read


def test_d_with_a_value_that_is_no_number_for_a_private_number_names_the_element(
    key: Key,
) -> None:
    """A private element's VR is known from the file alone, so the loader cannot check a rule's
    value against it: a value that is no number for a private US is the file's problem, said
    by tag path (never pydicom's text with the value)."""
    from dicomscrub.damage import DamagedValue

    ds = Dataset()
    ds.private_block(0x0019, "ACME", create=True).add_new(0x01, "US", 7)
    with pytest.raises(DamagedValue, match=r"^\(0019,1001\) is written with VR US: the profile"):
        scrub(ds, layer(rule("(0019,xx01)", "D", value="seven", creator="ACME")), key)
