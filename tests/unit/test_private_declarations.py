"""Private elements under the Retain Safe Private Option (PS3.15 E.3.10): the file's own
declarations in (0008,0300), their precedence over Table E.3.10-1 and profile rules, what happens to
every private element (and its audit record), and the rewritten (0008,0300).

Data sets start from pydicom's CT_small.dcm with its private tags stripped; private blocks are added
by each test.
"""

from __future__ import annotations

import copy
import functools
import io
import warnings
from collections.abc import Iterable
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian

from dicomscrub.pipeline import PrivateRecord, Scrubber, ScrubResult
from dicomscrub.private import (
    BlockStatus,
    Declaration,
    Fate,
    Verdict,
    identifying_verdict,
    read_declarations,
    safe_verdict,
)
from dicomscrub.profile.loader import ProfileError, load_profile
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.pseudonym import Key, Pseudonymizer

SAFE_LABEL = "Retain Safe Private Option"
BASIC_LABEL = "Basic Application Confidentiality Profile"
GEMS = "GEMS_ACQU_01"
PHILIPS = "Philips Imaging DD 001"
SIEMENS = "SIEMENS MR HEADER"
SECRET = "SECRET^NAME"
MALFORMED = "malformed declaration treated as UNSAFE: "
UN_UNPARSEABLE = "UN value looks like a sequence but cannot be parsed; removed"
ITEM = b"\xfe\xff\x00\xe0"
# An item of undefined length closed by a Sequence Delimitation Item: pydicom cannot parse it.
UN_GARBAGE = ITEM + b"\xff\xff\xff\xff" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


# ---- helpers ------------------------------------------------------------------------------------


@functools.cache
def _ct_small() -> Dataset:
    path = get_testdata_file("CT_small.dcm", download=False)
    assert path is not None
    return pydicom.dcmread(path)


def base() -> Dataset:
    """CT_small.dcm without any private element (and without any (0008,0300))."""
    ds = copy.deepcopy(_ct_small())
    ds.remove_private_tags()
    assert not any(int(t) >> 16 & 1 for t in ds.keys())  # noqa: SIM118
    assert "PrivateDataElementCharacteristicsSequence" not in ds
    return ds


@functools.cache
def safe_private() -> CompiledProfile:
    return load_profile("basic", ("retain-safe-private",))


@functools.cache
def basic_only() -> CompiledProfile:
    return load_profile("basic")


def scrub(ds: Dataset, profile: CompiledProfile, key: Key) -> ScrubResult:
    """Scrub as process_file does: pydicom's warnings silenced (pytest turns them into errors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Scrubber(profile, Pseudonymizer(key)).scrub(ds)


def item(
    group: int | None = None,
    creator: str | None = None,
    status: str | None = None,
    listed: list[int] | None = None,
    actions: Iterable[tuple[list[int], str]] = (),
) -> Dataset:
    """One (0008,0300) item; ``None`` leaves the attribute out."""
    it = Dataset()
    if group is not None:
        it.PrivateGroupReference = group
    if creator is not None:
        it.PrivateCreatorReference = creator
    if status is not None:
        it.BlockIdentifyingInformationStatus = status
    if listed is not None:
        it.NonidentifyingPrivateElements = listed
    subs = []
    for ids, action in actions:
        sub = Dataset()
        sub.IdentifyingPrivateElements = ids
        sub.DeidentificationAction = action
        subs.append(sub)
    if subs:
        it.DeidentificationActionSequence = Sequence(subs)
    return it


def written_as(it: Dataset, tag: int, raw: bytes, sub: bool = False) -> Dataset:
    """``it`` (or its first action item) with ``tag`` as the file wrote it, unchecked: values
    pydicom would not make (a CS in lower case)."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag

    where = it.DeidentificationActionSequence[0] if sub else it
    where[tag] = RawDataElement(Tag(tag), "CS", len(raw), raw, 0, False, True)
    return it


def declare(ds: Dataset, *items: Dataset) -> Dataset:
    ds.PrivateDataElementCharacteristicsSequence = Sequence(list(items))
    return ds


def outcomes(result: ScrubResult) -> dict[str, tuple[str, str, str, str]]:
    """tag path -> (creator, block_status, decision, basis); one record per element."""
    out = {r.tag: (r.creator, r.block_status, r.decision, r.basis) for r in result.private}
    assert len(out) == len(result.private), "two records for one element"
    return out


def details(result: ScrubResult) -> dict[str, str]:
    return {r.tag: r.detail for r in result.private}


def private_tags(ds: Dataset) -> list[int]:
    return [int(t) for t in ds.keys() if (t >> 16) % 2 == 1]  # noqa: SIM118


def characteristics(ds: Dataset) -> list[tuple[int, str, str]]:
    """The output's (0008,0300) as (group, creator, status) per item."""
    return [
        (int(i.PrivateGroupReference), str(i.PrivateCreatorReference), str(i[0x00080303].value))
        for i in ds.PrivateDataElementCharacteristicsSequence
    ]


def codes(ds: Dataset) -> list[str]:
    return [str(i.CodeValue) for i in ds.get("DeidentificationMethodCodeSequence", [])]


def methods(ds: Dataset) -> list[str]:
    if "DeidentificationMethod" not in ds:
        return []
    elem = ds["DeidentificationMethod"]
    return [str(v) for v in elem.value] if elem.VM > 1 else [str(elem.value)]


def un_items(*datasets: Dataset) -> bytes:
    """Items encoded as a UN value holds a sequence: implicit VR little endian, defined lengths."""
    out = b""
    for ds in datasets:
        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = True
        write_dataset(fp, ds)
        body = fp.getvalue()
        out += ITEM + len(body).to_bytes(4, "little") + body
    return out


def implicit_roundtrip(ds: Dataset) -> Dataset:
    """Write ``ds`` as Implicit VR Little Endian and read it back (unknown private data -> UN)."""
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, implicit_vr=True, little_endian=True)
        buffer.seek(0)
        return pydicom.dcmread(buffer, force=True)


def write_profile(tmp_path: Path, name: str, text: str) -> CompiledProfile:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return load_profile(str(path))


# ---- read_declarations -----------------------------------------------------------------------


def test_read_declarations_without_the_sequence_is_empty() -> None:
    assert read_declarations(base()) == {}


def test_read_declarations_reads_safe_unsafe_and_mixed_blocks_by_group_and_creator() -> None:
    ds = declare(
        base(),
        item(0x0029, "ACME SAFE", "SAFE"),
        item(0x0031, "ACME UNSAFE", "UNSAFE", actions=[([0x02, 0x05], "D")]),
        item(0x0031, "ACME MIXED", "MIXED", [0x01, 0x03], [([0x02], "Z"), ([0x04, 0x06], "U")]),
    )
    assert read_declarations(ds) == {
        (0x0029, "ACME SAFE"): Declaration(0x0029, "ACME SAFE", BlockStatus.SAFE, item_index=0),
        (0x0031, "ACME UNSAFE"): Declaration(
            0x0031, "ACME UNSAFE", BlockStatus.UNSAFE, actions={2: "D", 5: "D"}, item_index=1
        ),
        (0x0031, "ACME MIXED"): Declaration(
            0x0031,
            "ACME MIXED",
            BlockStatus.MIXED,
            nonidentifying=frozenset({1, 3}),
            actions={2: "Z", 4: "U", 6: "U"},
            item_index=2,
        ),
    }


