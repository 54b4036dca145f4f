"""The identifying values of a DICOM input and a fast search for them in bytes and names.

``run`` searches each output for the identifying values of its own input before the output is
written (:mod:`dicomscrub.check`), and ``check --against`` searches a whole output tree for the
identifying values of every input. What counts as identifying is what the profile actually did to
the input: a value is identifying when the scrub did not keep it (see :func:`candidates`).

Matching is case-insensitive (ASCII, and upper/lower forms of non-ASCII tokens), ignores DICOM
padding (values are stripped of spaces and NULs), and is whole-word: a match may not touch a letter
or digit on either side (so "JANE" is not found in "JANET", and a UID is not found inside a longer
UID). Tokens too short to search without false hits are dropped (:data:`MIN_CHARS`,
:data:`MIN_DIGITS`, :data:`MIN_CJK_NAME`).

Nothing here writes a value anywhere: tokens live in memory and are reported only as
:func:`mask` forms.
"""

from __future__ import annotations

import codecs
import enum
import functools
import itertools
import operator
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import pydicom.charset
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomscrub.actions import Effect, resolve
from dicomscrub.dictionary import keyword_for, vr_of
from dicomscrub.encode import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION
from dicomscrub.layout import BULK_TAGS, header_at, header_before
from dicomscrub.pipeline import (
    DUMMY_BY_VR,
    FREE_TEXT_VRS,
    Decision,
    Scrubber,
    form_of,
    judged_vr,
    looks_like_items,
    parse_un_sequence,
)
from dicomscrub.private import creator_text
from dicomscrub.profile.loader import CID7050
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.profile.values import (
    CJK,
    NARROW,
    day_of,
    digit_spellings,
    id_spellings,
    is_date,
    name_components,
    name_forms,
    spellings,
    unmarked,
    whole_name_forms,
)
from dicomscrub.pseudonym import is_standard_uid
from dicomscrub.tags import format_tag, is_private_group

MIN_CHARS = 4
"""A token with a letter in it is searched only if it has at least this many characters."""
MIN_DIGITS = 6
"""A token without a letter (a number, a date, a time, a UID) needs at least this many digits."""
MIN_CJK_NAME = 3
"""A whole person name (never one component) with at least two CJK characters (ideographs, kana,
hangul) needs only this many characters: 王小明 and 王^明 are searched. Each such character is a
syllable drawn from thousands, so two of them tell a name apart better than the four Latin
letters of :data:`MIN_CHARS`, and most Chinese names have three characters. A component keeps
:data:`MIN_CHARS`: family names such as 山田 or 中村 are common words, and in CJK text the search
has no word boundary to stop at (bytes from 0x80 up are not letters to it), so 山田 would be found
inside a kept 山田病院 that no exclusion can excuse (CJK characters are letters to
:func:`contains_word`). Two characters with nothing between them (王明) stay below it too: they
cannot be told from a single component."""
MIN_BINARY_RUN = 8
"""Text inside a binary or undecoded value: runs of at least this many text characters (letters,
digits, Latin-1 letters, and the space and ``^ . , ' / _ = -`` that names, IDs and dates are
written with), starting and ending with a letter or digit, and holding a word of at least
:data:`MIN_BINARY_WORD` ASCII letters and digits. Other printable bytes end a run: random binary
data (compressed thumbnails, vendor blobs) holds many short printable runs that are nobody's name,
and each would be searched for in every output."""
MIN_BINARY_WORD = 4
MAX_CHARS = 128
"""Longer values (free text) are not searched whole; the names, IDs, dates and UIDs in a data set
are searched as values of their own attributes."""

NUMERIC_VRS = frozenset(
    {"DS", "IS", "US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT", "OD", "OF", "OL", "OV"}
)
NUMERIC_RAW = frozenset(vr.encode("ascii") for vr in NUMERIC_VRS)
"""The same as they are written in explicit VR."""
BINARY_VRS = frozenset({"OB", "OW", "UN"})
_RUN_PUNCTUATION = " ^.,'/_=-"
_ASCII_WORD = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RUN_CLASS = bytes(
    3 if byte in _ASCII_WORD else 2 if byte >= 0xC0 else 1 if chr(byte) in _RUN_PUNCTUATION else 0
    for byte in range(256)
)
"""Each byte's class in a text run: 0 not text, 1 punctuation, 2 Latin-1 letter, 3 ASCII letter
or digit (``bytes.translate`` then ``bytes.find`` find runs at C speed; a regular expression took
eight times longer on random binary data)."""
_RUN_ANCHOR = b"\3" * MIN_BINARY_WORD
_LETTER = re.compile(r"[^\W\d_]")
_NO_DIGITS = str.maketrans("", "", "0123456789")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_WORD = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyz")
_DIGIT = frozenset(b"0123456789")
_DOT = ord(".")
_T = ord("t")
_DIGITS = frozenset(b"0123456789"[i : i + 1] for i in range(10))
_COMPACT_TIME = re.compile(
    rb"(?:[01][0-9]|2[0-3])(?:[0-5][0-9](?:[0-5][0-9](?:\.[0-9]{1,6})?)?)?(?:[+-][0-9]{4})?"
)
"""The time part of a DICOM DT right after its date (YYYYMMDD then HH, HHMM, HHMMSS, HHMMSS.F,
each with an optional +ZZZZ offset)."""
_REGEX_ABOVE = 5000
"""With more byte forms than this, one compiled pattern beats a find() per form."""


class Category(str, enum.Enum):
    NAME = "name"  # a person name, whole
    NAME_PART = "name component"  # one component of a person name
    ID = "ID"
    UID = "UID"
    DATE = "date"
    TIME = "time"
    TEXT = "text"  # other text of a standard attribute
    PRIVATE = "private"  # a private element's value


STRICT = frozenset({Category.NAME, Category.ID, Category.UID, Category.DATE, Category.TIME})
"""Whole names, IDs, UIDs, dates and times count wherever they appear. The others (one component
of a name, descriptions, institutions, private values: often common words such as PHILIPS, HEAD or
CHEST) do not count where they are also a word of a standard attribute's value that the
de-identified data set holds: the profile kept that text."""


NAMING = STRICT | {Category.NAME_PART, Category.TEXT}
"""The tokens that mark a private block's creator as identifying, to be masked wherever it is
shown (the audit, a rejection's reason): a standard attribute's value, whole or one component of
a name (a block named after the hospital or the patient's surname). Not a private value's
(the vendor's own words, such as the GEMS of GEMS_ACQU_01, are often private values too)."""


class Token(NamedTuple):
    """One identifying value as searched (a named tuple: run makes dozens per file)."""

    text: str  # lower case, as searched
    kind: str  # what it is: "PatientName component", "PatientID", "UID", "date", "private value"
    category: Category

    @property
    def strict(self) -> bool:
        return self.category in STRICT


def mask(text: str) -> str:
    """What a report may show of an identifying value: its first character and its length."""
    return f"{text[:1]}*** ({len(text)} chars)"


def searchable(text: str) -> bool:
    """Long enough to search, and not too long: see :data:`MIN_CHARS`, :data:`MIN_DIGITS` and
    :data:`MAX_CHARS`."""
    if not MIN_CHARS <= len(text) <= MAX_CHARS:  # MIN_CHARS <= MIN_DIGITS
        return False
    if _LETTER.search(text):
        return True
    return len(text) - len(text.translate(_NO_DIGITS)) >= MIN_DIGITS


def searchable_cjk_name(text: str) -> bool:
    """A whole name short of :data:`MIN_CHARS` that is searched all the same: see
    :data:`MIN_CJK_NAME`."""
    return MIN_CJK_NAME <= len(text) <= MAX_CHARS and len(CJK.findall(text)) >= 2


# ---- the input, before the scrub -----------------------------------------------------------------


@dataclass(slots=True)
class Original:
    """One element of an input as it was read (kept in memory only, never written)."""

    path: str
    tag: int
    vr: str
    value: object  # the value object as pydicom gave it (str, PersonName, MultiValue, bytes, ...)
    creator: str = ""  # the private creator of a private element's block

    @property
    def private(self) -> bool:
        return (self.tag >> 16) % 2 == 1

    @property
    def is_creator(self) -> bool:
        return is_private_group(self.tag >> 16) and 0x10 <= (self.tag & 0xFFFF) <= 0xFF

    @property
    def values(self) -> tuple[str | bytes, ...]:
        """The values as text (bytes for binary and undecoded values); () when empty."""
        value = self.value
        if value is None or value == "" or value == b"" or self.vr == "SQ":
            return ()
        if isinstance(value, bytes):
            return (value,)
        if isinstance(value, MultiValue | list | tuple):
            return tuple(v if isinstance(v, bytes) else str(v) for v in value)
        return (str(value),)


