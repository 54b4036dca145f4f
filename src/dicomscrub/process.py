"""De-identify one file: ``process_file(source, job) -> FileResult``. It never raises.

A failure becomes a result record with a reason that names the file's place in the batch but never
an original value: messages from the DICOM parser are stripped of anything quoted.

**Streaming.** The file's structure is checked first (:mod:`dicomscrub.structure`); a damaged file
is rejected before anything is written. pydicom then parses only what precedes the top-level Pixel
Data element and what follows it (trailing padding, digital signatures, private groups above
7FE0); both are de-identified together, the rewritten header is written, the Pixel Data element is
copied from the input by byte range, and the de-identified trailing elements are appended. Memory
per file therefore does not depend on the size of its pixel data. Where a byte copy would not give
the same bytes as a full parse (a deflated transfer syntax, a data set not encoded as its transfer
syntax says, an odd-length or UN Pixel Data element, a profile that changes Pixel Data), the file
takes the full path: parsed whole, de-identified, written by pydicom. Both paths write the same
bytes for the same input.

**Batches.** :func:`process_files` processes several files and then writes their outputs together:
the kernel's copy of each file's pixel data would otherwise evict the processing's working set from
the processor's caches before every file.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import enum
import errno
import io
import logging
import os
import re
import struct
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from types import NoneType
from typing import Any, BinaryIO, NamedTuple, cast

import pydicom
from pydicom.charset import default_encoding
from pydicom.dataelem import (
    DataElement,
    RawDataElement,
    empty_value_for_VR,
)
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.filereader import ENCODED_VR, data_element_generator
from pydicom.filereader import read_dataset as read_raw_dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dicomscrub import embedded
from dicomscrub.check import leak_reason, scrub_checked
from dicomscrub.damage import DamagedValue, find_damaged
from dicomscrub.dictionary import has, value_of
from dicomscrub.discover import Kind, Source, sniff
from dicomscrub.encode import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION,
    CannotSplice,
    MetaItems,
    bytes_io,
    encode_file,
    syntax,
    write_elements,
)
from dicomscrub.identity import mask
from dicomscrub.lanes import LanesRefused, Split, check_creators, split
from dicomscrub.needles import meta_from_map
from dicomscrub.pipeline import PrivateRecord, Scrubber, text_at
from dicomscrub.structure import (
    DEFLATED,
    UNDEFINED,
    WINDOW,
    BulkElement,
    Damaged,
    FileMap,
    TopElement,
    read_bytes,
    scan,
)
from dicomscrub.writer import Collision, FileRange, OutputPlan, Part, probe, write_atomic

# pydicom's log records quote element values (which may identify a patient): they go nowhere, and a
# file's problems are reported through its result record instead.
logging.getLogger("pydicom").addHandler(logging.NullHandler())
logging.getLogger("pydicom").propagate = False


_quiet = threading.local()  # .inside: this thread is inside _quiet_pydicom


@contextlib.contextmanager
def _quiet_pydicom() -> Iterator[None]:
    """No warnings (they quote values) and no value validation while files are processed (one,
    or a worker's batch: entered again inside, in the same thread, it does nothing, which saves a
    fiftieth of the time of a file whose header is copied by the lanes)."""
    if getattr(_quiet, "inside", False):
        yield
        return
    settings = pydicom.config.settings
    saved = (settings.reading_validation_mode, settings.writing_validation_mode)
    settings.reading_validation_mode = pydicom.config.IGNORE
    settings.writing_validation_mode = pydicom.config.IGNORE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _quiet.inside = True
            yield
    finally:
        _quiet.inside = False
        settings.reading_validation_mode, settings.writing_validation_mode = saved


quiet_pydicom = _quiet_pydicom  # check and explain read files exactly as run does

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


_DECISION = attrgetter("decision")


class Status(str, enum.Enum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"  # written by an earlier run with the same settings; not redone
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
    size: int = 0  # bytes of the input, as read
    mtime_ns: int = 0  # modification time of the input, as read (for the resume state only)
    ctime_ns: int = 0  # its status change time, as read (for the resume state only)
    streamed: bool = False  # pixel data copied by byte range (else parsed whole or none)

    counts: tuple[int, int] | None = None  # (kept, removed) when ``private`` was packed
    private_rows: tuple[str, list[str]] | None = None
    """The audit's private rows, formatted by a worker (see :func:`dicomscrub.audit.pack`)."""
    mapping: list[tuple[str, str, str]] = field(default_factory=list)  # identity: crosswalk only

    @property
    def private_kept(self) -> int:
        if self.counts is not None:
            return self.counts[0]
        return len(self.private) - self.private_removed

    @property
    def private_removed(self) -> int:
        if self.counts is not None:
            return self.counts[1]
        return list(map(_DECISION, self.private)).count("removed")


