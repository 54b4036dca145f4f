"""Text that compressed pixel data carries beside the pixels: the comment and application segments
of a JPEG frame (COM, APP0-APP15: a JFIF or Exif header, a converter's note) and the comments of
a JPEG 2000 codestream (COM). They are metadata, not pixels: an Exif header holds the date and
time a photograph was taken, the camera's owner and serial number, a converter may write the
patient's name into a comment. dicomscrub copies Pixel Data unchanged, so ``run``'s leak check
searches these segments too (see :func:`dicomscrub.check.find_leaks`): a frame whose segments hold
an identifying value of its input makes the file ``rejected``, never written.

A JPEG frame's header is walked segment by segment up to its first scan; the rest of the frame
is then searched at C speed for the markers of comment and application segments (which may come
between the scans of a progressive or hierarchical JPEG), since entropy-coded data never holds
them (a 0xFF byte there is followed by 0x00 or a restart marker, in JPEG-LS by a byte below 0x80);
bytes after a frame's end of image other than padding count too. A JPEG 2000 codestream's main
header and each tile-part header are walked (jumping from tile-part to tile-part by their
lengths, never reading the coded data), and the bytes after its end of codestream (EOC) other than
padding count too: the EOC is where the lengths lead, else (a last tile-part of length 0, "up to
the EOC", or one that runs past the frame's end) the first FF D9 after that tile-part's header,
searched for at C speed (coded data never holds it: a 0xFF there is followed by a byte below
0x90). A codestream wrapped in a JP2 file has the contents of its boxes other than the codestream
(XML, UUID, IPR ...) searched as well, and whatever follows its last whole box. A video stream
(the MPEG transfer syntaxes) has its user data and SEI units searched (see :func:`_video`). An RLE
frame has the bytes after each segment's runs and its header's unused offsets searched (see
:func:`_rle_text`).
"""

from __future__ import annotations

import bisect
import itertools
import re
import struct
from collections.abc import Callable, Sequence

Read = Callable[[int, int], bytes]
"""``read(offset, size)``: at most ``size`` bytes of the encapsulated value from ``offset``."""

HEADER_LIMIT = 1 << 20
"""Bytes of a codestream read at most for its header segments (they precede the pixels)."""
FRAMES_LIMIT = 100_000
"""Fragments looked at, at most: a value of more raises :class:`Unsearchable` (``run`` rejects the
file). A reference per fragment is held while its frames are read: this bounds that memory."""
CHUNK = 4096
"""Bytes of a codestream read at once: most headers fit (tables, a JFIF segment); a longer
segment (an Exif header, up to 64 KB) is read on its own. Small, since the rest of the chunk is
compressed pixels, read for nothing, frame after frame."""

SCAN_CHUNK = 1 << 20
"""Bytes of a JPEG frame's coded data searched at once for segment markers."""
SEARCH_LIMIT = 4 << 20
"""Bytes of text beside the pixels of one frame (segments after its scans, data after its end of
image, JP2 boxes) searched at most: a frame that holds more (coded data that is not, a file
appended to a frame) raises :class:`Unsearchable`, and ``run`` rejects it (fail closed)."""


class Unsearchable(Exception):
    """A frame holds more text beside its pixels than is searched (:data:`SEARCH_LIMIT`)."""


def _spend(budget: list[int], size: int, what: str, fragment: int) -> None:
    budget[0] -= size
    if budget[0] < 0:
        raise Unsearchable(
            f"{what} in fragment {fragment} of Pixel Data: more than "
            f"{SEARCH_LIMIT >> 20} MB of text beside the pixels, too much to search"
        )


_ITEM = b"\xfe\xff\x00\xe0"
_SOI, _SOS, _COM = 0xD8, 0xDA, 0xFE
_J2K_SOC, _J2K_SOT, _J2K_COM, _J2K_SOD = 0xFF4F, 0xFF90, 0xFF64, 0xFF93
_JP2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n"  # the JP2 signature box
_FTYP = 72  # length of a JP2 file type box not searched at most: a brand, a dozen compatible
_STARTS = (b"\xff\xd8", b"\xff\x4f")  # SOI of JPEG (and JPEG-LS), SOC of JPEG 2000
_VIDEO_STARTS = (b"\x00\x00\x01", b"\x00\x00\x00\x01")  # a start code: MPEG-2, -4, H.264, H.265
_START_CODE = b"\x00\x00\x01"
_MPEG_HEADERS = frozenset({0xB0, 0xB3, 0xB5, 0xB8})  # MPEG-2 / MPEG-4 Part 2 stream headers
_MPEG_USER_DATA = 0xB2
_HEVC_HEADERS = frozenset({32, 33, 34, 35})  # VPS, SPS, PPS, access unit delimiter
_HEVC_SEI = frozenset({39, 40})  # prefix and suffix SEI
_AVC_SEI = 6
_MARKER = re.compile(rb"\xff[\xe0-\xef\xfe]")
"""An APPn or COM marker: never in entropy-coded data (see the module's notes)."""
_EOI = b"\xff\xd9"
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length


