"""Map a DICOM file's structure without reading its values.

:func:`scan` walks every element header of a Part 10 file (or a bare data set), recursing into
sequences and over the fragments of encapsulated Pixel Data, and checks that the file is well
formed: every header and every defined length lies inside its parent, elements are in ascending
tag order, explicit VRs are known, sequence items and delimiters are where they must be. It returns
where the data set starts, how it is encoded, and where the top-level Pixel Data element (if any)
starts and ends, so that its bytes can be copied by range instead of being read into memory.

A file that fails a check raises :class:`Damaged`, whose message names a tag and a byte offset but
never a value. A deflated data set is inflated and walked the same way (its map holds no
elements: the parser reads it whole).
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple

from pydicom.datadict import dictionary_VR

from dicomscrub.dictionary import ensure_registered
from dicomscrub.discover import Kind
from dicomscrub.tags import format_tag

PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
"""Float Pixel Data, Double Float Pixel Data, Pixel Data."""
ITEM = 0xFFFEE000
ITEM_DELIMITER = 0xFFFEE00D
SEQUENCE_DELIMITER = 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")
VALID_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL "
    b"UN UR US UT UV".split()
)
LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
MAX_DEPTH = 64
WINDOW = 1 << 15
"""Bytes read at a time by the walk (a typical header fits in the first window)."""


class Damaged(Exception):
    """A file whose structure is broken (truncated, wrong lengths, garbage). No values inside."""

    label = "damaged input"
    """What the file is called where it is rejected."""


@dataclass(frozen=True)
class BulkElement:
    """Where a top-level bulk element (Pixel Data) lies in the input file."""

    tag: int
    vr: str | None  # as written in the file; None in implicit VR
    start: int  # offset of the element's tag
    value_start: int
    length: int  # as declared; UNDEFINED for encapsulated data
    value_end: int  # end of the value (for undefined length: start of the sequence delimiter)
    end: int  # offset just after the element (after the delimiter for undefined length)


TopElement = tuple[int, bytes | None, int, int, int, int]
"""A top-level element as found: (tag, VR as written or None in implicit VR, offset of its tag,
offset of its value, length as declared, offset just after it)."""


@dataclass(frozen=True)
class FileMap:
    """The structure of one file: what :func:`scan` found."""

    kind: Kind
    size: int
    dataset_start: int
    transfer_syntax: str | None  # from the file meta, None without one
    implicit: bool  # encoding of the top-level data set as found
    little: bool
    deflated: bool
    pixel: BulkElement | None
    elements: tuple[TopElement, ...] = ()  # the top-level data set's elements, in file order
    odd_inside: frozenset[int] = frozenset()
    """Top-level elements whose items hold an element of an odd group, at any depth."""
    meta_elements: tuple[TopElement, ...] = ()  # the file meta elements, in file order
    windows: tuple[tuple[int, bytes], ...] = field(default=(), repr=False, compare=False)
    """(offset, bytes) read by the walk: the first read-ahead window and the last one."""
    nested: tuple[tuple[int, int], ...] = field(default=(), repr=False, compare=False)
    """(start, end) of the bytes the walk read below the top level: headers of nested elements,
    items and fragments (see :func:`_remember`)."""

    def bytes_at(self, start: int, end: int) -> bytes | None:
        """The file's bytes from ``start`` to ``end`` as the walk read them (so that what is
        parsed is what was checked, and not read again); None if no window holds them all."""
        for base, buf in self.windows:
            if base <= start and end <= base + len(buf):
                return buf[start - base : end - base]
        return None

    @property
    def syntax_matches(self) -> bool:
        """True when the data set is encoded as its transfer syntax says (or there is none)."""
        ts = self.transfer_syntax
        if ts is None:
            return True
        if ts == IMPLICIT_LE:
            return self.implicit and self.little
        if ts == EXPLICIT_BE:
            return not self.implicit and not self.little
        return not self.implicit and self.little


class _Reader:
    """Random access to a file through a read-ahead window, so headers cost few system calls."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh = fh
        self.size = size
        self.base = 0  # the file offset of buf: the current read-ahead window
        self.buf = b""

    def read(self, pos: int, n: int, ahead: bool = True) -> bytes:
        off = pos - self.base
        if off >= 0 and off + n <= len(self.buf):
            return self.buf[off : off + n]
        self.fh.seek(pos)
        if not ahead:  # e.g. fragment headers megabytes apart: read just the header
            return self.fh.read(n)
        self.buf = self.fh.read(max(n, WINDOW))
        self.base = pos
        return self.buf[:n]


