"""Prove it: find what a de-identified tree still holds (``dicomscrub check``), and keep ``run``
from writing a file that holds an identifying value of its own input (the leak check).

``check OUT`` reads every file under OUT and reports, per file:

* ``not-marked``: Patient Identity Removed (0012,0062) is not YES, De-identification Method
  (0012,0063) is empty, or De-identification Method Code Sequence (0012,0064) has no 113100 item;
* ``must-be-removed``: a standard attribute that the profile removes (X) or empties (Z, and the
  compound codes that resolve to Z) holds a value, at any depth;
* ``private-not-allowed``: a private element the profile could not have kept (see
  :func:`private_allowed`), or one in a group PS3.5 forbids, or without a private creator;
* ``identifying-value`` (with ``--against IN``): a value of an input that the profile does not
  keep (see :func:`dicomscrub.identity.candidates`) found in an output's bytes (preamble, file meta,
  every value at any depth, undecoded and private data, overlays; sample data excluded) or in an
  output file or folder name;
* ``unverifiable``: a file that is not DICOM, cannot be read, or is left over from an interrupted
  write: nothing in it can be checked against the profile.

A report names the file, the tag path (or ``preamble``, ``raw bytes at offset N``, ``file name``,
``folder name``) and the kind of value, and shows an identifying value only masked
(:func:`dicomscrub.identity.mask`); path components that hold one are masked too.
"""

from __future__ import annotations

import bisect
import csv
import enum
import io
import itertools
import os
import re
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomscrub import embedded
from dicomscrub.actions import Action, Effect, resolve
from dicomscrub.discover import ALREADY_WALKED, discover, json_text, name_text
from dicomscrub.identity import (
    CLEANED,
    MIN_BINARY_RUN,
    MIN_BINARY_WORD,
    MIN_CHARS,
    MIN_DIGITS,
    NAMING,
    STRICT,
    UNRULED,
    VENDOR,
    Context,
    Exclusions,
    Matcher,
    Original,
    Token,
    ToolText,
    Unparsed,
    add_token,
    candidates,
    codecs_named,
    coded,
    encodings_of,
    excuses,
    kind_masked,
    mask,
    raw_counts,
    snapshot,
    standard_values,
    still_identifying,
    tool_text,
)
from dicomscrub.lanes import Split
from dicomscrub.layout import DEFLATED, EXPLICIT_BE, Layout, read_layout
from dicomscrub.needles import (
    META_CONTEXT,
    NeedleMemo,
    Needles,
    ascii_kept,
    meta_from_bytes,
    meta_unparsed,
    output_values,
    search_needles,
    sequence_originals,
)
from dicomscrub.pipeline import FREE_TEXT_VRS, Decision, Scrubber, ScrubResult
from dicomscrub.private import Declaration, find_declaration, read_declarations
from dicomscrub.profile.model import PRIVATE, CompiledProfile
from dicomscrub.profile.values import NARROW, unmarked
from dicomscrub.pseudonym import Pseudonymizer, random_key
from dicomscrub.state import STATE_DIR
from dicomscrub.tags import format_tag, is_private_group
from dicomscrub.writer import TEMP_PREFIX

SET_AFTER_RULES = frozenset({0x00120062, 0x00120063, 0x00120064, 0x00280303, 0x00080300})
"""Attributes dicomscrub sets after the rules (README "After the rules"): not judged by them."""
BASIC_PROFILE_CODE = "113100"
_PIXEL_TAGS = (0x7FE00008, 0x7FE00009, 0x7FE00010)


class Problem(str, enum.Enum):
    NOT_MARKED = "not-marked"
    MUST_BE_REMOVED = "must-be-removed"
    PRIVATE = "private-not-allowed"
    IDENTIFYING = "identifying-value"
    UNVERIFIABLE = "unverifiable"


@dataclass(frozen=True, order=True)
class Finding:
    """One thing wrong with one output. Never holds an identifying value in full."""

    file: str  # relative to OUT (folders: the folder), identifying components masked
    location: str  # tag path, "preamble", "raw bytes at offset N", "file name", "folder name", ""
    problem: Problem
    kind: str  # the attribute or the kind of value, e.g. "PatientName component"
    detail: str


@dataclass
class CheckReport:
    output: str
    profile: tuple[str, ...]
    files: int = 0  # files under OUT
    dicom_files: int = 0  # of which DICOM and readable
    inputs_searched: int = 0  # with --against: input files whose values were searched
    inputs_skipped: list[tuple[str, str]] = field(default_factory=list)  # (input, reason)
    tokens: int = 0  # identifying values searched for
    findings: list[Finding] = field(default_factory=list)
    against: bool = False  # --against was given

    @property
    def uncompared(self) -> bool:
        """--against was given but no input file could be searched (none there, none DICOM):
        nothing was compared, so the tree cannot be called clean."""
        return self.against and not self.inputs_searched

    @property
    def unchecked(self) -> bool:
        """OUT holds no file (an empty folder, a mistyped or not yet written output): nothing was
        checked, so it cannot be called clean either."""
        return self.files == 0

    @property
    def clean(self) -> bool:
        return not self.findings and not self.uncompared and not self.unchecked

    @property
    def files_with_findings(self) -> int:
        """Distinct files and folders with at least one finding."""
        return len({f.file for f in self.findings})


THRESHOLDS = {
    "min_chars": MIN_CHARS,
    "min_digits": MIN_DIGITS,
    "min_binary_run": MIN_BINARY_RUN,
    "min_binary_word": MIN_BINARY_WORD,
}


# ---- the leak check inside run -------------------------------------------------------------------


Embedded = Sequence[tuple[str, bytes]]
"""Text carried in the pixel data, unchanged in the output: (where, bytes) (see
:mod:`dicomscrub.embedded`)."""
LeakCheck = Callable[[bytes, bytes, Collection[str], Embedded], tuple[str, set[str]]]
"""Given the encoded output before Pixel Data (a data set on its own), what follows Pixel Data,
the creators of the input's private blocks (which the audit names) and the text its compressed
frames carry: "" or the reason not to write the output, and the creators that hold an
identifying value (see :func:`find_leaks`)."""


def _no_leak(
    header: bytes, tail: bytes, creators: Collection[str], carried: Embedded
) -> tuple[str, set[str]]:
    return "", set()


