"""The Basic Profile as seen in the output files: X, Z and D at every depth, no private elements,
and the de-identification method attributes of PS3.15 E.1.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_support import (
    BASIC_LABEL,
    SAFE_PRIVATE_LABEL,
    BasicRules,
    Run,
    Synthetic,
    Tree,
    is_empty,
    is_private_tag,
    load_basic_rules,
    multi,
    read_output,
    tag_text,
    walk,
)
from pydicom.dataset import Dataset

ODD_LOW = frozenset({0x0001, 0x0003, 0x0005, 0x0007})


@pytest.fixture(scope="module")
def rules() -> BasicRules:
    rules = load_basic_rules()
    assert len(rules.remove) > 300 and len(rules.empty) > 30 and len(rules.dummy) > 80
    assert rules.removes(0x50001234) and rules.removes(0x60023000) and rules.removes(0x601E4000)
    return rules


def _basic_outputs(
    corpus_outputs: dict[str, Dataset | None], synthetic_run: Run, examples_run: Run
) -> Iterator[tuple[str, Dataset]]:
    for rel, ds in corpus_outputs.items():
        if ds is not None:
            yield f"corpus:{rel}", ds
    for run, label in ((synthetic_run, "synthetic"), (examples_run, "examples")):
        for rel, path in run.written().items():
            yield f"{label}:{rel}", read_output(path)


@pytest.fixture(scope="module")
def basic_outputs(
    corpus_outputs: dict[str, Dataset | None], synthetic_run: Run, examples_run: Run
) -> list[tuple[str, Dataset]]:
    """Every output written under the plain Basic Profile (corpus, synthetic, examples)."""
    outputs = list(_basic_outputs(corpus_outputs, synthetic_run, examples_run))
    assert len(outputs) > 100
    return outputs


def test_no_attribute_the_basic_profile_removes_survives_at_any_depth(
    basic_outputs: list[tuple[str, Dataset]], rules: BasicRules
) -> None:
    survivors = [
        (name, path + tag_text(int(elem.tag)))
        for name, ds in basic_outputs
        for path, elem in walk(ds)
        if rules.removes(int(elem.tag))
    ]
    assert survivors == []


def test_every_z_attribute_is_empty_at_any_depth(
    basic_outputs: list[tuple[str, Dataset]], rules: BasicRules
) -> None:
    seen = 0
    not_empty = []
    for name, ds in basic_outputs:
        for path, elem in walk(ds):
            if int(elem.tag) in rules.empty:
                seen += 1
                if not is_empty(elem):
                    not_empty.append((name, path + tag_text(int(elem.tag))))
    assert seen > 100  # Study Date, Accession Number, Patient's Name ... in almost every file
    assert not_empty == []


def test_every_d_attribute_is_non_empty_at_any_depth(
    basic_outputs: list[tuple[str, Dataset]], rules: BasicRules
) -> None:
    seen = 0
    empty = []
    for name, ds in basic_outputs:
        for path, elem in walk(ds):
            if int(elem.tag) in rules.dummy:
                seen += 1
                if is_empty(elem):
                    empty.append((name, path + tag_text(int(elem.tag))))
    assert seen >= 5  # Content Sequence, RT Plan Label, Structure Set Label ...
    assert empty == []


def test_compound_codes_resolve_as_documented_never_to_a_removal(
    basic_outputs: list[tuple[str, Dataset]], rules: BasicRules
) -> None:
    """actions.py: on an element, D if the code allows D, else Z; on a sequence, Z (no items) if
    the code allows Z, else D (one item)."""
    seen = 0
    wrong = []
    for name, ds in basic_outputs:
        for path, elem in walk(ds):
            code = rules.compound.get(int(elem.tag))
            if code is None:
                continue
            seen += 1
            parts = code.split("/")
            expect_empty = "Z" in parts if elem.VR == "SQ" else "D" not in parts
            if is_empty(elem) != expect_empty:
                wrong.append((name, path + tag_text(int(elem.tag)), code))
    assert seen > 500
    assert wrong == []


def test_no_private_element_survives_under_basic(basic_outputs: list[tuple[str, Dataset]]) -> None:
    survivors = [
        (name, path + tag_text(int(elem.tag)))
        for name, ds in basic_outputs
        for path, elem in walk(ds)
        if is_private_tag(int(elem.tag))
    ]
    assert survivors == []


def test_every_output_says_it_was_deidentified_with_the_basic_profile(
    basic_outputs: list[tuple[str, Dataset]],
) -> None:
    for name, ds in basic_outputs:
        assert ds.get("PatientIdentityRemoved") == "YES", name
        assert multi(ds, "DeidentificationMethod")[-1] == BASIC_LABEL, name
        last = ds.DeidentificationMethodCodeSequence[-1]
        assert (last.CodeValue, last.CodingSchemeDesignator) == ("113100", "DCM"), name


def test_longitudinal_temporal_information_is_marked_removed_under_basic(
    basic_outputs: list[tuple[str, Dataset]],
) -> None:
    """Basic removes or blanks every date (unlisted ones by X/Z): (0028,0303) says REMOVED."""
    for name, ds in basic_outputs:
        assert ds.get("LongitudinalTemporalInformationModified") == "REMOVED", name


def test_retain_safe_private_adds_its_method_after_basic(synthetic_safe_private_run: Run) -> None:
    written = synthetic_safe_private_run.written()
    assert len(written) == 4
    for rel, path in written.items():
        ds = read_output(path)
        assert ds.PatientIdentityRemoved == "YES", rel
        assert multi(ds, "DeidentificationMethod")[-2:] == [BASIC_LABEL, SAFE_PRIVATE_LABEL], rel
        codes = [
            (item.CodeValue, item.CodingSchemeDesignator)
            for item in ds.DeidentificationMethodCodeSequence
        ]
        assert codes[-2:] == [("113100", "DCM"), ("113111", "DCM")], rel


def _predeid_output(run: Run, synthetic: Synthetic) -> Dataset:
    return read_output(run.written()[synthetic.predeid])


def test_earlier_deidentification_method_is_kept_first_and_basic_appended(
    synthetic: Synthetic, synthetic_run: Run
) -> None:
    ds = _predeid_output(synthetic_run, synthetic)
    assert ds.PatientIdentityRemoved == "YES"
    assert multi(ds, "DeidentificationMethod") == ["Earlier tool v1", BASIC_LABEL]
    items = list(ds.DeidentificationMethodCodeSequence)
    assert len(items) == 2
    assert items[0].CodeValue == "113100"
    assert items[0].CodeMeaning == "Basic Application Confidentiality Profile (Earlier tool v1)"
    assert (items[1].CodeValue, items[1].CodingSchemeDesignator) == ("113100", "DCM")


def test_earlier_method_stays_first_when_an_option_is_layered(
    synthetic: Synthetic, synthetic_safe_private_run: Run
) -> None:
    ds = _predeid_output(synthetic_safe_private_run, synthetic)
    assert multi(ds, "DeidentificationMethod") == [
        "Earlier tool v1",
        BASIC_LABEL,
        SAFE_PRIVATE_LABEL,
    ]
    items = list(ds.DeidentificationMethodCodeSequence)
    assert [i.CodeValue for i in items] == ["113100", "113100", "113111"]
    assert items[0].CodeMeaning.endswith("(Earlier tool v1)")


def test_an_earlier_identity_removed_flag_is_not_trusted(
    synthetic: Synthetic, synthetic_run: Run
) -> None:
    """The input says YES but still holds the patient's identity: it is scrubbed all the same."""
    ds = _predeid_output(synthetic_run, synthetic)
    assert str(ds.get("PatientName", "")) == ""
    assert "PatientBirthDate" not in ds or not ds.PatientBirthDate


def test_elements_in_the_forbidden_odd_groups_do_not_survive_under_basic(
    edge_cases_run: Run,
) -> None:
    written = edge_cases_run.written()
    assert sorted(written) == ["nested_private.dcm", "odd.dcm"]
    ds = read_output(written["odd.dcm"])
    survivors = [
        path + tag_text(int(elem.tag)) for path, elem in walk(ds) if int(elem.tag) >> 16 in ODD_LOW
    ]
    assert survivors == []
    assert b"ODDGROUP" not in written["odd.dcm"].read_bytes()


def test_the_odd_group_input_does_hold_the_forbidden_groups(edge_cases: Tree) -> None:
    """Guards the test above: pydicom writes and reads back the odd-group elements."""
    ds = read_output(edge_cases.root / "odd.dcm")
    tags = {int(elem.tag) for _, elem in walk(ds)}
    assert {0x00030010, 0x00031001, 0x00071000} <= tags
    assert ds.AnatomicRegionSequence[0][0x00031001].value == "ODDGROUP^NESTED"
