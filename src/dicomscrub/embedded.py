"""Text that compressed pixel data carries beside the pixels: the comment and application segments
of a JPEG frame (COM, APP0-APP15: a JFIF or Exif header, a converter's note) and the comments of
a JPEG 2000 codestream (COM). They are metadata, not pixels: an Exif header holds the date and
time a photograph was taken, the camera's owner and serial number, a converter may write the
patient's name into a comment. dicomscrub copies Pixel Data unchanged, so ``run``'s leak check
searches these segments too (see :func:`dicomscrub.check.find_leaks`): a frame whose segments hold
an identifying value of its input makes the file ``rejected``, never written.

Only the frames' headers are read (up to :data:`HEADER_LIMIT` bytes of each fragment that starts
a JPEG or JPEG 2000 codestream, and the segments found there), never the compressed pixels.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable, Sequence

Read = Callable[[int, int], bytes]
"""``read(offset, size)``: at most ``size`` bytes of the encapsulated value from ``offset``."""

HEADER_LIMIT = 1 << 20
"""Bytes of a codestream read at most for its header segments (they precede the pixels)."""
FRAMES_LIMIT = 100_000
"""Fragments looked at, at most (a file of more frames has its first ones looked at)."""
CHUNK = 4096
"""Bytes of a codestream read at once: most headers fit (tables, a JFIF segment); a longer
segment (an Exif header, up to 64 KB) is read on its own. Small, since the rest of the chunk is
compressed pixels, read for nothing, frame after frame."""

_ITEM = b"\xfe\xff\x00\xe0"
_SOI, _SOS, _COM = 0xD8, 0xDA, 0xFE
_J2K_SOC, _J2K_SOT, _J2K_COM = 0xFF4F, 0xFF90, 0xFF64
_STARTS = (b"\xff\xd8", b"\xff\x4f")  # SOI of JPEG (and JPEG-LS), SOC of JPEG 2000
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length


def from_bytes(value: bytes) -> list[tuple[str, bytes]]:
    """:func:`segments` of an encapsulated value held in memory."""
    return segments(_reader(value), len(value))


def from_fragments(fragments: Sequence[bytes | memoryview]) -> list[tuple[str, bytes]]:
    """:func:`segments` of the fragments of an encapsulated value, numbered as there: the Basic
    Offset Table is fragment 0 (left out of ``fragments`` when empty: then the first one starts a
    codestream)."""
    first = 1 if fragments and fragments[0][:2] in _STARTS else 0
    pieces = [
        (_reader(fragment), len(fragment), number)
        for number, fragment in enumerate(fragments, start=first)
        if number > 0
    ]
    return _frames(pieces)


def _reader(data: bytes | memoryview) -> Read:
    return lambda offset, size: bytes(data[offset : offset + size])


def segments(read: Read, length: int) -> list[tuple[str, bytes]]:
    """(where, payload) of every comment and application segment in the frames of an
    encapsulated Pixel Data value of ``length`` bytes, e.g. ("JPEG APP1 segment in fragment 2 of
    Pixel Data", b"Exif..."). A frame may span fragments: its segments are read across them.
    Malformed data ends the walk quietly (the structural walk already vouched for the items; a
    codestream's inside is the decoder's business)."""
    pieces: list[tuple[Read, int, int]] = []
    pos, fragment = 0, 0
    while pos + 8 <= length and fragment <= FRAMES_LIMIT:
        head = read(pos, 8)
        if len(head) < 8 or head[:4] != _ITEM:
            break
        size = struct.unpack("<L", head[4:])[0]
        start = pos + 8
        if fragment > 0:  # (the first item is the Basic Offset Table)
            size = min(size, max(0, length - start))
            pieces.append((_within(read, start), size, fragment))
        pos = start + size
        fragment += 1
    return _frames(pieces)


def _within(read: Read, start: int) -> Read:
    return lambda offset, size: read(start + offset, size)


def _frames(pieces: list[tuple[Read, int, int]]) -> list[tuple[str, bytes]]:
    """The segments of each codestream that starts a fragment of ``pieces`` ((read, size,
    number)), read on across the fragments after it as one stream of bytes."""
    starts = [0]
    for _, size, _ in pieces:
        starts.append(starts[-1] + size)
    total = starts[-1]

    def stream(offset: int, count: int) -> bytes:
        i = bisect.bisect_right(starts, offset) - 1
        out = b""
        while count > 0 and 0 <= i < len(pieces):
            read, size, _ = pieces[i]
            within = offset - starts[i]
            if within < size:
                part = read(within, min(count, size - within))
                if not part:
                    break
                out += part
                offset += len(part)
                count -= len(part)
            else:
                i += 1
        return out

    found: list[tuple[str, bytes]] = []
    for i, (read, size, number) in enumerate(pieces):
        if size < 2 or read(0, 2) not in _STARTS:
            continue
        at = _within(stream, starts[i])
        found += _codestream(at, min(total - starts[i], HEADER_LIMIT), number)
    return found


def _codestream(at: Read, size: int, fragment: int) -> list[tuple[str, bytes]]:
    chunk = at(0, min(size, CHUNK))  # the header, nearly always, in one read
    first = chunk[:2]

    def cached(offset: int, count: int) -> bytes:
        if offset + count <= len(chunk):
            return chunk[offset : offset + count]
        return at(offset, count)

    return (_jpeg if first == b"\xff\xd8" else _j2k)(cached, size, fragment)


def _jpeg(at: Read, end: int, fragment: int) -> list[tuple[str, bytes]]:
    """The APPn and COM segments of a JPEG (or JPEG-LS) stream, up to its first scan."""
    found: list[tuple[str, bytes]] = []
    pos = 2
    while pos + 2 <= end:
        marker = at(pos, 2)
        if len(marker) < 2 or marker[0] != 0xFF:
            break
        code = marker[1]
        if code == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if code in _STANDALONE or code == _SOI:
            pos += 2
            continue
        if code == _SOS:
            break
        field = at(pos + 2, 2)
        if len(field) < 2:
            break
        seg = struct.unpack(">H", field)[0]
        if seg < 2 or pos + 2 + seg > end:
            break
        if 0xE0 <= code <= 0xEF or code == _COM:
            payload = at(pos + 4, seg - 2)
            what = "comment" if code == _COM else f"APP{code - 0xE0} segment"
            found.append((f"JPEG {what} in fragment {fragment} of Pixel Data", payload))
        pos += 2 + seg
    return found


def _j2k(at: Read, end: int, fragment: int) -> list[tuple[str, bytes]]:
    """The COM segments of a JPEG 2000 codestream's main header (up to its first tile)."""
    found: list[tuple[str, bytes]] = []
    pos = 2
    while pos + 4 <= end:
        head = at(pos, 4)
        if len(head) < 4:
            break
        marker, seg = struct.unpack(">HH", head)
        if marker == _J2K_SOT or marker >> 8 != 0xFF or seg < 2 or pos + 2 + seg > end:
            break
        if marker == _J2K_COM and seg > 4:
            payload = at(pos + 6, seg - 4)  # after Lcom and Rcom
            found.append((f"JPEG 2000 comment in fragment {fragment} of Pixel Data", payload))
        pos += 2 + seg
    return found