def scrub_checked(
    scrubber: Scrubber,
    ds: Dataset,
    enabled: bool = True,
    lanes: Split | None = None,
    *,
    streamed: bool = False,
) -> tuple[ScrubResult, LeakCheck]:
    """Scrub ``ds`` in place and return the result with a function that searches the encoded
    output for the identifying values of the input (before the scrub); it returns "" or the reason
    to reject the output, which names tag paths and kinds of value only.

    ``lanes``: the elements :func:`dicomscrub.lanes.split` left unparsed. Those it kept are kept
    (never identifying); those it removed or replaced count with their values as read
    (:attr:`Split.removed`, which must have been asked for). ``streamed``: the Pixel Data is
    copied by range, so the encoded output given to the check holds none (nothing to cut out).

    ``run`` calls it for every file and writes nothing when the reason is not empty (fail closed).
    """
    lane = lanes.lane if lanes is not None else None
    if not enabled:
        return scrubber.scrub(ds, None, lane), _no_leak
    # file meta values are searched for from their bytes, as read (run replaces the file meta
    # and never decodes it); so are the values removed or replaced before ``ds`` was parsed
    from_bytes = None
    if lanes is not None:
        from_bytes = lanes.meta_items
        if from_bytes is None:
            from_bytes = meta_from_bytes(lanes.meta)
    meta, originals = (from_bytes, []) if from_bytes is not None else meta_unparsed(ds)
    pending: list[tuple[str, Unparsed]] = []  # elements still as read, by path
    covered = frozenset(lanes.covered) if lanes is not None else frozenset()
    snapshot(
        ds,
        out=originals,
        numbers=False,
        kept=scrubber.keeps_unchanged,
        meta=False,
        raw=pending,
        skip=covered,
    )
    if lanes is not None:
        pending += [(format_tag(item[0]), item) for item in lanes.parsed_values]
    decisions: list[Decision] = []
    result = scrubber.scrub(ds, decisions, lane, record_kept=False)
    charset = ds.original_character_set or ds._character_set
    if lanes is not None and lanes.encodings is not None:  # (nothing parsed: not in ds)
        charset = lanes.encodings
    implicit, little = ds.original_encoding
    context: Context = (
        (charset,) if isinstance(charset, str) else tuple(charset),
        bool(implicit),
        bool(little),
    )
    counted: list[Unparsed] = []
    if pending:
        effects = {d.path: d.effect for d in decisions}
        kept_private = result.kept_private
        for path, item in pending:
            if raw_counts(
                path,
                item,
                effects,
                kept_private,
                shifted_dates=True,
                keeps_unchanged=scrubber.keeps_unchanged,
            ):
                counted.append(item)
            elif item[1] == b"SQ" and item[0] & 0x10000:
                # a private sequence kept: not all it held need be kept, so it is read now
                inside = sequence_originals(item[0], item[2], context)
                if inside is None:  # (the scrub read it: not expected) searched as bytes
                    counted.append(item)
                else:
                    originals += inside
    removed = lanes.removed if lanes is not None else []
    others = lanes.removed_long + counted if lanes is not None else counted

    def unparsed(encodings: tuple[str, ...], words: set[bytes]) -> list[Needles]:
        memo = _needle_memo(scrubber)
        found = memo.lookup(meta, META_CONTEXT, encodings, words)
        found += memo.lookup(others, context, encodings, words)
        if removed:
            found.append(memo.group(removed, context, encodings))
        return found

    def judged(texts: set[str], every: bool = False) -> Iterator[tuple[str, str]]:
        # what is not a leak is judged on the output: ``ds`` and the elements the lanes wrote as
        # read beside it (asked only when a candidate was found, for the candidates' texts),
        # but for the values the scrub should have changed and left as they were
        memo = _needle_memo(scrubber)
        kept = (lanes.kept + lanes.lane.written + (lanes.tail or [])) if lanes is not None else []
        unchanged = _unchanged_values(decisions, lanes, originals, pending, context, memo)
        cleaned = {  # (a coded entry's elements are kept as they are: see pipeline._is_code)
            d.path
            for d in decisions
            if d.effect is Effect.CLEAN and d.vr in FREE_TEXT_VRS and not coded(d.path)
        }
        # (every: the texts may be found with marks taken off, which no byte prefilter sees)
        texts = set() if every else texts
        return output_values(ds, kept, context, memo, texts, unchanged, cleaned)

    def leaks(
        header: bytes, tail: bytes, creators: Collection[str], carried: Embedded
    ) -> tuple[str, set[str]]:
        data = header + tail
        pieces = [(0, data)] if streamed else None
        named: set[str] = set()
        reason = find_leaks(
            data,
            ds,
            originals,
            decisions,
            result,
            scrubber,
            judged,
            unparsed,
            pieces,
            context[0],
            creators,
            named,
            carried,
        )
        return reason, named

    return result, leaks


_CHANGED = frozenset({Effect.DUMMY, Effect.EMPTY, Effect.REMOVE, Effect.UID})
"""Effects after which an element never holds its input's value (text cleaned may, and a value
kept does; a date shifted never holds the same full date)."""


def _unchanged_values(
    decisions: list[Decision],
    lanes: Split | None,
    originals: list[Original],
    pending: list[tuple[str, Unparsed]],
    context: Context | None = None,
    memo: NeedleMemo | None = None,
) -> Callable[[str, str], bool]:
    """Whether a value of the output is no proof that a candidate is not a leak: one the scrub
    wrote where it replaced, emptied or removed an element (a dummy, a pseudonym: not a value the
    profile kept), or the input's own value where the lanes replaced or removed the element or
    the scrub shifted a date (a fault of the scrub). The input's values at a path are gathered
    (and decoded) only when a value stands at such a path."""
    suspects = {
        d.path
        for d in decisions
        if d.effect in _CHANGED or (d.effect is Effect.KEEP_REPLACE_UIDS and d.vr == "UI")
    }
    # nothing is recorded inside a sequence removed, emptied or given a dummy value: all it held is
    # suspect; and a date the scrub shifted (never by zero days) is suspect as a full date
    inside = tuple(d.path + "[" for d in decisions if d.vr == "SQ" and d.effect in _CHANGED)
    shifted = {d.path for d in decisions if d.effect is Effect.CLEAN and d.vr in ("DA", "DT")}
    # standard elements the lanes removed or replaced (top level: their paths name their tags)
    as_read = [] if lanes is None else lanes.removed + lanes.removed_long
    lane_tags = {item[0] for item in as_read if not item[0] & 0x10000}
    # an ASCII value can be a value of an element as read only if its bytes are in the element's
    # (as for output_values' texts): most values at such paths (new UIDs, dummies) are not
    ascii_same = context is not None and ascii_kept(context[0])
    known: dict[str, tuple[set[str], list[Unparsed]]] = {}
    by_path: dict[str, tuple[set[str], list[Unparsed]]] | None = None

    def input_values(path: str, tag: int | None) -> tuple[set[str], list[Unparsed]]:
        nonlocal by_path
        if by_path is None:  # the input's values by path, made once
            by_path = {}
            for o in originals:
                texts = by_path.setdefault(o.path, (set(), []))[0]
                texts.update(v for v in o.values if isinstance(v, str))
            for at, item in pending:
                if not item[0] & 0x10000:
                    by_path.setdefault(at, (set(), []))[1].append(item)
        found, items = by_path.get(path, (set(), []))
        if tag is not None:
            items = items + [item for item in as_read if item[0] == tag]
        return found, items

    def unchanged(path: str, value: str) -> bool:
        tag = None
        if len(path) == 11 and lane_tags:  # "(gggg,eeee)"
            tag = int(path[1:5], 16) << 16 | int(path[6:10], 16)
            if tag not in lane_tags:
                tag = None
        if path in suspects or (inside and path.startswith(inside)):
            # what the scrub wrote in place of the input's value (a dummy, a pseudonym, a new
            # UID) was not kept: it proves nothing. A subject ID of --mapping-in that equals the
            # patient's real ID, written as Patient's Name, is that ID, not a kept name.
            return True
        if tag is None and not (path in shifted and sum(c.isdigit() for c in value) >= 8):
            return False
        found = known.get(path)
        if found is None:
            found = known[path] = input_values(path, tag)
        decoded, items = found
        if value in decoded:
            return True
        for item in items:
            if ascii_same and value.isascii() and value.encode("ascii") not in item[2]:
                continue
            assert memo is not None and context is not None  # (given with elements as read)
            if any(value == v for _, v in memo.values(item[0], item[1], item[2], context)):
                return True
        return False

    return unchanged