def _damaged(what: str, tag: int | None, pos: int) -> Damaged:
    where = f" at {format_tag(tag)}" if tag is not None else ""
    return Damaged(f"{what}{where} (byte {pos})")


class _Walker:
    def __init__(self, reader: _Reader, little: bool) -> None:
        self.r = reader
        self.e = "<" if little else ">"
        self.pixel: BulkElement | None = None
        self.top: list[TopElement] = []
        self.odd_inside: set[int] = set()
        self._odd = False  # an element of an odd group was met inside the current top element
        self.nested: list[tuple[int, int]] = []  # the bytes read below the top level
        self._hh = struct.Struct(self.e + "HH")
        self._l = struct.Struct(self.e + "L")
        self._h = struct.Struct(self.e + "H")

    def tag_at(self, pos: int, ahead: bool = True) -> tuple[int, int]:
        raw = self.r.read(pos, 8, ahead)
        if len(raw) < 8:
            raise _damaged("file ends inside an element header (truncated)", None, pos)
        group, elem, length = struct.unpack(self.e + "HHL", raw)
        return (group << 16) | elem, length

    def dataset(
        self, pos: int, end: int | None, implicit: bool, depth: int, top: bool = False
    ) -> int:
        """Walk a data set from ``pos`` to ``end`` (None: up to an item delimiter). Returns the
        offset after it (after the delimiter item when ``end`` is None)."""
        if depth > MAX_DEPTH:
            raise _damaged("sequences nested too deeply", None, pos)
        r = self.r
        limit = r.size if end is None else end
        record = None if top else self.nested.append
        if not top and not implicit and pos + 6 <= limit:
            self.nested.append((pos + 4, pos + 6))
            first_vr = r.read(pos + 4, 2)
            if not (0x40 < first_vr[0] < 0x5B and 0x40 < first_vr[1] < 0x5B):
                implicit = True  # an item encoded in implicit VR inside explicit data (PS3.5 7.5)
        tag_of, long_of, short_of = self._hh.unpack_from, self._l.unpack_from, self._h.unpack_from
        elements = self.top if top else None
        vr_class = _VR_CLASS
        previous = -1
        buf, base = r.buf, r.base
        blen = len(buf)
        while pos < limit:
            if limit - pos < 8:
                raise _damaged("file ends inside an element header (truncated)", None, pos)
            off = pos - base
            if off < 0 or off + 8 > blen:  # outside the read-ahead window: move it
                r.read(pos, 8)
                buf, base = r.buf, r.base
                blen = len(buf)
                off = pos - base
                if off < 0 or off + 8 > blen:
                    raise Damaged(f"file got shorter while being read (byte {pos})")
            group, elem = tag_of(buf, off)
            tag = (group << 16) | elem
            if group == 0xFFFE:
                if tag == ITEM_DELIMITER:
                    if end is None:
                        if record is not None:
                            record((pos, pos + 8))
                        return pos + 8
                    raise _damaged("unexpected item delimiter", None, pos)
                if tag in (ITEM, SEQUENCE_DELIMITER):
                    raise _damaged("unexpected item or sequence delimiter", None, pos)
            elif group & 1 and not top:
                self._odd = True
            if tag <= previous:
                raise _damaged("elements out of ascending tag order", tag, pos)
            previous = tag
            vr: bytes | None
            if implicit or group == 0x0000:
                vr = None
                kind = _SQ_CLASS if _dictionary_sq(tag) else _SHORT
                (length,) = long_of(buf, off + 4)
                value = pos + 8
            else:
                vr = buf[off + 4 : off + 6]
                kind = vr_class.get(vr, _UNKNOWN)
                if kind == _UNKNOWN:
                    raise _damaged("unknown value representation", tag, pos)
                if kind == _SHORT:
                    (length,) = short_of(buf, off + 6)
                    value = pos + 8
                else:
                    if limit - pos < 12:
                        raise _damaged("file ends inside an element header (truncated)", tag, pos)
                    if off + 12 <= blen:
                        (length,) = long_of(buf, off + 8)
                    else:
                        (length,) = self._l.unpack(r.read(pos + 8, 4))
                        buf, base = r.buf, r.base
                        blen = len(buf)
                    value = pos + 12
            after = value + length
            if not elem and length != 4 and (vr is None or vr == b"UL"):
                # a group length is one UL: pydicom cannot read another length as one
                raise _damaged("group length whose length is not 4", tag, pos)
            if record is not None:
                record((pos, value))
            if (  # the common case, as element() would find it: a plain value that fits
                kind == _SQ_CLASS
                or length == UNDEFINED
                or after > limit
                or (group == 0x7FE0 and tag in PIXEL_TAGS)
            ):
                if top:
                    self._odd = False
                after = self.element(tag, vr, pos, value, length, limit, implicit, depth, top)
                if top and self._odd:
                    self.odd_inside.add(tag)
                buf, base = r.buf, r.base  # the walk inside may have moved the window
                blen = len(buf)
            if elements is not None:
                elements.append((tag, vr, pos, value, length, after))
            pos = after
        if end is None:
            raise _damaged("file ends before the item delimiter (truncated)", None, pos)
        return pos

    def element(
        self,
        tag: int,
        vr: bytes | None,
        start: int,
        value: int,
        length: int,
        limit: int,
        implicit: bool,
        depth: int,
        top: bool,
    ) -> int:
        is_pixel = tag in PIXEL_TAGS
        if length == UNDEFINED:
            if is_pixel or (vr is not None and vr not in (b"SQ", b"UN")):
                # (the fragments of the Pixel Data the map is of are not listed: a file with them
                # is never remembered, and there may be millions)
                first_bulk = top and is_pixel and self.pixel is None
                value_end, after = self.fragments(value, limit, tag, not first_bulk)
            else:
                value_end, after = self.sequence(value, None, implicit, depth, tag)
        else:
            if value + length > limit:
                what = "Pixel Data runs past the end of the file" if is_pixel else "length"
                reason = "truncated" if limit == self.r.size else "wrong length"
                raise _damaged(f"{what} ({reason})", tag, start)
            value_end = after = value + length
            if vr == b"SQ" or (vr is None and not is_pixel and _dictionary_sq(tag)):
                self.sequence(value, value_end, implicit, depth, tag)
        if top and is_pixel and self.pixel is None:
            self.pixel = BulkElement(
                tag, vr.decode("ascii") if vr else None, start, value, length, value_end, after
            )
        return after

    def sequence(
        self, pos: int, end: int | None, implicit: bool, depth: int, tag: int
    ) -> tuple[int, int]:
        """Walk items to ``end`` or to the sequence delimiter; (delimiter start, offset after)."""
        limit = self.r.size if end is None else end
        while True:
            if end is not None and pos == end:
                return pos, pos
            if limit - pos < 8:
                raise _damaged("file ends inside a sequence (truncated)", tag, pos)
            item, length = self.tag_at(pos)
            self.nested.append((pos, pos + 8))
            if item == SEQUENCE_DELIMITER:
                if end is not None:
                    raise _damaged("sequence delimiter in a sequence of defined length", tag, pos)
                return pos, pos + 8
            if item != ITEM:
                raise _damaged("sequence item expected", tag, pos)
            if length == UNDEFINED:
                pos = self.dataset(pos + 8, None, implicit, depth + 1)
            else:
                if pos + 8 + length > limit:
                    raise _damaged("sequence item runs past its end (truncated)", tag, pos)
                pos = self.dataset(pos + 8, pos + 8 + length, implicit, depth + 1)

    def fragments(self, pos: int, limit: int, tag: int, listed: bool) -> tuple[int, int]:
        """Walk the items of encapsulated data without reading them; (delimiter start, after).
        ``listed``: their headers go to :attr:`nested`."""
        while True:
            if limit - pos < 8:
                raise _damaged("file ends inside encapsulated data (truncated)", tag, pos)
            item, length = self.tag_at(pos, ahead=length_small(pos, limit))
            if listed:
                self.nested.append((pos, pos + 8))
            if item == SEQUENCE_DELIMITER:
                return pos, pos + 8
            if item != ITEM or length == UNDEFINED:
                raise _damaged("fragment item expected in encapsulated data", tag, pos)
            if pos + 8 + length > limit:
                raise _damaged("fragment runs past the end of the file (truncated)", tag, pos)
            pos += 8 + length


