"""Top-level elements kept or removed from their bytes, never parsed ("lanes").

Most elements of a typical header are either kept exactly as read (standard attributes the profile
keeps) or removed (private elements under the Basic Profile, attributes with action X). Parsing
them with pydicom only to write them back byte for byte, or to delete them, was most of the work
per file. The structural walk (:mod:`dicomscrub.structure`) has already located every top-level
element, so :func:`split` sorts the elements before Pixel Data into three lanes before anything is
parsed:

* **kept**: written back as read, exactly as the encoder writes an undecoded element (its header,
  then its value bytes), merged in tag order;
* **removed**: private elements that the profile removes in a block the file does not declare in
  (0008,0300), with the audit row :meth:`Scrubber.undeclared_removal` gives them, and standard
  elements with action X; none of them can hold a sequence;
* **parsed**: everything else, and everything the rest of the program reads or writes (see
  :data:`ALWAYS_PARSED`).

Each lane decision is the decision the scrubber takes for the parsed element, asked from the
scrubber itself. Where a decision needs what pydicom would decode (the Private Creator of a block,
the VR of an implicit VR or UN private element) and the bytes are not plain enough to know it
without pydicom, the element is parsed. After parsing, the creators the decisions used are checked
against what pydicom decoded; any difference refuses the lanes (:class:`LanesRefused`) and the file
is processed again with every element parsed. A test checks that both ways give the same bytes and
the same audit rows.

The lanes are not used when the profile cleans (C), since cleaning collects identifying values from
every element first, nor for elements after Pixel Data, nor for data sets holding file meta or
command elements.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydicom import config
from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import dictionary_VR, private_dictionary_VR
from pydicom.dataset import Dataset
from pydicom.uid import UID

from dicomscrub.actions import Effect, resolve
from dicomscrub.dictionary import vr_of
from dicomscrub.discover import Kind
from dicomscrub.encode import PLAIN_CHARSETS, plain_ascii
from dicomscrub.identity import (
    MIN_CHARS,
    NUMERIC_RAW,
    SHORT_VALUE,
    Unparsed,
    valued_as_read,
)
from dicomscrub.pipeline import (
    LANE_DROP,
    LANE_KEEP,
    LANE_PARSE,
    LANE_REPLACE,
    LANE_UID,
    LaneResult,
    PrivateRecord,
    Scrubber,
    decodes,
    private_creators,
    ui_element,
)
from dicomscrub.private import SEQUENCE_TAG
from dicomscrub.structure import LONG_VRS, UNDEFINED, FileMap, TopElement, remembered
from dicomscrub.tags import format_tag

ALWAYS_PARSED = frozenset(
    {
        0x00041220,  # Directory Record Sequence: a DICOMDIR is recognised by it
        0x00080005,  # Specific Character Set: how every text value is decoded
        0x00080016,  # SOP Class UID
        0x00080018,  # SOP Instance UID (output path, file meta)
        SEQUENCE_TAG,  # Private Data Element Characteristics: declarations, rewritten
        0x00100020,  # Patient ID (per-patient keys, output path)
        0x00120062,  # Patient Identity Removed: set after the rules
        0x00120063,  # De-identification Method: appended to
        0x00120064,  # De-identification Method Code Sequence: appended to
        0x0020000D,  # Study Instance UID
        0x0020000E,  # Series Instance UID
        0x00280301,  # Burned In Annotation: rejection
        0x00280303,  # Longitudinal Temporal Information Modified: set after the rules
        0x7FE00008,  # Float, Double Float and Pixel Data
        0x7FE00009,
        0x7FE00010,
    }
)
"""Standard elements that are always parsed: the program reads or writes them outside the rules
(but :data:`READ_UIDS` given new UIDs unparsed, whose values are kept aside for what reads them).
(Rows, Columns and Bits Allocated tell whether a file without Pixel Data is an image; a file whose
Pixel Data is streamed has it, so they need not be parsed.)"""


READ_UIDS = frozenset({0x00080018, 0x0020000D, 0x0020000E})
"""SOP Instance, Study and Series Instance UID: read for the output path and the file meta (and,
without a Patient ID, the Study Instance UID as the patient's key). When a rule gives one new UIDs
(U) and its value is one plain UID, it is replaced from its bytes and both values are kept in
:attr:`~dicomscrub.pipeline.LaneResult.values`."""
PATIENT_ID = 0x00100020
"""Read as the patient's key and for the output path: when the lanes remove or replace it (with a
value that does not depend on the old one) and both values are plain text, they are kept in
:attr:`~dicomscrub.pipeline.LaneResult.values`."""
DECIDED_UNPARSED = READ_UIDS | {PATIENT_ID}
"""Elements of :data:`ALWAYS_PARSED` the lanes may decide on, but for ``--mapping-out`` (whose
crosswalk takes them from the data set)."""


class LanesRefused(Exception):
    """What pydicom decoded differs from what the lane decisions assumed: parse every element."""


@dataclass
class Split:
    """The lanes of one file's elements before Pixel Data."""

    head: bytes  # what pydicom parses: the bytes before the data set, then the parsed elements
    parsed: int  # how many elements are parsed
    kept: list[tuple[int, bytes]] = field(default_factory=list)  # (tag, element as written)
    lane: LaneResult = field(default_factory=LaneResult)
    creators: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)
    """(group, block byte) -> (the value pydicom decodes, the creator text) the decisions used,
    for the creators that are parsed (and checked after parsing)."""
    removed: list[Unparsed] = field(default_factory=list)
    """The elements removed or replaced unparsed, with their values as read, for the leak check
    (only when :func:`split` is asked for them; kept in memory only, never written). Plain
    tuples: some 50 are made for every file, and the leak check remembers an element's tokens by
    it (:class:`dicomscrub.needles.NeedleMemo`). Values of at most
    :data:`~dicomscrub.identity.SHORT_VALUE` bytes: the leak check looks them up together."""
    removed_long: list[Unparsed] = field(default_factory=list)
    """The same for longer values and UIDs given new ones (looked up one by one: a blob or a UID
    may differ in every file)."""
    parsed_values: list[Unparsed] = field(default_factory=list)
    """The values, as read, of the parsed standard elements that are not sequences (with
    ``originals``): the leak check takes their tokens from these bytes, and counts them by what
    the scrub did to each, instead of listing them from the data set."""
    covered: list[int] = field(default_factory=list)
    """The tags of those elements (values too short to hold a token included)."""
    meta: bytes = b""
    """The file meta elements as found in the file (with ``originals``)."""
    elements: list[TopElement] | None = None
    """The parsed elements as :func:`~dicomscrub.structure.scan` found them in the header (offsets
    into it), when all are of defined length: pydicom's raw elements are made from these
    (:func:`dicomscrub.process.read_header`) instead of reading ``head`` again."""
    tail: list[tuple[int, bytes]] | None = None
    """The elements after Pixel Data to write, in tag order, when the lanes decided every one of
    them (kept as read, replaced or removed: their rows and values are with the header's); None
    when they are parsed (given the bytes after Pixel Data, and one of them must be)."""
    meta_items: list[Unparsed] | None = None
    """The file meta values of :attr:`meta` as the leak check reads them
    (:func:`~dicomscrub.needles.meta_from_bytes`), when read already."""
    encodings: str | list[str] | None = None
    """When nothing is left to parse (:attr:`parsed` 0: the Specific Character Set and the SOP
    Class UID kept as read too, see :func:`_unparsed_all`), the data set's character set as
    pydicom would read it from the Specific Character Set."""


