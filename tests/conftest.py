"""Shared fixtures: a fixed key, the Basic Profile, small synthetic DICOM data sets and files,
pydicom's bundled files, and generated trees of fictional patients."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage

from corpus import KEY_TEXT, PATIENT_ID, PATIENT_NAME, make_tree, part10_bytes
from dicomscrub.profile.loader import load_profile
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.pseudonym import Key

# The identifying values of the synthetic CT data set (tests read them from the data set;
# PATIENT_NAME and PATIENT_ID are in corpus, for test modules to import).
STUDY_UID = "1.2.826.0.1.3680043.8.498.11"
SERIES_UID = "1.2.826.0.1.3680043.8.498.12"
FRAME_OF_REFERENCE_UID = "1.2.826.0.1.3680043.8.498.13"
SOP_INSTANCE_UID = "1.2.826.0.1.3680043.8.498.14"
REFERENCED_SOP_INSTANCE_UID = "1.2.826.0.1.3680043.8.498.15"


@pytest.fixture
def key() -> Key:
    return Key(KEY_TEXT.encode(), "file")


@pytest.fixture(scope="session")
def basic() -> CompiledProfile:
    return load_profile("basic")


def _build_ct(
    *,
    patient_name: str = PATIENT_NAME,
    patient_id: str = PATIENT_ID,
    sop_instance_uid: str = SOP_INSTANCE_UID,
    study_uid: str = STUDY_UID,
    series_uid: str = SERIES_UID,
    private: bool = True,
) -> Dataset:
    """A small CT-like data set: patient identity, dates, UIDs, a nested sequence and a private
    block ``GEMS_ACQU_01`` at (0019,0010) with (0019,1010) LO (a name) and (0019,1023) DS."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_instance_uid
    ds.StudyDate = "20240305"
    ds.ContentDate = "20240306"
    ds.StudyTime = "101500"
    ds.AcquisitionDateTime = "20240305101500+0100"
    ds.AccessionNumber = "ACC0001"
    ds.Modality = "CT"
    ds.StudyDescription = "CT CHEST DOE follow-up"
    ref = Dataset()
    ref.ReferencedSOPClassUID = CTImageStorage
    ref.ReferencedSOPInstanceUID = REFERENCED_SOP_INSTANCE_UID
    ds.ReferencedImageSequence = Sequence([ref])
    region = Dataset()
    region.CodeValue = "T-D3000"
    region.CodingSchemeDesignator = "SRT"
    region.CodeMeaning = "Chest"
    region.PatientName = patient_name  # an identifying value nested in a sequence no rule lists
    ds.AnatomicRegionSequence = Sequence([region])
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = FRAME_OF_REFERENCE_UID
    if private:
        block = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
        block.add_new(0x10, "LO", patient_name)
        block.add_new(0x23, "DS", "39.375")
    # An image needs its pixels: dicomscrub rejects an image without Pixel Data as truncated.
    ds.Rows = ds.Columns = 2
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(8))
    return ds


@pytest.fixture
def make_ct() -> Callable[..., Dataset]:
    """Factory for fresh CT-like data sets (keyword arguments override the identifying values)."""
    return _build_ct


@pytest.fixture
def ct() -> Dataset:
    return _build_ct()


def raw_bytes(ds: Dataset, *, implicit_vr: bool) -> bytes:
    """``ds`` as a bare data set: no preamble, no File Meta Information, little endian."""
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, implicit_vr=implicit_vr, little_endian=True)
    return buffer.getvalue()


@pytest.fixture
def write_dicom() -> Callable[..., Path]:
    """``write_dicom(path, ds, kind="part10")`` writes ``ds`` as part10, bare-meta (DICM at
    offset 0), raw-implicit or raw-explicit and returns ``path``."""

    def write(path: Path, ds: Dataset, kind: str = "part10") -> Path:
        if kind == "part10":
            data = part10_bytes(ds)
        elif kind == "bare-meta":
            data = part10_bytes(ds)[128:]
        elif kind == "raw-implicit":
            data = raw_bytes(ds, implicit_vr=True)
        elif kind == "raw-explicit":
            data = raw_bytes(ds, implicit_vr=False)
        else:
            raise ValueError(kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return write


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.key"
    path.write_text(KEY_TEXT + "\n", encoding="ascii")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Callable[..., Path]:
    def build(count: int = 12, name: str = "incoming", **kwargs: int) -> Path:
        root = tmp_path / name
        make_tree(root, count, **kwargs)
        return root

    return build
