"""Values that do not fit their VR: the file is rejected as damaged input, with a message that
names the element by its tag path (never its value, never pydicom's exception), by ``run`` and by
``explain`` alike, and the rest of the batch is written.

Each file is made from the synthetic CT: written with pydicom, then one element's bytes patched
(its VR, or its value)."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pydicom.dataset import Dataset

from corpus import PATIENT_ID, PATIENT_NAME, part10_bytes
from dicomscrub.cli import cli

BuildCT = Callable[..., Dataset]


def invoke(*args: str | Path) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def _patched(ds: Dataset, old: bytes, new: bytes) -> bytes:
    """``ds`` as a Part 10 file (explicit VR little endian) with the bytes ``old`` (found once)
    replaced by ``new``."""
    data = part10_bytes(ds)
    assert data.count(old) == 1, old
    return data.replace(old, new)


def _explicit(tag: int, vr: str, value: bytes) -> bytes:
    """An explicit VR little endian element: tag, VR, length (2 or 4 bytes) and value."""
    head = tag.to_bytes(4, "big")
    head = head[1::-1] + head[:1:-1]  # group, then element, each little endian
    if vr in ("OB", "OW", "SQ", "UN", "UT", "UC", "UR", "OD", "OF", "OL", "OV", "SV", "UV"):
        return head + vr.encode() + b"\0\0" + len(value).to_bytes(4, "little") + value
    return head + vr.encode() + len(value).to_bytes(2, "little") + value


def ul_of_six_bytes(make_ct: BuildCT) -> bytes:
    ds = make_ct()
    ds.ReferringPhysicianName = "ABCDEF"
    return _patched(
        ds, _explicit(0x00080090, "PN", b"ABCDEF"), _explicit(0x00080090, "UL", b"ABCDEF")
    )


def private_fd_of_four_bytes(make_ct: BuildCT) -> bytes:
    ds = make_ct()
    ds.private_block(0x0019, "GEMS_ACQU_01").add_new(0x30, "OB", b"\x01\x02\x03\x04")
    return _patched(
        ds,
        _explicit(0x00191030, "OB", b"\x01\x02\x03\x04"),
        _explicit(0x00191030, "FD", b"\x01\x02\x03\x04"),
    )


def utf8_is_with_ff(make_ct: BuildCT) -> bytes:
    ds = make_ct()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.InstanceNumber = "12"
    return _patched(ds, _explicit(0x00200013, "IS", b"12"), _explicit(0x00200013, "IS", b"1\xff"))


def patient_id_as(vr: str, value: bytes) -> Callable[[BuildCT], bytes]:
    def make(make_ct: BuildCT) -> bytes:
        ds = make_ct()
        old = _explicit(0x00100020, "LO", PATIENT_ID.encode())
        return _patched(ds, old, _explicit(0x00100020, vr, value))

    return make


def is_in_a_sequence_item(text: bytes) -> Callable[[BuildCT], bytes]:
    def make(make_ct: BuildCT) -> bytes:
        ds = make_ct()
        ds.ReferencedImageSequence[0].InstanceNumber = "123456"
        old = _explicit(0x00200013, "IS", b"123456")
        return _patched(ds, old, _explicit(0x00200013, "IS", text))

    return make


def top_level_is(text: bytes) -> Callable[[BuildCT], bytes]:
    def make(make_ct: BuildCT) -> bytes:
        ds = make_ct()
        ds.InstanceNumber = "123456"
        old = _explicit(0x00200013, "IS", b"123456")
        return _patched(ds, old, _explicit(0x00200013, "IS", text))

    return make


def character_set_as_fd(make_ct: BuildCT) -> bytes:
    ds = make_ct()
    ds.SpecificCharacterSet = "ISO_IR 100"
    old = _explicit(0x00080005, "CS", b"ISO_IR 100")
    return _patched(ds, old, _explicit(0x00080005, "FD", b"ISO_IR 100"))


PSEUDONYM = "a keyed pseudonym cannot be written in it"
CASES: list[tuple[str, Callable[[BuildCT], bytes], tuple[str, ...], str]] = [
    (
        "UL of 6 bytes",
        ul_of_six_bytes,
        (),
        "the value of (0008,0090) ReferringPhysicianName does not fit its VR UL "
        "(6 bytes, not a multiple of 4)",
    ),
    (
        "private FD of 4 bytes, removed",
        private_fd_of_four_bytes,
        (),
        "the value of (0019,1030) does not fit its VR FD (4 bytes, not a multiple of 8)",
    ),
    (
        "UTF-8 IS with a byte FF, cleaned",
        utf8_is_with_ff,
        ("--option", "clean-descriptors"),
        "the value of (0020,0013) InstanceNumber holds characters its VR IS cannot encode",
    ),
    *[
        (
            f"Patient ID as {vr}, pseudonym",
            patient_id_as(vr, value),
            ("--option", "patient-pseudonyms"),
            f"(0010,0020) PatientID is written with VR {vr}, not LO: {PSEUDONYM}",
        )
        for vr, value in [
            ("US", b"\x01\x00"),
            ("SS", b"\x01\x00"),
            ("UL", b"\x01\x00\x00\x00"),
            ("FL", b"\x00\x00\x80\x3f"),
            ("AT", b"\x10\x00\x20\x00"),
            ("OB", b"\x01\x02"),
            ("DS", b"1.5 "),
        ]
    ],
    *[
        (
            f"IS {text.strip().decode()} in a sequence item",
            is_in_a_sequence_item(text),
            (),
            "the value of (0008,1140)[0]/(0020,0013) InstanceNumber is not a number its VR IS "
            "can hold",
        )
        for text in (b"1e999 ", b"inf   ")
    ],
    *[
        (
            f"IS {text.strip().decode()} at top level, cleaned",
            top_level_is(text),
            ("--option", "clean-descriptors"),
            "the value of (0020,0013) InstanceNumber is not a number its VR IS can hold",
        )
        for text in (b"1e999 ", b"inf   ")
    ],
    (
        "Specific Character Set as FD",
        character_set_as_fd,
        (),
        "the value of (0008,0005) SpecificCharacterSet does not fit its VR FD "
        "(10 bytes, not a multiple of 8)",
    ),
]
IDS = [case[0] for case in CASES]


def _no_exception_text(text: str) -> None:
    """No exception's name or text (ValueError, BytesLengthException, ...), no original value."""
    assert not re.search(r"\w(Error|Exception)\b|Traceback|struct format|codec", text), text
    assert PATIENT_NAME not in text