def snapshot(
    ds: Dataset,
    prefix: str = "",
    out: list[Original] | None = None,
    *,
    numbers: bool = True,
    kept: Callable[[int, str | None], bool] | None = None,
    meta: bool = True,
    raw: list[tuple[str, Unparsed]] | None = None,
    skip: frozenset[int] = frozenset(),
) -> list[Original]:
    """Every element of ``ds`` (file meta included at the top level unless ``meta`` is false: see
    :func:`meta_unparsed`), recursively. Private values
    read as UN that hold items are decoded as the scrub decodes them, so the paths inside match
    its records. Sample data (pixels, waveforms) is listed without its value. With ``numbers``
    false, elements with a numeric VR (never identifying, see :func:`candidates`) are left out;
    so are standard elements for which ``kept(tag, VR)`` is true (the scrub keeps them unchanged
    wherever they stand, so they are never identifying: the leak check asks
    :meth:`Scrubber.keeps_unchanged`).

    A private element still as read is decoded aside, so that the scrub finds it as read and
    writes back what it keeps byte for byte, as it does without a snapshot; a standard element is
    decoded in place, as the scrub itself would decode it (the ones it keeps unchanged are those
    ``kept`` leaves out, which are not decoded at all). With ``raw``, top-level elements still as
    read whose VR is known (not a sequence, not UN, not a Private Creator, not Specific Character
    Set), and private sequences still as read, are not decoded: they go to ``raw`` as (path,
    :data:`Unparsed`), for
    :class:`NeedleMemo` (the leak check; :func:`raw_counts` says which count); top-level
    elements whose tags are in ``skip`` are left out (the leak check has their values from
    :attr:`dicomscrub.lanes.Split.parsed_values`). Value
    objects are kept by reference: the scrub replaces an element's value, it never changes the
    value object, so what is kept here is the input's value."""
    found: list[Original] = [] if out is None else out
    if not prefix and meta:
        for elem in getattr(ds, "file_meta", None) or ():
            found.append(Original(format_tag(int(elem.tag)), int(elem.tag), elem.VR, elem.value))
    creators: dict[tuple[int, int], str] = {}
    encoding: list[str] | None = None
    for base_tag in list(ds.keys()):
        tag = int(base_tag)
        if tag in skip:
            continue
        item_or_raw: DataElement | RawDataElement | None = ds.get_item(base_tag)
        if item_or_raw is None:
            continue
        vr: str | None = item_or_raw.VR
        group = tag >> 16
        private = bool(group & 1)
        if vr is None and not private:
            vr = vr_of(tag)
        if not numbers and vr in NUMERIC_VRS:
            continue
        if kept is not None and not private and tag != 0x00080005 and kept(tag, vr):
            continue  # (Specific Character Set is listed: the search writes tokens in it)
        if (
            raw is not None
            and not prefix
            and vr is not None
            and isinstance(item_or_raw, RawDataElement)
            and item_or_raw.value is not None
        ):
            element = tag & 0xFFFF
            # a private sequence of defined length is counted (or, if kept, read) from its
            # bytes too; a creator is decoded below, for its text
            if (valued_as_read(tag, vr) and not (private and 0x10 <= element <= 0xFF)) or (
                private and vr == "SQ"
            ):
                creator = (
                    creators.get((group, element >> 8), "") if private and group > 0x0008 else ""
                )
                raw.append((format_tag(tag), (tag, vr.encode("ascii"), item_or_raw.value, creator)))
                continue
        if isinstance(item_or_raw, DataElement):
            elem = item_or_raw
        elif kept is not None and not private:
            try:
                elem = ds[base_tag]
            except Exception:  # pydicom cannot decode it: the scrub rejects the file
                continue
        else:
            if encoding is None:
                charset = ds.original_character_set or ds._character_set
                encoding = [charset] if isinstance(charset, str) else list(charset)
            elem = _decoded(item_or_raw, ["iso8859"] if tag == 0x00080005 else encoding, ds)
            if elem is None:  # pydicom cannot decode it: the scrub rejects or removes it
                continue
        vr = elem.VR
        if not numbers and vr in NUMERIC_VRS:
            continue
        path = prefix + format_tag(tag)
        if tag in BULK_TAGS:  # listed (explain shows it) but never searched
            found.append(Original(path, tag, vr, None))
            continue
        value = elem.value
        creator = ""
        if private and is_private_group(group):
            element = tag & 0xFFFF
            if 0x10 <= element <= 0xFF:
                creators[(group, element)] = creator_text(value).strip(" \0")
            else:
                creator = creators.get((group, element >> 8), "")
            if vr == "UN" and isinstance(value, bytes) and looks_like_items(value):
                parsed = parse_un_sequence(value)
                if parsed is not None:
                    found.append(Original(path, tag, "UN", value, creator))
                    for i, item in enumerate(parsed):
                        snapshot(item, f"{path}[{i}]/", found, numbers=numbers, kept=kept)
                    continue
        if vr == "SQ":
            found.append(Original(path, tag, "SQ", None, creator))
            for i, item in enumerate(value or ()):
                snapshot(item, f"{path}[{i}]/", found, numbers=numbers, kept=kept)
            continue
        if value is not None and isinstance(value, MultiValue | list):
            value = tuple(value)  # the scrub may change a list in place; keep the input's items
        found.append(Original(path, tag, vr, value, creator))
    return found


def valued_as_read(tag: int, vr: str) -> bool:
    """A top-level element whose value the leak check may take from its bytes as read: neither a
    sequence nor UN nor a number, nor Specific Character Set (whose values say how the search
    writes text), nor bulk data."""
    return (
        vr not in ("SQ", "UN")
        and vr not in NUMERIC_VRS
        and tag != 0x00080005
        and tag not in BULK_TAGS
    )


def raw_counts(
    path: str,
    item: Unparsed,
    effects: dict[str, Effect],
    kept_private: set[str],
    *,
    shifted_dates: bool,
    keeps_unchanged: Callable[[int, str | None], bool] | None = None,
) -> bool:
    """Whether a top-level element :func:`snapshot` left as read counts as identifying, by what
    the scrub did to it (``effects``: by path), as :func:`candidates` counts a parsed one. An
    element the scrub did not record counts, unless ``keeps_unchanged(tag, VR)`` says the scrub
    left it as read (:meth:`Scrubber.keeps_unchanged`, for a scrub that records no such element)."""
    if item[0] & 0x10000:
        return path not in kept_private
    effect = effects.get(path)
    vr = item_vr(item)
    if effect is None:  # not recorded: left as read by the scrub, or else counts
        return keeps_unchanged is None or not keeps_unchanged(item[0], vr)
    return _effect_counts(effect, vr, shifted_dates)


def _effect_counts(effect: Effect, vr: str, shifted_dates: bool) -> bool:
    """A standard value counts unless the scrub kept it or cleaned it as text (a shifted date
    counts with ``shifted_dates``)."""
    if effect is Effect.KEEP:
        return False
    if effect is Effect.CLEAN and vr not in BINARY_VRS and vr != "UI":
        return vr in ("DA", "DT") and shifted_dates
    return True


def _decoded(raw: RawDataElement, encoding: list[str], ds: Dataset) -> DataElement | None:
    """An element still as read, decoded as the data set would decode it (without storing it)."""
    try:
        return convert_raw_data_element(raw, encoding=encoding, ds=ds)
    except Exception:
        return None


# ---- what a value means --------------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def category_of(vr: str, tag: int, private: bool) -> Category | None:
    if not private:
        vr = judged_vr(tag, vr) or vr  # (a name written as LO is a name: see judged_vr)
    if vr == "PN":
        return Category.NAME
    if vr == "UI":
        return Category.UID
    if vr in ("DA", "DT"):
        return Category.DATE
    if vr == "TM":
        return Category.TIME
    if vr in NUMERIC_VRS:
        return None
    if private:
        return Category.PRIVATE
    keyword = keyword_for(tag)
    if keyword.endswith(("ID", "IDs", "Number", "Numbers")) and vr in ("LO", "SH", "CS", "UC"):
        return Category.ID
    return Category.TEXT


def _date_forms(text: str) -> Iterator[str]:
    """YYYYMMDD, and the same date as people and programs also write it (see
    :func:`~dicomscrub.profile.values.spellings`: 1961-03-17, 17/03/1961, 1961:03:17 ...)."""
    yield text
    day = day_of(text)
    if day is not None:
        yield day
        yield from spellings(day)


def text_runs(value: bytes) -> list[str]:
    """The runs of text in a binary value (see :data:`MIN_BINARY_RUN`), in order."""
    classes = value.translate(_RUN_CLASS)
    find, rfind = classes.find, classes.rfind
    runs: list[str] = []
    anchor = find(_RUN_ANCHOR)
    while anchor >= 0:
        end = find(b"\0", anchor)
        if end < 0:
            end = len(value)
        start = rfind(b"\0", 0, anchor) + 1
        if end - start >= MIN_BINARY_RUN:  # (most runs of random bytes are shorter)
            text = value[start:end].decode("latin-1").strip(_RUN_PUNCTUATION)
            if len(text) >= MIN_BINARY_RUN:
                runs.append(text)
        anchor = find(_RUN_ANCHOR, end)
    return runs


_AS_DATE, _AS_NAME = " as a date", " as a name"
_SHAPED = {_AS_DATE: Category.DATE, _AS_NAME: Category.NAME}
"""The suffixes :func:`_shaped_forms` marks its date and name forms with: for a standard
attribute of free text (an unknown attribute, read as UN or written as LO), they are tokens of
those categories (:func:`tokens_from`)."""