def from_bytes(value: bytes, plane: int | None = None) -> list[tuple[str, bytes]]:
    """:func:`segments` of an encapsulated value held in memory."""
    return segments(reader(value), len(value), plane)


def from_fragments(
    fragments: Sequence[bytes | memoryview], plane: int | None = None
) -> list[tuple[str, bytes]]:
    """:func:`segments` of the items of an encapsulated value, numbered as there: the first is
    the Basic Offset Table (empty, or offsets), the others its fragments."""
    pieces = [
        (reader(fragment), len(fragment), number)
        for number, fragment in enumerate(fragments)
        if number > 0
    ]
    table = _offset_table(reader(fragments[0]), len(fragments[0])) if fragments else []
    return table + _frames(pieces, plane)


def _offset_table(read: Read, size: int) -> list[tuple[str, bytes]]:
    """The Basic Offset Table (the first item of an encapsulated value) as text to search when
    it is not one: offsets are 4-byte numbers, the first 0, none smaller than the one before.
    Anything else there (a name) is copied with the pixels, and no decoder reads it."""
    if size == 0:
        return []
    table = read(0, min(size, SEARCH_LIMIT))
    if size % 4 == 0 and len(table) == size:
        offsets = struct.unpack(f"<{size // 4}L", table)
        if offsets[0] == 0 and all(a <= b for a, b in itertools.pairwise(offsets)):
            return []
    if size > SEARCH_LIMIT:
        raise Unsearchable(
            f"the Basic Offset Table of Pixel Data holds no offsets and more than "
            f"{SEARCH_LIMIT >> 20} MB, too much to search"
        )
    return [("Basic Offset Table of Pixel Data (no offsets)", table)]


def _starts_codestream(head: bytes) -> bool:
    """A JPEG, JPEG 2000 or JP2 codestream, or a video stream (a start code), starts with
    ``head`` (its first 12 bytes). (A Basic Offset Table never does: its first offset is 0.)"""
    return head[:2] in _STARTS or head[:12] == _JP2 or head.startswith(_VIDEO_STARTS)


def reader(data: bytes | memoryview) -> Read:
    """A :data:`Read` of ``data`` in memory."""
    return lambda offset, size: bytes(data[offset : offset + size])


PHOTOMETRIC = 0x00280004
FRAME_TAGS = frozenset({0x00280002, PHOTOMETRIC, 0x00280008, 0x00280010, 0x00280011, 0x00280100})
"""Samples per Pixel, Photometric Interpretation, Number of Frames, Rows, Columns, Bits
Allocated: the size of the frames of native pixel data."""
HALF_CHROMA = frozenset({"YBR_FULL_422", "YBR_PARTIAL_422"})
"""Colour models whose two chrominance samples are shared by two pixels: a frame holds two
samples a pixel, not three (PS3.3 C.7.6.3.1.2)."""
AFTER_FRAMES = "Pixel Data, after its frames"
UNSIZED = "Pixel Data, frames of unknown size"


def frame_value(tag: int, value: bytes, little: bool) -> int:
    """The number one of :data:`FRAME_TAGS` holds, from its value's bytes (Number of Frames: IS,
    text; Photometric Interpretation: see :func:`photometric_value`; the others US). ValueError
    (or UnicodeDecodeError) where it holds none."""
    if tag == PHOTOMETRIC:
        return photometric_value(value.decode("ascii"))
    if tag == 0x00280008:
        return int(value.decode("ascii").strip(" \0") or 1)
    if len(value) < 2:
        raise ValueError("no US value")
    return int.from_bytes(value[:2], "little" if little else "big")


