"""The structural check: where Pixel Data lies, and which damage is found before any write."""

from __future__ import annotations

import io
import itertools
import re
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any, cast

import pydicom
import pytest
from pydicom.dataelem import RawDataElement

from corpus import TEST_FILES, bundled
from dicomscrub import process, structure
from dicomscrub.discover import Kind, sniff
from dicomscrub.layout import read_layout
from dicomscrub.needles import meta_from_bytes, meta_from_map
from dicomscrub.process import _meta_uids, _quiet_pydicom, header_from_elements, read_header
from dicomscrub.structure import UNDEFINED, Damaged, FileMap, scan


def scan_bytes(data: bytes) -> FileMap:
    return scan(io.BytesIO(data), len(data), sniff(data[:512]))


def test_defined_length_pixel_data_is_located_with_trailing_elements_after_it() -> None:
    data = bundled("CT_small.dcm").read_bytes()
    fmap = scan_bytes(data)
    assert fmap.pixel is not None
    assert fmap.pixel.tag == 0x7FE00010 and fmap.pixel.vr == "OW"
    assert data[fmap.pixel.start : fmap.pixel.start + 4] == b"\xe0\x7f\x10\x00"
    assert fmap.pixel.end - fmap.pixel.value_start == fmap.pixel.length == 32768
    assert fmap.pixel.end < len(data)  # CT_small has elements after Pixel Data


def test_encapsulated_pixel_data_ends_after_its_sequence_delimiter() -> None:
    data = bundled("JPEG2000.dcm").read_bytes()
    fmap = scan_bytes(data)
    assert fmap.pixel is not None and fmap.pixel.length == UNDEFINED
    assert data[fmap.pixel.value_end : fmap.pixel.end] == b"\xfe\xff\xdd\xe0\0\0\0\0"


def test_implicit_and_big_endian_files_are_read_as_encoded() -> None:
    implicit = scan_bytes(bundled("MR_small_implicit.dcm").read_bytes())
    big = scan_bytes(bundled("MR_small_bigendian.dcm").read_bytes())
    assert (implicit.implicit, implicit.little) == (True, True)
    assert (big.implicit, big.little) == (False, False)
    assert implicit.syntax_matches and big.syntax_matches


def test_deflated_file_is_reported_and_not_mapped() -> None:
    fmap = scan_bytes(bundled("image_dfl.dcm").read_bytes())
    assert fmap.deflated and fmap.pixel is None


def _deflated(change: Callable[[bytes], bytes]) -> bytes:
    """image_dfl.dcm with its inflated data set changed by ``change`` and deflated again."""
    data = bundled("image_dfl.dcm").read_bytes()
    start = 144 + int.from_bytes(data[140:144], "little")  # after the file meta
    body = change(zlib.decompress(data[start:], -zlib.MAX_WBITS))
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return data[:start] + packer.compress(body) + packer.flush()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda body: body[:-7], "Pixel Data runs past the end of the file (truncated)"),
        (lambda body: body[: len(body) // 3], "(truncated)"),
        (
            lambda body: body.replace(b"\x08\x00\x60\x00CS", b"\x08\x00\x60\x00\x85\x85", 1),
            "unknown value representation at (0008,0060)",
        ),
        (lambda body: b"", "no data set (truncated)"),
    ],
    ids=["cut-in-pixel-data", "cut-in-header", "unknown-vr", "empty"],
)
def test_a_deflated_data_set_is_inflated_and_walked(
    change: Callable[[bytes], bytes], reason: str
) -> None:
    """A data set cut short before it was deflated has a whole deflate stream: pydicom reads
    what is there and stops, and the run wrote the rest of the file as if complete."""
    assert scan_bytes(_deflated(lambda body: body)).deflated
    with pytest.raises(Damaged, match=re.escape(reason)) as info:
        scan_bytes(_deflated(change))
    assert str(info.value).endswith("of the inflated data set)") or reason.startswith("no data")


def test_a_deflate_stream_that_is_cut_short_is_damaged() -> None:
    data = bundled("image_dfl.dcm").read_bytes()
    with pytest.raises(Damaged, match="cannot be inflated"):
        scan_bytes(data[: len(data) - 100])