def length_small(pos: int, limit: int) -> bool:
    """Read ahead only where the rest is small (a header region, not pixel fragments)."""
    return limit - pos <= WINDOW


_SQ_TAGS: dict[int, bool] = {}
_SHORT, _LONG, _SQ_CLASS, _UNKNOWN = 0, 1, 2, 3
_VR_CLASS = {
    vr: _SQ_CLASS if vr == b"SQ" else _LONG if vr in LONG_VRS else _SHORT for vr in VALID_VRS
}
"""Explicit VRs by how their header is laid out: short (2-byte length), long, or SQ."""


def _dictionary_sq(tag: int) -> bool:
    known = _SQ_TAGS.get(tag)
    if known is None:
        known = False
        if not (tag >> 16) % 2:
            with contextlib.suppress(KeyError):
                known = bool(dictionary_VR(tag) == "SQ")
        if len(_SQ_TAGS) > 100_000:
            _SQ_TAGS.clear()
        _SQ_TAGS[tag] = known
    return known


def _meta(reader: _Reader, pos: int, found: list[TopElement]) -> tuple[int, str | None]:
    """Walk the file meta group (explicit VR little endian), listing its elements in ``found``;
    (end, transfer syntax UID)."""
    ts: str | None = None
    previous = -1
    while pos + 8 <= reader.size:
        raw = reader.read(pos, 8)
        group, elem = struct.unpack("<HH", raw[:4])
        if group != 0x0002:
            break
        tag = (group << 16) | elem
        if tag <= previous:
            raise _damaged("file meta elements out of order", tag, pos)
        previous = tag
        vr = raw[4:6]
        if vr not in VALID_VRS:
            raise _damaged("unknown value representation in the file meta", tag, pos)
        if vr in LONG_VRS:
            (length,) = struct.unpack("<L", reader.read(pos + 8, 4))
            value = pos + 12
        else:
            (length,) = struct.unpack("<H", raw[6:8])
            value = pos + 8
        if length == UNDEFINED or value + length > reader.size:
            raise _damaged("file meta element runs past the end of the file", tag, pos)
        if tag == 0x00020010:
            ts = reader.read(value, length).decode("latin-1").strip("\0 ")
        found.append((tag, vr, pos, value, length, value + length))
        pos = value + length
    return pos, ts


