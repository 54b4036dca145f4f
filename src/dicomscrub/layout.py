"""Where each value lies in the bytes of a DICOM file, so a byte found by the leak search can be
named by its tag path.

A small reader of the encoding itself (PS3.10 7.1 preamble and File Meta Information, PS3.5 7.1
data elements, 7.5 sequences and items, A.4 encapsulated pixel data, A.5 deflated data sets),
independent of pydicom so that it sees exactly the bytes of the file: values pydicom would not
decode, data after the last element, the preamble. It never raises: where the encoding stops making
sense, the rest of the file is one span without a path ("raw bytes at offset N").
"""

from __future__ import annotations

import bisect
import io
import struct
import zlib
from dataclasses import dataclass

from pydicom import datadict

from dicomscrub.structure import Overinflated, inflate
from dicomscrub.tags import format_tag

BULK_TAGS = frozenset(
    {
        0x7FE00008,  # Float Pixel Data
        0x7FE00009,  # Double Float Pixel Data
        0x7FE00010,  # Pixel Data
        0x54001010,  # Waveform Data
        0x56000020,  # Spectroscopy Data
    }
)
"""Sample data, which the leak search skips at the top level of a data set: text burned into pixels
needs OCR (the Clean Pixel Data Option), and random sample bytes would match short values by chance.
Inside a sequence (a thumbnail or a waveform in an item a profile keeps) it is searched as any other
value: such a value is small, and text written there is a leak like any other."""

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"

_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_MAX_DEPTH = 64


@dataclass(frozen=True)
class Span:
    """The bytes ``[start, end)`` of one value (or the preamble, or unattributed bytes)."""

    start: int
    end: int
    path: str  # tag path like (0008,1140)[0]/(0008,1155); "preamble"; "" when unattributed
    bulk: bool = False


@dataclass(frozen=True)
class Layout:
    data: bytes
    """The bytes that were read: the file itself, or, for a deflated data set, the file up to the
    data set followed by the inflated data set."""
    spans: tuple[Span, ...]
    inflated_at: int | None = None  # where the inflated data set begins in ``data``
    complete: bool = True  # False when the reader stopped early
    big_endian: bool = False  # the data set is explicit VR big endian

    def locate(self, offset: int) -> str:
        """A tag path, ``preamble``, or ``raw bytes at offset N`` for a byte offset in ``data``."""
        starts = [s.start for s in self.spans]
        i = bisect.bisect_right(starts, offset) - 1
        if i >= 0 and offset < self.spans[i].end and self.spans[i].path:
            return self.spans[i].path
        if self.inflated_at is not None and offset >= self.inflated_at:
            return f"raw bytes at offset {offset - self.inflated_at} of the inflated data set"
        return f"raw bytes at offset {offset}"

    def is_bulk(self, offset: int) -> bool:
        starts = [s.start for s in self.spans]
        i = bisect.bisect_right(starts, offset) - 1
        return i >= 0 and offset < self.spans[i].end and self.spans[i].bulk

    def segments(self) -> list[tuple[int, bytes]]:
        """``data`` without the bulk (sample data) values, as (offset, bytes) pieces."""
        out: list[tuple[int, bytes]] = []
        pos = 0
        for span in self.spans:
            if span.bulk:
                if span.start > pos:
                    out.append((pos, self.data[pos : span.start]))
                pos = max(pos, span.end)
        if pos < len(self.data):
            out.append((pos, self.data[pos:]))
        return out


class _Stop(Exception):
    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


def _dictionary_vr(tag: int) -> str:
    if (tag >> 16) % 2 == 1:
        return "UN"
    try:
        return str(datadict.dictionary_VR(tag)).split(" or ")[0].strip() or "UN"
    except KeyError:
        return "UN"