def _padded(body: bytes, size: int) -> bytes:
    """``body`` (an explicit VR little endian data set) with Data Set Trailing Padding of
    ``size`` zero bytes after it: a data set that deflates to almost nothing."""
    return body + b"\xfc\xff\xfc\xffOB\0\0" + struct.pack("<L", size) + bytes(size)


def test_a_deflated_data_set_may_inflate_up_to_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    data = bundled("image_dfl.dcm").read_bytes()
    start = 144 + int.from_bytes(data[140:144], "little")
    size = len(zlib.decompress(data[start:], -zlib.MAX_WBITS))
    monkeypatch.setattr(structure, "INFLATED_LIMIT", size)
    assert scan_bytes(data).deflated
    monkeypatch.setattr(structure, "INFLATED_LIMIT", size - 1)
    with pytest.raises(structure.Overinflated, match=r"inflates to more than .* \(byte \d+\)"):
        scan_bytes(data)


def test_a_deflate_bomb_is_refused_without_inflating_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A megabyte that inflates to a gigabyte (here 64 MB from 64 KB) is refused once the
    limit is passed: what is held never grows much past the limit (the whole was held before,
    by the check and again by pydicom, and a worker could run out of memory)."""
    bomb = _deflated(lambda body: _padded(body, 64 << 20))
    assert len(bomb) < 200_000
    monkeypatch.setattr(structure, "INFLATED_LIMIT", 1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(structure.Overinflated, match="inflates to more than 1 MB"):
            scan_bytes(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_the_inflated_layout_of_a_deflate_bomb_is_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``check`` lays out every file of a tree to search it: a bomb there is left as bytes."""
    bomb = _deflated(lambda body: _padded(body, 8 << 20))
    monkeypatch.setattr(structure, "INFLATED_LIMIT", 1 << 20)
    layout = read_layout(bomb)
    assert not layout.complete and len(layout.data) == len(bomb)


@pytest.mark.parametrize(
    "name", sorted(p.name for p in TEST_FILES.glob("*.dcm") if "truncated" not in p.name)
)
def test_every_bundled_file_that_is_not_truncated_passes_the_check(name: str) -> None:
    data = (TEST_FILES / name).read_bytes()
    if sniff(data[:512]) is Kind.NOT_DICOM:
        pytest.skip("not recognised as DICOM by content")
    scan_bytes(data)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("MR_truncated.dcm", "Pixel Data runs past the end of the file (truncated)"),
        ("rtplan_truncated.dcm", "(truncated)"),
    ],
)
def test_pydicoms_truncated_files_are_damaged(name: str, reason: str) -> None:
    with pytest.raises(Damaged, match=reason.replace("(", r"\(").replace(")", r"\)")):
        scan_bytes(bundled(name).read_bytes())


def _meta_end(data: bytes) -> int:
    return 144 + int(struct.unpack("<I", data[140:144])[0])


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (lambda data: data[:132], "file ends after its DICM marker, with no data set (truncated)"),
        (lambda data: data[:144], "file ends after its file meta, with no data set (truncated)"),
        (
            lambda data: data[: _meta_end(data)],
            "file ends after its file meta, with no data set (truncated)",
        ),
        (lambda data: b"DICM", "file ends after its DICM marker, with no data set (truncated)"),
        (lambda data: b"DICM\x02\x00\x10\x00", "file ends inside an element header (truncated)"),
    ],
    ids=["after-dicm", "after-group-length", "after-file-meta", "dicm-alone", "dicm-then-a-tag"],
)
def test_a_file_with_a_dicm_marker_and_no_data_set_is_damaged(cut: Any, reason: str) -> None:
    """Not "not DICOM": the marker says what the file is, and it was cut short."""
    data = cut(bundled("CT_small.dcm").read_bytes())
    assert sniff(data[:512]) is not Kind.NOT_DICOM
    with pytest.raises(Damaged, match=reason.replace("(", r"\(").replace(")", r"\)")):
        scan_bytes(data)