def _needle_memo(scrubber: Scrubber) -> NeedleMemo:
    memo = scrubber.check_memo
    if not isinstance(memo, NeedleMemo):
        memo = scrubber.check_memo = NeedleMemo(scrubber)
    return memo


_UTF16LE = re.compile(rb"(?:[\x20-\x7e]\x00){8,}")
_UTF16BE = re.compile(rb"(?:\x00[\x20-\x7e]){8,}")
_WIDE_CLASSES = bytes(97 if 0x20 <= b <= 0x7E else 48 if b == 0 else 120 for b in range(256))
_WIDE = b"a0" * 7 + b"a"
"""Eight text characters with a NUL between each two: held by every run of either byte order."""


_NARROW_UTF8 = re.compile(rb"\xef\xbc([\x81-\xbf])|\xef\xbd([\x80-\x9e])|\xe3\x80\x80")
_NARROW_DOUBLE = re.compile(rb"\xa3([\xa1-\xfe])|\xa1\xa1")
_NARROW_JIS = re.compile(rb"#([\x21-\x7e])|!!|[\x21-\x7e]{2}")


def _narrow_utf8(m: re.Match[bytes]) -> bytes:
    first, second = m.group(1), m.group(2)
    if first:  # U+FF01-FF3F
        return bytes([first[0] - 0x60])
    if second:  # U+FF40-FF5E
        return bytes([second[0] - 0x20])
    return b" "  # the ideographic space, U+3000


def _narrow_double(m: re.Match[bytes]) -> bytes:
    return bytes([m.group(1)[0] - 0x80]) if m.group(1) else b" "


def _narrow_jis(m: re.Match[bytes]) -> bytes:
    return m.group(1) if m.group(1) else b" "  # (another character: a word ends there)


_FULL_WIDTH = {
    # UTF-8: characters of three bytes (CJK, kana, full-width forms) and spaces
    "ISO_IR 192": (
        (b"\xef\xbc", b"\xef\xbd"),
        re.compile(rb"(?:[\xe3-\xef][\x80-\xbf]{2}| )+"),
        _NARROW_UTF8,
        _narrow_utf8,
    ),
    # GB18030, GBK, KS X 1001 (ISO 2022 IR 58, 149): two bytes from 0xA1 up, and spaces
    "double": (
        (b"\xa3",),
        re.compile(rb"(?:[\xa1-\xfe][\xa1-\xfe]| )+"),
        _NARROW_DOUBLE,
        _narrow_double,
    ),
    # JIS X 0208 (ISO 2022 IR 87): the two-byte text after its escape
    "ISO 2022 IR 87": (
        (b"\x1b$B",),
        re.compile(rb"(?<=\x1b\$B)(?:[\x21-\x7e][\x21-\x7e])+"),
        _NARROW_JIS,
        _narrow_jis,
    ),
}
_WAYS = {"utf-8": "ISO_IR 192", "gb18030": "double", "gbk": "double", "gb2312": "double"}
_WAYS |= {"euc_kr": "double", "iso2022_jp": "ISO 2022 IR 87", "iso2022_jp_2": "ISO 2022 IR 87"}


def full_width_sets(charsets: Iterable[str] | None) -> tuple[str, ...]:
    """Which of the ways of :func:`full_width_text` the character sets ``charsets`` (Specific
    Character Set terms, or the encodings they name) may write full-width letters in (all of
    them for None: not known)."""
    if charsets is None:
        return tuple(_FULL_WIDTH)
    ways = {_WAYS.get(codec) for codec in codecs_named(tuple(sorted(charsets)))}
    return tuple(name for name in _FULL_WIDTH if name in ways)


def full_width_text(
    pieces: list[tuple[int, bytes]], charsets: Iterable[str] | None
) -> list[tuple[int, bytes]]:
    """The runs of text in ``pieces`` that hold full-width letters or digits (ＤＯＥ ＪＡＮＥ,
    １９６１年３月１７日, as Japanese, Chinese and Korean systems type them), with those
    written as ASCII and ideographic spaces as spaces (DOE JANE, 1961年3月17日), placed at the
    run's offset (a hit in it is located in the value that holds the run). Looked for only in the
    character sets that write them (see :func:`full_width_sets`): UTF-8, the two-byte sets from
    0xA1 up (GB18030, GBK, KS X 1001) and JIS X 0208 after its escape (there another character
    ends a word)."""
    found = []
    for name in full_width_sets(charsets):
        leads, runs, narrow, replace = _FULL_WIDTH[name]
        for base, piece in pieces:
            raw = bytes(piece)
            if all(raw.find(lead) < 0 for lead in leads):  # (a C-speed look first)
                continue
            for run in runs.finditer(raw):
                text = narrow.sub(replace, run.group())
                if text != run.group():
                    found.append((base + run.start(), text))
    return found


_ESCAPE_GROUP = re.compile(rb"(?:\x1b[\x20-\x2f]{0,3}[\x30-\x7e])+")
"""Escape sequences one after the other (ISO 2022: ESC, intermediate bytes, a final byte)."""
_ESCAPE_ONE = re.compile(rb"\x1b([\x20-\x2f]{0,3})([\x30-\x7e])")
_NOT_TEXT = re.compile(rb"[\x00-\x1a\x1c-\x1f]")
"""A byte that ends a run of text (a control character other than ESC)."""
_G0 = (b"(", b"$", b"$(")
"""The intermediate bytes of an escape that designates the set of G0 (ESC ( B, ESC $ B,
ESC $ ( D); those of G1 (ESC ) I, ESC - F, ESC $ ) C) are :data:`_G1`."""
_G1 = (b")", b"-", b"$)")


def _designated(state: tuple[bytes, bytes], group: bytes) -> tuple[bytes, bytes] | None:
    """The sets designated to G0 and G1 after the escapes of ``group``, from ``state``; None
    where one of them is no designation of G0 or G1."""
    g0, g1 = state
    for m in _ESCAPE_ONE.finditer(group):
        middle, final = m.groups()
        if middle in _G0:
            g0 = middle + final
        elif middle in _G1:
            g1 = middle + final
        else:
            return None
    return g0, g1


