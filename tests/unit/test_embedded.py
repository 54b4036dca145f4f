"""The text compressed frames carry beside their pixels, and the leak check that searches it."""

from __future__ import annotations

import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames

from dicomscrub.embedded import from_bytes, from_fragments, segments
from dicomscrub.pseudonym import Key

EXIF = b"Exif\0\0MM\0*\0\0\0\x08 DateTimeOriginal 2019:04:23 Owner Zebulon Quixotic"


def _segment(code: int, payload: bytes) -> bytes:
    return bytes([0xFF, code]) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg(*segments: bytes) -> bytes:
    """A JPEG stream's markers: SOI, the given segments, a quantisation table, SOS and data."""
    return (
        b"\xff\xd8"
        + b"".join(segments)
        + _segment(0xDB, bytes(65))
        + _segment(0xDA, bytes(10))
        + b"\xff\xfe\x00\x10 after the scan"  # (entropy-coded data: not a segment)
        + b"\xff\xd9"
    )


def _j2k(comment: bytes) -> bytes:
    siz = b"\xff\x51" + struct.pack(">H", 41) + bytes(39)
    com = b"\xff\x64" + struct.pack(">HH", len(comment) + 4, 1) + comment
    sot = b"\xff\x90" + struct.pack(">H", 10) + bytes(8)
    return b"\xff\x4f" + siz + com + sot + bytes(16) + b"\xff\xd9"


def test_comment_and_application_segments_of_each_frame_are_found() -> None:
    frames = [
        _jpeg(_segment(0xE0, b"JFIF\0\1\1"), _segment(0xE1, EXIF), _segment(0xFE, b"by dcmtk")),
        _jpeg(),
        _j2k(b"Zebulon Quixotic"),
    ]
    found = from_bytes(encapsulate(frames))
    assert found == [
        ("JPEG APP0 segment in fragment 1 of Pixel Data", b"JFIF\0\1\1"),
        ("JPEG APP1 segment in fragment 1 of Pixel Data", EXIF),
        ("JPEG comment in fragment 1 of Pixel Data", b"by dcmtk"),
        ("JPEG 2000 comment in fragment 3 of Pixel Data", b"Zebulon Quixotic"),
    ]


def test_fragments_that_start_no_codestream_and_damaged_ones_end_quietly() -> None:
    """A frame split over fragments: the later ones start no codestream; a segment whose length
    runs past the fragment ends that fragment's walk with what was found before it."""
    frame = _jpeg(_segment(0xFE, b"note"))
    cut = frame[:-30]  # the quantisation table's length now runs past the end
    value = encapsulate([frame[:20] + frame[20:]], fragments_per_frame=1)
    value += b"\xfe\xff\x00\xe0" + struct.pack("<L", len(cut)) + cut
    value += b"\xfe\xff\x00\xe0" + struct.pack("<L", 4) + b"\x00\x01\x02\x03"
    found = segments(lambda at, n: value[at : at + n], len(value))
    assert [text for _, text in found] == [b"note", b"note"]
    assert from_bytes(b"\xfe\xff\x00\xe0" + b"\xff" * 4) == []  # a length past the end


