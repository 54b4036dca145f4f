"""Generate the benchmark corpus: ~2,000 files, ~1 GB, fictional patients, deterministic.

* 512x512 16-bit CT slices with vendor private blocks (GE-style private groups before Pixel Data,
  a Siemens-style CSA header blob, and a private group after Pixel Data),
* 256x256 16-bit MR slices with nested sequences (standard and private),
* compressed files (JPEG 2000, JPEG baseline, RLE) made from pydicom's bundled files,
* one CT multi-frame of at least 100 MB.

All from pydicom's bundled files with fictional names, IDs, dates and UIDs, in folders named after
the patients as PACS exports often are. ``--scale 0.1`` makes a quick version with a tenth of the
files (the multi-frame file shrinks too). ``--big-gb 2`` instead writes one sparse multi-frame file
of that size for the memory check (the generator itself needs no memory for it).

    python benchmarks/make_corpus.py /tmp/corpus            # ~2,000 files, ~1 GB
    python benchmarks/make_corpus.py /tmp/quick --scale 0.1
    python benchmarks/make_corpus.py /tmp/big --big-gb 2
"""

from __future__ import annotations

import argparse
import hashlib
import random
import struct
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
COMPRESSED = ("JPEG2000.dcm", "SC_rgb_jpeg_dcmtk.dcm", "MR_small_RLE.dcm", "SC_rgb_rle_16bit.dcm")
FIRST = ("JANE", "JOHN", "ERIKA", "MARIO", "ANNA", "LUCA", "SOPHIE", "OMAR", "MEI", "LARS")
LAST = ("DOE", "ROE", "MUSTERMANN", "ROSSI", "DUPONT", "NOVAK", "SILVA", "TANAKA", "OKAFOR")


def uid(*parts: object) -> UID:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return UID(f"2.25.{int.from_bytes(digest[:15], 'big')}")


def identify(ds: Dataset, patient: int, study: int, series: int, instance: int) -> None:
    """Fictional identifying values for one instance."""
    ds.PatientName = f"{LAST[patient % len(LAST)]}^{FIRST[patient % len(FIRST)]}^{patient}"
    ds.PatientID = f"MRN{patient:07d}"
    ds.PatientBirthDate = f"19{40 + patient % 50:02d}{1 + patient % 12:02d}{1 + patient % 28:02d}"
    ds.PatientSex = "FM"[patient % 2]
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20240315"
    ds.StudyTime = ds.SeriesTime = "101500"
    ds.AccessionNumber = f"ACC{patient:05d}{study:02d}"
    ds.InstitutionName = "Example General Hospital"
    ds.ReferringPhysicianName = "WHO^CARES"
    ds.StudyInstanceUID = uid("study", patient, study)
    ds.SeriesInstanceUID = uid("series", patient, study, series)
    ds.SOPInstanceUID = uid("sop", patient, study, series, instance)
    ds.FrameOfReferenceUID = uid("for", patient, study)
    ds.InstanceNumber = instance
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def vendor_blocks(ds: Dataset, rng: random.Random) -> None:
    """Private blocks as scanners write them (values fictional)."""
    ge = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    ge.add_new(0x23, "DS", "39.375")  # table speed
    ge.add_new(0x27, "DS", "1.0")
    ge.add_new(0x9E, "LO", "Example Hospital protocol DOE")
    csa = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    csa.add_new(0x10, "OB", rng.randbytes(8192))
    parm = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
    parm.add_new(0x27, "SH", "/1.0:1")
    after = ds.private_block(0x7FE1, "GEMS_Ultrasound_MovieGroup_001", create=True)
    after.add_new(0x01, "LO", "after pixel data")


def nested_sequences(ds: Dataset, patient: int, instance: int) -> None:
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "T-A0100", "SRT", "Brain"
    request = Dataset()
    request.RequestedProcedureID = f"RP{patient:06d}"
    request.ScheduledProcedureStepID = f"SPS{patient:06d}"
    request.RequestedProcedureCodeSequence = Sequence([code])
    ds.RequestAttributesSequence = Sequence([request])
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = uid("ref", patient, instance)
    ds.ReferencedImageSequence = Sequence([ref])
    ds.AnatomicRegionSequence = Sequence([code])
    item = Dataset()
    block = item.private_block(0x0021, "SIEMENS MR HEADER", create=True)
    block.add_new(0x01, "IS", "1")
    private = ds.private_block(0x0051, "SIEMENS MR HEADER", create=True)
    private.add_new(0x50, "SQ", Sequence([item]))


