"""The text compressed frames carry beside their pixels, and the leak check that searches it."""

from __future__ import annotations

import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames

from dicomscrub import embedded
from dicomscrub.embedded import from_bytes, from_fragments, segments
from dicomscrub.process import FileResult
from dicomscrub.pseudonym import Key
from dicomscrub.writer import Layout

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
        + b"\x12\xff\x00\xfe\x34\xff\xd0\xe1\x56"  # (coded data: 0xFF stuffed, a restart)
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


def _item(payload: bytes) -> bytes:
    return b"\xfe\xff\x00\xe0" + struct.pack("<L", len(payload)) + payload


NOTE = b"Zebulon Quixotic PID7734521"


def test_a_basic_offset_table_that_holds_no_offsets_is_searched() -> None:
    """It is copied with the pixels and no decoder reads it: text there is found. A table of
    offsets (0, then none smaller), empty or not, is not text."""
    frames = [_jpeg(), _jpeg()]
    table = struct.pack("<2L", 0, len(frames[0]) + 8)
    assert from_bytes(_item(table) + b"".join(map(_item, frames))) == []
    assert from_bytes(_item(b"") + b"".join(map(_item, frames))) == []
    for odd in (NOTE + b"\0", struct.pack("<2L", 8, 0), struct.pack("<2L", 0, 5) + b"\0\0"):
        found = from_bytes(_item(odd) + b"".join(map(_item, frames)))
        assert found == [("Basic Offset Table of Pixel Data (no offsets)", odd)]
        assert from_fragments([odd, *frames]) == found
    assert from_fragments([]) == []  # (native pixels: no fragments at all)


def test_text_before_a_codestream_or_in_a_fragment_without_one_is_searched() -> None:
    """Fragments before the first codestream belong to no frame: the bytes before a codestream
    found in one are text no decoder reads (the codestream's own segments are read as ever), and
    so is a fragment without one, unless it is an RLE frame (its header: 1 to 15 segments, the
    first at 64)."""
    frame = _jpeg(_segment(0xFE, b"note"))
    found = from_bytes(_item(b"") + _item(NOTE + frame))
    assert found == [
        ("fragment 1 of Pixel Data, before its codestream", NOTE),
        ("JPEG comment in fragment 1 of Pixel Data", b"note"),
    ]
    found = from_bytes(_item(b"") + _item(NOTE + b"\0") + _item(frame))
    assert found == [
        ("fragment 1 of Pixel Data (no codestream)", NOTE + b"\0"),
        ("JPEG comment in fragment 2 of Pixel Data", b"note"),
    ]
    rle = struct.pack("<16L", 1, 64, *([0] * 14)) + b"\x00\x07" + NOTE[:7]
    assert from_bytes(_item(b"") + _item(rle)) == []
    # (no codestream in any fragment: a codec not known here, JPEG XL, deflated frames)
    assert from_bytes(_item(b"") + _item(b"\xff\x0a" + NOTE + b"\0")) == []


