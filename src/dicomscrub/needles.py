"""The leak check's tokens of values read from their bytes, remembered per worker.

``run`` checks each output against the identifying values of its own input
(:func:`dicomscrub.check.scrub_checked`). Most of those values are never parsed: the lanes remove
them from their bytes (:mod:`dicomscrub.lanes`), the file meta is replaced, and the parsed
elements' bytes are at hand. Their tokens are made from the bytes, decoded as pydicom would decode
them, and remembered per worker by the value as read (:class:`NeedleMemo`): a series repeats most
of its values from file to file. Each value's tokens are filed under the words their forms need
(:class:`Needles`), so that the search looks only for those whose words are words of the output.

Nothing here writes a value anywhere: the memo lives in memory only, like the data sets.
"""

from __future__ import annotations

import bisect
import codecs
import functools
import io
import itertools
import re
import struct
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence

import pydicom.charset
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.filereader import read_sequence
from pydicom.tag import BaseTag

from dicomscrub.dictionary import vr_of
from dicomscrub.identity import (
    BINARY_VRS,
    CLEANED,
    CREATOR_REFERENCE,
    CREATOR_TEXT,
    MAX_CHARS,
    MIN_CHARS,
    MIN_DIGITS,
    NUMERIC_RAW,
    NUMERIC_VRS,
    SHORT_VALUE,
    WORD_BYTES,
    Category,
    Context,
    Matcher,
    Original,
    Token,
    Unparsed,
    WordMemo,
    add_token,
    add_values,
    candidates,
    category_of,
    codecs_named,
    element_values,
    excusing,
    item_vr,
    keyed_forms,
    names_a_standard_uid,
    number_digits,
    snapshot,
    text_runs,
    tokens_from,
)
from dicomscrub.layout import BULK_TAGS
from dicomscrub.pipeline import Scrubber, looks_like_items, parse_un_sequence
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.profile.values import CJK
from dicomscrub.pseudonym import is_standard_uid
from dicomscrub.structure import LONG_VRS, TopElement
from dicomscrub.tags import format_tag


def unparsed_tokens(item: Unparsed, context: Context, scrubber: Scrubber) -> list[Token]:
    """The tokens of an element removed or replaced before it was parsed: its value as read,
    decoded as pydicom would decode it (text in the data set's encodings; bytes where the VR is
    binary or not known), counted as :func:`candidates` counts a value the scrub did not keep. A
    sequence counts by the values inside it, as those of a sequence the scrub removed."""
    tag, _, raw, creator = item
    encodings = context[0]
    private = bool(tag & 0x10000)
    vr = item_vr(item)
    if vr == "SQ":
        return _sequence_tokens(tag, raw, context, scrubber)
    if vr == "UN" and looks_like_items(raw):  # a sequence read as UN, as the scrub reads it
        inside = _un_sequence_tokens(tag, raw, creator, scrubber)
        if inside is not None:
            return inside
    category = category_of(vr, tag, private)
    if category is None:
        return []
    values: tuple[str | bytes, ...]
    if vr in BINARY_VRS:
        values = (raw,)
    elif vr == "UI" and raw.isascii():  # (most values of a file that are not the file before's)
        values = tuple(raw.decode("ascii").split("\\"))
    elif raw.isascii() and b"\x1b" not in raw and _plain_encodings(encodings):
        values = tuple(raw.decode("ascii").split("\\"))  # what pydicom makes of it, sooner
    else:
        try:
            text = pydicom.charset.decode_bytes(raw, list(encodings), _DELIMITERS.get(vr, set()))
        except Exception:  # cannot be decoded: searched for as bytes
            values = (raw,)
        else:
            values = tuple(text.split("\\"))
    found: dict[str, Token] = {}
    add_values(found, vr, values, tag, creator, category)
    return list(found.values())