def photometric_value(text: str) -> int:
    """Photometric Interpretation as a number for :func:`frames_size`: 1 for a colour model of
    :data:`HALF_CHROMA`, else 0."""
    return int(text.strip(" \0").upper() in HALF_CHROMA)


def plane_size(values: dict[int, int]) -> int | None:
    """Rows x Columns (``values`` as for :func:`frames_size`): the bytes each segment of an RLE
    frame decodes to; None where they do not say."""
    rows, columns = values.get(0x00280010), values.get(0x00280011)
    return rows * columns if rows and columns and rows > 0 and columns > 0 else None


def frames_size(values: dict[int, int], pixel_tag: int) -> int | None:
    """The bytes native pixel data of ``pixel_tag`` holds by its image attributes (``values``:
    tag -> number, of :data:`FRAME_TAGS`): Rows x Columns x Samples per Pixel x Number of Frames
    x bits per sample (Bits Allocated; 32 for Float Pixel Data, 64 for Double Float), in bytes,
    two samples a pixel for a colour model of :data:`HALF_CHROMA`; None where they do not say."""
    bits = {0x7FE00008: 32, 0x7FE00009: 64}.get(pixel_tag) or values.get(0x00280100)
    rows, columns = values.get(0x00280010), values.get(0x00280011)
    samples, frames = values.get(0x00280002, 1), values.get(0x00280008, 1)
    if not (rows and columns and bits and samples) or min(rows, columns, samples) < 0:
        return None
    if samples == 3 and values.get(PHOTOMETRIC):
        samples = 2
    return (rows * columns * samples * max(frames, 1) * bits + 7) // 8


def after_frames(read: Read, size: int, frames: int | None) -> list[tuple[str, bytes]]:
    """The bytes of a native pixel data value of ``size`` bytes after its frames (``frames``
    bytes, see :func:`frames_size`; its pad byte aside), where a device may have put text (a
    name, an ID after the image): searched as compressed frames' text is. Where the size of the
    frames is not known (``frames`` None: no Rows, a Number of Frames that is no number), the
    whole value is searched (fail closed). More than :data:`SEARCH_LIMIT` raises
    :class:`Unsearchable`."""
    if frames is None:
        if size > SEARCH_LIMIT:
            raise Unsearchable(
                f"Pixel Data of {size} bytes whose image attributes do not give the size of its "
                f"frames (Rows, Columns, Bits Allocated or Number of Frames missing or no "
                f"number): more than {SEARCH_LIMIT >> 20} MB, too much to search"
            )
        return [(UNSIZED, read(0, size))] if size else []
    if size - frames <= 1:
        return []
    if size - frames > SEARCH_LIMIT:
        raise Unsearchable(
            f"{size - frames} bytes in Pixel Data after its frames: more than "
            f"{SEARCH_LIMIT >> 20} MB, too much to search"
        )
    return [(AFTER_FRAMES, read(frames, size - frames))]


def segments(read: Read, length: int, plane: int | None = None) -> list[tuple[str, bytes]]:
    """(where, payload) of every comment and application segment in the frames of an
    encapsulated Pixel Data value of ``length`` bytes, e.g. ("JPEG APP1 segment in fragment 2 of
    Pixel Data", b"Exif..."). A frame may span fragments: its segments are read across them.
    Malformed data ends the walk quietly (the structural walk already vouched for the items; a
    codestream's inside is the decoder's business); more than :data:`FRAMES_LIMIT` fragments
    raise :class:`Unsearchable`. ``plane``: Rows x Columns, the bytes each
    segment of an RLE frame decodes to (see :func:`_rle_text`); None where it is not known."""
    pieces: list[tuple[Read, int, int]] = []
    table: list[tuple[str, bytes]] = []
    pos, fragment = 0, 0
    while pos + 8 <= length:
        head = read(pos, 8)
        if len(head) < 8 or head[:4] != _ITEM:
            break
        if fragment > FRAMES_LIMIT:
            raise Unsearchable(
                f"Pixel Data of more than {FRAMES_LIMIT} fragments, too many to search"
            )
        size = struct.unpack("<L", head[4:])[0]
        start = pos + 8
        if fragment > 0:  # (the first item is the Basic Offset Table)
            size = min(size, max(0, length - start))
            pieces.append((_within(read, start), size, fragment))
        else:
            table = _offset_table(_within(read, start), min(size, max(0, length - start)))
        pos = start + size
        fragment += 1
    return table + _frames(pieces, plane)