def _with_comment(comment: bytes, after_scan: bool = False) -> pydicom.Dataset:
    """SC_rgb_jpeg_dcmtk with a comment in its frame's header, or right before its end of
    image (after its scan)."""
    path = get_testdata_file("SC_rgb_jpeg_dcmtk.dcm", download=False)
    assert path is not None
    ds = pydicom.dcmread(path)
    ds.PatientName = "Quixotic^Packard"
    ds.PatientID = "PID7734521"
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    at = frame.rindex(b"\xff\xd9") if after_scan else 2
    ds.PixelData = encapsulate([frame[:at] + _segment(0xFE, comment) + frame[at:]])
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
        ("named-after-scan", b"Quixotic Packard"),
        ("plain", b"by dcmtk"),
        ("software", b"made by GDCM 3.0"),  # the Station Name's text: the encoder's, not a name
        ("profile", b"Copyright (c) 1998 Hewlett-Packard Company"),  # a surname's word
    ):
        path = tmp_path / "in" / f"{name}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds = _with_comment(comment, after_scan=name.endswith("after-scan"))
        ds.StationName = "GDCM"  # removed under basic: a value of the input
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.3.{len(outcomes)}"
        ds.save_as(path)
        outcomes[name] = process_file(Source(path, 0, path.parent, path.name), job)
    named = outcomes["named"]
    assert named.status is Status.REJECTED, named.detail
    assert "JPEG comment in fragment 1 of Pixel Data" in named.detail
    assert "Quixotic" not in named.detail and "PID7734521" not in named.detail
    assert named.streamed is stream
    late = outcomes["named-after-scan"]
    assert late.status is Status.REJECTED, late.detail
    assert "JPEG comment after a scan in fragment 1 of Pixel Data" in late.detail
    assert outcomes["plain"].status is Status.WRITTEN, outcomes["plain"].detail
    assert outcomes["software"].status is Status.WRITTEN, outcomes["software"].detail
    assert outcomes["profile"].status is Status.WRITTEN, outcomes["profile"].detail


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "parsed"])
@pytest.mark.parametrize("where", ["offset-table", "before-codestream"])
def test_a_name_beside_the_codestreams_is_rejected(
    tmp_path: Path, key: Key, stream: bool, where: str
) -> None:
    """In a Basic Offset Table that holds no offsets, or before a frame's codestream in its
    fragment: copied with the pixels, found, rejected."""
    from dicomscrub.discover import Source
    from dicomscrub.pipeline import Scrubber
    from dicomscrub.process import Job, Status, process_file
    from dicomscrub.profile.loader import load_profile
    from dicomscrub.pseudonym import Pseudonymizer
    from dicomscrub.writer import OutputPlan

    job = Job(
        Scrubber(load_profile("basic"), Pseudonymizer(key)),
        OutputPlan(tmp_path / "out", Layout.HIERARCHY, ("in",)),
        stream=stream,
    )
    ds = _with_comment(b"by dcmtk")
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    text = b"Quixotic Packard PID7734521"
    if where == "offset-table":
        ds.PixelData = _item(text + b"\0") + _item(frame + b"\0" * (len(frame) % 2))
    else:
        ds.PixelData = encapsulate([text + frame + b"\0" * ((len(text) + len(frame)) % 2)])
    path = tmp_path / "in" / "a.dcm"
    path.parent.mkdir(parents=True)
    ds.save_as(path)
    result = process_file(Source(path, 0, path.parent, path.name), job)
    assert result.status is Status.REJECTED, result.detail
    assert "of Pixel Data" in result.detail and "Quixotic" not in result.detail


