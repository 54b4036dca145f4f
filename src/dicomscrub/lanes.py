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

from dataclasses import dataclass, field

from pydicom import config
from pydicom.datadict import dictionary_VR, private_dictionary_VR
from pydicom.dataset import Dataset

from dicomscrub.discover import Kind
from dicomscrub.pipeline import (
    LANE_DROP,
    LANE_KEEP,
    LANE_REPLACE,
    LaneResult,
    PrivateRecord,
    Scrubber,
    decodes,
    private_creators,
)
from dicomscrub.private import SEQUENCE_TAG
from dicomscrub.structure import LONG_VRS, UNDEFINED, FileMap
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
        0x00280010,  # Rows, Columns, Bits Allocated: is it an image?
        0x00280011,
        0x00280100,
        0x00280301,  # Burned In Annotation: rejection
        0x00280303,  # Longitudinal Temporal Information Modified: set after the rules
        0x00287FE0,  # Pixel Data Provider URL
        0x7FE00008,  # Float, Double Float and Pixel Data
        0x7FE00009,
        0x7FE00010,
    }
)
"""Standard elements that are always parsed: the program reads or writes them outside the rules."""


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
    """(group, block byte) -> (the value pydicom decodes, the creator text) the decisions used."""


_PLAIN = frozenset(range(0x20, 0x7F)) - {0x5C}
"""Bytes that decode to the same character in every character set DICOM allows (ASCII, no
backslash, which would split the value)."""
_CREATOR_VRS = (None, "LO", "UN")


def _creator(vr: str | None, value: bytes) -> tuple[str, str] | None:
    """A Private Creator's (decoded value, creator text) as pydicom and
    :func:`~dicomscrub.pipeline.private_creators` would make them, when its bytes are plain."""
    if vr not in _CREATOR_VRS:
        return None
    text = value.rstrip(b"\0 ")
    if not text or not all(b in _PLAIN for b in text) or b"\0" in text:
        return None
    decoded = text.decode("ascii")
    creator = decoded.strip()
    return (decoded, creator) if creator else None


_vr_cache: dict[tuple[int, str | None, str], str | None] = {}


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


def _removable(vr: str | None, length: int) -> bool:
    """A private element of this VR and length is not a sequence and decodes without error."""
    return vr is not None and decodes(vr, length) and vr != "SQ"


def split(fmap: FileMap, header: bytes, scrubber: Scrubber) -> Split | None:
    """Sort the top-level elements of ``header`` (the file up to Pixel Data) into lanes; None when
    lanes cannot be used for this file."""
    pixel = fmap.pixel
    if (
        pixel is None
        or not scrubber.lanes_allowed
        or fmap.kind not in (Kind.PART10, Kind.BARE_META)
        or fmap.transfer_syntax is None
        or not fmap.elements
        or fmap.elements[0][0] < 0x00030000  # file meta or command elements in the data set
    ):
        return None
    declared = any(e[0] == SEQUENCE_TAG for e in fmap.elements)
    charset = b""
    for tag, _, start, _, _, after in fmap.elements:
        if tag >= 0x00080005:
            if tag == 0x00080005:
                charset = header[start:after]
            break
    implicit, little = fmap.implicit, fmap.little
    creators: dict[tuple[int, int], tuple[str, str] | None] = {}
    used: dict[tuple[int, int], tuple[str, str]] = {}
    parts = [header[: fmap.dataset_start]]
    kept: list[tuple[int, bytes]] = []
    lane = LaneResult()
    records = lane.private
    parsed = 0
    for tag, raw_vr, start, value, length, after in fmap.elements:
        if tag >= pixel.tag:
            break
        group, element = tag >> 16, tag & 0xFFFF
        vr = raw_vr.decode("ascii") if raw_vr is not None else None
        if group & 1 and group > 0x0008:  # private (the forbidden odd groups lie below 0008)
            if element <= 0xFF:
                if element >= 0x10:
                    creators[(group, element)] = _creator(vr, header[value:after])
                parsed += 1
                parts.append(header[start:after])
                continue
            if length in (0, UNDEFINED) or declared:
                parsed += 1
                parts.append(header[start:after])
                continue
            block = (group, element >> 8)
            creator = creators.get(block) if element >= 0x1000 else None
            if block in creators and creator is None:  # a creator we cannot decode here
                parsed += 1
                parts.append(header[start:after])
                continue
            if creator is None:  # no creator: removed whatever it is, if its VR is known
                if _removable(_creatorless_vr(tag, vr), length):
                    path = format_tag(tag)
                    record = PrivateRecord(path, "", "UNDECLARED", "removed", "no-private-creator")
                    records.append((tag, record))
                    continue
                parsed += 1
                parts.append(header[start:after])
                continue
            removal = None
            if _removable(_private_vr(tag, vr, creator[0]), length):
                removal = scrubber.undeclared_removal(tag, creator[1])
            if removal is None:
                parsed += 1
                parts.append(header[start:after])
                continue
            used[block] = creator
            records.append((tag, removal[0]))
            if removal[1]:
                lane.changes += 1
            continue
        if tag in ALWAYS_PARSED or element == 0 or length in (0, UNDEFINED) or group & 1:
            parsed += 1
            parts.append(header[start:after])
            continue
        decision, exact = scrubber.standard_lane(tag, vr)
        if decision == LANE_REPLACE:
            new = None
            if exact is not None and decodes(exact, length):
                new = scrubber.replacement(tag, vr, header[start:after], charset, implicit, little)
            if new is None:
                parsed += 1
                parts.append(header[start:after])
            else:
                kept.append((tag, new[0]))
                lane.changes += new[1]
        elif decision == LANE_KEEP:
            if vr is not None and raw_vr in LONG_VRS and header[start + 6 : start + 8] != b"\0\0":
                # reserved bytes that are not zero: written as zero, as the encoder does
                head = header[start : start + 6] + b"\0\0" + header[start + 8 : value]
                kept.append((tag, head + header[value:after]))
            else:
                kept.append((tag, header[start:after]))
        elif decision == LANE_DROP:
            lane.changes += 1
        else:
            parsed += 1
            parts.append(header[start:after])
    return Split(b"".join(parts), parsed, kept, lane, used)


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
