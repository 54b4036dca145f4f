"""Test data helpers shared by several test modules: pydicom's bundled files and generated trees
of fictional patients (import with ``from corpus import ...``)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
KEY_TEXT = "k" * 32  # the text of the `key` fixture's secret, for key files


def bundled(name: str) -> Path:
    path = TEST_FILES / name
    assert path.is_file(), f"pydicom's bundled test file {name} is missing"
    return path


def fake_uid(*parts: object) -> UID:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return UID(f"2.25.{int.from_bytes(digest[:15], 'big')}")


def fictional(ds: Dataset, patient: int, study: int, series: int, instance: int) -> Dataset:
    """Give ``ds`` fictional identifying values (names, IDs, UIDs, dates) for one instance."""
    ds.PatientName = f"DOE^JANE{patient:03d}"
    ds.PatientID = f"MRN{patient:07d}"
    ds.PatientBirthDate = f"19{50 + patient % 40:02d}0{1 + patient % 9}15"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = f"2024{1 + study % 9:02d}0{1 + series % 9}"
    ds.StudyInstanceUID = fake_uid("study", patient, study)
    ds.SeriesInstanceUID = fake_uid("series", patient, study, series)
    ds.SOPInstanceUID = fake_uid("sop", patient, study, series, instance)
    ds.InstanceNumber = instance
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def make_tree(root: Path, count: int, *, pixel_bytes: int = 0) -> list[Path]:
    """``count`` CT and MR files of fictional patients in folders named by patient, as PACS
    exports often are. ``pixel_bytes`` > 0 replaces the pixel data by that many bytes."""
    paths = []
    for i in range(count):
        name = "CT_small.dcm" if i % 3 else "MR_small.dcm"
        ds = pydicom.dcmread(bundled(name))
        patient, series = i // 12, (i // 4) % 3
        fictional(ds, patient, 1, series, i)
        if pixel_bytes:
            ds.Rows = ds.Columns = 16
            ds.NumberOfFrames = max(1, pixel_bytes // 512)
            ds.PixelData = bytes((i * 7 + j) % 251 for j in range(256)) * (
                (pixel_bytes + 255) // 256
            )
        folder = root / f"DOE_JANE{patient:03d}" / f"SE{series}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"IM{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path, outside dicomscrub's state folder."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".dicomscrub" not in p.relative_to(root).parts
    }


def refuse_listing(monkeypatch: Any, name: str) -> None:
    """Make folders named ``name`` fail to be listed, as without read permission (the tests run
    as root, whom permissions do not stop)."""
    real = os.scandir

    def scandir(path: Any) -> Any:
        if os.path.basename(str(path)) == name:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


# The identifying values of conftest's synthetic CT data set.
PATIENT_NAME = "DOE^JANE"
PATIENT_ID = "MRN0012345"


def part10_bytes(ds: Dataset) -> bytes:
    """``ds`` as a Part 10 file: preamble, DICM, File Meta, Explicit VR Little Endian."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