INFLATED_LIMIT = 256 << 20
"""The most a deflated data set may inflate to (256 MB). A deflated file is read whole, by the
structural check and again by pydicom (no byte-range copy), so memory holds its inflated size
several times over: one that inflates to more (a "deflate bomb", a megabyte that inflates to
gigabytes, or a huge deflated image) is rejected before it is read, not left to exhaust the
memory of the worker and stop the batch."""


class Overinflated(Damaged):
    """A deflated data set that inflates to more than :data:`INFLATED_LIMIT` bytes (not broken,
    maybe: too large to read)."""

    label = "input too large to read"


def inflate(fh: BinaryIO) -> bytes:
    """The raw deflate stream read from ``fh`` (from where it stands) inflated, never holding
    more than :data:`INFLATED_LIMIT` bytes of it: raises :class:`Overinflated` beyond that, and
    ``zlib.error`` for a stream that is corrupt or cut short. Bytes after the stream's end are
    ignored (as ``zlib.decompress`` and pydicom do)."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pieces: list[bytes] = []
    size = 0
    while not inflater.eof:
        chunk = inflater.unconsumed_tail or fh.read(1 << 20)
        if not chunk:
            raise zlib.error("incomplete or truncated stream")
        piece = inflater.decompress(chunk, INFLATED_LIMIT + 1 - size)  # (never 0: no limit)
        size += len(piece)
        if size > INFLATED_LIMIT:
            raise Overinflated(f"deflated data set inflates to more than {INFLATED_LIMIT >> 20} MB")
        pieces.append(piece)
    return b"".join(pieces)


def _walk_inflated(fh: BinaryIO, pos: int) -> None:
    """Inflate the deflated data set that starts at ``pos`` and walk it as any other: a data set
    cut short (or with wrong lengths, unknown VRs...) before it was deflated is damaged too,
    although its deflate stream is whole (pydicom would read what is there and stop). Offsets
    in the message are those of the inflated data set."""
    fh.seek(pos)
    try:
        inflated = inflate(fh)
    except zlib.error:
        what = "deflated data set cannot be inflated (truncated or corrupt)"
        raise _damaged(what, None, pos) from None
    except Overinflated as exc:
        raise Overinflated(f"{exc} (byte {pos})") from None
    except MemoryError:  # (as pydicom's own inflating would: the file is rejected, not failed)
        raise _damaged("deflated data set too large to inflate in memory", None, pos) from None
    size = len(inflated)
    if not size:
        raise _damaged("file ends after its file meta, with no data set (truncated)", None, pos)
    reader = _Reader(io.BytesIO(inflated), size)
    reader.buf = inflated[:WINDOW]
    head = inflated[:6]
    implicit = len(head) == 6 and not (0x40 < head[4] < 0x5B and 0x40 < head[5] < 0x5B)
    try:
        _Walker(reader, True).dataset(0, size, implicit, 0, top=True)
    except Damaged as exc:
        text = str(exc)
        if text.endswith(")"):
            text = f"{text[:-1]} of the inflated data set)"
        raise Damaged(text) from None


def scan(fh: BinaryIO, size: int, kind: Kind, first: bytes = b"") -> FileMap:
    """Check the structure of the file open as ``fh`` (``size`` bytes) and map it. ``first``:
    the file's first bytes, if they have been read already (then a file laid out as one scanned
    before is recognised as such: see :func:`_recall`)."""
    ensure_registered()  # the dictionary says which implicit VR elements are sequences
    if first:
        known = _recall(fh, size, kind, first)
        if known is not None:
            return known
        fmap = _walk(fh, size, kind, first)
        _remember(fmap, first)
        return fmap
    return _walk(fh, size, kind, first)


def _walk(fh: BinaryIO, size: int, kind: Kind, first: bytes) -> FileMap:
    reader = _Reader(fh, size)
    if first:
        reader.buf = first[:size]
    else:
        reader.read(0, min(size, 8))  # the first window holds the start of the file
    opening = (reader.base, reader.buf)
    start = {Kind.PART10: 132, Kind.BARE_META: 4}.get(kind, 0)
    meta: list[TopElement] = []
    pos, ts = _meta(reader, start, meta) if start else (0, None)
    if ts is not None and ts in DEFLATED:
        _walk_inflated(fh, pos)
        return FileMap(kind, size, pos, ts, False, True, True, None, meta_elements=tuple(meta))
    little = ts != EXPLICIT_BE
    implicit = ts == IMPLICIT_LE
    if pos + 6 <= size:
        head = reader.read(pos, 6)
        found_implicit = not (0x40 < head[4] < 0x5B and 0x40 < head[5] < 0x5B)
        if ts is None:
            implicit = found_implicit
            if not implicit:
                (group,) = struct.unpack("<H", head[:2])
                little = group < 1024
        elif found_implicit != implicit:
            implicit = found_implicit  # as pydicom reads it; the syntax mismatch is reported
    walker = _Walker(reader, little)
    walker.dataset(pos, size, implicit, 0, top=True)
    if not walker.top and kind is not Kind.RAW:
        # a DICM marker says DICOM: a file with no data set after it was cut short
        after = "its file meta" if meta else "its DICM marker"
        raise _damaged(f"file ends after {after}, with no data set (truncated)", None, pos)
    return FileMap(
        kind,
        size,
        pos,
        ts,
        implicit,
        little,
        False,
        walker.pixel,
        tuple(walker.top),
        frozenset(walker.odd_inside),
        tuple(meta),
        (opening, (reader.base, reader.buf)),
        tuple(walker.nested),
    )


@dataclass(frozen=True)
class _Layout:
    """What the walk of a file read to map it, as masks over its bytes: the bytes of its header
    (up to the value of Pixel Data) and of its tail (after Pixel Data) that the walk reads, and
    their values in that file; with how much the first read held and which windows it read."""

    fmap: FileMap
    first: int  # bytes in the first read
    windows: tuple[bool, ...]  # for each window of the walk: the tail (True) or the first read
    head: tuple[_Segment, ...]
    tail: tuple[_Segment, ...]


class _Segment(NamedTuple):
    """Bytes ``start`` to ``end`` of the header or tail, and what they must be under ``mask`` (as
    little-endian numbers): the spans the walk reads, in segments that leave out long values
    (a vendor blob of kilobytes is not turned into a number for nothing)."""

    start: int
    end: int
    mask: int
    bits: int


_GAP = 64
"""Unread bytes between two spans the walk reads, above which they fall in two segments."""


def _segments(spans: list[tuple[int, int]], data: bytes | memoryview) -> tuple[_Segment, ...]:
    """``spans`` of ``data`` as :class:`_Segment` s."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start - merged[-1][1] <= _GAP:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    found = []
    for start, end in merged:
        mask = _mask([(a - start, b - start) for a, b in spans if start <= a < end], end - start)
        bits = int.from_bytes(data[start:end], "little") & mask
        found.append(_Segment(start, end, mask, bits))
    return tuple(found)