def _unseen_blob_tokens(
    item: Unparsed, encodings: tuple[str, ...], words: set[bytes]
) -> list[Token] | None:
    """The tokens of a binary value seen for the first time that can be found in an output
    whose words are ``words``, or None where this short cut does not apply.

    A token found as a whole word has each of its words as a word of the output. A text run of a
    binary value (:func:`text_runs`) has a word of at least :data:`MIN_BINARY_WORD` ASCII letters
    and digits, and that word is a word of each of the run's forms as long as every encoding
    writes ASCII as ASCII and other characters as bytes from 0x80 up (UTF-8 and the ISO 8859
    family) and upper case adds no ASCII letter (only ß does, as SS). So the runs whose longest
    such word is not a word of the output cannot be found, and their tokens are not made: a
    random blob of 8 KB costs its scan, not four tokens in four forms each."""
    tag, _, raw, creator = item
    vr = item_vr(item)
    if vr not in BINARY_VRS or not _plain_encodings(encodings):
        return None
    if vr == "UN" and looks_like_items(raw):
        return None  # a sequence: its values count (see unparsed_tokens)
    text = raw.strip(b" \0")
    if not text or _NOT_PRINTABLE.search(text) is None:
        return None  # searched as text: see forms()
    category = category_of(vr, tag, bool(tag & 0x10000))
    assert category is not None
    runs = [
        (run, " (text in a binary value)")
        for run in text_runs(raw)
        if "ß" in run or _longest_word(run) in words
    ]
    return list(tokens_from(runs, tag, creator, category)) if runs else []


_NOT_PRINTABLE = re.compile(rb"[\x00-\x1f\x7f-\xa0\xad]")
"""The bytes whose Latin-1 characters ``str.isprintable`` refuses (control characters, the
no-break space and the soft hyphen): found at once in a blob, where decoding it all would not."""


def _longest_word(text: str) -> bytes:
    return max(text.encode("latin-1").translate(WORD_BYTES).split(), key=len, default=b"")


@functools.lru_cache(maxsize=64)
def _plain_encodings(encodings: tuple[str, ...]) -> bool:
    """Every encoding writes ASCII as ASCII and nothing else below 0x80."""
    names = _codec_names(encodings)
    return names is not None and all(
        name in ("utf-8", "ascii") or name.startswith("iso8859-") for name in names
    )


def _codec_names(encodings: tuple[str, ...]) -> set[str] | None:
    """Python's names of the codecs, None if one is not known."""
    try:
        return {codecs.lookup(encoding).name for encoding in encodings}
    except LookupError:
        return None


def _un_sequence_tokens(
    tag: int, raw: bytes, creator: str, scrubber: Scrubber
) -> list[Token] | None:
    """The tokens of a UN value that holds items, counted as :func:`snapshot` and
    :func:`candidates` count it when it is parsed: its text runs and every value inside; None
    when it is not a sequence the scrub can read (then it is a binary value)."""
    parsed = parse_un_sequence(raw)
    if parsed is None:
        return None
    path = format_tag(tag)
    originals = [Original(path, tag, "UN", raw, creator)]
    for i, item in enumerate(parsed):
        snapshot(item, f"{path}[{i}]/", originals, numbers=False)
    return list(candidates(originals, [], set(), scrubber, shifted_dates=True).tokens.values())


def _sequence_tokens(tag: int, raw: bytes, context: Context, scrubber: Scrubber) -> list[Token]:
    originals = sequence_originals(tag, raw, context)
    if originals is None:  # not a sequence pydicom can read: its bytes are searched for text
        return unparsed_tokens((tag, b"UN", raw, ""), context, scrubber)
    return list(candidates(originals, [], set(), scrubber, shifted_dates=True).tokens.values())


def sequence_originals(tag: int, raw: bytes, context: Context) -> list[Original] | None:
    """What :func:`snapshot` lists of a top-level sequence given by its value as read (the
    sequence first, at the top-level path, then every element inside it, numbers left out);
    None when pydicom cannot read it as a sequence."""
    encodings, implicit, little = context
    try:
        items = read_sequence(io.BytesIO(raw), implicit, little, len(raw), list(encodings))
        holder = Dataset()
        holder.set_original_encoding(implicit, little, list(encodings))
        holder.add(DataElement(tag, "SQ", items))
        return snapshot(holder, numbers=False)
    except Exception:
        return None


