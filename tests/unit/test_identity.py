"""Identifying values of an input: which values count, their searchable forms, the thresholds,
the exclusions, and the whole-word search in bytes (both search strategies)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomscrub import identity
from dicomscrub.identity import (
    Category,
    Exclusions,
    Matcher,
    Token,
    candidates,
    forms,
    mask,
    searchable,
    searchable_cjk_name,
    snapshot,
    still_identifying,
    tool_text,
)
from dicomscrub.pipeline import Decision, Scrubber
from dicomscrub.profile.loader import load_profile
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.pseudonym import Key, Pseudonymizer

BuildCT = Callable[..., Dataset]


def tok(text: str, category: Category = Category.NAME) -> Token:
    return Token(text.lower(), "test", category)


def identify(
    ds: Dataset, profile: CompiledProfile, key: Key, *, shifted_dates: bool = True
) -> dict[str, Token]:
    scrubber = Scrubber(profile, Pseudonymizer(key))
    originals = snapshot(ds)
    decisions: list[Decision] = []
    result = scrubber.scrub(ds, decisions)
    return candidates(
        originals, decisions, result.kept_private, scrubber, shifted_dates=shifted_dates
    ).tokens


# ---- thresholds and forms ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ct", False),  # too short
        ("doe", False),  # 3 letters: below MIN_CHARS
        ("jane", True),
        ("12345", False),  # 5 digits: below MIN_DIGITS
        ("123456", True),
        ("1.2.3.4", False),  # 4 digits
        ("20240305", True),
        ("x" * 129, False),  # longer than MAX_CHARS
    ],
)
def test_searchable_applies_the_documented_thresholds(text: str, expected: bool) -> None:
    assert searchable(text) is expected


def test_person_name_forms_are_the_whole_name_as_written_and_each_component() -> None:
    assert list(forms("PN", "DOE^JANE^^Dr.=ドウ")) == [
        ("DOE^JANE^^Dr.=ドウ", ""),
        ("DOE^JANE^^Dr.", ""),  # a group as written, when there are several
        ("DOE^JANE", ""),  # without what follows the given name
        *(
            ("DOE JANE", ""),
            ("DOE, JANE", ""),
            ("DOE,JANE", ""),
            ("DOE_JANE", ""),
            ("DOE.JANE", ""),
        ),
        *(("JANE DOE", ""), ("JANE_DOE", ""), ("JANE.DOE", "")),
        ("DOE", " component"),
        ("JANE", " component"),
        ("Dr.", " component"),
        ("ドウ", " component"),
    ]


def test_every_group_of_a_person_name_has_whole_name_forms_cjk_ones_joined() -> None:
    """The ideographic and phonetic groups are names as much as the alphabetic one; CJK names
    are written family name first, without a space (or with an ideographic one)."""
    found = {f for f, suffix in forms("PN", "Yamada^Tarou=山田^太郎=やまだ^たろう") if not suffix}
    assert found >= {
        "Yamada^Tarou",
        "Tarou Yamada",
        "山田^太郎",
        "山田 太郎",
        "太郎 山田",
        "山田, 太郎",
        "山田太郎",
        "山田\u3000太郎",
        "やまだ^たろう",
        "やまだ たろう",
        "やまだたろう",
    }
    assert "DoeJane" not in {f for f, _ in forms("PN", "Doe^Jane")}  # Latin names: with a space


def test_whole_cjk_names_of_three_characters_are_searched_but_not_their_components() -> None:
    def texts(value: str) -> dict[str, Category]:
        return {
            t.text: t.category
            for t in identity._tokens_of("PN", value, 0x00100010, "", Category.NAME)
        }

    single = texts("王^小明")
    assert single["王小明"] is Category.NAME
    assert single["王 小明"] is Category.NAME
    assert "小明" not in single and "王" not in single  # components: below MIN_CHARS
    assert set(texts("王^明")) == {"王^明", "明 王", "王 明", "王, 明", "王\u3000明", "王・明"} | {
        *("王,明", "王_明", "王.明", "明_王", "明.王")
    }
    assert texts("王明") == {}  # two characters alone: one component, as far as anyone can tell
    assert set(texts("Yamada^Tarou=山田^太郎")) >= {"山田太郎", "山田 太郎"}
    assert "山田" not in texts("Yamada^Tarou=山田^太郎")
    doe_jo = ("doe^jo", "jo doe", "doe jo", "doe, jo", "doe,jo", "doe_jo", "doe.jo", "jo_doe")
    assert texts("DOE^JO") == {form: Category.NAME for form in (*doe_jo, "jo.doe")}
    assert identity.searchable_cjk_name("王^明")
    assert not identity.searchable_cjk_name("ab^明")  # one CJK character: MIN_CHARS applies


def test_date_forms_include_the_dashed_dotted_and_slashed_spellings() -> None:
    assert {f for f, _ in forms("DA", "20240305")} == {
        "20240305",
        "2024-03-05",
        "2024.03.05",
        "2024/03/05",
        *("05/03/2024", "05.03.2024", "05-03-2024", "03/05/2024", "2024:03:05"),
        *("5/3/2024", "5.3.2024", "5-3-2024", "3/5/2024"),
        *(f"{d}{sep}{m}{sep}2024" for d in ("5", "05") for m in ("Mar", "March") for sep in " -"),
        *(f"{d}{m}2024" for d in ("5", "05") for m in ("Mar", "March")),
        *(f"{m} {d}{sep} 2024" for d in ("5", "05") for m in ("Mar", "March") for sep in ("", ",")),
        *(f"{d} {m}, 2024" for d in ("5", "05") for m in ("Mar", "March")),
        *(f"5th {m}{sep} 2024" for m in ("Mar", "March") for sep in ("", ",")),
        *(f"{m} 5th{sep} 2024" for m in ("Mar", "March") for sep in ("", ",")),
        *("5th of Mar 2024", "5th of March 2024", "2024-3-5"),  # (not 2024.3.5: a version)
        *("03.05.2024", "03-05-2024", "3.5.2024", "3-5-2024", "2024/3/5"),  # month first
        *(f"{d} Mar. 2024" for d in ("5", "05")),
        *(f"Mar. {d}{sep} 2024" for d in ("5", "05") for sep in ("", ",")),
        *(f"2024{sep}{m}{sep}{d}" for d in ("5", "05") for m in ("Mar", "March") for sep in " -"),
        *(
            f"{d}{dot} {m} 2024"
            for d in ("5", "05")
            for m in ("März", "Maerz", "Marz")
            for dot in (".", "")
        ),
        *(
            f"{d} {m} 2024"
            for d in ("5", "05")
            for m in ("mars", "marzo", "maart", "março", "marco")
        ),
        *(f"{d} de {m} de 2024" for d in ("5", "05") for m in ("marzo", "março", "marco")),
        *("05032024", "03052024", "2024年3月5日", "2024年03月05日"),  # compact; CJK text
        "240305",  # (compact, a two-digit year; 050324 and 030524 are also times: see below)
        *(f"{d}{sep}{m}{sep}2024" for d in ("5", "05") for m in ("Mar", "March") for sep in "/."),
        *("2024년 3월 5일", "2024년3월5일"),  # Korean text
        *("令和6年3月5日", "R6.3.5", "R06.03.05", "R6/3/5"),  # the Japanese era's year
        *(f"{d}{sep}III{sep}2024" for d in ("5", "05") for sep in ". "),  # a Roman month
        *("2024.III.5", "2024.III.05"),
    }
    assert {"610317", "170361", "031761"} <= {f for f, _ in forms("DA", "19610317")}
    # (those that are also a time of day, HHMMSS, are not searched: a kept time is not a date)
    assert not {"120315", "150312", "031512"} & {f for f, _ in forms("DA", "20120315")}
    assert "1er mars 2024" in {f for f, _ in forms("DA", "20240301")}
    assert {"Sept 12, 2023", "Sept. 12, 2023"} <= {f for f, _ in forms("DA", "20230912")}
    assert "05/03/24" not in {f for f, _ in forms("DA", "20240305")}  # (a two-digit year: not)
    assert {f for f, _ in forms("DA", "20240231")} == {  # (no such day: no day-first forms)
        *("20240231", "2024-02-31", "2024.02.31", "2024/02/31"),
    }
    assert "20240305" in {f for f, _ in forms("DT", "20240305101500+0100")}
    assert {f for f, _ in forms("DA", "20240101-20240305")} >= {"20240101", "20240305"}


def test_a_name_s_components_are_also_searched_as_they_are_otherwise_written() -> None:
    """The parts of a hyphenated surname, a name without its apostrophe or with the typographic
    one, particles run together: components (loose), as cleaning removes them."""

    def components(name: str) -> set[str]:
        return {f for f, suffix in forms("PN", name) if suffix == " component"}

    assert {"Smith", "Jones", "Smith Jones"} <= components("Smith-Jones^Mary")
    assert {"OBrien", "O\u2019Brien"} <= components("O'Brien^Sean")
    assert {"vanderBerg", "van-der-Berg"} <= components("van der Berg^Anna")


def test_an_id_of_letters_and_digits_has_its_forms_with_a_separator() -> None:
    assert {f for f, _ in forms("LO", "PIDQX77123")} == {
        *("PIDQX77123", "PIDQX-77123", "PIDQX 77123", "PIDQX_77123", "PIDQX/77123", "PIDQX.77123"),
        *("PIDQX#77123", "PIDQX:77123"),
    }
    assert "MRN0012345" in {f for f, _ in forms("LO", "MRN-0012345")}
    for other in ("CT CHEST", "1234567", "A1234", "X-ray 2", "7734PID", "CT001", "ST 0042"):
        joined = "_".join(other.split())  # (words joined as a folder name joins them)
        assert {f for f, _ in forms("LO", other)} == {other, joined}, other
    assert "Mercy_General_Hospital" in {f for f, _ in forms("LO", "Mercy General Hospital")}


def test_an_id_of_digits_alone_is_also_searched_as_people_group_it() -> None:
    """An NHS number 9434765919 as 943 476 5919, a social security number as 123-45-6789: for
    IDs only (a number of another attribute is no identity)."""
    texts = {t.text for t in identity._tokens_of("LO", "9434765919", 0x00100020, "", Category.ID)}
    assert {"9434765919", "943 476 5919", "943-476-5919"} <= texts
    ssn = {t.text for t in identity._tokens_of("LO", "123456789", 0x00101000, "", Category.ID)}
    assert "123-45-6789" in ssn
    text = {t.text for t in identity._tokens_of("LO", "9434765919", 0x00081030, "", Category.TEXT)}
    assert "943 476 5919" not in text


@pytest.mark.parametrize(
    ("stored", "written"),
    [
        ("555-123-4567", "(555) 123 4567"),
        ("555-123-4567", "555.123.4567"),
        ("555-123-4567", "5551234567"),
        ("555-123-4567", "+1 555 123 4567"),
        ("+1 555 123 4567", "555-123-4567"),
        ("(555) 123-4567", "1-555-123-4567"),
        ("+44 20 7946 0958", "020 7946 0958"),
        ("0171 234 5678", "01712345678"),
        ("030/1234567", "030 1234567"),
        ("555-123-4567", "555-987-6543/555-123-4567"),
    ],
)
def test_a_telephone_number_is_found_in_any_layout(stored: str, written: str) -> None:
    """Patient's Telephone Numbers as stored, written elsewhere with other separators, with or
    without a country code or a trunk prefix."""
    token = Token(stored, "PatientTelephoneNumbers", Category.ID)
    for hay in (f"tel {written}.", f"\0{written}\0"):
        hits = Matcher([token]).search(hay.encode())
        assert [tok for _, tok in hits] == [token], hay
        (at, _), end = hits[0], hay.index(written) + len(written)
        assert hay[at:end].endswith(written.rsplit("/", 1)[-1]), hay[at:]


@pytest.mark.parametrize(
    "written",
    [
        "1.2.840.5551234567",  # a UID that ends with its digits
        "1.2.840.10008.555.123.4567",  # a UID (a group of five digits)
        "0.5551234567",  # a decimal number
        "555-123-45678",  # another number
        "987655551234567",  # too many digits before
        "23-4567",  # too few of them
        "5551234568",
    ],
)
def test_a_telephone_number_is_not_found_in_other_numbers(written: str) -> None:
    token = Token("555-123-4567", "PatientTelephoneNumbers", Category.ID)
    assert Matcher([token]).search(f"x {written} y".encode()) == [], written


def test_numbers_in_any_layout_are_ids_of_digits_and_separators() -> None:
    """The text of Patient's Telecom Information holds numbers among other text; an ID of
    digits and separators is one (123-45-6789 as 123 45 6789); other values are not."""
    telecom = "tel: +1 555 123 4567; mail j@x.org"
    tokens = identity._tokens_of("LT", telecom, 0x00102155, "", Category.TEXT)
    number = Token("+1 555 123 4567", "PatientTelecomInformation", Category.ID)
    assert number in tokens
    hits = Matcher(tokens).search(b"call 555-123-4567 now")
    assert hits == [(5, number)]
    ssn = Token("123-45-6789", "OtherPatientIDs", Category.ID)
    assert Matcher([ssn]).search(b"ssn 123 45 6789") != []
    for token in (
        Token("555-123-4567", "StudyDescription", Category.TEXT),
        Token("12-34-5", "PatientID", Category.ID),
        Token("pid 555-123-4567", "PatientID", Category.ID),
    ):
        assert identity.number_digits(token) is None, token
    described = identity._tokens_of("LO", "tel 555-123-4567", 0x00081030, "", Category.TEXT)
    assert all(token.category is Category.TEXT for token in described)


def test_time_forms_include_the_value_without_fraction() -> None:
    assert {f for f, _ in forms("TM", "101500.123456")} == {"101500.123456", "101500"}


def test_uids_defined_by_the_standard_have_no_form() -> None:
    assert list(forms("UI", "1.2.840.10008.5.1.4.1.1.2")) == []
    assert list(forms("UI", "1.2.826.0.1.3680043.8.498.14")) == [
        ("1.2.826.0.1.3680043.8.498.14", "")
    ]


def test_padding_is_stripped_from_values_and_binary_text_runs_are_found() -> None:
    assert next(forms("LO", " MRN0012345\0")) == ("MRN0012345", "")
    found = [f for f, _ in forms("UN", b"\x01\x02\x03SECRET^DOE\x00\x00\xff")]
    assert found == ["SECRET^DOE"]
    # other printable bytes end a run; punctuation does not end a run that ends with it
    found = [f for f, _ in forms("OB", b"\x01k#9Lq~Zx{DOE^JANE-\x00MRN0012345\x7f19700101. ")]
    assert found == ["DOE^JANE", "MRN0012345", "19700101"]
    # a run must hold a word of at least MIN_BINARY_WORD ASCII letters or digits; leading
    # punctuation is not part of a run
    found = [f for f, _ in forms("OB", b"\x01\xc4\xd6.\xdc\xdf\xe9-\xe0\xe8\x02, DOE^JANE\x00")]
    assert found == ["DOE^JANE"]
    assert [f for f, _ in forms("OB", b"\x01AB.CD.EF.GH\x02")] == []
    assert [f for f, _ in forms("OB", b"ABCD.EF.GH")] == ["ABCD.EF.GH"]  # runs at both ends


def test_readme_states_the_thresholds_the_code_uses() -> None:
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    assert f"a value with a letter needs at least **{identity.MIN_CHARS}** characters" in readme
    assert f"a value without a letter at least **{identity.MIN_DIGITS}** digits" in readme
    assert (
        "a whole person name with at least two CJK characters (ideographs, kana, hangul) at least "
        f"**{identity.MIN_CJK_NAME}** characters" in readme
    )
    assert f"values longer than **{identity.MAX_CHARS}** characters" in readme
    assert f"runs of at least {identity.MIN_BINARY_RUN} text characters" in readme
    assert f"a word of at least {identity.MIN_BINARY_WORD} ASCII letters or digits" in readme


def test_mask_shows_only_the_first_character_and_the_length() -> None:
    assert mask("jane") == "j*** (4 chars)"


# ---- which values count --------------------------------------------------------------------------


def test_basic_profile_counts_names_ids_uids_and_removed_private_values(
    ct: Dataset, basic: CompiledProfile, key: Key
) -> None:
    tokens = identify(ct, basic, key)
    assert tokens["doe^jane"].category is Category.NAME
    assert tokens["jane"].category is Category.NAME_PART
    assert tokens["jane"].kind == "PatientName component"
    assert tokens["mrn0012345"].category is Category.ID
    assert tokens["1.2.826.0.1.3680043.8.498.11"].kind == "UID"
    assert tokens["20240305"].kind == "date"
    assert "acc0001" in tokens
    assert "doe" not in tokens  # 3 letters


def test_kept_values_creators_and_numbers_do_not_count(
    ct: Dataset, basic: CompiledProfile, key: Key
) -> None:
    tokens = identify(ct, basic, key)
    assert "chest" not in tokens  # CodeMeaning of a kept sequence (default K)
    assert "t-d3000" not in tokens
    assert "gems_acqu_01" not in tokens  # a private creator names a vendor's block
    assert "39.375" not in tokens  # a number in a removed private element
    assert "1.2.840.10008.5.1.4.1.1.2" not in tokens


def test_values_inside_a_removed_sequence_count_unless_the_profile_keeps_them_there(
    make_ct: BuildCT, basic: CompiledProfile, key: Key
) -> None:
    ds = make_ct()
    other = Dataset()
    other.PatientID = "OTHER-ID-4711"
    other.TypeOfPatientID = "TEXT"
    code = Dataset()
    code.CodeValue = "T-D3000"
    code.CodeMeaning = "Chest Region"
    other.IssuerOfPatientIDQualifiersSequence = Sequence([code])
    ds.OtherPatientIDsSequence = Sequence([other])  # basic: X
    tokens = identify(ds, basic, key)
    assert tokens["other-id-4711"].kind == "PatientID"
    assert "chest region" not in tokens  # CodeMeaning: K wherever it stands
    assert "text" not in tokens


def test_private_value_counts_unless_the_profile_keeps_it(
    make_ct: BuildCT, basic: CompiledProfile, key: Key, tmp_path: Path
) -> None:
    def with_note() -> Dataset:
        ds = make_ct()
        ds.private_block(0x0019, "GEMS_ACQU_01").add_new(0x11, "LO", "VENDOR-NOTE-XYZ")
        return ds

    removed = identify(with_note(), basic, key)
    assert removed["vendor-note-xyz"].kind == "private value (GEMS_ACQU_01)"
    profile_file = tmp_path / "keep.yaml"
    profile_file.write_text(
        'extends: [basic]\nrules:\n  - {tag: "(0019,xx11)", creator: GEMS_ACQU_01, action: K}\n',
        encoding="utf-8",
    )
    kept = identify(with_note(), load_profile(str(profile_file)), key)
    assert "vendor-note-xyz" not in kept


def test_shifted_dates_count_only_when_the_shift_is_known(make_ct: BuildCT, key: Key) -> None:
    profile = load_profile("basic", ("retain-long-modified-dates",))
    assert "20240305" in identify(make_ct(), profile, key, shifted_dates=True)
    assert "20240305" not in identify(make_ct(), profile, key, shifted_dates=False)


def test_cleaned_text_is_not_a_token_but_its_identifying_words_are(
    make_ct: BuildCT, key: Key
) -> None:
    profile = load_profile("basic", ("clean-descriptors",))
    tokens = identify(make_ct(), profile, key)
    assert "ct chest doe follow-up" not in tokens  # StudyDescription: C
    assert "jane" in tokens


# ---- exclusions ----------------------------------------------------------------------------------


def test_loose_token_in_kept_standard_text_is_excluded_but_strict_needs_equality() -> None:
    ds = Dataset()
    ds.Manufacturer = "Philips Medical Systems"
    ds.BodyPartExamined = "MRN0012345"
    exclusions = Exclusions()
    exclusions.add_dataset(ds)
    assert not exclusions.allows(tok("philips", Category.NAME_PART))
    assert exclusions.allows(tok("medical systems inc", Category.TEXT))
    assert not exclusions.allows(tok("mrn0012345", Category.ID))  # equal to a kept value
    assert exclusions.allows(tok("philips medical", Category.NAME))  # strict: not equal
    assert still_identifying(
        [tok("philips", Category.NAME_PART), tok("philips medical", Category.NAME)],
        identity.standard_values(ds),
        identity.NO_TOOL_TEXT,
    ) == {"philips medical"}


def test_a_cleaned_value_excuses_only_loose_words_that_cleaning_does_not_remove() -> None:
    """Text the profile cleaned (C) holds what cleaning left: no proof that the profile keeps a
    whole name (Na Li for Li^Na), a component of a name, or a private value shaped like an ID
    (cleaning knows neither); a description's own words (CHEST, a vendor's HEAD) it excuses as
    any kept value does. A value no rule kept does not excuse a part of the patient's name
    either (other people's: as before). The same with a profile (check) and with values given
    (run)."""
    profile = load_profile("basic", ("clean-descriptors",))
    ds = Dataset()
    ds.SeriesDescription = "Na Li HEAD mrn-a77qx19 Jane"  # C under Clean Descriptors
    ds.add_new(0x60001500, "LO", "Bob HEAD")  # no rule: excuses loose words, not a name's part
    exclusions = Exclusions()
    exclusions.add_dataset(ds, profile=profile)
    whole, part = tok("na li", Category.NAME), tok("jane", Category.NAME_PART)
    vendor, mrn = tok("head", Category.PRIVATE), tok("mrn-a77qx19", Category.PRIVATE)
    assert exclusions.allows(whole) and exclusions.allows(part) and exclusions.allows(mrn)
    assert not exclusions.allows(vendor)
    patients = Token("bob", "PatientName component", Category.NAME_PART)
    assert exclusions.allows(patients)  # (the patient's surname alone in an Overlay Label)
    assert not exclusions.allows(Token("bob", "OperatorsName component", Category.NAME_PART))
    assert not exclusions.allows(tok("bob", Category.TEXT))
    values = [
        (identity.excusing(p, vr, profile), v) for p, vr, v in identity.standard_values_at(ds)
    ]
    assert {vr for vr, _ in values} == {identity.CLEANED, identity.UNRULED}
    assert still_identifying([whole, part, vendor, mrn], values, identity.NO_TOOL_TEXT) == {
        "na li",
        "jane",
        "mrn-a77qx19",
    }
    # a vendor's text (a model's name) excuses the patient's name part too: no one types it
    ds = Dataset()
    ds.ManufacturerModelName = "MAGNETOM Bob"
    exclusions = Exclusions()
    exclusions.add_dataset(ds, profile=profile)
    assert not exclusions.allows(patients)
    assert exclusions.allows(Token("magnetom bob", "PatientName", Category.NAME))


def test_values_dicomscrub_writes_itself_are_excluded(basic: CompiledProfile, key: Key) -> None:
    text = tool_text(Scrubber(basic, Pseudonymizer(key)))
    exclusions = Exclusions(tool_text=text)
    assert not exclusions.allows(tok("anonymized", Category.TEXT))
    assert not exclusions.allows(tok("confidentiality", Category.NAME))
    assert exclusions.allows(tok("jane", Category.NAME))


# ---- the search ----------------------------------------------------------------------------------


@pytest.fixture(params=["find", "pattern"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each search test with bytes.find and with the compiled trie pattern."""
    if request.param == "pattern":
        monkeypatch.setattr(identity, "_REGEX_ABOVE", 0)
    return str(request.param)


def hits(matcher: Matcher, data: bytes) -> list[tuple[int, str]]:
    return [(offset, token.text) for offset, token in matcher.search(data)]


def test_search_is_case_insensitive_and_whole_word(strategy: str) -> None:
    matcher = Matcher([tok("jane"), tok("doe^jane")])
    assert hits(matcher, b"x DOE^Jane y") == [(2, "doe^jane"), (6, "jane")]
    assert hits(matcher, b"JANET janes XJANE") == []
    assert hits(matcher, b"\x00JANE\x00") == [(1, "jane")]


def test_search_does_not_find_a_uid_inside_a_longer_uid(strategy: str) -> None:
    matcher = Matcher([tok("1.2.826.0.1.3680043.8.498.11", Category.UID)])
    assert hits(matcher, b"1.2.826.0.1.3680043.8.498.110") == []
    assert hits(matcher, b"1.2.826.0.1.3680043.8.498.11.5") == []
    assert hits(matcher, b"9.1.2.826.0.1.3680043.8.498.11") == []
    assert hits(matcher, b"UID=1.2.826.0.1.3680043.8.498.11\x00") == [
        (4, "1.2.826.0.1.3680043.8.498.11")
    ]


def test_a_shorter_token_is_found_where_a_longer_one_fails_its_boundary(strategy: str) -> None:
    matcher = Matcher([tok("rossi"), tok("rossi^mariox")])
    assert hits(matcher, b"ROSSI^MARIOXY") == [(0, "rossi")]


def test_non_ascii_tokens_are_found_in_utf8_latin1_and_either_case(strategy: str) -> None:
    matcher = Matcher([tok("müller")])
    assert hits(matcher, "MÜLLER".encode()) == [(0, "müller")]
    assert hits(matcher, "Müller".encode("latin-1")) == [(0, "müller")]
    assert hits(matcher, b"MULLER") == []


@pytest.mark.parametrize(
    ("charset", "name", "written"),
    [
        ("ISO 2022 IR 149", "김희중", b"\x1b$)C\xb1\xe8\xc8\xf1\xc1\xdf"),
        ("ISO 2022 IR 144", "Иванов", b"\x1b-L\xb8\xd2\xd0\xdd\xde\xd2"),
        ("ISO 2022 IR 126", "Νίκος", b"\x1b-F\xcd\xdf\xea\xef\xf2"),
        ("ISO 2022 IR 87", "山田太郎", b"\x1b$B;3EDB@O:\x1b(B"),
    ],
)
def test_an_iso_2022_escape_sequence_is_a_boundary_and_tokens_are_written_as_after_it(
    strategy: str, charset: str, name: str, written: bytes
) -> None:
    """The escape's final byte (C, L, F, B) is no letter touching the name, and the name's bytes
    are those after the escape (in 7-bit JIS X 0208 for ISO 2022 IR 87, whose Python codec adds
    escapes of its own). The bytes are spelled out, and pydicom writes them so."""
    import pydicom.charset

    encodings = pydicom.charset.convert_encodings(["", charset])
    assert pydicom.charset.encode_string(name, encodings) == written
    lead = 3 if written[1:3] in (b"-L", b"-F", b"$B") else 4
    matcher = Matcher([tok(name)], ["\\" + charset])
    around = [(b"x", b""), (b"CT ", b" y"), (b"A", b"\x1b(BZ"), (b"\x1b(BQ", b"\x1b(BQ")]
    for before, after in around:
        found = hits(matcher, before + written + after)
        assert found == [(len(before) + lead, name.lower())], (before, after)
    # no escape before it: 7-bit JIS bytes touch the letter; bytes from 0x80 up are no letters
    # (the last byte of another character, in GBK or GB18030, may be one)
    expected = [(1, name.lower())] if written[lead] >= 0x80 else []
    assert hits(matcher, b"x" + written[lead:]) == expected


def test_words_after_an_escape_sequence_are_words_of_their_own(strategy: str) -> None:
    """An ASCII name right after ESC ( B (back from a CJK name) is found, and its word is a word
    of the bytes (the search looks only for tokens whose words the bytes hold)."""
    data = b"\x1b$B;3ED\x1b(BTarou\x1b$)C\xb1\xe8"
    assert {b"tarou", b"3ed"} <= identity.words_of(data)
    assert b"btarou" not in identity.words_of(data)
    assert hits(Matcher([tok("tarou")]), data) == [(10, "tarou")]
    assert hits(Matcher([tok("tarou")]), b"\x1b$B;3EDxTarou") == []  # a letter, no escape


def test_a_date_is_found_in_an_iso_8601_date_and_time(strategy: str) -> None:
    """The T that starts the time of a date and time ends the date as a space would; after any
    other token, or before anything but a digit, it is a letter as before."""
    matcher = Matcher([Token(f, "date", Category.DATE) for f in ("20190423", "2019-04-23")])
    assert hits(matcher, b"at 2019-04-23T10:10:10Z") == [(3, "2019-04-23")]
    assert hits(matcher, b"20190423T101010") == [(0, "20190423")]
    assert hits(matcher, b"2019-04-23TX") == []
    assert hits(matcher, b"X2019-04-23T10") == []  # the left side still counts
    ids = Matcher([Token("pid1234567", "PatientID", Category.ID), tok("jane")])
    assert hits(ids, b"PID1234567T5 JANET5") == []


def test_a_time_is_found_after_the_t_of_an_iso_8601_date_and_time(strategy: str) -> None:
    """The T between a date's last digit and a time bounds the time as a space would; a T after a
    letter, or a digit right after the time, still touches it."""
    matcher = Matcher([Token("101500", "time", Category.TIME), tok("jane")])
    assert hits(matcher, b"20240315T101500") == [(9, "101500")]
    assert hits(matcher, b"at 20240315T101500+0100") == [(12, "101500")]
    assert hits(matcher, b"AT101500 X20240315T1015001 T101500") == []
    assert hits(matcher, b"0Tjane") == []  # only a time: a name after it is one word with it


def test_a_date_is_found_at_the_start_of_a_dicom_date_and_time(strategy: str) -> None:
    """A date written as YYYYMMDD with the hour, minutes, seconds, fraction and offset of a
    DICOM DT right after it is found; digits that cannot be a time, or that run on, are not."""
    matcher = Matcher([Token("20240315", "date", Category.DATE), tok("jane")])
    assert hits(matcher, b"Export 20240315101010") == [(7, "20240315")]
    for tail in (b"10", b"1010", b"101010.123456", b"101010+0100", b"1010-0500", b"101010."):
        assert hits(matcher, b"at 20240315" + tail + b" x") == [(3, "20240315")], tail
    for tail in (b"24", b"1060", b"1010101", b"101010123", b"1x", b"1"):
        assert hits(matcher, b"at 20240315" + tail + b" x") == [], tail
    assert hits(matcher, b"X20240315101010 120240315101010") == []  # the left side counts
    assert hits(matcher, b"jane 20240315") == [(0, "jane"), (5, "20240315")]


def test_search_text_finds_tokens_in_a_file_name(strategy: str) -> None:
    matcher = Matcher([tok("jane"), tok("mrn0012345", Category.ID)])
    assert [t.text for t in matcher.search_text("DOE_JANE_MRN0012345")] == ["jane", "mrn0012345"]


def test_a_value_is_found_where_the_next_element_s_tag_touches_it(strategy: str) -> None:
    """In little endian the byte after a value is the low byte of the next tag's group: a letter
    for group 0054 (T) or GE's private 0043 (C), a digit for 0032. The value ends there all the
    same (explicit and implicit VR); a letter followed by anything but a header still touches."""
    import struct

    matcher = Matcher([Token("pid77123", "PatientID", Category.ID), tok("jane")])
    image_id = b"\x54\x00\x00\x04SH\x08\x00PID77123"
    explicit = image_id + b"\x54\x00\x10\x04SQ\x00\x00\xff\xff\xff\xff"
    assert hits(matcher, explicit) == [(8, "pid77123")]
    private = b"\x43\x00\x10\x10LO\x04\x00Jane" + b"\x43\x00\x11\x10SS\x02\x00\x01\x00"
    assert hits(matcher, private) == [(8, "jane")]
    implicit = b"PID77123" + struct.pack("<HHI", 0x0054, 0x0410, 0) + b"\x00" * 4
    assert hits(matcher, implicit) == [(0, "pid77123")]
    assert hits(matcher, b"PID77123T\x00 and JANET\x00\x00\x00\x00\x00\x00\x00 x") == []
    assert hits(matcher, b"JANES" + b"\x00" * 12) == []  # (S: an odd, private group)
    assert {b"pid77123", b"jane"} <= identity.words_of(explicit.lower() + private.lower())
    # a private group whose two bytes are letters: Philips PET's 7053 (Sp)
    philips = b"PID77123" + b"\x53\x70\x00\x10LO\x08\x00" + b"0.012345"
    assert hits(matcher, philips) == [(0, "pid77123")]
    implicit_philips = b"PID77123" + struct.pack("<HHI", 0x7053, 0x1000, 2) + b"\x00" * 2
    assert hits(matcher, implicit_philips) == [(0, "pid77123")]


def test_a_value_is_found_where_its_big_endian_length_touches_it(strategy: str) -> None:
    """In explicit VR big endian the byte before a value is the low byte of its length: B for a
    value of 66 bytes. The value starts there all the same; the search is told the byte order
    for its words (a letter before the value is not one before its header)."""
    value = b"PID77123" + b" " * 58
    data = b"\x00\x10\x00\x20LO\x00\x42" + value + b"\x00\x10\x00\x30DA\x00\x08" + b"19610317"
    matcher = Matcher([Token("pid77123", "PatientID", Category.ID)])
    assert [(o, t.text) for o, t in matcher.search(data, big_endian=True)] == [(8, "pid77123")]
    assert hits(matcher, b"xBPID77123 ") == []
    assert b"pid77123" in identity.words_of(data.lower(), big_endian=True)


def test_a_name_in_a_7_bit_two_byte_set_is_found_next_to_other_characters(strategy: str) -> None:
    """ISO 2022 IR 87 writes kanji as pairs of bytes from 0x21 to 0x7E, letters and digits to
    the whole-word search, and Japanese text has no spaces: 山田太郎 in 患者山田太郎様 is found
    on the two-byte grid after ESC $ B, not astride two characters, not outside the set."""
    matcher = Matcher([tok("山田太郎")], ["\\ISO 2022 IR 87"])
    written = b"\x1b$B45<T;3EDB@O:MM\x1b(B"  # 患者山田太郎様, as pydicom writes it
    assert hits(matcher, b"CT " + written) == [(10, "山田太郎")]
    assert hits(matcher, b"\x1b$B;3EDB@O:MM\x1b(B") == [(3, "山田太郎")]
    assert hits(matcher, b"\x1b$BX;3EDB@O:Y\x1b(B") == []  # astride: the grid is off by one
    assert hits(matcher, b"A;3EDB@O:Z") == []  # ASCII letters, no escape
    assert hits(matcher, b"\x1b$B45\x1b(BT;3EDB@O:") == []  # back in ASCII


def test_a_cjk_name_with_a_space_or_after_a_gbk_character_is_found(strategy: str) -> None:
    """山田 太郎 in IR 87 (an ASCII space between two runs of kanji) followed by 様: its end is
    on the two-byte grid; 陳大文 in GBK after 給, whose last byte is an o; a half-width katakana
    name (ISO_IR 13) written joined, as Japanese text writes it."""
    matcher = Matcher([tok("山田 太郎")], ["\\ISO 2022 IR 87"])
    assert hits(matcher, b"\x1b$B;3ED\x1b(B \x1b$BB@O:MM\x1b(B") == [(3, "山田 太郎")]
    gbk = Matcher([tok("陳大文")], ["GBK"])
    assert hits(gbk, "給陳大文".encode("gbk")) == [(2, "陳大文")]
    assert searchable_cjk_name("ｷﾑﾗﾕｷ")
    halfwidth = Matcher([tok("ｷﾑﾗﾕｷ")], ["ISO_IR 13"])
    assert hits(halfwidth, b"CT \xb7\xd1\xd7\xd5\xb7 x") == [(3, "ｷﾑﾗﾕｷ")]


def test_word_memo_gives_the_words_of_words_of() -> None:
    """:class:`WordMemo` remembers the words of pieces of a haystack: it must give what
    :func:`words_of` gives for any bytes, in either byte order, from an empty memo or one that
    holds pieces of other haystacks (or was emptied on the way), with ESC (which words_of reads
    across any cut) or not: T between digits, runs of 10 to 14 digits, short words, a cut (four
    non-word bytes) next to any of them."""
    import random

    from pydicom.data import get_testdata_file

    rng = random.Random(1234)
    alphabet = b"0123456789tT  \x00\x00\x00.^-aZbx\x1b$()B\xc3\xbc\x80\xff"
    hays = [bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 200))) for _ in range(1500)]
    real = Path(get_testdata_file("CT_small.dcm", download=False)).read_bytes()[:4000]
    for _ in range(50):  # a header and the same header with a few bytes changed
        copy = bytearray(real)
        for _ in range(rng.randrange(1, 6)):
            copy[rng.randrange(len(copy))] = rng.choice(alphabet)
        hays.append(bytes(copy))
    hays += [b"", b"    ", b"20190423T101010    20190423101010", b"12345678901\x00\x00\x00\x00t1"]
    memo = identity.WordMemo()
    small = identity.WordMemo()
    small.LIMIT = 7  # (emptied every few pieces)
    for hay in hays + hays[::-1]:
        for big in (False, True):
            expected = identity.words_of(hay, big)
            assert memo.words(hay, big) == expected
            assert small.words(hay, big) == expected