@pytest.mark.parametrize("size", [2 << 20, 5 << 20], ids=["2MB", "5MB"])
def test_check_against_takes_native_pixels_for_pixels(tmp_path: Path, size: int) -> None:
    """Native (uncompressed) Pixel Data is one value, no Basic Offset Table: not searched, as
    ``run`` does not search it (a date its bytes spell is no finding), and never unverifiable
    however large."""
    from click.testing import CliRunner

    from dicomscrub.cli import cli

    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    path = get_testdata_file("CT_small.dcm", download=False)
    assert path is not None
    ds = pydicom.dcmread(path)
    ds.PatientBirthDate = "19610317"
    ds.Rows, ds.Columns = size // 1024, 512
    ds.PixelData = (b" 19610317 " + bytes(range(256))) * (size // 266) + bytes(size % 266)
    ds.save_as(inputs / "a.dcm")
    key = tmp_path / "site.key"
    key.write_bytes(b"k" * 32)
    made = CliRunner().invoke(cli, ["run", str(inputs), "-o", str(out), "--key-file", str(key)])
    assert made.exit_code == 0, made.output
    found = CliRunner().invoke(cli, ["check", str(out), "--against", str(inputs), "--csv"])
    assert found.exit_code == 0, found.output


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
    fragments = [b""]  # the same value's items, as check reads them (an empty offset table)
    pos = 8 + struct.unpack("<L", value[4:8])[0]
    while pos < len(value):
        size = struct.unpack("<L", value[pos + 4 : pos + 8])[0]
        fragments.append(value[pos + 8 : pos + 8 + size])
        pos += 8 + size
    assert from_fragments(fragments) == found


def _coded(n: int) -> bytes:
    """Entropy-coded bytes as a scan holds them: 0xFF only stuffed (FF 00) or as a restart."""
    return (b"\x12\xff\x00\xe1\x34\xff\xd3\xfe" * n)[: 8 * n]


def test_segments_between_scans_and_data_after_the_end_of_image_are_found() -> None:
    """A progressive JPEG may put a comment or an application segment between its scans, and a
    writer may leave text after the end of image: neither is coded data, and both reach the
    output with the pixels. Padding after the end of image is not reported."""
    scan = _segment(0xDA, bytes(10))
    frame = (
        b"\xff\xd8"
        + _segment(0xDB, bytes(65))
        + scan
        + _coded(40)
        + _segment(0xC4, bytes(20))
        + scan
        + _coded(40)
        + _segment(0xFE, b"Zebulon Quixotic")
        + _segment(0xE1, EXIF)
        + scan
        + _coded(3)
        + b"\xff\xd9"
    )
    assert from_bytes(encapsulate([frame + b"Patient Doe^Jane"])) == [
        ("JPEG comment after a scan in fragment 1 of Pixel Data", b"Zebulon Quixotic"),
        ("JPEG APP1 segment after a scan in fragment 1 of Pixel Data", EXIF),
        ("data after the end of a JPEG image in fragment 1 of Pixel Data", b"Patient Doe^Jane"),
    ]
    assert [where for where, _ in from_bytes(encapsulate([frame + b"\0\0"]))] == [
        "JPEG comment after a scan in fragment 1 of Pixel Data",
        "JPEG APP1 segment after a scan in fragment 1 of Pixel Data",
    ]


def test_a_marker_split_between_two_reads_of_the_coded_data_is_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dicomscrub import embedded

    monkeypatch.setattr(embedded, "SCAN_CHUNK", 64)
    head = b"\xff\xd8" + _segment(0xDA, bytes(10))
    for cut in range(60, 70):  # the comment's FF FE across the 64-byte reads
        frame = head + b"\x11" * (cut - len(head)) + _segment(0xFE, b"Quixotic") + b"\xff\xd9"
        assert from_bytes(encapsulate([frame])) == [
            ("JPEG comment after a scan in fragment 1 of Pixel Data", b"Quixotic")
        ], cut


def _j2k_tiles(comment: bytes) -> bytes:
    """A codestream of two tile-parts, the second's header holding a comment; the first's coded
    data holds bytes shaped like a comment marker, which is no segment."""
    siz = b"\xff\x51" + struct.pack(">H", 41) + bytes(39)
    sod = b"\xff\x93"
    fake = b"\xff\x64\x00\x0c\x00\x01NOT THIS"
    com = b"\xff\x64" + struct.pack(">HH", len(comment) + 4, 1) + comment
    first_body = sod + fake + bytes(6)
    first = b"\xff\x90" + struct.pack(">HHLBB", 10, 0, 12 + len(first_body), 0, 2) + first_body
    second = b"\xff\x90" + struct.pack(">HHLBB", 10, 0, 0, 1, 2) + com + sod + bytes(9)
    return b"\xff\x4f" + siz + first + second + b"\xff\xd9"


def test_a_comment_in_a_jpeg_2000_tile_part_header_is_found() -> None:
    assert from_bytes(encapsulate([_j2k_tiles(b"Zebulon Quixotic")])) == [
        ("JPEG 2000 comment in fragment 1 of Pixel Data", b"Zebulon Quixotic")
    ]


def test_the_boxes_of_a_jp2_file_and_its_codestream_are_searched() -> None:
    """DICOM wants a bare codestream, but some writers store a JP2 file: its XML and other boxes
    hold text (here a name), and its codestream is read as one."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">L", 8 + len(payload)) + kind + payload

    xml = b"<patient>Zebulon Quixotic</patient>"
    jp2 = (
        b"\x00\x00\x00\x0cjP  \r\n\x87\n"
        + box(b"ftyp", b"jp2 \0\0\0\0jp2 ")
        + box(b"jp2h", box(b"ihdr", bytes(14)))
        + box(b"xml ", xml)
        + box(b"jp2c", _j2k_tiles(b"by a converter"))
    )
    found = from_bytes(encapsulate([jp2]))
    assert found == [
        ("JP2 jp2h box in fragment 1 of Pixel Data", box(b"ihdr", bytes(14))),
        ("JP2 xml box in fragment 1 of Pixel Data", xml),
        ("JPEG 2000 comment in fragment 1 of Pixel Data", b"by a converter"),
    ]
    assert from_fragments([b"", jp2]) == found  # (an empty offset table, then the frame)


def test_the_frames_of_real_files_hold_no_segment_after_their_scans() -> None:
    """The coded data of pydicom's compressed files (JPEG baseline, extended, lossless, JPEG-LS,
    JPEG 2000) yields nothing after a scan or an end of image: the markers searched for never
    occur in it, and their padding after the end of image (zeros, an 0xFF) is not text."""
    import warnings

    from corpus import TEST_FILES

    looked = 0
    for path in sorted(TEST_FILES.glob("*.dcm")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path)
                if not ds.file_meta.TransferSyntaxUID.is_compressed or "PixelData" not in ds:
                    continue
                value = ds.PixelData
            except Exception:  # (files pydicom cannot read are tested elsewhere)
                continue
        looked += 1
        found = [where for where, _ in from_bytes(value) if "after" in where]
        assert found == [], path.name
    assert looked >= 30


def test_a_stray_byte_in_a_header_does_not_end_the_search() -> None:
    """Decoders skip a byte that is no marker in a header; the walk cannot go on there, so the
    segments from there on are found by their markers."""
    frame = (
        b"\xff\xd8"
        + _segment(0xDB, bytes(65))
        + b"\x00"  # stray
        + _segment(0xC0, bytes(15))
        + _segment(0xDA, bytes(10))
        + _coded(10)
        + _segment(0xFE, b"Zebulon Quixotic")
        + b"\xff\xd9"
        + b"Doe^Jane"
    )
    found = [(where, text.rstrip(b"\0")) for where, text in from_bytes(encapsulate([frame]))]
    assert found == [
        ("JPEG comment after a scan in fragment 1 of Pixel Data", b"Zebulon Quixotic"),
        ("data after the end of a JPEG image in fragment 1 of Pixel Data", b"Doe^Jane"),
    ]


def test_text_after_each_end_of_image_is_found_and_long_text_whole() -> None:
    """Text between two ends of image counts, as does text after the last; long text (a JP2
    box, data after an end of image) is searched whole, not its first part."""
    scan = _segment(0xDA, bytes(10)) + _coded(4)
    long_text = b" " * 70_000 + b"Zebulon Quixotic"
    frame = b"\xff\xd8" + scan + b"\xff\xd9" + b"Doe^Jane" + b"\xff\xd9" + long_text
    assert from_bytes(encapsulate([frame])) == [
        ("data after the end of a JPEG image in fragment 1 of Pixel Data", b"Doe^Jane"),
        ("data after the end of a JPEG image in fragment 1 of Pixel Data", long_text),
    ]


def test_more_text_beside_the_pixels_than_is_searched_is_unsearchable() -> None:
    """Coded data that is not (random bytes after a scan, whose accidental markers would each
    be a segment of up to 64 KB) and text over SEARCH_LIMIT raise Unsearchable at once, never
    take memory or time in proportion to the frame: run rejects such a file."""
    import random

    from dicomscrub.embedded import SEARCH_LIMIT, Unsearchable

    noise = random.Random(7).randbytes(16 << 20)
    garbage = b"\xff\xd8" + _segment(0xDA, bytes(10)) + noise + b"\xff\xd9"
    _unsearchable_early(garbage, "more than 4 MB of text beside the pixels")
    tail = b"\xff\xd8" + _segment(0xDA, bytes(10)) + b"\xff\xd9" + b"x" * (SEARCH_LIMIT + 2)
    with pytest.raises(Unsearchable, match="data after the end of a JPEG image in fragment 1"):
        from_bytes(encapsulate([tail]))


def _processed(
    tmp_path: Path, key: Key, ds: pydicom.Dataset, name: str, stream: bool = True
) -> FileResult:
    """``ds`` written as ``in/<name>`` and processed by ``run``'s worker under basic."""
    from dicomscrub.discover import Source
    from dicomscrub.pipeline import Scrubber
    from dicomscrub.process import Job, process_file
    from dicomscrub.profile.loader import load_profile
    from dicomscrub.pseudonym import Pseudonymizer
    from dicomscrub.writer import OutputPlan

    path = tmp_path / "in" / name
    path.parent.mkdir(parents=True)
    ds.save_as(path)
    job = Job(
        Scrubber(load_profile("basic"), Pseudonymizer(key)),
        OutputPlan(tmp_path / "out", Layout.HIERARCHY, ("in",)),
        stream=stream,
    )
    return process_file(Source(path, 0, path.parent, path.name), job)


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "parsed"])
def test_a_frame_too_full_of_text_to_search_is_rejected(
    tmp_path: Path, key: Key, stream: bool
) -> None:
    from dicomscrub.embedded import SEARCH_LIMIT
    from dicomscrub.process import Status

    ds = _with_comment(b"by dcmtk")
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame + b"x" * (SEARCH_LIMIT + 2)])
    result = _processed(tmp_path, key, ds, "full.dcm", stream)
    assert result.status is Status.REJECTED, result.detail
    assert result.detail.startswith("leak check: data after the end of a JPEG image in fragment 1")
    assert result.detail.endswith("too much to search; not written")