def escapes_collapsed(
    pieces: list[tuple[int, bytes]], charsets: Iterable[str] | None
) -> list[tuple[int, bytes]]:
    """The runs of text in ``pieces`` that hold ISO 2022 escapes designating the set already in
    force (山田 ESC ( B ESC $ B 太郎: two values joined, each written by its own encoder, or an
    escape before every character), without those escapes, placed at the run's offset (a hit in
    it is located in the value that holds the run): a name so split is found as it is read.
    Looked for only where the character sets ``charsets`` (Specific Character Set terms; None:
    not known) are ISO 2022 ones, and only in pieces that hold an escape."""
    if charsets is not None and not any(term.startswith("ISO 2022") for term in charsets):
        return []
    found = []
    for base, piece in pieces:
        raw = bytes(piece)
        if raw.find(b"\x1b") < 0:  # (a C-speed look first)
            continue
        groups = list(_ESCAPE_GROUP.finditer(raw))
        i = 0
        while i < len(groups):
            first = groups[i]
            state = _designated((b"(B", b""), first.group())
            out = [first.group()]
            end, dropped = first.end(), False
            i += 1
            while i < len(groups) and not _NOT_TEXT.search(raw, end, groups[i].start()):
                group = groups[i]
                out.append(raw[end : group.start()])
                after = _designated(state, group.group()) if state is not None else None
                if after is not None and after == state:
                    dropped = True
                else:
                    out.append(group.group())
                    state = after
                end = group.end()
                i += 1
            if dropped:
                stop = _NOT_TEXT.search(raw, end)
                out.append(raw[end : stop.start() if stop else len(raw)])
                found.append((base + first.start(), b"".join(out)))
    return found


_BYTE_CLASSES = bytes(
    0
    if b < 0x20 or b == 0x7F
    else 97
    if chr(b).isascii() and chr(b).isalpha()
    else 104
    if b > 0x7F
    else 46
    for b in range(256)
)
"""A byte's class: 0 a control character (it ends a run of text), ``a`` an ASCII letter, ``h`` a
byte above 7FH, ``.`` other text."""
_LATIN_CODECS = ("utf-8", "iso8859-1", "iso8859-2", "iso8859-9", "iso8859-15")
"""The encodings of DICOM character sets that write Latin letters with marks (ISO_IR 192, 100,
101, 148, 203)."""
_MARKED_WORD = re.compile(r"[^\W\d_]*[^\W\d_\x00-\x7f][^\W\d_]*")
"""A word (of three letters or more, see :func:`accents_folded`) with a letter that is no
ASCII one."""


def accents_folded(
    pieces: list[tuple[int, bytes]], charsets: Iterable[str] | None
) -> list[tuple[int, bytes]]:
    """The runs of text in ``pieces`` that hold a word with a marked Latin letter (MÜLLER, Núñez),
    read in UTF-8, Latin-1 and the Latin sets ``charsets`` name (None: all of them), with the
    marks taken off (MULLER, Nunez; a character that stays no ASCII one is written ``?``, which
    ends a word), placed at the run's offset: a name the input holds in plain ASCII (MULLER^HANS)
    and someone typed with its accents elsewhere is found. Only pieces with a byte above 7FH
    are read (a C-speed look first)."""
    found: list[tuple[int, bytes]] = []
    for base, piece in pieces:
        raw = bytes(piece)
        if raw.isascii():
            continue
        # where a byte above 7FH touches an ASCII letter: a Latin letter with a mark in a word
        # (MÜLLER, Łukasz; a word of marked letters only is no name), seldom in a number's
        # bytes. Looked for in the bytes' classes at C speed: a pattern would be tried at every
        # byte, in Python's slower engine.
        classes = raw.translate(_BYTE_CLASSES)
        end = 0
        for at in sorted(_found_all(classes, b"ah") + _found_all(classes, b"ha")):
            if at < end:
                continue
            start = classes.rfind(0, 0, at) + 1
            end = classes.find(0, at)
            end = len(raw) if end < 0 else end
            if end - start >= 3:  # (shorter: no word of three letters)
                found += _folded_run(raw[start:end], base + start, _latin_codecs(charsets))
    return found


def _latin_codecs(charsets: Iterable[str] | None) -> list[str]:
    """UTF-8, Latin-1 and the other Latin sets of :data:`_LATIN_CODECS` ``charsets`` name (all
    of them for None)."""
    named = codecs_named(tuple(sorted(charsets))) if charsets is not None else None
    return [c for c in _LATIN_CODECS if named is None or c in named or c in _LATIN_CODECS[:2]]


def _found_all(data: bytes, what: bytes) -> list[int]:
    """Where ``what`` is found in ``data``."""
    found, at = [], data.find(what)
    while at >= 0:
        found.append(at)
        at = data.find(what, at + 1)
    return found


def _folded_run(run: bytes, at: int, codecs_: list[str]) -> list[tuple[int, bytes]]:
    """:func:`accents_folded` of one run (at offset ``at``). A run that ends in a byte above 7FH
    is read without it too: it may be the first byte of the next element's tag (7FE0 is written
    E0 7F: MÜLLER then the tag of Pixel Data reads MÜLLERà in Latin-1)."""
    texts = [run, run[:-1]] if run[-1] >= 0x80 else [run]
    found, seen = [], set()
    for codec in codecs_:
        for raw in texts:
            # (UTF-8 bytes cut short, or no UTF-8: replaced by a character that ends a word)
            text = raw.decode(codec, "replace")
            if all(len(word) < 3 for word in _MARKED_WORD.findall(text)):
                continue  # (no word to find: bytes of a number, say)
            folded = unmarked(text).encode("ascii", "replace")
            if folded not in seen:
                seen.add(folded)
                found.append((at, folded))
    return found