def test_read_declarations_accepts_an_empty_nonidentifying_list_for_a_mixed_block() -> None:
    ds = declare(base(), item(0x0029, "ACME", "MIXED", []))
    decl = read_declarations(ds)[(0x0029, "ACME")]
    assert decl.status is BlockStatus.MIXED and decl.problem == ""
    assert not any(decl.is_safe(b) for b in range(0x100))


def test_read_declarations_reads_a_byte_list_left_undecoded_as_un() -> None:
    it = item(0x0029, "ACME", "MIXED")
    it.add_new(0x00080304, "UN", b"\x01\x00\x03\x00")
    decl = read_declarations(declare(base(), it))[(0x0029, "ACME")]
    assert decl.nonidentifying == frozenset({1, 3})
    assert decl.problem == ""


def test_read_declarations_ignores_surrounding_spaces_in_creator_and_status() -> None:
    ds = declare(base(), item(0x0029, " ACME ", "SAFE "))
    assert read_declarations(ds)[(0x0029, "ACME")].status is BlockStatus.SAFE


def _with_vr(it: Dataset, tag: int, vr: str) -> Dataset:
    """``it`` with the numbers of ``tag`` written with VR ``vr`` instead of US."""
    values = it[tag].value
    it.add_new(tag, vr, list(values) if isinstance(values, MultiValue | list) else values)
    return it


MALFORMED_ITEMS = [
    pytest.param(
        _with_vr(item(0x0029, "ACME", "MIXED", [0x01, 0x03]), 0x00080304, "UL"),
        "Nonidentifying Private Elements (0008,0304) has VR UL, not US",
        id="0304-as-ul",
    ),
    pytest.param(
        _with_vr(item(0x0029, "ACME", "UNSAFE", actions=[]), 0x00080301, "SS"),
        "Private Group Reference (0008,0301) has VR SS, not US",
        id="0301-as-ss",
    ),
    pytest.param(
        item(0x0029, "ACME", "MIXED", [0x03, 0x01]),
        "(0008,0304) is not in increasing order",
        id="0304-not-increasing",
    ),
    pytest.param(
        item(0x0029, "ACME", "MIXED", [0x01, 0x01]),
        "(0008,0304) is not in increasing order without repeats",
        id="0304-repeated-value",
    ),
    pytest.param(
        item(0x0029, "ACME", "MIXED", [0x01, 0x100]),
        "(0008,0304) holds a value above 00FFH",
        id="0304-value-above-ff",
    ),
    pytest.param(
        item(0x0029, "ACME", "SAFE", [0x100]),
        "(0008,0304) holds a value above 00FFH",
        id="0304-above-ff-in-safe-block",
    ),
    pytest.param(
        item(0x0029, "ACME", "MIXED"),
        "MIXED block without Nonidentifying Private Elements (0008,0304)",
        id="mixed-without-0304",
    ),
    pytest.param(
        item(0x0029, "ACME", "MAYBE"),
        "(0008,0303) is not SAFE, UNSAFE or MIXED",
        id="bad-status-text",
    ),
    pytest.param(
        item(0x0029, "ACME"),
        "(0008,0303) is not SAFE, UNSAFE or MIXED",
        id="missing-status",
    ),
    pytest.param(  # CS is upper case: no Enumerated Value, so not a declaration of safety
        written_as(item(0x0029, "ACME"), 0x00080303, b"safe"),
        "(0008,0303) is not SAFE, UNSAFE or MIXED",
        id="lower-case-status",
    ),
    pytest.param(
        written_as(
            item(0x0029, "ACME", "UNSAFE", actions=[([0x02], "X")]), 0x00080307, b"d", sub=True
        ),
        "Deidentification Action (0008,0307) is not D, Z, X or U",
        id="lower-case-action",
    ),
    pytest.param(
        item(0x0029, "ACME", "MIXED", [0x01], [([0x02], "C")]),
        "Deidentification Action (0008,0307) is not D, Z, X or U",
        id="bad-action-c",
    ),
    pytest.param(
        item(0x0029, "ACME", "UNSAFE", actions=[([0x02], "")]),
        "Deidentification Action (0008,0307) is not D, Z, X or U",
        id="empty-action",
    ),
    pytest.param(
        item(0x0029, "ACME", "UNSAFE", actions=[([0x04, 0x02], "X")]),
        "(0008,0306) is not in increasing order",
        id="0306-not-increasing",
    ),
    pytest.param(
        item(0x0029, "ACME", "UNSAFE", actions=[([0x1FF], "X")]),
        "(0008,0306) holds a value above 00FFH",
        id="0306-value-above-ff",
    ),
    pytest.param(
        item(0x0029, "ACME", "UNSAFE", actions=[([], "X")]),
        "Identifying Private Elements (0008,0306) missing",
        id="0306-empty",
    ),
    pytest.param(
        item(0x0029, "ACME", "UNSAFE", actions=[([0x02], "D"), ([0x02], "X")]),
        "two different actions declared for one element",
        id="two-actions-one-element",
    ),
    pytest.param(  # (0008,0306) says element 02 may be identifying; SAFE says none is
        item(0x0029, "ACME", "SAFE", actions=[([0x02], "X")]),
        "SAFE block with Identifying Private Elements (0008,0306)",
        id="safe-block-with-identifying-element",
    ),
    pytest.param(  # element 02 both non-identifying (0304) and identifying (0306)
        item(0x0029, "ACME", "MIXED", [0x01, 0x02], [([0x02], "X")]),
        "both in Nonidentifying Private Elements (0008,0304) and in Identifying",
        id="0304-and-0306-name-one-element",
    ),
]


@pytest.mark.parametrize(("bad", "problem"), MALFORMED_ITEMS)
def test_read_declarations_turns_a_malformed_item_into_an_unsafe_block_that_says_why(
    bad: Dataset, problem: str
) -> None:
    decls = read_declarations(declare(base(), bad))
    assert list(decls) == [(0x0029, "ACME")]
    decl = decls[(0x0029, "ACME")]
    assert decl.status is BlockStatus.UNSAFE
    assert problem in decl.problem
    assert decl.actions == {}
    assert not any(decl.is_safe(b) for b in range(0x100))


def test_read_declarations_does_not_parse_a_non_sequence_action_value() -> None:
    it = item(0x0029, "ACME", "UNSAFE")
    it.add_new(0x00080305, "LO", "D")  # a text where a sequence belongs
    decl = read_declarations(declare(base(), it))[(0x0029, "ACME")]
    assert decl.status is BlockStatus.UNSAFE
    assert "(0008,0305) is not a sequence" in decl.problem