def _shaped_forms(text: str) -> Iterator[tuple[str, str]]:
    """A value written with a VR that says nothing of its form (LO, UN ...), shaped like a date
    or a date and time (20240315, 20240315101010), or like a person's name (Doe^Jane): its forms
    as a date's or a name's, marked so (strict tokens only where the scrub handles such values as
    dates or names too: see :func:`_judged_by_form`); an ID's other spellings."""
    shape = form_of(text) if len(text) <= 194 else None
    if shape in ("DA", "DT"):
        yield from ((form, _AS_DATE) for form in _date_forms(text) if form != text)
    elif shape == "PN":
        yield from ((form, _AS_NAME) for form in name_forms(text, False))
    for form in id_spellings(text):  # (PIDQX77123 also as PIDQX-77123 ...)
        yield form, ""


def forms(vr: str, value: str | bytes) -> Iterator[tuple[str, str]]:
    """The searchable forms of one value: (text, suffix for the kind), padding stripped."""
    if isinstance(value, bytes):
        text = value.decode("latin-1").strip(" \0")
        if text and text.isprintable():
            for part in text.split("\\"):
                part = part.strip(" \0")
                yield part, ""
                yield from _shaped_forms(part)
        else:
            for text in text_runs(value):
                yield text, " (text in a binary value)"
        return
    text = value.strip(" \0")
    if not text:
        return
    if vr == "PN":
        yield text, ""
        yield from ((form, "") for form in whole_name_forms(text))
        # (each also as written without accents, Smith of Smith-Jones, OBrien, VanDerBerg)
        yield from ((part, " component") for part in name_components(text))
    elif vr == "DA":
        for end in text.split("-"):
            for form in _date_forms(end.strip()):
                yield form, ""
    elif vr == "DT":
        for form in _date_forms(text):
            yield form, ""
    elif vr == "TM":
        yield text, ""
        yield text.split(".")[0], ""
    elif vr == "UI":
        if not is_standard_uid(text):
            yield text, ""
    else:
        yield text, ""
        if " " in text and vr in ("LO", "SH"):  # (as a folder name writes an institution's)
            yield "_".join(text.split()), ""
        yield from _shaped_forms(text)


@functools.lru_cache(maxsize=8192)
def _kind(tag: int, creator: str, category: Category, suffix: str) -> str:
    if category is Category.PRIVATE or (tag >> 16) % 2 == 1:
        where = f" ({creator})" if creator else ""
        return f"private value{where}{suffix}"
    if category in (Category.DATE, Category.TIME, Category.UID):
        return str(category.value)  # one date or UID is often the value of several attributes
    return f"{keyword_for(tag) or format_tag(tag)}{suffix}"


_PRIVATE_KIND = "private value ("
_KIND_SUFFIXES = (" (text in a binary value)", " component", "")


def kind_masked(kind: str, identifying: Callable[[str], bool]) -> str:
    """``kind`` (see :func:`_kind`) with the creator it names masked (see :func:`mask`) when
    ``identifying(creator)``: a creator holding the patient's ID must not reach a report."""
    if not kind.startswith(_PRIVATE_KIND):
        return kind
    for suffix in _KIND_SUFFIXES:
        if kind.endswith(")" + suffix):
            creator = kind[len(_PRIVATE_KIND) : len(kind) - len(suffix) - 1]
            if creator and identifying(creator):
                return f"{_PRIVATE_KIND}{mask(creator)}){suffix}"
            return kind
    return kind


# ---- identifying values of one input -------------------------------------------------------------


@dataclass
class FileIdentity:
    """The candidate tokens of one input, and what decides whether each really counts."""

    tokens: dict[str, Token] = field(default_factory=dict)
    charsets: set[str] = field(default_factory=set)


@functools.lru_cache(maxsize=16384)
def _tokens_of(
    vr: str, value: str | bytes, tag: int, creator: str, category: Category
) -> tuple[Token, ...]:
    """The searchable tokens of one value. Cached: a series repeats most of its values from file
    to file (the cache lives in memory only, like the data sets themselves)."""
    loose = category not in STRICT
    if isinstance(value, str):  # quick rejects before the forms (most values are short)
        bare = value.strip(" \0")
        if len(bare) < MIN_CHARS and not (vr == "PN" and searchable_cjk_name(bare)):
            return ()
        if loose and _NUMBER.fullmatch(bare):
            return ()
        if category is Category.ID and bare.isdigit():  # (943 476 5919 for 9434765919)
            grouped = ((form, "") for form in digit_spellings(bare))
            return tokens_from(itertools.chain(forms(vr, value), grouped), tag, creator, category)
        if tag in _TELEPHONE_TAGS and category is not Category.ID:
            numbers = tokens_from(((n, "") for n in _numbers_in(bare)), tag, creator, Category.ID)
            return tokens_from(forms(vr, value), tag, creator, category) + numbers
    return tokens_from(forms(vr, value), tag, creator, category)


_TELEPHONE_TAGS = frozenset(
    {0x00080094, 0x00102154, 0x00102155, 0x00401103, 0x00401104, 0x00402010, 0x00402011}
    | {0x0040A354}
)
"""The attributes of telephone numbers: Referring Physician's Telephone Numbers, Patient's
Telephone Numbers, Patient's Telecom Information, Person's Telephone Numbers, Person's Telecom
Information, Order Callback Phone Number, Order Callback Telecom Information, Telephone Number
(Trial, retired). The numbers in their text are IDs (most of them are IDs as a whole already:
see :func:`category_of`)."""


def _numbers_in(text: str) -> list[str]:
    """The telephone numbers in ``text`` (see :data:`_NUMBER_IN_TEXT`)."""
    runs = (m.group() for m in _NUMBER_IN_TEXT.finditer(text))
    return [run for run in runs if _number_digits(run.encode("ascii")) is not None]


@functools.lru_cache(maxsize=4096)
def _judged_by_form(tag: int) -> bool:
    """A standard attribute the dictionary does not know: the scrub handles its value by its form
    (see :func:`~dicomscrub.pipeline.shaped_as`), so the leak check counts a value shaped like a
    date or a name as one. A known attribute's text (a Protocol Name CT^HEAD) stays text."""
    return not (tag >> 16) & 1 and vr_of(tag) in (None, "UN")


def tokens_from(
    pairs: Iterable[tuple[str, str]], tag: int, creator: str, category: Category
) -> tuple[Token, ...]:
    """The tokens of the searchable forms ``pairs`` ((text, suffix), see :func:`forms`)."""
    found: dict[str, Token] = {}
    for text, suffix in pairs:
        low = text.lower()
        kind = Category.NAME_PART if suffix == " component" else category
        if suffix in _SHAPED:  # a form of a value shaped like a date or a name
            if category is Category.TEXT and _judged_by_form(tag):
                kind = _SHAPED[suffix]
            suffix = ""
        if low in found or not (
            searchable(low) or (kind is Category.NAME and searchable_cjk_name(low))
        ):
            continue
        if kind not in STRICT and _NUMBER.fullmatch(low):
            continue  # a measurement in text or private data, not an identity
        found[low] = Token(low, _kind(tag, creator, category, suffix), kind)
    return tuple(found.values())


_CACHE_UP_TO = 1024
"""Longer values (blobs, long texts) are not cached: they rarely repeat and would hold memory."""

SHORT_VALUE = _CACHE_UP_TO
"""Values up to this many bytes are remembered at once; the leak check looks those removed
unparsed up as one entry per file (:meth:`NeedleMemo.group`)."""


def add_token(tokens: dict[str, Token], token: Token) -> None:
    """Add ``token`` to tokens by text; of two with one text, the strict one stays."""
    old = tokens.get(token.text)
    if old is None or (token.strict and not old.strict):
        tokens[token.text] = token


def add_values(
    tokens: dict[str, Token],
    vr: str,
    values: Iterable[str | bytes],
    tag: int,
    creator: str,
    category: Category,
) -> None:
    for value in values:
        find = _tokens_of if len(value) <= _CACHE_UP_TO else _tokens_of.__wrapped__
        for token in find(vr, value, tag, creator, category):
            add_token(tokens, token)


@functools.lru_cache(maxsize=64)
def names_a_standard_uid(tag: int) -> bool:
    """A file meta element that holds a class or transfer syntax UID."""
    keyword = keyword_for(tag)
    return keyword.endswith(("ClassUID", "SyntaxUID")) and keyword != "ImplementationClassUID"