def _matches(data: bytes | memoryview, segments: tuple[_Segment, ...]) -> bool:
    """``data`` holds, under each segment's mask, the bits it holds."""
    for start, end, mask, bits in segments:
        if int.from_bytes(data[start:end], "little") & mask != bits:
            return False
    return True


_LAYOUTS: dict[tuple[Kind, int], _Layout] = {}
"""The layout last seen for each kind and size of file (the slices of a series share one)."""


def read_bytes(fh: BinaryIO, start: int, n: int) -> bytes | None:
    """``n`` bytes of the file from ``start`` (None if it is shorter): one system call."""
    try:
        fd = fh.fileno()
    except (OSError, io.UnsupportedOperation):  # (not a file: a test's buffer)
        fd = -1
    data = b""
    while len(data) < n:  # a read may return less than asked
        if fd >= 0:
            more = os.pread(fd, n - len(data), start + len(data))
        else:
            fh.seek(start + len(data))
            more = fh.read(n - len(data))
        if not more:
            return None
        data += more
    return data


def _mask(spans: list[tuple[int, int]], n: int) -> int:
    mask = bytearray(n)
    for start, end in spans:
        mask[start:end] = b"\xff" * (end - start)
    return int.from_bytes(mask, "little")


def _remember(fmap: FileMap, first: bytes) -> None:
    """Remember the layout of a file just walked, if :func:`_recall` can recognise it: Pixel Data
    of defined length after a header held in ``first``, and a tail (the elements after Pixel
    Data) read by the walk in one window, or held in ``first`` too."""
    pixel = fmap.pixel
    if pixel is None or pixel.length == UNDEFINED or pixel.value_start > len(first):
        return
    tail_n = fmap.size - pixel.end
    tail_bytes: bytes | None = first[pixel.end :] if fmap.size <= len(first) else None
    shapes: list[bool] = []
    for base, buf in fmap.windows:
        if base == 0 and buf == first:
            shapes.append(False)
        elif base == pixel.end and len(buf) == tail_n and fmap.size > len(first):
            shapes.append(True)
            tail_bytes = buf
        else:
            return
    if tail_n == 0:
        tail_bytes = b""
    if tail_bytes is None:
        return
    head: list[tuple[int, int]] = []  # the spans the walk reads (see the functions above)
    for tag, _, start, value, _, after in fmap.meta_elements:
        head.append((start, value))
        if tag == 0x00020010:
            head.append((value, after))
    tail: list[tuple[int, int]] = []
    for _, _, start, value, _, _ in fmap.elements:
        if start <= pixel.start:
            head.append((start, value))
        else:
            tail.append((start - pixel.end, value - pixel.end))
    for start, end in fmap.nested:
        if end <= pixel.start:
            head.append((start, end))
        elif start >= pixel.end:
            tail.append((start - pixel.end, end - pixel.end))
        else:
            return  # (the fragments of another bulk element inside Pixel Data: not expected)
    if len(_LAYOUTS) >= 64:
        _LAYOUTS.clear()
    _LAYOUTS[(fmap.kind, fmap.size)] = _Layout(
        _with_windows(fmap, ()),
        len(first),
        tuple(shapes),
        _segments(head, memoryview(first)[: pixel.value_start]),
        _segments(tail, tail_bytes),
    )