def ct(rng: random.Random, patient: int, series: int, instance: int, frames: int = 1) -> Dataset:
    ds = pydicom.dcmread(TEST_FILES / "CT_small.dcm")
    identify(ds, patient, 1, series, instance)
    ds.Rows = ds.Columns = 512
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    if frames > 1:
        ds.NumberOfFrames = frames
        ds.PixelData = rng.randbytes(512 * 512 * 2) * frames
    else:
        ds.PixelData = rng.randbytes(512 * 512 * 2)
    vendor_blocks(ds, rng)
    return ds


def mr(rng: random.Random, patient: int, series: int, instance: int) -> Dataset:
    ds = pydicom.dcmread(TEST_FILES / "MR_small.dcm")
    identify(ds, patient, 2, series, instance)
    ds.Rows = ds.Columns = 256
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelData = rng.randbytes(256 * 256 * 2)
    nested_sequences(ds, patient, instance)
    return ds


def save(ds: Dataset, root: Path, folder: str, name: str) -> int:
    path = root / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path.stat().st_size


def corpus(root: Path, scale: float) -> tuple[int, int]:
    rng = random.Random(20240315)
    files = total = 0
    n_ct, n_mr, n_comp = round(1700 * scale), round(250 * scale), round(48 * scale)
    for i in range(n_ct):
        patient, series = i // 170, (i // 85) % 2
        folder = f"{LAST[patient % 9]}_{FIRST[patient % 10]}_MRN{patient:07d}/CT_SE{series}"
        total += save(ct(rng, patient, series, i), root, folder, f"IM{i:05d}.dcm")
        files += 1
    for i in range(n_mr):
        patient, series = 100 + i // 50, (i // 25) % 2
        folder = f"{LAST[patient % 9]}_{FIRST[patient % 10]}_MRN{patient:07d}/MR_SE{series}"
        total += save(mr(rng, patient, series, i), root, folder, f"IM{i:05d}.dcm")
        files += 1
    for i in range(n_comp):
        ds = pydicom.dcmread(TEST_FILES / COMPRESSED[i % len(COMPRESSED)])
        identify(ds, 200 + i // 12, 3, i % 3, i)
        total += save(ds, root, f"COMPRESSED_MRN{200 + i // 12:07d}", f"C{i:05d}.dcm")
        files += 1
    frames = max(2, round(200 * scale))
    big = ct(rng, 300, 9, 1, frames=frames)
    total += save(big, root, "MULTIFRAME_MRN0000300", "MF00001.dcm")
    return files + 1, total


def sparse_multiframe(root: Path, gigabytes: float) -> Path:
    """One CT multi-frame of about ``gigabytes`` GB; its Pixel Data is a sparse hole of zeros,
    so neither this generator nor the disk needs that much."""
    frame = 512 * 512 * 2
    frames = max(1, int(gigabytes * 1e9) // frame)
    length = frames * frame
    if length >= 0xFFFFFFFF:
        raise SystemExit("a defined-length Pixel Data element holds less than 4 GiB")
    ds = ct(random.Random(1), 400, 1, 1)
    ds.NumberOfFrames = frames
    del ds.PixelData
    for tag in [t for t in ds.keys() if t > 0x7FE00010]:  # noqa: SIM118
        del ds[tag]
    root.mkdir(parents=True, exist_ok=True)
    path = root / "BIG_MULTIFRAME.dcm"
    ds.save_as(path, enforce_file_format=True)
    with path.open("r+b") as fh:
        fh.seek(0, 2)
        fh.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OW", 0, length))
        fh.truncate(fh.tell() + length)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="folder to create (must not exist)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full corpus")
    parser.add_argument("--big-gb", type=float, help="write only one sparse multi-frame file")
    args = parser.parse_args()
    if args.root.exists():
        raise SystemExit(f"{args.root} exists; give a new folder")
    if args.big_gb:
        path = sparse_multiframe(args.root, args.big_gb)
        print(f"{path}: {path.stat().st_size / 1e9:.2f} GB (sparse)")
        return
    files, total = corpus(args.root, args.scale)
    print(f"{args.root}: {files} files, {total / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