def meta_unparsed(ds: Dataset) -> tuple[list[Unparsed], list[Original]]:
    """The file meta elements of ``ds`` that count (see :func:`candidates`): those still as read,
    as :data:`Unparsed` items (their tokens come from :class:`NeedleMemo` without decoding them:
    the file meta is replaced, never decoded, by ``run``), and those pydicom already decoded."""
    items: list[Unparsed] = []
    decoded: list[Original] = []
    meta: Dataset | None = getattr(ds, "file_meta", None)
    if meta is None:
        return items, decoded
    for tag in list(meta.keys()):
        raw: DataElement | RawDataElement | None = meta.get_item(tag)  # as read, if not decoded
        if raw is None or raw.VR in NUMERIC_VRS or names_a_standard_uid(int(tag)):
            continue
        if isinstance(raw, RawDataElement) and raw.VR is not None and raw.value is not None:
            items.append((int(tag), raw.VR.encode("ascii"), raw.value, ""))
        else:
            elem = meta[tag]
            decoded.append(Original(format_tag(int(tag)), int(tag), elem.VR, elem.value))
    return items, decoded


def meta_from_bytes(meta: bytes) -> list[Unparsed] | None:
    """:func:`meta_unparsed` read from the file meta's bytes as found in the file (explicit VR
    little endian, group 0002 only), without pydicom; None when they are not plainly that."""
    items: list[Unparsed] = []
    pos, size = 0, len(meta)
    while pos < size:
        if pos + 8 > size:
            return None
        group, element = _TAG.unpack_from(meta, pos)
        vr = meta[pos + 4 : pos + 6]
        if group != 0x0002 or not vr.isalpha() or not vr.isupper():
            return None
        if vr in LONG_VRS:
            if pos + 12 > size:
                return None
            length, start = _LONG.unpack_from(meta, pos + 8)[0], pos + 12
        else:
            length, start = _SHORT.unpack_from(meta, pos + 6)[0], pos + 8
        end = start + length
        if end > size:
            return None
        tag = 0x00020000 | element
        if _meta_counts(tag, vr, end - start):
            items.append((tag, vr, meta[start:end], ""))
        pos = end
    return items


def meta_from_map(header: bytes, elements: Sequence[TopElement]) -> list[Unparsed]:
    """:func:`meta_from_bytes` of the file meta elements as
    :func:`~dicomscrub.structure.scan` found them (``elements``) in ``header``, the file's
    first bytes: the same items, without reading the file meta again."""
    return [
        (tag, vr, header[value:after], "")
        for tag, vr, _, value, _, after in elements
        if _meta_counts(tag, vr, after - value)
    ]


def _meta_counts(tag: int, vr: bytes | None, length: int) -> bool:
    """Whether a file meta value of ``length`` bytes counts for the leak check."""
    return length >= MIN_CHARS and vr not in NUMERIC_RAW and not _names_standard_uid(tag)


@functools.lru_cache(maxsize=256)
def _names_standard_uid(tag: int) -> bool:
    return names_a_standard_uid(tag)


_TAG, _LONG, _SHORT = struct.Struct("<HH"), struct.Struct("<L"), struct.Struct("<H")


META_CONTEXT: Context = (("iso8859",), False, True)
"""How file meta values are read: the default character repertoire, explicit VR little endian."""