_CREATOR_VRS = (None, "LO", "UN")


def _creator(vr: str | None, value: bytes) -> tuple[str, str] | None:
    """A Private Creator's (decoded value, creator text) as pydicom and
    :func:`~dicomscrub.pipeline.private_creators` would make them, when its bytes are plain."""
    if vr not in _CREATOR_VRS or (vr == "UN" and not config.replace_un_with_known_vr):
        return None
    text = value.rstrip(b"\0 ")
    if not text or not plain_ascii(text):
        return None
    decoded = text.decode("ascii")
    creator = decoded.strip()
    return (decoded, creator) if creator else None


_vr_cache: dict[tuple[int, str | None, str], str | None] = {}


def _searched_private(tag: int, raw_vr: bytes | None, creator: tuple[str, str] | None) -> bool:
    """Whether the leak check searches a removed private element's value as text: not when
    pydicom decodes it as numbers, by its VR as written or, read in implicit VR or as UN, by its
    creator's private dictionary (as the parsed path finds: an SL of -1 is four 0xFF bytes,
    which an undefined length in the output also is)."""
    if raw_vr in NUMERIC_RAW:
        return False
    if raw_vr is not None and raw_vr != b"UN":
        return True
    vr_text = None if raw_vr is None else "UN"
    vr = (
        _private_vr(tag, vr_text, creator[0])
        if creator is not None
        else _creatorless_vr(tag, vr_text)
    )
    return vr is None or vr.encode("ascii") not in NUMERIC_RAW


def _private_vr(tag: int, vr: str | None, creator_value: str) -> str | None:
    """The VR pydicom gives a private element read with ``vr`` (None in implicit VR) in the block
    of a creator whose decoded value is ``creator_value``; None when that is not known here."""
    if vr is not None and vr != "UN":
        return vr
    key = (tag, vr, creator_value)
    if key in _vr_cache:
        return _vr_cache[key]
    found: str | None
    if vr == "UN" and not config.replace_un_with_known_vr:
        found = "UN"
    else:
        found = "UN"
        if vr is None:
            try:
                dictionary_VR(tag)
                found = None  # a private tag the main dictionary knows (a repeater): parse it
            except KeyError:
                pass
        if found is not None:
            try:
                found = private_dictionary_VR(tag, creator_value)
            except KeyError:
                found = "UN"
    if len(_vr_cache) > 100_000:
        _vr_cache.clear()
    _vr_cache[key] = found
    return found


def _charset_term(element: bytes, implicit: bool) -> str | None:
    """The value of a Specific Character Set element (its bytes as in the file) when it is one
    plain term; "" without the element; None otherwise."""
    if not element:
        return ""
    if not implicit and element[4:6] != b"CS":
        return None
    text = element[8:].rstrip(b"\0 ").lstrip(b" ")
    if not plain_ascii(text):
        return None
    return text.decode("ascii")


def _creatorless_vr(tag: int, vr: str | None) -> str | None:
    """The VR pydicom gives a private element whose block has no creator in the file; None when
    that is not known here."""
    if vr is not None and vr != "UN":
        return vr
    if tag & 0xFFFF < 0x1000:
        return None  # pydicom looks for a "creator" at (gggg,000x): leave it to pydicom
    if vr is None:
        try:
            dictionary_VR(tag)
            return None  # a private tag the main dictionary knows (a repeater): parse it
        except KeyError:
            pass
    return "UN"  # no creator to look the VR up with


@functools.lru_cache(maxsize=4096)
def _valued(tag: int, raw_vr: bytes | None) -> bool:
    """A parsed top-level element of defined length whose value the leak check takes from its
    bytes: standard and :func:`~dicomscrub.identity.valued_as_read`."""
    if tag & 0x10000:
        return False
    vr = raw_vr.decode("ascii") if raw_vr is not None else vr_of(tag) or "UN"
    return valued_as_read(tag, vr)


def _removable(vr: str | None, length: int) -> bool:
    """A private element of this VR and length is not a sequence and decodes without error."""
    return vr is not None and decodes(vr, length) and vr != "SQ"


_UNKNOWN: Any = object()  # not remembered yet
_PARSE = (LANE_PARSE, b"", 0)
_KEEP = (LANE_KEEP, b"", 0)
_DROP = (LANE_DROP, b"", 1)
_UID = (LANE_UID, b"", 1)
Outcome = tuple[int, bytes, int]
"""What a lane does with a standard element: (lane, the bytes to write for LANE_REPLACE, the
changes it counts)."""