def test_text_a_segment_or_box_holds_up_to_the_frame_s_end_is_found() -> None:
    """A segment or a JP2 box whose length runs past the frame's end, and text after an end of
    image behind a bare start of image: what the frame holds of them is searched."""
    head = b"\xff\xd8" + _segment(0xDA, bytes(10)) + _coded(2)
    past = head + b"\xff\xfe\x40\x00" + b"Zebulon Quixotic"  # (a length of 16 KB)
    assert [text for _, text in from_bytes(encapsulate([past]))] == [b"Zebulon Quixotic"]
    after_soi = head + b"\xff\xd9" + b"\xff\xd8" + b" Doe^Jane"
    assert [text.rstrip(b"\0") for _, text in from_bytes(encapsulate([after_soi]))] == [
        b"\xff\xd8 Doe^Jane"
    ]
    box = struct.pack(">L", 4096) + b"xml " + b"<p>Zebulon Quixotic</p>"
    jp2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + box
    assert [(where, text.rstrip(b"\0")) for where, text in from_bytes(encapsulate([jp2]))] == [
        ("data after the last JP2 box in fragment 1 of Pixel Data", box)  # (its header too)
    ]


def _unsearchable_early(frame: bytes, match: str) -> None:
    """The frame raises Unsearchable (``match``) before much more than the budget was read."""
    from dicomscrub.embedded import SEARCH_LIMIT, Unsearchable, _codestream

    reads: list[int] = []

    def read(at: int, size: int) -> bytes:
        reads.append(size)
        return frame[at : at + size]

    with pytest.raises(Unsearchable, match=match):
        _codestream(read, len(frame), 1)
    assert sum(reads) < 4 * SEARCH_LIMIT  # (stopped early, not after reading it all)