@pytest.mark.parametrize(
    ("length", "reason"),
    [
        (0xFFF0, "length (truncated) at (0010,0010)"),  # runs past the end of the file
        (4, "unknown value representation"),  # the next header lands inside the value
    ],
)
def test_a_wrong_length_is_found_and_located(length: int, reason: str) -> None:
    data = bytearray(bundled("CT_small.dcm").read_bytes())
    pos = data.index(b"\x10\x00\x10\x00PN")  # Patient's Name
    data[pos + 6 : pos + 8] = struct.pack("<H", length)
    with pytest.raises(Damaged, match=r"\(byte \d+\)$") as info:
        scan_bytes(bytes(data))
    assert str(info.value).startswith(reason)


def test_a_damaged_message_holds_no_value_from_the_file() -> None:
    data = bundled("CT_small.dcm").read_bytes()
    cut = data[: data.index(b"CompressedSamples") + 5]
    with pytest.raises(Damaged) as info:
        scan_bytes(cut)
    assert "Compressed" not in str(info.value)


BUNDLED = sorted(p.name for p in TEST_FILES.iterdir() if p.is_file())


def _mapped(data: bytes) -> tuple[FileMap, int, bytes] | None:
    """A bundled file's map, where its header ends (Pixel Data), and what ``_load`` puts before
    the file's bytes (a preamble for a file without one); None for a file _load never reads."""
    if sniff(data[:512]) is Kind.NOT_DICOM:
        return None
    try:
        fmap = scan_bytes(data)
    except Damaged:
        return None
    end = fmap.pixel.start if fmap.pixel is not None else len(data)
    return fmap, end, b"\0" * 128 if fmap.kind is Kind.BARE_META else b""


def _header_reads(data: bytes) -> tuple[object, object] | None:
    """(read_header, dcmread) of a bundled file's bytes up to Pixel Data, as _load reads them."""
    if (mapped := _mapped(data)) is None:
        return None
    fmap, end, prefix = mapped
    head = prefix + data[:end]
    with _quiet_pydicom():
        return read_header(head, fmap), pydicom.dcmread(io.BytesIO(head), force=True)


def _assert_read_alike(fast: object, slow: object) -> None:
    """Two readings of one header are the same data set, file meta and encoding, their elements
    still as read alike (but for where in their buffers they were found)."""
    with _quiet_pydicom():  # comparing decodes values, which may warn
        assert isinstance(fast, pydicom.FileDataset) and isinstance(slow, pydicom.FileDataset)
        assert fast.preamble == slow.preamble
        assert fast.original_encoding == slow.original_encoding
        assert fast.original_character_set == slow.original_character_set
        assert list(fast.file_meta.keys()) == list(slow.file_meta.keys())
        assert fast.file_meta == slow.file_meta
        assert fast.file_meta.original_encoding == slow.file_meta.original_encoding
        assert list(fast.keys()) == list(slow.keys())
        for tag, a in fast._dict.items():  # as read, before anything decodes them
            b = slow._dict[tag]
            assert type(a) is type(b)
            if isinstance(a, RawDataElement) and isinstance(b, RawDataElement):
                assert a._replace(value_tell=0) == b._replace(value_tell=0)
        assert fast == slow


@pytest.mark.parametrize("name", BUNDLED)
def test_the_header_reader_reads_what_dcmread_reads(name: str) -> None:
    reads = _header_reads((TEST_FILES / name).read_bytes())
    if reads is None:
        pytest.skip("not a file that reaches the header reader")
    _assert_read_alike(*reads)


def test_the_header_reader_leaves_command_elements_to_dcmread() -> None:
    data = bundled("CT_small.dcm").read_bytes()
    fmap = scan_bytes(data)
    assert fmap.pixel is not None
    command = struct.pack("<HH2sH", 0, 0x0100, b"US", 2) + b"\x01\x00"
    head = data[: fmap.dataset_start] + command + data[fmap.dataset_start : fmap.pixel.start]
    with _quiet_pydicom():
        ds = read_header(head, fmap)
        assert 0x00000100 in ds and ds[0x00000100].value == 1
        assert ds == pydicom.dcmread(io.BytesIO(head), force=True)


