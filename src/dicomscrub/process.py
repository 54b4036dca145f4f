"""De-identify one file: ``process_file(source, job) -> FileResult``. It never raises.

A failure becomes a result record with a reason that names the file's place in the batch but never
an original value: messages from the DICOM parser are stripped of anything quoted.
"""

from __future__ import annotations

import contextlib
import enum
import io
import logging
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicomscrub import __version__
from dicomscrub.check import scrub_checked
from dicomscrub.discover import Kind, Source, sniff
from dicomscrub.pipeline import PrivateRecord, Scrubber
from dicomscrub.tags import format_tag
from dicomscrub.writer import Collision, OutputPlan, probe, write_atomic

# pydicom's log records quote element values (which may identify a patient): they go nowhere, and a
# file's problems are reported through its result record instead.
logging.getLogger("pydicom").addHandler(logging.NullHandler())
logging.getLogger("pydicom").propagate = False


@contextlib.contextmanager
def _quiet_pydicom() -> Iterator[None]:
    """No warnings (they quote values) and no value validation while one file is processed."""
    settings = pydicom.config.settings
    saved = (settings.reading_validation_mode, settings.writing_validation_mode)
    settings.reading_validation_mode = pydicom.config.IGNORE
    settings.writing_validation_mode = pydicom.config.IGNORE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        settings.reading_validation_mode, settings.writing_validation_mode = saved


quiet_pydicom = _quiet_pydicom  # check and explain read files exactly as run does

IMPLEMENTATION_CLASS_UID = UID("2.25.203283536178416316722493390717806498765")
IMPLEMENTATION_VERSION = f"DICOMSCRUB_{__version__.replace('.', '')}"[:16]
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


class Status(str, enum.Enum):
    WRITTEN = "written"
    SKIPPED = "skipped"
    FAILED = "failed"
    REJECTED = "rejected"
    WOULD_WRITE = "would-write"  # run --dry-run: everything done but the write


@dataclass
class FileResult:
    """What happened to one input. Holds no original attribute value."""

    input: str
    root: str
    status: Status
    output: str = ""
    detail: str = ""
    methods: tuple[str, ...] = ()
    method_codes: tuple[str, ...] = ()
    private: list[PrivateRecord] = field(default_factory=list)
    sort_key: tuple[int, str] = (0, "")
    mapping: list[tuple[str, str, str]] = field(default_factory=list)  # identity: crosswalk only

    @property
    def private_kept(self) -> int:
        return sum(1 for r in self.private if r.decision != "removed")

    @property
    def private_removed(self) -> int:
        return sum(1 for r in self.private if r.decision == "removed")