def test_ends_of_image_everywhere_are_unsearchable_without_reading_the_frame() -> None:
    frame = b"\xff\xd8" + _segment(0xDA, bytes(10)) + b"\xff\xd9\x00" * (8 << 20)
    _unsearchable_early(frame, "ends of a JPEG image in fragment 1")


def _j2k_sized(comment: bytes, psot: int | None = None) -> bytes:
    """A codestream of one tile-part whose length (Psot) is right, or ``psot``; its coded data
    holds bytes shaped like a comment marker."""
    siz = b"\xff\x51" + struct.pack(">H", 41) + bytes(39)
    com = b"\xff\x64" + struct.pack(">HH", len(comment) + 4, 1) + comment
    body = b"\xff\x93" + b"\xff\x64\x00\x0c\x00\x01NOT THIS" + b"\x12\xff\x7f" * 5
    size = 12 + len(body) if psot is None else psot
    return b"\xff\x4f" + siz + com + b"\xff\x90" + struct.pack(">HHLBB", 10, 0, size, 0, 1) + body


J2K_AFTER = "data after the end of a JPEG 2000 codestream in fragment 1 of Pixel Data"


@pytest.mark.parametrize(
    "codestream",
    [
        _j2k_sized(b"note"),
        _j2k_sized(b"note", psot=0),  # the last tile-part: up to the EOC
        _j2k_sized(b"note", psot=0x7FFF_FFFF),  # past the frame's end
        _j2k_sized(b"note", psot=5),  # too short to be one
        _j2k_tiles(b"note")[:-2],  # two tile-parts, the second up to the EOC
    ],
    ids=["sized", "zero", "past-end", "short", "two-tile-parts"],
)
def test_text_after_the_end_of_a_jpeg_2000_codestream_is_found(codestream: bytes) -> None:
    """A writer may leave text after a JPEG 2000 codestream's end (EOC, FF D9), as after a JPEG
    image's: it reaches the output with the pixels. The EOC is where the tile-parts' lengths
    lead, else (a length of 0: up to the EOC; one past the frame's end) the first FF D9 after the
    tile-part's header, which coded data never holds. Padding after it is not reported."""
    frame = codestream + b"\xff\xd9"
    found = from_bytes(encapsulate([frame + b" Zebulon Quixotic PID7734521"]))
    assert [(where, text.rstrip(b"\0")) for where, text in found] == [
        ("JPEG 2000 comment in fragment 1 of Pixel Data", b"note"),
        (J2K_AFTER, b" Zebulon Quixotic PID7734521"),
    ]
    assert [text for _, text in from_bytes(encapsulate([frame + b"\0\0"]))] == [b"note"]
    assert [text for _, text in from_bytes(encapsulate([frame + b"\xff"]))] == [b"note"]


