"""End to end: ``dicomscrub run --option retain-safe-private`` over a small tree whose files declare
their private blocks in (0008,0300) (SAFE, UNSAFE, MIXED with actions, malformed), carry
undeclared and Table E.3.10-1 blocks (one moved to another block byte), a nested private sequence
and UN-encoded private data (implicit VR). Every private element's audit row, the file rows'
counts, the outputs' elements and the rewritten (0008,0300) are checked, and so is the README's
"which private elements left the hospital" query.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import io
import re
import warnings
from pathlib import Path

import pytest
from e2e_support import PYDICOM_TEST_FILES, REPO, Keys, Run, read_input, read_output, run_cli
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_sequence
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian, generate_uid

GEMS = "GEMS_ACQU_01"
PHILIPS = "Philips Imaging DD 001"
SIEMENS = "SIEMENS MR HEADER"
MIXED_UID = "1.2.826.0.1.3680043.8.498.77"
PLANTED = (
    "SECRET^INNER",
    "SECRET^NESTED",
    "SECRET^MIXED-D",
    "SECRET^MIXED-Z",
    "SECRET^MIXED-X",
    "SECRET^MIXED",
    "SECRET^UNSAFE",
    "SECRET^OTHER",
    "SECRET^FILLER",
    "SECRET^GEMS",
    "SECRET^SIEMENS",
    "SECRET^PHILIPS",
    "SECRET^ORPHAN",
    "SECRET^UN",
    "SECRET^BAD",
    MIXED_UID,
)
ITEM = b"\xfe\xff\x00\xe0"
UN_GARBAGE = ITEM + b"\xff\xff\xff\xff" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
BASIC = "Basic Application Confidentiality Profile"
SAFE_PRIVATE = "Retain Safe Private Option"

Row = tuple[str, str, str, str]  # creator, block_status, decision, basis

# ---- what each file must come out as -------------------------------------------------------

DECLARED: dict[str, Row] = {
    "(0019,1001)": ("ACME FILLER", "UNDECLARED", "removed", "not-declared"),
    "(0019,1210)": (GEMS, "UNDECLARED", "removed", "not-declared"),
    "(0019,1223)": (GEMS, "UNDECLARED", "kept", "safe-private-table"),
    "(0019,0010)": ("ACME FILLER", "UNDECLARED", "removed", "creator-of-removed-block"),
    "(0019,0012)": (GEMS, "UNDECLARED", "kept", "creator-of-kept-block"),
    "(0029,1001)": ("ACME SAFE 1.0", "SAFE", "kept", "declared-safe-block"),
    "(0029,1002)[0]/(0011,1001)": ("ACME NESTED", "UNDECLARED", "removed", "not-declared"),
    "(0029,1002)[0]/(0011,0010)": (
        "ACME NESTED",
        "UNDECLARED",
        "removed",
        "creator-of-removed-block",
    ),
    "(0029,1002)": ("ACME SAFE 1.0", "SAFE", "kept", "declared-safe-block"),
    "(0029,0010)": ("ACME SAFE 1.0", "SAFE", "kept", "creator-of-kept-block"),
    "(0031,1001)": ("ACME MIXED 1.0", "MIXED", "kept", "listed-nonidentifying"),
    "(0031,1002)": ("ACME MIXED 1.0", "MIXED", "replaced", "declared-action"),
    "(0031,1003)": ("ACME MIXED 1.0", "MIXED", "emptied", "declared-action"),
    "(0031,1004)": ("ACME MIXED 1.0", "MIXED", "removed", "declared-action"),
    "(0031,1005)": ("ACME MIXED 1.0", "MIXED", "replaced", "declared-action"),
    "(0031,1006)": ("ACME MIXED 1.0", "MIXED", "removed", "identifying-element"),
    "(0031,0010)": ("ACME MIXED 1.0", "MIXED", "kept", "creator-of-kept-block"),
    "(0033,1001)": ("ACME UNSAFE 1.0", "UNSAFE", "removed", "unsafe-block"),
    "(0033,1002)": ("ACME UNSAFE 1.0", "UNSAFE", "removed", "unsafe-block"),
    "(0033,0010)": ("ACME UNSAFE 1.0", "UNSAFE", "removed", "creator-of-removed-block"),
    "(0035,1001)": ("ACME OTHER 1.0", "UNDECLARED", "removed", "not-declared"),
    "(0035,0010)": ("ACME OTHER 1.0", "UNDECLARED", "removed", "creator-of-removed-block"),
}

TABLES: dict[str, Row] = {
    "(0019,100C)": (SIEMENS, "UNDECLARED", "kept", "safe-private-table"),
    "(0019,10F0)": (SIEMENS, "UNDECLARED", "removed", "not-declared"),
    "(0019,1123)": (GEMS, "UNSAFE", "removed", "unsafe-block"),
    "(0019,0010)": (SIEMENS, "UNDECLARED", "kept", "creator-of-kept-block"),
    "(0019,0011)": (GEMS, "UNSAFE", "removed", "creator-of-removed-block"),
    "(0021,1001)": ("", "UNDECLARED", "removed", "no-private-creator"),
    "(2001,1003)": (PHILIPS, "UNDECLARED", "kept", "safe-private-table"),
    "(2001,10F0)": (PHILIPS, "UNDECLARED", "removed", "not-declared"),
    "(2001,0010)": (PHILIPS, "UNDECLARED", "kept", "creator-of-kept-block"),
}

IMPLICIT: dict[str, Row] = {
    "(0029,1001)": ("ACME UN 1.0", "SAFE", "kept", "declared-safe-block"),
    "(0029,1002)": ("ACME UN 1.0", "SAFE", "removed", "declared-safe-block"),
    "(0029,1003)": ("ACME UN 1.0", "SAFE", "kept", "declared-safe-block"),
    "(0029,0010)": ("ACME UN 1.0", "SAFE", "kept", "creator-of-kept-block"),
}

# block group -> (creator, malformed item, the reason the audit must give)
MALFORMED_BLOCKS: dict[int, tuple[str, dict[str, object], str]] = {
    0x0041: ("BAD ORDER", {"status": "MIXED", "listed": [0x02, 0x01]}, "increasing order"),
    0x0043: ("BAD REPEAT", {"status": "MIXED", "listed": [0x01, 0x01]}, "without repeats"),
    0x0045: ("BAD BYTE", {"status": "MIXED", "listed": [0x01, 0x100]}, "above 00FFH"),
    0x0047: ("NO LIST", {"status": "MIXED"}, "MIXED block without"),
    0x0049: ("BAD STATUS", {"status": "PROBABLY"}, "(0008,0303)"),
    0x004B: ("BAD ACTION", {"status": "UNSAFE", "action": "C"}, "(0008,0307)"),
    0x004D: ("TWICE", {"status": "SAFE", "twice": True}, "declared more than once"),
}
MALFORMED: dict[str, Row] = {}
for _group, (_creator, _, _) in MALFORMED_BLOCKS.items():
    MALFORMED[f"({_group:04X},1001)"] = (_creator, "UNSAFE", "removed", "unsafe-block")
    MALFORMED[f"({_group:04X},0010)"] = (_creator, "UNSAFE", "removed", "creator-of-removed-block")

EXPECTED: dict[str, dict[str, Row]] = {
    "declared.dcm": DECLARED,
    "implicit.dcm": IMPLICIT,
    "malformed.dcm": MALFORMED,
    "tables.dcm": TABLES,
}

# ---- building the input tree -------------------------------------------------------------------


def _base(name: str) -> Dataset:
    ds = read_input(PYDICOM_TEST_FILES / "CT_small.dcm")
    assert ds is not None
    ds = copy.deepcopy(ds)
    ds.remove_private_tags()
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["dicomscrub-e2e-private", name])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _decl(
    group: int,
    creator: str,
    status: str,
    listed: list[int] | None = None,
    actions: list[tuple[list[int], str]] | None = None,
) -> Dataset:
    it = Dataset()
    it.PrivateGroupReference = group
    it.PrivateCreatorReference = creator
    it.BlockIdentifyingInformationStatus = status
    if listed is not None:
        it.NonidentifyingPrivateElements = listed
    if actions:
        subs = []
        for ids, action in actions:
            sub = Dataset()
            sub.IdentifyingPrivateElements = ids
            sub.DeidentificationAction = action
            subs.append(sub)
        it.DeidentificationActionSequence = Sequence(subs)
    return it


def _declared() -> Dataset:
    ds = _base("declared")
    ds.add_new(0x00190010, "LO", "ACME FILLER")
    ds.add_new(0x00191001, "LO", "SECRET^FILLER")
    ds.add_new(0x00190012, "LO", GEMS)  # GEMS_ACQU_01 moved to block byte 12
    ds.add_new(0x00191210, "LO", "SECRET^GEMS")
    ds.add_new(0x00191223, "DS", "39.375")  # Table E.3.10-1: Table Speed

    inner = Dataset()
    inner.PatientName = "SECRET^INNER"
    inner.CodeMeaning = "Chest"
    inner.private_block(0x0011, "ACME NESTED", create=True).add_new(0x01, "LO", "SECRET^NESTED")
    safe = ds.private_block(0x0029, "ACME SAFE 1.0", create=True)
    safe.add_new(0x01, "DS", "12.5")
    safe.add_new(0x02, "SQ", Sequence([inner]))

    mixed = ds.private_block(0x0031, "ACME MIXED 1.0", create=True)
    mixed.add_new(0x01, "DS", "1.5")
    mixed.add_new(0x02, "LO", "SECRET^MIXED-D")
    mixed.add_new(0x03, "LO", "SECRET^MIXED-Z")
    mixed.add_new(0x04, "LO", "SECRET^MIXED-X")
    mixed.add_new(0x05, "UI", MIXED_UID)
    mixed.add_new(0x06, "LO", "SECRET^MIXED")

    unsafe = ds.private_block(0x0033, "ACME UNSAFE 1.0", create=True)
    unsafe.add_new(0x01, "DS", "4.5")
    unsafe.add_new(0x02, "LO", "SECRET^UNSAFE")

    ds.private_block(0x0035, "ACME OTHER 1.0", create=True).add_new(0x01, "LO", "SECRET^OTHER")
    ds.PrivateDataElementCharacteristicsSequence = Sequence(
        [
            _decl(0x0029, "ACME SAFE 1.0", "SAFE"),
            _decl(
                0x0031,
                "ACME MIXED 1.0",
                "MIXED",
                [0x01],
                [([0x02], "D"), ([0x03], "Z"), ([0x04], "X"), ([0x05], "U")],
            ),
            _decl(0x0033, "ACME UNSAFE 1.0", "UNSAFE"),
        ]
    )
    return ds


def _tables() -> Dataset:
    ds = _base("tables")
    ds.add_new(0x00190010, "LO", SIEMENS)
    ds.add_new(0x0019100C, "IS", "1000")  # B Value
    ds.add_new(0x001910F0, "LO", "SECRET^SIEMENS")
    ds.add_new(0x00190011, "LO", GEMS)
    ds.add_new(0x00191123, "DS", "39.375")  # in the table, but the file says UNSAFE
    ds.add_new(0x00211001, "LO", "SECRET^ORPHAN")  # no creator
    philips = ds.private_block(0x2001, PHILIPS, create=True)
    philips.add_new(0x03, "FL", 1000.0)  # MR Image Diffusion B-Factor
    philips.add_new(0xF0, "LO", "SECRET^PHILIPS")
    ds.PrivateDataElementCharacteristicsSequence = Sequence([_decl(0x0019, GEMS, "UNSAFE")])
    return ds


def _un_items(inner: Dataset) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = True
    write_dataset(fp, inner)
    body = fp.getvalue()
    return ITEM + len(body).to_bytes(4, "little") + body


def _implicit() -> Dataset:
    ds = _base("implicit")
    inner = Dataset()
    inner.PatientName = "SECRET^UN"
    inner.CodeMeaning = "Chest"
    block = ds.private_block(0x0029, "ACME UN 1.0", create=True)
    block.add_new(0x01, "UN", _un_items(inner))
    block.add_new(0x02, "UN", UN_GARBAGE)
    block.add_new(0x03, "DS", "12.5")
    ds.PrivateDataElementCharacteristicsSequence = Sequence([_decl(0x0029, "ACME UN 1.0", "SAFE")])
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return ds


def _malformed() -> Dataset:
    ds = _base("malformed")
    items = []
    for group, (creator, spec, _) in MALFORMED_BLOCKS.items():
        ds.private_block(group, creator, create=True).add_new(0x01, "LO", "SECRET^BAD")
        listed = spec.get("listed")
        action = spec.get("action")
        it = _decl(
            group,
            creator,
            str(spec["status"]),
            listed if isinstance(listed, list) else None,
            [([0x01], str(action))] if action else None,
        )
        items.append(it)
        if spec.get("twice"):
            items.append(copy.deepcopy(it))
    ds.PrivateDataElementCharacteristicsSequence = Sequence(items)
    return ds


@pytest.fixture(scope="module")
def private_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("private-tree") / "in"
    root.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, build in [
            ("declared.dcm", _declared),
            ("tables.dcm", _tables),
            ("malformed.dcm", _malformed),
        ]:
            build().save_as(root / name, enforce_file_format=True)
        _implicit().save_as(
            root / "implicit.dcm", implicit_vr=True, little_endian=True, enforce_file_format=True
        )
        check = read_input(root / "implicit.dcm")
    assert check is not None
    assert check[0x00291001].VR == "UN"  # precondition: the private data really is UN
    return root


@pytest.fixture(scope="module")
def safe_run(private_tree: Path, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Run:
    work = tmp_path_factory.mktemp("private-safe-run")
    return run_cli(
        [private_tree],
        work / "out",
        keys.a,
        "--option",
        "retain-safe-private",
        "--layout",
        "mirror",
        audit=work / "deid.audit.csv",
    )


@pytest.fixture(scope="module")
def basic_run(private_tree: Path, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Run:
    work = tmp_path_factory.mktemp("private-basic-run")
    return run_cli(
        [private_tree], work / "out", keys.a, "--layout", "mirror", audit=work / "audit.csv"
    )


def _rows(run: Run, rel: str) -> dict[str, Row]:
    rows = run.private_rows(rel)
    out = {r["tag"]: (r["creator"], r["block_status"], r["decision"], r["basis"]) for r in rows}
    assert len(out) == len(rows), f"{rel}: two audit rows for one element"
    return out


def _details(run: Run, rel: str) -> dict[str, str]:
    return {r["tag"]: r["detail"] for r in run.private_rows(rel)}


def _output(run: Run, rel: str) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_output(run.written()[rel])


def _private_tags(ds: Dataset) -> list[int]:
    return sorted(int(t) for t in ds.keys() if (t >> 16) % 2 == 1)  # noqa: SIM118


def _characteristics(ds: Dataset) -> list[tuple[int, str, str]]:
    if "PrivateDataElementCharacteristicsSequence" not in ds:
        return []
    return [
        (int(i.PrivateGroupReference), str(i.PrivateCreatorReference), str(i[0x00080303].value))
        for i in ds.PrivateDataElementCharacteristicsSequence
    ]


def _top_level(expected: dict[str, Row], decision_kept: bool) -> list[int]:
    """Top-level tags of ``expected`` that are (not) removed."""
    return sorted(
        int(tag[1:5] + tag[6:10], 16)
        for tag, row in expected.items()
        if "/" not in tag and (row[2] != "removed") == decision_kept
    )


# ---- the run with --option retain-safe-private -----------------------------------------------


def test_safe_private_run_writes_every_file(safe_run: Run) -> None:
    assert safe_run.exit_code == 0, safe_run.output_text
    assert sorted(safe_run.written()) == sorted(EXPECTED)
    for row in safe_run.file_rows:
        assert row["output"] == row["input"]


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_safe_private_run_audits_every_private_element_with_its_fate_and_basis(
    safe_run: Run, rel: str
) -> None:
    assert _rows(safe_run, rel) == EXPECTED[rel]
    for row in safe_run.private_rows(rel):
        assert row["status"] == "written"
        assert row["output"] == rel
        for column in ("methods", "method_codes", "private_kept", "private_removed"):
            assert row[column] == ""


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_safe_private_run_file_row_counts_kept_and_removed_private_elements(
    safe_run: Run, rel: str
) -> None:
    expected = EXPECTED[rel].values()
    row = safe_run.by_input[rel]
    assert int(row["private_kept"]) == sum(1 for r in expected if r[2] != "removed")
    assert int(row["private_removed"]) == sum(1 for r in expected if r[2] == "removed")
    assert row["methods"] == f"{BASIC}\\{SAFE_PRIVATE}"
    assert row["method_codes"] == "113100\\113111"


def test_safe_private_run_audit_details_say_why(safe_run: Run) -> None:
    declared = _details(safe_run, "declared.dcm")
    assert declared["(0031,1002)"] == "declared action D"
    assert declared["(0031,1003)"] == "declared action Z"
    assert declared["(0031,1004)"] == "declared action X"
    assert declared["(0031,1005)"] == "declared action U"
    implicit = _details(safe_run, "implicit.dcm")
    assert implicit["(0029,1002)"] == "UN value looks like a sequence but cannot be parsed; removed"
    malformed = _details(safe_run, "malformed.dcm")
    for group, (_, _, reason) in MALFORMED_BLOCKS.items():
        detail = malformed[f"({group:04X},1001)"]
        assert detail.startswith("malformed declaration treated as UNSAFE: ")
        assert reason in detail


def test_safe_private_run_audit_never_holds_a_planted_value(safe_run: Run) -> None:
    assert safe_run.audit_text
    for planted in PLANTED:
        assert planted not in safe_run.audit_text


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_safe_private_run_output_holds_exactly_the_elements_not_removed(
    safe_run: Run, rel: str
) -> None:
    ds = _output(safe_run, rel)
    assert _private_tags(ds) == _top_level(EXPECTED[rel], decision_kept=True)


def test_declared_file_output_values_follow_the_decisions(safe_run: Run) -> None:
    ds = _output(safe_run, "declared.dcm")
    assert ds[0x00190012].value == GEMS
    assert ds[0x00191223].value == "39.375"
    assert ds[0x00291001].value == "12.5"
    inner = ds[0x00291002].value[0]
    assert inner.PatientName == ""
    assert inner.CodeMeaning == "Chest"
    assert _private_tags(inner) == []
    assert ds[0x00311001].value == "1.5"
    assert ds[0x00311002].value == "ANONYMIZED"
    assert ds[0x00311003].value == ""
    assert re.fullmatch(r"2\.25\.[1-9][0-9]*", str(ds[0x00311005].value))
    assert ds.PatientName == ""


def test_tables_file_output_keeps_the_table_listed_values(safe_run: Run) -> None:
    ds = _output(safe_run, "tables.dcm")
    assert ds[0x00190010].value == SIEMENS
    assert ds[0x0019100C].value == "1000"
    assert ds[0x20011003].value == 1000.0


def test_implicit_file_output_keeps_the_un_sequence_parsed_and_cleaned(safe_run: Run) -> None:
    path = safe_run.written()["implicit.dcm"]
    ds = _output(safe_run, "implicit.dcm")
    assert ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    elem = ds[0x00291001]
    if elem.VR == "UN":  # an unknown private sequence in an implicit VR file reads back as UN
        raw = elem.value
        assert raw[:4] == ITEM
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            items = read_sequence(io.BytesIO(raw), True, True, len(raw), "iso8859")
    else:
        items = elem.value
    assert len(items) == 1
    inner = items[0]
    assert inner.PatientName == ""
    assert inner.CodeMeaning == "Chest"
    assert ds[0x00291003].value == b"12.5"
    assert b"SECRET" not in path.read_bytes()


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        (
            "declared.dcm",
            [
                (0x0019, GEMS, "SAFE"),
                (0x0029, "ACME SAFE 1.0", "SAFE"),
                (0x0031, "ACME MIXED 1.0", "SAFE"),
            ],
        ),
        ("tables.dcm", [(0x0019, SIEMENS, "SAFE"), (0x2001, PHILIPS, "SAFE")]),
        ("implicit.dcm", [(0x0029, "ACME UN 1.0", "SAFE")]),
        ("malformed.dcm", []),
    ],
)
def test_safe_private_run_rewrites_characteristics_to_the_blocks_left(
    safe_run: Run, rel: str, expected: list[tuple[int, str, str]]
) -> None:
    ds = _output(safe_run, rel)
    assert _characteristics(ds) == expected
    for it in ds.get("PrivateDataElementCharacteristicsSequence", []):
        assert 0x00080304 not in it
        assert 0x00080305 not in it


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_safe_private_run_outputs_carry_both_method_codes(safe_run: Run, rel: str) -> None:
    ds = _output(safe_run, rel)
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == ["113100", "113111"]
    assert list(ds.DeidentificationMethod) == [BASIC, SAFE_PRIVATE]


def _readme_query() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index("Which private elements left the hospital")
    match = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert match is not None
    return match.group(1)


def test_readme_query_prints_exactly_the_private_elements_that_left(
    safe_run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = _readme_query()
    assert 'open("deid.audit.csv")' in code
    assert safe_run.audit_path.name == "deid.audit.csv"
    monkeypatch.chdir(safe_run.audit_path.parent)
    out = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out):
        warnings.simplefilter("ignore", ResourceWarning)  # the snippet leaves its file to the GC
        exec(compile(code, "README.md", "exec"), {})
        gc.collect()
    expected = sorted(
        f"{rel} {tag} {creator} {decision} {basis}"
        for rel, rows in EXPECTED.items()
        for tag, (creator, _, decision, basis) in rows.items()
        if decision != "removed"
    )
    assert sorted(out.getvalue().splitlines()) == expected


# ---- the same tree without the option ---------------------------------------------------------


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_basic_run_removes_every_private_element_and_the_declarations(
    basic_run: Run, rel: str
) -> None:
    assert basic_run.exit_code == 0, basic_run.output_text
    rows = _rows(basic_run, rel)
    assert set(rows) == set(EXPECTED[rel])
    for tag, (creator, status, decision, basis) in rows.items():
        expected_creator, expected_status, _, expected_basis = EXPECTED[rel][tag]
        assert (creator, status, decision) == (expected_creator, expected_status, "removed")
        if expected_basis == "no-private-creator":
            assert basis == "no-private-creator"
        elif "/" in tag:  # nested in a private sequence that basic removes
            assert basis == "enclosing-sequence-removed"
        elif tag[-5:-3] == "00":  # (gggg,00xx): a private creator
            assert basis == "creator-of-removed-block"
        else:
            assert basis == "basic-profile"
    file_row = basic_run.by_input[rel]
    assert file_row["private_kept"] == "0"
    assert int(file_row["private_removed"]) == len(EXPECTED[rel])
    assert file_row["method_codes"] == "113100"
    assert file_row["methods"] == BASIC
    ds = _output(basic_run, rel)
    assert _private_tags(ds) == []
    assert "PrivateDataElementCharacteristicsSequence" not in ds
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == ["113100"]
    for planted in PLANTED:
        assert planted not in basic_run.audit_text