def _with_comment(comment: bytes) -> pydicom.Dataset:
    path = get_testdata_file("SC_rgb_jpeg_dcmtk.dcm", download=False)
    assert path is not None
    ds = pydicom.dcmread(path)
    ds.PatientName = "Quixotic^Packard"
    ds.PatientID = "PID7734521"
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame[:2] + _segment(0xFE, comment) + frame[2:]])
    return ds


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "parsed"])
def test_a_frame_whose_comment_holds_the_patient_s_name_is_rejected(
    tmp_path: Path, key: Key, stream: bool
) -> None:
    """Pixel Data is copied unchanged: a JPEG comment that holds the patient's name would reach
    the output, so the file is rejected (named by where, never by the value); a comment without
    one is written, streamed (copied by range) or parsed, and so is one holding only other text
    of the input (a software's name equal to the Station Name: only names, IDs, UIDs, dates and
    times count there)."""
    from dicomscrub.discover import Source
    from dicomscrub.pipeline import Scrubber
    from dicomscrub.process import Job, Status, process_file
    from dicomscrub.profile.loader import load_profile
    from dicomscrub.pseudonym import Pseudonymizer
    from dicomscrub.writer import Layout, OutputPlan

    job = Job(
        Scrubber(load_profile("basic"), Pseudonymizer(key)),
        OutputPlan(tmp_path / "out", Layout.HIERARCHY, ("in",)),
        stream=stream,
    )
    outcomes = {}
    for name, comment in (
        ("named", b"Quixotic Packard PID7734521"),
        ("plain", b"by dcmtk"),
        ("software", b"made by GDCM 3.0"),  # the Station Name's text: the encoder's, not a name
        ("profile", b"Copyright (c) 1998 Hewlett-Packard Company"),  # a surname's word
    ):
        path = tmp_path / "in" / f"{name}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds = _with_comment(comment)
        ds.StationName = "GDCM"  # removed under basic: a value of the input
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.3.{len(outcomes)}"
        ds.save_as(path)
        outcomes[name] = process_file(Source(path, 0, path.parent, path.name), job)
    named = outcomes["named"]
    assert named.status is Status.REJECTED, named.detail
    assert "JPEG comment in fragment 1 of Pixel Data" in named.detail
    assert "Quixotic" not in named.detail and "PID7734521" not in named.detail
    assert named.streamed is stream
    assert outcomes["plain"].status is Status.WRITTEN, outcomes["plain"].detail
    assert outcomes["software"].status is Status.WRITTEN, outcomes["software"].detail
    assert outcomes["profile"].status is Status.WRITTEN, outcomes["profile"].detail


def test_check_against_finds_the_name_in_a_frame_s_comment(tmp_path: Path) -> None:
    """``check --against`` searches the frames' segments as ``run`` does: an output written with
    the leak check off still holds the comment, and check names where, never the value."""
    from click.testing import CliRunner

    from dicomscrub.cli import cli

    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    _with_comment(b"Quixotic Packard PID7734521").save_as(inputs / "a.dcm")
    key = tmp_path / "site.key"
    key.write_bytes(b"k" * 32)
    made = CliRunner().invoke(
        cli,
        ["run", str(inputs), "-o", str(out), "--key-file", str(key), "--benchmark-no-leak-check"],
    )
    assert made.exit_code == 0, made.output
    found = CliRunner().invoke(cli, ["check", str(out), "--against", str(inputs), "--csv"])
    assert found.exit_code == 1, found.output
    assert "JPEG comment in fragment 1 of Pixel Data" in found.output
    assert "PID7734521" not in found.output and "Quixotic" not in found.output


def test_a_segment_longer_than_the_first_read_is_read_whole() -> None:
    """A frame's first bytes are read at once (see CHUNK); an Exif header past them is read on
    its own, whole, and the segments after it are still found."""
    from dicomscrub.embedded import CHUNK

    exif = EXIF + b" " * (3 * CHUNK) + b"Zebulon Quixotic"
    frames = [_jpeg(_segment(0xE1, exif), _segment(0xFE, b"after"))]
    value = encapsulate(frames)
    reads: list[int] = []

    def read(at: int, size: int) -> bytes:
        reads.append(size)
        return value[at : at + size]

    found = segments(read, len(value))
    assert found == [
        ("JPEG APP1 segment in fragment 1 of Pixel Data", exif),
        ("JPEG comment in fragment 1 of Pixel Data", b"after"),
    ]
    assert max(reads) <= len(exif)  # (never more than the segment itself at once)


def test_a_frame_split_over_fragments_is_read_across_them() -> None:
    """PS3.5 lets one frame span several fragments: a segment that crosses into the next
    fragment, and the segments after it there, are found (and labelled by the fragment where
    the frame starts); the fragments that continue a frame start no codestream of their own."""
    comment = b"Patient: Doe^Jane"
    frame = _jpeg(_segment(0xE2, bytes(3000)), _segment(0xFE, comment))
    value = encapsulate([frame, _jpeg(_segment(0xFE, b"second"))], fragments_per_frame=3)
    found = from_bytes(value)
    assert [(where, text) for where, text in found if text != bytes(3000)] == [
        ("JPEG comment in fragment 1 of Pixel Data", comment),
        ("JPEG comment in fragment 4 of Pixel Data", b"second"),
    ]
    fragments = []  # the same value's fragments, as check reads them (no empty offset table)
    pos = 8 + struct.unpack("<L", value[4:8])[0]
    while pos < len(value):
        size = struct.unpack("<L", value[pos + 4 : pos + 8])[0]
        fragments.append(value[pos + 8 : pos + 8 + size])
        pos += 8 + size
    assert from_fragments(fragments) == found