def test_read_declarations_marks_an_even_group_reference_unsafe() -> None:
    decls = read_declarations(declare(base(), item(0x0018, "ACME", "SAFE")))
    assert decls[(0x0018, "ACME")].status is BlockStatus.UNSAFE
    assert "(0008,0301) is not an odd (private) group" in decls[(0x0018, "ACME")].problem


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(item(None, "ACME", "SAFE"), id="missing-0301"),
        pytest.param(item(0x0029, None, "SAFE"), id="missing-0302"),
        pytest.param(item(0x0029, "  ", "SAFE"), id="blank-0302"),
    ],
)
def test_read_declarations_never_lets_an_item_without_group_or_creator_make_anything_safe(
    bad: Dataset,
) -> None:
    decls = read_declarations(declare(base(), bad))
    assert all(not d.is_safe(b) for d in decls.values() for b in range(0x100))


def test_read_declarations_marks_a_block_declared_twice_unsafe() -> None:
    ds = declare(
        base(),
        item(0x0029, "ACME", "SAFE"),
        item(0x0029, "OTHER", "SAFE"),
        item(0x0029, "ACME", "SAFE"),
    )
    decls = read_declarations(ds)
    assert decls[(0x0029, "ACME")].status is BlockStatus.UNSAFE
    assert decls[(0x0029, "ACME")].problem == "block declared more than once"
    assert decls[(0x0029, "OTHER")].status is BlockStatus.SAFE


# ---- precedence: safe_verdict / identifying_verdict -------------------------------------------

SAFE_DECL = Declaration(0x0029, "ACME", BlockStatus.SAFE)
UNSAFE_DECL = Declaration(0x0029, "ACME", BlockStatus.UNSAFE)
UNSAFE_WITH_ACTION = Declaration(0x0029, "ACME", BlockStatus.UNSAFE, actions={0x23: "D"})
MIXED_DECL = Declaration(
    0x0029, "ACME", BlockStatus.MIXED, nonidentifying=frozenset({0x01}), actions={0x02: "Z"}
)
MIXED_LISTED_AND_ACTION = Declaration(
    0x0029, "ACME", BlockStatus.MIXED, nonidentifying=frozenset({0x23}), actions={0x23: "X"}
)
BROKEN_DECL = Declaration(0x0029, "ACME", BlockStatus.UNSAFE, problem="it is broken")

K, R, A = Fate.KEEP, Fate.REMOVE, Fate.DECLARED_ACTION
UND, SAFE, UNSAFE, MIXED = (
    BlockStatus.UNDECLARED,
    BlockStatus.SAFE,
    BlockStatus.UNSAFE,
    BlockStatus.MIXED,
)


@pytest.mark.parametrize(
    ("decl", "byte", "table", "listed", "expected"),
    [
        (None, 0x23, False, False, Verdict(R, "not-declared", UND)),
        (None, 0x23, True, False, Verdict(K, "safe-private-table", UND)),
        (None, 0x23, False, True, Verdict(K, "profile-safe-list", UND)),
        (None, 0x23, True, True, Verdict(K, "safe-private-table", UND)),
        (SAFE_DECL, 0x23, False, False, Verdict(K, "declared-safe-block", SAFE)),
        (SAFE_DECL, 0x23, True, True, Verdict(K, "declared-safe-block", SAFE)),
        (UNSAFE_DECL, 0x23, True, True, Verdict(R, "unsafe-block", UNSAFE)),
        (UNSAFE_WITH_ACTION, 0x23, True, False, Verdict(A, "declared-action", UNSAFE, "D")),
        (UNSAFE_WITH_ACTION, 0x24, True, False, Verdict(R, "unsafe-block", UNSAFE)),
        (MIXED_DECL, 0x01, False, False, Verdict(K, "listed-nonidentifying", MIXED)),
        (MIXED_DECL, 0x02, True, True, Verdict(A, "declared-action", MIXED, "Z")),
        (MIXED_DECL, 0x23, True, True, Verdict(R, "identifying-element", MIXED)),
        (MIXED_LISTED_AND_ACTION, 0x23, False, False, Verdict(K, "listed-nonidentifying", MIXED)),
        (
            BROKEN_DECL,
            0x23,
            True,
            True,
            Verdict(R, "unsafe-block", UNSAFE, detail=MALFORMED + "it is broken"),
        ),
    ],
    ids=[
        "undeclared-unlisted-removed",
        "undeclared-table-kept",
        "undeclared-profile-list-kept",
        "table-before-profile-list",
        "safe-block-kept",
        "safe-block-before-table",
        "unsafe-block-beats-table-and-profile-list",
        "unsafe-block-declared-action",
        "unsafe-block-other-element-removed",
        "mixed-listed-kept",
        "mixed-declared-action-beats-table",
        "mixed-unlisted-beats-table",
        "mixed-listed-beats-action",
        "malformed-beats-everything",
    ],
)
def test_safe_verdict_follows_the_documented_precedence(
    decl: Declaration | None, byte: int, table: bool, listed: bool, expected: Verdict
) -> None:
    assert safe_verdict(decl, byte, table, listed) == expected


@pytest.mark.parametrize(
    ("decl", "byte", "expected"),
    [
        (None, 0x23, None),
        (SAFE_DECL, 0x23, None),
        (MIXED_DECL, 0x01, None),
        (MIXED_DECL, 0x23, Verdict(R, "identifying-element", MIXED)),
        (MIXED_DECL, 0x02, Verdict(A, "declared-action", MIXED, "Z")),
        (UNSAFE_DECL, 0x01, Verdict(R, "unsafe-block", UNSAFE)),
        (UNSAFE_WITH_ACTION, 0x23, Verdict(A, "declared-action", UNSAFE, "D")),
        (BROKEN_DECL, 0x01, Verdict(R, "unsafe-block", UNSAFE, detail=MALFORMED + "it is broken")),
    ],
    ids=[
        "undeclared",
        "safe",
        "mixed-listed",
        "mixed-unlisted",
        "mixed-action",
        "unsafe",
        "unsafe-action",
        "malformed",
    ],
)
def test_identifying_verdict_flags_only_what_the_file_declares_identifying(
    decl: Declaration | None, byte: int, expected: Verdict | None
) -> None:
    assert identifying_verdict(decl, byte) == expected


# ---- the scrubber: declared blocks -------------------------------------------------------------


def test_declared_safe_block_keeps_every_element_and_its_creator(key: Key) -> None:
    ds = base()
    block = ds.private_block(0x0029, "ACME SAFE", create=True)
    block.add_new(0x01, "DS", "12.5")
    block.add_new(0x02, "LO", "SAFE TEXT")
    declare(ds, item(0x0029, "ACME SAFE", "SAFE"))
    result = scrub(ds, safe_private(), key)
    assert private_tags(ds) == [0x00290010, 0x00291001, 0x00291002]
    assert ds[0x00291001].value == "12.5"
    assert ds[0x00291002].value == "SAFE TEXT"
    assert outcomes(result) == {
        "(0029,1001)": ("ACME SAFE", "SAFE", "kept", "declared-safe-block"),
        "(0029,1002)": ("ACME SAFE", "SAFE", "kept", "declared-safe-block"),
        "(0029,0010)": ("ACME SAFE", "SAFE", "kept", "creator-of-kept-block"),
    }
    assert all(d == "" for d in details(result).values())