class _Reader:
    def __init__(self, buf: bytes, implicit: bool, little: bool, spans: list[Span]) -> None:
        self.buf = buf
        self.implicit = implicit
        self.little = little
        self.spans = spans
        order = "<" if little else ">"
        self._tag = struct.Struct(order + "HH")
        self._u16 = struct.Struct(order + "H")
        self._u32 = struct.Struct(order + "I")

    def header(self, pos: int, end: int) -> tuple[int, str, int, int]:
        """(tag, VR, length, value position) of the element or item header at ``pos``."""
        if pos + 8 > end:
            raise _Stop(pos)
        group, element = self._tag.unpack_from(self.buf, pos)
        tag = (group << 16) | element
        if group == 0xFFFE:
            return tag, "", self._u32.unpack_from(self.buf, pos + 4)[0], pos + 8
        if self.implicit:
            return tag, _dictionary_vr(tag), self._u32.unpack_from(self.buf, pos + 4)[0], pos + 8
        vr = self.buf[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            if pos + 12 > end:
                raise _Stop(pos)
            return tag, vr.decode("ascii"), self._u32.unpack_from(self.buf, pos + 8)[0], pos + 12
        if not (0x41 <= vr[0] <= 0x5A and 0x41 <= vr[1] <= 0x5A):
            raise _Stop(pos)
        return tag, vr.decode("ascii"), self._u16.unpack_from(self.buf, pos + 6)[0], pos + 8

    def elements(self, pos: int, end: int, prefix: str, item: bool, depth: int) -> int:
        """Read elements up to ``end`` (or, in an item of undefined length, its delimiter)."""
        if depth > _MAX_DEPTH:
            raise _Stop(pos)
        while pos < end:
            start = pos
            tag, vr, length, pos = self.header(pos, end)
            if tag == _ITEM_END:
                if item:
                    return pos
                raise _Stop(start)
            if tag >> 16 == 0xFFFE:
                raise _Stop(start)
            path = prefix + format_tag(tag)
            bulk = tag in BULK_TAGS and not prefix  # (top-level sample data only)
            if length == _UNDEFINED:
                if vr == "SQ":
                    pos = self.items(pos, end, path, False, depth)
                elif vr == "UN":  # PS3.5 6.2.2: a sequence encoded implicit VR little endian
                    inner = _Reader(self.buf, True, True, self.spans)
                    pos = inner.items(pos, end, path, False, depth)
                elif vr in ("OB", "OW"):
                    pos = self.fragments(pos, end, path, bulk)
                else:
                    raise _Stop(start)
            else:
                if pos + length > end:
                    raise _Stop(start)
                if vr == "SQ":
                    self.items(pos, pos + length, path, True, depth)
                elif length:
                    self.spans.append(Span(pos, pos + length, path, bulk))
                pos += length
        if item:
            raise _Stop(pos)
        return pos

    def items(self, pos: int, end: int, path: str, defined: bool, depth: int) -> int:
        index = 0
        while pos < end:
            start = pos
            tag, _, length, pos = self.header(pos, end)
            if tag == _SEQ_END and not defined:
                return pos
            if tag != _ITEM:
                raise _Stop(start)
            prefix = f"{path}[{index}]/"
            if length == _UNDEFINED:
                pos = self.elements(pos, end, prefix, True, depth + 1)
            else:
                if pos + length > end:
                    raise _Stop(start)
                self.elements(pos, pos + length, prefix, False, depth + 1)
                pos += length
            index += 1
        if not defined:
            raise _Stop(pos)
        return pos

    def fragments(self, pos: int, end: int, path: str, bulk: bool) -> int:
        while pos < end:
            start = pos
            tag, _, length, pos = self.header(pos, end)
            if tag == _SEQ_END:
                return pos
            if tag != _ITEM or length == _UNDEFINED or pos + length > end:
                raise _Stop(start)
            if length:
                self.spans.append(Span(pos, pos + length, path, bulk))
            pos += length
        raise _Stop(pos)

    def file_meta(self, pos: int, end: int) -> tuple[int, str]:
        """Read group 0002 elements; return where the data set starts and the transfer syntax."""
        syntax = ""
        while pos + 8 <= end and self._u16.unpack_from(self.buf, pos)[0] == 0x0002:
            start = pos
            tag, vr, length, pos = self.header(pos, end)
            if length == _UNDEFINED or pos + length > end or vr == "SQ":
                raise _Stop(start)
            if length:
                self.spans.append(Span(pos, pos + length, format_tag(tag)))
            if tag == 0x00020010:
                syntax = self.buf[pos : pos + length].decode("latin-1").strip("\0 ")
            pos += length
        return pos, syntax


def _looks_explicit(data: bytes, pos: int) -> bool:
    vr = data[pos + 4 : pos + 6]
    return len(vr) == 2 and 0x41 <= vr[0] <= 0x5A and 0x41 <= vr[1] <= 0x5A


_SHORT_VRS = frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN"}
    | {b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
)


def header_at(data: bytes, pos: int) -> bool:
    """An element's header plausibly starts at ``pos`` of ``data``: then a value ends right
    before it, although the byte at ``pos`` (the low byte of the tag's group, in little endian)
    may be a letter or a digit (group 0054 writes T, GE's private group 0043 C). Explicit VR in
    either byte order (a known VR at ``pos + 4``), or implicit VR little endian (a standard tag
    or a private one, a creator or a data element, and a length that fits: a letter followed by
    NULs, as text padded with them is, starts none)."""
    vr = data[pos + 4 : pos + 6]
    if vr in _SHORT_VRS:
        return pos + 8 <= len(data)
    if vr in _LONG_VRS:
        return data[pos + 6 : pos + 8] == b"\0\0" and pos + 12 <= len(data)
    if pos + 8 > len(data):
        return False
    group, element, length = struct.unpack_from("<HHI", data, pos)
    tag = group << 16 | element
    return (length == _UNDEFINED or pos + 8 + length <= len(data)) and (
        (group % 2 == 1 and group > 8 and element >= 0x10) or datadict.dictionary_has_tag(tag)
    )


def header_before(data: bytes, pos: int) -> bool:
    """An element's header plausibly ends right before ``pos`` of ``data``, so a value starts at
    ``pos`` although the byte before it (the low byte of its length, in big endian) may be a
    letter or a digit: explicit VR (a known VR and a length that fits, in either byte order)."""
    if pos >= 8 and data[pos - 4 : pos - 2] in _SHORT_VRS:
        low, high = data[pos - 1], data[pos - 2]
        return pos + min(low | high << 8, high | low << 8) <= len(data)
    if pos >= 12 and data[pos - 8 : pos - 6] in _LONG_VRS and data[pos - 6 : pos - 4] == b"\0\0":
        size = data[pos - 4 : pos]
        return pos + min(int.from_bytes(size, "little"), int.from_bytes(size, "big")) <= len(data)
    return False


def read_layout(data: bytes) -> Layout:
    """The spans of a DICOM file's bytes (Part 10, DICM without a preamble, or a bare data set)."""
    spans: list[Span] = []
    pos = 0
    if len(data) >= 132 and data[128:132] == b"DICM":
        spans.append(Span(0, 128, "preamble"))
        pos = 132
    elif data[:4] == b"DICM":
        pos = 4
    syntax = ""
    if pos:
        try:
            pos, syntax = _Reader(data, False, True, spans).file_meta(pos, len(data))
        except _Stop as stop:
            spans.append(Span(stop.pos, len(data), ""))
            return Layout(data, tuple(spans), complete=False)
    inflated_at: int | None = None
    buf = data
    if syntax == DEFLATED:
        try:
            buf = data[:pos] + inflate(io.BytesIO(data[pos:]))
        except (zlib.error, Overinflated):
            spans.append(Span(pos, len(data), ""))
            return Layout(data, tuple(spans), complete=False)
        inflated_at = pos
    # Like pydicom, trust what the first element looks like over a File Meta that disagrees.
    implicit = not _looks_explicit(buf, pos)
    if syntax:
        little = syntax != EXPLICIT_BE
    elif not implicit and len(buf) >= pos + 2:  # no File Meta: guess the byte order
        little = buf[pos] | buf[pos + 1] << 8 <= buf[pos] << 8 | buf[pos + 1]
    else:
        little = True
    try:
        _Reader(buf, implicit, little, spans).elements(pos, len(buf), "", False, 0)
    except _Stop as stop:
        spans.append(Span(stop.pos, len(buf), ""))
        return Layout(buf, tuple(spans), inflated_at, complete=False, big_endian=not little)
    return Layout(buf, tuple(spans), inflated_at, big_endian=not little)