class Needles:
    """Tokens by the words the search needs before it looks for them: a token can be found as a
    whole word only where the longest word of one of its forms (see :func:`keyed_forms`) is a
    word of the output. Made once per value (:class:`NeedleMemo`) and asked once per output."""

    __slots__ = ("always", "by_key", "keys", "numbers")

    def __init__(
        self,
        by_key: dict[bytes, tuple[Token, ...]],
        always: tuple[Token, ...],
        numbers: tuple[tuple[bytes, Token], ...] = (),
    ) -> None:
        self.by_key = by_key
        self.keys = frozenset(by_key)
        self.always = always  # forms without a word: always searched for
        self.numbers = numbers  # (last four digits, token): found in any layout (number_digits)

    @classmethod
    def of(cls, tokens: Iterable[Token], encodings: tuple[str, ...]) -> Needles:
        """The needles of ``tokens`` in a data set of ``encodings`` (see :func:`encodings_of`):
        a token in CJK characters only where the data set's character set writes them (a date
        by the Japanese era's year, 令和6年3月15日, is no token of a Latin-1 data set: its
        longest word, 15, is a word of nearly every output)."""
        by_key: dict[bytes, list[Token]] = {}
        always: list[Token] = []
        numbers: list[tuple[bytes, Token]] = []
        cjk = writes_cjk(encodings)
        for token in tokens:
            if not cjk and not token.text.isascii() and CJK.search(token.text):
                continue
            for _, key, _ in keyed_forms(token.text, encodings):
                if key is None:
                    always.append(token)
                else:
                    by_key.setdefault(key, []).append(token)
            if token.category is Category.ID:  # (most tokens are not: a quick look first)
                digits = number_digits(token)
                if digits is not None:
                    numbers.append((digits[-4:], token))
        return cls({k: tuple(v) for k, v in by_key.items()}, tuple(always), tuple(numbers))

    @classmethod
    def merged(cls, groups: Iterable[Needles]) -> Needles:
        by_key: dict[bytes, tuple[Token, ...]] = {}
        always: list[Token] = []
        numbers: list[tuple[bytes, Token]] = []
        for group in groups:
            for key, tokens in group.by_key.items():
                by_key[key] = by_key.get(key, ()) + tokens
            always += group.always
            numbers += group.numbers
        return cls(by_key, tuple(always), tuple(numbers))

    def add_findable(
        self, words: set[bytes], into: dict[str, Token], pieces: Iterable[bytes] = ()
    ) -> None:
        """Add to ``into`` the tokens that may be found in an output whose words are ``words``,
        and the numbers found in any layout whose last four digits ``pieces`` (the output's
        bytes) hold."""
        for token in self.always:
            add_token(into, token)
        for end, token in self.numbers:
            if any(piece.find(end) >= 0 for piece in pieces):
                add_token(into, token)
        if not self.keys.isdisjoint(words):
            for key in self.keys & words:
                for token in self.by_key[key]:
                    add_token(into, token)


_CJK_CODECS = frozenset(
    {"utf-8", "gb18030", "gbk", "gb2312", "iso2022_jp", "iso2022_jp_2", "euc_kr", "shift_jis"}
)


def writes_cjk(encodings: tuple[str, ...]) -> bool:
    """Whether a data set's Specific Character Set (the encodings it names, after the UTF-8 and
    Latin-1 that :func:`encodings_of` puts first for every data set) writes CJK characters."""
    return not codecs_named(encodings[2:]).isdisjoint(_CJK_CODECS)


_TAGLESS = frozenset({b"UI", b"DA", b"DT", b"TM"})
"""VRs whose tokens do not depend on the standard attribute that holds them (their kind is
"UID", "date" or "time")."""

_NONE = Needles({}, ())