def test_declaration_names_a_block_by_creator_not_by_its_high_byte(key: Key) -> None:
    ds = base()
    ds.add_new(0x00290010, "LO", "ACME OTHER")
    ds.add_new(0x00290011, "LO", "ACME SAFE")
    ds.add_new(0x00291001, "LO", SECRET)
    ds.add_new(0x00291101, "DS", "12.5")
    declare(ds, item(0x0029, "ACME SAFE", "SAFE"))
    result = scrub(ds, safe_private(), key)
    assert private_tags(ds) == [0x00290011, 0x00291101]
    assert outcomes(result) == {
        "(0029,1001)": ("ACME OTHER", "UNDECLARED", "removed", "not-declared"),
        "(0029,1101)": ("ACME SAFE", "SAFE", "kept", "declared-safe-block"),
        "(0029,0010)": ("ACME OTHER", "UNDECLARED", "removed", "creator-of-removed-block"),
        "(0029,0011)": ("ACME SAFE", "SAFE", "kept", "creator-of-kept-block"),
    }


def _block_with_every_action(status: str) -> Dataset:
    """(0031,10xx) of ACME BLOCK: 01 DS listed (MIXED only), 02 LO with D, 03 LO with Z, 04 LO
    with X, 05 UI with U, 06 LO with U (not a UID), 07 LO without action."""
    ds = base()
    block = ds.private_block(0x0031, "ACME BLOCK", create=True)
    block.add_new(0x01, "DS", "1.5")
    block.add_new(0x02, "LO", SECRET)
    block.add_new(0x03, "LO", SECRET)
    block.add_new(0x04, "LO", SECRET)
    block.add_new(0x05, "UI", "1.2.826.0.1.3680043.8.498.99")
    block.add_new(0x06, "LO", SECRET)
    block.add_new(0x07, "LO", SECRET)
    actions = [([0x02], "D"), ([0x03], "Z"), ([0x04], "X"), ([0x05, 0x06], "U")]
    listed = [0x01] if status == "MIXED" else None
    return declare(ds, item(0x0031, "ACME BLOCK", status, listed, actions))


@pytest.mark.parametrize(
    ("status", "undeclared_basis", "first"),
    [
        ("MIXED", "identifying-element", ("kept", "listed-nonidentifying")),
        ("UNSAFE", "unsafe-block", ("removed", "unsafe-block")),
    ],
)
def test_declared_actions_d_z_x_u_are_applied_to_identifying_elements(
    status: str, undeclared_basis: str, first: tuple[str, str], key: Key
) -> None:
    ds = _block_with_every_action(status)
    result = scrub(ds, safe_private(), key)
    assert outcomes(result) == {
        "(0031,1001)": ("ACME BLOCK", status, *first),
        "(0031,1002)": ("ACME BLOCK", status, "replaced", "declared-action"),
        "(0031,1003)": ("ACME BLOCK", status, "emptied", "declared-action"),
        "(0031,1004)": ("ACME BLOCK", status, "removed", "declared-action"),
        "(0031,1005)": ("ACME BLOCK", status, "replaced", "declared-action"),
        "(0031,1006)": ("ACME BLOCK", status, "removed", "declared-action"),
        "(0031,1007)": ("ACME BLOCK", status, "removed", undeclared_basis),
        "(0031,0010)": ("ACME BLOCK", status, "kept", "creator-of-kept-block"),
    }
    found = details(result)
    assert found["(0031,1002)"] == "declared action D"
    assert found["(0031,1003)"] == "declared action Z"
    assert found["(0031,1004)"] == "declared action X"
    assert found["(0031,1005)"] == "declared action U"
    assert found["(0031,1006)"] == "declared action U cannot be applied to VR LO; removed"
    assert found["(0031,1007)"] == ""
    assert ds[0x00311002].value == "ANONYMIZED"  # D: a dummy of the element's VR
    assert ds[0x00311003].value == ""  # Z: zero length
    assert str(ds[0x00311005].value).startswith("2.25.")  # U: a new UID
    assert ds[0x00311005].value == Pseudonymizer(key).uid("1.2.826.0.1.3680043.8.498.99")
    kept = {0x00310010, 0x00311002, 0x00311003, 0x00311005}
    assert set(private_tags(ds)) == (kept | {0x00311001} if status == "MIXED" else kept)
    if status == "MIXED":
        assert ds[0x00311001].value == "1.5"


def test_unsafe_block_without_actions_is_removed_with_its_creator(key: Key) -> None:
    ds = base()
    block = ds.private_block(0x0033, "ACME UNSAFE", create=True)
    block.add_new(0x01, "DS", "1.5")
    block.add_new(0x02, "LO", SECRET)
    declare(ds, item(0x0033, "ACME UNSAFE", "UNSAFE"))
    result = scrub(ds, safe_private(), key)
    assert private_tags(ds) == []
    assert outcomes(result) == {
        "(0033,1001)": ("ACME UNSAFE", "UNSAFE", "removed", "unsafe-block"),
        "(0033,1002)": ("ACME UNSAFE", "UNSAFE", "removed", "unsafe-block"),
        "(0033,0010)": ("ACME UNSAFE", "UNSAFE", "removed", "creator-of-removed-block"),
    }
    assert "PrivateDataElementCharacteristicsSequence" not in ds


def test_block_whose_only_surviving_element_was_emptied_keeps_its_creator(key: Key) -> None:
    ds = base()
    ds.private_block(0x0033, "ACME UNSAFE", create=True).add_new(0x01, "LO", SECRET)
    declare(ds, item(0x0033, "ACME UNSAFE", "UNSAFE", actions=[([0x01], "Z")]))
    result = scrub(ds, safe_private(), key)
    assert private_tags(ds) == [0x00330010, 0x00331001]
    assert ds[0x00331001].value == ""
    assert outcomes(result)["(0033,0010)"] == (
        "ACME UNSAFE",
        "UNSAFE",
        "kept",
        "creator-of-kept-block",
    )


def test_declared_actions_on_undecoded_un_elements(key: Key) -> None:
    """D cannot make a dummy for an unknown VR: the element is removed and the detail says why;
    Z empties it; U treats the bytes as a UID."""
    ds = base()
    ds.add_new(0x00310010, "LO", "ACME BLOCK")
    ds.add_new(0x00311002, "UN", SECRET.encode() + b" ")
    ds.add_new(0x00311003, "UN", SECRET.encode() + b" ")
    ds.add_new(0x00311004, "UN", b"1.2.826.0.1.3680043.8.498.99\0")
    declare(
        ds,
        item(0x0031, "ACME BLOCK", "MIXED", [], [([0x02], "D"), ([0x03], "Z"), ([0x04], "U")]),
    )
    result = scrub(ds, safe_private(), key)
    assert private_tags(ds) == [0x00310010, 0x00311003, 0x00311004]
    assert ds[0x00311003].value in (b"", None)
    new_uid = Pseudonymizer(key).uid("1.2.826.0.1.3680043.8.498.99").encode()
    assert ds[0x00311004].value.rstrip(b"\0") == new_uid
    assert outcomes(result) == {
        "(0031,1002)": ("ACME BLOCK", "MIXED", "removed", "declared-action"),
        "(0031,1003)": ("ACME BLOCK", "MIXED", "emptied", "declared-action"),
        "(0031,1004)": ("ACME BLOCK", "MIXED", "replaced", "declared-action"),
        "(0031,0010)": ("ACME BLOCK", "MIXED", "kept", "creator-of-kept-block"),
    }
    assert details(result)["(0031,1002)"] == "declared action D cannot be applied to VR UN; removed"


