"""Apply a compiled profile to one dataset, recursively inside every sequence item (PS3.15 E.1.1).

:class:`Scrubber` is built once per process from a :class:`CompiledProfile` and a key; its
:meth:`Scrubber.scrub` changes a dataset in place and returns what it did to private elements (for
the audit) without ever recording an original value.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import enum
import functools
import io
import re
import struct
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydicom.charset import decode_bytes, encode_string
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset, read_sequence
from pydicom.filewriter import write_data_element
from pydicom.hooks import raw_element_vr
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.valuerep import PersonName
from pydicom.values import converters

from dicomscrub.actions import Action, Effect, on_vr, resolve
from dicomscrub.damage import NUMBER_SIZE, wrong_vr
from dicomscrub.dictionary import ensure_registered, has, keyword_for, value_of, vm_of, vr_of
from dicomscrub.encode import write_elements
from dicomscrub.private import (
    SEQUENCE_TAG,
    BlockStatus,
    Declaration,
    Fate,
    Verdict,
    creator_text,
    find_declaration,
    identifying_verdict,
    read_declarations,
    safe_verdict,
)
from dicomscrub.profile.model import (
    PRIVATE,
    CompiledProfile,
    Method,
    Rule,
    SafePrivate,
    vm_range,
)
from dicomscrub.profile.values import (
    NARROW,
    day_of,
    digit_spellings,
    fits_vr,
    id_spellings,
    is_date,
    latin_spellings,
    name_components,
    spellings,
    unmarked_letter,
    whole_name_forms,
)
from dicomscrub.pseudonym import Pseudonymizer, is_standard_uid
from dicomscrub.tags import format_tag, is_private_group

DATE_VRS = frozenset({"DA", "DT", "TM"})
TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
JUDGED_BY_DICTIONARY = DATE_VRS | {"PN"}
"""VRs whose settings (unlisted_dates, unlisted_names) follow the attribute, not the file: a name or
a date written with another explicit VR (Evaluator Name as LO) is still a name or a date."""
FREE_TEXT_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
"""What a sequence cleaned by C cleans where no rule lists it: text a person may have typed (a
report's Text Value). Never codes (CS, such as the Value Type an SR item must have), nor the
elements of a coded entry (see :func:`_is_code`)."""


def _is_code(tag: int) -> bool:
    """An element of a coded entry (Code Value, Coding Scheme Designator, Code Meaning, Mapping
    Resource ... (0008,0100)-(0008,0123)): cleaned of a surname, a Code Meaning loses a word."""
    return 0x00080100 <= tag <= 0x00080123


NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT"})
BYTES_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})
DUMMY_TEXT = "ANONYMIZED"
DUMMY_BY_VR: dict[str, str] = {
    "AE": DUMMY_TEXT,
    "AS": "000Y",
    "CS": DUMMY_TEXT,
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000",
    "IS": "0",
    "LO": DUMMY_TEXT,
    "LT": DUMMY_TEXT,
    "PN": DUMMY_TEXT,
    "SH": DUMMY_TEXT,
    "ST": DUMMY_TEXT,
    "TM": "000000",
    "UC": DUMMY_TEXT,
    "UR": DUMMY_TEXT,
    "UT": DUMMY_TEXT,
}
MIN_TOKEN = 3
"""Identifying tokens shorter than this are not scrubbed from cleaned text (too many false hits)."""
_SHORT_DATE = re.compile(r"[0-9]{1,2}([-./])[0-9]{1,2}\1[0-9]{2}")
"""A date with a two-digit year as Clean removes it (7.3.61, 07/03/61, 3-7-61): short enough to
be part of a version number (1.7.3.61) or another run of numbers joined by its separator, where
it is no date and stays."""

STRUCTURAL_UID_KEYWORDS = frozenset(
    {
        "CodingSchemeUID",
        "ContextGroupExtensionCreatorUID",
        "MappingResourceUID",
        "PrivateInformationCreatorUID",
        "TemplateExtensionCreatorUID",
        "TemplateExtensionOrganizationUID",
    }
)
"""UI attributes that name a class, a syntax or an organisation, never an instance: kept even
when they hold a UID not defined by the standard (a vendor's private SOP Class, say)."""

METHOD_SCHEME = "DCM"
SAFE_PRIVATE_TABLE_PROFILE = "retain-safe-private"
"""The built-in option whose ``safe_private`` list is Table E.3.10-1."""
ITEM_TAG_LE = b"\xfe\xff\x00\xe0"
FULL_DATES = "retain-long-full-dates"
MODIFIED_DATES = "retain-long-modified-dates"


@dataclass(frozen=True)
class PrivateRecord:
    """What happened to one private element. Never holds a value."""

    tag: str  # tag path, e.g. (0019,1010) or (0008,1140)[0]/(0019,1010)
    creator: str
    block_status: str
    decision: str  # kept, removed, replaced, emptied
    basis: str
    detail: str = ""


class Basis(str, enum.Enum):
    """Where the action of a standard element came from (see :class:`Decision`)."""

    RULE = "rule"  # a profile rule (Decision.rule names it)
    DEFAULT = "default"  # no rule: settings.default
    UNLISTED_UID = "unlisted-uid"  # no rule, a UID not defined by the standard: unlisted_uids
    STANDARD_UID = "standard-uid"  # no rule, only UIDs defined by the standard: kept
    STRUCTURAL_UID = "structural-uid"  # no rule, a class/syntax/organisation UID: kept
    UNLISTED_DATE = "unlisted-date"  # no rule, DA/DT/TM: settings.unlisted_dates
    UNLISTED_NAME = "unlisted-name"  # no rule, PN: settings.unlisted_names
    UID_IN_SEQUENCE = "uid-in-x-z-u-sequence"  # no rule, a UID inside an X/Z/U* sequence: U
    GROUP_LENGTH = "group-length"  # (gggg,0000): dropped, recomputed on write when needed
    UNREADABLE_ITEMS = "unreadable-items"  # a UN value that starts with an item but cannot be read
    IN_CLEANED_SEQUENCE = "in-cleaned-sequence"  # no rule, kept by default, inside a C sequence: C


class Decision(NamedTuple):
    """Why one standard element was treated as it was, recorded only when
    :meth:`Scrubber.scrub` is given a list (``explain`` and the leak check). Never holds a value.
    Private elements are described by :class:`PrivateRecord` instead. (A named tuple: one is
    made per element of every file ``run`` writes, and it is cheaper to make than a dataclass.)"""

    path: str  # tag path, as in PrivateRecord
    tag: int
    vr: str
    action: Action
    effect: Effect
    basis: Basis
    rule: Rule | None = None


@dataclass
class ScrubResult:
    private: list[PrivateRecord] = field(default_factory=list)
    kept_private: set[str] = field(default_factory=set)
    """The paths of the private elements kept (their rows in :attr:`private` say "kept")."""
    methods: tuple[str, ...] = ()
    method_codes: tuple[str, ...] = ()
    dates: str = "REMOVED"
    changed: int = 0
    mapping: list[tuple[str, str, str]] = field(default_factory=list)
    """(original, de-identified, kind) for the crosswalk; only filled when asked for, and never
    written anywhere but the --mapping-out file."""


@dataclass
class LaneResult:
    """What was decided for top-level elements that were never parsed (see
    :mod:`dicomscrub.lanes`): their private audit rows in tag order, and how many counted as
    changes."""

    private: list[PrivateRecord] = field(default_factory=list)
    private_tags: list[int] = field(default_factory=list)  # their tags (the same order)
    creators: list[tuple[int, PrivateRecord]] = field(default_factory=list)
    """Rows of Private Creators removed unparsed with their blocks, in tag order."""
    changes: int = 0
    context: tuple[bytes, bool, bool] | None = None
    """How the data set is encoded: (its Specific Character Set element as read, implicit VR,
    little endian); set when the elements :meth:`Scrubber.scrub` adds may be given as bytes."""
    written: list[tuple[int, bytes]] = field(default_factory=list)
    """Elements the scrub added as bytes (written as they are, in tag order), not to ``ds``."""
    values: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Patient ID and the SOP Instance, Study and Series Instance UIDs when decided unparsed:
    tag -> (the value as read, the value written, "" if none), as text, for what reads them (the
    patient's key, the output path, the file meta)."""

    def value(self, ds: Dataset, tag: int, *, new: bool = True) -> str:
        """The value of element ``tag`` of ``ds`` as text (see :func:`text_at`), or, when the
        lanes decided it unparsed, the value written (``new``) or the value as read."""
        found = self.values.get(tag)
        if found is None or has(ds, tag):
            return text_at(ds, tag)
        return found[1 if new else 0]


_NO_LANES = LaneResult()  # (never added to: for the values of a data set parsed whole)


@dataclass
class _State:
    """Per-file state of one scrub."""

    tokens: list[str]
    patient: str  # the key of per-patient date offsets: original Patient ID (else Study UID)
    result: ScrubResult
    patient_id: str = ""  # the original Patient ID
    declarations: dict[tuple[int, str], Declaration] = field(default_factory=dict)
    present: set[tuple[int, str]] = field(default_factory=set)
    dates_shifted: bool = False
    dates_kept: bool = False
    cleaning: bool = False
    """Inside a sequence cleaned (C): free text no rule lists, which the default would keep, is
    cleaned too (PS3.15 E.3.4: the content items of a report are cleaned, their Text Value
    included; see :data:`FREE_TEXT_VRS`)."""
    decisions: list[Decision] | None = None
    record_kept: bool = True  # record elements left as read too (False: the leak check)


def is_structural_uid_tag(tag: int) -> bool:
    """True for SOP Class, Transfer Syntax and similar UID attributes (not instances)."""
    keyword = keyword_for(tag)
    return keyword.endswith(("ClassUID", "SyntaxUID")) or keyword in STRUCTURAL_UID_KEYWORDS


SHAPED_TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UC", "UT"})
"""Text VRs that an attribute the dictionary does not know may be written with, whose values are
judged by their form as values read as UN are (see :func:`shaped_as`)."""


@functools.lru_cache(maxsize=16384)
def judged_vr(tag: int, vr: str | None) -> str | None:
    """The VR a standard element's action is decided by: the dictionary's where that is PN, DA,
    DT or TM and the file wrote another (not UN, which is retyped on its own); UN for an attribute
    the dictionary does not know written with a text VR (its value's form decides, as for one
    read as UN); else the file's."""
    exact = vr_of(tag)
    if vr and vr != exact and vr not in ("UN", "SQ") and exact in JUDGED_BY_DICTIONARY:
        return exact
    if exact is None and vr in SHAPED_TEXT_VRS:
        return "UN"
    return vr or exact


def ui_element(tag: int, text: str, implicit: bool, little: bool) -> bytes | None:
    """A top-level UI element of ASCII ``text`` as pydicom's encoder writes it (padded with a NUL
    to an even length); None where pydicom would write it otherwise (too long: as UN)."""
    raw = text.encode("ascii")
    if len(raw) % 2:
        raw += b"\0"
    e = "<" if little else ">"
    if implicit:
        return struct.pack(e + "HHL", tag >> 16, tag & 0xFFFF, len(raw)) + raw
    if len(raw) > 0xFFFF:
        return None
    return struct.pack(e + "HH2sH", tag >> 16, tag & 0xFFFF, b"UI", len(raw)) + raw


LANE_PARSE, LANE_KEEP, LANE_DROP, LANE_REPLACE, LANE_UID = 0, 1, 2, 3, 4
"""What :meth:`Scrubber.standard_lane` says about a top-level element read from its bytes."""
RECORD_TAGS = (0x00120062, 0x00120063, 0x00120064, 0x00280303)
"""What the scrub adds to every data set (Patient Identity Removed, De-identification Method and
its codes, Longitudinal Temporal Information Modified)."""
_UID_TEXT = bytes(range(0x20, 0x7F)) + b"\0"
"""The bytes of a UI value that decode alike in every reading: printable ASCII and NUL."""
_CACHE_LIMIT = 100_000
_UID_CACHE_LIMIT = 10_000
_UID_CACHE_VALUE = 256
"""Longest UI value (bytes as read) whose new element is remembered."""

MAPPED_KEYWORDS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
"""The top-level attributes whose original -> new values go to the --mapping-out crosswalk."""


def text_at(ds: Dataset, tag: int) -> str:
    """The value of element ``tag`` of ``ds`` as stripped text ("" without the element)."""
    value = value_of(ds, tag)
    return "" if value is None else str(value).strip()


def _text_value(ds: Dataset, keyword: str) -> str:
    return text_at(ds, _tag_of(keyword))


@functools.cache
def _tag_of(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return int(tag)


def _values(elem: DataElement) -> list[object]:
    value = elem.value
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


_AS_DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}


def _age_years(text: str) -> float | None:
    """An AS value (nnnD/W/M/Y) in years, or None if it is not one."""
    if len(text) != 4 or not text[:3].isdigit() or text[3] not in _AS_DAYS:
        return None
    return int(text[:3]) * _AS_DAYS[text[3]] / 365.25


def _vm_min(tag: int) -> int:
    vm = vm_of(tag)
    first = vm.split("-")[0].strip()
    return int(first) if first.isdigit() and int(first) > 0 else 1


def private_creators(ds: Dataset) -> dict[tuple[int, int], str]:
    """(group, block byte) -> Private Creator of every private block reserved in ``ds``."""
    creators: dict[tuple[int, int], str] = {}
    for key in ds.keys():  # noqa: SIM118 - a Dataset iterates over elements, not tags
        group, element = key >> 16, key & 0xFFFF
        if is_private_group(group) and 0x10 <= element <= 0xFF:
            text = creator_text(ds[key].value)
            creators[(group, element)] = text.strip().rstrip("\0").strip()
    return creators


def looks_like_items(raw: bytes) -> bool:
    """An undecoded (UN) value that starts with an Item tag holds a sequence (PS3.5 6.2.2)."""
    return raw[:4] == ITEM_TAG_LE


_ITEM, _ITEM_END, _SEQ_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
_UNDEFINED = 0xFFFFFFFF


_NUMERIC_VRS = frozenset({*NUMBER_SIZE, "IS", "DS"})
"""The VRs PS3.15 E.3.10 advises are safe to keep in a private element (IS and DS checked to hold
numbers)."""


def decodes(vr: str, length: int) -> bool:
    """pydicom decodes a value of this VR and length without raising: a VR it has a converter
    for (not an ambiguous one, which it corrects from other elements first), a whole number of
    values for binary numbers."""
    if len(vr) != 2 or vr not in converters:
        return False
    size = NUMBER_SIZE.get(vr)
    return size is None or length % size == 0


def _number(vr: str, text: str) -> int | float:
    """A profile's value (text, checked against the VR by the loader) as the number a binary VR
    holds: hexadecimal for AT (a tag, ``00181063``), a float for FL and FD."""
    if vr == "AT":
        return int(text.strip(), 16)
    return float(text) if vr in ("FL", "FD") else int(text)


def _check_fits(elem: DataElement, values: list[str], path: str, what: str) -> None:
    """Raise :class:`~dicomscrub.damage.DamagedValue` when ``values``, which a rule gives the
    standard attribute ``elem`` (``what``), cannot be written with the VR its file gives it. The
    profile was checked against the dictionary's VR; a file that writes the attribute with
    another (a Patient ID as US, AT or OB) is damaged: pydicom would fail to encode the value."""
    expected = vr_of(elem.tag)  # (None for an attribute the dictionaries do not know)
    if expected is None or elem.VR in dictionary_VR(elem.tag).split(" or "):
        return
    if not all(fits_vr(elem.VR, v) for v in values):
        raise wrong_vr(elem, path or format_tag(elem.tag), expected, what)


def undecoded_vr(ds: Dataset, tag: int) -> str | None:
    """The VR pydicom gives the still undecoded element ``tag`` of ``ds`` when it decodes it, if
    that VR is not SQ and decoding could not fail; otherwise None (decode it to find out).

    Decoding costs tens of microseconds per element, and most private elements are removed: an
    element that is removed and cannot hold a sequence need not be decoded at all. Elements whose
    decoding would raise are left to the decoder, so that they fail exactly as before.
    """
    raw: Any = ds.get_item(tag)  # typed as DataElement, but raw when never decoded
    if not isinstance(raw, RawDataElement) or raw.length == _UNDEFINED or raw.value is None:
        return None
    vr = raw.VR
    if vr is None or vr == "UN":
        found: dict[str, str] = {}
        raw_element_vr(raw, found, ds=ds)  # the lookup decoding does (dictionaries, creator)
        vr = found.get("VR")
    if vr is None or vr == "SQ" or not decodes(vr, raw.length):
        return None
    return str(vr)


def _header(raw: bytes, pos: int, end: int) -> tuple[tuple[int, int], int] | None:
    if pos + 8 > end:
        return None
    group, element, length = struct.unpack_from("<HHI", raw, pos)
    return (group, element), length


def _walk_elements(raw: bytes, pos: int, end: int, until_item_end: bool) -> int:
    """Check implicit VR elements from ``pos``; return the position after them, or -1."""
    while pos < end:
        head = _header(raw, pos, end)
        if head is None:
            return -1
        tag, length = head
        pos += 8
        if tag == _ITEM_END:
            return pos if until_item_end else -1
        if length == _UNDEFINED:
            pos = _walk_items(raw, pos, end, defined=False)
            if pos < 0:
                return -1
        elif pos + length > end:
            return -1
        else:
            pos += length
    return -1 if until_item_end else pos


def _walk_items(raw: bytes, pos: int, end: int, defined: bool) -> int:
    """Check the items of a sequence; every length must fit inside its container."""
    while pos < end:
        head = _header(raw, pos, end)
        if head is None:
            return -1
        tag, length = head
        pos += 8
        if tag == _SEQ_END:
            return -1 if defined else pos
        if tag != _ITEM:
            return -1
        if length == _UNDEFINED:
            pos = _walk_elements(raw, pos, end, until_item_end=True)
            if pos < 0:
                return -1
        elif pos + length > end or _walk_elements(raw, pos, pos + length, False) != pos + length:
            return -1
        else:
            pos += length
    return pos if defined else -1


_TIME_FORM = re.compile(
    r"(?:[01][0-9]|2[0-3])(?::?[0-5][0-9](?::?(?:[0-5][0-9]|60)(?:\.[0-9]{1,6})?)?)?"
)
"""A TM value (PS3.5 6.2: HH, HHMM, HHMMSS, HHMMSS.F to .FFFFFF; with the colons of ACR-NEMA)."""
_LISTED_SAFE = frozenset({"safe-private-table", "profile-safe-list"})
_VALUE_TEXT = {
    "DS": re.compile(rb"[0-9+\-.eE \\]*\0?"),
    "IS": re.compile(rb"[0-9+\- \\]*\0?"),
    "CS": re.compile(rb"[A-Z0-9 _\\]*\0?"),
    "UI": re.compile(rb"[0-9.\\]*[\0 ]?"),
    "AS": re.compile(rb"[0-9DWMY \\]*"),
    "DA": re.compile(rb"[0-9.\- \\]*"),
    "TM": re.compile(rb"[0-9.:\- \\]*"),
}
"""What the bytes of a value of these VRs may be (PS3.5 6.2), padding included."""


def _of_vr(vr: str, data: bytes) -> bool:
    """Could ``data`` be the value of an element of ``vr``? For the VRs whose values have a
    form: binary numbers a whole number of them, number and code strings their characters, a
    sequence its items; any bytes for text."""
    size = NUMBER_SIZE.get(vr) or (4 if vr in ("AT", "OL", "OF") else 0) or (8 if vr == "OD" else 0)
    if size:
        return len(data) % size == 0
    if vr == "SQ":
        return not data or looks_like_items(data)
    form = _VALUE_TEXT.get(vr)
    return form is None or form.fullmatch(data) is not None


def _hits(entries: list[SafePrivate]) -> tuple[bool, bool]:
    """Whether Table E.3.10-1, and whether a profile's own safe list, is among ``entries``."""
    table = any(e.source == SAFE_PRIVATE_TABLE_PROFILE for e in entries)
    return table, any(e.source != SAFE_PRIVATE_TABLE_PROFILE for e in entries)


def parse_un_sequence(raw: bytes) -> Sequence | None:
    """Decode a UN value as an implicit VR little endian sequence; None unless every item and
    element length fits exactly (pydicom's reader would quietly cut a bad one short)."""
    if _walk_items(raw, 0, len(raw), defined=True) != len(raw):
        return None
    try:
        seq = read_sequence(io.BytesIO(raw), True, True, len(raw), "iso8859")
        for item in seq:
            for _ in item:  # force every element to decode now, inside the try
                pass
        return seq
    except Exception:
        return None


def shift_date(value: str, offset: dt.timedelta) -> str | None:
    """Shift a DA value (YYYYMMDD, the old YYYY.MM.DD, or a range A-B, -B or A-); None if it is
    not a date."""
    text = value.strip()
    if "-" in text:
        parts = text.split("-")
        if len(parts) != 2 or not any(parts):
            return None
        shifted = [shift_date(p, offset) if p else "" for p in parts]
        if any(x is None for x, p in zip(shifted, parts, strict=True) if p):
            return None
        return "-".join(x or "" for x in shifted)
    digits = text.replace(".", "") if len(text) == 10 else text
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        day = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        return (day + offset).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return None


_DT_RE = re.compile(
    r"^(\d{4})(?:(\d{2})(?:(\d{2})(\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?)?)?"
    r"(?:([+-])(\d{2})(\d{2}))?$"
)


def _shift_one_datetime(value: str, offset: dt.timedelta) -> str | None:
    m = _DT_RE.match(value)
    if not m:
        return None
    year, month, day, time, sign, tz_hours, tz_minutes = m.groups()
    if sign is not None and (int(tz_hours) > 14 or int(tz_minutes) > 59):
        return None  # not a UTC offset (e.g. the "-2025" of a range "2024-2025")
    try:
        start = dt.date(int(year), int(month or 1), int(day or 1)) + offset
    except (ValueError, OverflowError):
        return None
    text = start.strftime("%Y%m%d")[: 4 + (2 if month else 0) + (2 if day else 0)]
    return text + (time or "") + (f"{sign}{tz_hours}{tz_minutes}" if sign else "")


def shift_datetime(value: str, offset: dt.timedelta) -> str | None:
    """Shift the date part of a DT value; time of day and UTC offset are unchanged.

    A partial DT (YYYY or YYYYMM) is shifted from its first day and cut back to its precision. A
    range (``A-B``, ``-B``, ``A-``) shifts both ends; a value that reads as one DT with a valid UTC
    offset is one value, not a range. None if the value is not a DT.
    """
    text = value.strip()
    single = _shift_one_datetime(text, offset)
    if single is not None:
        return single
    for i, ch in enumerate(text):
        if ch != "-":
            continue
        left, right = text[:i], text[i + 1 :]
        if not left and not right:
            continue
        new_left = _shift_one_datetime(left, offset) if left else ""
        new_right = _shift_one_datetime(right, offset) if right else ""
        if new_left is not None and new_right is not None:
            return f"{new_left}-{new_right}"
    return None


_UID_FORM = re.compile(rb"[012](?:\.(?:0|[1-9][0-9]*)){2,}")
"""A UID as an unknown attribute may hold one: a first arc 0, 1 or 2 (every OID's), three
components at least (a DS has one dot), none with a leading zero. A version number such as
3.2.1 or an address such as 192.168.1.20 is not one."""
_DA_FORM = re.compile(rb"(?:1[89]|2[01])[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])")
_DT_FORM = re.compile(
    rb"(?P<date>[0-9]{8})(?:[01][0-9]|2[0-3])(?:[0-5][0-9](?:[0-5][0-9](?:\.[0-9]{1,6})?)?)?"
    rb"(?:[+-][0-9]{4})?"
)
_NOT_IN_TEXT = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
_NOT_IN_NAMES = re.compile(r"[0-9+*/<>|{}\[\]@#$%&]")


def _calendar_date(text: bytes) -> bool:
    return _DA_FORM.fullmatch(text) is not None and is_date(text.decode("ascii"))


def _shaped_vr(parts: list[bytes]) -> str | None:
    """UI, DA or DT when every value of ``parts`` (none empty) has that form."""
    if all(_UID_FORM.fullmatch(part) and len(part) <= 64 for part in parts):
        return "UI"
    if all(_calendar_date(part) for part in parts):
        return "DA"
    dts = [_DT_FORM.fullmatch(part) for part in parts]
    if all(found is not None and _calendar_date(found["date"]) for found in dts):
        return "DT"
    return None


def _encoded(ds: Dataset, text: str) -> bytes:
    """``text`` in the data set's character set (as it was read), for :func:`shaped_as`."""
    try:
        return encode_string(text, list(ds._character_set))
    except Exception:  # (a value its own character set cannot hold: judged as UTF-8)
        return text.encode("utf-8", "replace")


def form_of(text: str) -> str | None:
    """DA, DT or PN: the VR one value has the form of, as :func:`shaped_as` judges an unknown
    attribute's values (the leak check searches such a value in a date's or a name's forms)."""
    raw = text.encode("utf-8", "replace")
    if raw.isascii() and raw and _shaped_vr([raw]) in ("DA", "DT"):
        return _shaped_vr([raw])
    if "^" in text and not _NOT_IN_TEXT.search(raw) and not _NOT_IN_NAMES.search(text):
        return "PN"
    return None


def shaped_as(ds: Dataset, elem: DataElement) -> DataElement | None:
    """An element the dictionary does not know, read as UN (implicit VR, or written as UN) or
    written with a text VR (:data:`SHAPED_TEXT_VRS`), made the UI, DA, DT or PN element its value
    has the form of (every value that is not empty: a UID, see :data:`_UID_FORM`; a calendar date
    YYYYMMDD from 1800 to 2199; a date and time; or text with a ``^`` and no digit); None when its
    value has none of these forms, or is longer than 1024 bytes (a document, not a value of one of
    these VRs). Times are not guessed: six digits are as likely a number."""
    raw = elem.value
    if elem.VR in SHAPED_TEXT_VRS:  # (decoded: judged as the bytes it was read from)
        raw = _encoded(ds, "\\".join(str(v) for v in _values(elem)))
    if not isinstance(raw, bytes) or not raw or len(raw) > 1024:
        return None
    if vr_of(int(elem.tag)) not in (None, "UN"):
        return None
    text = raw.rstrip(b"\0 ")
    parts = [part.strip(b" ") for part in text.split(b"\\")]
    given = [part for part in parts if part]
    if not given:
        return None
    vr = _shaped_vr(given)
    if vr is not None:
        values = [part.decode("ascii") for part in parts]
        return DataElement(elem.tag, vr, values if len(values) > 1 else values[0])
    if b"^" not in text or _NOT_IN_TEXT.search(text):
        return None
    try:
        encodings = ds._character_set
        names = decode_bytes(text, list(encodings), {0x5E, 0x3D})
    except Exception:  # not text pydicom can decode: not a name to handle as one
        return None
    found = [name.strip() for name in names.split("\\")]
    if not any("^" in name and not _NOT_IN_NAMES.search(name) for name in found):
        return None  # (one value shaped as a name is enough: ``Doe^John\Room 12`` holds one)
    return DataElement(elem.tag, "PN", found if len(found) > 1 else found[0])


class Scrubber:
    """A compiled profile plus a key, applied to datasets."""

    def __init__(
        self,
        profile: CompiledProfile,
        pseudonymizer: Pseudonymizer,
        *,
        collect_mapping: bool = False,
    ) -> None:
        ensure_registered()
        self.profile = profile
        self.pseudo = pseudonymizer
        self.collect_mapping = collect_mapping
        self.methods: tuple[Method, ...] = profile.methods
        # One item per CID 7050 code in this step: a profile whose own code repeats a code of
        # a layer it extends (113100 over basic) does not describe a second step.
        coded: dict[str, Method] = {}
        for m in self.methods:
            if m.code:
                coded.setdefault(m.code, m)
        self.coded: tuple[Method, ...] = tuple(coded.values())
        self._needs_tokens = Action.C in (
            profile.default,
            profile.unlisted_dates,
            profile.unlisted_uids,
            profile.unlisted_names,
        ) or any(
            r.action is Action.C
            for r in (*profile.exact.values(), *profile.masks, *profile.creator_masks)
        )
        # Decisions that depend only on the profile and the element (never on the file), cached
        # for the life of the worker: see _undeclared_removal and standard_lane.
        self._removals: dict[tuple[int, str], tuple[PrivateRecord, bool] | None] = {}
        self._standard_lanes: dict[tuple[int, str | None, bool], tuple[int, str | None]] = {}
        self._keeps_unchanged: dict[tuple[int, str | None], bool] = {}
        self.lane_memo: dict[object, Any] = {}  # for dicomscrub.lanes: outcomes by element
        self.check_memo: Any = None  # for dicomscrub.check: the leak check's NeedleMemo
        self._recorded_cache: dict[tuple[str, bytes, bool, bool], list[tuple[int, bytes]]] = {}
        self._replacements: dict[tuple[int, str | None, bool, bool, bytes], tuple[bytes, int]] = {}
        self._uid_elements: dict[tuple[int, bytes, bool, bool], tuple[bytes, str] | None] = {}

    @property
    def lanes_allowed(self) -> bool:
        """Top-level elements may be kept or removed from their bytes, unparsed (see
        :mod:`dicomscrub.lanes`), unless the profile cleans (C): cleaning collects identifying
        values from every element of the data set first, which decodes them all."""
        return not self._needs_tokens

    # ---- entry point -------------------------------------------------------------------------

    def scrub(
        self,
        ds: Dataset,
        decisions: list[Decision] | None = None,
        lanes: LaneResult | None = None,
        *,
        record_kept: bool = True,
    ) -> ScrubResult:
        """De-identify ``ds`` in place (file meta excluded; see :meth:`scrub_file_meta`).

        With a ``decisions`` list, one :class:`Decision` per standard element visited is appended
        to it; without one (``run`` without its leak check), nothing is recorded. Without
        ``record_kept``, elements left as read (see :meth:`keeps_unchanged`) are not recorded
        (the leak check, which never counts them). ``lanes``: the
        audit rows of top-level private elements removed before ``ds`` was parsed, merged into
        the audit in tag order."""
        result = ScrubResult()
        # as read, also when the lanes decided them unparsed
        read = (lanes or _NO_LANES).value
        patient_id = read(ds, 0x00100020, new=False)
        patient = patient_id or read(ds, 0x0020000D, new=False)
        state = _State(
            tokens=self._collect_tokens(ds) if self._needs_tokens else [],
            patient=patient,
            patient_id=patient_id,
            result=result,
            declarations=read_declarations(ds),
            decisions=decisions,
            record_kept=record_kept,
        )
        before = {kw: _text_value(ds, kw) for kw in MAPPED_KEYWORDS} if self.collect_mapping else {}
        if lanes is not None:
            result.changed += lanes.changes
        if self._may_remove_representation and has(ds, 0x00280103):
            # where pydicom looks for Pixel Representation when the data set has none: a
            # profile may remove it before the elements whose VR it decides (US or SS: Smallest
            # Image Pixel Value...) are read, and they are then read and written as they were
            with contextlib.suppress(TypeError, ValueError):
                ds._pixel_rep = int(ds[0x00280103].value)
        self._dataset(ds, "", state, replace_uids=False, lanes=lanes)
        self._rewrite_characteristics(ds, state)
        if (
            lanes is not None
            and lanes.context is not None
            and not any(has(ds, tag) for tag in RECORD_TAGS)
        ):
            lanes.written = self._recorded(state, lanes.context)
        else:
            self._record_method(ds, state)
        for keyword, original in before.items():
            if original:
                result.mapping.append((original, _text_value(ds, keyword), keyword))
        return result

    @functools.cached_property
    def _may_remove_representation(self) -> bool:
        """Whether the profile may change Pixel Representation (0028,0103): see :meth:`scrub`
        (one that keeps it needs nothing, and most do)."""
        return not self.keeps_bulk(0x00280103)

    def keeps_bulk(self, tag: int) -> bool:
        """True if the profile keeps the top-level binary element ``tag`` (Pixel Data, say)
        unchanged, so that its bytes can be copied from the input by range."""
        if is_private_group(tag >> 16):
            return False
        rule = self.profile.standard_rule(tag)
        action = rule.action if rule is not None else self.profile.default
        return resolve(action, False) is Effect.KEEP

    def scrub_file_meta(self, meta: Dataset, new_sop_instance_uid: str | None) -> None:
        """Keep only what the file meta needs; PS3.15 E.1.1 says it is replaced anyway."""
        for tag in list(meta.keys()):
            if int(tag) not in (0x00020001, 0x00020002, 0x00020003, 0x00020010):
                del meta[tag]
        media_uid = meta.get("MediaStorageSOPInstanceUID")
        if new_sop_instance_uid:
            meta.MediaStorageSOPInstanceUID = new_sop_instance_uid
        elif media_uid:
            meta.MediaStorageSOPInstanceUID = self.pseudo.uid(str(media_uid))

    # ---- walking -----------------------------------------------------------------------------

    def _dataset(
        self,
        ds: Dataset,
        prefix: str,
        state: _State,
        replace_uids: bool,
        lanes: LaneResult | None = None,
    ) -> None:
        creators = private_creators(ds)
        kept_blocks: set[tuple[int, int]] = set()
        creator_tags: list[int] = []
        records = state.result.private
        pending = lanes.private if lanes is not None else []
        pending_tags = lanes.private_tags if lanes is not None else []
        next_lane = 0
        for base_tag in list(ds.keys()):
            tag = int(base_tag)
            if next_lane < len(pending_tags) and pending_tags[next_lane] < tag:
                upto = bisect.bisect_left(pending_tags, tag, next_lane)
                records += pending[next_lane:upto]
                next_lane = upto
            group, element = tag >> 16, tag & 0xFFFF
            if element == 0x0000:  # group length: recomputed on write when needed, else dropped
                if state.decisions is not None:
                    state.decisions.append(
                        Decision(
                            prefix + format_tag(tag),
                            tag,
                            ds[tag].VR,
                            Action.X,
                            Effect.REMOVE,
                            Basis.GROUP_LENGTH,
                        )
                    )
                del ds[tag]
                continue
            if group % 2 == 1 and not is_private_group(group):
                # Groups 0001, 0003, 0005, 0007 and FFFF may not be used (PS3.5 7.8.1); the odd
                # group row of Table E.1-1 removes them with every other odd group.
                self._drop_nested_private(ds[tag], prefix + format_tag(tag), state)
                del ds[tag]
                state.result.private.append(
                    PrivateRecord(
                        prefix + format_tag(tag), "", "UNDECLARED", "removed", "forbidden-odd-group"
                    )
                )
                continue
            if is_private_group(group):
                if 0x10 <= element <= 0xFF:
                    creator_tags.append(tag)
                    continue
                block = (group, element >> 8)
                if self._private(ds, tag, creators.get(block), prefix, state):
                    kept_blocks.add(block)
                continue
            self._standard(ds, tag, prefix, state, replace_uids)
        records += pending[next_lane:]
        lane_creators = lanes.creators if lanes is not None else []
        next_creator = 0
        for ctag in creator_tags:
            while next_creator < len(lane_creators) and lane_creators[next_creator][0] < ctag:
                records.append(lane_creators[next_creator][1])
                next_creator += 1
            block = (ctag >> 16, ctag & 0xFF)
            creator = creators.get(block, "")
            path = prefix + format_tag(ctag)
            decl = find_declaration(state.declarations, ctag >> 16, creator)
            status = decl.status.value if decl is not None else BlockStatus.UNDECLARED.value
            if block in kept_blocks:
                state.result.private.append(
                    PrivateRecord(path, creator, status, "kept", "creator-of-kept-block")
                )
                state.result.kept_private.add(path)
            else:
                del ds[ctag]
                state.result.private.append(
                    PrivateRecord(path, creator, status, "removed", "creator-of-removed-block")
                )
        records.extend(record for _, record in lane_creators[next_creator:])

    def _standard(
        self, ds: Dataset, tag: int, prefix: str, state: _State, replace_uids: bool
    ) -> None:
        rule = self.profile.standard_rule(tag)
        # Removed or kept without decoding the value; recorded all the same when asked (explain,
        # the leak check), so that what is written never depends on what is recorded.
        effect: Effect | None = None
        if rule is not None and rule.action is Action.X and not self._may_hold_items(ds, tag):
            del_vr = ds.get_item(tag).VR or vr_of(tag) or "UN"
            del ds[tag]  # removed: no need to decode the value first
            state.result.changed += 1
            effect, action, vr = Effect.REMOVE, Action.X, del_vr
        elif not replace_uids and not state.cleaning and self._kept_as_is(ds, tag, rule):
            # left as read: written back byte for byte, never decoded
            if state.decisions is None or not state.record_kept:
                return
            action = rule.action if rule is not None else self.profile.default
            effect, vr = Effect.KEEP, ds.get_item(tag).VR or vr_of(tag) or "UN"
        if effect is not None:
            if state.decisions is not None:
                basis = Basis.RULE if rule is not None else Basis.DEFAULT
                path = prefix + format_tag(tag)
                state.decisions.append(Decision(path, tag, vr, action, effect, basis, rule))
            return
        elem = ds[tag]
        if elem.VR == "UN":
            elem = self._retype(ds, elem)
            if elem.VR == "UN" and isinstance(elem.value, bytes) and looks_like_items(elem.value):
                # an attribute the dictionary does not know (newer than pydicom's), read from
                # implicit VR or written as UN, that holds items: a sequence, cleaned inside
                # like any other; removed when its items cannot be read
                parsed = parse_un_sequence(elem.value)
                if parsed is None:
                    del ds[tag]
                    state.result.changed += 1
                    if state.decisions is not None:
                        state.decisions.append(
                            Decision(
                                prefix + format_tag(tag),
                                tag,
                                "UN",
                                Action.X,
                                Effect.REMOVE,
                                Basis.UNREADABLE_ITEMS,
                            )
                        )
                    return
                elem = DataElement(tag, "SQ", parsed)
                ds[tag] = elem
        elif elem.VR in TEXT_VRS and judged_vr(tag, elem.VR) not in (elem.VR, "UN"):
            # a name or date written with another text VR: read again as what it is, so that
            # its setting applies and what is written has the attribute's own VR
            exact = vr_of(tag) or elem.VR
            values = [str(v) for v in _values(elem)]
            ds[tag] = elem = DataElement(
                tag, exact, (values if len(values) > 1 else values[0]) if values else ""
            )
        if rule is None and judged_vr(tag, elem.VR) == "UN":
            # a value of unknown VR (read as UN, or an unknown attribute's text) shaped like a
            # UID, a date or a person's name is handled as one (unlisted_uids, unlisted_dates,
            # unlisted_names) unless that keeps it
            shaped = shaped_as(ds, elem)
            if shaped is not None:
                action = self.action_for(shaped, replace_uids)[0]
                if resolve(action, False) is not Effect.KEEP:
                    ds[tag] = elem = shaped
        action, basis, rule = self.action_for(elem, replace_uids)
        effect = resolve(action, elem.VR == "SQ")
        if effect is Effect.UID or effect is Effect.KEEP_REPLACE_UIDS:  # (most: no call)
            effect = on_vr(effect, elem.VR)
        if (
            state.cleaning
            and basis is Basis.DEFAULT
            and effect is Effect.KEEP
            and (elem.VR == "SQ" or (elem.VR in FREE_TEXT_VRS and not _is_code(tag)))
        ):
            action, basis = Action.C, Basis.IN_CLEANED_SEQUENCE
            effect = resolve(action, elem.VR == "SQ")
        if state.decisions is not None:
            state.decisions.append(
                Decision(prefix + format_tag(tag), tag, elem.VR, action, effect, basis, rule)
            )
        self._apply(ds, elem, effect, rule, prefix, state, replace_uids)

    @staticmethod
    def _may_hold_items(ds: Dataset, tag: int) -> bool:
        """Could this undecoded element be a sequence (whose private contents get audit rows)?"""
        raw = ds.get_item(tag)
        vr = raw.VR or vr_of(tag)
        return vr in (None, "SQ", "UN") or getattr(raw, "length", 0) == 0xFFFFFFFF

    def keeps_unchanged(self, tag: int, vr: str | None) -> bool:
        """A standard element of this tag and VR is kept byte for byte wherever it stands, never
        decoded (see :meth:`_kept_as_is`). Remembered: the leak check asks it of every element."""
        key = (tag, vr)
        found = self._keeps_unchanged.get(key)
        if found is None:
            if len(self._keeps_unchanged) > 100_000:
                self._keeps_unchanged.clear()
            found = self._keeps_unchanged[key] = self._keeps_vr(
                judged_vr(tag, vr), self.profile.standard_rule(tag)
            )
        return found

    def _kept_as_is(self, ds: Dataset, tag: int, rule: Rule | None) -> bool:
        """True for an element kept without any change (K on a value that is not a sequence,
        UID, date or time, or of unknown VR), judged without decoding its value."""
        return self._keeps_vr(judged_vr(tag, ds.get_item(tag).VR), rule)

    def _keeps_vr(self, vr: str | None, rule: Rule | None) -> bool:
        if not vr or vr in ("SQ", "UN", "UI") or vr in DATE_VRS or " or " in vr:
            return False
        if vr == "AS" and self.profile.age_cap_years is not None:
            return False
        if rule is not None:
            action = rule.action
        else:
            action = self.profile.unlisted_names if vr == "PN" else self.profile.default
        return resolve(action, False) is Effect.KEEP

    def standard_lane(
        self, tag: int, vr: str | None, plain: bool = False
    ) -> tuple[int, str | None]:
        """For a top-level standard element with a value of defined length, read with VR ``vr``
        (None in implicit VR): LANE_KEEP when :meth:`_standard` would leave it as read,
        LANE_DROP when it would remove it undecoded (rule X, cannot hold items), LANE_REPLACE
        when it would give it a new value that does not depend on the old one (Z, or D with a
        fixed dummy: see :meth:`replacement`), LANE_UID when a rule gives a UI element new UIDs
        (U: see :meth:`uid_element`), else LANE_PARSE; and the VR pydicom decodes it
        with (None if not known without the other elements). ``plain``: a sequence holds no
        element of an odd group at any depth, so removing or emptying it audits nothing.
        Depends on the profile and the element only, so it is cached."""
        key = (tag, vr, plain)
        found = self._standard_lanes.get(key)
        if found is not None:
            return found
        rule = self.profile.standard_rule(tag)
        known = judged_vr(tag, vr)
        exact = vr
        if vr is None:
            try:
                exact = dictionary_VR(tag)
            except KeyError:
                exact = None
        if exact is not None and (
            " or " in exact
            or exact in ("UN", "UI")
            or (exact == "SQ" and not plain)
            or exact != known  # written with another VR than its own: read again as its own
        ):
            exact = None  # corrected from other elements, retyped, value-dependent, or audited
        lane = LANE_PARSE
        if (
            rule is not None
            and vr in (None, "UI")
            and known == "UI"
            and resolve(rule.action, False) is Effect.UID
        ):
            lane = LANE_UID
        elif rule is not None and rule.action is Action.X:
            if known not in (None, "SQ", "UN") or (exact == "SQ" and known == "SQ"):
                lane = LANE_DROP
        elif self._keeps_vr(known, rule):
            lane = LANE_KEEP
        elif exact is not None:
            if rule is not None:
                action = rule.action
            else:
                action = (
                    self.profile.unlisted_dates
                    if exact in DATE_VRS
                    else self.profile.unlisted_names
                    if exact == "PN"
                    else self.profile.default
                )
            effect = resolve(action, exact == "SQ")
            if effect is Effect.EMPTY or (
                effect is Effect.DUMMY and (rule is None or rule.pseudonym is None)
            ):
                lane = LANE_REPLACE
        found = (lane, exact)
        self._standard_lanes[key] = found
        return found

    def replacement(
        self, tag: int, vr: str | None, element: bytes, charset: bytes, implicit: bool, little: bool
    ) -> tuple[bytes, int] | None:
        """The bytes the encoder writes for a top-level element whose LANE_REPLACE decision gives
        it a value that does not depend on the old one, and how many changes that counts; None
        if that cannot be found here (then the element is parsed).

        Found by doing exactly what the parsed path does, once per (element, VR, encoding,
        character set): pydicom reads ``element`` (with the data set's Specific Character Set
        element ``charset``), :meth:`_standard` applies the profile, pydicom encodes the result.
        """
        key = (tag, vr, implicit, little, charset)
        found = self._replacements.get(key)
        if found is not None:
            return found
        try:
            mini = read_dataset(io.BytesIO(charset + element), implicit, little)
            state = _State(tokens=[], patient="", result=ScrubResult())
            self._standard(mini, tag, "", state, replace_uids=False)
            if tag not in mini or state.result.private:
                return None
            fp = DicomBytesIO()
            fp.is_implicit_VR, fp.is_little_endian = implicit, little
            write_data_element(fp, mini[tag], mini.get("SpecificCharacterSet", "iso8859"))
        except Exception:
            return None
        found = (fp.getvalue(), state.result.changed)
        if len(self._replacements) >= _CACHE_LIMIT:
            self._replacements.clear()
        self._replacements[key] = found
        return found

    def uid_element(
        self, tag: int, value: bytes, implicit: bool, little: bool
    ) -> tuple[bytes, str] | None:
        """The bytes the encoder writes for a top-level UI element whose LANE_UID decision gives
        it new UIDs, made from its value as read exactly as the parsed path makes them: pydicom
        decodes the value (trailing NULs and spaces dropped, split at backslashes), :meth:`_uid`
        replaces each UID (stripped; empty ones and standard ones stay as they are), pydicom encodes
        the result (joined, padded with a NUL to an even length); with the new value as text.
        None for a value with other than printable ASCII and NUL bytes, or too long for its
        length field (then it is parsed). Remembered (most UIDs of a file, those of its study,
        series and frame of reference, are the file before's)."""
        key = (tag, value, implicit, little)
        if key in self._uid_elements:
            return self._uid_elements[key]
        remember = len(value) <= _UID_CACHE_VALUE  # (not a value of many UIDs: memory)
        found = None
        if not value.translate(None, _UID_TEXT):
            items = value.decode("ascii").rstrip("\0 ").split("\\")
            text = "\\".join(self.pseudo.uid(item) for item in items)
            element = ui_element(tag, text, implicit, little)
            found = None if element is None else (element, text)
        if remember:
            if len(self._uid_elements) >= _UID_CACHE_LIMIT:
                self._uid_elements.clear()
            self._uid_elements[key] = found
        return found

    def action_for(
        self, elem: DataElement, replace_uids: bool = False
    ) -> tuple[Action, Basis, Rule | None]:
        """The action for a standard element, where it came from, and the rule (if any).

        ``replace_uids`` is true inside a sequence whose action is X/Z/U*."""
        rule = self.profile.standard_rule(int(elem.tag))
        if rule is not None:
            return rule.action, Basis.RULE, rule
        if elem.VR == "UI":
            if is_structural_uid_tag(int(elem.tag)):
                return Action.K, Basis.STRUCTURAL_UID, None
            if replace_uids:
                return Action.U, Basis.UID_IN_SEQUENCE, None
            if any(not is_standard_uid(str(v)) for v in _values(elem)):
                return self.profile.unlisted_uids, Basis.UNLISTED_UID, None
            return Action.K, Basis.STANDARD_UID, None
        vr = judged_vr(int(elem.tag), elem.VR)
        if vr in DATE_VRS:
            return self.profile.unlisted_dates, Basis.UNLISTED_DATE, None
        if vr == "PN":
            return self.profile.unlisted_names, Basis.UNLISTED_NAME, None
        return self.profile.default, Basis.DEFAULT, None

    def _retype(self, ds: Dataset, elem: DataElement) -> DataElement:
        """A standard element read as UN gets its dictionary VR, so actions can be VR-correct."""
        vr = vr_of(elem.tag)
        if vr is None or vr == "UN" or vr == "SQ":
            return elem
        raw = elem.value if isinstance(elem.value, bytes) else b""
        try:
            if vr in TEXT_VRS or vr in DATE_VRS or vr in ("AS", "DS", "IS", "UI"):
                text = raw.decode("latin-1").rstrip("\0 ")
                value: object = text.split("\\") if "\\" in text else text
            else:
                return elem
        except UnicodeDecodeError:
            return elem
        new = DataElement(elem.tag, vr, value)
        ds[elem.tag] = new
        return new

    def _recurse(self, elem: DataElement, path: str, state: _State, replace_uids: bool) -> None:
        for i, item in enumerate(elem.value or []):
            self._dataset(item, f"{path}[{i}]/", state, replace_uids)

    def _apply(
        self,
        ds: Dataset,
        elem: DataElement,
        effect: Effect,
        rule: Rule | None,
        prefix: str,
        state: _State,
        replace_uids: bool,
    ) -> None:
        path = prefix + format_tag(elem.tag)
        if effect is Effect.KEEP:
            if elem.VR == "SQ":
                self._recurse(elem, path, state, replace_uids)
            elif elem.VR in ("DA", "DT") and _values(elem):
                state.dates_kept = True
            elif elem.VR == "AS" and self.profile.age_cap_years is not None:
                self._cap_age(elem)
            return
        state.result.changed += 1
        if effect in (Effect.REMOVE, Effect.EMPTY, Effect.DUMMY):
            self._drop_nested_private(elem, path, state)
        if effect is Effect.REMOVE:
            del ds[elem.tag]
        elif effect is Effect.EMPTY:
            elem.value = (
                Sequence()
                if elem.VR == "SQ"
                else encapsulate([])
                if _encapsulated(elem)
                else elem.empty_value
            )
        elif effect is Effect.DUMMY and rule is not None and rule.pseudonym is not None:
            self._pseudonym(elem, rule.pseudonym, state, path)
        elif effect is Effect.DUMMY:
            self._dummy(ds, elem, rule, path)
        elif effect is Effect.UID:
            self._uid(ds, elem)
        elif effect is Effect.KEEP_REPLACE_UIDS:
            if elem.VR == "SQ":
                self._recurse(elem, path, state, replace_uids=True)
            else:
                self._uid(ds, elem)
        elif effect is Effect.CLEAN:
            self._clean(ds, elem, path, state, replace_uids)

    # ---- effects -----------------------------------------------------------------------------

    def _dummy(self, ds: Dataset, elem: DataElement, rule: Rule | None, path: str = "") -> None:
        vr = elem.VR
        if vr == "SQ":
            elem.value = Sequence([Dataset()])
            return
        if vr == "UI":
            self._uid(ds, elem)
            if not _values(elem):
                elem.value = self.pseudo.uid(f"dummy:{format_tag(elem.tag)}")
            return
        if rule is not None and rule.value is not None and vr not in BYTES_VRS:
            texts = rule.value.split("\\")
            _check_fits(elem, texts, path, "the profile's dummy value")
            try:
                values = [_number(vr, t) for t in texts] if vr in NUMBER_VRS else texts
            except ValueError:  # (a private element's rule: its VR is the file's alone)
                where = path or format_tag(elem.tag)
                raise wrong_vr(elem, where, None, "the profile's dummy value") from None
            elem.value = values if len(values) > 1 else values[0]
            return
        count = _vm_min(elem.tag)
        if vr in DUMMY_BY_VR:
            text = DUMMY_BY_VR[vr]
            elem.value = [text] * count if count > 1 else text
        elif vr in ("FL", "FD"):
            elem.value = [0.0] * count if count > 1 else 0.0
        elif vr in NUMBER_VRS:
            elem.value = [0] * count if count > 1 else 0
        elif _encapsulated(elem):  # (one frame of two bytes, in the form its syntax needs)
            elem.value = encapsulate([b"\0\0"])
        else:  # OB, OW, UN and other bytes
            elem.value = b"\0\0"

    def _pseudonym(self, elem: DataElement, prefix: str, state: _State, path: str) -> None:
        """D with a keyed pseudonym: the same patient gets the same value in every run."""
        original = str(elem.value or "")
        kind = "name" if elem.VR == "PN" else "id"
        pseudonym = self.pseudo.patient_pseudonym(kind, original, prefix, state.patient_id)
        _check_fits(elem, [pseudonym], path, "a keyed pseudonym")
        elem.value = pseudonym

    def _cap_age(self, elem: DataElement) -> None:
        """HIPAA: ages over the cap are reported as cap + 1 years ("90 or older" for 89)."""
        cap = self.profile.age_cap_years
        assert cap is not None
        out = []
        for v in _values(elem):
            text = str(v).strip()
            years = _age_years(text)
            out.append(f"{cap + 1:03d}Y" if years is not None and years > cap else text)
        if out:
            elem.value = out if len(out) > 1 else out[0]

    def _uid(self, ds: Dataset, elem: DataElement) -> None:
        values = _values(elem)
        if not values:
            return
        if isinstance(elem.value, bytes):  # UN
            text = elem.value.decode("latin-1").rstrip("\0 ")
            new_text = "\\".join(self.pseudo.uid(v) for v in text.split("\\"))
            raw = new_text.encode("ascii")
            elem.value = raw + (b"\0" if len(raw) % 2 else b"")
            return
        new = [self.pseudo.uid(str(v)) for v in values]
        elem.value = new if len(new) > 1 else new[0]

    def _clean(
        self, ds: Dataset, elem: DataElement, path: str, state: _State, replace_uids: bool
    ) -> None:
        """C: sequences are cleaned item by item; DA/DT are shifted by the patient's offset; TM
        is kept (the shift is whole days) if it is a time, else emptied; text loses this file's
        identifying values; UIDs are replaced; numbers are kept; binary values, which cannot be
        cleaned, are removed."""
        vr = elem.VR
        if vr == "SQ":
            cleaning, state.cleaning = state.cleaning, True
            try:
                self._recurse(elem, path, state, replace_uids)
            finally:
                state.cleaning = cleaning
        elif vr in ("DA", "DT"):
            offset = self.pseudo.date_offset(state.patient, self.profile.date_shift_days)
            shift = shift_date if vr == "DA" else shift_datetime
            out: list[str] = []
            for v in _values(elem):
                shifted = shift(str(v), offset)
                if shifted is None:  # unparseable: do not keep an unshifted date
                    elem.value = elem.empty_value
                    return
                out.append(shifted)
            if out:
                elem.value = out if len(out) > 1 else out[0]
                state.dates_shifted = True
        elif vr == "TM":
            # kept (the shift is whole days), when every value is a time: anything else written
            # as a TM (a date, a name) is not, and is not kept unshifted and unread either
            if not all(_TIME_FORM.fullmatch(str(v).strip()) for v in _values(elem)):
                elem.value = elem.empty_value
        elif vr in TEXT_VRS:
            values = [self._scrub_text(str(v), state.tokens) for v in _values(elem)]
            if values:
                elem.value = values if len(values) > 1 else values[0]
        elif vr == "UI":
            self._uid(ds, elem)
        elif vr == "AS":
            if self.profile.age_cap_years is not None:
                self._cap_age(elem)
        elif vr in NUMBER_VRS or vr in ("DS", "IS"):
            return
        else:
            del ds[elem.tag]

    @staticmethod
    def _scrub_text(text: str, tokens: list[str]) -> str:
        """Remove each token where it stands as a whole word (so "ANN" leaves "scanner" alone),
        a space in it standing for any run of white space (two spaces, a tab: Li  Na), also
        where it is written in full-width letters and digits (ＤＯＥ ＪＡＮＥ, as Japanese,
        Chinese and Korean systems type them: matched as the ASCII they stand for) or with
        marks on its letters (MÜLLER for a token MULLER, as the leak check finds it); a date
        with a two-digit year not inside a longer run of numbers joined by its separator
        (7.3.61 stays in the version number 1.7.3.61: see :data:`_SHORT_DATE`)."""
        composed = text if text.isascii() else unicodedata.normalize("NFC", text)
        out = composed  # (Mu\u0308ller, decomposed as macOS writes it, matched as Müller)
        narrow = out.translate(NARROW)  # (one character for one: the places are the same)
        # (and, for an ASCII token, a marked letter as its letter: ü for u; one for one too)
        plain = narrow if narrow.isascii() else "".join(map(unmarked_letter, narrow))
        for token in tokens:
            body = re.escape(token).replace("\\ ", r"\s+")
            pattern = rf"(?<![0-9A-Za-z]){body}(?![0-9A-Za-z])"
            short = _SHORT_DATE.fullmatch(token)
            if short is not None:  # (7.3.61, but not in 1.7.3.61 or 7.3.61.2: see _SHORT_DATE)
                sep = re.escape(short[1])
                pattern = rf"(?<![0-9]{sep}){pattern}(?!{sep}[0-9])"
            if plain == out:
                out = narrow = plain = re.sub(pattern, "", out, flags=re.IGNORECASE)
                continue
            seen = plain if token.isascii() else narrow
            spans = [m.span() for m in re.finditer(pattern, seen, flags=re.IGNORECASE)]
            for start, end in reversed(spans):
                out, narrow = out[:start] + out[end:], narrow[:start] + narrow[end:]
                plain = plain[:start] + plain[end:]
        return re.sub(r"\s{2,}", " ", out).strip() if out != composed else text

    def _collect_tokens(self, ds: Dataset) -> list[str]:
        """Values of this dataset that the profile protects: what C removes from kept text."""
        tokens: set[str] = set()

        def visit(d: Dataset) -> None:
            for elem in d:
                tag = int(elem.tag)
                if is_private_group(tag >> 16):
                    continue
                if elem.VR == "SQ":
                    for item in elem.value or []:
                        visit(item)
                    continue
                rule = self.profile.standard_rule(tag)
                if elem.VR in ("DA", "DT"):  # a date shifted (C) is a date changed too
                    action = rule.action if rule is not None else self.profile.unlisted_dates
                    if resolve(action, False) is Effect.KEEP:
                        continue
                elif rule is None or rule.action in (Action.K, Action.C):
                    continue
                for v in _values(elem):
                    if isinstance(v, bytes):
                        continue
                    if isinstance(v, PersonName) or elem.VR == "PN":
                        name = str(v)
                        # as people write it too: Na Li, LI_NA, Doe, Jane; 王小明 for 王^小明
                        tokens.update(whole_name_forms(name))
                        tokens.update(g.strip().rstrip("^ ") for g in name.split("="))  # Li^Na
                        tokens.update(name_components(name))  # (Muller, Smith of Smith-Jones)
                        for text in (name, *latin_spellings(name)):  # (Müller as Mueller)
                            tokens.add(text.replace("^", " ").strip())
                    else:
                        text = str(v).strip()
                        tokens.add(text)
                        tokens.add("_".join(text.split()))  # (Mercy_General_Hospital)
                        tokens.update(id_spellings(text))  # PIDQX77123 also as PIDQX-77123
                        tokens.update(digit_spellings(text))  # 9434765919 as 943 476 5919
                        day = day_of(text) if elem.VR in ("DA", "DT") else None
                        if day is not None:
                            # as people write the date too: 1961-04-23, 23/04/1961 ...
                            tokens.add(day)
                            tokens.update(spellings(day, short_years=True))

        visit(ds)
        tokens |= {unicodedata.normalize("NFC", t) for t in tokens if not t.isascii()}
        return sorted((t for t in tokens if len(t) >= MIN_TOKEN), key=lambda t: (-len(t), t))

    # ---- private elements --------------------------------------------------------------------

    def _private(
        self, ds: Dataset, tag: int, creator: str | None, prefix: str, state: _State
    ) -> bool:
        """Apply the profile to one private element; True when the element stays.

        The order of precedence is documented in :mod:`dicomscrub.private`. An element that is
        removed is never decoded when its VR can be known without decoding it (see
        :func:`undecoded_vr`); every other outcome decodes it first, as before.
        """
        path = prefix + format_tag(tag)
        vr = undecoded_vr(ds, tag)
        elem: DataElement | None = None
        if vr is None:
            elem = ds[tag]
            vr = elem.VR
        is_seq = vr == "SQ"
        group, byte = tag >> 16, tag & 0xFF
        if (tag & 0xFFFF) < 0x1000 or creator is None:
            state.result.private.append(
                PrivateRecord(path, creator or "", "UNDECLARED", "removed", "no-private-creator")
            )
            if elem is not None:
                self._drop_nested_private(elem, path, state)
            del ds[tag]
            return False
        decl = find_declaration(state.declarations, group, creator)
        if decl is None and elem is None and not is_seq:
            removal = self.undeclared_removal(tag, creator)
            if removal is not None:  # the common case: removed, audited, never decoded
                record, counts = removal
                if prefix:
                    record = PrivateRecord(
                        path, creator, record.block_status, "removed", record.basis, record.detail
                    )
                state.result.private.append(record)
                if counts:
                    state.result.changed += 1
                del ds[tag]
                return False
        status = decl.status.value if decl is not None else BlockStatus.UNDECLARED.value
        rule = self.profile.private_rule_for(tag, creator)
        action = rule.action if rule is not None else self.profile.default
        catch_all = rule is None or rule.selector == PRIVATE
        verdict: Verdict | None = None
        if action is Action.C:
            entries = self.safe_entries(tag, creator)
            verdict = safe_verdict(decl, byte, *_hits(entries))
            if verdict.fate is Fate.KEEP and verdict.basis in _LISTED_SAFE:
                unlike = self._unlike_listed(ds, tag, entries, verdict.basis)
                if unlike:
                    verdict = Verdict(Fate.REMOVE, "not-declared", verdict.status, detail=unlike)
            if not catch_all and verdict.fate is Fate.REMOVE:
                # (a rule of the user's own: say that C keeps a private element only where it
                # is declared or listed safe, as Retain Safe Private does)
                assert rule is not None
                kept_only = "which keeps only what is declared or listed safe"
                note = f"{rule.source}: {rule.key} C, {kept_only}"
                detail = f"{verdict.detail}; {note}" if verdict.detail else note
                verdict = Verdict(
                    verdict.fate, verdict.basis, verdict.status, verdict.action, detail
                )
        elif not catch_all and resolve(action, is_seq) is Effect.KEEP:
            flagged = identifying_verdict(decl, byte)
            if flagged is not None:
                assert rule is not None
                note = f"overrides {rule.source}: {rule.key} {rule.action.value}"
                detail = f"{flagged.detail}; {note}" if flagged.detail else note
                verdict = Verdict(
                    flagged.fate, flagged.basis, flagged.status, flagged.action, detail
                )
        if verdict is not None:
            if verdict.fate is Fate.REMOVE and elem is None:  # not a sequence: nothing inside
                status = verdict.status.value
                state.result.private.append(
                    PrivateRecord(path, creator, status, "removed", verdict.basis, verdict.detail)
                )
                del ds[tag]
                return False
            if elem is None:
                elem = ds[tag]
            return self._apply_verdict(ds, elem, verdict, path, creator, state)
        effect = resolve(action, is_seq)
        basis = "basic-profile" if catch_all and action is Action.X else "profile-rule"
        detail = "" if rule is None else f"{rule.source}: {rule.key} {rule.action.value}"
        if effect in (Effect.UID, Effect.KEEP_REPLACE_UIDS):
            if elem is None:
                elem = ds[tag]
            done = on_vr(effect, elem.VR)
            if done is not effect:  # (no UID: see on_vr)
                effect = done
                outcome = "removed" if done is Effect.REMOVE else "emptied"
                reason = f"cannot be applied to VR {elem.VR}; {outcome}"
                detail = f"{detail}, which {reason}" if detail else f"{action.value} {reason}"
        if effect is Effect.KEEP:
            if elem is None:
                elem = ds[tag]
            return self._keep_private(ds, elem, path, creator, status, basis, detail, state)
        decision = {Effect.REMOVE: "removed", Effect.EMPTY: "emptied"}.get(effect, "replaced")
        state.result.private.append(PrivateRecord(path, creator, status, decision, basis, detail))
        if effect is Effect.REMOVE and elem is None:  # not a sequence: nothing inside to audit
            state.result.changed += 1
            del ds[tag]
            return False
        if elem is None:
            elem = ds[tag]
        self._apply(ds, elem, effect, rule, prefix, state, replace_uids=False)
        if effect is Effect.REMOVE:
            return False
        state.present.add((group, creator))
        return True

    def undeclared_removal(self, tag: int, creator: str) -> tuple[PrivateRecord, bool] | None:
        """The audit row (with the top-level path) when the profile removes the private element
        ``tag`` of a block of ``creator`` that the file does not declare in (0008,0300), for an
        element that is not a sequence; and whether that counts as a change. None when such an
        element is not simply removed. The same decision as :meth:`_private` takes for it,
        cached: it depends on the profile, the tag and the creator only."""
        key = (tag, creator)
        if key in self._removals:
            return self._removals[key]
        rule = self.profile.private_rule_for(tag, creator)
        action = rule.action if rule is not None else self.profile.default
        catch_all = rule is None or rule.selector == PRIVATE
        undeclared = BlockStatus.UNDECLARED.value
        out: tuple[PrivateRecord, bool] | None = None
        if action is Action.C:
            table_hit, profile_hit = self.safe_hits(tag, creator)
            verdict = safe_verdict(None, tag & 0xFF, table_hit, profile_hit)
            if verdict.fate is Fate.REMOVE:
                path = format_tag(tag)
                status = verdict.status.value
                record = PrivateRecord(
                    path, creator, status, "removed", verdict.basis, verdict.detail
                )
                out = (record, False)
        elif resolve(action, False) is Effect.REMOVE:
            basis = "basic-profile" if catch_all and action is Action.X else "profile-rule"
            detail = "" if rule is None else f"{rule.source}: {rule.key} {rule.action.value}"
            out = (
                PrivateRecord(format_tag(tag), creator, undeclared, "removed", basis, detail),
                True,
            )
        if len(self._removals) >= _CACHE_LIMIT:
            self._removals.clear()
        self._removals[key] = out
        return out

    def _drop_nested_private(self, elem: DataElement, path: str, state: _State) -> None:
        """Audit the private elements inside the items of a sequence that is being dropped."""
        if elem.VR != "SQ":
            return
        for i, item in enumerate(elem.value or []):
            creators = private_creators(item)
            for key in item.keys():  # noqa: SIM118
                sub = item[key]
                sub_path = f"{path}[{i}]/{format_tag(int(key))}"
                group, element = key >> 16, key & 0xFFFF
                if group % 2 == 1 and element != 0:
                    if is_private_group(group) and 0x10 <= element <= 0xFF:
                        creator = creators.get((group, element), "")
                    else:
                        creator = creators.get((group, element >> 8), "")
                    decl = find_declaration(state.declarations, group, creator)
                    status = decl.status.value if decl is not None else "UNDECLARED"
                    state.result.private.append(
                        PrivateRecord(
                            sub_path, creator, status, "removed", "enclosing-sequence-removed"
                        )
                    )
                self._drop_nested_private(sub, sub_path, state)

    def safe_entries(self, tag: int, creator: str) -> list[SafePrivate]:
        """The entries of Table E.3.10-1 and of the profiles' own safe lists for this element."""
        return [e for e in self.profile.safe_private if e.mask.matches(tag, creator)]

    def safe_hits(self, tag: int, creator: str) -> tuple[bool, bool]:
        """Does Table E.3.10-1 list this element? Does a profile's own safe list?"""
        return _hits(self.safe_entries(tag, creator))

    @staticmethod
    def _unlike_listed(ds: Dataset, tag: int, entries: list[SafePrivate], basis: str) -> str:
        """Why a private element that Table E.3.10-1 (or the profile's safe list) keeps is not
        the element listed: written with another VR, a value that is not of the listed VR (a DS
        with letters, say), or more or fewer values than the listed VM; "" when it is, or when
        the list gives no VR. Never shows the value."""
        table = basis == "safe-private-table"
        own = [e for e in entries if (e.source == SAFE_PRIVATE_TABLE_PROFILE) == table]
        unlike = Scrubber._unlike_listed_vr(ds, tag, own, table)
        if unlike:
            return unlike
        vms = {e.vm for e in own}
        if not vms or None in vms:
            return ""
        raw: Any = ds.get_item(tag)
        vr = raw.VR if raw.VR not in (None, "UN") else None
        if vr is None:  # (read without its VR: as the list says, if it says one)
            vrs = {e.vr for e in own}
            vr = vrs.pop() if len(vrs) == 1 else None
        count = _value_count(raw, vr)
        ranges = [vm_range(vm) for vm in vms if vm]
        if (
            count is None
            or not count
            or any(
                r is not None and r[0] <= count and (r[1] is None or count <= r[1]) for r in ranges
            )
        ):
            return ""
        where = "Table E.3.10-1" if table else "the profile's safe_private list"
        listed = " or ".join(sorted(vm for vm in vms if vm))
        held = "one value" if count == 1 else f"{count} values"
        return f"{where} lists it with VM {listed}, but it holds {held}; removed"

    @staticmethod
    def _unlike_listed_vr(ds: Dataset, tag: int, own: list[SafePrivate], table: bool) -> str:
        """:meth:`_unlike_listed` for the VR, by the entries ``own`` of the list that kept it."""
        listed = {e.vr or "" for e in own}
        if not listed or ("" in listed and not table):
            return ""
        raw: Any = ds.get_item(tag)
        written = raw.VR if raw.VR not in (None, "UN") else None
        if "" in listed:
            # A row of Table E.3.10-1 whose VR cell is empty (five SIEMENS Ultrasound SC2000
            # rows) states no VR to hold the element to: keep it only with a numeric VR, as
            # PS3.15 E.3.10 advises (other VRs, text above all, are unsafe unless the vendor
            # says otherwise). A value read without its VR cannot be checked.
            if written is None or written not in _NUMERIC_VRS:
                form = f"written as {written}" if written else "read without its VR"
                return (
                    "Table E.3.10-1 gives no VR for it, and only a numeric VR is kept;"
                    f" it is {form}; removed"
                )
            listed = {written}
        allowed = {vr for text in listed for vr in text.split("/")}
        where = "Table E.3.10-1" if table else "the profile's safe_private list"
        name = " or ".join(sorted(listed))
        if written is not None and written not in allowed:
            return f"{where} lists it as {name}, but it is written as {written}; removed"
        check = written or (next(iter(allowed)) if len(allowed) == 1 else None)
        if check is None:
            return ""
        if isinstance(raw, RawDataElement):
            data = bytes(raw.value or b"")
        else:
            values = _values(raw)
            if check in NUMBER_SIZE or check in BYTES_VRS or check == "SQ":
                return ""  # (decoded as a number, bytes or items: of its VR)
            data = "\\".join(str(v) for v in values).encode("latin-1", "replace")
        if not _of_vr(check, data):
            return f"{where} lists it as {name}, but its value is not one; removed"
        return ""

    def _keep_private(
        self,
        ds: Dataset,
        elem: DataElement,
        path: str,
        creator: str,
        status: str,
        basis: str,
        detail: str,
        state: _State,
    ) -> bool:
        """Keep a private element; a kept sequence (also one read as UN) is cleaned inside."""
        if elem.VR == "UN" and isinstance(elem.value, bytes) and looks_like_items(elem.value):
            parsed = parse_un_sequence(elem.value)
            if parsed is None:
                del ds[elem.tag]
                state.result.private.append(
                    PrivateRecord(
                        path,
                        creator,
                        status,
                        "removed",
                        basis,
                        "UN value looks like a sequence but cannot be parsed; removed",
                    )
                )
                return False
            elem = DataElement(elem.tag, "SQ", parsed)
            ds[elem.tag] = elem
        if elem.VR == "SQ":
            self._recurse(elem, path, state, replace_uids=False)
        state.result.private.append(PrivateRecord(path, creator, status, "kept", basis, detail))
        state.result.kept_private.add(path)
        state.present.add((elem.tag >> 16, creator))
        return True

    def _apply_verdict(
        self,
        ds: Dataset,
        elem: DataElement,
        verdict: Verdict,
        path: str,
        creator: str,
        state: _State,
    ) -> bool:
        status = verdict.status.value
        if verdict.fate is Fate.KEEP:
            return self._keep_private(
                ds, elem, path, creator, status, verdict.basis, verdict.detail, state
            )
        if verdict.fate is Fate.REMOVE:
            state.result.private.append(
                PrivateRecord(path, creator, status, "removed", verdict.basis, verdict.detail)
            )
            self._drop_nested_private(elem, path, state)
            del ds[elem.tag]
            return False
        # A declared action (0008,0307): D, Z, X or U.
        code = verdict.action
        detail = f"declared action {code}"
        known_vr = elem.VR not in ("UN", "SQ")
        if (
            code == "X"
            or (code == "D" and not known_vr)
            or (code == "U" and elem.VR not in ("UI", "UN"))
        ):
            if code != "X":
                detail += f" cannot be applied to VR {elem.VR}; removed"
            state.result.private.append(
                PrivateRecord(path, creator, status, "removed", verdict.basis, detail)
            )
            self._drop_nested_private(elem, path, state)
            del ds[elem.tag]
            return False
        if code == "Z":
            decision = "emptied"
            state.result.private.append(
                PrivateRecord(path, creator, status, decision, verdict.basis, detail)
            )
            self._drop_nested_private(elem, path, state)
            elem.value = Sequence() if elem.VR == "SQ" else elem.empty_value
            state.present.add((elem.tag >> 16, creator))
            return True
        elif code == "D":
            self._dummy(ds, elem, None)
            decision = "replaced"
        else:
            self._uid(ds, elem)
            decision = "replaced"
        state.result.private.append(
            PrivateRecord(path, creator, status, decision, verdict.basis, detail)
        )
        state.present.add((elem.tag >> 16, creator))
        return True

    def _rewrite_characteristics(self, ds: Dataset, state: _State) -> None:
        """(0008,0300) in the output describes the private blocks that are left, each now SAFE:
        everything identifying in them was removed or replaced. Other blocks' items are dropped."""
        old_items: dict[tuple[int, str], Dataset] = {}
        if has(ds, SEQUENCE_TAG) and ds[SEQUENCE_TAG].VR == "SQ":
            for item in ds[SEQUENCE_TAG].value or []:
                try:
                    group = int(item.get(0x00080301).value)
                except (AttributeError, TypeError, ValueError):
                    continue
                creator = creator_text(item[0x00080302].value) if 0x00080302 in item else ""
                creator = creator.strip()
                old_items.setdefault((group, creator), item)
        if not state.present:
            if has(ds, SEQUENCE_TAG):
                del ds[SEQUENCE_TAG]
            return
        items: list[Dataset] = []
        for group, creator in sorted(state.present):
            item = Dataset()
            item.PrivateGroupReference = group
            item.PrivateCreatorReference = creator
            item.BlockIdentifyingInformationStatus = BlockStatus.SAFE.value
            old = old_items.get((group, creator))
            if old is not None and 0x00080310 in old and old[0x00080310].VR == "SQ":
                item[0x00080310] = old[0x00080310]
            items.append(item)
        ds.PrivateDataElementCharacteristicsSequence = Sequence(items)

    # ---- bookkeeping -------------------------------------------------------------------------

    def _recorded(
        self, state: _State, context: tuple[bytes, bool, bool]
    ) -> list[tuple[int, bytes]]:
        """What :meth:`_record_method` adds to a data set that holds none of RECORD_TAGS, as the
        encoder writes it: found once per worker (for each outcome of the dates and each
        encoding) by doing just that to a data set holding only the character set."""
        dates = _dates(state)
        key = (dates, *context)
        found = self._recorded_cache.get(key)
        if found is None:
            charset, implicit, little = context
            mini = read_dataset(io.BytesIO(charset), implicit, little)
            encodings = mini.get("SpecificCharacterSet", "iso8859")
            probe = _State(tokens=[], patient="", result=ScrubResult())
            probe.dates_shifted, probe.dates_kept = state.dates_shifted, state.dates_kept
            added = Dataset()
            added.set_original_encoding(implicit, little, mini._character_set)
            self._record_method(added, probe)
            found = []
            for tag in sorted(added.keys(), key=int):
                fp = DicomBytesIO()
                fp.is_implicit_VR, fp.is_little_endian = implicit, little
                one = Dataset()
                one[tag] = added[tag]
                one.set_original_encoding(implicit, little, one._character_set)
                write_elements(fp, one, encodings)  # as the encoder writes it in the data set
                found.append((int(tag), fp.getvalue()))
            self._recorded_cache[key] = found
        state.result.dates = dates
        state.result.methods = tuple(m.label for m in self.methods)
        state.result.method_codes = tuple(m.code for m in self.coded if m.code)
        return found

    def _record_method(self, ds: Dataset, state: _State) -> None:
        """PS3.15 E.1.1: Patient Identity Removed, method text and codes (appended), and
        Longitudinal Temporal Information Modified set to what happened to the dates."""
        ds.PatientIdentityRemoved = "YES"
        existing = (
            [str(v) for v in _values(ds["DeidentificationMethod"])]
            if ("DeidentificationMethod" in ds)
            else []
        )
        labels = [m.label for m in self.methods]
        ds.DeidentificationMethod = (
            [*existing, *labels]
            if len(existing) + len(labels) > 1
            else ((existing + labels)[0] if existing + labels else "")
        )
        codes = list(self.coded)
        if codes:
            seq = ds.get(0x00120064)
            items = list(seq.value or []) if seq is not None and seq.VR == "SQ" else []
            for m in codes:
                item = Dataset()
                item.CodeValue = m.code
                item.CodingSchemeDesignator = METHOD_SCHEME
                item.CodeMeaning = m.meaning or m.label
                items.append(item)
            ds.DeidentificationMethodCodeSequence = Sequence(items)
        dates = _dates(state, text_at(ds, 0x00280303).upper())
        ds.LongitudinalTemporalInformationModified = dates
        state.result.dates = dates
        state.result.methods = tuple(labels)
        state.result.method_codes = tuple(m.code for m in codes if m.code)


_DATES_ORDER = ("UNMODIFIED", "MODIFIED", "REMOVED")
"""Values of (0028,0303), weakest first: a later step cannot make dates more real than an
earlier step left them (dates an earlier step shifted stay MODIFIED when they are kept)."""


def _dates(state: _State, earlier: str = "") -> str:
    """Longitudinal Temporal Information Modified (0028,0303): what happened to the dates, in
    this step and, given the value an earlier de-identification step wrote, in the ones before."""
    if state.dates_shifted:
        now = "MODIFIED"
    elif state.dates_kept:
        now = "UNMODIFIED"
    else:
        now = "REMOVED"
    if earlier in _DATES_ORDER and _DATES_ORDER.index(earlier) > _DATES_ORDER.index(now):
        return earlier
    return now


def iter_private_tags(ds: Dataset) -> Iterable[int]:
    for tag in ds.keys():  # noqa: SIM118
        if is_private_group(tag >> 16):
            yield int(tag)


def _encapsulated(elem: DataElement) -> bool:
    """Pixel Data of an encapsulated (compressed) transfer syntax: items of fragments, which
    an empty value or a dummy must be too (pydicom writes no other)."""
    return elem.tag == 0x7FE00010 and bool(elem.is_undefined_length)


def _value_count(elem: Any, vr: str | None) -> int | None:
    """How many values a private element of VR ``vr`` holds (a value read undecoded counted from
    its bytes), or None where a count says nothing: bytes, sequences, a VR not known."""
    if vr is None or vr in BYTES_VRS or vr == "SQ" or "/" in vr:
        return None
    if not isinstance(elem, RawDataElement) and not isinstance(elem.value, bytes):
        return int(elem.VM)
    data = bytes(elem.value or b"")
    size = 4 if vr == "AT" else NUMBER_SIZE.get(vr)
    if size:
        return len(data) // size
    text = data.rstrip(b" \0")
    return text.count(b"\\") + 1 if text else 0