def candidates(
    originals: list[Original],
    decisions: list[Decision],
    kept_private: set[str],
    scrubber: Scrubber,
    *,
    shifted_dates: bool,
) -> FileIdentity:
    """The identifying values of one input: every value the scrub did not keep.

    * a standard element the scrub kept (K) is not identifying; one it cleaned (C) counts only
      where cleaning replaced it: UIDs, and DA/DT values it shifted, which count only with
      ``shifted_dates`` (``run`` knows the shift; ``check --against`` does not, and another
      patient's shifted date may equal this one's); cleaned text is not a token, since cleaning
      removes the other tokens from it;
    * a private element counts unless it was kept; private creators never count;
    * an element inside a sequence that was removed, emptied or replaced counts unless the profile
      would keep it where it stands (a code meaning, say);
    * file meta values count (the file meta is always replaced), except class and syntax UIDs;
    * numbers (DS, IS and binary numeric VRs) never count.
    """
    effects = {d.path: d.effect for d in decisions}
    ident = FileIdentity()
    for orig in originals:
        vr, tag = orig.vr, orig.tag
        if vr == "SQ" or vr in NUMERIC_VRS or orig.value is None:
            continue
        if tag == 0x00080005:  # defined terms, never identifying: how the search writes tokens
            ident.charsets.update(str(v) for v in orig.values)
            continue
        if tag >> 16 == 0x0002:
            if names_a_standard_uid(tag):
                continue
        elif tag & 0x10000:  # private (and forbidden odd groups)
            if orig.is_creator or orig.path in kept_private:
                continue
        else:
            effect = effects.get(orig.path)
            if effect is None:  # inside a sequence the scrub removed, emptied or replaced
                uids = [str(v) for v in orig.values] if vr == "UI" else None
                elem = DataElement(tag, vr, uids)
                effect = resolve(scrubber.action_for(elem)[0], False)
            if not _effect_counts(effect, vr, shifted_dates):
                continue
        category = category_of(vr, tag, orig.private)
        if category is not None:
            add_values(ident.tokens, vr, orig.values, tag, orig.creator, category)
    return ident


Unparsed = tuple[int, bytes | None, bytes, str]
"""An element removed or given a new value before it was parsed (see
:attr:`dicomscrub.lanes.Split.removed`): (tag, its VR as read, None in implicit VR, its value as
read, the private creator of a private element's block)."""


def item_vr(item: Unparsed) -> str:
    """The VR of an :data:`Unparsed` element: as read; in implicit VR the dictionary's for a
    standard element, UN for a private one (and where the dictionary does not know the tag)."""
    tag, raw_vr = item[0], item[1]
    if raw_vr is not None:
        return raw_vr.decode("ascii")
    return "UN" if tag & 0x10000 else vr_of(tag) or "UN"


Context = tuple[tuple[str, ...], bool, bool]
"""How the values of a data set are read: (its text encodings, implicit VR, little endian)."""


def standard_values(ds: Dataset) -> Iterator[tuple[str, str]]:
    """(VR, value) of every standard (even group) element of a data set, recursively."""
    for _, vr, value in standard_values_at(ds):
        yield vr, value


CREATOR_REFERENCE = 0x00080302
"""Private Creator Reference: it copies the text of a block's creator, which no rule judges, so
its values never show that the profile kept a whole name, ID, UID or date (see
:data:`CREATOR_TEXT`)."""
CREATOR_TEXT = "creator"
"""The VR :func:`standard_values` gives the values of a Private Creator Reference: they excuse
only loose tokens (a word of a vendor's name), never a strict one."""
UNRULED = "unruled"
"""The VR :func:`excusing` gives a value that no rule of the profile kept (the profile's
default did: an attribute Table E.1-1 does not list): it excuses only loose tokens. A whole
name, ID, UID, date or time that a technologist typed into such an attribute (a model name, a
report's text, an unknown attribute) is the leak, not a proof that the profile keeps it."""
CLEANED = "cleaned"
"""The VR :func:`excusing` gives a text value the profile cleaned (C): cleaning leaves what it
did not know to remove, so the value is no proof that the profile keeps a whole name, ID, UID,
date or time, nor a component of a name (what cleaning removes), that it holds. It excuses only
the other loose tokens (a word of a description: CHEST, a vendor's HEAD)."""
CODED = "coded"
"""The VR :func:`excusing` gives a value of a coded entry (0008,0100)-(0008,0123) that no rule
kept: a Code Meaning, a Coding Scheme Designator. It excuses the loose tokens it holds, a name's
part too (a patient Long and the Code Meaning Long axis length): codes are vocabulary, never a
person's; a whole name or ID typed into one is still a leak."""
VENDOR = "vendor"
"""The VR :func:`excusing` gives a vendor's text that no rule kept (Manufacturer, a model's name,
a software's version): it excuses what :data:`UNRULED` excuses, a whole place too (a vendor's
site, institution Philips Medical, and its Manufacturer Philips Medical Systems), and a
component of the patient's name (a patient Sola scanned on a MAGNETOM Sola, Hitachi on a Hitachi
scanner): the modality writes that text, no one types a name into it."""
_VENDOR_TAGS = frozenset({0x00080070, 0x00081090, 0x00181020})
_VENDOR_TAGS |= {0x00181016, 0x00181018, 0x00181019}
"""Manufacturer, Manufacturer's Model Name, Software Versions, and those of a Secondary Capture
Device."""
LOOSE_ONLY = frozenset({CREATOR_TEXT, UNRULED, CLEANED, CODED, VENDOR})
_EXCUSING_VRS = frozenset({"IS", "DS", "CS"})
"""Numbers kept by default, also as code strings, still excuse a strict token equal to them (a
Patient ID 1001 and an Acquisition Number 1001): they hold no identity. Other values of these
VRs do not, nor a number that is also a date (a birth date 19610317 kept as a number): a name
typed into Body Part Examined (CS), or into Spacing Between Slices (DS, an invalid value kept as
read), is the leak."""


def coded(path: str) -> bool:
    """The last tag of ``path`` is one of a coded entry's, (0008,0100)-(0008,0123)."""
    return path[-11:-6] == "(0008" and "0100" <= path[-5:-1].upper() <= "0123"


_CODE_WORD = re.compile(r"[A-Za-z_]+")
"""A code string's value that is one word of letters (and underscores): vocabulary, not a name
typed (two words) nor an ID (digits)."""


def _plain_number(text: str) -> bool:
    """A number that is not also a date (19610317: the birth date kept as a number is one)."""
    return _NUMBER.fullmatch(text) is not None and not is_date(text)


def excusing(path: str, vr: str, profile: CompiledProfile, value: str = "") -> str:
    """The VR by which a ``value`` of a de-identified data set at ``path`` (a tag path ending in
    "(gggg,eeee)") excuses tokens: ``vr``, or :data:`UNRULED` when no rule of ``profile`` (at its
    own tag; in a sequence kept whole, at the sequence's) decided on it (:data:`CODED` for a code
    string's value that is not a number: vocabulary, such as Body Part Examined's HEAD), or where
    the value is not what its VR holds (a UI value that is no UID)."""
    if vr in LOOSE_ONLY or (vr in _EXCUSING_VRS and _plain_number(value.strip(" \0"))):
        return vr
    tag = int(path[-10:-6], 16) << 16 | int(path[-5:-1], 16)
    if tag == 0x00080005 and value.strip(" \0") not in pydicom.charset.python_encoding:
        return UNRULED  # (no character set: a word typed there, a surname, is no vocabulary)
    if vr == "CS" and _CODE_WORD.fullmatch(value.strip(" \0")):
        return vr  # (one word of letters: a defined term, HELICAL, CHEST; a Study ID CHEST)
    if vr == "UI" and not _UID_SHAPED.fullmatch(value.strip(" \0")):
        return UNRULED  # (kept by Retain UIDs, but no UID: a Patient ID a PACS wrote there)
    rule = profile.standard_rule(tag)
    if rule is None:
        if tag in _VENDOR_TAGS:
            return VENDOR
        return CODED if coded(path) or vr == "CS" else UNRULED
    if vr in FREE_TEXT_VRS and resolve(rule.action, False) is Effect.CLEAN:
        return CLEANED
    return vr


_UID_SHAPED = re.compile(r"[0-9]+(?:\.[0-9]+)*")
"""Digits in dot-separated components: what a UI value holds (a kept one that holds anything
else, a Patient ID, excuses no strict token)."""


def excuses(vr: str, token: Token) -> bool:
    """Whether a value judged by ``vr`` (see :func:`excusing`) that holds ``token`` as a word
    may excuse it: a loose token; in a cleaned value, not a component of a name (cleaning removes
    those); in one no rule kept (see :data:`UNRULED`), not a component of the patient's name
    (their surname typed into an Overlay Label is no proof that the profile keeps it; other
    people's names, a referring physician's, often share a word with a vendor's text, which is
    such a value: Manufacturer); in a cleaned value, not a private value shaped like an
    ID (MRN-A77QX19: cleaning knows no private values, and a description holds none of its own)."""
    if token.strict:
        return False
    if vr in _COPIED and _whole_place(token):
        return False  # (an institution's name or an address typed whole into a free text)
    if token.category is Category.NAME_PART and (
        vr == CLEANED or (vr == UNRULED and token.kind.startswith(_PATIENTS))
    ):
        return False  # (an unruled value: the patient's surname typed into an Overlay Label)
    if vr != CLEANED:
        return True
    return not (token.category is Category.PRIVATE and _ID_SHAPED.fullmatch(token.text))