def test_text_after_the_end_of_a_codestream_in_a_jp2_box_is_found() -> None:
    jp2c = _j2k_sized(b"note") + b"\xff\xd9" + b"Doe^Jane"
    jp2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + struct.pack(">L", 8 + len(jp2c)) + b"jp2c" + jp2c
    assert from_bytes(encapsulate([jp2])) == [
        ("JPEG 2000 comment in fragment 1 of Pixel Data", b"note"),
        (J2K_AFTER, b"Doe^Jane"),
    ]


def test_more_text_after_a_jpeg_2000_codestream_than_is_searched_is_unsearchable() -> None:
    from dicomscrub.embedded import SEARCH_LIMIT

    for psot in (None, 0):
        frame = _j2k_sized(b"note", psot) + b"\xff\xd9" + b"x" * (SEARCH_LIMIT + 2)
        _unsearchable_early(frame, "data after the end of a JPEG 2000 codestream in fragment 1")


def _jpeg2000(tail: bytes) -> pydicom.Dataset:
    """pydicom's JPEG2000.dcm with ``tail`` after its codestream's end."""
    ds = pydicom.dcmread(get_testdata_file("JPEG2000.dcm", download=False))
    ds.PatientName = "Quixotic^Packard"
    ds.PatientID = "PID7734521"
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    assert frame.endswith(b"\xff\xd9")
    ds.PixelData = encapsulate([frame + tail])
    return ds


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "parsed"])
def test_a_jpeg_2000_frame_with_a_name_or_too_much_after_its_end_is_rejected(
    tmp_path: Path, key: Key, stream: bool
) -> None:
    from dicomscrub.discover import Source
    from dicomscrub.embedded import SEARCH_LIMIT
    from dicomscrub.pipeline import Scrubber
    from dicomscrub.process import Job, Status, process_file
    from dicomscrub.profile.loader import load_profile
    from dicomscrub.pseudonym import Pseudonymizer
    from dicomscrub.writer import OutputPlan

    job = Job(
        Scrubber(load_profile("basic"), Pseudonymizer(key)),
        OutputPlan(tmp_path / "out", Layout.HIERARCHY, ("in",)),
        stream=stream,
    )
    outcomes = {}
    for number, (name, tail) in enumerate(
        (
            ("named", b" Quixotic Packard PID7734521 "),
            ("full", b"x" * (SEARCH_LIMIT + 2)),
            ("padded", b"\0\0"),
        )
    ):
        path = tmp_path / "in" / f"{name}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds = _jpeg2000(tail)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.3.{number}"
        ds.save_as(path)
        outcomes[name] = process_file(Source(path, 0, path.parent, path.name), job)
    named, full = outcomes["named"], outcomes["full"]
    assert named.status is Status.REJECTED, named.detail
    assert J2K_AFTER in named.detail
    assert "Quixotic" not in named.detail and "PID7734521" not in named.detail
    assert full.status is Status.REJECTED, full.detail
    assert full.detail.startswith(f"leak check: {J2K_AFTER}: more than 4 MB"), full.detail
    assert full.detail.endswith("too much to search; not written")
    assert outcomes["padded"].status is Status.WRITTEN, outcomes["padded"].detail


def test_a_jpeg_2000_comment_that_runs_past_the_frame_s_end_is_found() -> None:
    """As a JPEG segment's: what the frame holds of it is searched."""
    siz = b"\xff\x51" + struct.pack(">H", 41) + bytes(39)
    com = b"\xff\x64" + struct.pack(">HH", 4096, 1) + b"Zebulon Quixotic"
    assert [
        text.rstrip(b"\0") for _, text in from_bytes(encapsulate([b"\xff\x4f" + siz + com]))
    ] == [b"Zebulon Quixotic"]