def wide_text(pieces: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """The runs of 8 characters or more of ASCII text written as UTF-16 (little or big endian, as
    a Windows program writes wide strings into a private binary value) in ``pieces``, as 8-bit
    text placed at the run's offset (a hit in it is located in the value that holds the run)."""
    found = []
    for base, piece in pieces:
        classes = bytes(piece).translate(_WIDE_CLASSES)  # (a C-speed look first: most have none)
        if classes.find(_WIDE) < 0:
            continue
        for run in _UTF16LE.finditer(piece):
            found.append((base + run.start(), run.group()[::2]))
        for run in _UTF16BE.finditer(piece):
            found.append((base + run.start() + 1, run.group()[1::2]))
    return found


def find_leaks(
    data: bytes | memoryview,
    ds: Dataset,
    originals: list[Original],
    decisions: list[Decision],
    result: ScrubResult,
    scrubber: Scrubber,
    judged: Callable[[set[str], bool], Iterable[tuple[str, str]]] | None = None,
    unparsed: Callable[[tuple[str, ...], set[bytes]], list[Needles]] | None = None,
    pieces: list[tuple[int, bytes]] | None = None,
    encoded_in: Iterable[str] = (),
    creators: Collection[str] = (),
    named: set[str] | None = None,
    carried: Embedded = (),
) -> str:
    """The reason ``data`` (the encoding of the scrubbed ``ds``) may not be written, or "".
    ``judged``: the standard values of the output to judge exclusions by (see
    :func:`still_identifying`), when not those of ``ds``, given the texts of the candidates (it
    may leave out values that hold none of them);
    ``unparsed``: the needles, in the given encodings, of the values that were not parsed into
    ``ds`` (those that can be found in an output with the given words); ``pieces``: the parts of
    ``data`` to search ((offset, bytes)), when known (else found by :func:`_searchable`);
    ``encoded_in``: the encodings of the input's data set, when its Specific Character Set may
    not be among ``originals`` (the lanes keep it as read): the tokens are searched for in them
    too, as in those its values name.

    ``creators``: the creators of the input's private blocks, which the audit names although no
    rule judges them; those that hold a value of a standard attribute the scrub did not keep (a
    name or one of its components, an ID, UID, date, time, institution: :data:`NAMING`; a block
    named after the patient's ID or the hospital) are added to ``named``, to be masked there. Kept
    values elsewhere do not excuse them: a creator is a vendor's label, never a person's.

    ``carried``: the text the compressed frames carry (a JPEG's comment and Exif segments),
    copied unchanged with the pixels: searched as the output is."""
    ident = candidates(originals, decisions, result.kept_private, scrubber, shifted_dates=True)
    charsets = ident.charsets | set(encoded_in)
    encodings = encodings_of(charsets)
    layout = None
    if pieces is None:
        pieces, layout = _searchable(data, ds)
    if carried:  # (placed below 0, one 2**40 apart: a hit's offset tells which)
        pieces = pieces + [(-(i + 1) << 40, text) for i, (_, text) in enumerate(carried)]
    pieces = pieces + escapes_collapsed(pieces, charsets)
    folded = accents_folded(pieces, charsets)
    pieces = pieces + wide_text(pieces) + full_width_text(pieces, charsets) + folded
    big = _syntax(ds) == EXPLICIT_BE
    memo = _needle_memo(scrubber)
    words = memo.word_memo.words(pieces[0][1], big) if pieces else set()
    for _, piece in pieces[1:]:
        words |= memo.word_memo.words(piece, big)
    texts = sorted(set(creators))
    groups = [Needles.of(ident.tokens.values(), encodings)]
    if unparsed is not None:  # (the words of a value seen once are those of a binary value's
        groups += unparsed(encodings, words)  # text: loose tokens, which name no creator)
    if texts and named is not None:
        hay, hay_words = _creators_hay(memo, tuple(texts))
        named |= _naming(texts, hay, groups, charsets, set(hay_words))
    hits = search_needles(groups, pieces, charsets, words)
    if not hits:
        return ""
    # Only now (a candidate was found): drop what is not a leak (see Exclusions).
    hit_texts = {tok.text for _, tok in hits}
    values = judged(hit_texts, bool(folded)) if judged is not None else standard_values(ds)
    leaking = still_identifying({tok for _, tok in hits}, values, _tool_text(scrubber))
    hits = [(offset, tok) for offset, tok in hits if tok.text in leaking]
    if not hits:
        return ""
    layout = layout or read_layout(bytes(data))
    by_place: dict[str, Token] = {}  # one kind per place: a whole name before its components
    for offset, tok in hits:
        if offset < 0:
            if tok.category not in IN_FRAMES:
                continue
            place = carried[(-offset - 1) >> 40][0]
        elif layout.is_bulk(offset):
            continue
        else:
            place = layout.locate(offset)
        old = by_place.get(place)
        if old is None or (tok.strict and not old.strict):
            by_place[place] = tok
    if not by_place:
        return ""
    hidden = named if named is not None else set()
    places = [
        f"{kind_masked(tok.kind, hidden.__contains__)} at {place}"
        for place, tok in by_place.items()
    ]
    return leak_reason(places)


def leak_reason(places: list[str]) -> str:
    """The leak check's reason for not writing a file, naming the first three ``places`` (what
    was found where, masked)."""
    more = f" and {len(places) - 3} more" if len(places) > 3 else ""
    return (
        f"leak check: the output would hold identifying values of its input "
        f"({'; '.join(places[:3])}{more}); not written"
    )


def _creators_hay(memo: NeedleMemo, texts: tuple[str, ...]) -> tuple[bytes, frozenset[bytes]]:
    """The creators' texts as :func:`_naming` searches them (each as :func:`_creator_bytes` makes
    it, joined by newlines) and the words of that haystack (:func:`words_of`). Both depend on
    ``texts`` alone, which the files of a series share (the same vendor blocks): remembered by
    them in ``memo`` (per worker, in memory only, emptied past :data:`_CREATOR_TEXTS` entries)."""
    known = memo.creator_texts.get(texts)
    if known is None:
        hay = b"\n".join(map(_creator_bytes, texts))
        if len(memo.creator_texts) >= _CREATOR_TEXTS:
            memo.creator_texts.clear()
        known = memo.creator_texts[texts] = (hay, frozenset(memo.word_memo.words(hay)))
    return known


_CREATOR_TEXTS = 1_000


def _creator_bytes(text: str) -> bytes:
    """A creator's text as searched: full-width letters and digits as the ASCII they stand for
    (a block named ＨＥＮＤＲＩＣＫＳ is the patient's)."""
    return text.translate(NARROW).encode("utf-8", "surrogateescape")


def _naming(
    texts: list[str], hay: bytes, groups: list[Needles], charsets: set[str], words: set[bytes]
) -> set[str]:
    """The texts (``hay``: joined by newlines) where a token of ``groups`` that names someone
    (:data:`NAMING`) is found."""
    findable: dict[str, Token] = {}
    for group in groups:
        group.add_findable(words, findable, (hay,))
    naming = [token for token in findable.values() if token.category in NAMING]
    if not naming:  # (most files: their creators' words are no name's, ID's or institution's)
        return set()
    sizes = (len(_creator_bytes(text)) + 1 for text in texts)
    starts = list(itertools.accumulate(sizes, initial=0))
    return {
        texts[bisect.bisect_right(starts, offset) - 1]
        for offset, _ in Matcher(naming, charsets).search(hay, 0, words)
    }


_TOOL_TEXT: weakref.WeakKeyDictionary[Scrubber, ToolText] = weakref.WeakKeyDictionary()


def _tool_text(scrubber: Scrubber) -> ToolText:
    text = _TOOL_TEXT.get(scrubber)
    if text is None:
        text = _TOOL_TEXT[scrubber] = tool_text(scrubber)
    return text


def _syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    return str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""


def _searchable(
    data: bytes | memoryview, ds: Dataset
) -> tuple[list[tuple[int, bytes]], Layout | None]:
    """The output's bytes without its pixel data, found cheaply for what pydicom wrote (pixel data
    last at the top level, written verbatim); otherwise read the layout."""
    view = memoryview(data)
    syntax = _syntax(ds)
    present = [tag for tag in _PIXEL_TAGS if tag in ds]
    if syntax != DEFLATED and len(present) <= 1:
        if not present:
            return [(0, bytes(view))], None
        pixel = ds[present[0]]
        value = pixel.value
        last = all(int(tag) <= present[0] for tag in ds.keys())  # noqa: SIM118
        if isinstance(value, bytes) and last:
            end = len(view) - (8 if pixel.is_undefined_length else 0)
            start = end - len(value) - (len(value) % 2)
            if start >= 0 and view[start : start + len(value)] == value:
                return [(0, bytes(view[:start])), (end, bytes(view[end:]))], None
    layout = read_layout(bytes(view))
    return layout.segments(), layout


# ---- identifying values of input trees -----------------------------------------------------------


@dataclass
class Identity:
    tokens: dict[str, Token] = field(default_factory=dict)
    charsets: set[str] = field(default_factory=set)
    searched: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def collect_identity(inputs: list[Path], profile: CompiledProfile) -> Identity:
    """The identifying values of every DICOM file under ``inputs`` under ``profile``.

    Each input is de-identified in memory with a throwaway key (which values the profile keeps
    does not depend on the key); values that only the real key could tell apart (shifted dates)
    are left out, see :func:`dicomscrub.identity.candidates`."""
    from dicomscrub.process import Unreadable, quiet_pydicom, read_dataset

    scrubber = Scrubber(profile, Pseudonymizer(random_key()))
    exclusions = Exclusions(tool_text=tool_text(scrubber))
    identity = Identity()
    for source in discover(inputs):
        label = f"{source.root.name}/{source.rel}" if len(inputs) > 1 else source.rel
        if source.skip_reason in ALREADY_WALKED:
            continue
        if source.skip_reason:
            identity.skipped.append((label, source.skip_reason))
            continue
        with quiet_pydicom():
            try:
                ds, reason = read_dataset(source.path)
            except Unreadable as exc:
                identity.skipped.append((label, f"unreadable DICOM: {exc}"))
                continue
            except OSError as exc:
                why = exc.strerror or type(exc).__name__
                identity.skipped.append((label, f"cannot read: {why}"))
                continue
            except Exception as exc:
                identity.skipped.append((label, f"cannot read: {type(exc).__name__}"))
                continue
            if ds is None:
                identity.skipped.append((label, reason))
                continue
            try:
                originals = snapshot(ds, numbers=False)
                decisions: list[Decision] = []
                result = scrubber.scrub(ds, decisions)
                # (decodes what the scrub kept as read; a value it failed to change is no proof)
                unchanged = _unchanged_values(decisions, None, originals, [])
                exclusions.add_dataset(ds, unchanged, profile)
            except Exception as exc:
                identity.skipped.append((label, f"cannot de-identify: {type(exc).__name__}"))
                continue
        ident = candidates(originals, decisions, result.kept_private, scrubber, shifted_dates=False)
        for token in ident.tokens.values():
            add_token(identity.tokens, token)
        identity.charsets |= ident.charsets
        identity.searched += 1
    tokens = {
        text: tok
        for text, tok in identity.tokens.items()
        if text not in exclusions.values and not exclusions.tool_text.excuses(tok)
    }
    # Loose tokens that are words of a kept standard value do not count. The search reports the
    # longest token at each place, so search again, for the shorter ones, where something was found.
    # (Cleaned values and those no rule kept excuse fewer: see identity.excuses.)
    kept = (
        ("", exclusions.text),
        (UNRULED, exclusions.unruled),
        (VENDOR, exclusions.vendor),
        (CLEANED, exclusions.cleaned),
    )
    for vr, values in kept:
        texts = sorted(values)
        while texts:
            loose = Matcher([tok for tok in tokens.values() if excuses(vr, tok)])
            found_in: list[str] = []
            for text in texts if loose else ():
                hits = loose.search(text.encode("utf-8"))
                for _, tok in hits:
                    tokens.pop(tok.text, None)
                if hits:
                    found_in.append(text)
            texts = found_in
    identity.tokens = tokens
    return identity


# ---- check a tree --------------------------------------------------------------------------------


def check_tree(
    output: Path,
    profile: CompiledProfile,
    against: list[Path] | None = None,
) -> CheckReport:
    """Check every file under ``output``; see the module docstring for what is reported. No
    warning of pydicom's is shown, from reading a file to judging its values: they quote values
    (an invalid birth date, an unknown character set)."""
    from dicomscrub.process import quiet_pydicom

    with quiet_pydicom():
        return _check_tree(output, profile, against)


def _check_tree(output: Path, profile: CompiledProfile, against: list[Path] | None) -> CheckReport:
    from dicomscrub.process import Unreadable, quiet_pydicom, read_dataset

    report = CheckReport(str(output), profile.names)
    matcher: Matcher | None = None
    if against:
        report.against = True
        identity = collect_identity(against, profile)
        report.inputs_searched = identity.searched
        report.tokens = len(identity.tokens)
        matcher = Matcher(identity.tokens.values(), identity.charsets)
        report.inputs_skipped = [(redact(label, matcher), why) for label, why in identity.skipped]
        report.output = redact(report.output, matcher)
    scrubber = Scrubber(profile, Pseudonymizer(random_key()))
    findings: set[Finding] = set()

    if matcher:
        for folder in _folders(output):
            for tok in matcher.search_text(folder.name):
                rel = redact(folder.relative_to(output).as_posix(), matcher)
                findings.add(
                    Finding(rel, "folder name", Problem.IDENTIFYING, tok.kind, mask(tok.text))
                )

    for source in discover([output]):
        if STATE_DIR in PurePosixPath(source.rel).parts:
            continue  # dicomscrub's own resume state and lock: no DICOM, no identifying value
        rel = redact(source.rel, matcher) if matcher else source.rel
        if matcher:
            for tok in matcher.search_text(source.path.name):
                findings.add(
                    Finding(rel, "file name", Problem.IDENTIFYING, tok.kind, mask(tok.text))
                )
        if source.skip_reason in ALREADY_WALKED:  # (its files are checked where first found)
            continue
        report.files += 1
        if source.skip_reason:
            findings.add(Finding(rel, "", Problem.UNVERIFIABLE, "file", source.skip_reason))
            continue
        try:
            data = source.path.read_bytes()
        except OSError as exc:
            detail = f"cannot read: {exc.strerror or type(exc).__name__}"
            findings.add(Finding(rel, "", Problem.UNVERIFIABLE, "file", detail))
            continue
        if matcher:
            findings.update(_value_findings(rel, data, matcher))
        if source.path.name.startswith(TEMP_PREFIX):
            detail = "temporary file left by an interrupted write"
            findings.add(Finding(rel, "", Problem.UNVERIFIABLE, "file", detail))
            continue
        with quiet_pydicom():
            try:
                ds, reason = read_dataset(source.path)
            except Unreadable as exc:
                findings.add(Finding(rel, "", Problem.UNVERIFIABLE, "file", f"unreadable: {exc}"))
                continue
            except Exception as exc:
                detail = f"cannot parse DICOM: {type(exc).__name__}"
                findings.add(Finding(rel, "", Problem.UNVERIFIABLE, "file", detail))
                continue
            if ds is None:
                findings.add(Finding(rel, "", Problem.UNVERIFIABLE, "file", reason))
                continue
            try:
                findings.update(_dataset_findings(rel, ds, scrubber, matcher))
            except Exception as exc:
                detail = f"cannot check the data set: {type(exc).__name__}"
                findings.add(Finding(rel, "", Problem.UNVERIFIABLE, "file", detail))
                continue
        report.dicom_files += 1
    report.findings = sorted(findings)
    return report


def _folders(root: Path) -> list[Path]:
    found: list[Path] = []
    for directory, subdirs, _ in os.walk(root):
        subdirs.sort()
        found += [Path(directory) / name for name in subdirs]
    return sorted(found)


def redact(text: str, matcher: Matcher | None) -> str:
    """``text`` (a path, a value) with every identifying value in it masked (first character and
    ***)."""
    if not matcher:
        return text
    # (searched with full-width letters as the ASCII they stand for, one character for one:
    # ＨＥＮＤＲＩＣＫＳ is masked as HENDRICKS is, and shown as Ｈ***)
    raw = text.translate(NARROW).encode("utf-8", "surrogateescape")
    out: list[str] = []
    pos = 0  # (in characters of ``text``)
    for start, tok in matcher.search(raw):
        at = len(raw[:start].decode("utf-8", "surrogateescape"))
        if at < pos:
            continue
        out += [text[pos:at], text[at : at + 1], "***"]
        pos = at + len(tok.text)
    out.append(text[pos:])
    return "".join(out)


def _value_findings(rel: str, data: bytes, matcher: Matcher) -> set[Finding]:
    """One finding per identifying value found; a value inside a longer one found at the same
    place (JANE inside DOE^JANE) is not reported again."""
    layout = read_layout(data)
    found: set[Finding] = set()
    segments = list(layout.segments())
    # (the text, then its UTF-16 runs, then its full-width runs as ASCII)
    segments += escapes_collapsed(segments, None)
    for pieces in (
        segments,
        wide_text(segments),
        full_width_text(segments, None),
        accents_folded(segments, None),
    ):
        covered_until = -1
        for base, piece in pieces:
            for offset, tok in matcher.search(piece, base, big_endian=layout.big_endian):
                end = offset + len(tok.text.encode("utf-8"))
                if end <= covered_until:
                    continue
                covered_until = end
                where = layout.locate(offset)
                kind = kind_masked(tok.kind, lambda creator: _names_someone(creator, matcher))
                found.add(Finding(rel, where, Problem.IDENTIFYING, kind, mask(tok.text)))
    # the text compressed frames carry beside their pixels (as run's leak check searches it)
    view = memoryview(layout.data)  # (slices, not copies: native pixels are one large span)
    spans = [s for s in layout.spans if s.bulk and s.path == _FRAMES]
    items: list[bytes | memoryview] = []
    if spans and layout.data[spans[0].start - 8 : spans[0].start - 4] == _ITEM_TAG:
        # encapsulated (native pixels are one value, no item): an empty Basic Offset Table has
        # no span of its own
        empty = layout.data[spans[0].start - 16 : spans[0].start - 8] == _ITEM_TAG + bytes(4)
        items = [b""] * empty + [view[s.start : s.end] for s in spans]
    try:
        values = _frame_values(layout, view)
        plane = None if values is None else embedded.plane_size(values)
        carried = embedded.from_fragments(items, plane) + _after_native_frames(layout, view)
    except embedded.Unsearchable as exc:
        found.add(Finding(rel, "Pixel Data", Problem.UNVERIFIABLE, "", str(exc)))
        carried = []
    for where, text in carried:
        for _, tok in matcher.search(text, 0):
            if tok.category not in IN_FRAMES:
                continue
            kind = kind_masked(tok.kind, lambda creator: _names_someone(creator, matcher))
            found.add(Finding(rel, where, Problem.IDENTIFYING, kind, mask(tok.text)))
    return found


def _frame_values(layout: Layout, view: memoryview) -> dict[int, int] | None:
    """The image attributes (:data:`embedded.FRAME_TAGS`) at the top level of ``layout``; None
    where one holds no number."""
    values: dict[int, int] = {}
    for span in layout.spans:
        tag = _TOP_TAGS.get(span.path)
        if tag in embedded.FRAME_TAGS:
            try:
                values[tag] = embedded.frame_value(
                    tag, view[span.start : span.end].tobytes(), not layout.big_endian
                )
            except (ValueError, UnicodeDecodeError):
                return None
    return values


def _after_native_frames(layout: Layout, view: memoryview) -> list[tuple[str, bytes]]:
    """The bytes of native pixel data after its frames (see :func:`embedded.after_frames`), by
    the image attributes at the top level of ``layout``."""
    values = _frame_values(layout, view)  # (None: the frames' size is not known)
    found: list[tuple[str, bytes]] = []
    for span in layout.spans:
        tag = _TOP_TAGS.get(span.path)
        if (
            tag is not None
            and tag not in embedded.FRAME_TAGS
            and span.bulk
            and view[span.start - 8 : span.start - 4] != _ITEM_TAG
        ):
            size = span.end - span.start
            frames = None if values is None else embedded.frames_size(values, tag)
            found += embedded.after_frames(
                embedded.reader(view[span.start : span.end]), size, frames
            )
    return found


_TOP_TAGS = {format_tag(tag): tag for tag in (*embedded.FRAME_TAGS, 0x7FE00008, 0x7FE00009)}
_TOP_TAGS[format_tag(0x7FE00010)] = 0x7FE00010
"""The top-level paths of the image attributes and the pixel data elements, and their tags."""
_FRAMES = "(7FE0,0010)"
_ITEM_TAG = b"\xfe\xff\x00\xe0"
IN_FRAMES = STRICT
"""What counts in the text of compressed frames: a whole name, an ID, UID, date or time. Not one
component of a name (a colour profile's "Hewlett-Packard" and a patient Packard), other text
(a software's name in a comment, GDCM, equal to some input's Source AE Title) nor private
values: that text is the encoder's and its vendors', not the data set's."""


def _names_someone(text: str, matcher: Matcher) -> bool:
    """``text`` holds a value of a standard attribute that ``matcher`` searches for (a name or
    one of its components, an ID, UID, date, time, institution: see :data:`NAMING`)."""
    return any(tok.category in NAMING for tok in matcher.search_text(text))


def _has_value(elem: DataElement) -> bool:
    value = elem.value
    if elem.VR == "SQ":
        return bool(value)
    if value is None:
        return False
    if isinstance(value, bytes):
        return bool(value.strip(b" \0"))
    if isinstance(value, MultiValue | list | tuple):
        return any(str(v).strip(" \0") for v in value)
    return bool(str(value).strip(" \0"))


def _dataset_findings(
    rel: str, ds: Dataset, scrubber: Scrubber, matcher: Matcher | None = None
) -> list[Finding]:
    found: list[Finding] = []
    if str(ds.get("PatientIdentityRemoved", "") or "").strip(" \0").upper() != "YES":
        found.append(
            Finding(
                rel,
                "(0012,0062)",
                Problem.NOT_MARKED,
                "PatientIdentityRemoved",
                "missing or not YES",
            )
        )
    method = ds.get(0x00120063)
    if method is None or not _has_value(method):
        found.append(
            Finding(
                rel, "(0012,0063)", Problem.NOT_MARKED, "DeidentificationMethod", "missing or empty"
            )
        )
    codes = ds.get(0x00120064)
    values = []
    if codes is not None and codes.VR == "SQ":
        values = [str(item.get("CodeValue", "") or "").strip() for item in codes.value or []]
    if BASIC_PROFILE_CODE not in values:
        found.append(
            Finding(
                rel,
                "(0012,0064)",
                Problem.NOT_MARKED,
                "DeidentificationMethodCodeSequence",
                f"no item with code {BASIC_PROFILE_CODE} (Basic Application Confidentiality "
                "Profile)",
            )
        )
    _RuleWalk(rel, scrubber, read_declarations(ds), found, matcher).dataset(ds, "", False)
    return found


class _RuleWalk:
    """Judge each element of an output by the profile, as the scrub would have treated it."""

    def __init__(
        self,
        rel: str,
        scrubber: Scrubber,
        declarations: dict[tuple[int, str], Declaration],
        out: list[Finding],
        matcher: Matcher | None = None,
    ) -> None:
        self.matcher = matcher  # (--against) a creator that names someone is masked
        self.rel = rel
        self.scrubber = scrubber
        self.profile = scrubber.profile
        self.declarations = declarations
        self.out = out

    def add(self, path: str, problem: Problem, kind: str, detail: str) -> None:
        self.out.append(Finding(self.rel, path, problem, kind, detail))

    def dataset(self, ds: Dataset, prefix: str, replace_uids: bool) -> None:
        creators: dict[tuple[int, int], str] = {}
        blocks_used: set[tuple[int, int]] = set()
        for elem in ds:
            tag = int(elem.tag)
            group, element = tag >> 16, tag & 0xFFFF
            if is_private_group(group) and 0x10 <= element <= 0xFF:
                value = elem.value
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value or "")
                creators[(group, element)] = text.strip(" \0")
        for elem in ds:
            tag = int(elem.tag)
            group, element = tag >> 16, tag & 0xFFFF
            path = prefix + format_tag(tag)
            if group % 2 == 1:
                if not is_private_group(group):
                    self.add(path, Problem.PRIVATE, "element in a forbidden group", "PS3.5 7.8.1")
                    continue
                if 0x10 <= element <= 0xFF:
                    continue
                creator = creators.get((group, element >> 8)) if element >= 0x1000 else None
                if creator is None:
                    self.add(path, Problem.PRIVATE, "private element", "no private creator")
                    continue
                blocks_used.add((group, element >> 8))
                problem = self.private_problem(tag, creator, elem)
                if problem:
                    shown = creator
                    if self.matcher and _names_someone(creator, self.matcher):
                        shown = mask(creator)
                    self.add(path, Problem.PRIVATE, f"private element ({shown})", problem)
                elif elem.VR == "SQ":
                    self.items(elem, path, False)
                continue
            if not prefix and tag in SET_AFTER_RULES:
                continue
            action, basis, rule = self.scrubber.action_for(elem, replace_uids)
            effect = resolve(action, elem.VR == "SQ")
            if effect in (Effect.REMOVE, Effect.EMPTY) and _has_value(elem):
                source = (
                    f"{rule.source}: {rule.key} {rule.action.value}"
                    if rule is not None
                    else f"{basis.value} {action.value}"
                )
                wants = "removed" if effect is Effect.REMOVE else "empty"
                kind = elem.keyword or format_tag(tag)
                self.add(path, Problem.MUST_BE_REMOVED, kind, f"has a value; {wants} by {source}")
                continue
            if elem.VR == "SQ":
                self.items(elem, path, replace_uids or effect is Effect.KEEP_REPLACE_UIDS)
        for (group, byte), creator in sorted(creators.items()):
            if (group, byte) not in blocks_used:
                path = prefix + format_tag((group << 16) | byte)
                self.add(path, Problem.PRIVATE, f"private creator ({creator})", "no element")

    def items(self, elem: DataElement, path: str, replace_uids: bool) -> None:
        for i, item in enumerate(elem.value or []):
            self.dataset(item, f"{path}[{i}]/", replace_uids)

    def private_problem(self, tag: int, creator: str, elem: DataElement) -> str:
        """Why the profile could not have kept this private element, or "" if it could."""
        rule = self.profile.private_rule_for(tag, creator)
        action = rule.action if rule is not None else self.profile.default
        source = f"{rule.source}: {rule.key} {action.value}" if rule else f"default {action.value}"
        if action is Action.C:
            table, own = self.scrubber.safe_hits(tag, creator)
            if table or own:
                return ""
            decl = find_declaration(self.declarations, tag >> 16, creator)
            if decl is not None and not decl.problem:
                byte = tag & 0xFF
                if decl.is_safe(byte) or byte in decl.actions:
                    return ""
            return (
                f"{source}: not in Table E.3.10-1 or the profile's safe list, and not declared "
                "safe in (0008,0300)"
            )
        catch_all = rule is None or rule.selector == PRIVATE
        if resolve(action, elem.VR == "SQ") is Effect.REMOVE:
            return f"{source}" + (" (every private element is removed)" if catch_all else "")
        return ""