def safe_message(exc: BaseException) -> str:
    """An exception as text without any quoted value (which could be an original value)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = re.sub(r"'[^']*'|\"[^\"]*\"|b'[^']*'", "'…'", text)
    text = re.sub(r"\s+", " ", text)[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _transfer_syntax(ds: Dataset, ts: str) -> UID:
    """The transfer syntax to write ``ds`` in: ``ts`` (the file meta's), else as it was read."""
    if ts:
        return UID(ts)
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little in (True, None) else ExplicitVRBigEndian


class Unreadable(Exception):
    """A file that claims to be DICOM but fails the structural check (truncated, corrupt)."""


def read_dataset(path: Path) -> tuple[Dataset | None, str]:
    """Read a whole DICOM file recognised by content, after the same structural check as ``run``.

    Returns (dataset, "") or (None, reason) for a file that is not DICOM; raises
    :class:`Unreadable` for a damaged one."""
    with path.open("rb") as fh:
        kind = sniff(fh.read(512))
        if kind is Kind.NOT_DICOM:
            return None, NOT_DICOM
        try:
            scan(fh, os.fstat(fh.fileno()).st_size, kind)
        except Damaged as exc:
            raise Unreadable(f"{exc.label}: {exc}") from None
        return _read_whole(fh, kind), ""


NOT_DICOM = "not DICOM (no DICM marker and no recognisable data set)"
BULK_VRS = {0x7FE00010: (None, "OB", "OW"), 0x7FE00008: (None, "OF"), 0x7FE00009: (None, "OD")}


def _read_whole(fh: BinaryIO, kind: Kind) -> Dataset:
    fh.seek(0)
    if kind is Kind.BARE_META:
        return pydicom.dcmread(io.BytesIO(b"\0" * 128 + fh.read()), force=True)
    if not isinstance(fh, io.RawIOBase):
        return pydicom.dcmread(fh, force=True)
    buffered = io.BufferedReader(fh)  # the input is open unbuffered; pydicom reads in bits
    try:
        return pydicom.dcmread(buffered, force=True)
    finally:
        buffered.detach()  # without closing the input


def _read_exact(fh: BinaryIO, start: int, end: int) -> bytes:
    data = read_bytes(fh, start, end - start)
    if data is None:
        raise Damaged(f"file got shorter while being read (from byte {start})")
    return data


class Job:
    """Everything a worker needs, built once per process.

    ``stream=False`` forces the full path for every file (used to check that both paths agree);
    ``lanes=False`` parses every element (see :mod:`dicomscrub.lanes`; also to check).
    """

    def __init__(
        self,
        scrubber: Scrubber,
        plan: OutputPlan,
        *,
        stream: bool = True,
        leak_check: bool = True,
        dry_run: bool = False,
        lanes: bool = True,
    ) -> None:
        self.scrubber = scrubber
        self.plan = plan
        self.stream = stream
        self.leak_check = leak_check  # off only to measure what it costs (benchmarks/)
        self.dry_run = dry_run
        self.lanes = lanes
        self.deferred: list[_Write] | None = None  # set by process_files: writes to do later


@dataclass
class _Loaded:
    """A file read for de-identification: the data set without its streamed Pixel Data."""

    ds: Dataset
    pixel: BulkElement | None = None  # set when Pixel Data is copied by range
    fd: int = -1
    syntax_matches: bool = True  # the data set is encoded as its transfer syntax says
    lanes: Split | None = None  # elements kept or removed unparsed
    meta_uids: dict[int, str] | None = None
    """The file meta's UIDs read by the program, from their bytes, when ``ds.file_meta`` was not
    made (see :func:`_meta_uids`)."""

    def sop_class(self, ds: Dataset) -> str:
        """The SOP Class UID as text ("" if none), also when the lanes kept it unparsed."""
        if self.lanes is None:
            return text_at(ds, 0x00080016)
        return self.lanes.lane.value(ds, 0x00080016, new=False)

    def meta_uid(self, meta: Dataset, tag: int) -> str:
        """A UID of the file meta as text ("" if none), as pydicom decodes it."""
        if self.meta_uids is not None:
            return self.meta_uids.get(tag, "")
        return str(value_of(meta, tag) or "")


def process_file(source: Source, job: Job) -> FileResult:
    """Read, de-identify and write one file; every outcome is a :class:`FileResult`."""
    with _quiet_pydicom():
        result = FileResult(
            input=source.rel,
            root=str(source.root),
            status=Status.FAILED,
            sort_key=source.sort_key,
        )
        try:
            return _process_file(source, job, result)
        except Exception as exc:  # the contract: never raise, whatever happens
            return _failed(result, f"internal error: {safe_message(exc)}")


IDENTICAL = "identical output already present"
"""The detail of an input ``skipped`` because its output path holds the same bytes."""
COLLISION = "output path already holds a different file; not overwritten"
"""The detail of an input ``failed`` because its output path holds other bytes."""


def _failed(result: FileResult, detail: str) -> FileResult:
    """``result`` made a failure: with ``detail``, and no private rows (nothing was written)."""
    result.status, result.detail, result.private = Status.FAILED, detail, []
    return result


_WRITING = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
"""Errors only writing gives: the output's file system is full, read-only, or the file too big."""


def _cannot_read_or_write(exc: OSError) -> str:
    if exc.errno in _WRITING:
        return f"cannot write the output: {exc.strerror or type(exc).__name__}"
    return f"cannot read or write: {exc.strerror or type(exc).__name__}"


def _process_file(source: Source, job: Job, result: FileResult) -> FileResult:
    if source.skip_reason:
        result.status = Status.FAILED if source.unreadable else Status.SKIPPED
        result.detail = source.skip_reason
        return result
    try:
        fh = open(source.path, "rb", buffering=0)  # noqa: SIM115 (closed below)
        # unbuffered: the structural walk reads in windows of its own
    except OSError as exc:
        result.detail = f"cannot read input: {exc.strerror or type(exc).__name__}"
        return result
    with fh:
        try:
            return _process_open(fh, source, job, result)
        except Damaged as exc:
            result.status, result.detail = Status.REJECTED, f"{exc.label}: {exc}"
        except OSError as exc:
            return _failed(result, _cannot_read_or_write(exc))
        result.private = []
        return result


def _process_open(fh: BinaryIO, source: Source, job: Job, result: FileResult) -> FileResult:
    stat = os.fstat(fh.fileno())
    size = result.size = stat.st_size
    result.mtime_ns = stat.st_mtime_ns
    result.ctime_ns = stat.st_ctime_ns
    first = fh.read(WINDOW)  # the structural walk starts from it
    head = first[:512]
    kind = sniff(head)
    if kind is Kind.NOT_DICOM:
        result.status, result.detail = Status.SKIPPED, NOT_DICOM
        return result
    if _is_dicomdir_meta(head):  # before the structural check: a damaged DICOMDIR is still one
        result.status, result.detail = Status.SKIPPED, DICOMDIR_DETAIL
        return result
    fmap = scan(fh, size, kind, first=first)
    try:
        return _process_map(fh, fmap, source, job, result, lanes=job.lanes)
    except (LanesRefused, CannotSplice):
        return _process_map(fh, fmap, source, job, result, lanes=False)


def _process_map(
    fh: BinaryIO, fmap: FileMap, source: Source, job: Job, result: FileResult, *, lanes: bool
) -> FileResult:
    try:
        loaded = _load(fh, fmap, job, lanes=lanes)
    except (Damaged, OSError, LanesRefused):
        raise
    except Exception as exc:
        damaged = _damaged_value(fh, fmap, job)
        if damaged is not None:
            raise damaged from None
        result.status = Status.REJECTED
        result.detail = f"cannot parse DICOM: {safe_message(exc)}"
        return result
    try:
        return _process_loaded(loaded, source, job, result)
    except (Damaged, LanesRefused, CannotSplice):
        raise
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the machine's, not the file's (a full disk): said by _process_file
        damaged = _damaged_value(fh, fmap, job)
        if damaged is not None:
            raise damaged from None
        if isinstance(exc, OSError):
            raise
        return _failed(result, f"cannot de-identify: {safe_message(exc)}")


def _damaged_value(fh: BinaryIO, fmap: FileMap, job: Job | None) -> DamagedValue | None:
    """The element whose value does not fit its VR, if one does: what a file that failed, or
    that pydicom could not read, is rejected for. Looked for in the data set read afresh (the one
    that failed is part scrubbed) as ``job`` reads it with every element parsed (read whole
    without a job); where pydicom cannot read it as a data set (its Specific Character Set does
    not fit its VR), in its top-level elements up to Pixel Data as they are, without the file
    meta."""
    try:
        ds = _read_whole(fh, fmap.kind) if job is None else _load(fh, fmap, job, lanes=False).ds
        return find_damaged(ds)
    except Exception:
        pass
    if fmap.deflated:
        return None  # (read only by inflating it whole: as above)
    end = fmap.pixel.start if fmap.pixel is not None else fmap.size
    try:
        data = fmap.bytes_at(fmap.dataset_start, end) or _read_exact(fh, fmap.dataset_start, end)
        elements = data_element_generator(io.BytesIO(data), fmap.implicit, fmap.little)
        return find_damaged(Dataset({elem.tag: elem for elem in elements}))
    except Exception:
        return None


def damaged_value(path: Path) -> DamagedValue | None:
    """:func:`_damaged_value` of the file at ``path``, read whole (for ``explain``)."""
    try:
        with path.open("rb") as fh:
            kind = sniff(fh.read(512))
            if kind is Kind.NOT_DICOM:
                return None
            return _damaged_value(fh, scan(fh, os.fstat(fh.fileno()).st_size, kind), None)
    except Exception:
        return None


def _process_loaded(loaded: _Loaded, source: Source, job: Job, result: FileResult) -> FileResult:
    ds = loaded.ds
    if len(ds) == 0 and (loaded.lanes is None or loaded.lanes.encodings is None):
        result.status, result.detail = Status.SKIPPED, "not DICOM (no data elements could be read)"
        return result
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = FileMetaDataset()
    media_class = loaded.meta_uid(meta, 0x00020002)
    if media_class == MEDIA_STORAGE_DIRECTORY or has(ds, 0x00041220):
        result.status, result.detail = Status.SKIPPED, DICOMDIR_DETAIL
        return result
    sop_class = loaded.sop_class(ds) or media_class
    if not sop_class:
        result.status = Status.REJECTED
        result.detail = "unsupported object: no SOP Class UID (0008,0016); not a composite instance"
        return result
    refused = refusal(ds, sop_class, loaded.pixel is not None) or unsupported_syntax(
        loaded.meta_uid(meta, 0x00020010)
    )
    if refused is not None:
        result.status, result.detail = Status.REJECTED, refused
        return result
    return _deidentify(loaded, meta, source, job, result)


DICOMDIR_DETAIL = "DICOMDIR (media directory): indexes identifying values; not copied"
_DICOMDIR_UID = MEDIA_STORAGE_DIRECTORY.encode("ascii")


def _is_dicomdir_meta(head: bytes) -> bool:
    """The file meta's Media Storage SOP Class UID (0002,0002), read from the first bytes, says
    Media Storage Directory."""
    at = head.find(b"\x02\x00\x02\x00UI")
    if at < 0 or at + 8 > len(head):
        return False
    (length,) = struct.unpack_from("<H", head, at + 6)
    value = head[at + 8 : at + 8 + length].rstrip(b"\0 ")
    return value == _DICOMDIR_UID


def refusal(ds: Dataset, sop_class: str, has_pixels: bool) -> str | None:
    """Why ``run`` rejects a readable data set of class ``sop_class`` by what it holds (an image
    without its pixels, burned-in text), or None. ``has_pixels``: Pixel Data was found."""
    if not has_pixels and _image_without_pixels(ds, sop_class):
        return (
            "incomplete image: an image object without Pixel Data (the file may have been cut "
            "short); not written"
        )
    burned = burned_in_annotation(value_of(ds, 0x00280301))
    if burned is not None:
        return (
            f"Burned In Annotation (0028,0301) is {burned}: the pixels may show identifying "
            "text, and pixel cleaning is not supported"
        )
    return None


def unsupported_syntax(uid: str) -> str | None:
    """Why ``run`` rejects a file whose Transfer Syntax UID (0002,0010) is ``uid``, or None: one
    that is no transfer syntax pydicom knows (a vendor's own, such as GE's implicit VR big endian
    1.2.840.113619.5.2) tells no way to read or write its data set. The UID is named when it has a
    UID's form (a transfer syntax names an encoding, never a person)."""
    if not uid or syntax(uid) is not None or UID(uid).is_transfer_syntax:
        return None
    shown = f" {uid}" if _UID_FORM.fullmatch(uid) else ""
    return (
        f"unsupported transfer syntax{shown} in (0002,0010): not one pydicom can read and write, "
        "so its data set cannot be de-identified; not written"
    )


_UID_FORM = re.compile(r"[0-9]+(\.[0-9]+){1,31}")


def burned_in_annotation(value: Any) -> str | None:
    """Why a file whose Burned In Annotation (0028,0301) is ``value`` is rejected, or None when
    it is NO, or empty or absent (nothing declared, as in most files). Anything but a single NO
    (case and padding aside) counts as YES: ``YES``, but also ``YES\\NO``, ``Y`` or any other
    text, whose meaning is unknown (never shown: a value not of the standard may be anything)."""
    if value is None or isinstance(value, bytes | bytearray):
        text = bytes(value or b"").decode("latin-1").strip(" \0")
        values = [v.strip(" \0") for v in text.split("\\")] if text else []
    elif isinstance(value, str):
        values = [value.strip()] if value.strip() else []
    elif isinstance(value, list | tuple | MultiValue):
        values = [str(v).strip() for v in value]  # (a multi-valued element)
    else:
        values = [str(value)]  # (a number, a tag: written with another VR, and not NO)
    if not values or [v.upper() for v in values] == ["NO"]:
        return None
    if [v.upper() for v in values] == ["YES"]:
        return "YES"
    return "not a single YES or NO (read as YES)"


def _image_without_pixels(ds: Dataset, sop_class: str) -> bool:
    """An image (an "... Image Storage" SOP Class, or Rows, Columns and Bits Allocated) needs
    Pixel Data, Float or Double Float Pixel Data, or a Pixel Data Provider URL: without any, the
    file was most likely cut at an element boundary, which the structural check cannot see."""
    if any(has(ds, tag) for tag in (0x7FE00008, 0x7FE00009, 0x7FE00010, 0x00287FE0)):
        return False
    if UID(sop_class).name.endswith("Image Storage"):
        return True
    return all(has(ds, tag) for tag in (0x00280010, 0x00280011, 0x00280100))


def _streamable(fmap: FileMap, job: Job) -> BulkElement | None:
    """The Pixel Data element to copy by range, or None when the full path must be taken."""
    pixel = fmap.pixel
    if not job.stream or pixel is None or fmap.deflated or not fmap.syntax_matches:
        return None
    if pixel.vr not in BULK_VRS[pixel.tag]:
        return None  # e.g. UN: pydicom would rewrite the VR
    if pixel.length != UNDEFINED and pixel.length % 2:
        return None  # pydicom pads odd lengths
    if not job.scrubber.keeps_bulk(pixel.tag):
        return None  # the profile changes or removes Pixel Data
    facts = syntax(fmap.transfer_syntax or "")  # None: not a public transfer syntax
    if (
        facts is not None
        and pixel.tag == 0x7FE00010
        and (pixel.length == UNDEFINED) != facts.compressed
    ):
        return None  # pydicom writes the length the transfer syntax calls for
    return pixel


def _load(fh: BinaryIO, fmap: FileMap, job: Job, *, lanes: bool) -> _Loaded:
    pixel = _streamable(fmap, job)
    if pixel is None:
        return _Loaded(_read_whole(fh, fmap.kind), syntax_matches=fmap.syntax_matches)
    prefix = b"\0" * 128 if fmap.kind is Kind.BARE_META else b""
    header = fmap.bytes_at(0, pixel.start) or _read_exact(fh, 0, pixel.start)
    tail = None
    if pixel.end < fmap.size:
        tail = fmap.bytes_at(pixel.end, fmap.size) or _read_exact(fh, pixel.end, fmap.size)
    sp = None
    if lanes:
        sp = split(fmap, header, job.scrubber, originals=job.leak_check, tail=tail)
    if sp is not None and sp.parsed == 0 and sp.encodings is None:
        sp = None  # nothing to parse: not a data set pydicom would read as one
    ds = None
    meta_uids = None
    if sp is not None and sp.elements is not None:
        if job.leak_check:
            sp.meta_items = meta_from_map(header, fmap.meta_elements)
        if sp.meta_items is not None or not job.leak_check:
            # the leak check reads the file meta from its bytes: not made into a data set
            meta_uids = _meta_uids(header, fmap)
        # (no element at all when the lanes decided every one: the file meta alone)
        ds = header_from_elements(header, fmap, sp.elements, with_meta=meta_uids is None)
    if ds is None and sp is not None and not sp.parsed:
        sp = None  # (not expected: header_from_elements reads what split accepts)
    if ds is None:
        ds = read_header(prefix + (header if sp is None else sp.head), fmap)
    if ds.original_encoding != (fmap.implicit, fmap.little):
        return _Loaded(_read_whole(fh, fmap.kind), syntax_matches=False)  # read differently
    if tail is not None and (sp is None or sp.tail is None):  # else decided by the lanes
        trailing = read_raw_dataset(
            io.BytesIO(tail), fmap.implicit, fmap.little, parent_encoding=ds.original_character_set
        )
        for tag, elem in trailing.items():
            ds[tag] = elem
    if sp is not None:
        check_creators(ds, sp)
    return _Loaded(ds, pixel, fh.fileno(), lanes=sp, meta_uids=meta_uids if sp else None)


def _dcmread_encoding(transfer_syntax: str) -> tuple[bool, bool] | None:
    """The encoding ``dcmread`` starts reading a data set with for this transfer syntax (it then
    looks at the first element); None for those it reads otherwise (deflated, private)."""
    if transfer_syntax in DEFLATED or transfer_syntax in pydicom.uid.PrivateTransferSyntaxes:
        return None
    if transfer_syntax == ImplicitVRLittleEndian:
        return True, True
    return False, transfer_syntax != ExplicitVRBigEndian


def _encoding(fmap: FileMap) -> tuple[bool, bool] | None:
    """The encoding ``dcmread`` starts the data set with, for a Part 10 file (with or without a
    preamble) the readers below can read as ``dcmread`` does; None for the others."""
    if fmap.kind not in (Kind.PART10, Kind.BARE_META) or not fmap.transfer_syntax:
        return None
    return _dcmread_encoding(fmap.transfer_syntax)


def read_header(data: bytes, fmap: FileMap) -> Dataset:
    """``pydicom.dcmread(BytesIO(data), force=True)`` of a Part 10 file's bytes up to Pixel Data
    (preamble, file meta, the elements to parse), for a file whose structure :func:`scan` has
    checked: the same data set, file meta and encoding, built without reading the file meta
    again (scan listed it) and the preamble and command elements that cannot be there (about
    half the time of ``dcmread`` for a typical header). Anything else is left to ``dcmread``."""
    shift = 128 if fmap.kind is Kind.BARE_META else 0  # the preamble put before such a file
    start = fmap.dataset_start + shift
    encoding = _encoding(fmap)
    meta = _file_meta(data, fmap, shift)
    if (
        encoding is None
        or meta is None
        or len(data) < start + 8
        or data[start : start + 2] == b"\0\0"  # group 0000: command elements
    ):
        return pydicom.dcmread(io.BytesIO(data), force=True)
    implicit, little = encoding
    dataset = read_raw_dataset(io.BytesIO(data[start:]), implicit, little)
    return _file_dataset(dataset, data[:128], meta, implicit, little)


def header_from_elements(
    header: bytes, fmap: FileMap, elements: Sequence[TopElement], *, with_meta: bool = True
) -> Dataset | None:
    """What :func:`read_header` reads from the file meta followed by ``elements`` (top-level
    elements of defined length in ``header``, the file's bytes up to Pixel Data, as :func:`scan`
    found them), made from their bytes where they lie: nothing is read twice. None where
    :func:`read_header` is needed. With no ``elements`` (the lanes decided every one), the file
    meta alone, in the encoding of the file (which ``dcmread``, given no element, cannot tell).
    Without ``with_meta``, its file meta is left empty (for a caller that reads the
    file meta from its bytes)."""
    encoding = _encoding(fmap)
    if encoding != (fmap.implicit, fmap.little) or (elements and elements[0][0] < 0x00030000):
        return None
    implicit, little = encoding
    meta = _file_meta(header, fmap) if with_meta else _new_meta()
    raws = _raw_elements(header, elements, implicit, little)
    if meta is None or raws is None:
        return None
    preamble = header[:128] if fmap.kind is Kind.PART10 else b"\0" * 128
    blank = _BLANKS[implicit, little]
    if blank is None:
        return _file_dataset(raws, preamble, meta, implicit, little)
    ds: FileDataset = blank.made()
    ds.__dict__.update(_dict=raws, preamble=preamble, file_meta=meta)
    if raws:  # (the character set read: as the constructor's caller sets it)
        ds.set_original_encoding(implicit, little, ds._character_set)
    return ds


class _Blank(NamedTuple):
    """How to make a new empty data set like one pydicom's constructor made, from its attributes:
    what the constructor would make, at a fraction of the cost (it sets each attribute through
    ``Dataset.__setattr__``, which checks every name: a tenth of the time of a CT slice whose
    elements the lanes all decided). Mutable attributes are made new; a test checks the result
    against the constructor's."""

    cls: type[Dataset]
    attrs: dict[str, Any]
    dicts: tuple[str, ...]  # attributes copied (empty or flat dictionaries)
    buffers: tuple[str, ...]  # attributes made a new BytesIO
    datasets: tuple[tuple[str, _Blank], ...]  # attributes made anew in turn (the file meta)

    @classmethod
    def of(cls, empty: Dataset) -> _Blank | None:
        """None if ``empty`` holds an attribute of another kind (another pydicom version): then
        the constructor is used."""
        dicts, buffers, datasets = [], [], []
        for name, value in empty.__dict__.items():
            if isinstance(value, dict):
                dicts.append(name)
            elif isinstance(value, Dataset):
                inner = cls.of(value)
                if inner is None:
                    return None
                datasets.append((name, inner))
            elif isinstance(value, io.BytesIO):
                buffers.append(name)
            elif not isinstance(value, str | bytes | bool | int | type | NoneType):
                return None
        return cls(type(empty), dict(empty.__dict__), tuple(dicts), tuple(buffers), tuple(datasets))

    def made(self) -> Any:
        ds = object.__new__(self.cls)
        attrs = self.attrs.copy()
        for name in self.dicts:
            attrs[name] = attrs[name].copy()
        for name in self.buffers:
            attrs[name] = io.BytesIO()
        for name, inner in self.datasets:
            attrs[name] = inner.made()
        object.__setattr__(ds, "__dict__", attrs)
        return ds


_META_BLANK = _Blank.of(FileMetaDataset())


def _new_meta() -> FileMetaDataset:
    """An empty ``FileMetaDataset()``."""
    if _META_BLANK is None:
        return FileMetaDataset()
    meta: FileMetaDataset = _META_BLANK.made()
    return meta


_META_UIDS = frozenset({0x00020002, 0x00020003, 0x00020010})


def _meta_uids(header: bytes, fmap: FileMap) -> dict[int, str] | None:
    """Media Storage SOP Class and Instance UIDs and Transfer Syntax UID of the file meta, as
    pydicom decodes them (the default character repertoire, trailing NULs and spaces dropped,
    stripped as a UID is), from their bytes in ``header`` as scan found them; None unless each is
    one UI value."""
    found: dict[int, str] = {}
    for tag, raw_vr, _, value, _, after in fmap.meta_elements:
        if tag in _META_UIDS:
            if raw_vr != b"UI":
                return None
            text = header[value:after].decode("latin-1").rstrip("\0 ")
            if "\\" in text:
                return None
            found[tag] = text.strip()  # (as UID(text) does, without validating it)
    return found


def _file_meta(data: bytes, fmap: FileMap, shift: int = 0) -> FileMetaDataset | None:
    """The file meta as ``dcmread`` reads it (explicit VR little endian, its first element
    decoded), made from the elements scan listed (``data`` holds the file ``shift`` bytes on)."""
    raws = _raw_elements(data, fmap.meta_elements, False, True, shift)
    if raws is None:
        return None
    meta = FileMetaDataset(raws)
    meta.set_original_encoding(False, True, default_encoding)
    if raws:
        meta[next(iter(raws))]
    return meta


def _file_dataset(
    dataset: Dataset | dict[BaseTag, DataElement | RawDataElement],
    preamble: bytes,
    meta: FileMetaDataset,
    implicit: bool,
    little: bool,
) -> FileDataset:
    """The data set ``dcmread`` returns, with the encoding it sets."""
    ds = FileDataset(io.BytesIO(), dataset, preamble, meta, implicit, little)
    ds.set_original_encoding(implicit, little, ds._character_set)
    return ds


_BLANKS: dict[tuple[bool, bool], _Blank | None] = {
    (implicit, little): _Blank.of(
        _file_dataset({}, b"\0" * 128, FileMetaDataset(), implicit, little)
    )
    for implicit in (True, False)
    for little in (True, False)
}
"""An empty data set as :func:`header_from_elements` makes it, for each encoding."""


def _raw_elements(
    data: bytes,
    elements: Sequence[TopElement],
    implicit: bool,
    little: bool,
    shift: int = 0,
) -> dict[BaseTag, DataElement | RawDataElement] | None:
    """The raw elements pydicom's reader makes of ``elements`` (each of defined length, as scan
    found it in the file, which ``data`` holds ``shift`` bytes on); None for a VR it would read
    otherwise."""
    raws: dict[BaseTag, DataElement | RawDataElement] = {}
    for tag, raw_vr, _, value, length, after in elements:
        vr: str | None = None
        if not implicit:
            if raw_vr not in ENCODED_VR:
                return None
            vr = raw_vr.decode("ascii")
        key = BaseTag(tag)
        raws[key] = RawDataElement(
            key,
            vr,
            length,
            (
                data[value + shift : after + shift]
                if length
                else cast(bytes | None, empty_value_for_VR(vr, raw=True))
            ),
            value,
            implicit,
            little,
        )
    return raws


_CREATOR = attrgetter("creator")


def _kept_creators_leak(private: list[PrivateRecord], named: set[str]) -> str:
    """The leak check's reason when a creator that holds an identifying value of the input (one
    of ``named``: a block named after the patient's surname or the hospital) stays in the output
    with its block, or "". The output's Private Creator Reference (0008,0302) copies that
    creator, and would otherwise excuse a loose token (a surname) found in it."""
    places = [
        f"private creator at {record.tag}"
        for record in private
        if record.creator in named
        and record.decision != "removed"
        and record.basis == "creator-of-kept-block"
    ]
    return leak_reason(places) if places else ""


def _creators_masked(private: list[PrivateRecord], named: set[str]) -> list[PrivateRecord]:
    """``private`` with each creator in ``named`` (those that hold an identifying value of the
    input: see :func:`dicomscrub.check.find_leaks`) masked as reports mask such values: the audit
    names creators, and never an original value."""
    return [
        dataclasses.replace(
            record,
            creator=mask(record.creator),
            detail="; ".join(
                filter(
                    None,
                    [
                        # (a rule's text names the creator it selects by: [Johanna Smithson])
                        record.detail.replace(f"[{record.creator}]", f"[{mask(record.creator)}]"),
                        "creator masked: it holds an identifying value",
                    ],
                )
            ),
        )
        if record.creator in named
        else record
        for record in private
    ]


def _element_header(bulk: BulkElement, implicit: bool, little: bool) -> bytes:
    """The element header as pydicom writes it (reserved bytes zero)."""
    e = "<" if little else ">"
    group, elem = bulk.tag >> 16, bulk.tag & 0xFFFF
    if implicit or bulk.vr is None:
        return struct.pack(e + "HHL", group, elem, bulk.length)
    return struct.pack(e + "HH2sHL", group, elem, bulk.vr.encode("ascii"), 0, bulk.length)


def _deidentify(
    loaded: _Loaded, meta: FileMetaDataset, source: Source, job: Job, result: FileResult
) -> FileResult:
    ds = loaded.ds
    ts = _transfer_syntax(ds, loaded.meta_uid(meta, 0x00020010))
    sop_class = loaded.sop_class(ds) or loaded.meta_uid(meta, 0x00020002)
    lanes = loaded.lanes
    streamed = loaded.pixel is not None
    scrub, leaks_in = scrub_checked(job.scrubber, ds, job.leak_check, lanes, streamed=streamed)
    result.private = scrub.private
    result.mapping = scrub.mapping
    result.methods = scrub.methods
    result.method_codes = scrub.method_codes

    new_meta: MetaItems = [(0x00020001, "OB", b"\x00\x01")]
    if sop_class:
        new_meta.append((0x00020002, "UI", UID(str(sop_class))))
    sop_instance = value_of(ds, 0x00080018)
    if not sop_instance and lanes is not None:  # given a new UID unparsed
        sop_instance = lanes.lane.value(ds, 0x00080018)
    if sop_instance:
        new_meta.append((0x00020003, "UI", UID(str(sop_instance))))
    elif loaded.meta_uid(meta, 0x00020003):
        new_uid = job.scrubber.pseudo.uid(loaded.meta_uid(meta, 0x00020003))
        new_meta.append((0x00020003, "UI", UID(new_uid)))
    else:  # (no instance to name the output after, nor a file meta to write without one)
        result.status = Status.REJECTED
        result.detail = (
            "no SOP Instance UID: (0008,0018) and (0002,0003) are both absent or empty, so "
            "the output cannot be a valid DICOM file; not written"
        )
        return result
    new_meta.append((0x00020010, "UI", ts))
    new_meta.append((0x00020012, "UI", IMPLEMENTATION_CLASS_UID))
    new_meta.append((0x00020013, "SH", IMPLEMENTATION_VERSION))
    ds.preamble = b"\0" * 128
    rel_out = job.plan.relative_path(
        ds, source, job.scrubber.pseudo, lanes.lane if lanes is not None else None
    )

    pixel = loaded.pixel
    after: Dataset | None = None  # the elements after a streamed Pixel Data, parsed
    if pixel is not None:
        for tag in [t for t in ds.keys() if int(t) > pixel.tag]:  # noqa: SIM118
            if after is None:
                after = Dataset()
            after[tag] = ds[tag]
            del ds[tag]
    if not loaded.syntax_matches:
        # read in another encoding than its transfer syntax says: decode every element still
        # as read (kept as is), so that pydicom can encode it as the transfer syntax says
        ds.walk(lambda d, e: None)
    kept = None
    if lanes is not None:
        kept = lanes.kept
        if lanes.lane.written:  # (a few, into a list in tag order)
            kept = list(kept)
            for item in lanes.lane.written:
                bisect.insort(kept, item)
    parts: list[Part] = [encode_file(ds, ts, new_meta, kept)]
    tail_bytes = b""
    if pixel is not None:
        facts = syntax(str(ts))
        if facts is not None:
            implicit, little = facts.implicit, facts.little
        else:
            implicit, little = ts.is_implicit_VR, ts.is_little_endian
        parts.append(_element_header(pixel, implicit, little))
        parts.append(FileRange(loaded.fd, pixel.value_start, pixel.value_end - pixel.value_start))
        if pixel.length == UNDEFINED:
            parts.append(struct.pack("<HHL" if little else ">HHL", 0xFFFE, 0xE0DD, 0))
        if after is not None:
            tail = bytes_io(implicit, little)
            after.set_original_encoding(implicit, little, ds.original_character_set)
            write_elements(tail, after, value_of(ds, 0x00080005, "iso8859"))
            tail_bytes = tail.getvalue()
            parts.append(tail_bytes)
        elif lanes is not None and lanes.tail:  # decided by the lanes, written as they said
            tail_bytes = b"".join(data for _, data in lanes.tail)
            parts.append(tail_bytes)
        result.streamed = True
    # Fail closed: search what dicomscrub encoded (everything but the Pixel Data value, which is
    # copied unchanged) for the input's identifying values; a file that would leak is not written.
    header = parts[0]
    assert not isinstance(header, FileRange)
    creators = set(map(_CREATOR, result.private)) if job.leak_check else set()
    creators.discard("")
    try:
        carried = _embedded(loaded, ds, ts.is_little_endian) if job.leak_check else []
    except embedded.Unsearchable as exc:
        result.status, result.detail = Status.REJECTED, f"leak check: {exc}; not written"
        return result
    leak, named = leaks_in(bytes(header), tail_bytes, creators, carried)
    if named and not leak:
        leak = _kept_creators_leak(result.private, named)
    if named:
        result.private = _creators_masked(result.private, named)
    if leak:
        result.status, result.detail = Status.REJECTED, leak
        return result
    if job.deferred is not None and not job.dry_run:
        job.deferred.append(_Write.of(result, rel_out, parts))
        return result  # status and output set when written (see process_files)
    _store(result, job, rel_out, parts)
    return result


def _embedded(loaded: _Loaded, ds: Dataset, little: bool = True) -> list[tuple[str, bytes]]:
    """The text the compressed frames of the Pixel Data carry (see :mod:`dicomscrub.embedded`),
    read from the input where the value is copied by range, else from ``ds``; for native pixels,
    the bytes after the frames (see :func:`embedded.after_frames`)."""
    pixel = loaded.pixel
    if pixel is not None:
        fd, base, size = loaded.fd, pixel.value_start, pixel.value_end - pixel.value_start
        kept = loaded.lanes.kept if loaded.lanes is not None else []
        values = _frame_values(ds, kept, little)
        if pixel.length != UNDEFINED:
            frames = None if values is None else embedded.frames_size(values, pixel.tag)
            return embedded.after_frames(lambda at, n: os.pread(fd, n, base + at), size, frames)
        if pixel.tag != 0x7FE00010:
            return []
        plane = None if values is None else embedded.plane_size(values)
        return embedded.segments(
            lambda at, n: os.pread(fd, min(n, size - at), base + at), size, plane
        )
    for tag in _PIXEL_TAGS:
        elem = ds.get_item(tag) if tag in ds else None
        if elem is None:
            continue
        value = elem.value
        if not isinstance(value, bytes):
            return []
        values = _frame_values(ds, [], little)
        if getattr(elem, "is_undefined_length", False) or getattr(elem, "length", 0) == UNDEFINED:
            if tag != 0x7FE00010:
                return []
            return embedded.from_bytes(
                value, None if values is None else embedded.plane_size(values)
            )
        frames = None if values is None else embedded.frames_size(values, tag)
        return embedded.after_frames(embedded.reader(value), len(value), frames)
    return []


_PIXEL_TAGS = (0x7FE00008, 0x7FE00009, 0x7FE00010)
"""Float Pixel Data, Double Float Pixel Data, Pixel Data."""


_FIRST_FRAME_TAG, _LAST_FRAME_TAG = min(embedded.FRAME_TAGS), max(embedded.FRAME_TAGS)


def _frame_values(
    ds: Dataset, kept: list[tuple[int, bytes]], little: bool
) -> dict[int, int] | None:
    """The image attributes (:data:`embedded.FRAME_TAGS`) in ``ds``, or in the elements the
    lanes kept as read (``kept``: (tag, element), its header 8 bytes); None where one holds no
    number."""
    values: dict[int, int] = {}
    try:
        for tag in embedded.FRAME_TAGS:
            value = value_of(ds, tag)
            if value in (None, ""):
                continue
            if tag == embedded.PHOTOMETRIC:
                values[tag] = embedded.photometric_value(str(value))
            else:
                values[tag] = int(value)
        # (in tag order: only group 0028's first elements are looked at)
        for at in range(bisect.bisect_left(kept, (_FIRST_FRAME_TAG, b"")), len(kept)):
            tag, element = kept[at]
            if tag > _LAST_FRAME_TAG:
                break
            if tag in embedded.FRAME_TAGS and tag not in values:
                values[tag] = embedded.frame_value(tag, element[8:], little)
    except (TypeError, ValueError, UnicodeDecodeError):
        return None
    return values


def _store(result: FileResult, job: Job, rel_out: str, parts: list[Part]) -> None:
    """Write (or, in a dry run, probe) the output and set the result's status; OSError is raised."""
    try:
        if job.dry_run:
            probe(job.plan.root / rel_out, parts)
        else:
            write_atomic(job.plan.root / rel_out, parts, fsync=job.plan.fsync)
    except Collision as exc:
        result.output = rel_out
        if exc.identical:
            result.status = Status.SKIPPED
            result.detail = IDENTICAL
        else:  # nothing written: no private element left the hospital
            _failed(result, COLLISION)
        return
    result.status = Status.WOULD_WRITE if job.dry_run else Status.WRITTEN
    result.output = rel_out


@dataclass
class _Write:
    """An output decided but not yet written (see :func:`process_files`)."""

    result: FileResult
    rel_out: str
    parts: list[Part]
    fd: int  # a duplicate of the input's descriptor for the ranges to copy (-1: none)
    held: int  # bytes of the parts in memory
    at: int = 0  # the result's place in the list process_files returns
    written: bool = False  # (or given its final status: failed, skipped)

    @classmethod
    def of(cls, result: FileResult, rel_out: str, parts: list[Part]) -> _Write:
        fd = -1
        owned: list[Part] = []
        held = 0
        for part in parts:
            if isinstance(part, FileRange):
                if fd < 0:
                    fd = os.dup(part.fd)  # the input is closed when its processing ends
                part = FileRange(fd, part.offset, part.count)
            else:
                held += len(part)
            owned.append(part)
        return cls(result, rel_out, owned, fd, held)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


DEFER_BYTES = 32 << 20
"""Bytes of outputs held in memory by :func:`process_files` before they are written."""
DEFER_FILES = 64
"""Outputs held by :func:`process_files` before they are written (each holds an open input)."""


def process_files(
    sources: Iterable[Source],
    job: Job,
    stop: Callable[[], bool] | None = None,
    results: list[FileResult] | None = None,
) -> list[FileResult]:
    """:func:`process_file` for each source, in order, with the writes done together after the
    files are processed (when ``DEFER_BYTES`` of output are held in memory, and at the end);
    ``results`` (the list returned, or a new one): the results are appended to it. At most
    :data:`DEFER_FILES` outputs are held.

    It ends early when ``stop()`` says so before a file: the files not started, and those
    processed whose outputs are held, not yet written, are then not in the list (they are not
    done). On an exception (KeyboardInterrupt in ``--jobs 1``) the outputs held are not written,
    and ``results`` holds those of the files done before it, in order (the caller records them:
    their outputs are in place).

    Processing a file is Python working on a header of a few kilobytes; writing it is the kernel
    copying its pixel data, which evicts that Python's working set from the processor's caches.
    Done one after the other for each file, every header is processed with cold caches (about a
    fifth more processor time per file). A file's result reports the write's outcome, as
    process_file's does."""
    with _quiet_pydicom():  # (once for the batch)
        return _process_files(sources, job, stop, [] if results is None else results)


def _process_files(
    sources: Iterable[Source],
    job: Job,
    stop: Callable[[], bool] | None,
    results: list[FileResult],
) -> list[FileResult]:
    pending: list[_Write] = []
    job.deferred = pending
    try:
        held = 0
        for source in sources:
            if stop is not None and stop():
                del results[_done(results, pending) :]  # the outputs held are not written
                return results
            results.append(process_file(source, job))
            if pending and pending[-1].result is results[-1]:
                pending[-1].at = len(results) - 1
                held += pending[-1].held
                if held > DEFER_BYTES or len(pending) >= DEFER_FILES:
                    _write_all(pending, job)
                    held = 0
        _write_all(pending, job)
    except BaseException:
        del results[_done(results, pending) :]
        raise
    finally:
        job.deferred = None
        for write in pending:  # not written
            write.close()
    return results


def _done(results: list[FileResult], pending: list[_Write]) -> int:
    """How many of ``results`` are done: up to the first whose output is held, not written."""
    for write in pending:
        if not write.written:
            return write.at
    return len(results)


def _write_all(pending: list[_Write], job: Job) -> None:
    for write in pending:
        try:
            _write_deferred(write, job)
            write.written = True
        finally:
            write.close()
    pending.clear()


def _write_deferred(write: _Write, job: Job) -> None:
    result = write.result
    try:
        _store(result, job, write.rel_out, write.parts)
    except OSError as exc:
        _failed(result, _cannot_read_or_write(exc))
    except Exception as exc:  # the contract of process_file: never raise (as _process_map says)
        _failed(result, f"cannot de-identify: {safe_message(exc)}")