@pytest.mark.parametrize(
    "tail",
    [b"QZX7734", b"\0\0\0\x04QZX7734521", b"\x7f\0\0\0xml QZX7734521"],
    ids=["shorter-than-a-box", "too-short-a-box", "past-the-end"],
)
def test_bytes_after_the_last_jp2_box_are_searched(tail: bytes) -> None:
    """Bytes after a JP2 file's last box that make no whole box (fewer than a box's header, a
    length shorter than one, a length past the frame's end, its header included) reach the
    output with the pixels: they are searched as text, padding aside; so is a codestream box
    that holds no codestream."""
    jp2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + struct.pack(">L", 16) + b"ftypjp2 \0\0\0\0"
    found = from_bytes(encapsulate([jp2 + tail]))
    assert [(where, text.rstrip(b"\0")) for where, text in found] == [
        ("data after the last JP2 box in fragment 1 of Pixel Data", tail)
    ]
    assert from_bytes(encapsulate([jp2 + b"\0" * 10])) == []
    jp2c = struct.pack(">L", 18) + b"jp2cQZX7734521"  # (no codestream: text)
    assert from_bytes(encapsulate([jp2 + jp2c])) == [
        ("JP2 jp2c box in fragment 1 of Pixel Data", b"QZX7734521")
    ]


def test_a_signature_or_file_type_box_of_unusual_size_is_searched() -> None:
    """The signature and file type boxes are left out only at their usual size: one that runs to
    the frame's end (length 0) holds whatever follows."""
    xml = struct.pack(">L", 20) + b"xml Doe^Jane    "
    jp2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + struct.pack(">L", 0) + b"ftypjp2 \0\0\0\0" + xml
    assert from_bytes(encapsulate([jp2])) == [
        ("JP2 ftyp box in fragment 1 of Pixel Data", b"jp2 \0\0\0\0" + xml)
    ]


@pytest.mark.parametrize("name", ["MR_small_jpeg_ls_lossless.dcm", "JPEGLSNearLossless_16.dcm"])
def test_text_after_the_end_of_a_jpeg_ls_image_is_found(name: str) -> None:
    """A JPEG-LS frame starts as a JPEG one (SOI) and is searched as one: text after its end of
    image is found, and its coded data (where a 0xFF is followed by a byte below 0x80) yields
    nothing else."""
    ds = pydicom.dcmread(get_testdata_file(name, download=False))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    assert frame.startswith(b"\xff\xd8")
    found = from_bytes(encapsulate([frame.rstrip(b"\0") + b"Zebulon Quixotic"]))
    assert found == [
        ("data after the end of a JPEG image in fragment 1 of Pixel Data", b"Zebulon Quixotic")
    ]


# ---- video streams (the MPEG transfer syntaxes) ------------------------------------------------


def _unit(code: bytes, payload: bytes = b"", long_code: bool = False) -> bytes:
    return (b"\x00\x00\x00\x01" if long_code else b"\x00\x00\x01") + code + payload


CODED = bytes(range(3, 250)) * 40  # coded data: never a start code (00 00 01)
VIDEOS = {
    # codec: (stream with a user data / SEI unit holding a name, where it is found)
    "H.264": (
        _unit(b"\x09\xf0", long_code=True)  # access unit delimiter
        + _unit(b"\x67", CODED[:20])  # sequence parameter set
        + _unit(b"\x06", b"\x05\x20" + b"\x11" * 16 + b"Quixotic^Packard PID7734521\x80")
        + _unit(b"\x65", CODED),  # a slice
        "H.264 SEI message in fragment 1 of Pixel Data",
    ),
    "H.265": (
        _unit(b"\x40\x01", CODED[:20], long_code=True)  # video parameter set
        + _unit(b"\x4e\x01", b"\x05\x20" + b"Quixotic^Packard PID7734521\x80")  # prefix SEI
        + _unit(b"\x26\x01", CODED),
        "H.265 SEI message in fragment 1 of Pixel Data",
    ),
    "MPEG-2": (
        _unit(b"\xb3", CODED[:8])  # sequence header
        + _unit(b"\xb2", b"Quixotic^Packard PID7734521")  # user data
        + _unit(b"\x00", CODED[:30])  # picture
        + _unit(b"\x06", CODED),  # slice 6: not an SEI (that is H.264's type 6)
        "MPEG user data in fragment 1 of Pixel Data",
    ),
}