def _within(read: Read, start: int) -> Read:
    return lambda offset, size: read(start + offset, size)


def _frames(pieces: list[tuple[Read, int, int]], plane: int | None) -> list[tuple[str, bytes]]:
    """The segments of each codestream that starts a fragment of ``pieces`` ((read, size,
    number)), read on across the fragments after it as one stream of bytes; the text of the RLE
    frames among them (one fragment each), where ``plane`` is known."""
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

    heads = [
        i
        for i, (read, size, _) in enumerate(pieces)
        if size >= 2 and _starts_codestream(read(0, 12))
    ]
    found: list[tuple[str, bytes]] = []
    # (fragments before the first codestream belong to no frame: a codestream found inside one
    # starts a frame there, and the bytes before it are text no decoder reads; where frames
    # follow, one without a codestream, not an RLE frame, is such text too)
    starts_at = {i: 0 for i in heads}
    for i in range(min(heads[0] if heads else len(pieces), LEAD_FRAGMENTS)):
        read, size, number = pieces[i]
        if _RLE_HEADER.match(read(0, 8)):  # (an RLE frame: segments, no codestream)
            continue
        head = read(0, min(size, LEAD_LIMIT))
        at = _codestream_in(head)
        if at is None:
            if heads:  # (before the first frame: no decoder reads it; its first 64 KB searched)
                found.append((f"fragment {number} of Pixel Data (no codestream)", head))
            # (no frame at all: a codec not known here, such as JPEG XL or deflated frames,
            # whose bytes are not text to search)
        else:
            found.append((f"fragment {number} of Pixel Data, before its codestream", head[:at]))
            starts_at[i] = at
    firsts = sorted(starts_at)
    for k, i in enumerate(firsts):
        end = starts[firsts[k + 1]] if k + 1 < len(firsts) else total
        begin = starts[i] + starts_at[i]
        found += _codestream(_within(stream, begin), end - begin, pieces[i][2])
    if plane and not heads:
        walked = 0
        for read, size, number in pieces:
            if size > 64 and _RLE_HEADER.match(read(0, 8)):
                walk = walked + size <= RLE_WALK_LIMIT
                walked += size if walk else 0
                frame = read(0, size) if walk else read(0, 64)
                found += _rle_text(frame, plane, number, walk)
    return found


RLE_WALK_LIMIT = 16 << 20
"""Bytes of RLE frames whose segments are walked, at most, per Pixel Data value (the walk is
Python's: about 75 ns a byte at worst, a second for this many); the headers of the frames after
them are still searched."""


def _rle_text(
    frame: bytes, plane: int, fragment: int, walk: bool = True
) -> list[tuple[str, bytes]]:
    """What an RLE frame (PS3.5 G.3) holds that no decoder reads: the unused offsets of its
    header, when not zero, and the bytes of each segment after its ``plane`` decoded bytes
    (Rows x Columns), but for the zero bytes that pad it. A segment's end is found by walking
    its runs (a count byte, then that many bytes or one byte repeated), never decoding them. A
    header whose offsets do not rise within the frame is the decoder's business: not searched.
    More than :data:`SEARCH_LIMIT` bytes raises :class:`Unsearchable`. Without ``walk``, only the
    header (``frame``: its first 64 bytes at least) is searched."""
    count = frame[0]
    found: list[tuple[str, bytes]] = []
    unused = frame[4 + 4 * count : 64]
    if unused.strip(b"\0"):
        found.append((f"RLE header in fragment {fragment} of Pixel Data", unused))
    offsets = [*struct.unpack("<15L", frame[4:64])[:count], len(frame)]
    if not walk or any(b < a for a, b in itertools.pairwise(offsets)):  # (last: the frame's end)
        return found
    budget = [SEARCH_LIMIT]
    for segment, (start, end) in enumerate(itertools.pairwise(offsets), 1):
        pos, made = start, 0
        while made < plane and pos < end:
            n = frame[pos]
            if n < 128:  # n + 1 bytes follow, each one decoded byte
                made += n + 1
                pos += n + 2
            elif n > 128:  # one byte follows, repeated 257 - n times
                made += 257 - n
                pos += 2
            else:  # (-128: a no-op)
                pos += 1
        tail = frame[pos:end]
        if tail.strip(b"\0"):
            _spend(budget, len(tail), f"RLE segment {segment}", fragment)
            where = f"RLE segment {segment} of fragment {fragment} of Pixel Data, after its pixels"
            found.append((where, tail))
    return found