def _standard_outcome(
    scrubber: Scrubber,
    tag: int,
    vr: str | None,
    element: bytes,
    length: int,
    context: tuple[bytes, bool, bool],
    plain: bool,
) -> Outcome:
    decision, exact = scrubber.standard_lane(tag, vr, plain)
    if decision == LANE_KEEP:
        return _KEEP
    if decision == LANE_DROP:
        return _DROP
    if decision == LANE_UID:
        return _UID
    if decision == LANE_REPLACE and exact is not None and decodes(exact, length):
        new = scrubber.replacement(tag, vr, element, *context)
        if new is not None:
            return (LANE_REPLACE, new[0], new[1])
    return _PARSE


def _outcome(
    memo: dict[tuple[object, ...], Outcome],
    scrubber: Scrubber,
    el: TopElement,
    data: bytes,
    base: int,
    context: tuple[bytes, bool, bool],
    plain: bool,
) -> Outcome:
    """:func:`_standard_outcome` of a standard element as scan found it (``data`` holds the file
    from offset ``base``), remembered by what it depends on: the element's tag, VR and length
    (modulo 8: whether it holds whole binary numbers), and how the data set is encoded (``memo``
    is per ``context``; values never enter a key: LANE_REPLACE outcomes do not depend on them)."""
    tag, raw_vr, start, _, length, after = el
    key = (tag, raw_vr, length & 7, plain)
    found = memo.get(key)
    if found is None:
        vr = raw_vr.decode("ascii") if raw_vr is not None else None
        element = data[start - base : after - base]
        found = memo[key] = _standard_outcome(scrubber, tag, vr, element, length, context, plain)
    return found


def _as_read_op(raw_vr: bytes | None) -> int:
    """How a plan makes an element kept as read (see :func:`_as_written`)."""
    return _OP_AS_READ if raw_vr in LONG_VRS else _OP_SLICE


def _as_written(data: bytes, raw_vr: bytes | None, start: int, after: int) -> bytes:
    """An element kept as read, as the encoder writes an undecoded element: its bytes, but for
    reserved bytes that are not zero (long VRs), written as zero."""
    if raw_vr in LONG_VRS and data[start + 6 : start + 8] != b"\0\0":
        return data[start : start + 6] + b"\0\0" + data[start + 8 : after]
    return data[start:after]


def _patient_id(outcome: Outcome, value: bytes, implicit: bool) -> tuple[str, str] | None:
    """(Patient ID as read, as written; "" if removed) as text, when the lanes remove it or
    replace it (with a value that does not depend on the old one) and both are one plain value
    (then pydicom would decode them alike in every character set); None otherwise (then it is
    parsed: a Patient ID kept is written as pydicom encodes what it decodes, not as read)."""
    which = outcome[0]
    old = value.rstrip(b" ")
    if which not in (LANE_DROP, LANE_REPLACE) or not plain_ascii(old):
        return None
    text = old.decode("ascii").strip()
    if which == LANE_DROP:
        return text, ""
    element = outcome[1]
    long_header = not implicit and element[4:6] in LONG_VRS
    written = element[12 if long_header else 8 :].rstrip(b" ")
    if not plain_ascii(written):
        return None
    return text, written.decode("ascii").strip()


def _private_outcome(
    scrubber: Scrubber, tag: int, vr: str | None, length: int, creator: tuple[str, str] | None
) -> tuple[PrivateRecord, bool] | None:
    if creator is None:  # no creator: removed whatever it is, if its VR is known
        if _removable(_creatorless_vr(tag, vr), length):
            path = format_tag(tag)
            return PrivateRecord(path, "", "UNDECLARED", "removed", "no-private-creator"), False
        return None
    if _removable(_private_vr(tag, vr, creator[0]), length):
        return scrubber.undeclared_removal(tag, creator[1])
    return None


_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_SHORT_VRS = frozenset(b"AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM UI UL US".split())
_MAX_DEPTH = 16


def _keeps_sequence(scrubber: Scrubber, tag: int) -> bool:
    """The scrubber keeps a sequence of this tag and applies its rules to what the items hold
    (K, or no rule and a default that keeps: not X/Z/U*, which gives new UIDs inside)."""
    rule = scrubber.profile.standard_rule(tag)
    action = rule.action if rule is not None else scrubber.profile.default
    return resolve(action, True) is Effect.KEEP


def _kept_sequence(
    scrubber: Scrubber, data: bytes, pos: int, length: int, limit: int, depth: int = 0
) -> int:
    """Where a sequence whose value starts at ``pos`` (of ``length``, or UNDEFINED) ends, if the
    scrubber leaves every element of every item, at any depth, exactly as read; -1 if it may not
    (an element it changes or decodes, a private or group length element, a Specific Character
    Set, an item in implicit VR) or the bytes are not a plain explicit VR little endian sequence.
    Then nothing in it is identifying (the profile keeps all of it) and nothing is audited (no
    private element): the sequence is kept as read, as the parsed scrub writes it back."""
    if depth > _MAX_DEPTH:
        return -1
    end = limit if length == UNDEFINED else pos + length
    if end > limit:
        return -1
    while pos + 8 <= end:
        group, element, item_length = _ITEM_HEAD.unpack_from(data, pos)
        tag = group << 16 | element
        if tag == _SEQUENCE_END:
            return pos + 8 if length == UNDEFINED and item_length == 0 else -1
        if tag != _ITEM:
            return -1
        pos = _kept_item(scrubber, data, pos + 8, item_length, end, depth)
        if pos < 0:
            return -1
    return pos if length != UNDEFINED and pos == end else -1


