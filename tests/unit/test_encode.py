"""The fast encoder writes exactly the bytes pydicom's own writer writes."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID

from corpus import TEST_FILES
from dicomscrub.encode import encode_file, file_meta_bytes
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
        ours = encode_file(ds, ts)
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
    ours = file_meta_bytes(meta)
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
    assert file_meta_bytes(meta) is None  # no SOP Instance UID: pydicom raises
    meta.MediaStorageSOPInstanceUID = UID("2.25.2")
    assert file_meta_bytes(meta) is None  # not in the order dicomscrub writes them
