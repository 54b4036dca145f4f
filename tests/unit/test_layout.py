"""The byte layout reader: every value located by its tag path, in every encoding, and never an
exception on a file that stops making sense."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from dicomscrub.layout import read_layout

BuildCT = Callable[..., Dataset]
NAME = b"DOE^JANE"


def encode(ds: Dataset, syntax: UID, preamble: bytes = b"\0" * 128) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    ds.file_meta = meta
    ds.preamble = preamble
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if syntax.is_deflated:
            ds.save_as(buffer, enforce_file_format=True)
        else:
            ds.save_as(
                buffer,
                implicit_vr=syntax.is_implicit_VR,
                little_endian=syntax.is_little_endian,
                enforce_file_format=True,
            )
    return buffer.getvalue()


def paths_of(data: bytes, needle: bytes) -> list[str]:
    """The located path of every occurrence of ``needle``."""
    layout = read_layout(data)
    found, pos = [], layout.data.find(needle)
    while pos >= 0:
        found.append(layout.locate(pos))
        pos = layout.data.find(needle, pos + 1)
    return found


@pytest.mark.parametrize(
    "syntax",
    [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian],
    ids=["explicit-le", "implicit-le", "explicit-be"],
)
def test_values_are_located_at_any_depth_in_every_encoding(ct: Dataset, syntax: UID) -> None:
    ct.PixelData = b"\0" * 32
    ct.Rows = ct.Columns = 4
    ct.BitsAllocated = 16
    layout = read_layout(encode(ct, syntax))
    assert layout.complete
    assert paths_of(encode(ct, syntax), NAME) == [
        "(0008,2218)[0]/(0010,0010)",  # AnatomicRegionSequence item
        "(0010,0010)",
        "(0019,1010)",
    ]
    assert [s.path for s in layout.spans if s.bulk] == ["(7FE0,0010)"]


def test_preamble_and_file_meta_are_located(ct: Dataset) -> None:
    data = encode(ct, ExplicitVRLittleEndian, preamble=NAME + b"\0" * 120)
    assert paths_of(data, NAME)[0] == "preamble"
    assert read_layout(data).locate(data.find(b"1.2.840.10008.1.2.1")) == "(0002,0010)"


def test_deflated_data_set_is_inflated_and_located(ct: Dataset) -> None:
    data = encode(ct, DeflatedExplicitVRLittleEndian)
    assert NAME not in data  # compressed
    layout = read_layout(data)
    assert layout.inflated_at is not None
    assert "(0010,0010)" in paths_of(data, NAME)


def test_encapsulated_pixel_fragments_are_bulk_and_excluded_from_segments(ct: Dataset) -> None:
    ct.PixelData = b"\xfe\xff\x00\xe0\x00\x00\x00\x00" + b"\xfe\xff\x00\xe0\x04\x00\x00\x00JANE"
    ct["PixelData"].VR = "OB"
    ct["PixelData"].is_undefined_length = True
    data = encode(ct, JPEGBaseline8Bit)
    layout = read_layout(data)
    assert layout.complete
    offset = layout.data.find(b"JANE\xfe\xff")
    assert layout.is_bulk(offset)
    assert all(b"JANE\xfe\xff" not in piece for _, piece in layout.segments())


def test_bare_data_set_without_file_meta_is_read(ct: Dataset) -> None:
    buffer = io.BytesIO()
    dcmwrite(buffer, ct, implicit_vr=True, little_endian=True)
    assert "(0010,0010)" in paths_of(buffer.getvalue(), NAME)


def test_a_file_that_stops_making_sense_gives_raw_offsets_not_an_error(ct: Dataset) -> None:
    data = encode(ct, ExplicitVRLittleEndian)
    broken = data + b"\x08\x00\x01\x00\x01\x02" + NAME  # a header with no valid VR
    layout = read_layout(broken)
    assert not layout.complete
    assert layout.locate(broken.rfind(NAME)).startswith("raw bytes at offset ")
    assert read_layout(b"not dicom at all " + NAME).locate(17) == "raw bytes at offset 17"