def _kept_item(
    scrubber: Scrubber, data: bytes, pos: int, length: int, limit: int, depth: int
) -> int:
    """:func:`_kept_sequence` for the data set of an item: where the item ends, or -1."""
    end = limit if length == UNDEFINED else pos + length
    if end > limit:
        return -1
    previous = -1
    while pos + 8 <= end:
        group, element = _TAG.unpack_from(data, pos)
        tag = group << 16 | element
        if tag == _ITEM_END:
            ok = length == UNDEFINED and data[pos + 4 : pos + 8] == b"\0\0\0\0"
            return pos + 8 if ok else -1
        if group & 1 or not element or tag <= previous or tag in _NOT_KEPT_INSIDE:
            return -1
        previous = tag
        raw_vr = data[pos + 4 : pos + 6]
        if raw_vr in LONG_VRS:
            if pos + 12 > end or data[pos + 6 : pos + 8] != b"\0\0":
                return -1  # (reserved bytes not zero: written as zero)
            (value_length,) = _LENGTH.unpack_from(data, pos + 8)
            value = pos + 12
        elif raw_vr in _SHORT_VRS:
            (value_length,) = _SHORT_LENGTH.unpack_from(data, pos + 6)
            value = pos + 8
        else:
            return -1  # an item in implicit VR, or not a VR
        if raw_vr == b"SQ":
            if not _keeps_sequence(scrubber, tag):
                return -1
            pos = _kept_sequence(scrubber, data, value, value_length, end, depth + 1)
            if pos < 0:
                return -1
            continue
        if value_length == UNDEFINED or not scrubber.keeps_unchanged(tag, raw_vr.decode("ascii")):
            return -1
        pos = value + value_length
    return pos if length != UNDEFINED and pos == end else -1


_ITEM_HEAD = struct.Struct("<HHL")
_TAG = struct.Struct("<HH")
_LENGTH = struct.Struct("<L")
_SHORT_LENGTH = struct.Struct("<H")
_NOT_KEPT_INSIDE = ALWAYS_PARSED | {0x00080005}
"""Elements the lanes never keep inside a sequence: those the program reads (see
:data:`ALWAYS_PARSED`) and a Specific Character Set (it changes how the item is decoded)."""


