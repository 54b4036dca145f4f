"""Profile loading: every validation error is located (file:line:col: key path: message), and
layers combine as profiles/README.md says."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomscrub.actions import Action
from dicomscrub.profile.loader import (
    ProfileError,
    builtin_names,
    load_layers,
    load_profile,
    validate_file,
)
from dicomscrub.profile.model import CompiledProfile, compile_layers


def stack(profile: str, options: tuple[str, ...] = ()) -> CompiledProfile:
    """The layers compiled without the rule that a run starts from basic, to test how layers
    combine on their own."""
    return compile_layers(load_layers(profile, options))


ACTIONS = "D, Z, X, K, C, U, Z/D, X/Z, X/D, X/Z/D, X/Z/U*"
BUILTINS = {
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
PATIENT_NAME = 0x00100010
STUDY_DATE = 0x00080020


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def action_of(compiled: CompiledProfile, tag: int) -> Action | None:
    rule = compiled.standard_rule(tag)
    return None if rule is None else rule.action


def private_action(compiled: CompiledProfile, tag: int, creator: str) -> Action | None:
    rule = compiled.private_rule_for(tag, creator)
    return None if rule is None else rule.action


def error_of(path: Path) -> str:
    with pytest.raises(ProfileError) as info:
        stack(str(path))
    return str(info.value)


# ---- validation errors --------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "name: x\nrulez: []\n")
    assert error_of(path) == (
        f"{path}:2:1: rulez: unknown key (did you mean 'rules'?); "
        "allowed keys: name, kind, description, extends, method, settings, rules, safe_private, "
        "date_shift_days, age_cap_years"
    )


def test_unknown_rule_key_lists_the_allowed_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml", "rules:\n  - tag: '(0010,0010)'\n    action: X\n    colour: red\n"
    )
    assert error_of(path) == (
        f"{path}:4:5: rules[0].colour: unknown key; "
        "allowed keys: tag, keyword, action, value, name, creator, pseudonym"
    )


@pytest.mark.parametrize(
    "rule",
    [
        "  - tag: '(0010,0010)'\n    keyword: PatientName\n    action: X\n",
        "  - action: X\n",
    ],
    ids=["both", "neither"],
)
def test_rule_needs_exactly_one_selector(tmp_path: Path, rule: str) -> None:
    path = write(tmp_path / "p.yaml", "rules:\n" + rule)
    assert error_of(path) == f"{path}:2:5: rules[0]: give exactly one of 'tag' or 'keyword'"


def test_malformed_tag_is_located_at_its_value(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "rules:\n  - tag: '(0010,001G)'\n    action: X\n")
    assert error_of(path) == (
        f"{path}:2:10: rules[0].tag: expected a tag written (GGGG,EEEE) with hex digits or x, "
        "got '(0010,001G)'"
    )


def test_unknown_keyword_suggests_the_dictionary_keyword(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "rules:\n  - keyword: PatientsName\n    action: X\n")
    message = error_of(path)
    assert message.startswith(
        f"{path}:2:14: rules[0].keyword: unknown DICOM keyword 'PatientsName' "
        "(did you mean 'PatientName'"
    )
    assert message.endswith("?)")


def test_unknown_action_lists_every_code(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "rules:\n  - keyword: PatientName\n    action: Y\n")
    assert error_of(path) == f"{path}:3:13: rules[0].action: expected one of {ACTIONS}; got 'Y'"


def test_rule_without_action_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "rules:\n  - keyword: PatientName\n")
    assert error_of(path) == f"{path}:2:5: rules[0].action: every rule needs an action"


@pytest.mark.parametrize("action", ["Z", "X", "K", "C", "U", "X/Z/D"])
def test_value_on_an_action_other_than_d_is_an_error(tmp_path: Path, action: str) -> None:
    keyword = "StudyInstanceUID" if action == "U" else "PatientName"
    path = write(
        tmp_path / "p.yaml",
        f"rules:\n  - keyword: {keyword}\n    action: {action}\n    value: FOO\n",
    )
    assert error_of(path) == (
        f"{path}:4:12: rules[0].value: a replacement value is only used with action D"
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "  - keyword: PatientName\n    action: U\n",
            "3:13: rules[0].action: U replaces UIDs; this attribute's VR is PN: use D, Z or X",
        ),
        (
            '  - tag: "(FFFE,E000)"\n    action: X\n',
            "2:10: rules[0].tag: an item or delimitation tag (FFFE,xxxx) is no attribute",
        ),
        (
            f"  - keyword: PatientName\n    action: D\n    value: {'A' * 65}\n",
            f"4:12: rules[0].value: '{'A' * 65}' has a component group longer than 64 "
            "characters (VR PN)",
        ),
        (
            '  - tag: "(0018,xxxx)"\n    action: U\n',
            "3:13: rules[0].action: U replaces UIDs; (0018,xxxx) also reaches attributes that "
            "are no UIDs, e.g. (0018,0010) ContrastBolusAgent (LO): give the UID attributes' own "
            "tags, or use D, Z or X",
        ),
    ],
    ids=["u-on-a-name", "item-tag", "long-name", "u-on-a-mask"],
)
def test_a_rule_that_would_do_nothing_or_write_an_invalid_value_is_an_error(
    tmp_path: Path, rule: str, message: str
) -> None:
    """It validated as ok and then wrote a UID into a name, was ignored, or wrote a name no
    reader takes."""
    path = write(tmp_path / "p.yaml", f"rules:\n{rule}")
    assert error_of(path) == f"{path}:{message}"


def test_a_parent_listed_twice_in_extends_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "extends: [basic, basic]\n")
    assert error_of(path) == f"{path}:1:18: extends[1]: 'basic' is listed twice"


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        ("PatientBirthDate", '"notadate"', "'notadate' is not a date YYYYMMDD (VR DA)"),
        ("PatientBirthDate", '"19610231"', "'19610231' is not a date YYYYMMDD (VR DA)"),
        ("PatientID", "P" * 70, f"{'P' * 70!r} is longer than 64 characters (VR LO)"),
        ("PatientName", "[A, B]", "gives 2 value(s); the attribute takes 1 (VM)"),
        ("Rows", "abc", "'abc' is not a whole number (VR US)"),
        ("Rows", "70000", "'70000' is out of range for VR US"),
        ("StudyInstanceUID", '"not a uid"', "a UID attribute takes no value: D gives it a UID"),
        ("PixelData", "x", "an attribute of VR OB takes no value: D gives it a fixed dummy"),
        ("PatientAge", "42", "'42' is not an age nnnD, nnnW, nnnM or nnnY (VR AS)"),
        ("PatientSex", "female", "'female' holds a character other than A-Z, 0-9"),
        ("StudyTime", "25h", "'25h' is not a time HHMMSS.FFFFFF (VR TM)"),
        ("SliceThickness", "thin", "'thin' is not a decimal number (VR DS)"),
    ],
)
def test_a_value_its_attribute_cannot_hold_is_a_located_error(
    tmp_path: Path, keyword: str, value: str, message: str
) -> None:
    path = write(
        tmp_path / "p.yaml",
        f"rules:\n  - keyword: {keyword}\n    action: D\n    value: {value}\n",
    )
    error = error_of(path)
    assert error.startswith(f"{path}:4:12: rules[0].value: "), error
    assert message in error


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("PatientBirthDate", '"19610423"'),
        ("PatientID", "ANON-0001"),
        ("PatientName", "Anonymous^Patient"),
        ("ImageType", "[DERIVED, SECONDARY]"),
        ("Rows", "512"),
        ("PatientAge", "042Y"),
        ("PatientSex", "O"),
        ("StudyTime", '"120000.5"'),
        ("AcquisitionDateTime", '"20200101120000+0100"'),
        ("SliceThickness", '"2.5"'),
        ("StudyDescription", "'free text, 5 mm'"),
    ],
)
def test_a_value_its_attribute_can_hold_is_accepted(
    tmp_path: Path, keyword: str, value: str
) -> None:
    path = write(
        tmp_path / "p.yaml",
        f"rules:\n  - keyword: {keyword}\n    action: D\n    value: {value}\n",
    )
    stack(str(path))


def test_same_selector_twice_in_one_file_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        "rules:\n  - keyword: PatientName\n    action: Z\n  - tag: '(0010,0010)'\n    action: X\n",
    )
    assert error_of(path) == f"{path}:4:5: rules[1]: (0010,0010) already has a rule at rules[0]"


def test_unknown_extends_name_suggests_a_built_in(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "extends: [basik]\n")
    assert error_of(path) == (
        f"{path}:1:11: extends[0]: no built-in profile and no file named 'basik' "
        "(did you mean 'basic'?)"
    )


def test_extends_naming_a_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    path = write(tmp_path / "p.yaml", "extends: [site]\n")
    assert error_of(path) == f"{path}:1:11: extends[0]: 'site' is a folder, not a profile file"


@pytest.mark.parametrize(
    ("text", "where", "tag"),
    [
        ("rules:\n  - !keep {keyword: PatientSex, action: K}\n", "2:5", "!keep"),
        ("rules:\n  - keyword: PatientSex\n    action: !env K\n", "3:13", "!env"),
        ("extends: !include [basic]\n", "1:10", "!include"),
        (
            "rules:\n  - keyword: !!python/name:os.system PatientSex\n",
            "2:14",
            "!!python/name:os.system",
        ),
        ("method:\n  label: !!binary QUJD\n", "2:10", "!!binary"),
    ],
    ids=["on-an-item", "on-a-value", "on-extends", "python", "binary"],
)
def test_a_yaml_tag_is_an_error(tmp_path: Path, text: str, where: str, tag: str) -> None:
    """The tag was dropped without a word: the profile validated and ran as if it were not
    there (an ``!include`` never included anything)."""
    path = write(tmp_path / "p.yaml", text)
    assert error_of(path) == (
        f"{path}:{where}: YAML tag {tag} is not supported in profiles (plain YAML only): remove it"
    )


def test_core_yaml_tags_and_exclamation_marks_in_text_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        'extends: [basic]\nmethod:\n  label: "Export! v1"\n'
        "rules:\n  - keyword: !!str PatientSex\n    action: K\n",
    )
    assert action_of(load_profile(str(path)), 0x00100040) is Action.K


def test_extends_cycle_between_two_files_is_an_error(tmp_path: Path) -> None:
    a = write(tmp_path / "a.yaml", "extends: [b.yaml]\n")
    b = write(tmp_path / "b.yaml", "extends: [a.yaml]\n")
    assert error_of(a) == f"{b}:1:11: extends[0]: extends forms a cycle: a.yaml -> b.yaml -> a.yaml"


def test_profile_extending_itself_is_a_cycle(tmp_path: Path) -> None:
    path = write(tmp_path / "self.yaml", "extends: self.yaml\n")
    assert (
        error_of(path) == f"{path}:1:10: extends[0]: extends forms a cycle: self.yaml -> self.yaml"
    )


def test_method_label_longer_than_64_characters_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "method:\n  label: " + "A" * 65 + "\n")
    assert error_of(path) == f"{path}:2:10: method.label: is longer than 64 characters (VR LO)"


def test_method_label_of_64_characters_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "method:\n  label: " + "A" * 64 + "\n")
    assert [m.label for m in stack(str(path)).methods] == ["A" * 64]


def test_method_code_outside_cid_7050_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "method:\n  label: ok\n  code: '113099'\n")
    assert error_of(path) == (
        f"{path}:3:9: method.code: expected a CID 7050 code value (113100 ... 113112); got '113099'"
    )


@pytest.mark.parametrize("code", ["113101", "113102"])
def test_method_code_of_a_pixel_option_is_an_error(tmp_path: Path, code: str) -> None:
    """Clean Pixel Data and Clean Recognizable Visual Features change pixel data (PS3.15 E.3.1,
    E.3.2), which dicomscrub never does: (0012,0064) would claim an option that did not run."""
    path = write(tmp_path / "p.yaml", f"method:\n  label: ok\n  code: '{code}'\n")
    assert f"{path}:3:9: method.code: {code} (" in error_of(path)
    assert "dicomscrub never changes" in error_of(path)


def test_bad_kind_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "kind: plugin\n")
    assert error_of(path) == f"{path}:1:7: kind: expected 'profile' or 'option'; got 'plugin'"


def test_invalid_yaml_is_located(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "rules:\n  - tag: [\n")
    message = error_of(path)
    assert message.startswith(f"{path}:3:1: invalid YAML: ")


@pytest.mark.parametrize("text", ["", "# only a comment\n"], ids=["empty", "comment"])
def test_empty_profile_is_an_error(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "p.yaml", text)
    assert error_of(path) == f"{path}:1:1: the profile is empty"


def test_profile_error_carries_its_parts(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", "rules:\n  - keyword: PatientName\n    action: Y\n")
    with pytest.raises(ProfileError) as info:
        stack(str(path))
    err = info.value
    assert (err.file, err.line, err.column, err.path) == (str(path), 3, 13, "rules[0].action")
    assert err.message == f"expected one of {ACTIONS}; got 'Y'"


def test_unknown_profile_name_on_the_command_line_names_the_flag() -> None:
    with pytest.raises(ProfileError) as info:
        stack("basik")
    assert str(info.value) == (
        "--profile: no built-in profile and no file named 'basik' (did you mean 'basic'?)"
    )


def test_unknown_option_name_names_the_flag() -> None:
    with pytest.raises(ProfileError, match=r"^--option: no built-in profile and no file named"):
        stack("basic", ("retain-uid",))


# ---- built-ins ----------------------------------------------------------------------------------


def test_built_ins_are_the_eleven_table_columns_and_patient_pseudonyms() -> None:
    assert builtin_names() == sorted([*BUILTINS, "patient-pseudonyms"])


@pytest.mark.parametrize(
    ("keyword", "pseudonym", "problem"),
    [
        ("StudyDate", "true", "'ANON-AAAAAAAAAAAAAAAA' is longer than 8 characters (VR DA)"),
        ("StudyInstanceUID", "true", "a UID attribute takes no value"),
        ("Rows", "true", "'ANON-AAAAAAAAAAAAAAAA' is not a whole number (VR US)"),
        ("AccessionNumber", "true", "is longer than 16 characters (VR SH)"),
    ],
)
def test_a_pseudonym_that_cannot_be_the_attribute_s_value_is_refused(
    tmp_path: Path, keyword: str, pseudonym: str, problem: str
) -> None:
    """Like a rule's value, checked against the attribute's VR and VM before any file is
    touched: it was written (a date, a UID, a folder name of the output), or failed every file."""
    path = write(
        tmp_path / "p.yaml",
        f"extends: basic\nrules:\n  - keyword: {keyword}\n    action: D\n"
        f"    pseudonym: {pseudonym}\n",
    )
    with pytest.raises(ProfileError) as info:
        validate_file(path)
    assert str(info.value).startswith(
        f"{path}:5:16: rules[0].pseudonym: a pseudonym (21 characters, such as "
        "ANON-AAAAAAAAAAAAAAAA) cannot be its value: "
    )
    assert problem in str(info.value)
    # (a prefix short enough: an SH holds 16 characters, a pseudonym's own)
    path.write_text(path.read_text().replace("pseudonym: true", 'pseudonym: ""'))
    if keyword == "AccessionNumber":
        assert validate_file(path).names == ("basic", "p")


def test_patient_pseudonyms_is_a_hand_written_option_without_a_code() -> None:
    (layer,) = load_layers("patient-pseudonyms")
    assert layer.kind == "option"
    assert layer.method is not None and layer.method.code is None
    assert {r.key: r.pseudonym for r in layer.rules} == {
        "(0010,0020)": "ANON-",
        "(0010,0010)": "ANON-",
    }


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_built_in_loads_with_its_cid_7050_code(name: str) -> None:
    layers = load_layers(name)
    assert layers[-1].name == name
    assert layers[-1].builtin
    assert layers[-1].kind == ("profile" if name == "basic" else "option")
    method = layers[-1].method
    assert method is not None
    assert method.code == BUILTINS[name]


def test_validate_file_checks_the_example_profile() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "my-profile.yaml"
    compiled = validate_file(example)
    assert compiled.names == ("basic", "retain-long-modified-dates", "example-research")


# ---- layering -----------------------------------------------------------------------------------


def test_later_layer_replaces_earlier_rule_for_the_same_selector(
    tmp_path: Path, basic: CompiledProfile
) -> None:
    path = write(
        tmp_path / "site.yaml",
        "extends: [basic]\nrules:\n  - keyword: PatientName\n    action: K\n",
    )
    compiled = stack(str(path))
    rule = compiled.standard_rule(PATIENT_NAME)
    assert rule is not None
    assert (rule.action, rule.source) == (Action.K, "site")
    assert action_of(basic, PATIENT_NAME) is Action.Z


def test_exact_tag_beats_a_mask_of_a_later_layer(tmp_path: Path) -> None:
    write(tmp_path / "parent.yaml", "rules:\n  - tag: '(0010,0010)'\n    action: X\n")
    child = write(
        tmp_path / "child.yaml",
        "extends: [parent.yaml]\nrules:\n  - tag: '(0010,xxxx)'\n    action: K\n",
    )
    compiled = stack(str(child))
    assert action_of(compiled, PATIENT_NAME) is Action.X
    assert action_of(compiled, 0x00100020) is Action.K


def test_mask_with_fewer_x_wins(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        "rules:\n"
        "  - tag: '(0010,00xx)'\n    action: Z\n"
        "  - tag: '(0010,xxxx)'\n    action: X\n"
        "  - tag: '(0010,001x)'\n    action: K\n",
    )
    compiled = stack(str(path))
    assert action_of(compiled, 0x00100010) is Action.K
    assert action_of(compiled, 0x00100020) is Action.Z
    assert action_of(compiled, 0x00102160) is Action.X
    assert compiled.standard_rule(0x00200010) is None


@pytest.mark.parametrize("creator_first", [True, False])
def test_creator_mask_beats_plain_mask(tmp_path: Path, creator_first: bool) -> None:
    with_creator = "  - tag: '(0019,xx10)'\n    creator: GEMS_ACQU_01\n    action: K\n"
    plain = "  - tag: '(0019,xx10)'\n    action: X\n"
    rules = with_creator + plain if creator_first else plain + with_creator
    compiled = stack(str(write(tmp_path / "p.yaml", "rules:\n" + rules)))
    assert private_action(compiled, 0x00191010, "GEMS_ACQU_01") is Action.K
    assert private_action(compiled, 0x00191110, "GEMS_ACQU_01") is Action.K
    assert private_action(compiled, 0x00191010, "SIEMENS MED") is Action.X


def test_tag_private_applies_only_where_no_mask_matches(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.yaml",
        "rules:\n"
        "  - tag: private\n    action: X\n"
        "  - tag: '(0019,xx23)'\n    creator: GEMS_ACQU_01\n    action: K\n",
    )
    compiled = stack(str(path))
    assert private_action(compiled, 0x00191023, "GEMS_ACQU_01") is Action.K
    assert private_action(compiled, 0x00191010, "GEMS_ACQU_01") is Action.X


def test_option_order_decides_which_option_wins(tmp_path: Path) -> None:
    full_then_modified = stack("basic", ("retain-long-full-dates", "retain-long-modified-dates"))
    modified_then_full = stack("basic", ("retain-long-modified-dates", "retain-long-full-dates"))
    assert full_then_modified.names == (
        "basic",
        "retain-long-full-dates",
        "retain-long-modified-dates",
    )
    assert modified_then_full.names == (
        "basic",
        "retain-long-modified-dates",
        "retain-long-full-dates",
    )
    assert action_of(full_then_modified, STUDY_DATE) is Action.C
    assert action_of(modified_then_full, STUDY_DATE) is Action.K
    assert full_then_modified.unlisted_dates is Action.C
    assert modified_then_full.unlisted_dates is Action.K


def test_extends_gives_parent_methods_in_order_then_own(tmp_path: Path) -> None:
    path = write(
        tmp_path / "site.yaml",
        "extends: [basic, retain-long-modified-dates]\n"
        "method:\n  label: Example Hospital research export v1\n"
        "rules:\n  - keyword: PatientSex\n    action: K\n",
    )
    compiled = stack(str(path))
    assert compiled.names == ("basic", "retain-long-modified-dates", "site")
    assert [(m.label, m.code) for m in compiled.methods] == [
        ("Basic Application Confidentiality Profile", "113100"),
        ("Retain Longitudinal Temporal Information Modified Dates Option", "113107"),
        ("Example Hospital research export v1", None),
    ]


def test_extends_path_is_relative_to_the_extending_file(tmp_path: Path) -> None:
    write(
        tmp_path / "parent.yaml", "name: parent\nrules:\n  - keyword: PatientSex\n    action: K\n"
    )
    child = write(tmp_path / "sub" / "child.yaml", "extends: ../parent.yaml\n")
    assert stack(str(child)).names == ("parent", "child")


def test_option_already_in_the_extends_chain_is_loaded_once(tmp_path: Path) -> None:
    path = write(tmp_path / "site.yaml", "extends: [basic, retain-uids]\n")
    compiled = stack(str(path), ("retain-uids",))
    assert compiled.names == ("basic", "retain-uids", "site")


def test_later_layer_settings_override_earlier_ones(tmp_path: Path) -> None:
    path = write(
        tmp_path / "site.yaml", "extends: [basic]\nsettings:\n  unlisted_uids: K\n  default: X\n"
    )
    compiled = stack(str(path))
    assert compiled.unlisted_uids is Action.K
    assert compiled.default is Action.X
    assert compiled.unlisted_dates is Action.X_Z  # from basic


@pytest.mark.parametrize("name", sorted(set(BUILTINS) - {"basic"}))
def test_a_built_in_option_given_as_the_profile_is_refused(name: str) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile(name)
    assert str(info.value) == (
        f"--profile: {name!r} is an option, not a profile: it changes what the Basic Profile "
        f"does and cannot run alone; use --option {name} (the profile is basic by default)"
    )


def test_a_profile_that_does_not_extend_basic_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "site.yaml", "rules:\n  - keyword: PatientName\n    action: X\n")
    with pytest.raises(ProfileError) as info:
        validate_file(path)
    assert str(info.value) == (
        f"{path}: profile 'site' does not extend basic; every profile must start from the "
        "Basic Profile (add 'extends: basic'), or attributes no rule names would be kept"
    )


def test_a_profile_that_extends_only_an_option_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "site.yaml", "extends: retain-uids\n")
    with pytest.raises(ProfileError, match="profile 'site' does not extend basic"):
        load_profile(str(path), ("clean-descriptors",))


@pytest.mark.parametrize("profile", ["basic", "retain-uids", "site.yaml"])
def test_basic_given_as_an_option_is_refused(tmp_path: Path, profile: str) -> None:
    """It would add nothing (every stack starts from basic), or, layered last, override the
    option or the profile given before it; either way the command line is not what runs."""
    site = "extends: basic\nrules:\n  - keyword: PatientSex\n    action: K\n"
    write(tmp_path / "site.yaml", site)
    ref = str(tmp_path / profile) if profile.endswith(".yaml") else profile
    with pytest.raises(ProfileError) as info:
        load_profile(ref, ("retain-uids", "basic"))
    assert str(info.value) == (
        "--option: 'basic' is a built-in profile, not an option: every run starts from it "
        "(--profile basic is the default); leave it out, or name an option "
        "(dicomscrub profiles list)"
    )


def test_a_profile_file_given_as_an_option_is_layered(tmp_path: Path) -> None:
    """A file without ``kind`` is a profile by default; given with --option, it is layered as
    written (only the built-in profile is refused as an option)."""
    path = write(tmp_path / "site.yaml", "rules:\n  - keyword: PatientSex\n    action: K\n")
    assert load_profile("basic", (str(path),)).names == ("basic", "site")


def test_basic_reached_through_a_parent_file_is_enough(tmp_path: Path) -> None:
    write(tmp_path / "parent.yaml", "extends: basic\n")
    child = write(tmp_path / "child.yaml", "extends: parent.yaml\n")
    assert load_profile(str(child), ("retain-uids",)).names == (
        "basic",
        "parent",
        "child",
        "retain-uids",
    )


@pytest.mark.parametrize("key", ["default", "unlisted_dates", "unlisted_names"])
@pytest.mark.parametrize("action", ["U", "X/Z/U*"])
def test_a_uid_action_on_a_setting_for_more_than_uids_is_an_error(
    tmp_path: Path, key: str, action: str
) -> None:
    """``settings: {default: U}`` validated, and then every file failed in the run ("cannot
    de-identify: ValueError: could not convert string to float"): U cannot replace a DS."""
    path = write(tmp_path / "p.yaml", f'settings:\n  {key}: "{action}"\n')
    assert error_of(path) == (
        f"{path}:2:{len(key) + 5}: settings.{key}: {action} replaces UIDs, and this setting also "
        "applies to attributes that are no UIDs: use D, Z, X, K or C (unlisted_uids sets the "
        "action for UIDs)"
    )


def test_a_uid_action_on_unlisted_uids_is_no_error(tmp_path: Path) -> None:
    path = write(tmp_path / "p.yaml", 'settings:\n  unlisted_uids: "X/Z/U*"\n')
    assert stack(str(path)).unlisted_uids is Action.X_Z_U