LEAD_LIMIT = 1 << 16
"""Bytes of a fragment that starts no codestream looked at for one (text written before it)."""
LEAD_FRAGMENTS = 16
"""Fragments before the first codestream looked at so, at most."""
_RLE_HEADER = re.compile(rb"[\x01-\x0f]\x00\x00\x00\x40\x00\x00\x00", re.DOTALL)
"""The start of an RLE frame's header: 1 to 15 segments, the first at offset 64."""
_CODESTREAM = re.compile(rb"\xff\xd8\xff|\xff\x4f\xff\x51|" + re.escape(_JP2))


def _codestream_in(head: bytes) -> int | None:
    """Where a JPEG, JPEG 2000 or JP2 codestream starts in ``head`` after its first byte."""
    m = _CODESTREAM.search(head, 1)
    return m.start() if m else None


def _codestream(at: Read, size: int, fragment: int) -> list[tuple[str, bytes]]:
    """The segments of the frame of ``size`` bytes that ``at`` reads."""
    chunk = at(0, min(size, CHUNK))  # the header, nearly always, in one read

    def cached(offset: int, count: int) -> bytes:
        if offset + count <= len(chunk):
            return chunk[offset : offset + count]
        return at(offset, count)

    if chunk[:2] == b"\xff\xd8":
        return _jpeg(cached, size, fragment)
    if chunk[:12] == _JP2:
        return _jp2(cached, size, fragment)
    if chunk.startswith(_VIDEO_STARTS):
        return _video(cached, size, fragment)
    return _j2k(cached, size, fragment)


def _video(at: Read, end: int, fragment: int) -> list[tuple[str, bytes]]:
    """The units of a video stream (MPEG-2, MPEG-4 Part 2, H.264, H.265: Pixel Data of the MPEG
    transfer syntaxes) that carry text beside the pictures: MPEG user data, H.264 and H.265 SEI
    messages (a recorder's or converter's user data may hold the patient's name), each up to the
    next start code. The codec is told by the stream's first unit. Start codes are searched for
    at C speed (coded data never holds one: emulation prevention); at most :data:`SEARCH_LIMIT`
    bytes of such units are searched (else :class:`Unsearchable`)."""
    head = at(0, 6)
    first = head[3] if head[2] == 1 else head[4]
    if first in _MPEG_HEADERS:
        carries: Callable[[int], bool] = lambda unit: unit == _MPEG_USER_DATA  # noqa: E731
        what = "MPEG user data"
    elif (first >> 1) & 0x3F in _HEVC_HEADERS and not first & 0x80:
        carries = lambda unit: (unit >> 1) & 0x3F in _HEVC_SEI  # noqa: E731
        what = "H.265 SEI message"
    else:
        carries = lambda unit: unit & 0x9F == _AVC_SEI  # noqa: E731
        what = "H.264 SEI message"
    starts: list[int] = []  # where each unit's type byte is
    offset = 0
    while offset < end:
        chunk = at(offset, min(SCAN_CHUNK + 3, end - offset))  # (+3: a code across chunks)
        if not chunk:
            break
        found_at = chunk.find(_START_CODE)
        while 0 <= found_at < SCAN_CHUNK:
            if found_at + 3 < len(chunk) and carries(chunk[found_at + 3]):
                starts.append(offset + found_at + 3)
            found_at = chunk.find(_START_CODE, found_at + 3)
        offset += SCAN_CHUNK
    budget = [SEARCH_LIMIT]
    found: list[tuple[str, bytes]] = []
    for pos in starts:
        unit = at(pos, min(end - pos, budget[0] + 1))  # (one byte more than may be searched)
        stop = unit.find(_START_CODE)
        unit = unit[: stop if stop >= 0 else len(unit)]
        _spend(budget, len(unit), f"{what}s", fragment)
        found.append((f"{what} in fragment {fragment} of Pixel Data", unit))
    return found


def _jpeg(at: Read, end: int, fragment: int) -> list[tuple[str, bytes]]:
    """The APPn and COM segments of a JPEG (or JPEG-LS) frame of ``end`` bytes: those of its
    header, walked up to its first scan, then those after it (:func:`_jpeg_after_scan`)."""
    found: list[tuple[str, bytes]] = []
    header_end = min(end, HEADER_LIMIT)
    pos = 2
    while pos + 2 <= header_end:
        marker = at(pos, 2)
        if len(marker) < 2 or marker[0] != 0xFF:
            break  # (a stray byte, which decoders skip: the markers are searched from here)
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
            found.append(_jpeg_segment(at, pos, code, seg, fragment, ""))
        pos += 2 + seg
    return found + _jpeg_after_scan(at, pos, end, fragment)