def split(
    fmap: FileMap,
    header: bytes,
    scrubber: Scrubber,
    *,
    originals: bool = False,
    tail: bytes | None = None,
) -> Split | None:
    """Sort the top-level elements of ``header`` (the file up to Pixel Data) into lanes; None when
    lanes cannot be used for this file. With ``originals``, the values of the elements removed
    or replaced unparsed are listed in :attr:`Split.removed` (numbers and values shorter than
    :data:`~dicomscrub.identity.MIN_CHARS` bytes left out: never identifying). ``tail``: the
    bytes after Pixel Data, whose elements are decided too if the lanes can decide all of them
    (:attr:`Split.tail`)."""
    pixel = fmap.pixel
    elements = fmap.elements
    if (
        pixel is None
        or not scrubber.lanes_allowed
        or fmap.kind not in (Kind.PART10, Kind.BARE_META)
        or fmap.transfer_syntax is None
        or not elements
        or elements[0][0] < 0x00030000  # file meta or command elements in the data set
    ):
        return None
    plans: dict[tuple[int, bool, bool], _Plan] = scrubber.lane_memo.setdefault("plans", {})
    plan_key = (id(elements), originals, tail is not None)
    plan = plans.get(plan_key)
    if plan is not None and plan.elements is elements:
        replayed = _replay(plan, fmap, header, tail, scrubber, originals)
        if replayed is not None:
            return replayed
    # a file of a layout seen before (see dicomscrub.structure): what is decided here is recorded
    # as a plan to be replayed on the next files of that layout
    recording = plan is None and remembered(fmap)
    ops: list[_KeptOp] = []  # how each element of ``kept`` is made, in order
    value_ops: tuple[list[_ValueOp], list[_ValueOp], list[_ValueOp]] = ([], [], [])
    checks: list[tuple[int, int]] = []  # the values the decisions read: they must read alike
    declared = False
    charset = b""
    charset_at = (0, 0)
    for tag, _, start, _, _, after in elements:
        if tag == 0x00080005:
            charset = header[start:after]
            charset_at = (start, after)
        elif tag == SEQUENCE_TAG:
            declared = True
        elif tag > SEQUENCE_TAG:
            break
    checks.append(charset_at)
    context = (charset, fmap.implicit, fmap.little)
    plain_charset = _charset_term(charset, fmap.implicit) in PLAIN_CHARSETS
    # Outcomes depend on the element's tag, VR and length (modulo 8: whether it holds whole
    # binary numbers), on the creator for private ones, and for standard ones on how the data set
    # is encoded: remembered per worker (values never enter a key; LANE_REPLACE outcomes do not
    # depend on them).
    standard_memo: dict[tuple[object, ...], Outcome] = scrubber.lane_memo.setdefault(context, {})
    private_memo = scrubber.lane_memo.setdefault("private", {})
    creators: dict[tuple[int, int], tuple[str, str] | None] = {}
    creator_at: dict[tuple[int, int], int] = {}  # where each creator is in ``parse``
    unparsed: dict[tuple[int, int], bool] = {}  # no element of the block is parsed (so far)
    used: dict[tuple[int, int], tuple[str, str]] = {}
    parse: list[TopElement | None] = []  # the elements to parse, in file order
    kept: list[tuple[int, bytes]] = []
    lane = LaneResult(context=context)
    records, record_tags = lane.private, lane.private_tags
    removed: list[Unparsed] = []
    removed_long: list[Unparsed] = []
    parsed_values: list[Unparsed] = []
    covered: list[int] = []

    def note_parsed(tag: int, raw_vr: bytes | None, value: int, length: int, after: int) -> None:
        """List a parsed standard element whose value the leak check takes from its bytes."""
        if length != UNDEFINED and _valued(tag, raw_vr):
            covered.append(tag)
            if after - value >= MIN_CHARS:
                parsed_values.append((tag, raw_vr, header[value:after], ""))
                if recording:
                    value_ops[2].append((tag, raw_vr, value, after, ""))

    changes = 0
    mapping = scrubber.collect_mapping  # the crosswalk takes UIDs from the data set
    pixel_tag = pixel.tag
    odd_inside = fmap.odd_inside
    first = elements[0][0]
    block_id = -1  # the block of the last private element (tag >> 8), with:
    block: tuple[int, int] = (0, 0)
    creator: tuple[str, str] | None = None
    undecoded = False
    for el in elements:
        tag, raw_vr, start, value, length, after = el
        if tag >= pixel_tag:
            break
        group = tag >> 16
        element = tag & 0xFFFF
        if tag == first:  # pydicom tells implicit from explicit VR by the first element: keep it
            if group & 1 and 0x10 <= element <= 0xFF:
                creators[(group, element)] = None  # its block is parsed with it
            parse.append(el)
            if originals:
                note_parsed(tag, raw_vr, value, length, after)
            continue
        if group & 1 and group > 0x0008:  # private (the forbidden odd groups lie below 0008)
            if element <= 0xFF:
                if element >= 0x10:
                    vr = raw_vr.decode("ascii") if raw_vr is not None else None
                    creators[(group, element)] = found = _creator(vr, header[value:after])
                    checks.append((value, after))
                    if found is not None:
                        creator_at[(group, element)] = len(parse)
                        unparsed[(group, element)] = True
                parse.append(el)
                continue
            if tag >> 8 != block_id:  # a new block: its creator (most blocks hold many elements)
                block_id = tag >> 8
                block = (group, element >> 8)
                creator = creators.get(block) if element >= 0x1000 else None
                undecoded = creator is None and block in creators
            if length == UNDEFINED or declared:
                unparsed[block] = False
                parse.append(el)
                continue
            if undecoded:  # a creator we cannot decode here
                parse.append(el)
                continue
            key = (tag, raw_vr, length & 7, creator)
            removal = private_memo.get(key, _UNKNOWN)
            if removal is _UNKNOWN:
                vr = raw_vr.decode("ascii") if raw_vr is not None else None
                removal = private_memo[key] = _private_outcome(scrubber, tag, vr, length, creator)
            if removal is None:
                unparsed[block] = False
                parse.append(el)
                continue
            if creator is not None:
                used[block] = creator
            records.append(removal[0])
            record_tags.append(tag)
            # (inline, not a call: some 50 elements of every file come this way)
            if originals and after - value >= MIN_CHARS and _searched_private(tag, raw_vr, creator):
                who = creator[1] if creator is not None else ""
                short = after - value <= SHORT_VALUE
                (removed if short else removed_long).append((tag, raw_vr, header[value:after], who))
                if recording:
                    value_ops[0 if short else 1].append((tag, raw_vr, value, after, who))
            if removal[1]:
                changes += 1
            continue
        if (
            raw_vr == b"SQ"
            and element  # (not a group length, which the scrub drops whatever its VR)
            and not group & 1  # (a forbidden odd group: removed whole)
            and fmap.little
            and tag not in ALWAYS_PARSED
            and tag not in odd_inside
            and _keeps_sequence(scrubber, tag)
            and _kept_sequence(scrubber, header, value, length, after) == after
        ):
            kept.append((tag, _as_written(header, raw_vr, start, after)))
            if recording:
                ops.append((_OP_SEQUENCE, tag, (value, length), start, after))
            continue
        if (
            (tag in ALWAYS_PARSED and (mapping or tag not in DECIDED_UNPARSED))
            or not element
            or length == UNDEFINED
            or group & 1
        ):
            parse.append(el)
            if originals:
                note_parsed(tag, raw_vr, value, length, after)
            continue
        outcome = _outcome(standard_memo, scrubber, el, header, 0, context, tag not in odd_inside)
        if tag == PATIENT_ID:  # read later: what the lanes decide is kept aside, as text
            aside = _patient_id(outcome, header[value:after], fmap.implicit)
            if aside is None:
                if outcome[0] in (LANE_DROP, LANE_REPLACE):
                    recording = False  # not plain text: another file's may be
                outcome = _PARSE
            else:
                lane.values[tag] = aside
                if recording:
                    ops.append((_OP_PATIENT, tag, outcome, value, after))
        which = outcome[0]
        if which == LANE_KEEP:
            kept.append((tag, _as_written(header, raw_vr, start, after)))
            if recording:
                ops.append((_as_read_op(raw_vr), tag, raw_vr, start, after))
        elif which == LANE_PARSE:
            parse.append(el)
            if originals:
                note_parsed(tag, raw_vr, value, length, after)
        else:
            if which == LANE_UID:  # new UIDs: made for each file (they depend on the old ones)
                new = _new_uid(scrubber, lane, tag, header[value:after], fmap)
                if new is None:
                    recording = False  # (as for the Patient ID)
                    parse.append(el)
                    if originals:
                        note_parsed(tag, raw_vr, value, length, after)
                    continue
                kept.append((tag, new))
                if recording:
                    ops.append((_OP_UID, tag, None, value, after))
            elif which == LANE_REPLACE:
                kept.append((tag, outcome[1]))
                if recording:
                    ops.append((_OP_FIXED, tag, outcome[1], 0, 0))
            changes += outcome[2]
            if originals and raw_vr not in NUMERIC_RAW and after - value >= MIN_CHARS:
                # (UIDs differ in every file: looked up one by one, not with the file's others)
                long = after - value > SHORT_VALUE or which == LANE_UID
                (removed_long if long else removed).append((tag, raw_vr, header[value:after], ""))
                if recording:
                    value_ops[1 if long else 0].append((tag, raw_vr, value, after, ""))
    trailing: list[tuple[int, bytes]] | None = None
    decided: TailDecisions | None = None
    tail_ops: list[_KeptOp] = []
    tail_values: list[_ValueOp] = []
    tail_checks: list[tuple[int, int]] = []
    if tail is not None and plain_charset and not declared:
        record = (tail_ops, tail_values, tail_checks) if recording else None
        decided = _split_tail(fmap, tail, scrubber, context, standard_memo, private_memo, record)
        if decided is not None:
            trailing = decided.kept
            for tag, row in decided.rows:
                records.append(row)
                record_tags.append(tag)
            changes += decided.changes
            if originals:
                for item in decided.values:
                    long = len(item[2]) > SHORT_VALUE
                    (removed_long if long else removed).append(item)
    lane.changes = changes
    parsed = len(parse)
    if plain_charset:  # creators of blocks wholly removed unparsed: removed unparsed too
        for block, alone in unparsed.items():
            if alone:
                creator = creators[block]
                assert creator is not None
                parse[creator_at[block]] = None
                parsed -= 1
                used.pop(block, None)
                tag = (block[0] << 16) | block[1]
                row = PrivateRecord(
                    format_tag(tag), creator[1], "UNDECLARED", "removed", "creator-of-removed-block"
                )
                lane.creators.append((tag, row))
    if decided is not None:
        lane.creators += decided.creator_rows  # after the header's: in tag order
    if len(private_memo) > 100_000 or len(standard_memo) > 100_000:
        scrubber.lane_memo.clear()
    meta = _meta_bytes(header, fmap) if originals else b""
    to_parse = [e for e in parse if e is not None]
    encodings = None
    unparsed_all = None
    if recording:  # whether nothing is left to parse depends on the SOP Class UID's value too
        checks += [(e[3], e[5]) for e in to_parse if e[0] == _SOP_CLASS]
    if (trailing is not None or tail is None) and not mapping and plain_charset:
        unparsed_all = _unparsed_all(
            to_parse, header, scrubber, context, standard_memo, kept, lane, fmap
        )
    if unparsed_all is not None:
        encodings, added = unparsed_all
        parsed = 0
        dropped = {e[0] for e in to_parse}
        covered = [tag for tag in covered if tag not in dropped]
        parsed_values = [item for item in parsed_values if item[0] not in dropped]
        if recording:
            value_ops = (
                value_ops[0],
                value_ops[1],
                [v for v in value_ops[2] if v[0] not in dropped],
            )
            ops = _kept_ops(ops, added)
        to_parse = []
    result = Split(
        _parsed_head(header, fmap, to_parse),
        parsed,
        kept,
        lane,
        used,
        removed,
        removed_long,
        parsed_values,
        covered,
        meta,
        None if any(e[4] == UNDEFINED for e in to_parse) else to_parse,
        trailing,
        encodings=encodings,
    )
    if recording:
        if len(plans) >= 256:
            plans.clear()
        plans[plan_key] = _Plan(
            elements,
            tuple((start, end, header[start:end]) for start, end in checks),
            tuple((start, end, tail[start:end]) for start, end in tail_checks)
            if tail is not None
            else (),
            result,
            tuple(to_parse),
            _program(ops),
            (tuple(value_ops[0]), tuple(value_ops[1]), tuple(value_ops[2])),
            _program(tail_ops) if trailing is not None else None,
            tuple(tail_values) if trailing is not None else (),
        )
    return result