@pytest.mark.parametrize(("name", "make", "options", "reason"), CASES, ids=IDS)
def test_a_value_that_does_not_fit_its_vr_rejects_the_file_and_names_the_element(
    tmp_path: Path,
    make_ct: BuildCT,
    name: str,
    make: Callable[[BuildCT], bytes],
    options: tuple[str, ...],
    reason: str,
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "bad.dcm").write_bytes(make(make_ct))
    (inputs / "good.dcm").write_bytes(part10_bytes(make_ct(sop_instance_uid="1.2.3.4.5.6")))
    out = tmp_path / "out"
    result = invoke("run", inputs, "-o", out, "--jobs", "1", *options)
    assert result.exit_code == 1, result.output
    assert f"rejected: bad.dcm: damaged input: {reason}\n" in result.stderr
    with (tmp_path / "out.audit.csv").open(encoding="utf-8", newline="") as fh:
        rows = {row["input"]: row for row in csv.DictReader(fh) if row["record"] == "file"}
    assert rows["bad.dcm"]["status"] == "rejected"
    assert rows["bad.dcm"]["detail"] == f"damaged input: {reason}"
    assert rows["bad.dcm"]["output"] == ""
    assert rows["good.dcm"]["status"] == "written"  # the batch went on
    assert len([p for p in out.rglob("*.dcm")]) == 1
    _no_exception_text(result.stderr)
    _no_exception_text((tmp_path / "out.audit.csv").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("name", "make", "options", "reason"), CASES, ids=IDS)
def test_explain_says_what_run_says_of_a_value_that_does_not_fit_its_vr(
    tmp_path: Path,
    make_ct: BuildCT,
    name: str,
    make: Callable[[BuildCT], bytes],
    options: tuple[str, ...],
    reason: str,
) -> None:
    path = tmp_path / "bad.dcm"
    path.write_bytes(make(make_ct))
    result = invoke("explain", path, *options)
    if result.exit_code == 0:  # (explained: only encoding the output would fail)
        assert f"run rejects this file, nothing is written: damaged input: {reason}\n" in (
            result.stdout
        )
    else:
        assert result.exit_code == 1
        assert result.stderr == f"Error: {path}: damaged input: {reason}; run rejects it\n"
    _no_exception_text(result.stdout + result.stderr)


def test_a_dummy_value_of_the_profile_is_not_written_into_an_attribute_of_another_vr(
    tmp_path: Path, make_ct: BuildCT
) -> None:
    profile = tmp_path / "fixed-id.yaml"
    profile.write_text(
        "name: fixed-id\nextends: [basic]\nrules:\n"
        '  - {keyword: PatientID, action: D, value: "SUBJECT-1"}\n',
        encoding="utf-8",
    )
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "bad.dcm").write_bytes(patient_id_as("UL", b"\x01\x00\x00\x00")(make_ct))
    (inputs / "good.dcm").write_bytes(part10_bytes(make_ct(sop_instance_uid="1.2.3.4.5.6")))
    result = invoke("run", inputs, "-o", tmp_path / "out", "--jobs", "1", "-p", profile)
    assert result.exit_code == 1
    assert (
        "rejected: bad.dcm: damaged input: (0010,0020) PatientID is written with VR UL, "
        "not LO: the profile's dummy value cannot be written in it\n"
    ) in result.stderr
    with (tmp_path / "out.audit.csv").open(encoding="utf-8", newline="") as fh:
        rows = {row["input"]: row for row in csv.DictReader(fh) if row["record"] == "file"}
    assert rows["good.dcm"]["status"] == "written"


def test_an_attribute_written_with_another_vr_that_holds_the_value_is_written(
    tmp_path: Path, make_ct: BuildCT
) -> None:
    # Patient ID written as LT (text too): the pseudonym fits it, nothing is damaged
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "lt.dcm").write_bytes(patient_id_as("LT", PATIENT_ID.encode())(make_ct))
    result = invoke(
        "run", inputs, "-o", tmp_path / "out", "--jobs", "1", "--option", "patient-pseudonyms"
    )
    assert result.exit_code == 0, result.output