def _jpeg_segment(
    at: Read, pos: int, code: int, seg: int, fragment: int, where: str
) -> tuple[str, bytes]:
    payload = at(pos + 4, seg - 2)
    what = "comment" if code == _COM else f"APP{code - 0xE0} segment"
    return (f"JPEG {what}{where} in fragment {fragment} of Pixel Data", payload)


def _jpeg_after_scan(at: Read, start: int, end: int, fragment: int) -> list[tuple[str, bytes]]:
    """The APPn and COM segments from ``start`` (the first scan, or where the header walk could
    not go on) to the frame's ``end``, found by their markers, and what follows each end of image
    (EOI) up to the next EOI, other than padding; at most
    :data:`SEARCH_LIMIT` bytes in all (else :class:`Unsearchable`)."""
    found: list[tuple[str, bytes]] = []
    budget = [SEARCH_LIMIT]
    eois: list[int] = []
    offset = start
    while offset < end:
        chunk = at(offset, min(SCAN_CHUNK + 1, end - offset))  # (+1: a marker across chunks)
        if not chunk:
            break
        for m in _MARKER.finditer(chunk):
            pos = offset + m.start()
            field = at(pos + 2, 2)
            if len(field) < 2:
                continue
            seg = struct.unpack(">H", field)[0]
            if seg >= 2:  # (one that runs past the frame's end: what the frame holds of it)
                seg = min(seg, end - pos - 2)
                code = chunk[m.start() + 1]
                _spend(budget, seg, "JPEG segments after a scan", fragment)
                found.append(_jpeg_segment(at, pos, code, seg, fragment, " after a scan"))
        at_eoi = chunk.find(_EOI)
        while 0 <= at_eoi < SCAN_CHUNK:
            _spend(budget, 64, "ends of a JPEG image", fragment)  # (each costs a list entry)
            eois.append(offset + at_eoi)
            at_eoi = chunk.find(_EOI, at_eoi + 2)
        offset += SCAN_CHUNK
    where = f"data after the end of a JPEG image in fragment {fragment} of Pixel Data"
    for i, eoi in enumerate(eois):
        stop = eois[i + 1] if i + 1 < len(eois) else end
        if stop <= eoi + 2:
            continue
        _spend(budget, stop - eoi - 2, "data after the end of a JPEG image", fragment)
        tail = at(eoi + 2, stop - eoi - 2)
        if tail.strip(b"\0\xff"):  # (padding: zeros, or fill bytes)
            found.append((where, tail))
    return found


def _j2k(
    at: Read, end: int, fragment: int, budget: list[int] | None = None
) -> list[tuple[str, bytes]]:
    """The COM segments of a JPEG 2000 codestream: of its main header, then of each tile-part
    header, going from tile-part to tile-part by the length in its SOT segment; then what follows
    its end of codestream (EOC), other than padding (:func:`_j2k_after_eoc`)."""
    found: list[tuple[str, bytes]] = []
    pos = _j2k_header(at, 2, end, fragment, found)
    while pos + 12 <= end:
        sot = at(pos, 12)
        if len(sot) < 12 or struct.unpack(">H", sot[:2])[0] != _J2K_SOT:
            break
        psot = struct.unpack(">L", sot[6:10])[0]
        stop = _j2k_header(
            at, pos + 12, end if psot == 0 else min(end, pos + psot), fragment, found
        )
        if psot < 14 or pos + psot > end:
            # 0: the last tile-part, up to the EOC; one that runs past the frame's end (or too
            # short to be one): where its EOC is, only a search for it tells
            pos = stop
            break
        pos += psot
    return found + _j2k_after_eoc(
        at, pos, end, fragment, [SEARCH_LIMIT] if budget is None else budget
    )