# ---- the scrubber: profile rules and safe lists ------------------------------------------------

KEEP_GEMS_10 = (
    "name: keep-gems\n"
    "extends: [basic, retain-safe-private]\n"
    "rules:\n"
    '  - {tag: "(0019,xx10)", creator: GEMS_ACQU_01, action: K}\n'
)


def _gems_block() -> Dataset:
    ds = base()
    block = ds.private_block(0x0019, GEMS, create=True)
    block.add_new(0x10, "LO", SECRET)
    block.add_new(0x23, "DS", "39.375")  # Table E.3.10-1: Table Speed
    return ds


@pytest.mark.parametrize(
    ("declaration", "status", "basis"),
    [
        (item(0x0019, GEMS, "UNSAFE"), "UNSAFE", "unsafe-block"),
        (item(0x0019, GEMS, "MIXED", [0x23]), "MIXED", "identifying-element"),
    ],
    ids=["unsafe", "mixed-unlisted"],
)
def test_profile_keep_rule_is_overridden_when_the_file_declares_the_element_identifying(
    tmp_path: Path, declaration: Dataset, status: str, basis: str, key: Key
) -> None:
    ds = declare(_gems_block(), declaration)
    result = scrub(ds, write_profile(tmp_path, "keep-gems", KEEP_GEMS_10), key)
    assert 0x00191010 not in ds
    assert outcomes(result)["(0019,1010)"] == (GEMS, status, "removed", basis)
    detail = details(result)["(0019,1010)"]
    assert "overrides" in detail
    assert "keep-gems" in detail
    assert "(0019,xx10)" in detail
    assert GEMS in detail


def test_profile_keep_rule_is_honoured_for_an_undeclared_block(tmp_path: Path, key: Key) -> None:
    ds = _gems_block()
    result = scrub(ds, write_profile(tmp_path, "keep-gems", KEEP_GEMS_10), key)
    assert private_tags(ds) == [0x00190010, 0x00191010, 0x00191023]
    assert ds[0x00191010].value == SECRET
    assert outcomes(result) == {
        "(0019,1010)": (GEMS, "UNDECLARED", "kept", "profile-rule"),
        "(0019,1023)": (GEMS, "UNDECLARED", "kept", "safe-private-table"),
        "(0019,0010)": (GEMS, "UNDECLARED", "kept", "creator-of-kept-block"),
    }
    assert "keep-gems" in details(result)["(0019,1010)"]
    assert "overrides" not in details(result)["(0019,1010)"]


def test_unsafe_declaration_removes_the_whole_block_despite_keep_rule_and_table(
    tmp_path: Path, key: Key
) -> None:
    ds = declare(_gems_block(), item(0x0019, GEMS, "UNSAFE"))
    result = scrub(ds, write_profile(tmp_path, "keep-gems", KEEP_GEMS_10), key)
    assert private_tags(ds) == []
    assert outcomes(result) == {
        "(0019,1010)": (GEMS, "UNSAFE", "removed", "unsafe-block"),
        "(0019,1023)": (GEMS, "UNSAFE", "removed", "unsafe-block"),
        "(0019,0010)": (GEMS, "UNSAFE", "removed", "creator-of-removed-block"),
    }


def test_profile_safe_private_entry_keeps_an_element_with_basis_profile_safe_list(
    tmp_path: Path, key: Key
) -> None:
    profile = write_profile(
        tmp_path,
        "site",
        "name: site\n"
        "extends: [basic, retain-safe-private]\n"
        "safe_private:\n"
        '  - {tag: "(0029,xx01)", creator: "ACME 1.0", vr: DS, name: "Dose"}\n',
    )
    ds = base()
    block = ds.private_block(0x0029, "ACME 1.0", create=True)
    block.add_new(0x01, "DS", "2.5")
    block.add_new(0x02, "LO", SECRET)
    result = scrub(ds, profile, key)
    assert private_tags(ds) == [0x00290010, 0x00291001]
    assert outcomes(result) == {
        "(0029,1001)": ("ACME 1.0", "UNDECLARED", "kept", "profile-safe-list"),
        "(0029,1002)": ("ACME 1.0", "UNDECLARED", "removed", "not-declared"),
        "(0029,0010)": ("ACME 1.0", "UNDECLARED", "kept", "creator-of-kept-block"),
    }
    assert result.method_codes == ("113100", "113111")


def test_profile_safe_private_entry_with_a_vm_keeps_only_that_many_values(
    tmp_path: Path, key: Key
) -> None:
    profile = write_profile(
        tmp_path,
        "site",
        "extends: [basic, retain-safe-private]\nsafe_private:\n"
        '  - {tag: "(0029,xx01)", creator: "ACME 1.0", vr: FL, vm: "2-3"}\n'
        '  - {tag: "(0029,xx02)", creator: "ACME 1.0", vr: FL, vm: "2-3"}\n',
    )
    ds = base()
    block = ds.private_block(0x0029, "ACME 1.0", create=True)
    block.add_new(0x01, "FL", [1.0, 2.0, 3.0])
    block.add_new(0x02, "FL", [1.0, 2.0, 3.0, 4.0])
    result = scrub(ds, profile, key)
    assert private_tags(ds) == [0x00290010, 0x00291001]
    (row,) = [r for r in result.private if r.tag == "(0029,1002)"]
    assert (row.decision, row.detail) == (
        "removed",
        "the profile's safe_private list lists it with VM 2-3, but it holds 4 values; removed",
    )


@pytest.mark.parametrize("vm", ["one", "3-1", "n", "1-", "1-x"])
def test_a_safe_private_vm_that_is_no_vm_is_a_profile_error(tmp_path: Path, vm: str) -> None:
    path = tmp_path / "site.yaml"
    text = f'extends: [basic]\nsafe_private:\n  - {{tag: "(0029,xx01)", creator: A, vm: "{vm}"}}\n'
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"safe_private\[0\]\.vm: expected a VM such as"):
        load_profile(str(path))


def test_profile_safe_private_entry_loses_to_an_unsafe_declaration(
    tmp_path: Path, key: Key
) -> None:
    profile = write_profile(
        tmp_path,
        "site",
        'extends: [basic, retain-safe-private]\nsafe_private:\n  - {tag: "(0029,xx01)", '
        'creator: "ACME 1.0"}\n',
    )
    ds = base()
    ds.private_block(0x0029, "ACME 1.0", create=True).add_new(0x01, "DS", "2.5")
    declare(ds, item(0x0029, "ACME 1.0", "UNSAFE"))
    result = scrub(ds, profile, key)
    assert private_tags(ds) == []
    assert outcomes(result)["(0029,1001)"] == ("ACME 1.0", "UNSAFE", "removed", "unsafe-block")