def _from_elements(data: bytes) -> tuple[object, object] | None:
    """(header_from_elements, dcmread) of a bundled file's top-level elements of defined length
    before Pixel Data, the second read from those elements' bytes joined as the lanes join them."""
    if (mapped := _mapped(data)) is None:
        return None
    fmap, end, prefix = mapped
    elements = [e for e in fmap.elements if e[5] <= end and e[4] != UNDEFINED]
    if not elements:
        return None  # (nothing to tell dcmread the encoding by: tests/e2e/test_lanes.py checks it)
    head = prefix + data[: fmap.dataset_start] + b"".join(data[e[2] : e[5]] for e in elements)
    with _quiet_pydicom():
        fast = header_from_elements(data[:end], fmap, elements)
        if fast is None:
            return None
        return fast, pydicom.dcmread(io.BytesIO(head), force=True)


@pytest.mark.parametrize("name", BUNDLED)
def test_the_header_made_from_elements_is_what_dcmread_reads(name: str) -> None:
    reads = _from_elements((TEST_FILES / name).read_bytes())
    if reads is None:
        pytest.skip("not a file whose header is made from its elements")
    _assert_read_alike(*reads)


def test_most_bundled_headers_are_made_from_their_elements() -> None:
    made = [name for name in BUNDLED if _from_elements((TEST_FILES / name).read_bytes())]
    assert len(made) >= 60
    assert "CT_small.dcm" in made and "MR_small_bigendian.dcm" in made
    assert "MR_small_implicit.dcm" in made


def _attributes(ds: pydicom.Dataset) -> dict[str, object]:
    """A data set's attributes, comparable: data sets by theirs, buffers by their content."""
    found: dict[str, object] = {}
    for name, value in ds.__dict__.items():
        if isinstance(value, pydicom.Dataset):
            value = (type(value), _attributes(value))
        elif isinstance(value, io.BytesIO):
            value = (io.BytesIO, value.getvalue())
        found[name] = value
    return found


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm"]
)
def test_a_header_of_no_element_is_the_data_set_the_constructor_makes(name: str) -> None:
    # header_from_elements makes empty data sets from a blank, not through pydicom's constructor
    data = bundled(name).read_bytes()
    fmap = scan_bytes(data)
    end = fmap.pixel.start if fmap.pixel is not None else len(data)
    made = header_from_elements(data[:end], fmap, [], with_meta=False)
    assert isinstance(made, pydicom.FileDataset)
    preamble = data[:128] if fmap.kind is Kind.PART10 else b"\0" * 128
    with _quiet_pydicom():
        built = process._file_dataset(
            {}, preamble, pydicom.dataset.FileMetaDataset(), fmap.implicit, fmap.little
        )
    assert _attributes(made) == _attributes(built)
    assert made.original_encoding == (fmap.implicit, fmap.little)


def test_data_sets_made_from_a_blank_share_nothing_they_change() -> None:
    data = bundled("CT_small.dcm").read_bytes()
    fmap = scan_bytes(data)
    assert fmap.pixel is not None
    header = data[: fmap.pixel.start]
    first = header_from_elements(header, fmap, [], with_meta=False)
    second = header_from_elements(header, fmap, [], with_meta=False)
    assert first is not None and second is not None
    first.PatientName = "CHANGED"
    first.file_meta.MediaStorageSOPInstanceUID = "1.2.3"
    first.private_block(0x0009, "A CREATOR", create=True)
    assert len(second) == 0 and len(second.file_meta) == 0
    assert second._private_blocks == {} and second._pixel_id == {}
    blank = process._BLANKS[fmap.implicit, fmap.little]
    assert blank is not None and blank.attrs["_dict"] == {}
    assert blank.attrs["_private_blocks"] == {}


def test_an_unknown_attribute_of_a_data_set_leaves_it_to_the_constructor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = pydicom.Dataset()
    empty.__dict__["_new_in_another_version"] = []
    assert process._Blank.of(empty) is None
    data = bundled("CT_small.dcm").read_bytes()
    fmap = scan_bytes(data)
    assert fmap.pixel is not None
    monkeypatch.setattr(process, "_BLANKS", {(fmap.implicit, fmap.little): None})
    made = header_from_elements(data[: fmap.pixel.start], fmap, [])
    assert isinstance(made, pydicom.FileDataset)
    assert made.original_encoding == (fmap.implicit, fmap.little)