def _recall(fh: BinaryIO, size: int, kind: Kind, first: bytes) -> FileMap | None:
    """The map of a file whose bytes read by the walk are those of a file walked before, of the
    same kind and size, with as many bytes in the first read: the walk, which reads nothing else,
    would find the same structure in the same windows. Its tail is read (the walk would read it
    too); None when the layout is not one remembered."""
    layout = _LAYOUTS.get((kind, size))
    if layout is None or len(first) != layout.first:
        return None
    fmap = layout.fmap
    pixel = fmap.pixel
    assert pixel is not None
    if not _matches(memoryview(first)[: pixel.value_start], layout.head):
        return None
    tail: bytes | None = b""
    if size <= len(first):
        tail = first[pixel.end :]
    elif pixel.end < size:
        tail = read_bytes(fh, pixel.end, size - pixel.end)
    if tail is None or not _matches(tail, layout.tail):
        return None
    return _with_windows(
        fmap, tuple((pixel.end, tail) if t else (0, first) for t in layout.windows)
    )


def _with_windows(fmap: FileMap, windows: tuple[tuple[int, bytes], ...]) -> FileMap:
    """``dataclasses.replace(fmap, windows=windows)``, without its checks (a tenth of the time)."""
    made = object.__new__(FileMap)
    vars(made).update(vars(fmap), windows=windows)
    return made


def remembered(fmap: FileMap) -> bool:
    """Whether ``fmap`` has the layout remembered for files of its kind and size, so that the next
    such file is likely mapped from it (with the same ``elements``, the very same tuple)."""
    layout = _LAYOUTS.get((fmap.kind, fmap.size))
    return layout is not None and layout.fmap.elements is fmap.elements