class NeedleMemo:
    """The :class:`Needles` of elements that were never parsed, or left as read, remembered by
    the element as read: a series repeats most of its values from file to file, so most elements
    of a file cost one dictionary look-up (vendor blobs of a few KB included), and the short
    values a file's lanes removed cost one look-up together (:meth:`group`). One per worker and
    scrubber, in memory only (like the data sets themselves), emptied when it holds more than
    :attr:`LIMIT` values or :attr:`LIMIT_BYTES` bytes of them. Values longer than
    :data:`SHORT_VALUE` bytes are remembered from the second time they are seen (a random blob
    never is), those longer than :attr:`LONGEST` bytes never."""

    LIMIT = 50_000
    LIMIT_BYTES = 32 << 20
    LONGEST = 64 << 10
    GROUPS = 1_000

    def __init__(self, scrubber: Scrubber) -> None:
        self._scrubber = scrubber
        self._memo: dict[tuple[Context, tuple[str, ...]], dict[Unparsed, Needles]] = {}
        self._groups: dict[tuple[Context, tuple[str, ...], tuple[Unparsed, ...]], Needles] = {}
        self._values: dict[tuple[int, bytes | None, bytes, Context], tuple[tuple[str, str], ...]]
        self._values = {}
        self._size = self._bytes = 0
        self._seen: set[int] = set()  # hashes of long values seen once
        self._uids: dict[bytes, Needles] = {}  # standard UID values, whatever the context
        self.word_memo = WordMemo()  # the words of the outputs searched (see find_leaks)
        # the creators' texts of a file, searched as one haystack, and its words (see find_leaks)
        self.creator_texts: dict[tuple[str, ...], tuple[bytes, frozenset[bytes]]] = {}

    @property
    def profile(self) -> CompiledProfile:
        return self._scrubber.profile

    def _once(self, item: Unparsed) -> bool:
        """True the first time a long value is seen (a random blob is never seen again), told
        by its tag, length and ends: hashing all of a blob that is never seen again would cost
        as much as looking at it (two values told apart only in the middle count as one seen
        before: the second is then remembered whole, as any value seen twice)."""
        value = item[2]
        key = hash((item[0], len(value), value[:64], value[-64:]))
        if key in self._seen:
            return False
        if len(self._seen) >= self.LIMIT:
            self._seen.clear()
        self._seen.add(key)
        return True

    def _uid(self, item: Unparsed) -> Needles | None:
        """:func:`_uid_needles`, remembered by the value for every context (a UID is written in
        ASCII digits and dots whatever the encoding)."""
        known = self._uids.get(item[2])
        if known is None:
            known = _uid_needles(item)
            if known is not None:
                if len(self._uids) >= self.LIMIT:
                    self._uids.clear()
                self._uids[item[2]] = known
        return known

    def values(
        self, tag: int, vr: bytes | None, value: bytes, context: Context
    ) -> tuple[tuple[str, str], ...]:
        """:func:`~dicomscrub.identity.element_values` of a standard element given by its
        bytes, decoded as pydicom decodes it; () when pydicom cannot."""
        key = (tag, vr, value, context)
        found = self._values.get(key)
        if found is None:
            text_vr = vr.decode("ascii") if vr is not None else vr_of(tag)
            encodings, implicit, little = context
            raw = RawDataElement(BaseTag(tag), text_vr, len(value), value, 0, implicit, little)
            try:
                elem = convert_raw_data_element(raw, encoding=list(encodings))
                found = tuple(element_values(elem))
            except Exception:  # as the full read would: no value to judge by
                found = ()
            if len(self._values) >= self.LIMIT:
                self._values.clear()
            self._values[key] = found
        return found

    def group(self, items: list[Unparsed], context: Context, encodings: tuple[str, ...]) -> Needles:
        """The needles of ``items`` (values of at most :data:`SHORT_VALUE` bytes), merged and
        remembered as one entry: the values a file's lanes removed are, but for one or two, the
        values of the file before."""
        key = (context, encodings, tuple(items))
        found = self._groups.get(key)
        if found is None:
            found = Needles.merged(self.lookup(items, context, encodings, set()))
            if len(self._groups) >= self.GROUPS:
                self._groups.clear()
            self._groups[key] = found
        return found

    def lookup(
        self,
        items: list[Unparsed],
        context: Context,
        encodings: tuple[str, ...],
        words: set[bytes],
    ) -> list[Needles]:
        """The needles of each item that has any, searched in ``encodings``, for an output whose
        words are ``words`` (a long binary value seen for the first time gets only the needles
        that can be found there: see :func:`_unseen_blob_tokens`)."""
        memo = self._memo.get((context, encodings))
        if memo is None:
            memo = self._memo[(context, encodings)] = {}
        found: list[Needles] = []
        for item in items:
            if item[1] in _TAGLESS and not item[0] & 0x10000:
                item = (0, item[1], item[2], "")  # one value of several attributes: one entry
                if item[1] == b"UI":
                    known = self._uid(item)
                    if known is not None:
                        if known is not _NONE:
                            found.append(known)
                        continue
            size = len(item[2])
            # long values are remembered when seen a second time (and looked up only then)
            once = size > SHORT_VALUE and (size > self.LONGEST or self._once(item))
            known = None if once else memo.get(item)
            if known is None:
                if once:
                    quick = _unseen_blob_tokens(item, encodings, words)
                    if quick is not None:
                        if quick:
                            found.append(Needles.of(quick, encodings))
                        continue
                tokens = unparsed_tokens(item, context, self._scrubber)
                known = Needles.of(tokens, encodings) if tokens else _NONE
                if not once:
                    if self._size >= self.LIMIT or self._bytes >= self.LIMIT_BYTES:
                        self._memo.clear()
                        memo = self._memo[(context, encodings)] = {}
                        self._size = self._bytes = 0
                    memo[item] = known
                    self._size += 1
                    self._bytes += size
            if known is not _NONE:
                found.append(known)
        return found