_OP_SLICE, _OP_AS_READ, _OP_FIXED, _OP_UID, _OP_PATIENT, _OP_RUN, _OP_SEQUENCE = range(7)
_KeptOp = tuple[int, int, Any, int, int]
"""How an element of :attr:`Split.kept` is made: (_OP_SLICE, or _OP_AS_READ for a long VR, whose
reserved bytes are written as zero; tag, VR as written, offset of its tag, offset after it),
(_OP_FIXED, tag, the bytes, 0, 0) or (_OP_UID, tag, None, offset of its value, offset after it);
(_OP_PATIENT, tag, outcome, offset of its value, offset after it) sets the Patient ID kept aside
(and writes nothing itself); (_OP_SEQUENCE, tag, (offset of its value, length as declared),
offset of its tag, offset after it) keeps a sequence as read, after the same check as
:func:`split`'s (:func:`_kept_sequence`: the values inside are the file's own). In a plan,
consecutive _OP_SLICE ops are one (_OP_RUN, 0, ((tag, offset of its tag, offset after it), ...),
0, 0) (see :func:`_program`)."""


def _program(ops: Sequence[_KeptOp]) -> tuple[_KeptOp, ...]:
    """``ops`` as a plan replays them: each run of consecutive _OP_SLICE ops made one _OP_RUN
    (its slices taken in one comprehension: most of a header's elements are kept as read)."""
    program: list[_KeptOp] = []
    run: list[tuple[int, int, int]] = []
    for op in ops:
        if op[0] == _OP_SLICE:
            run.append((op[1], op[3], op[4]))
            continue
        if run:
            program.append((_OP_RUN, 0, tuple(run), 0, 0))
            run = []
        program.append(op)
    if run:
        program.append((_OP_RUN, 0, tuple(run), 0, 0))
    return tuple(program)


_ValueOp = tuple[int, bytes | None, int, int, str]
"""An element's value for the leak check: (tag, VR as written, offset of its value, offset after
it, creator text)."""


class _Plan(NamedTuple):
    """What :func:`split` decided for a file, to be made again for the next files of its layout
    (see :mod:`dicomscrub.structure`) from their own bytes: the decisions depend on tags, VRs and
    lengths, which are the layout's, and on the values that ``checks`` name (the Specific
    Character Set, the Private Creators), which must read alike; values of UIDs and of the
    Patient ID are read anew."""

    elements: tuple[TopElement, ...]
    checks: tuple[tuple[int, int, bytes], ...]  # (start, end, bytes) in the header
    tail_checks: tuple[tuple[int, int, bytes], ...]  # the same after Pixel Data
    split: Split  # what was found for the file the plan was made from
    parse: tuple[TopElement, ...]  # the elements parsed
    kept: tuple[_KeptOp, ...]  # (as _program makes them)
    values: tuple[tuple[_ValueOp, ...], tuple[_ValueOp, ...], tuple[_ValueOp, ...]]
    """For :attr:`Split.removed`, :attr:`Split.removed_long` and :attr:`Split.parsed_values`."""
    tail_kept: tuple[_KeptOp, ...] | None  # None: the elements after Pixel Data are parsed
    # (as _program makes them)
    tail_values: tuple[_ValueOp, ...]


def _new_uid(
    scrubber: Scrubber, lane: LaneResult, tag: int, value: bytes, fmap: FileMap
) -> bytes | None:
    """The element written for a UI element given new UIDs unparsed, with the values of those
    read later kept aside in ``lane``; None when it must be parsed."""
    new = scrubber.uid_element(tag, value, fmap.implicit, fmap.little)
    if new is not None and tag in READ_UIDS:
        # one UID (what reads it expects one), as read and new
        old = value.decode("ascii").rstrip("\0 ").strip()
        if "\\" in new[1] or not new[1] or not old:
            return None
        lane.values[tag] = (old, new[1])
    return None if new is None else new[0]


