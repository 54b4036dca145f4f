"""Longitudinal building blocks: date shifting (DA, DT, ranges, partial values, time zones), the
per-patient offset, name normalisation, keyed patient pseudonyms, and the Modified Dates, birth
date and age cap behaviour of the scrubber."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomscrub.pipeline import Scrubber, shift_date, shift_datetime
from dicomscrub.profile.loader import ProfileError, load_profile
from dicomscrub.profile.model import DEFAULT_DATE_SHIFT_DAYS, CompiledProfile
from dicomscrub.pseudonym import Key, Pseudonymizer, normalize_id, normalize_name

BuildCT = Callable[..., Dataset]
PSEUDONYM = re.compile(r"^ANON-[A-Z2-7]{16}$")
MRN = "4711007"
KEY_A = Key(hashlib.sha256(b"unit key A").digest(), "file")
KEY_B = Key(hashlib.sha256(b"unit key B").digest(), "file")
PATIENTS = [f"{n:07d}" for n in range(1_000_000, 1_000_400)]


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


# ---- shift_date (DA) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "offset", "expected"),
    [
        ("20240305", -10, "20240224"),
        ("20240101", -1, "20231231"),  # across a year
        ("20240301", -1, "20240229"),  # into a leap day
        ("20240229", 365, "20250228"),
        ("20240305", 5, "20240310"),
        (" 20240305 ", 5, "20240310"),  # padding
        ("2024.03.05", -10, "20240224"),  # the old ACR-NEMA form
        ("20240101-20240201", -10, "20231222-20240122"),  # a range
        ("20240101-", -10, "20231222-"),  # open at the end
        ("-20240201", -10, "-20240122"),  # open at the start
        ("2024.01.01-2024.02.01", -10, "20231222-20240122"),
    ],
)
def test_shift_date_moves_dates_and_range_ends_by_whole_days(
    value: str, offset: int, expected: str
) -> None:
    assert shift_date(value, days(offset)) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "-",
        "2024",
        "202403",
        "2024030",
        "202403050",
        "20240230",  # no such day
        "20241301",
        "2024-03-05",
        "abcdefgh",
        "20240101-20240201-20240301",
        "20240101-garbage",
        "garbage-20240101",
    ],
)
def test_shift_date_returns_none_for_what_is_not_a_date(value: str) -> None:
    assert shift_date(value, days(-10)) is None


def test_shift_date_returns_none_when_the_result_leaves_the_calendar() -> None:
    assert shift_date("00010101", days(-1)) is None
    assert shift_date("99991231", days(1)) is None


def test_shift_date_keeps_the_interval_between_any_two_dates() -> None:
    first, second = dt.date(2023, 12, 20), dt.date(2024, 3, 1)
    for offset in (-3650, -400, -1, 1, 29, 366):
        a = shift_date(first.strftime("%Y%m%d"), days(offset))
        b = shift_date(second.strftime("%Y%m%d"), days(offset))
        assert a is not None and b is not None
        shifted = [dt.datetime.strptime(x, "%Y%m%d").date() for x in (a, b)]
        assert shifted[1] - shifted[0] == second - first


# ---- shift_datetime (DT) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "offset", "expected"),
    [
        ("20240305101500.000000+0100", -10, "20240224101500.000000+0100"),
        ("20240305101500-0500", -10, "20240224101500-0500"),
        ("20240101000000+1400", -1, "20231231000000+1400"),
        ("20240305235959.999999", 1, "20240306235959.999999"),
        ("20240305", -10, "20240224"),
        ("2024030510", -10, "2024022410"),
        ("202403051015", -10, "202402241015"),
        (" 20240305101500 ", -10, "20240224101500"),
    ],
)
def test_shift_datetime_moves_the_date_and_keeps_time_and_utc_offset(
    value: str, offset: int, expected: str
) -> None:
    assert shift_datetime(value, days(offset)) == expected


@pytest.mark.parametrize(
    ("value", "offset", "expected"),
    [
        ("202403", -10, "202402"),  # YYYYMM: shifted from its first day, cut back to YYYYMM
        ("202403", 10, "202403"),
        ("2024", -10, "2023"),  # YYYY
        ("2024", 10, "2024"),
        ("202403+0100", -10, "202402+0100"),
        ("2024-0500", -1, "2023-0500"),
    ],
)
def test_shift_datetime_keeps_the_precision_of_partial_values(
    value: str, offset: int, expected: str
) -> None:
    shifted = shift_datetime(value, days(offset))
    assert shifted == expected
    assert len(shifted) == len(value.strip())


@pytest.mark.parametrize(
    "value",
    ["", "abc", "202", "20241305", "20240230120000", "2024-03-05", "20240305T101500", "2024+01"],
)
def test_shift_datetime_returns_none_for_what_is_not_a_datetime(value: str) -> None:
    assert shift_datetime(value, days(-10)) is None


def test_shift_datetime_returns_none_when_the_result_leaves_the_calendar() -> None:
    assert shift_datetime("00010101120000", days(-1)) is None


def test_shift_datetime_shifts_both_ends_of_a_dt_range() -> None:
    assert (
        shift_datetime("20240101120000-20240201120000", days(-10))
        == "20231222120000-20240122120000"
    )


def test_shift_datetime_never_keeps_an_unshifted_end_of_a_year_range() -> None:
    assert shift_datetime("2024-2025", days(-10)) in (None, "2023-2024")


# ---- per-patient offsets ------------------------------------------------------------------------


def test_default_offsets_are_nonzero_and_within_3650_days_back() -> None:
    pseudo = Pseudonymizer(KEY_A)
    offsets = [pseudo.date_offset(p).days for p in PATIENTS]
    assert DEFAULT_DATE_SHIFT_DAYS == (-3650, -1)
    assert all(-3650 <= o <= -1 for o in offsets)
    assert len(set(offsets)) > len(PATIENTS) * 0.9  # spread, not a constant


@pytest.mark.parametrize(
    "span", [(-3650, -1), (1, 10), (-3, 3), (-1, 1), (0, 2), (-2, 0), (5, 5), (-5, -5), (-7, -4)]
)
def test_offsets_stay_in_the_range_never_zero_and_reach_every_allowed_value(
    span: tuple[int, int],
) -> None:
    pseudo = Pseudonymizer(KEY_A)
    offsets = {pseudo.date_offset(p, span).days for p in PATIENTS}
    low, high = span
    allowed = {d for d in range(low, high + 1) if d != 0}
    assert offsets <= allowed
    if len(allowed) <= 12:
        assert offsets == allowed  # both signs and both ends of a range that spans zero


def test_offset_is_a_whole_number_of_days() -> None:
    offset = Pseudonymizer(KEY_A).date_offset(MRN)
    assert offset == days(offset.days)


def test_offset_is_the_same_for_every_pseudonymizer_with_the_key() -> None:
    again = Key(bytes(KEY_A.secret), "environment")
    assert Pseudonymizer(KEY_A).date_offset(MRN) == Pseudonymizer(again).date_offset(MRN)


def test_offset_depends_on_the_key() -> None:
    a, b = Pseudonymizer(KEY_A), Pseudonymizer(KEY_B)
    differ = sum(a.date_offset(p) != b.date_offset(p) for p in PATIENTS)
    assert differ > len(PATIENTS) * 0.9


def test_offset_ignores_surrounding_and_repeated_spaces_of_the_patient_id() -> None:
    pseudo = Pseudonymizer(KEY_A)
    assert pseudo.date_offset(f" {MRN} ") == pseudo.date_offset(MRN)


# ---- normalisation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "Doe^Jane",
        "DOE^JANE",
        "DOE^JANE^^",
        "doe ^ jane ",
        " Doe ^  Jane^^^",
        "DOE^JANE=",
        "doe^jane^",
    ],
)
def test_normalize_name_maps_spellings_of_one_person_alike(variant: str) -> None:
    assert normalize_name(variant) == "DOE^JANE"


def test_normalize_name_keeps_what_distinguishes_people() -> None:
    names = ["DOE^JANE", "DOE^JAN", "JANE^DOE", "DOE^JANE^MARIE", "DOE^^JANE", "DOE JANE"]
    assert len({normalize_name(n) for n in names}) == len(names)


def test_normalize_name_collapses_inner_spaces_and_keeps_groups() -> None:
    assert normalize_name("van  der Berg^Anna") == "VAN DER BERG^ANNA"
    assert normalize_name("Yamada^Tarou=山田^太郎=やまだ^たろう") == (
        "YAMADA^TAROU=山田^太郎=やまだ^たろう"
    )
    assert normalize_name("^^^") == ""
    assert normalize_name("") == ""


def test_normalize_id_trims_and_collapses_spaces_only() -> None:
    assert normalize_id(f"  {MRN} ") == MRN
    assert normalize_id("AB  12") == "AB 12"
    assert normalize_id("ab12") != normalize_id("AB12")


# ---- keyed pseudonyms ---------------------------------------------------------------------------


def pseudonym(key: Key, value: str = MRN, kind: str = "id") -> str:
    return Pseudonymizer(key).patient_pseudonym(kind, value, "ANON-", MRN)


def test_pseudonym_is_a_prefix_and_16_base32_characters() -> None:
    for kind, value in (("id", MRN), ("name", "Doe^Jane")):
        assert PSEUDONYM.match(pseudonym(KEY_A, value, kind))


def test_pseudonym_prefix_comes_from_the_rule() -> None:
    value = Pseudonymizer(KEY_A).patient_pseudonym("id", MRN, "SITE_", MRN)
    assert re.fullmatch(r"SITE_[A-Z2-7]{16}", value)
    assert value[5:] == pseudonym(KEY_A)[5:]


def test_pseudonym_is_the_same_for_every_pseudonymizer_with_the_key() -> None:
    again = Key(bytes(KEY_A.secret), "file")
    assert pseudonym(KEY_A) == pseudonym(again)


def test_same_mrn_with_two_keys_gives_two_pseudonyms() -> None:
    assert pseudonym(KEY_A) != pseudonym(KEY_B)
    assert pseudonym(KEY_A, "Doe^Jane", "name") != pseudonym(KEY_B, "Doe^Jane", "name")


def test_name_variants_give_one_name_pseudonym() -> None:
    variants = ["Doe^Jane", "DOE^JANE^^", "doe ^ jane "]
    assert len({pseudonym(KEY_A, v, "name") for v in variants}) == 1


def test_different_patients_and_kinds_give_different_pseudonyms() -> None:
    ids = {pseudonym(KEY_A, p) for p in PATIENTS}
    assert len(ids) == len(PATIENTS)
    assert pseudonym(KEY_A, MRN, "id") != pseudonym(KEY_A, MRN, "name")


def _unkeyed_guesses(mrn: str) -> set[str]:
    """What an attacker computes for a guessed MRN when pseudonyms are unkeyed hashes."""
    guesses: set[str] = set()
    messages = [mrn.encode(), f"patient-id\0{mrn}".encode(), f"patient-id\x00{mrn}".encode()]
    for message in messages:
        for name in ("sha256", "sha1", "md5", "sha512", "sha3_256", "blake2b"):
            digest = hashlib.new(name, message).digest()
            b32 = base64.b32encode(digest).decode()
            guesses.update({b32[:16], digest.hex()[:16].upper(), base64.b32hexencode(digest)[:16]})
        empty_key = hmac.new(b"", message, hashlib.sha256).digest()
        guesses.add(base64.b32encode(empty_key).decode()[:16])
    return {str(g) for g in guesses}


def test_pseudonym_of_a_7_digit_mrn_cannot_be_found_by_hashing_every_mrn() -> None:
    target = pseudonym(KEY_A)[len("ANON-") :]
    for number in range(4_710_500, 4_711_500):  # a window of the 10^7 MRNs, the real one in it
        assert target not in _unkeyed_guesses(f"{number:07d}"), number


def test_pseudonym_is_hmac_sha256_of_the_key_not_a_plain_hash() -> None:
    """Changing only the key changes the pseudonym of every MRN: it is keyed."""
    a = {pseudonym(KEY_A, p) for p in PATIENTS[:50]}
    b = {pseudonym(KEY_B, p) for p in PATIENTS[:50]}
    assert not a & b


def test_imported_subjects_win_for_id_and_name() -> None:
    pseudo = Pseudonymizer(KEY_A, {MRN: "SUBJ-001"})
    assert pseudo.patient_pseudonym("id", MRN, "ANON-", f" {MRN} ") == "SUBJ-001"
    assert pseudo.patient_pseudonym("name", "Doe^Jane", "ANON-", MRN) == "SUBJ-001"
    other = pseudo.patient_pseudonym("id", "2345678", "ANON-", "2345678")
    assert PSEUDONYM.match(other)
    assert other == pseudonym(KEY_A, "2345678")


# ---- the scrubber under Modified Dates ----------------------------------------------------------


def scrub(ds: Dataset, profile: CompiledProfile, key: Key = KEY_A) -> Pseudonymizer:
    pseudo = Pseudonymizer(key)
    Scrubber(profile, pseudo).scrub(ds)
    return pseudo


@pytest.fixture(scope="module")
def modified() -> CompiledProfile:
    return load_profile("basic", ("patient-pseudonyms", "retain-long-modified-dates"))


def user_profile(tmp_path: Path, body: str, options: tuple[str, ...] = ()) -> CompiledProfile:
    path = tmp_path / "site.yaml"
    path.write_text("extends: [basic, retain-long-modified-dates]\n" + body, encoding="utf-8")
    return load_profile(str(path), options)


def _with_nested_dates(ds: Dataset) -> Dataset:
    drug = Dataset()
    drug.RadiopharmaceuticalStartDateTime = "20240305093000-0500"
    code = Dataset()
    code.CodeValue = "C-111A1"
    code.ExpiryDate = "20240601"  # no rule lists it: settings.unlisted_dates
    drug.RadionuclideCodeSequence = Sequence([code])
    ds.RadiopharmaceuticalInformationSequence = Sequence([drug])
    return ds


def test_modified_dates_shift_every_date_by_the_patients_offset(
    make_ct: BuildCT, modified: CompiledProfile
) -> None:
    ds = _with_nested_dates(make_ct(patient_id=MRN))
    pseudo = scrub(ds, modified)
    offset = pseudo.date_offset(MRN)
    assert offset.days != 0
    assert ds.StudyDate == shift_date("20240305", offset)
    assert ds.ContentDate == shift_date("20240306", offset)
    assert ds.AcquisitionDateTime == shift_datetime("20240305101500+0100", offset)
    assert ds.AcquisitionDateTime.endswith("101500+0100")
    drug = ds.RadiopharmaceuticalInformationSequence[0]
    assert drug.RadiopharmaceuticalStartDateTime == shift_datetime("20240305093000-0500", offset)
    assert drug.RadionuclideCodeSequence[0].ExpiryDate == shift_date("20240601", offset)
    assert ds.StudyTime == "101500"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    codes = [str(i.CodeValue) for i in ds.DeidentificationMethodCodeSequence]
    assert "113107" in codes


def test_modified_dates_use_the_original_patient_id_not_the_pseudonym(
    make_ct: BuildCT, modified: CompiledProfile
) -> None:
    a, b = make_ct(patient_id=MRN), make_ct(patient_id=f" {MRN}  ")
    scrub(a, modified)
    scrub(b, modified)
    assert a.StudyDate == b.StudyDate
    assert a.PatientID == b.PatientID


def test_modified_dates_empty_the_birth_date(make_ct: BuildCT, modified: CompiledProfile) -> None:
    ds = make_ct(patient_id=MRN)
    scrub(ds, modified)
    assert "PatientBirthDate" in ds
    assert ds.PatientBirthDate == ""


def test_an_unparseable_date_is_emptied_never_kept(
    make_ct: BuildCT, modified: CompiledProfile
) -> None:
    ds = make_ct(patient_id=MRN)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values we want
        ds.AcquisitionDateTime = "2024-03-05 10:15"
        ds.ContentDate = "yesterday"
    scrub(ds, modified)
    assert ds.AcquisitionDateTime == ""
    assert ds.ContentDate == ""
    assert ds.StudyDate not in ("", "20240305")


def test_a_date_range_value_is_shifted_at_both_ends(
    make_ct: BuildCT, modified: CompiledProfile
) -> None:
    ds = make_ct(patient_id=MRN)
    ds.DateOfLastCalibration = "20240101-20240201"
    offset = scrub(ds, modified).date_offset(MRN)
    assert ds.DateOfLastCalibration == shift_date("20240101-20240201", offset)


def test_without_a_patient_id_the_study_gives_the_offset(
    make_ct: BuildCT, modified: CompiledProfile
) -> None:
    ds = make_ct(patient_id="")
    study = str(ds.StudyInstanceUID)
    offset = scrub(ds, modified).date_offset(study)
    assert ds.StudyDate == shift_date("20240305", offset)


def test_patient_id_and_every_patient_name_get_the_keyed_pseudonyms(
    make_ct: BuildCT, modified: CompiledProfile
) -> None:
    ds = make_ct(patient_id=MRN, patient_name="doe ^ jane ")
    scrub(ds, modified)
    assert ds.PatientID == pseudonym(KEY_A, MRN)
    assert str(ds.PatientName) == pseudonym(KEY_A, "Doe^Jane", "name")
    assert str(ds.AnatomicRegionSequence[0].PatientName) == str(ds.PatientName)


def test_full_dates_keep_every_date(make_ct: BuildCT) -> None:
    ds = _with_nested_dates(make_ct(patient_id=MRN))
    scrub(ds, load_profile("basic", ("retain-long-full-dates",)))
    assert ds.StudyDate == "20240305"
    assert ds.AcquisitionDateTime == "20240305101500+0100"
    drug = ds.RadiopharmaceuticalInformationSequence[0]
    assert drug.RadionuclideCodeSequence[0].ExpiryDate == "20240601"
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert "113106" in [str(i.CodeValue) for i in ds.DeidentificationMethodCodeSequence]


def test_basic_profile_empties_the_study_date_and_says_removed(
    make_ct: BuildCT, basic: CompiledProfile
) -> None:
    ds = make_ct(patient_id=MRN)
    scrub(ds, basic)
    assert ds.StudyDate == ""
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"


# ---- profile settings: date_shift_days, birth date, age cap -------------------------------------


def test_date_shift_days_five_five_moves_every_date_by_exactly_five_days(
    make_ct: BuildCT, tmp_path: Path
) -> None:
    profile = user_profile(tmp_path, "date_shift_days: [5, 5]\n")
    assert profile.date_shift_days == (5, 5)
    ds = _with_nested_dates(make_ct(patient_id=MRN))
    scrub(ds, profile)
    assert ds.StudyDate == "20240310"
    assert ds.AcquisitionDateTime == "20240310101500+0100"
    assert ds.RadiopharmaceuticalInformationSequence[0].RadionuclideCodeSequence[0].ExpiryDate == (
        "20240606"
    )


def test_a_later_layer_without_date_shift_days_keeps_the_earlier_setting(tmp_path: Path) -> None:
    profile = user_profile(tmp_path, "date_shift_days: [-30, -10]\n", ("patient-pseudonyms",))
    assert profile.date_shift_days == (-30, -10)


@pytest.mark.parametrize(
    ("span", "message"),
    [
        ("[0, 0]", "only 0"),
        ("[3, 1]", "min is greater than max"),
        ("[-36501, -1]", "-36500 to 36500"),
        ("[1]", "[min, max]"),
        ("[a, 3]", "whole number"),
    ],
)
def test_bad_date_shift_days_are_located_profile_errors(
    tmp_path: Path, span: str, message: str
) -> None:
    with pytest.raises(ProfileError) as info:
        user_profile(tmp_path, f"date_shift_days: {span}\n")
    assert message in str(info.value)
    assert "site.yaml:2:" in str(info.value)
    assert "date_shift_days" in str(info.value)


def test_birth_date_with_action_c_moves_with_the_other_dates(
    make_ct: BuildCT, tmp_path: Path
) -> None:
    profile = user_profile(tmp_path, "rules:\n  - {keyword: PatientBirthDate, action: C}\n")
    ds = make_ct(patient_id=MRN)
    offset = scrub(ds, profile).date_offset(MRN)
    assert ds.PatientBirthDate == shift_date("19700101", offset)
    born = dt.datetime.strptime(ds.PatientBirthDate, "%Y%m%d")
    studied = dt.datetime.strptime(ds.StudyDate, "%Y%m%d")
    assert studied - born == dt.datetime(2024, 3, 5) - dt.datetime(1970, 1, 1)


@pytest.fixture(scope="module")
def age_capped(tmp_path_factory: pytest.TempPathFactory) -> CompiledProfile:
    """age_cap_years: 89, with Patient's Age kept by retain-patient-characteristics."""
    folder = tmp_path_factory.mktemp("age-cap")
    return user_profile(folder, "age_cap_years: 89\n", ("retain-patient-characteristics",))


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        ("095Y", "090Y"),
        ("120Y", "090Y"),
        ("090Y", "090Y"),
        ("089Y", "089Y"),
        ("045Y", "045Y"),
        ("999M", "999M"),  # 83 years
        ("005W", "005W"),
        ("012D", "012D"),
    ],
)
def test_age_cap_89_reports_older_ages_as_90(
    make_ct: BuildCT, age_capped: CompiledProfile, age: str, expected: str
) -> None:
    ds = make_ct(patient_id=MRN)
    ds.PatientAge = age
    scrub(ds, age_capped)
    assert ds.PatientAge == expected


def test_age_cap_also_applies_to_an_age_kept_by_a_rule(make_ct: BuildCT, tmp_path: Path) -> None:
    profile = user_profile(
        tmp_path, "age_cap_years: 89\nrules:\n  - {keyword: PatientAge, action: K}\n"
    )
    ds = make_ct(patient_id=MRN)
    ds.PatientAge = "095Y"
    scrub(ds, profile)
    assert ds.PatientAge == "090Y"


def test_without_an_age_cap_a_kept_age_is_unchanged(make_ct: BuildCT) -> None:
    ds = make_ct(patient_id=MRN)
    ds.PatientAge = "095Y"
    scrub(ds, load_profile("basic", ("retain-patient-characteristics",)))
    assert ds.PatientAge == "095Y"


@pytest.mark.parametrize("cap", ["0", "151", "eighty"])
def test_bad_age_cap_is_a_profile_error(tmp_path: Path, cap: str) -> None:
    with pytest.raises(ProfileError, match="age_cap_years"):
        user_profile(tmp_path, f"age_cap_years: {cap}\n")