_UID_BYTES = frozenset(b"0123456789.")


def _uid_needles(item: Unparsed) -> Needles | None:
    """The needles of a standard UID value written as UIDs are (digits and dots), made directly:
    what :func:`unparsed_tokens` and :meth:`Needles.of` make of it, at a fifth of the cost (a
    file's own UIDs are the values most often new to the memo). None for any other value."""
    value = item[2].rstrip(b"\0 ")
    by_key: dict[bytes, tuple[Token, ...]] = {}
    for part in value.split(b"\\"):
        if not part or not _UID_BYTES.issuperset(part):
            return None
        if len(part) - part.count(b".") < MIN_DIGITS or len(part) > MAX_CHARS:
            continue  # (what searchable() says of digits and dots)
        text = part.decode("ascii")
        if is_standard_uid(text):
            continue
        key = max(part.split(b"."), key=len)
        by_key[key] = (*by_key.get(key, ()), Token(text, "UID", Category.UID))
    return Needles(by_key, ()) if by_key else _NONE


def search_needles(
    groups: Iterable[Needles],
    pieces: list[tuple[int, bytes]],
    charsets: Iterable[str],
    words: set[bytes],
) -> list[tuple[int, Token]]:
    """(offset, token) for every place in ``pieces`` ((offset, bytes), whose words are ``words``:
    see :func:`words_of`) where a token of ``groups`` is found, as :meth:`Matcher.search` finds
    them. Only the tokens with a form whose longest word is a word of the pieces can be found as
    whole words, so only those are searched for: most files have none."""
    found: dict[str, Token] = {}
    hays = [piece for _, piece in pieces]
    for group in groups:
        group.add_findable(words, found, hays)
    if not found:
        return []
    matcher = Matcher(found.values(), charsets)
    return [hit for base, piece in pieces for hit in matcher.search(piece, base, words)]


_DELIMITERS: dict[str, set[int]] = {"PN": {0x5E, 0x3D}}
"""Characters that reset the encoding in a value, as pydicom decodes it (ISO 2022 escapes)."""


# ---- what does not count -------------------------------------------------------------------------


Unchanged = Callable[[str, str], bool]
"""Given a tag path and a value the output holds there, whether the scrub should have changed
that value and left the input's (see :func:`output_values`)."""


def output_values(
    ds: Dataset,
    kept: list[tuple[int, bytes]],
    context: Context,
    memo: NeedleMemo,
    texts: Iterable[str] = (),
    unchanged: Unchanged | None = None,
    cleaned: Collection[str] = (),
) -> Iterator[tuple[str, str]]:
    """:func:`standard_values` of an output: the scrubbed ``ds`` and the elements written as read
    beside it (``kept``: (tag, element as written), see :mod:`dicomscrub.lanes`), encoded as
    ``context`` says. The elements still as read are decoded once per worker and value
    (:meth:`NeedleMemo.values`), not once per file; given ``texts`` (lower case) that are all
    ASCII, in encodings that write ASCII as ASCII, those whose bytes hold none of them are left
    out undecoded (their values cannot hold one), in sequence items too. A value for which
    ``unchanged(path, value)`` is true is left out: the input's value where the scrub should have
    written another is no proof that a value is not a leak, it is the leak. A value at a path of
    ``cleaned`` (text the scrub cleaned) is judged as one (see :data:`CLEANED`)."""
    texts = tuple(texts)
    needles: tuple[bytes, ...] = ()
    if texts and all(text.isascii() for text in texts) and ascii_kept(context[0]):
        needles = tuple(text.encode("ascii") for text in texts)
    found = _values_in(ds, "", context, memo, needles, False)
    if needles:
        kept = [kept[i] for i in _holding(kept, needles)]
    profile = memo.profile
    for path, vr, value in itertools.chain(found, _kept_values(kept, context, memo)):
        if unchanged is None or not unchanged(path, value):
            yield CLEANED if path in cleaned else excusing(path, vr, profile, value), value