def _kept(
    ops: tuple[_KeptOp, ...], data: bytes, scrubber: Scrubber, lane: LaneResult, fmap: FileMap
) -> list[tuple[int, bytes]] | None:
    kept: list[tuple[int, bytes]] = []
    for op, tag, arg, start, after in ops:
        if op == _OP_RUN:  # (most: their bytes as they are)
            kept += [(t, data[s:a]) for t, s, a in arg]
        elif op == _OP_SLICE:
            kept.append((tag, data[start:after]))
        elif op == _OP_AS_READ:
            kept.append((tag, _as_written(data, arg, start, after)))
        elif op == _OP_FIXED:
            kept.append((tag, arg))
        elif op == _OP_SEQUENCE:
            if _kept_sequence(scrubber, data, arg[0], arg[1], after) != after:
                return None
            kept.append((tag, _as_written(data, b"SQ", start, after)))
        elif op == _OP_UID:
            new = _new_uid(scrubber, lane, tag, data[start:after], fmap)
            if new is None:
                return None
            kept.append((tag, new))
        else:
            aside = _patient_id(arg, data[start:after], fmap.implicit)
            if aside is None:
                return None
            lane.values[tag] = aside
    return kept


def _replay(
    plan: _Plan,
    fmap: FileMap,
    header: bytes,
    tail: bytes | None,
    scrubber: Scrubber,
    originals: bool,
) -> Split | None:
    """:func:`split` for a file of the layout ``plan`` was made for, from its bytes; None when a
    value the plan's decisions read differs, or a value read anew needs parsing."""
    for start, end, expected in plan.checks:
        if header[start:end] != expected:
            return None
    if tail is not None:
        for start, end, expected in plan.tail_checks:
            if tail[start:end] != expected:
                return None
    was = plan.split
    lane = LaneResult(
        list(was.lane.private),
        list(was.lane.private_tags),
        list(was.lane.creators),
        was.lane.changes,
        was.lane.context,
    )
    kept = _kept(plan.kept, header, scrubber, lane, fmap)
    if kept is None:
        return None
    if _SOP_CLASS in was.lane.values:  # kept as read: a value the plan checks
        lane.values[_SOP_CLASS] = was.lane.values[_SOP_CLASS]
    trailing = None
    if plan.tail_kept is not None:
        assert tail is not None
        trailing = _kept(plan.tail_kept, tail, scrubber, lane, fmap)
        if trailing is None:
            return None
    removed, removed_long, parsed_values = (
        [(tag, vr, header[v:a], who) for tag, vr, v, a, who in ops] for ops in plan.values
    )
    if tail is not None and originals:
        for tag, vr, v, a, who in plan.tail_values:
            item = (tag, vr, tail[v:a], who)
            (removed_long if a - v > SHORT_VALUE else removed).append(item)
    meta = _meta_bytes(header, fmap) if originals else b""
    return Split(
        _parsed_head(header, fmap, plan.parse),
        was.parsed,
        kept,
        lane,
        dict(was.creators),
        removed,
        removed_long,
        parsed_values,
        list(was.covered),
        meta,
        None if was.elements is None else list(plan.parse),
        trailing,
        encodings=was.encodings,
    )


def _meta_bytes(header: bytes, fmap: FileMap) -> bytes:
    """The file meta elements as found in the file (:attr:`Split.meta`)."""
    return header[132 if fmap.kind is Kind.PART10 else 4 : fmap.dataset_start]


def _parsed_head(header: bytes, fmap: FileMap, elements: Sequence[TopElement]) -> bytes:
    """What pydicom parses (:attr:`Split.head`): the bytes before the data set, then
    ``elements``."""
    return b"".join([header[: fmap.dataset_start], *(header[e[2] : e[5]] for e in elements)])


class TailDecisions(NamedTuple):
    """What :func:`_split_tail` decided for the elements after Pixel Data."""

    kept: list[tuple[int, bytes]]  # the elements to write
    rows: list[tuple[int, PrivateRecord]]  # of the private elements removed
    creator_rows: list[tuple[int, PrivateRecord]]  # of their creators, removed with them
    changes: int
    values: list[Unparsed]  # removed or replaced, for the leak check


def _split_tail(
    fmap: FileMap,
    tail: bytes,
    scrubber: Scrubber,
    context: tuple[bytes, bool, bool],
    standard_memo: dict[tuple[object, ...], Outcome],
    private_memo: dict[tuple[object, ...], tuple[PrivateRecord, bool] | None],
    record: tuple[list[_KeptOp], list[_ValueOp], list[tuple[int, int]]] | None = None,
) -> TailDecisions | None:
    """The lanes' decisions for the top-level elements after Pixel Data (``tail`` holds the file's
    bytes from the end of Pixel Data), made as :func:`split` makes them for the header, when it
    can make all of them; None when one of them must be parsed (then they all are). Private
    blocks there are removed whole, their creators with them (in a plain character set, where a
    creator's bytes read alike: the caller checks)."""
    assert fmap.pixel is not None
    base = fmap.pixel.end
    kept: list[tuple[int, bytes]] = []
    rows: list[tuple[int, PrivateRecord]] = []
    creators: dict[int, tuple[str, str]] = {}  # (tag >> 8 of the block's elements) -> creator
    changes = 0
    values: list[Unparsed] = []
    for el in fmap.elements:
        tag, raw_vr, start, value, length, after = el
        if tag <= fmap.pixel.tag:
            continue
        group, element = tag >> 16, tag & 0xFFFF
        if length == UNDEFINED or not element:
            return None
        raw = tail[value - base : after - base]
        vr = raw_vr.decode("ascii") if raw_vr is not None else None
        if group & 1 and group > 0x0008:
            if element <= 0xFF:
                found = _creator(vr, raw) if element >= 0x10 else None
                if record is not None:  # (also when it ends the decisions: a value they read)
                    record[2].append((value - base, after - base))
                if found is None:
                    return None
                creators[(group << 8) | element] = found
                continue
            creator = creators.get(tag >> 8) if element >= 0x1000 else None
            if creator is None and element >= 0x1000:
                return None  # no creator before it here: left to the parser
            key = (tag, raw_vr, length & 7, creator)
            removal = private_memo.get(key, _UNKNOWN)
            if removal is _UNKNOWN:
                removal = private_memo[key] = _private_outcome(scrubber, tag, vr, length, creator)
            if removal is None:
                return None
            rows.append((tag, removal[0]))
            changes += removal[1]
            who = creator[1] if creator is not None else ""
            if len(raw) >= MIN_CHARS and _searched_private(tag, raw_vr, creator):
                values.append((tag, raw_vr, raw, who))
                if record is not None:
                    record[1].append((tag, raw_vr, value - base, after - base, who))
            continue
        if tag in ALWAYS_PARSED or group & 1:
            return None
        plain = tag not in fmap.odd_inside
        outcome = _outcome(standard_memo, scrubber, el, tail, base, context, plain)
        which = outcome[0]
        if which == LANE_KEEP:
            kept.append((tag, _as_written(tail, raw_vr, start - base, after - base)))
            if record is not None:
                record[0].append((_as_read_op(raw_vr), tag, raw_vr, start - base, after - base))
            continue
        if which not in (LANE_DROP, LANE_REPLACE):
            return None
        if which == LANE_REPLACE:
            kept.append((tag, outcome[1]))
            if record is not None:
                record[0].append((_OP_FIXED, tag, outcome[1], 0, 0))
        changes += outcome[2]
        if raw_vr not in NUMERIC_RAW and len(raw) >= MIN_CHARS:
            values.append((tag, raw_vr, raw, ""))
            if record is not None:
                record[1].append((tag, raw_vr, value - base, after - base, ""))
    creator_rows = [
        (
            ((block >> 8) << 16) | (block & 0xFF),
            PrivateRecord(
                format_tag(((block >> 8) << 16) | (block & 0xFF)),
                creator[1],
                "UNDECLARED",
                "removed",
                "creator-of-removed-block",
            ),
        )
        for block, creator in creators.items()
    ]
    return TailDecisions(kept, rows, creator_rows, changes, values)