def safe_message(exc: BaseException) -> str:
    """An exception as text without any quoted value (which could be an original value)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = re.sub(r"'[^']*'|\"[^\"]*\"|b'[^']*'", "'…'", text)
    text = re.sub(r"\s+", " ", text)[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        return UID(str(ts))
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little in (True, None) else ExplicitVRBigEndian


class Unreadable(Exception):
    """A file that claims to be DICOM but cannot be read completely (truncated, corrupt)."""


def _check_complete(ds: Dataset, warned: list[str]) -> None:
    """Reject what pydicom's forgiving reader patched over: values cut short by the end of the file,
    delimiters never found. A file that reads only partly is never written."""
    for text in warned:
        low = text.lower()
        if "end of file" in low or "truncat" in low:
            raise Unreadable("the file ends inside a value or sequence (truncated)")
    for tag in ds.keys():  # noqa: SIM118 - a Dataset iterates over elements, not tags
        raw: object = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and raw.length != 0xFFFFFFFF:
            got = len(raw.value) if raw.value is not None else 0
            if got != raw.length:
                raise Unreadable(
                    f"element {format_tag(int(tag))} declares {raw.length} bytes but the file "
                    f"holds {got} (truncated or corrupt)"
                )


def read_dataset(path: Path) -> tuple[Dataset | None, str]:
    """Read a DICOM file recognised by content. Returns (dataset, "") or (None, reason) for a file
    that is not DICOM; raises :class:`Unreadable` for a DICOM file that cannot be read whole."""
    with path.open("rb") as fh, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        head = fh.read(512)
        kind = sniff(head)
        if kind is Kind.NOT_DICOM:
            return None, "not DICOM (no DICM marker and no recognisable data set)"
        fh.seek(0)
        if kind is Kind.BARE_META:
            data = io.BytesIO(b"\0" * 128 + fh.read())
            ds = pydicom.dcmread(data, force=True)
        else:
            ds = pydicom.dcmread(fh, force=True)
    if len(ds) == 0:
        if kind in (Kind.PART10, Kind.BARE_META):
            raise Unreadable("DICM marker present but no data element could be read")
        return None, "not DICOM (no data elements could be read)"
    _check_complete(ds, [str(w.message) for w in caught])
    return ds, ""


class Job:
    """Everything a worker needs, built once per process."""

    def __init__(
        self,
        scrubber: Scrubber,
        plan: OutputPlan,
        *,
        leak_check: bool = True,
        dry_run: bool = False,
    ) -> None:
        self.scrubber = scrubber
        self.plan = plan
        self.leak_check = leak_check  # off only to measure what it costs (benchmarks/)
        self.dry_run = dry_run


def process_file(source: Source, job: Job) -> FileResult:
    """Read, de-identify and write one file; every outcome is a :class:`FileResult`."""
    with _quiet_pydicom():
        return _process_file(source, job)


def _process_file(source: Source, job: Job) -> FileResult:
    result = FileResult(
        input=source.rel, root=str(source.root), status=Status.FAILED, sort_key=source.sort_key
    )
    if source.skip_reason:
        result.status, result.detail = Status.SKIPPED, source.skip_reason
        return result
    try:
        ds, reason = read_dataset(source.path)
    except Unreadable as exc:
        result.status, result.detail = Status.REJECTED, f"unreadable DICOM: {exc}"
        return result
    except OSError as exc:
        result.detail = f"cannot read input: {exc.strerror or type(exc).__name__}"
        return result
    except Exception as exc:
        result.detail = f"cannot parse DICOM: {safe_message(exc)}"
        return result
    if ds is None:
        result.status, result.detail = Status.SKIPPED, reason
        return result
    meta = getattr(ds, "file_meta", None) or FileMetaDataset()
    if str(meta.get("MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY or (
        "DirectoryRecordSequence" in ds
    ):
        result.status = Status.SKIPPED
        result.detail = "DICOMDIR (media directory): indexes identifying values; not copied"
        return result
    if not (ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID")):
        result.status = Status.REJECTED
        result.detail = "unsupported object: no SOP Class UID (0008,0016); not a composite instance"
        return result
    try:
        return _deidentify(ds, meta, source, job, result)
    except Exception as exc:
        result.status = Status.FAILED
        result.detail = f"cannot de-identify: {safe_message(exc)}"
        result.private = []
        return result


def _deidentify(
    ds: Dataset, meta: FileMetaDataset, source: Source, job: Job, result: FileResult
) -> FileResult:
    ts = _transfer_syntax(ds)
    sop_class = ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID")
    scrub, leaks_in = scrub_checked(job.scrubber, ds, job.leak_check)
    result.private = scrub.private
    result.mapping = scrub.mapping
    result.methods = scrub.methods
    result.method_codes = scrub.method_codes

    new_meta = FileMetaDataset()
    new_meta.FileMetaInformationVersion = b"\x00\x01"
    if sop_class:
        new_meta.MediaStorageSOPClassUID = UID(str(sop_class))
    sop_instance = ds.get("SOPInstanceUID")
    if sop_instance:
        new_meta.MediaStorageSOPInstanceUID = UID(str(sop_instance))
    elif meta.get("MediaStorageSOPInstanceUID"):
        new_meta.MediaStorageSOPInstanceUID = UID(
            job.scrubber.pseudo.uid(str(meta.MediaStorageSOPInstanceUID))
        )
    new_meta.TransferSyntaxUID = ts
    new_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    new_meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds.file_meta = new_meta
    ds.preamble = b"\0" * 128

    buffer = io.BytesIO()
    if ts == DeflatedExplicitVRLittleEndian or ts.is_deflated:
        ds.save_as(buffer, enforce_file_format=True)
    else:
        ds.save_as(
            buffer,
            implicit_vr=ts.is_implicit_VR,
            little_endian=ts.is_little_endian,
            enforce_file_format=True,
        )
    leak = leaks_in(buffer.getbuffer())
    if leak:  # fail closed: a file that would leak is never written
        result.status, result.detail = Status.REJECTED, leak
        return result
    rel_out = job.plan.relative_path(ds, source, job.scrubber.pseudo)
    try:
        (probe if job.dry_run else write_atomic)(job.plan.root / rel_out, buffer.getbuffer())
    except Collision as exc:
        result.output = rel_out
        if exc.identical:
            result.status = Status.SKIPPED
            result.detail = "identical output already present"
        else:
            result.status = Status.FAILED
            result.detail = "output path already holds a different file; not overwritten"
        return result
    result.status = Status.WOULD_WRITE if job.dry_run else Status.WRITTEN
    result.output = rel_out
    return result