def test_the_walk_hands_back_the_header_and_trailing_bytes_it_read() -> None:
    data = bundled("CT_small.dcm").read_bytes()
    fmap = scan_bytes(data)
    assert fmap.pixel is not None
    assert fmap.bytes_at(0, fmap.pixel.start) == data[: fmap.pixel.start]
    assert fmap.bytes_at(fmap.pixel.end, len(data)) == data[fmap.pixel.end :]
    assert fmap.bytes_at(len(data) - 10, len(data) + 10) is None  # not all in a window


def test_pixel_data_beyond_the_windows_is_not_read() -> None:
    data = bundled("CT_small.dcm").read_bytes()
    fmap = scan_bytes(data)
    assert fmap.pixel is not None and fmap.pixel.length != UNDEFINED
    extra = 200_000  # a longer Pixel Data value, so that the walk jumps over most of it
    at = fmap.pixel.value_start - 4
    big = data[:at] + struct.pack("<L", fmap.pixel.length + extra)
    big += data[fmap.pixel.value_start : fmap.pixel.value_end] + b"\0" * extra
    big += data[fmap.pixel.value_end :]
    fmap = scan_bytes(big)
    assert fmap.pixel is not None
    assert fmap.bytes_at(0, fmap.pixel.start) == big[: fmap.pixel.start]
    assert fmap.bytes_at(fmap.pixel.end, len(big)) == big[fmap.pixel.end :]
    middle = fmap.pixel.value_start + 100_000
    assert fmap.bytes_at(middle, middle + 100) is None


def test_the_walk_starts_from_bytes_already_read() -> None:
    data = bundled("CT_small.dcm").read_bytes()
    given = scan(io.BytesIO(data), len(data), sniff(data[:512]), first=data[:4096])
    assert given == scan_bytes(data)
    assert given.bytes_at(0, 4096) == data[:4096]