def check_creators(ds: Dataset, sp: Split) -> None:
    """Raise :class:`LanesRefused` unless pydicom decoded every creator the lane decisions used
    as they assumed."""
    if not sp.creators:
        return
    found = private_creators(ds)
    for (group, byte), (decoded, creator) in sp.creators.items():
        if found.get((group, byte)) != creator or ds[(group << 16) | byte].value != decoded:
            raise LanesRefused(
                f"Private Creator {format_tag((group << 16) | byte)} decodes otherwise"
            )


_SOP_CLASS = 0x00080016
_UNPARSED_ALL = (0x00080005, _SOP_CLASS)


def _unparsed_all(
    to_parse: list[TopElement],
    header: bytes,
    scrubber: Scrubber,
    context: tuple[bytes, bool, bool],
    standard_memo: dict[tuple[object, ...], Outcome],
    kept: list[tuple[int, bytes]],
    lane: LaneResult,
    fmap: FileMap,
) -> tuple[str | list[str], list[_KeptOp]] | None:
    """When all that is left to parse is the Specific Character Set, the SOP Class UID (both
    always parsed) and the first element (parsed so that pydicom reads the rest as the file is
    encoded), the first two one plain value, the SOP Class UID without a rule (kept as a
    structural UID) and the others kept as read by the profile: keep them too (in ``kept``, in
    tag order), the SOP Class UID's value aside in ``lane`` as pydicom decodes it, and return
    the character set pydicom reads the data set in (then nothing is parsed), with how the
    elements added to ``kept`` are made (for a plan); None otherwise (nothing done)."""
    first = fmap.elements[0][0]
    if not to_parse or any(
        (e[0] not in _UNPARSED_ALL and e[0] != first) or e[4] == UNDEFINED for e in to_parse
    ):
        return None
    encodings: str | list[str] = default_encoding  # (as pydicom reads a data set without one)
    values: dict[int, tuple[str, str]] = {}
    added: list[tuple[int, bytes, _KeptOp]] = []
    _, implicit, little = context
    for el in to_parse:
        tag, raw_vr, start, value, _, after = el
        text = header[value:after].rstrip(b"\0 ")
        if tag in _UNPARSED_ALL and (
            not text or not plain_ascii(text) or b"\\" in text or text[:1] == b" "
        ):
            return None
        if tag == _SOP_CLASS:
            # no rule for it: kept as a structural UID, written as pydicom encodes what it
            # decodes (padded with a NUL to an even length)
            if scrubber.profile.standard_rule(tag) is not None or raw_vr not in (None, b"UI"):
                return None
            uid = str(UID(text.decode("ascii")))
            data = ui_element(tag, uid, implicit, little)
            if data is None:
                return None
            values[tag] = (uid, uid)
            added.append((tag, data, (_OP_FIXED, tag, data, 0, 0)))
            continue
        group, element = tag >> 16, tag & 0xFFFF
        if group & 1 or not element or (tag in ALWAYS_PARSED and tag != 0x00080005):
            return None  # (a first element that is private, a group length, or read later)
        plain = tag not in fmap.odd_inside
        if _outcome(standard_memo, scrubber, el, header, 0, context, plain)[0] != LANE_KEEP:
            return None
        if tag == 0x00080005:
            # pydicom decodes it (the parsed path then writes it anew): kept as read only where
            # that gives the same bytes (padded with one space to an even length, no more)
            if _charset_term(header[start:after], implicit) is None:
                return None
            if header[value:after] != text + b" " * (len(text) % 2):
                return None
            encodings = convert_encodings(text.decode("ascii"))
        op = (_as_read_op(raw_vr), tag, raw_vr, start, after)
        added.append((tag, _as_written(header, raw_vr, start, after), op))
    kept += [(tag, data) for tag, data, _ in added]
    kept.sort(key=_first)
    lane.values.update(values)
    return encodings, [op for _, _, op in added]


def _first(item: tuple[int, bytes]) -> int:
    return item[0]


def _kept_ops(ops: list[_KeptOp], added: list[_KeptOp]) -> list[_KeptOp]:
    """A plan's ``ops`` with ``added`` among them, in tag order."""
    return sorted(ops + added, key=_tag_of_op)  # (stable: a Patient ID's ops stay in order)


def _tag_of_op(op: _KeptOp) -> int:
    return op[1]