_COPIED = frozenset({UNRULED, CODED, CREATOR_TEXT})
"""The values no rule kept, which excuse a whole place only when a rule kept it (see
:func:`_whole_place`)."""
_PLACES = frozenset(
    {
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "ReferringPhysicianAddress",
        "PatientAddress",
        "RegionOfResidence",
        "PersonAddress",
        "ResponsibleOrganization",
        "PatientInstitutionResidence",
        "CurrentPatientLocation",
    }
)
"""Attributes whose value names where the patient lives or was seen."""


def _whole_place(token: Token) -> bool:
    """``token`` is the whole value of one of :data:`_PLACES` (an institution's name, an
    address) of two words or more: such a value found in text that no rule kept (a Manufacturer's
    Model Name, a De-identification Method an earlier export wrote, a Code Meaning, a creator) was
    copied there, and is no vendor's word (a one-word institution, TOSHIBA of TOSHIBA_MEC, still
    is excused)."""
    return (
        token.category is Category.TEXT
        and token.kind in _PLACES
        and len(token.text.replace("_", " ").split()) > 1
    )


_PATIENTS = ("Patient", "OtherPatientNames")
"""The kinds of the patient's own names (PatientName, PatientBirthName, PatientMotherBirthName,
OtherPatientNames ...)."""
_ID_SHAPED = re.compile(r"(?=\S*[a-z])(?=(?:\S*[0-9]){4})\S{6,}")
"""A word of six characters or more with a letter and four digits (lower case)."""