# ---- report formats ------------------------------------------------------------------------------


CSV_COLUMNS = ("file", "location", "problem", "kind", "detail")


def report_dict(report: CheckReport) -> dict[str, object]:
    return {
        "output": report.output,
        "profile": list(report.profile),
        "clean": report.clean,
        "files": report.files,
        "dicom_files": report.dicom_files,
        "files_with_findings": report.files_with_findings,
        "checked": not report.unchecked,
        "compared": not report.uncompared,
        "inputs_searched": report.inputs_searched,
        "inputs_skipped": [{"input": i, "reason": r} for i, r in report.inputs_skipped],
        "identifying_values_searched": report.tokens,
        "thresholds": THRESHOLDS,
        "findings": [{**asdict(f), "problem": f.problem.value} for f in report.findings],
    }


def report_json(report: CheckReport) -> str:
    """The report as JSON (see :func:`~dicomscrub.discover.json_text`)."""
    return json_text(report_dict(report))


def report_csv(report: CheckReport) -> str:
    """The findings as CSV, each field as the audit writes text read from a file or a file
    system (see :func:`~dicomscrub.discover.name_text`): one line per finding, and nothing a
    terminal would act on."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for f in report.findings:
        writer.writerow(map(name_text, (f.file, f.location, f.problem.value, f.kind, f.detail)))
    return buffer.getvalue()