def _j2k_header(at: Read, pos: int, end: int, fragment: int, found: list[tuple[str, bytes]]) -> int:
    """Walk a header's marker segments from ``pos`` up to SOT or SOD, adding the COM segments to
    ``found`` (what the frame holds of one that runs past ``end``); returns where the walk
    stopped: at SOT, SOD, or where it could not go on."""
    while pos + 4 <= end:
        head = at(pos, 4)
        if len(head) < 4:
            break
        marker, seg = struct.unpack(">HH", head)
        if marker in (_J2K_SOT, _J2K_SOD) or marker >> 8 != 0xFF or seg < 2:
            break
        if marker == _J2K_COM and seg > 4:
            payload = at(pos + 6, min(seg, end - pos - 2) - 4)  # after Lcom and Rcom
            found.append((f"JPEG 2000 comment in fragment {fragment} of Pixel Data", payload))
        if pos + 2 + seg > end:
            break
        pos += 2 + seg
    return pos


def _j2k_after_eoc(
    at: Read, pos: int, end: int, fragment: int, budget: list[int]
) -> list[tuple[str, bytes]]:
    """What follows a codestream's EOC up to the frame's ``end``, other than padding: the EOC is
    at ``pos`` (where the walk from tile-part to tile-part ended), else the first one after it,
    searched for at C speed (coded data never holds FF D9: a 0xFF there is followed by a byte
    below 0x90); at most the ``budget`` of bytes (else :class:`Unsearchable`)."""
    head = at(pos, max(0, min(end - pos, 64)))  # (the EOC and its padding, nearly always)
    if head[:2] != _EOI:  # (FF D9 is JPEG 2000's EOC too)
        head, eoc = b"", -1
        offset = pos
        while eoc < 0 and offset < end:
            chunk = at(offset, min(SCAN_CHUNK + 1, end - offset))  # (+1: an EOC across chunks)
            if not chunk:
                break
            found_at = chunk.find(_EOI)
            eoc = offset + found_at if found_at >= 0 else -1
            offset += SCAN_CHUNK
        if eoc < 0:
            return []  # (no EOC: coded data up to the end, or a walk that found none)
        pos = eoc
    size = end - pos - 2
    if size <= 0:
        return []
    _spend(budget, size, "data after the end of a JPEG 2000 codestream", fragment)
    tail = head[2:] if len(head) == end - pos else at(pos + 2, size)
    if not tail.strip(b"\0\xff"):  # (padding: zeros, or fill bytes)
        return []
    where = f"data after the end of a JPEG 2000 codestream in fragment {fragment} of Pixel Data"
    return [(where, tail)]


def _jp2(at: Read, end: int, fragment: int) -> list[tuple[str, bytes]]:
    """A JPEG 2000 codestream wrapped in JP2 boxes: the contents of every box but the
    codestream (jp2c, when it starts as one), which is read as one (:func:`_j2k`), and but the
    signature and file type boxes of their usual size; superboxes whole. What follows the last
    whole box (bytes that make no box, or a box other than the codestream that runs past the
    frame's end, its header included) counts too, other than padding."""
    found: list[tuple[str, bytes]] = []
    budget = [SEARCH_LIMIT]
    pos = 0
    while pos + 8 <= end:
        head = at(pos, 16)
        if len(head) < 8:
            break
        if not head[:8].strip(b"\0\xff"):
            break  # (padding, as zeros make a box of length 0: to the end)
        length, kind = struct.unpack(">L", head[:4])[0], head[4:8]
        start = pos + 8
        if length == 1 and len(head) >= 16:
            length, start = struct.unpack(">Q", head[8:16])[0], pos + 16
        usual = (kind == b"jP  " and length == 12) or (kind == b"ftyp" and 16 <= length <= _FTYP)
        if length == 0:
            length = end - pos
        codestream = kind == b"jp2c" and at(start, 2) == b"\xff\x4f"
        if length < start - pos or (length > end - pos and not codestream):
            break
        length = min(length, end - pos)  # (a codestream that runs past the end: what is there)
        size = length - (start - pos)
        if codestream:
            found += _j2k(_within(at, start), size, fragment, budget)
        elif not usual:
            name = kind.decode("latin-1").strip()
            _spend(budget, size, f"JP2 {name} box", fragment)
            found.append((f"JP2 {name} box in fragment {fragment} of Pixel Data", at(start, size)))
        pos += length
    if pos < end:
        _spend(budget, end - pos, "data after the last JP2 box", fragment)
        tail = at(pos, end - pos)
        if tail.strip(b"\0\xff"):  # (padding: zeros, or fill bytes)
            found.append(
                (f"data after the last JP2 box in fragment {fragment} of Pixel Data", tail)
            )
    return found