def standard_values_at(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """(tag path, VR, value) of :func:`standard_values`, paths as the scrub records them."""
    for elem in ds:
        tag = int(elem.tag)
        if (tag >> 16) % 2 == 1 or tag in BULK_TAGS:
            continue
        path = prefix + format_tag(tag)
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                yield from standard_values_at(item, f"{path}[{i}]/")
        else:
            for vr, value in element_values(elem):
                yield path, CREATOR_TEXT if tag == CREATOR_REFERENCE else vr, value


def element_values(elem: DataElement) -> Iterator[tuple[str, str]]:
    """(VR, value) of a standard element (of the elements inside, for a sequence)."""
    if elem.VR == "SQ":  # (a coded entry's values judged as such: see CODED)
        for item in elem.value or []:
            for path, vr, value in standard_values_at(item):
                yield CODED if coded(path) and vr not in LOOSE_ONLY else vr, value
        return
    if elem.VR in NUMERIC_VRS and elem.VR not in ("DS", "IS"):
        return
    value = elem.value
    if isinstance(value, MultiValue | list | tuple):
        for v in value:
            if not isinstance(v, bytes):
                yield elem.VR, str(v)
    elif value is not None and not isinstance(value, bytes):
        yield elem.VR, str(value)


class ToolText(NamedTuple):
    """What dicomscrub itself may write into a data set, lower case, one value per line."""

    builtin: str  # dummies, method labels, code meanings, its UID, rules' pseudonym prefixes
    rules: str  # the values the profile's rules write

    def excuses(self, token: Token) -> bool:
        """``token`` is a word of what dicomscrub writes: not a leak. A whole name or an ID
        equal to a rule's value is one all the same: the value a profile writes for every
        patient (D with ``value: Doe^Jane``) is this patient's name in this patient's files,
        as a ``--mapping-in`` subject ID equal to it is."""
        if contains_word(self.builtin, token.text):
            return True
        return token.category not in _NAMING_ONE and contains_word(self.rules, token.text)


_NAMING_ONE = frozenset({Category.NAME, Category.ID})


NO_TOOL_TEXT = ToolText("", "")


@dataclass
class Exclusions:
    """Values that are not leaks although a token equals them or, for loose tokens, contains them.

    * ``values``: every searchable form of a standard attribute's value in the de-identified data
      set: what the profile kept there, or what the scrub wrote (a dummy, a shifted date, a
      pseudonym). A token equal to one of them is not searched;
    * ``text``: the same values whole; a loose (not :data:`STRICT`) token that occurs in one of
      them as a word is not searched;
    * ``tool_text``: what dicomscrub writes itself (dummy values, method labels, code meanings,
      rule values); no token that occurs in it as a word is searched.
    """

    values: set[str] = field(default_factory=set)
    text: set[str] = field(default_factory=set)
    cleaned: set[str] = field(default_factory=set)  # text values cleaned (see CLEANED)
    unruled: set[str] = field(default_factory=set)  # text values no rule kept (see UNRULED)
    vendor: set[str] = field(default_factory=set)  # vendors' names no rule kept (see VENDOR)
    tool_text: ToolText = NO_TOOL_TEXT

    def add_dataset(
        self,
        ds: Dataset,
        unchanged: Callable[[str, str], bool] | None = None,
        profile: CompiledProfile | None = None,
    ) -> None:
        """Add the values of ``ds`` but those for which ``unchanged(path, value)`` is true (the
        input's values where the scrub should have written others: see
        :func:`dicomscrub.check.scrub_checked`). Given the ``profile`` that made ``ds``, the
        values no rule kept excuse loose tokens only (see :data:`UNRULED`)."""
        by_vr = {CLEANED: self.cleaned, UNRULED: self.unruled, VENDOR: self.vendor}
        for path, vr, value in standard_values_at(ds):
            if unchanged is not None and unchanged(path, value):
                continue
            if profile is not None:
                vr = excusing(path, vr, profile, value)
            # (a value with marked letters also as the search finds it, marks off: unmarked)
            for one in (value,) if value.isascii() else (value, unmarked(value)):
                for text, _ in forms(vr, one) if vr not in LOOSE_ONLY else ():
                    self.values.add(text.lower())
                low = one.strip(" \0").lower()
                if low:
                    by_vr.get(vr, self.text).add(low)

    def allows(self, token: Token) -> bool:
        """True when ``token`` still counts as identifying."""
        if token.text in self.values or self.tool_text.excuses(token):
            return False
        if token.strict:
            return True
        texts = itertools.chain(
            self.text,
            self.cleaned if excuses(CLEANED, token) else (),
            self.unruled if excuses(UNRULED, token) else (),
            self.vendor if excuses(VENDOR, token) else (),
        )
        return not any(contains_word(text, token.text) for text in texts)


def still_identifying(
    tokens: Iterable[Token], values: Iterable[tuple[str, str]], tool: ToolText
) -> set[str]:
    """The texts of ``tokens`` that :class:`Exclusions` built from the de-identified data set whose
    :func:`standard_values` are ``values`` would allow, computed for a few tokens without building
    the whole set (``run``'s leak check)."""
    remaining = {t.text: t for t in tokens if not tool.excuses(t)}
    if not remaining:
        return set()
    for vr, value in values:
        low = value.strip(" \0").lower()
        # (a value with marked letters also as the search finds it, marks off: see unmarked)
        lows = (low,) if low.isascii() else (low, unmarked(low))
        for text, token in list(remaining.items()):
            if all(text not in one for one in lows):
                continue
            if token.strict:
                if vr not in LOOSE_ONLY and any(
                    form.lower() == text
                    for one in ((value,) if value.isascii() else (value, unmarked(value)))
                    for form, _ in forms(vr, one)
                ):
                    del remaining[text]
            elif excuses(vr, token) and any(contains_word(one, text) for one in lows):
                del remaining[text]
        if not remaining:
            break
    return set(remaining)


def tool_text(scrubber: Scrubber) -> ToolText:
    """Everything dicomscrub itself may write into a data set (see :class:`ToolText`)."""
    profile = scrubber.profile
    parts = [*DUMMY_BY_VR.values(), *CID7050.values(), "YES", "MODIFIED", "UNMODIFIED", "REMOVED"]
    parts += [IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION]  # (an input dicomscrub wrote)
    for method in profile.methods:
        parts += [method.label, method.meaning or ""]
    values = []
    for rule in (*profile.exact.values(), *profile.masks, *profile.creator_masks):
        if rule.value:
            values.append(rule.value)
        if rule.pseudonym:  # (a prefix, ANON-: a Scheduled Procedure Step ID ANON names no one)
            parts.append(rule.pseudonym)
    return ToolText("\n".join(p.lower() for p in parts if p), "\n".join(v.lower() for v in values))


def contains_word(text: str, word: str) -> bool:
    """``word`` occurs in ``text`` with no letter or digit touching it (both lower case)."""
    start = text.find(word)
    while start >= 0:
        end = start + len(word)
        if (start == 0 or not text[start - 1].isalnum()) and (
            end == len(text) or not text[end].isalnum()
        ):
            return True
        start = text.find(word, start + 1)
    return False


# ---- the search ----------------------------------------------------------------------------------


def encodings_of(charsets: Iterable[str]) -> tuple[str, ...]:
    """The encodings the search writes a token in, for the Specific Character Set values of an
    input: UTF-8, Latin-1, then those the values name."""
    return _encodings_cached(tuple(sorted(set(charsets))))


@functools.lru_cache(maxsize=256)
def codecs_named(names: tuple[str, ...]) -> frozenset[str]:
    """The codecs, by Python's canonical names (utf-8, gb18030, iso2022_jp ...), that ``names``
    name: Specific Character Set values (several terms joined by backslashes) or the encodings
    they name (:func:`encodings_of`); an unknown name names none."""
    found = set()
    for name in names:
        for term in name.split("\\"):
            term = term.strip()
            try:
                found.add(codecs.lookup(pydicom.charset.python_encoding.get(term, term)).name)
            except LookupError:
                continue
    return frozenset(found)


@functools.lru_cache(maxsize=256)
def _encodings_cached(charsets: tuple[str, ...]) -> tuple[str, ...]:
    names = ["utf-8", "latin-1"]
    for charset in charsets:
        try:
            names += pydicom.charset.convert_encodings([c.strip() for c in charset.split("\\")])
        except Exception:  # an unknown character set: the default encodings still apply
            continue
    return tuple(dict.fromkeys(names))


class KeyedForm(NamedTuple):
    form: bytes
    key: bytes | None  # its longest word; None: it has none, or a ``grid``
    grid: int  # GRID_START, GRID_END: it starts, ends in a 7-bit two-byte set (IR 87, IR 159)


GRID_START, GRID_END = 1, 2


@functools.lru_cache(maxsize=65536)
def keyed_forms(text: str, encodings: tuple[str, ...]) -> tuple[KeyedForm, ...]:
    """``text`` as bytes in each encoding, in lower, upper and title case (Иванов^Иван), then
    ASCII-lowered (the haystack is lowered the same way: its other letters keep their case), each
    with its longest word (see :meth:`Matcher.search`). Cached: most tokens of a file are tokens
    of the file before.

    A form that starts or ends in a 7-bit two-byte set (山田太郎, 山田 太郎 in ISO 2022 IR 87)
    has no word there: its bytes are letters, digits and punctuation to the whole-word search,
    and so are those of the text around it (患者山田 太郎様). That end is bounded by the set's
    two-byte grid instead (see :func:`_on_two_byte_grid`), and the form is always searched."""
    if text.isascii():
        form = text.lower().encode("ascii")
        return (KeyedForm(form, _key_word(form), 0),)
    forms: dict[bytes, int] = {}
    variants = {text, text.upper(), text.title()}
    # (composed and decomposed: Müller as one letter ü, or as u and a combining diaeresis)
    variants |= {unicodedata.normalize(way, v) for v in variants for way in ("NFC", "NFD")}
    for variant in variants:
        for encoding in encodings:
            try:
                written = variant.encode(encoding).lower()
            except (UnicodeError, LookupError):
                continue
            form = _as_written(written)
            forms[form] = forms.get(form, 0) | _grid_of(written)
    return tuple(
        KeyedForm(form, None if grid else _key_word(form), grid) for form, grid in forms.items()
    )


def _grid_of(written: bytes) -> int:
    """GRID_START and GRID_END of a text as a 7-bit ISO 2022 codec writes it (an escape to the
    set of its first character; back to ASCII at its end)."""
    grid = GRID_START if written[:3] in _TWO_BYTE_SETS else 0
    body = written[:-3] if written[-3:] in (b"\x1b(b", b"\x1b(j") else written
    last = body.rfind(b"\x1b")
    if last >= 0 and body[last : last + 3] in _TWO_BYTE_SETS:
        grid |= GRID_END
    return grid


_TWO_BYTE_SETS = (b"\x1b$b", b"\x1b$(")
"""The escapes (lowered) that designate the 7-bit two-byte sets of ISO 2022 IR 87 (ESC $ B) and
IR 159 (ESC $ ( D)."""


def _as_written(form: bytes) -> bytes:
    """A token's bytes as a file writes them after an escape sequence: the 7-bit ISO 2022 codecs
    (``iso2022_jp``: ISO 2022 IR 87 and 159) begin with the escape that designates the set of
    the first character (ESC $ B) and end with the one back to ASCII (ESC ( B); a file holds the
    text after its own escape, which may follow other text of the same set, and goes on after it
    in the same set or switches back later. Both ends are left out (the escape next to a match
    counts as a boundary: see :func:`_left_bounded`); escapes inside the text stay."""
    if form[:1] == b"\x1b":
        lead = _ESCAPE.match(form)
        if lead is not None:
            form = form[lead.end() :]
    if form[-3:] in (b"\x1b(b", b"\x1b(j"):
        form = form[:-3]
    return form


def _key_word(form: bytes) -> bytes | None:
    """The longest word of a form (see :meth:`Matcher.search`), escapes counted as spaces as
    :func:`words_of` counts them."""
    if b"\x1b" in form:
        form = _ESCAPE.sub(b" ", form)
    return max(_WORD_RUN.findall(form), key=len, default=None)


_WORD_RUN = re.compile(rb"[0-9a-z]+")
"""A word as the whole-word search sees one (bytes from 0x80 up are not letters to it)."""
_ESCAPE = re.compile(rb"\x1b[\x20-\x2f]{0,3}[\x30-\x7e]")
"""An ISO 2022 escape sequence: ESC, intermediate bytes, a final byte. Its final byte is often a
letter (ESC $ B, ESC - L, ESC $ ) C) but it ends no word: the text after it starts one."""
WORD_BYTES = bytes(
    byte
    if chr(byte) in "0123456789abcdefghijklmnopqrstuvwxyz"
    else byte + 32
    if 65 <= byte <= 90
    else 32
    for byte in range(256)
)


def words_of(hay: bytes, big_endian: bool = False) -> set[bytes]:
    """The words of ``hay`` (:data:`_WORD_RUN`, ASCII lowered), found at C speed: three times
    faster than the regular expression on a header full of binary values. An escape sequence
    (:data:`_ESCAPE`) separates words (looked for only where the bytes hold an ESC); where a T
    stands between digits, the words on either side of it are words too; the first eight digits
    of a word of 10, 12 or 14 digits (a DICOM DT's date: see :func:`_compact_time_after`) are a
    word too.

    Each word without its last letter is a word too: a value's last letter may be followed by
    the next element's tag, whose first byte can be a letter or a digit (a value of group 0054
    by a T: see :func:`header_at`); ``big_endian``: without its first letter too (a value's
    first letter may follow its length's low byte)."""
    if b"\x1b" in hay:
        hay = _ESCAPE.sub(b" ", hay)
    text = hay.translate(WORD_BYTES)
    words = set(text.split())
    shape = hay.translate(_DIGIT_T)  # (rare cases: a C-speed look first)
    if shape.find(b"0t0") >= 0:
        words.update(_T_BETWEEN_DIGITS.sub(b" ", text).split())
    if shape.find(b"0000000000") >= 0:
        words.update([w[:8] for w in filter(bytes.isdigit, words) if len(w) in (10, 12, 14)])
    whole = tuple(words)
    words.update(map(_WITHOUT_LAST, whole))
    words.update(map(_WITHOUT_LAST_TWO, whole))  # (a private group of two letters: 7053 Sp)
    if big_endian:
        words.update(map(_WITHOUT_FIRST, whole))
    return words


_WITHOUT_LAST = operator.itemgetter(slice(None, -1))
_WITHOUT_LAST_TWO = operator.itemgetter(slice(None, -2))
_WITHOUT_FIRST = operator.itemgetter(slice(1, None))


_CHUNK_END = b"    "
"""Where :class:`WordMemo` cuts the text of a haystack: four bytes in a row that are no letter or
digit (an element's tag often is, with the length before it or the VR after it)."""


class WordMemo:
    """:func:`words_of`, remembered by pieces of the haystack: the output headers of a series are
    the same bytes but for a few values (UIDs, instance numbers, positions, times), so most of
    their words are the words of the header before. In memory only, like the data sets; emptied
    when it holds more than :attr:`LIMIT` pieces or about :attr:`LIMIT_BYTES` bytes (the pieces,
    and :attr:`WORD_COST` bytes for each of their words).

    Why it gives what :func:`words_of` gives, exactly: with no ESC in the haystack (else
    :func:`words_of` is called as it is), its words are those of its text (``WORD_BYTES``: letters
    and digits, ASCII lowered, all else a space; a T is a t in both, a digit a digit, so the T and
    digit shape is the same too). Cut that text where it holds :data:`_CHUNK_END` (spaces), each
    piece holds whole words, and every rule of :func:`words_of` looks within one word (a T
    between two digits, ten digits in a row, a word less its first or last letters): the words of
    the text are the union of the words of its distinct pieces, and those of a piece depend on
    its bytes alone, which key the memo (with ``big_endian``)."""

    LIMIT = 20_000
    LIMIT_BYTES = 16 << 20
    WORD_COST = 64  # (a short bytes object and its place in a frozenset)

    def __init__(self) -> None:
        self._memo: dict[bytes, frozenset[bytes]] = {}
        self._big_endian: dict[bytes, frozenset[bytes]] = {}  # (the same, with big_endian)
        self._bytes = 0

    def words(self, hay: bytes, big_endian: bool = False) -> set[bytes]:
        """``words_of(hay, big_endian)``: a new set."""
        if b"\x1b" in hay:  # (rare: the escapes are replaced first, across any cut)
            return words_of(hay, big_endian)
        memo = self._big_endian if big_endian else self._memo
        found = []
        for piece in set(hay.translate(WORD_BYTES).split(_CHUNK_END)):
            known = memo.get(piece)
            if known is None:
                if len(memo) >= self.LIMIT or self._bytes >= self.LIMIT_BYTES:  # (both dicts)
                    self._memo.clear()
                    self._big_endian.clear()
                    self._bytes = 0
                known = memo[piece] = frozenset(words_of(piece, big_endian))
                self._bytes += len(piece) + self.WORD_COST * len(known)
            found.append(known)
        return set().union(*found)


_DIGIT_T = bytes(48 if 48 <= b <= 57 else 116 if b in (84, 116) else 32 for b in range(256))
"""Digits as 0, T as t, all else a space: where a T stands between two digits (an ISO 8601 date
and time, 20190423T101010), the date before it is a word as well (see :func:`_time_after`)."""
_T_BETWEEN_DIGITS = re.compile(rb"(?<=[0-9])t(?=[0-9])")


class Matcher:
    """Whole-word, case-insensitive search for many tokens in bytes.

    Few tokens (``run``: one input's) are found with ``bytes.find``, each only when its longest
    word is one of the words of the haystack (every word of a token found as a whole word is a
    whole word of the haystack); many (``check --against``: a whole tree's) with one compiled
    pattern built as a trie, so the cost does not grow with the number of tokens."""

    def __init__(self, tokens: Iterable[Token], charsets: Iterable[str] = ()) -> None:
        encodings = encodings_of(charsets)
        self.forms: dict[bytes, Token] = {}
        self._keys: dict[bytes, bytes | None] = {}
        grids: dict[bytes, int] = {}
        self._undecoded: list[tuple[re.Pattern[bytes], Token]] = []
        ordered = sorted(tokens, key=lambda t: t.text)
        for token in ordered:
            if _REPLACED in token.text:
                pattern = _undecoded_pattern(token.text)
                if pattern is not None:
                    self._undecoded.append((pattern, token))
            for form, key, grid in keyed_forms(token.text, encodings):
                if form not in self.forms:
                    self.forms[form] = token
                    self._keys[form] = key
                    if grid:
                        grids[form] = grid
        self._grids = grids
        self._numbers = _numbers_of(ordered)
        self._number_pattern: re.Pattern[bytes] | None = None
        if len(self._numbers) > _FIND_NUMBERS_UP_TO:
            self._number_pattern = re.compile(_trie(list(self._numbers)) + rb"(?![0-9])")
        self._dates = frozenset(
            form
            for form, token in self.forms.items()
            if token.category is Category.DATE and form[-1:] in _DIGITS
        )
        self._compact_dates = tuple(
            form for form in self._dates if len(form) == 8 and form.isdigit()
        )
        self._times = frozenset(
            form
            for form, token in self.forms.items()
            if token.category is Category.TIME and form[:1] in _DIGITS
        )
        self._pattern: re.Pattern[bytes] | None = None
        self._glued: re.Pattern[bytes] | None = None
        if len(self.forms) > _REGEX_ABOVE:
            trie = _trie(list(self.forms))
            self._pattern = re.compile(trie + rb"(?:(?![0-9a-z])(?!\.[0-9])|(?<=[0-9])(?=t[0-9]))")
            self._glued = re.compile(trie + rb"(?=[0-9a-z]{1,2}(?![0-9a-z]))")

    def __bool__(self) -> bool:
        return bool(self.forms)

    def _number_hits(self, hay: bytes, data: bytes) -> Iterator[tuple[int, Token]]:
        """Telephone numbers and IDs of digits and separators (see :func:`_numbers_of`) written
        in another layout: a run of digits and separators ending in the last four digits of
        one, whose digits and those of the number end alike in seven digits or more, and differ
        by three digits at most before that (a country code, a trunk prefix): 555-123-4567 as
        (555) 123 4567, 555.123.4567, +1 555 123 4567 or 5551234567. A run with dots is one only
        where no group of its digits is longer than four (not a UID, not a decimal number)."""
        if not self._numbers:
            return
        ends: Iterable[tuple[int, bytes]]
        if self._number_pattern is not None:
            ends = ((m.start(), m.group()) for m in self._number_pattern.finditer(hay))
        else:
            ends = _found_all(hay, self._numbers)
        for at, last in ends:
            end = at + len(last)
            if end < len(hay) and hay[end] in _DIGIT and not header_at(data, end):
                continue
            start = at
            while start > 0 and end - start < _NUMBER_RUN_MAX and hay[start - 1] in _NUMBER_BYTES:
                start -= 1
            while hay[start] not in _NUMBER_START:
                start += 1
            run = hay[start:end]
            for part in run.split(b"/") if b"/" in run else (run,):
                token = _number_match(part, self._numbers[last])
                if token is not None:
                    yield end - len(part), token
                    break

    def search(
        self, data: bytes, base: int = 0, words: set[bytes] | None = None, big_endian: bool = False
    ) -> list[tuple[int, Token]]:
        """(offset + ``base``, token) for every offset in ``data`` where a token starts as a
        whole word, with the longest token that matches there; sorted by offset. ``words``: the
        words of ``data`` (:func:`words_of`, with ``big_endian``), or a set that holds them,
        when known.

        A whole word may touch the header of the element before or after its value (the bytes
        of a tag or a length may be letters or digits: see :func:`header_at`), and a form that
        starts with a byte from 0x80 up may follow one (see :func:`_left_bounded`)."""
        hay = data.lower()
        if self._pattern is not None:
            hits = dict(self._regex_hits(hay, data))
            grid_hits = self._grid_hits(hay, data)
            for pos, form in itertools.chain(self._compact_hits(hay, data), grid_hits):
                hits.setdefault(pos, self.forms[form])
            for pos, token in itertools.chain(
                self._undecoded_hits(hay, data), self._number_hits(hay, data)
            ):
                hits.setdefault(pos, token)
            return [(base + pos, hits[pos]) for pos in sorted(hits)]
        found: dict[int, bytes] = dict(self._compact_hits(hay, data))
        for pos, form in self._grid_hits(hay, data):
            if len(form) > len(found.get(pos, b"")):
                found[pos] = form
        if words is None:
            words = words_of(hay, big_endian)
        for form, key in self._keys.items():
            if key is not None and key not in words:
                continue
            pos = hay.find(form)
            while pos >= 0:
                end = pos + len(form)
                if (
                    _bounded(hay, pos, end, data)
                    or (
                        form in self._dates
                        and _time_after(hay, end)
                        and _left_bounded(hay, pos, data)
                    )
                    or (
                        form in self._times
                        and _date_before(hay, pos)
                        and _right_bounded(hay, end, data)
                    )
                ) and len(form) > len(found.get(pos, b"")):
                    found[pos] = form
                pos = hay.find(form, pos + 1)
        hits = {pos: self.forms[form] for pos, form in found.items()}
        for pos, token in itertools.chain(
            self._undecoded_hits(hay, data), self._number_hits(hay, data)
        ):
            hits.setdefault(pos, token)
        return [(base + pos, hits[pos]) for pos in sorted(hits)]

    def _undecoded_hits(self, hay: bytes, data: bytes) -> Iterator[tuple[int, Token]]:
        """Tokens read from bytes their character set could not decode (see
        :func:`_undecoded_pattern`), found as whole words: rare, so always searched."""
        for pattern, token in self._undecoded:
            for m in pattern.finditer(hay):
                if _bounded(hay, m.start(), m.end(), data):
                    yield m.start(), token

    def _compact_hits(self, hay: bytes, data: bytes) -> Iterator[tuple[int, bytes]]:
        """Dates (YYYYMMDD) that begin a DICOM DT (20240315101010): not whole words, so the
        word-based search does not see them."""
        for form in self._compact_dates:
            pos = hay.find(form)
            while pos >= 0:
                if _left_bounded(hay, pos, data) and _compact_time_after(
                    hay, pos + len(form), data
                ):
                    yield pos, form
                pos = hay.find(form, pos + 1)

    def _grid_hits(self, hay: bytes, data: bytes) -> Iterator[tuple[int, bytes]]:
        """Forms that start or end in a 7-bit two-byte set, found with that end on its grid
        (see :func:`_on_two_byte_grid`) whatever touches it, the other end as a word's."""
        if self._grids and b"\x1b$" in hay:
            for form, grid in self._grids.items():
                pos = hay.find(form)
                while pos >= 0:
                    if (
                        (grid & GRID_START and _on_two_byte_grid(hay, pos))
                        or _left_bounded(hay, pos, data)
                    ) and (grid & GRID_END or _right_bounded(hay, pos + len(form), data)):
                        yield pos, form
                    pos = hay.find(form, pos + 1)

    def _regex_hits(self, hay: bytes, data: bytes) -> Iterator[tuple[int, Token]]:
        """The hits of the compiled pattern, then those it missed because the next element's
        header touches them (see :func:`header_at`): a second pattern finds a form followed by
        one letter or digit, kept where a header starts there (the longer form, found second,
        wins where both match)."""
        assert self._pattern is not None and self._glued is not None
        for pattern, glued in ((self._pattern, False), (self._glued, True)):
            pos = 0
            while True:
                m = pattern.search(hay, pos)
                if m is None:
                    break
                pos = m.start() + 1
                # the right side is checked by the pattern (a T and a digit only after a date)
                form = m.group()
                if glued and not header_at(data, m.end()):
                    continue
                if (
                    _left_bounded(hay, m.start(), data)
                    or (form in self._times and _date_before(hay, m.start()))
                ) and (not _time_after(hay, m.end()) or form in self._dates):
                    yield m.start(), self.forms[form]

    def search_text(self, text: str) -> list[Token]:
        """Tokens found in a file or folder name, or a creator's text (full-width letters read as
        the ASCII they stand for)."""
        narrow = text.translate(NARROW).encode("utf-8", "surrogateescape")
        return [tok for _, tok in self.search(narrow)]


_NUMBER_IN_TEXT = re.compile(r"[+(]?[0-9][0-9 ()+\-./]*[0-9]")
"""A number written with separators, as telephone numbers are (+1 (555) 123-4567)."""
_NUMBER_BYTES = frozenset(b"0123456789 ()+-./")
_NUMBER_START = frozenset(b"0123456789(+")
_NUMBER_RUN_MAX = 32
"""How far back from its last four digits a number in another layout is looked for (bytes)."""
_FIND_NUMBERS_UP_TO = 50
"""With more numbers (last four digits) than this, one compiled pattern finds them."""
_DIGIT_GROUPS = re.compile(rb"[0-9]+")


def _number_digits(text: bytes) -> bytes | None:
    """The digits of a number written with separators (see :data:`_NUMBER_IN_TEXT`), if seven
    to twenty; with a dot, only if no group of digits is longer than four (a UID, a decimal
    number are not telephone numbers)."""
    groups = _DIGIT_GROUPS.findall(text)
    digits = b"".join(groups)
    if not 7 <= len(digits) <= 20:
        return None
    if b"." in text and any(len(group) > 4 for group in groups):
        return None
    return digits


def _numbers_of(tokens: Iterable[Token]) -> dict[bytes, list[tuple[bytes, Token]]]:
    """The numbers of ``tokens`` searched in any layout (see :func:`number_digits`), by their
    last four digits."""
    found: dict[bytes, list[tuple[bytes, Token]]] = {}
    seen: set[bytes] = set()
    for token in tokens:
        if token.category is not Category.ID:  # (most tokens are not: a quick look first)
            continue
        digits = number_digits(token)
        if digits is not None and digits not in seen:
            seen.add(digits)
            found.setdefault(digits[-4:], []).append((digits, token))
    return found


@functools.lru_cache(maxsize=8192)
def number_digits(token: Token) -> bytes | None:
    """The digits of an ID written as digits and separators alone (555-123-4567, 123-45-6789,
    0012345678: telephone numbers are IDs, those in the text of Patient's Telecom Information
    too), searched in any layout; None for other tokens."""
    if token.category is not Category.ID or not _NUMBER_IN_TEXT.fullmatch(token.text):
        return None
    return _number_digits(token.text.encode("ascii"))


def _found_all(
    hay: bytes, numbers: dict[bytes, list[tuple[bytes, Token]]]
) -> Iterator[tuple[int, bytes]]:
    """(offset, last four digits) of every place ``hay`` holds the last four digits of one of
    ``numbers``."""
    for last in numbers:
        at = hay.find(last)
        while at >= 0:
            yield at, last
            at = hay.find(last, at + 1)


def _number_match(run: bytes, numbers: list[tuple[bytes, Token]]) -> Token | None:
    """The number of ``numbers`` that ``run`` writes in another layout (see
    :meth:`Matcher._number_hits`), if any."""
    digits = _number_digits(run)
    if digits is None:
        return None
    for number, token in numbers:
        same = 0
        for a, b in zip(reversed(digits), reversed(number), strict=False):
            if a != b:
                break
            same += 1
        if same >= 7 and len(digits) - same <= 3 and len(number) - same <= 3:
            return token
    return None


def _left_bounded(hay: bytes, start: int, data: bytes | None = None) -> bool:
    """No letter or digit before ``start``, and no digit and dot (a UID's); the final byte of an
    ISO 2022 escape sequence is no letter (ESC $ ) C then a Korean name), nor is the last byte
    of an element's header (in ``data``, the bytes ``hay`` lowers: see :func:`header_before`).
    Before a byte from 0x80 up (a CJK name in GBK, GB18030, UTF-8 ...) a letter or a digit is
    the last byte of another character (給 in GBK ends in an o, a four-byte GB18030 character
    in a digit): no bound is needed there."""
    if start > 0 and hay[start - 1] in _WORD:
        if hay[start] >= 0x80 or _after_escape(hay, start):
            return True
        return data is not None and header_before(data, start)
    return not (start > 1 and hay[start - 1] == _DOT and hay[start - 2] in _DIGIT)


def _on_two_byte_grid(hay: bytes, start: int) -> bool:
    """``start`` is the first byte of a character of a 7-bit two-byte set: the last escape
    before it designates ISO 2022 IR 87 or IR 159 (see :data:`_TWO_BYTE_SETS`), and an even
    number of bytes lies between them. Those sets have no spaces between words: a name is found
    wherever its characters are (患者山田太郎様), but not astride two characters."""
    at = hay.rfind(b"\x1b", 0, start)
    if at < 0 or hay[at : at + 3] not in _TWO_BYTE_SETS:
        return False
    escape = _ESCAPE.match(hay, at)
    return escape is not None and (start - escape.end()) % 2 == 0


def _after_escape(hay: bytes, start: int) -> bool:
    """An escape sequence (:data:`_ESCAPE`) ends right before ``start``: looked at only where a
    letter or digit touches a match, which is rare."""
    at = hay.rfind(b"\x1b", max(0, start - 5), start - 1)
    return at >= 0 and _ESCAPE.fullmatch(hay, at, start) is not None


def _time_after(hay: bytes, end: int) -> bool:
    """A T and a digit follow ``end`` (lower case): the time of an ISO 8601 date and time
    (2019-04-23T10:10:10, 20190423T101010). A date form ends there as at a space: the T is not
    a letter of a word that the date is part of."""
    return end + 1 < len(hay) and hay[end] == _T and hay[end + 1] in _DIGIT


_REPLACED = "\ufffd"
"""What pydicom decodes bytes to that its character set cannot decode (Latin-1 bytes in a data
set that says it is UTF-8: M\xfcller read as M\ufffdller)."""


def _undecoded_pattern(text: str) -> re.Pattern[bytes] | None:
    """A pattern of the bytes ``text`` was decoded from when its character set could not decode
    some of them (each :data:`_REPLACED` stands for one to four bytes from 0x80 up: the output
    holds them as read), lower case as the haystack is; None when the rest is not ASCII or too
    short to be a word of its own."""
    parts = text.split(_REPLACED)
    if not all(part.isascii() for part in parts) or sum(map(len, parts)) < MIN_CHARS - 1:
        return None
    return re.compile(rb"[\x80-\xff]{1,4}".join(re.escape(p.lower().encode()) for p in parts))


def _compact_time_after(hay: bytes, end: int, data: bytes | None = None) -> bool:
    """The time of a DICOM DT follows ``end`` and ends the word: the date before it is the date
    of a date and time (20190423101010, 2019042310, 20190423101010.5+0100)."""
    m = _COMPACT_TIME.match(hay, end)
    return m is not None and m.end() > end and _right_bounded(hay, m.end(), data)


def _date_before(hay: bytes, start: int) -> bool:
    """A digit and a T come right before ``start`` (lower case): a time found there is the time
    of an ISO 8601 date and time (20190423T101010), bounded by the T as by a space."""
    return start > 1 and hay[start - 1] == _T and hay[start - 2] in _DIGIT


def _bounded(hay: bytes, start: int, end: int, data: bytes | None = None) -> bool:
    """No letter or digit touches the match, and a UID-like match is not part of a longer UID."""
    return _left_bounded(hay, start, data) and _right_bounded(hay, end, data)


def _right_bounded(hay: bytes, end: int, data: bytes | None = None) -> bool:
    """No letter or digit after ``end`` but the first byte of an element's header (in ``data``,
    the bytes ``hay`` lowers: see :func:`header_at`), and no dot and digit (a longer UID's)."""
    if end < len(hay) and hay[end] in _WORD:
        return data is not None and header_at(data, end)
    return not (end + 1 < len(hay) and hay[end] == _DOT and hay[end + 1] in _DIGIT)


class _Node(dict[int, "_Node"]):
    """A trie node: byte -> child; the key -1 marks the end of a word."""


def _trie(words: list[bytes]) -> bytes:
    """A regular expression matching any of ``words``, longest first, factored as a trie."""
    root = _Node()
    for word in words:
        node = root
        for byte in word:
            node = node.setdefault(byte, _Node())
        node[-1] = _Node()

    def emit(node: _Node) -> bytes:
        branches = [
            re.escape(bytes([b])) + emit(child) for b, child in sorted(node.items()) if b != -1
        ]
        if not branches:
            return b""
        body = branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"
        if -1 in node:
            body = b"(?:" + body + b")?"
        return body

    return emit(root)