class _Trickle(io.RawIOBase):
    """A raw input that hands out at most 1,000 bytes per read, as an unbuffered read may."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:  # a writable buffer
        chunk = self.data[self.pos : self.pos + min(len(buffer), 1000)]
        buffer[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def test_short_reads_are_read_on_and_a_shorter_file_is_damaged() -> None:
    from dicomscrub.process import _read_exact

    data = bytes(range(256)) * 40
    assert _read_exact(_Trickle(data), 100, 9000) == data[100:9000]
    with pytest.raises(Damaged, match="file got shorter while being read"):
        _read_exact(_Trickle(data[:5000]), 100, 9000)


def _rescanned(data: bytes, layout: object) -> tuple[FileMap | None, FileMap | str]:
    """(the map :func:`scan` recalls for ``data`` with ``layout`` remembered, or None when it
    does not recognise it; what the walk alone finds: its map or the damage it reports)."""
    kind = sniff(data[:512])
    structure._LAYOUTS.clear()
    if layout is not None:
        structure._LAYOUTS[(kind, len(data))] = cast(structure._Layout, layout)
    recalled = structure._recall(io.BytesIO(data), len(data), kind, data[: structure.WINDOW])
    try:
        walked: FileMap | str = structure._walk(
            io.BytesIO(data), len(data), kind, data[: structure.WINDOW]
        )
    except Damaged as exc:
        walked = str(exc)
    return recalled, walked


@pytest.mark.parametrize("name", BUNDLED)
def test_a_file_scanned_again_is_recognised_by_its_layout(name: str) -> None:
    data = (TEST_FILES / name).read_bytes()
    kind = sniff(data[:512])
    structure._LAYOUTS.clear()
    try:
        walked = scan(io.BytesIO(data), len(data), kind, first=data[: structure.WINDOW])
    except Damaged:
        return
    layout = structure._LAYOUTS.get((kind, len(data)))
    pixel = walked.pixel
    eligible = (
        pixel is not None
        and pixel.length != UNDEFINED
        and pixel.value_start <= structure.WINDOW
        and not walked.deflated
    )
    assert (layout is not None) == eligible, "remembered where it can be recalled"
    recalled, again = _rescanned(data, layout)
    assert again == walked and not isinstance(again, str)
    assert (recalled is not None) == eligible
    if recalled is not None:
        assert recalled == walked and recalled.windows == walked.windows


LAID_OUT = [
    "CT_small.dcm",  # a sequence, elements after Pixel Data
    "MR_small_implicit.dcm",
    "MR_small_expb.dcm",  # big endian, elements after Pixel Data
    "nested_priv_SQ.dcm",  # implicit VR, a private sequence
    "rtdose.dcm",
    "liver_1frame.dcm",  # six sequences
]


@pytest.mark.parametrize("name", LAID_OUT)
def test_a_layout_is_recalled_only_where_the_walk_would_find_the_same(name: str) -> None:
    """Every byte of the header and of the elements after Pixel Data changed in turn (two ways):
    where the remembered layout is recalled, walking the changed file finds that same map; where
    a change touches what the walk reads (tags, VRs, lengths, items), it is walked."""
    data = (TEST_FILES / name).read_bytes()
    kind = sniff(data[:512])
    structure._LAYOUTS.clear()
    fmap = scan(io.BytesIO(data), len(data), kind, first=data[: structure.WINDOW])
    layout = structure._LAYOUTS[(kind, len(data))]
    assert fmap.pixel is not None
    positions = [*range(fmap.pixel.value_start), *range(fmap.pixel.end, len(data))]
    _assert_recalled_as_walked(data, positions, (0xFF, 0x01), layout)


def test_long_values_split_what_a_layout_compares_into_segments() -> None:
    """(so that the test above also changes bytes in a gap between two segments)"""
    counts = {}
    for name in LAID_OUT:
        data = (TEST_FILES / name).read_bytes()
        kind = sniff(data[:512])
        structure._LAYOUTS.clear()
        scan(io.BytesIO(data), len(data), kind, first=data[: structure.WINDOW])
        layout = structure._LAYOUTS[(kind, len(data))]
        counts[name] = len(layout.head)
        for before, after in itertools.pairwise(layout.head):
            assert after.start - before.end > structure._GAP
    assert max(counts.values()) > 1, counts


def _assert_recalled_as_walked(
    data: bytes, positions: list[int], flips: tuple[int, ...], layout: object
) -> None:
    """Each byte at ``positions`` changed in turn (XOR each of ``flips``): where ``layout`` is
    recalled for the changed file, walking it finds the same map and windows; some changes are
    recalled and some walked (values and structure were both changed)."""
    kind = sniff(data[:512])
    recalled_n = walked_n = 0
    for pos in positions:
        for flip in flips:
            changed = bytearray(data)
            changed[pos] ^= flip
            if sniff(bytes(changed[:512])) is not kind:
                continue
            recalled, walked = _rescanned(bytes(changed), layout)
            if recalled is None:
                walked_n += 1
                continue
            recalled_n += 1
            assert recalled == walked, f"byte {pos} ^ {flip:#x}"
            assert recalled.windows == walked.windows
    assert recalled_n and walked_n


@pytest.mark.parametrize("name", BUNDLED)
def test_the_file_meta_uids_read_from_bytes_are_what_pydicom_decodes(name: str) -> None:
    data = (TEST_FILES / name).read_bytes()
    if (mapped := _mapped(data)) is None or mapped[0].kind is not Kind.PART10:
        pytest.skip("no file meta read by scan")
    fmap, end, _ = mapped
    with _quiet_pydicom():
        uids = _meta_uids(data[:end], fmap)
        meta = pydicom.dcmread(io.BytesIO(data), force=True).file_meta
        expected = {
            t: str(meta[t].value) for t in (0x00020002, 0x00020003, 0x00020010) if t in meta
        }
    if uids is None:
        assert any(isinstance(meta[t].value, list) or meta[t].VR != "UI" for t in expected)
    else:
        assert uids == expected


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"1.2.840.10008.1.2.1\0", "1.2.840.10008.1.2.1"),
        (b"1.2.840.10008.1.2 ", "1.2.840.10008.1.2"),
        (b"1.2.3\0 \0\0", "1.2.3"),
        (b" 1.2.3", "1.2.3"),
        (b"", ""),
        (b"1.2\\3.4", None),  # two values: read by pydicom
    ],
)
def test_odd_file_meta_uids_are_read_as_pydicom_reads_them(raw: bytes, text: str | None) -> None:
    data = bytearray(bundled("CT_small.dcm").read_bytes())
    fmap = scan_bytes(bytes(data))
    tag, _, start, _, _, after = next(e for e in fmap.meta_elements if e[0] == 0x00020003)
    padded = raw + b"\0" * (len(raw) % 2)
    element = struct.pack("<HH2sH", 0x0002, 0x0003, b"UI", len(padded)) + padded
    changed = bytes(data[:start]) + element + bytes(data[after:])
    group_length = struct.unpack_from("<L", changed, 140)[0] + len(element) - (after - start)
    changed = changed[:140] + struct.pack("<L", group_length) + changed[144:]
    fmap = scan_bytes(changed)
    assert fmap.pixel is not None
    with _quiet_pydicom():  # (as in process_file: pydicom warns of a UID that is not valid)
        uids = _meta_uids(changed[: fmap.pixel.start], fmap)
    if text is None:
        assert uids is None
        return
    assert uids is not None and uids[tag] == text
    with _quiet_pydicom():
        meta = pydicom.dcmread(io.BytesIO(changed), force=True).file_meta
        assert str(meta[tag].value) == text


@pytest.mark.parametrize("name", BUNDLED)
def test_file_meta_values_from_the_map_are_those_from_its_bytes(name: str) -> None:
    data = (TEST_FILES / name).read_bytes()
    if (mapped := _mapped(data)) is None or not mapped[0].meta_elements:
        pytest.skip("no file meta read by scan")
    fmap = mapped[0]
    start = 132 if fmap.kind is Kind.PART10 else 4
    assert meta_from_map(data, fmap.meta_elements) == meta_from_bytes(
        data[start : fmap.dataset_start]
    )


def test_a_layout_covers_the_fragments_of_a_second_bulk_element() -> None:
    """A defined-length Float Pixel Data is the element mapped (and copied by range); the
    encapsulated Pixel Data after it is walked, so its fragments' headers are part of the layout:
    changing any byte after Float Pixel Data is recalled only where the walk finds the same."""
    data = bundled("CT_small.dcm").read_bytes()
    fmap = scan_bytes(data)
    assert fmap.pixel is not None
    floats = struct.pack("<HH2sHL", 0x7FE0, 0x0008, b"OF", 0, 8) + b"\0" * 8
    fragments = b"".join(
        struct.pack("<HHL", 0xFFFE, 0xE000, n) + bytes(range(n)) for n in (0, 12, 20)
    )
    pixel = struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF) + fragments
    pixel += struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
    built = data[: fmap.pixel.start] + floats + pixel
    kind = sniff(built[:512])
    structure._LAYOUTS.clear()
    mapped = scan(io.BytesIO(built), len(built), kind, first=built[: structure.WINDOW])
    assert mapped.pixel is not None and mapped.pixel.tag == 0x7FE00008
    layout = structure._LAYOUTS[(kind, len(built))]
    _assert_recalled_as_walked(built, list(range(mapped.pixel.end, len(built))), (0x01,), layout)


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit", "explicit"])
@pytest.mark.parametrize("length", [0, 2, 8])
def test_a_group_length_of_another_length_than_4_is_damaged(implicit: bool, length: int) -> None:
    """pydicom cannot read a group length (UL) of 2 bytes: the file failed ("cannot
    de-identify: BytesLengthException ...", a failure of dicomscrub's own, unlocated) instead of
    being rejected as damaged."""

    def element(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
        if implicit:
            return struct.pack("<HHI", group, elem, len(value)) + value
        return struct.pack("<HH2sH", group, elem, vr, len(value)) + value

    def data_set(group_length: bytes) -> bytes:
        return (
            element(0x0008, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.66\0")
            + element(0x0008, 0x0018, b"UI", b"1.2.3.4\0")
            + element(0x0020, 0x0000, b"UL", group_length)
            + element(0x0020, 0x0013, b"IS", b"1 ")
        )

    assert len(scan_bytes(data_set(b"\x0a\0\0\0")).elements) == 4
    with pytest.raises(Damaged, match=re.escape("whose length is not 4 at (0020,0000) (byte ")):
        scan_bytes(data_set(b"\x0a\0\0\0\0\0\0\0"[:length]))