def _kept_values(
    kept: list[tuple[int, bytes]], context: Context, memo: NeedleMemo
) -> Iterator[tuple[str, str, str]]:
    implicit = context[1]
    for tag, element in kept:
        if tag & 0x10000 or tag in BULK_TAGS:
            continue
        if implicit:
            values = memo.values(tag, None, element[8:], context)
        elif element[4:6] in LONG_VRS:
            values = memo.values(tag, element[4:6], element[12:], context)
        else:
            values = memo.values(tag, element[4:6], element[8:], context)
        path = format_tag(tag)
        for vr, value in values:
            yield path, CREATOR_TEXT if tag == CREATOR_REFERENCE else vr, value


def _values_in(
    ds: Dataset,
    prefix: str,
    context: Context,
    memo: NeedleMemo,
    needles: tuple[bytes, ...],
    whole: bool,
) -> Iterator[tuple[str, str, str]]:
    """(path, VR, value) of :func:`output_values` in one data set: ``prefix`` is its path (an
    item's: ``context`` is that of the top-level data set), standard elements still as read that
    hold none of ``needles`` left out. ``whole``: decode every element as pydicom does (an item
    with its own Specific Character Set, and the items inside it)."""
    for base_tag in list(ds.keys()):
        tag = int(base_tag)
        if tag & 0x10000 or tag in BULK_TAGS:
            continue
        found: DataElement | RawDataElement | None = ds.get_item(base_tag)
        if found is None:
            continue
        if not whole and isinstance(found, RawDataElement) and found.value is not None and found.VR:
            if not needles or any(needle in found.value.lower() for needle in needles):
                path = prefix + format_tag(tag)
                for vr, value in memo.values(tag, found.VR.encode("ascii"), found.value, context):
                    yield path, CREATOR_TEXT if tag == CREATOR_REFERENCE else vr, value
            continue
        path = prefix + format_tag(tag)
        elem = ds[base_tag]
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or ()):
                own = whole or 0x00080005 in item
                yield from _values_in(item, f"{path}[{i}]/", context, memo, needles, own)
        else:
            for vr, value in element_values(elem):
                yield path, CREATOR_TEXT if tag == CREATOR_REFERENCE else vr, value


def _holding(kept: list[tuple[int, bytes]], needles: tuple[bytes, ...]) -> list[int]:
    """The indexes, in order, of the elements of ``kept`` whose bytes (ASCII lowered) hold one of
    ``needles``: found in all of them at once (a match across two elements only adds the first)."""
    elements = [element for _, element in kept]
    starts = list(itertools.accumulate(map(len, elements), initial=0))
    joined = b"".join(elements).lower()
    found: set[int] = set()
    for needle in needles:
        pos = joined.find(needle)
        while pos >= 0:
            found.add(bisect.bisect_right(starts, pos) - 1)
            pos = joined.find(needle, pos + 1)
    return sorted(found)


@functools.lru_cache(maxsize=64)
def ascii_kept(encodings: tuple[str, ...]) -> bool:
    """In every one of these encodings an ASCII letter or digit of a decoded value comes from that
    same byte: so in all that pydicom decodes DICOM with (in the multi-byte ones a byte below 0x80
    may also be part of a wider character, which only makes a value decoded for nothing)."""
    names = _codec_names(encodings)
    return names is not None and all(
        name in _ASCII_KEPT or name.startswith("iso8859-") for name in names
    )


_ASCII_KEPT = frozenset(
    (
        "ascii",
        "utf-8",
        "euc_kr",
        "gb18030",
        "gb2312",
        "gbk",
        "iso2022_jp",
        "iso2022_jp_2",
        "shift_jis",
        "tis-620",
    )
)
