"""The fast encoder writes exactly the bytes pydicom's own writer writes."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import UID

import dicomscrub.encode
from corpus import TEST_FILES
from dicomscrub.encode import (
    bytes_io,
    encode_file,
    file_meta_bytes,
    file_meta_dataset,
    plain_ascii,
    write_elements,
)
from dicomscrub.pipeline import Scrubber
from dicomscrub.profile.loader import load_profile
from dicomscrub.pseudonym import Key, Pseudonymizer

NAMES = sorted(p.name for p in TEST_FILES.glob("*.dcm"))
SCRUBBER = Scrubber(load_profile("basic"), Pseudonymizer(Key(b"encode-test-key-0123", "file")))


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom validates values; process_file too
@pytest.mark.parametrize("scrub", [False, True], ids=["as-read", "scrubbed"])
@pytest.mark.parametrize("name", NAMES)
def test_encode_file_equals_pydicom_save_as(name: str, scrub: bool) -> None:
    try:
        ds = pydicom.dcmread(TEST_FILES / name, force=True)
        ts = UID(str(ds.file_meta.TransferSyntaxUID))
        ts.is_implicit_VR  # noqa: B018 - a transfer syntax pydicom can encode
    except Exception as exc:
        pytest.skip(f"pydicom cannot read or encode it: {type(exc).__name__}")
    if ds.original_encoding != (ts.is_implicit_VR, ts.is_little_endian):
        pytest.skip("read in another encoding than its transfer syntax (decoded first)")
    if scrub:
        SCRUBBER.scrub(ds)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7")
    meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "2.25.1")
    meta.TransferSyntaxUID = ts
    ds.file_meta, ds.preamble = meta, b"\0" * 128
    try:
        ours = encode_file(ds, ts, [(int(e.tag), e.VR, e.value) for e in meta])
    except Exception as exc:
        with pytest.raises(type(exc)):
            ds.save_as(io.BytesIO(), enforce_file_format=True)
        return
    theirs = io.BytesIO()
    ds.save_as(
        theirs,
        implicit_vr=ts.is_implicit_VR,
        little_endian=ts.is_little_endian,
        enforce_file_format=True,
    )
    assert ours == theirs.getvalue()


@pytest.mark.filterwarnings("ignore::UserWarning")  # invalid UIDs: written as they are
@pytest.mark.parametrize(
    ("sop_class", "sop_instance", "version"),
    [
        ("1.2.840.10008.5.1.4.1.1.2", "2.25.12345", "DICOMSCRUB_010"),
        ("1.2.840.10008.5.1.4.1.1.4", "2.25.1234", "ODD"),
        ("1.2.3", "1.2.840.10008.99 ", "A"),
        ("1.2.840.10008.5.1.4.1.1.2", "1" * 64, "SIXTEEN_CHARS_16"),
    ],
)
def test_file_meta_bytes_equal_pydicom(sop_class: str, sop_instance: str, version: str) -> None:
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.1")
    meta.ImplementationClassUID = UID("2.25.203283536178416316722493390717806498765")
    meta.ImplementationVersionName = version
    ours = file_meta_bytes([(int(e.tag), e.VR, e.value) for e in meta])
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_file_meta_info(fp, meta, enforce_standard=True)
    assert ours == fp.getvalue()


def test_file_meta_bytes_leave_missing_or_unusual_elements_to_pydicom() -> None:
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = UID("1.2.3")
    meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.1")
    meta.ImplementationClassUID = UID("2.25.1")
    meta.ImplementationVersionName = "X"
    items = [(int(e.tag), e.VR, e.value) for e in meta]
    assert file_meta_bytes(items) is None  # no SOP Instance UID: pydicom raises
    items.append((0x00020003, "UI", UID("2.25.2")))
    assert file_meta_bytes(items) is None  # not in the order dicomscrub writes them


SIMPLE = [
    (0x00080060, "CS", "CT"),
    (0x00080060, "CS", "MR "),
    (0x00080060, "CS", ""),
    (0x00080060, "CS", None),
    (0x00080018, "UI", "1.2.3"),
    (0x00080018, "UI", "1.2.34"),
    (0x00080020, "DA", "20240101"),
    (0x00080030, "TM", "101500.5"),
    (0x0008002A, "DT", "20240101101500"),
    (0x00101010, "AS", "045Y"),
    (0x00080054, "AE", "STORESCP"),
    (0x00081190, "UR", "http://example.org/a"),
    (0x00100020, "LO", "ANON-JRWMWTPPKT44P26I"),
    (0x00100020, "LO", "Müller"),
    (0x00081030, "LO", "odd"),
    (0x00081010, "SH", "STATION1"),
    (0x00081030, "LO", "a\\b"),
    (0x00204000, "LT", "line one\r\nline two"),
    (0x00321060, "LO", ""),
    (0x00189302, "UT", "long text"),
    (0x00280010, "US", 512),
    (0x00280010, "US", None),
    (0x00281040, "CS", "LIN"),
    (0x00189219, "SS", -3),
    (0x00181310, "US", [0, 256, 256, 0]),
    (0x00189305, "FD", 1.5),
    (0x00189306, "FL", 0.25),
    (0x00189306, "FL", 2),
    (0x00200013, "UL", 7),
    (0x00181065, "SL", -7),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("charset", [None, "ISO_IR 100", "ISO_IR 192", "ISO 2022 IR 87"])
@pytest.mark.parametrize("encoding", [(False, True), (True, True), (False, False)])
@pytest.mark.parametrize(("tag", "vr", "value"), SIMPLE)
def test_decoded_values_are_written_as_pydicom_writes_them(
    tag: int, vr: str, value: object, charset: str | None, encoding: tuple[bool, bool]
) -> None:
    implicit, little = encoding
    ds = pydicom.Dataset()
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.add_new(tag, vr, value)
    ds.set_original_encoding(implicit, little, ds._character_set)
    ours, theirs = DicomBytesIO(), DicomBytesIO()
    for fp in (ours, theirs):
        fp.is_implicit_VR, fp.is_little_endian = implicit, little
    try:
        write_dataset(theirs, ds)
    except Exception as exc:
        with pytest.raises(type(exc)):
            write_elements(ours, ds)
        return
    write_elements(ours, ds)
    assert ours.getvalue() == theirs.getvalue()


@pytest.mark.filterwarnings("ignore::UserWarning")  # invalid UIDs: written as they are
@pytest.mark.parametrize(
    "sop_instance", ["2.25.12345", "2.25.1234", "1.2.840.10008.99 ", " 1.2.3", "1" * 64, "Ü"]
)
def test_file_meta_items_written_directly_equal_their_data_set(sop_instance: str) -> None:
    items = [
        (0x00020001, "OB", b"\x00\x01"),
        (0x00020002, "UI", UID("1.2.840.10008.5.1.4.1.1.2")),
        (0x00020003, "UI", UID(sop_instance)),
        (0x00020010, "UI", UID("1.2.840.10008.1.2.1")),
        (0x00020012, "UI", UID("2.25.203283536178416316722493390717806498765")),
        (0x00020013, "SH", "DICOMSCRUB_010"),
    ]
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_file_meta_info(fp, file_meta_dataset(items), enforce_standard=True)
    ours = file_meta_bytes(items)
    assert ours is None or ours == fp.getvalue()
    assert ours is not None or not sop_instance.strip().replace(".", "").isdigit()


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        (b"GEMS_IDEN_01", True),
        (b"1.2.840.10008.5.1.4.1.1.2 ", True),
        (b"", True),
        (b"A\\B", False),  # a value separator
        (b"UID\0", False),
        (b"M\xfcller", False),
        (b"tab\there", False),
        (b"\x7f", False),
    ],
)
def test_plain_ascii_is_printable_ascii_without_backslash(raw: bytes, plain: bool) -> None:
    assert plain_ascii(raw) is plain


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("little", [False, True])
@pytest.mark.parametrize("copied", [True, False])
def test_a_buffer_made_for_an_encoding_writes_as_one_given_the_setters(
    implicit: bool, little: bool, copied: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if copied:
        assert dicomscrub.encode._ENCODING_ATTRIBUTES[(implicit, little)] is not None
    else:  # a pydicom whose buffers cannot be given the attributes: the setters are used
        monkeypatch.setitem(dicomscrub.encode._ENCODING_ATTRIBUTES, (implicit, little), None)
    ds = pydicom.dcmread(TEST_FILES / "CT_small.dcm")
    ds.set_original_encoding(implicit, little, ds._character_set)
    made = bytes_io(implicit, little)
    plain = DicomBytesIO()
    plain.is_implicit_VR, plain.is_little_endian = implicit, little
    for fp in (made, plain):
        write_dataset(fp, ds)
    assert (made.is_implicit_VR, made.is_little_endian) == (implicit, little)
    assert made.getvalue() == plain.getvalue()
    again = bytes_io(implicit, little)  # nothing written is shared
    assert again.getvalue() == b""