@pytest.mark.parametrize("codec", list(VIDEOS))
def test_the_user_data_of_a_video_stream_is_found(codec: str) -> None:
    """Text a recorder writes beside the pictures of a video (H.264 and H.265 SEI messages, MPEG
    user data): found up to the next start code; the coded units are not (they were never
    searched: only JPEG and JPEG 2000 frames were)."""
    stream, where = VIDEOS[codec]
    found = from_fragments([b"", stream[:100], stream[100:]])  # (split: read across them)
    assert [w for w, _ in found] == [where]
    assert b"Quixotic^Packard PID7734521" in found[0][1]
    assert CODED[40:80] not in found[0][1]
    plain = stream.replace(b"Quixotic^Packard PID7734521", b"")
    assert [w for w, _ in from_fragments([b"", plain])] == [where]  # (empty of text: a unit)
    without = b"".join(
        unit for unit in stream.split(b"\x00\x00\x01") if unit and unit[:1] not in b"\x06\x4e\xb2"
    )
    assert from_fragments([b"", b"\x00\x00\x01" + without.replace(b"\x00\x00\x00", b"")]) == []


def test_a_video_stream_with_more_user_data_than_is_searched_is_unsearchable() -> None:
    from dicomscrub.embedded import SEARCH_LIMIT, Unsearchable

    stream = _unit(b"\x09\xf0") + _unit(b"\x06", b"x" * (SEARCH_LIMIT + 10)) + _unit(b"\x65")
    with pytest.raises(Unsearchable, match=r"H\.264 SEI messages in fragment 1 of Pixel Data"):
        from_fragments([b"", stream])


def test_a_video_frame_with_a_name_in_its_user_data_is_rejected(tmp_path: Path, key: Key) -> None:
    from dicomscrub.process import Status

    ds = _with_comment(b"by dcmtk")
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.102"  # MPEG-4 AVC/H.264
    ds.PixelData = encapsulate([VIDEOS["H.264"][0]])
    result = _processed(tmp_path, key, ds, "video.dcm")
    assert result.status is Status.REJECTED, result.detail
    assert "at H.264 SEI message in fragment 1 of Pixel Data" in result.detail


def _rle(plane: bytes, after: bytes = b"", header_tail: bytes = b"") -> bytes:
    """A one-segment RLE frame: ``plane`` as one literal run, then ``after``."""
    runs = bytes([len(plane) - 1]) + plane + after
    header = (struct.pack("<2L", 1, 64) + header_tail).ljust(64, b"\0")
    return header + runs + b"\0" * (len(runs) % 2)


def test_rle_frames_are_walked_up_to_a_limit_and_their_headers_searched_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Walking a segment's runs is Python's work, about 75 ns a byte at worst: a crafted file
    of a gigabyte of one-byte runs would take minutes. Past the limit, frames are not walked,
    but their headers' unused offsets are still searched."""
    monkeypatch.setattr(embedded, "RLE_WALK_LIMIT", 100)
    first = _rle(b"\1\2\3\4", b"DOE^JANE")
    second = _rle(b"\1\2\3\4", b"ROE^JOHN", b"MRN0012345")
    found = from_fragments([b"", first, second], plane=4)
    assert found == [
        ("RLE segment 1 of fragment 1 of Pixel Data, after its pixels", b"DOE^JANE\0"),
        ("RLE header in fragment 2 of Pixel Data", b"MRN0012345".ljust(56, b"\0")),
    ]
    assert from_fragments([b"", first, second]) == []  # (Rows x Columns not known: not walked)


def test_the_header_of_an_rle_frame_whose_offsets_do_not_rise_is_searched() -> None:
    header = struct.pack("<3L", 2, 64, 1 << 20)  # (a second segment past the frame's end)
    frame = (header + b"DOE^JANE").ljust(64, b"\0") + b"\3\1\2\3\4\0"
    found = from_fragments([b"", frame], plane=4)
    assert found == [("RLE header in fragment 1 of Pixel Data", b"DOE^JANE".ljust(52, b"\0"))]


def test_more_fragments_than_are_looked_at_are_unsearchable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A value of more fragments than FRAMES_LIMIT is not searched in part (a comment in a later
    frame would go unseen): it raises Unsearchable, and run rejects the file; one of as many
    fragments as the limit is searched whole."""
    from dicomscrub.embedded import Unsearchable

    monkeypatch.setattr(embedded, "FRAMES_LIMIT", 3)
    frames = [_jpeg(), _jpeg(), _jpeg(_segment(0xFE, b"Zebulon Quixotic"))]
    assert from_bytes(encapsulate(frames)) == [
        ("JPEG comment in fragment 3 of Pixel Data", b"Zebulon Quixotic")
    ]
    with pytest.raises(Unsearchable, match="more than 3 fragments"):
        from_bytes(encapsulate([_jpeg(), *frames]))