# ---- the scrubber: Table E.3.10-1 -------------------------------------------------------------

TABLE_ENTRIES = [
    pytest.param(GEMS, 0x0019, 0x23, "DS", "39.375", id="GEMS_ACQU_01-table-speed"),
    pytest.param(PHILIPS, 0x2001, 0x03, "FL", 1000.0, id="Philips-diffusion-b-factor"),
    pytest.param(SIEMENS, 0x0019, 0x0C, "IS", "1000", id="SIEMENS-MR-HEADER-b-value"),
]


@pytest.mark.parametrize("block_byte", [0x10, 0x12], ids=["block-10", "moved-to-block-12"])
@pytest.mark.parametrize(("creator", "group", "byte", "vr", "value"), TABLE_ENTRIES)
def test_table_listed_element_is_kept_in_whichever_block_its_creator_reserved(
    creator: str, group: int, byte: int, vr: str, value: object, block_byte: int, key: Key
) -> None:
    ds = base()
    listed = (group << 16) | (block_byte << 8) | byte
    unlisted = (group << 16) | (block_byte << 8) | 0xF0
    if block_byte != 0x10:
        # another vendor's block at 0x10 holds the same element byte: not in the table
        ds.add_new((group << 16) | 0x10, "LO", "OTHER VENDOR")
        ds.add_new((group << 16) | 0x1000 | byte, vr, value)
    ds.add_new((group << 16) | block_byte, "LO", creator)
    ds.add_new(listed, vr, value)
    ds.add_new(unlisted, "LO", SECRET)
    result = scrub(ds, safe_private(), key)

    def tag(t: int) -> str:
        return f"({t >> 16:04X},{t & 0xFFFF:04X})"

    expected = {
        tag(listed): (creator, "UNDECLARED", "kept", "safe-private-table"),
        tag(unlisted): (creator, "UNDECLARED", "removed", "not-declared"),
        tag((group << 16) | block_byte): (creator, "UNDECLARED", "kept", "creator-of-kept-block"),
    }
    if block_byte != 0x10:
        expected[tag((group << 16) | 0x1000 | byte)] = (
            "OTHER VENDOR",
            "UNDECLARED",
            "removed",
            "not-declared",
        )
        expected[tag((group << 16) | 0x10)] = (
            "OTHER VENDOR",
            "UNDECLARED",
            "removed",
            "creator-of-removed-block",
        )
    assert outcomes(result) == expected
    assert private_tags(ds) == [(group << 16) | block_byte, listed]
    assert ds[listed].value == value
    assert characteristics(ds) == [(group, creator, "SAFE")]


@pytest.mark.parametrize(
    ("declaration", "status", "basis"),
    [
        (item(0x0019, GEMS, "UNSAFE"), "UNSAFE", "unsafe-block"),
        (item(0x0019, GEMS, "MIXED", [0x24]), "MIXED", "identifying-element"),
    ],
    ids=["unsafe", "mixed-without-it"],
)
def test_table_listed_element_is_removed_when_the_file_declares_it_identifying(
    declaration: Dataset, status: str, basis: str, key: Key
) -> None:
    ds = base()
    ds.add_new(0x00190012, "LO", GEMS)  # moved block: the declaration still names it
    ds.add_new(0x00191223, "DS", "39.375")
    declare(ds, declaration)
    result = scrub(ds, safe_private(), key)
    assert private_tags(ds) == []
    assert outcomes(result) == {
        "(0019,1223)": (GEMS, status, "removed", basis),
        "(0019,0012)": (GEMS, status, "removed", "creator-of-removed-block"),
    }
    assert "PrivateDataElementCharacteristicsSequence" not in ds


# ---- the scrubber: malformed declarations ------------------------------------------------------


@pytest.mark.parametrize(
    ("declarations", "problem"),
    [
        ([item(0x0019, GEMS, "MIXED", [0x23, 0x10])], "not in increasing order"),
        ([item(0x0019, GEMS, "MIXED", [0x23, 0x23])], "not in increasing order"),
        ([item(0x0019, GEMS, "MIXED", [0x23, 0x123])], "above 00FFH"),
        ([item(0x0019, GEMS, "MIXED")], "MIXED block without"),
        ([item(0x0019, GEMS, "PROBABLY")], "(0008,0303)"),
        ([item(0x0019, GEMS, "SAFE", actions=[([0x23], "C")])], "(0008,0307)"),
        ([item(0x0019, GEMS, "SAFE"), item(0x0019, GEMS, "SAFE")], "declared more than once"),
    ],
    ids=[
        "0304-not-increasing",
        "0304-repeated",
        "0304-above-ff",
        "mixed-without-0304",
        "bad-status",
        "bad-action",
        "declared-twice",
    ],
)
def test_malformed_declaration_makes_the_block_unsafe_over_the_table_and_says_why(
    declarations: list[Dataset], problem: str, key: Key
) -> None:
    ds = declare(_gems_block(), *declarations)
    result = scrub(ds, safe_private(), key)
    assert private_tags(ds) == []
    assert outcomes(result) == {
        "(0019,1010)": (GEMS, "UNSAFE", "removed", "unsafe-block"),
        "(0019,1023)": (GEMS, "UNSAFE", "removed", "unsafe-block"),
        "(0019,0010)": (GEMS, "UNSAFE", "removed", "creator-of-removed-block"),
    }
    for tag in ("(0019,1010)", "(0019,1023)"):
        assert details(result)[tag].startswith(MALFORMED)
        assert problem in details(result)[tag]
    assert "PrivateDataElementCharacteristicsSequence" not in ds


@pytest.mark.parametrize(
    ("declaration", "missing"),
    [
        (item(None, GEMS, "UNSAFE"), "(0008,0301)"),
        (item(0x0019, None, "UNSAFE"), "(0008,0302)"),
    ],
    ids=["missing-group-reference", "missing-creator-reference"],
)
def test_declaration_missing_its_group_or_creator_reference_is_unsafe_and_audited(
    declaration: Dataset, missing: str, key: Key
) -> None:
    ds = declare(_gems_block(), declaration)
    result = scrub(ds, safe_private(), key)
    assert 0x00191023 not in ds
    assert outcomes(result)["(0019,1023)"] == (GEMS, "UNSAFE", "removed", "unsafe-block")
    assert missing in details(result)["(0019,1023)"]


# ---- the scrubber: sequences -------------------------------------------------------------------


def _kept_private_sequence() -> Dataset:
    """A SAFE block whose (0029,1001) SQ item holds PatientName, a nested block of the same SAFE
    creator and a nested undeclared block."""
    ds = base()
    inner = Dataset()
    inner.PatientName = "SECRET^INNER"
    inner.CodeMeaning = "Chest"
    inner.private_block(0x0011, "ACME NESTED", create=True).add_new(0x01, "LO", SECRET)
    inner.private_block(0x0029, "ACME SAFE", create=True).add_new(0x05, "DS", "7")
    ds.private_block(0x0029, "ACME SAFE", create=True).add_new(0x01, "SQ", Sequence([inner]))
    return declare(ds, item(0x0029, "ACME SAFE", "SAFE"))


def test_kept_private_sequence_is_de_identified_inside(key: Key) -> None:
    ds = _kept_private_sequence()
    result = scrub(ds, safe_private(), key)
    assert private_tags(ds) == [0x00290010, 0x00291001]
    inner = ds[0x00291001].value[0]
    assert inner.PatientName == ""
    assert inner.CodeMeaning == "Chest"
    assert private_tags(inner) == [0x00290010, 0x00291005]
    assert outcomes(result) == {
        "(0029,1001)[0]/(0011,1001)": ("ACME NESTED", "UNDECLARED", "removed", "not-declared"),
        "(0029,1001)[0]/(0011,0010)": (
            "ACME NESTED",
            "UNDECLARED",
            "removed",
            "creator-of-removed-block",
        ),
        "(0029,1001)[0]/(0029,1005)": ("ACME SAFE", "SAFE", "kept", "declared-safe-block"),
        "(0029,1001)[0]/(0029,0010)": ("ACME SAFE", "SAFE", "kept", "creator-of-kept-block"),
        "(0029,1001)": ("ACME SAFE", "SAFE", "kept", "declared-safe-block"),
        "(0029,0010)": ("ACME SAFE", "SAFE", "kept", "creator-of-kept-block"),
    }
    assert characteristics(ds) == [(0x0029, "ACME SAFE", "SAFE")]


def test_private_elements_inside_a_removed_private_sequence_are_audited(key: Key) -> None:
    ds = _kept_private_sequence()
    declare(ds, item(0x0029, "ACME SAFE", "UNSAFE"))
    result = scrub(ds, safe_private(), key)
    assert private_tags(ds) == []
    found = outcomes(result)
    assert found["(0029,1001)"] == ("ACME SAFE", "UNSAFE", "removed", "unsafe-block")
    for nested, creator in [
        ("(0029,1001)[0]/(0011,0010)", "ACME NESTED"),
        ("(0029,1001)[0]/(0011,1001)", "ACME NESTED"),
        ("(0029,1001)[0]/(0029,0010)", "ACME SAFE"),
        ("(0029,1001)[0]/(0029,1005)", "ACME SAFE"),
    ]:
        assert found[nested][0] == creator
        assert found[nested][2:] == ("removed", "enclosing-sequence-removed")
    assert len(found) == 6


def test_private_elements_inside_an_emptied_private_sequence_are_audited(key: Key) -> None:
    ds = _kept_private_sequence()
    declare(ds, item(0x0029, "ACME SAFE", "UNSAFE", actions=[([0x01], "Z")]))
    result = scrub(ds, safe_private(), key)
    assert private_tags(ds) == [0x00290010, 0x00291001]
    assert len(ds[0x00291001].value) == 0
    found = outcomes(result)
    assert found["(0029,1001)"] == ("ACME SAFE", "UNSAFE", "emptied", "declared-action")
    assert found["(0029,1001)[0]/(0011,1001)"][2:] == ("removed", "enclosing-sequence-removed")


def test_elements_inside_a_removed_sequence_report_their_blocks_declared_status(key: Key) -> None:
    ds = _kept_private_sequence()
    declare(ds, item(0x0029, "ACME SAFE", "UNSAFE"))
    result = scrub(ds, safe_private(), key)
    found = outcomes(result)
    assert found["(0029,1001)[0]/(0029,1005)"][1] == "UNSAFE"
    assert found["(0029,1001)[0]/(0011,1001)"][1] == "UNDECLARED"


# ---- the scrubber: implicit VR (private data read as UN) ---------------------------------------


def _implicit_un_file() -> Dataset:
    ds = base()
    inner = Dataset()
    inner.PatientName = "SECRET^UN"
    inner.CodeMeaning = "Chest"
    block = ds.private_block(0x0029, "ACME UN 1.0", create=True)
    block.add_new(0x01, "UN", un_items(inner))
    block.add_new(0x02, "UN", UN_GARBAGE)
    block.add_new(0x03, "DS", "12.5")
    declare(ds, item(0x0029, "ACME UN 1.0", "SAFE"))
    back = implicit_roundtrip(ds)
    for tag in (0x00291001, 0x00291002, 0x00291003):  # precondition: unknown private -> UN
        assert back[tag].VR == "UN"
        assert isinstance(back[tag].value, bytes)
    return back


def test_un_private_sequence_in_a_safe_block_is_parsed_kept_and_cleaned_inside(key: Key) -> None:
    ds = _implicit_un_file()
    result = scrub(ds, safe_private(), key)
    assert ds[0x00291001].VR == "SQ"
    inner = ds[0x00291001].value[0]
    assert inner.PatientName == ""
    assert inner.CodeMeaning == "Chest"
    assert ds[0x00291003].value == b"12.5"  # an undecoded UN value stays as it was
    assert outcomes(result) == {
        "(0029,1001)": ("ACME UN 1.0", "SAFE", "kept", "declared-safe-block"),
        "(0029,1002)": ("ACME UN 1.0", "SAFE", "removed", "declared-safe-block"),
        "(0029,1003)": ("ACME UN 1.0", "SAFE", "kept", "declared-safe-block"),
        "(0029,0010)": ("ACME UN 1.0", "SAFE", "kept", "creator-of-kept-block"),
    }
    assert details(result)["(0029,1002)"] == UN_UNPARSEABLE
    assert 0x00291002 not in ds


def test_un_private_sequence_is_written_as_a_sequence_without_the_name(key: Key) -> None:
    ds = _implicit_un_file()
    scrub(ds, safe_private(), key)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, implicit_vr=True, little_endian=True)
    data = buffer.getvalue()
    assert b"SECRET" not in data
    assert b"Chest" in data


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(ITEM + b"\x40\x00\x00\x00" + b"\x10\x00\x10\x00", id="item-length-overrun"),
        pytest.param(ITEM + b"\x0c\x00\x00\x00" + b"PATIENT^NAME", id="element-length-overrun"),
    ],
)
def test_un_value_starting_with_an_item_tag_but_not_a_sequence_is_removed(
    garbage: bytes, key: Key
) -> None:
    ds = base()
    ds.private_block(0x0029, "ACME UN 1.0", create=True).add_new(0x01, "UN", garbage)
    declare(ds, item(0x0029, "ACME UN 1.0", "SAFE"))
    result = scrub(ds, safe_private(), key)
    assert 0x00291001 not in ds
    assert details(result)["(0029,1001)"] == UN_UNPARSEABLE


# ---- the rewritten (0008,0300) -----------------------------------------------------------------


def _many_blocks() -> Dataset:
    ds = base()
    ds.private_block(0x0031, "ACME MIXED", create=True).add_new(0x01, "DS", "1")
    ds.private_block(0x0031, "ACME MIXED", create=False).add_new(0x02, "LO", SECRET)
    ds.private_block(0x0029, "ACME SAFE", create=True).add_new(0x01, "DS", "2")
    ds.private_block(0x0029, "ACME ALPHA", create=True).add_new(0x01, "DS", "3")
    ds.private_block(0x0033, "ACME UNSAFE", create=True).add_new(0x01, "DS", "4")
    ds.private_block(0x0035, "ACME UNDECLARED", create=True).add_new(0x01, "DS", "5")
    ds.private_block(0x0019, GEMS, create=True).add_new(0x23, "DS", "39.375")
    safe = item(0x0029, "ACME SAFE", "SAFE")
    definition = Dataset()
    definition.PrivateDataElement = 0x01
    definition.PrivateDataElementValueMultiplicity = 1
    definition.PrivateDataElementValueRepresentation = "DS"
    definition.PrivateDataElementName = "Dose"
    definition.PrivateDataElementKeyword = "Dose"
    safe.PrivateDataElementDefinitionSequence = Sequence([definition])
    return declare(
        ds,
        item(0x0033, "ACME UNSAFE", "UNSAFE"),
        item(0x0031, "ACME MIXED", "MIXED", [0x01], [([0x02], "X")]),
        safe,
        item(0x0029, "ACME ALPHA", "SAFE"),
    )


def test_rewritten_characteristics_list_each_remaining_block_once_as_safe_sorted(
    key: Key,
) -> None:
    ds = _many_blocks()
    scrub(ds, safe_private(), key)
    assert characteristics(ds) == [
        (0x0019, GEMS, "SAFE"),
        (0x0029, "ACME ALPHA", "SAFE"),
        (0x0029, "ACME SAFE", "SAFE"),
        (0x0031, "ACME MIXED", "SAFE"),
    ]
    for it in ds.PrivateDataElementCharacteristicsSequence:
        assert 0x00080304 not in it
        assert 0x00080305 not in it
    by_creator = {str(i.PrivateCreatorReference): i for i in ds[0x00080300].value}
    definitions = by_creator["ACME SAFE"].PrivateDataElementDefinitionSequence
    assert [d.PrivateDataElementName for d in definitions] == ["Dose"]
    assert 0x00080310 not in by_creator["ACME ALPHA"]


def test_rewritten_characteristics_describe_what_a_re_scrub_keeps(key: Key) -> None:
    ds = _many_blocks()
    scrub(ds, safe_private(), key)
    before = sorted(private_tags(ds))
    result = scrub(ds, safe_private(), key)
    assert sorted(private_tags(ds)) == before
    assert {r.decision for r in result.private} == {"kept"}


def test_characteristics_sequence_is_added_when_a_block_is_kept_from_the_table(key: Key) -> None:
    ds = base()
    ds.private_block(0x0019, GEMS, create=True).add_new(0x23, "DS", "39.375")
    scrub(ds, safe_private(), key)
    assert characteristics(ds) == [(0x0019, GEMS, "SAFE")]


# ---- without the option -----------------------------------------------------------------------


def test_basic_without_the_option_removes_every_private_element_and_the_declarations(
    key: Key,
) -> None:
    ds = _many_blocks()
    result = scrub(ds, basic_only(), key)
    assert private_tags(ds) == []
    assert "PrivateDataElementCharacteristicsSequence" not in ds
    found = outcomes(result)
    assert len(found) == 13
    statuses = {
        "ACME SAFE": "SAFE",
        "ACME ALPHA": "SAFE",
        "ACME MIXED": "MIXED",
        "ACME UNSAFE": "UNSAFE",
        "ACME UNDECLARED": "UNDECLARED",
        GEMS: "UNDECLARED",
    }
    for tag, (creator, status, decision, basis) in found.items():
        assert status == statuses[creator]
        assert decision == "removed"
        creator_row = (int(tag[6:10], 16) & 0xFF00) == 0
        assert basis == ("creator-of-removed-block" if creator_row else "basic-profile")
    assert codes(ds) == ["113100"]
    assert SAFE_LABEL not in methods(ds)
    assert result.method_codes == ("113100",)


# ---- method labels and codes -------------------------------------------------------------------


def test_option_adds_retain_safe_private_label_and_code_113111(key: Key) -> None:
    ds = _many_blocks()
    result = scrub(ds, safe_private(), key)
    assert codes(ds) == ["113100", "113111"]
    assert methods(ds) == [BASIC_LABEL, SAFE_LABEL]
    assert result.methods == (BASIC_LABEL, SAFE_LABEL)
    assert result.method_codes == ("113100", "113111")


def test_option_overridden_back_to_x_adds_no_113111_and_removes_everything(
    tmp_path: Path, key: Key
) -> None:
    profile = write_profile(
        tmp_path,
        "no-private",
        "name: no-private\n"
        "extends: [basic, retain-safe-private]\n"
        "rules:\n"
        "  - {tag: private, action: X}\n",
    )
    assert profile.has_layer("retain-safe-private")
    ds = _many_blocks()
    result = scrub(ds, profile, key)
    assert private_tags(ds) == []
    assert "PrivateDataElementCharacteristicsSequence" not in ds
    assert {r.decision for r in result.private} == {"removed"}
    assert "safe-private-table" not in {r.basis for r in result.private}
    assert codes(ds) == ["113100"]
    assert SAFE_LABEL not in methods(ds)
    assert result.method_codes == ("113100",)
    assert SAFE_LABEL not in result.methods


# ---- the audit never holds a value ------------------------------------------------------------


def test_private_records_never_hold_a_value(key: Key) -> None:
    ds = _many_blocks()
    block = ds.private_block(0x0031, "ACME MIXED", create=False)
    block.add_new(0x03, "LO", "PLANTED^VALUE")
    result = scrub(ds, safe_private(), key)
    for record in result.private:
        assert isinstance(record, PrivateRecord)
        text = repr(record)
        for planted in (SECRET, "PLANTED", "39.375"):
            assert planted not in text


# ---- Table E.3.10-1 rows without a VR ----------------------------------------------------------

SC2000 = "SIEMENS Ultrasound SC2000"


@pytest.mark.parametrize(
    ("vr", "value", "kept"),
    [
        pytest.param("PN", "Tech^Someone", False, id="name"),
        pytest.param("LO", "Westside clinic", False, id="text"),
        pytest.param("OB", b"\x01\x02", False, id="bytes"),
        pytest.param("FD", 1.5, True, id="float"),
        pytest.param("UL", 42, True, id="integer"),
        pytest.param("DS", "12.5", True, id="decimal-string"),
    ],
)
def test_table_row_without_a_vr_keeps_only_a_numeric_vr(
    vr: str, value: object, kept: bool, key: Key
) -> None:
    """(0119,xx11) Stage Timer Time has an empty VR cell in Table E.3.10-1: it gives no VR to
    check the element against, so only the VRs PS3.15 E.3.10 calls safe are kept."""
    ds = base()
    ds.private_block(0x0119, SC2000, create=True).add_new(0x11, vr, value)
    result = scrub(ds, safe_private(), key)
    assert (0x01191011 in ds) is kept
    row = outcomes(result)["(0119,1011)"]
    if kept:
        assert row == (SC2000, "UNDECLARED", "kept", "safe-private-table")
    else:
        assert row == (SC2000, "UNDECLARED", "removed", "not-declared")
        assert (
            f"gives no VR for it, and only a numeric VR is kept; it is written as {vr}"
            in (details(result)["(0119,1011)"])
        )
