"""Whether a rule's replacement ``value`` (action D) can stand in the attribute it names.

A profile is validated completely before any file is touched, so a value that its attribute's
VR or VM cannot hold (a date that is not a date, an LO of 70 characters, two names where one
is allowed, text in a number) is a located profile error, not a file written with an invalid
value, nor a run whose every file fails to encode.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Iterator

from dicomscrub.dictionary import vm_of, vr_of
from dicomscrub.profile.model import vm_range

MAX_CHARS = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 8,
    "DS": 16,
    "DT": 26,
    "IS": 12,
    "LO": 64,
    "LT": 10240,
    "PN": 64 * 3 + 2,
    "SH": 16,
    "ST": 1024,
    "TM": 14,
}
"""The longest value of each text VR (PS3.5 Table 6.2-1); PN: three groups of 64."""

_ONE_VALUE = frozenset({"LT", "ST", "UT", "UR"})
"""VRs whose value is always one value (a backslash is a character of it)."""
_NOT_GIVEN = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UN", "UI"})
"""VRs D never takes a value for: bytes and sequences get a fixed dummy, UIDs a keyed one."""
_INTEGERS = {
    "US": (0, 0xFFFF),
    "SS": (-0x8000, 0x7FFF),
    "UL": (0, 0xFFFFFFFF),
    "SL": (-0x80000000, 0x7FFFFFFF),
    "UV": (0, 0xFFFFFFFFFFFFFFFF),
    "SV": (-0x8000000000000000, 0x7FFFFFFFFFFFFFFF),
    "IS": (-0x80000000, 0x7FFFFFFF),
    "AT": (0, 0xFFFFFFFF),
}
_TM = re.compile(r"[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:\.[0-9]{1,6})?)?)?")
_DT = re.compile(
    r"(?P<date>[0-9]{4}(?:[0-9]{2}(?:[0-9]{2})?)?)"
    r"(?:[0-9]{2}(?:[0-9]{2}(?:[0-9]{2}(?:\.[0-9]{1,6})?)?)?)?(?:[+-][0-9]{4})?"
)
_AS = re.compile(r"[0-9]{3}[DWMY]")
_CS = re.compile(r"[A-Z0-9 _]*")
_DS = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def value_problem(tag: int, value: str) -> str | None:
    """Why ``value`` (several values joined by backslashes) cannot replace the value of the
    standard attribute ``tag``, or None when it can (or the attribute's VR is not known)."""
    vr = vr_of(tag)
    if vr is None:
        return None
    if vr in _NOT_GIVEN:
        if vr == "UI":
            return "a UID attribute takes no value: D gives it a UID made from the key"
        return f"an attribute of VR {vr} takes no value: D gives it a fixed dummy"
    values = [value] if vr in _ONE_VALUE else value.split("\\")
    count = _vm_problem(vm_of(tag), len(values))
    if count:
        return count
    for one in values:
        problem = _one_value_problem(vr, one)
        if problem:
            return problem
    return None


_FROM_TEXT = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT"}
)
"""VRs whose values pydicom writes from text (a number VR's from numbers)."""


def fits_vr(vr: str, value: str) -> bool:
    """``value`` (one value) can be written as a value of VR ``vr``, whatever attribute it is
    given to: for an element a file writes with another VR than the dictionary's, whose rule
    :func:`value_problem` checked against the dictionary's."""
    return vr in _FROM_TEXT and _one_value_problem(vr, value) is None


def _vm_problem(vm: str, count: int) -> str | None:
    found = vm_range(vm)
    if found is None:
        return None  # (not a multiplicity this reads: not judged)
    least, most = found
    if count < least or (most is not None and count > most):
        return f"gives {count} value(s); the attribute takes {vm} (VM)"
    return None


def _one_value_problem(vr: str, value: str) -> str | None:
    longest = MAX_CHARS.get(vr)
    if longest is not None and len(value) > longest:
        return f"{value!r} is longer than {longest} characters (VR {vr})"
    if vr == "PN" and any(len(group) > 64 for group in value.split("=")):
        return f"{value!r} has a component group longer than 64 characters (VR PN)"
    if vr in _INTEGERS:
        low, high = _INTEGERS[vr]
        try:
            number = int(value.strip(), 16 if vr == "AT" else 10)
        except ValueError:
            return f"{value!r} is not a whole number (VR {vr})"
        if not low <= number <= high:
            return f"{value!r} is out of range for VR {vr}"
        return None
    if vr in ("FL", "FD"):
        try:
            float(value)
        except ValueError:
            return f"{value!r} is not a number (VR {vr})"
        return None
    if vr == "DS" and not _DS.fullmatch(value.strip()):
        return f"{value!r} is not a decimal number (VR DS)"
    if vr == "DA" and not is_date(value):
        return f"{value!r} is not a date YYYYMMDD (VR DA)"
    if vr == "TM" and not _TM.fullmatch(value.strip()):
        return f"{value!r} is not a time HHMMSS.FFFFFF (VR TM)"
    if vr == "DT":
        found = _DT.fullmatch(value.strip())
        if found is None or (len(found["date"]) == 8 and not is_date(found["date"])):
            return f"{value!r} is not a date and time YYYYMMDDHHMMSS.FFFFFF&ZZXX (VR DT)"
    if vr == "AS" and not _AS.fullmatch(value):
        return f"{value!r} is not an age nnnD, nnnW, nnnM or nnnY (VR AS)"
    if vr == "CS" and not _CS.fullmatch(value):
        return f"{value!r} holds a character other than A-Z, 0-9, space and _ (VR CS)"
    if any(ord(c) < 32 and c not in "\r\n\t\f\x1b" for c in value):
        return f"{value!r} holds a control character"
    return None


def is_date(text: str) -> bool:
    """``text`` is a date YYYYMMDD that the calendar has."""
    if not re.fullmatch(r"[0-9]{8}", text):
        return False
    try:
        dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return False
    return True


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


_OTHER_MONTHS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (how the language writes a date: "day." German, "er" French, "de" Spanish and Portuguese,
    # "" the day then the month; the month names, also as they are written without accents)
    (
        "day.",
        (
            "Januar Jänner Jaenner",
            "Februar",
            "März Maerz",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ),
    ),
    (
        "er",  # French: 1er for the first day
        (
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ),
    ),
    (
        "",  # Italian, Dutch
        (
            "gennaio januari",
            "febbraio februari",
            "marzo maart",
            "aprile april",
            "maggio mei",
            "giugno juni",
            "luglio juli",
            "agosto augustus",
            "settembre september",
            "ottobre oktober",
            "novembre november",
            "dicembre december",
        ),
    ),
    (
        "de",
        (
            "enero janeiro",
            "febrero fevereiro",
            "marzo março",
            "abril",
            "mayo maio",
            "junio junho",
            "julio julho",
            "agosto",
            "septiembre setiembre setembro",
            "octubre outubro",
            "noviembre novembro",
            "diciembre dezembro",
        ),
    ),
)
"""Month names of the languages most often written in European hospitals' reports, by how each
writes a date with them (see :func:`spellings`)."""


def _other_language_forms(d: str, date: str, month: int, year: str) -> list[str]:
    """A date with its month named in German, French, Italian, Dutch, Spanish or Portuguese, as
    each writes it: 15. März 2024, 15 mars 2024, 1er mars 2024, 15 maggio 2024, 15 de marzo de
    2024 (and without accents: 15 Maerz 2024, 15 Marz 2024, 15 de marco de 2024)."""
    out: list[str] = []
    for style, months in _OTHER_MONTHS:
        names = months[month - 1].split()
        for name in dict.fromkeys((*names, *map(unmarked, names))):
            for n in dict.fromkeys((d, date)):
                out.append(f"{n} {name} {year}")
                if style == "day.":
                    out.append(f"{n}. {name} {year}")
                elif style == "de":
                    out.append(f"{n} de {name} de {year}")
            if style == "er" and d == "1":
                out.append(f"1er {name} {year}")
    return out


_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
NARROW = {c + 0xFEE0: c for c in range(0x21, 0x7F)} | {0x3000: 0x20}
"""Full-width letters, digits and punctuation (U+FF01-FF5E) and the ideographic space, to the
ASCII they stand for, one character for one (as Japanese, Chinese and Korean systems type Latin
text: ＤＯＥ　ＪＡＮＥ)."""
_NORDIC = str.maketrans({"ø": "oe", "Ø": "Oe", "å": "aa", "Å": "Aa"})
_DIGRAPHS = re.compile("(?:ae|oe|ue|aa)(?=[a-z])", re.IGNORECASE)
"""ae, oe, ue and aa inside a word (not at its end: Doe, Rae and Sue are English names)."""
_LETTERS = (
    {"ae": "ä", "oe": "ö", "ue": "ü"},  # German
    {"oe": "ø", "aa": "å", "ae": "æ"},  # Danish, Norwegian
)


def _letter(m: re.Match[str], *, table: dict[str, str]) -> str:
    """The letter ``table`` writes for the digraph ``m`` (in its case: UE, Ue, ue), or it."""
    found = m.group()
    letter = table.get(found.lower())
    if letter is None:
        return found
    return letter.upper() if found[0].isupper() else letter


"""Danish and Norwegian letters as ASCII text also writes them: Jørgensen as Joergensen,
Åse as Aase."""
_UNDECOMPOSED = str.maketrans(
    {"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae", "œ": "oe", "Œ": "Oe", "ł": "l", "Ł": "L"}
    | {"đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i"}
)
"""Letters with no accent to take off (NFKD leaves them whole), as ASCII text writes them."""


CJK = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]"
)
"""A CJK character: hangul, ideographs (with 々), kana (half-width too). CJK names are written
without a space."""


def name_forms(group: str, several: bool) -> Iterator[str]:
    """The whole-name forms of one component group of a person name: the group as written (when
    the name has other groups: ``Yamada^Tarou`` of ``Yamada^Tarou=山田^太郎``), and as people
    write a name: Jane Doe, Doe Jane, Doe, Jane, Doe,Jane, DOE_JANE, Doe.Jane, Jane_Doe,
    Jane.Doe; with a middle name also Jane Ann Doe, Doe, Jane Ann, Doe Jane Ann and Doe^Jane (as
    Doe^Jane too when written with empty components after it: Doe^Jane^^^); a CJK name also as
    it is written in CJK text, family name first and joined without a space or with an
    ideographic one or a middle dot (山田太郎, 山田\u3000太郎, 山田・太郎). Its components alone are
    not among them."""
    parts = [p.strip() for p in group.split("^")]
    named = sum(1 for p in parts if p)
    if named > 1 and (several or group.endswith("^")):  # (Doe^Jane^^^ written as Doe^Jane)
        yield group.rstrip("^ ")
    if len(parts) > 1 and parts[0] and parts[1]:
        family, given = parts[0], parts[1]
        if named > 2:  # Doe^Jane^Ann (a middle name, a prefix, a suffix): also Doe^Jane
            yield f"{family}^{given}"
        for sep in (" ", ", ", ",", "_", "."):  # (folder and file names: DOE_JANE, Doe.Jane)
            yield f"{family}{sep}{given}"
        for sep in (" ", "_", "."):
            yield f"{given}{sep}{family}"
        middle = parts[2] if len(parts) > 2 else ""
        if middle:
            yield f"{given} {middle} {family}"
            yield f"{family}, {given} {middle}"
            yield f"{family} {given} {middle}"
        if CJK.search(group):
            yield f"{family}{given}"
            yield f"{family}\u3000{given}"
            yield f"{family}\u30fb{given}"  # (the middle dot of Japanese text: 山田・太郎)


_NAME_SPLIT = re.compile(r"[\^=\s,]+")
"""What separates the components of a person name as written: ^, =, white space, commas."""


def name_components(value: str) -> list[str]:
    """Each component of the person name ``value`` (split on ``^``, ``=``, white space and
    commas), each also as :func:`latin_spellings` writes it (Müller as Muller and Mueller), and
    as :func:`component_spellings` does (Smith of Smith-Jones, OBrien)."""
    parts = [part for part in _NAME_SPLIT.split(value) if part]
    spelled = [form for part in parts for form in latin_spellings(part)]
    return [*parts, *spelled, *component_spellings(value)]


def component_spellings(value: str) -> list[str]:
    """Each component of a person name (``^`` between them, ``=`` between groups) as it is also
    written: the parts of a hyphenated one (``Smith`` and ``Jones`` of ``Smith-Jones``, also
    ``Smith Jones``), without its apostrophe or with the typographic one (``OBrien``,
    ``O’Brien`` for ``O'Brien``), particles run together or hyphenated (``VanDerBerg``,
    ``Van-Der-Berg`` for ``Van Der Berg``); the components as written left out."""
    found: list[str] = []
    for group in value.split("="):
        for part in (p.strip() for p in group.split("^")):
            if not part:
                continue
            spelled = []
            if "-" in part:
                spelled += [p for p in part.split("-") if p.strip()]
                spelled.append(part.replace("-", " "))
            if " " in part:
                words = part.split()
                spelled += ["".join(words), "-".join(words)]
            for quote in ("'", "\u2019"):
                if quote in part:
                    spelled.append(part.replace(quote, ""))
                    other = "\u2019" if quote == "'" else "'"
                    spelled.append(part.replace(quote, other))
            found += [s.strip() for s in spelled if s.strip() and s.strip() != part]
    return list(dict.fromkeys(found))


def whole_name_forms(value: str) -> list[str]:
    """The whole-name forms of a person name (all its groups: alphabetic, ideographic,
    phonetic), each also as written without accents (see :func:`name_forms`,
    :func:`latin_spellings`): what the leak check searches and what the Clean options remove."""
    found: list[str] = []
    groups = value.split("=")
    for group in groups:  # each group is the whole name
        group = group.strip()
        found += name_forms(group, len(groups) > 1)
        for spelled in latin_spellings(group):  # Müller^Jürgen as Mueller^Juergen ...
            found += name_forms(spelled, True)
    return found


def day_of(text: str) -> str | None:
    """The YYYYMMDD of a DA or DT value: its first eight digits, also of a date written the
    ACR-NEMA way (1961.03.17); None when it starts otherwise."""
    digits = text.replace(".", "") if len(text) == 10 and text[4] == "." else text
    return digits[:8] if len(digits) >= 8 and digits[:8].isdigit() else None


def latin_spellings(text: str) -> tuple[str, ...]:
    """``text`` (a name) as it is written where accents cannot be: the accents taken off
    (Müller → Muller, Zoë Núñez → Zoe Nunez, Łukasz → Lukasz), the German way (Müller →
    Mueller) and the Danish and Norwegian way (Jørgensen → Joergensen, Åse → Aase); and an ASCII
    name written that way with those letters (Mueller → Müller, Joergensen → Jørgensen, Aase →
    Åse); the given form left out. Text without such letters: none."""
    if text.isascii():
        if not _DIGRAPHS.search(text):
            return ()
        forms = [_DIGRAPHS.sub(functools.partial(_letter, table=table), text) for table in _LETTERS]
        return tuple(form for form in dict.fromkeys(forms) if form != text)
    forms = []
    for start in (text, text.translate(_GERMAN), text.translate(_NORDIC)):
        forms.append(unmarked(start))
    found = [form for form in dict.fromkeys(forms) if form != text and form.isascii()]
    # Other scripts lose their marks as well where they cannot be written, and Greek capitals
    # never carry them (Παπαδόπουλος as ΠΑΠΑΔΟΠΟΥΛΟΣ), Russian text drops the diaeresis of ё
    # (Фёдоров as Федоров): the name without its marks, in its own script, composed.
    bare = unicodedata.normalize("NFC", forms[0])
    if bare != unicodedata.normalize("NFC", text) and not bare.isascii() and not CJK.search(bare):
        found.append(bare)
    return tuple(found)


_ID_PARTS = re.compile(r"([A-Za-z]{2,})[-_ /.#:]?([0-9]{5,})")
"""Letters then digits: an ID (MRN0012345), not a model's or a study's short number (CT 001)."""


def id_spellings(text: str) -> tuple[str, ...]:
    """An ID of letters then digits as people also write it, with or without a separator
    between the two (PIDQX77123, PIDQX-77123, PIDQX 77123, PIDQX_77123, PIDQX/77123,
    PIDQX.77123, PIDQX#77123, PIDQX:77123); the given form left out. Other values: none."""
    found = _ID_PARTS.fullmatch(text)
    if found is None:
        return ()
    letters, digits = found.groups()
    forms = (f"{letters}{sep}{digits}" for sep in ("", "-", " ", "_", "/", ".", "#", ":"))
    return tuple(form for form in forms if form != text)


_GROUPS = {
    6: ((3, 3),),
    7: ((3, 4),),
    8: ((4, 4),),
    9: ((3, 2, 4), (3, 3, 3)),
    10: ((3, 3, 4),),
    12: ((4, 4, 4),),
}
"""How numbers of 6 to 10 and 12 digits are written in groups: 123 456, 445-5667, 1234 5678, a
social security number's 123-45-6789, an NHS number's 943 476 5919, 1234 5678 9012."""


def digit_spellings(text: str) -> tuple[str, ...]:
    """An ID of digits alone as people write it in groups, with spaces or dashes (see
    :data:`_GROUPS`), and without its leading zeros (000445566789 as 445566789) when six digits
    or more are left, also in groups. Other values: none."""
    if not (text.isascii() and text.isdigit()):
        return ()
    short = text.lstrip("0")
    numbers = (text, short) if short != text and len(short) >= 6 else (text,)
    forms = list(numbers[1:])
    for number in numbers:
        for sizes in _GROUPS.get(len(number), ()):
            parts, at = [], 0
            for size in sizes:
                parts.append(number[at : at + size])
                at += size
            forms += [sep.join(parts) for sep in (" ", "-")]
    return tuple(forms)


def spellings(day: str, short_years: bool = False) -> tuple[str, ...]:
    """A date YYYYMMDD as people and programs also write it: YYYY-MM-DD, YYYY.MM.DD, YYYY/MM/DD
    (folder names, ISO 8601), and, for a date the calendar has, DD/MM/YYYY, DD.MM.YYYY,
    DD-MM-YYYY, MM/DD/YYYY, MM-DD-YYYY, MM.DD.YYYY, the same without leading zeros (15.3.2024,
    3/15/2024, 2024-3-15, 2024/3/15), day first and month first with a two-digit year, with
    each of the three separators, with and without leading zeros (15/03/24, 03-15-24, 15.3.24,
    3/15/24; not year first, 24.3.15, a version's form) when ``short_years`` (the Clean options
    remove them; the leak check does not search them: every word of such a form is one or two
    digits, which most outputs hold, so each file would pay for them),
    with the month's English name or its first three letters, also with a dot (15 Mar 2024,
    15 March 2024, 15 March, 2024, March 15, 2024, Mar. 15, 2024, Sept 15 2024, 15-Mar-2024,
    15MAR2024, 2024-Mar-15) and an ordinal day (15th March 2024, March 15th, 2024) (a report's
    or a description's text), compact day first or month first (15032024, 03152024), as Japanese
    and Chinese text write it (2024年3月15日, 2024年03月15日), with the month
    named in German, French, Italian, Dutch, Spanish or Portuguese (15. März 2024, 15 mars 2024,
    15 de marzo de 2024: see :func:`_other_language_forms`), and YYYY:MM:DD (the date and time of
    an Exif header), and compact with a two-digit year (610317, 170361, 031761; those that are
    also a time of day, 120315, only when ``short_years``). Matching ignores case."""
    year, month, date = day[:4], day[4:6], day[6:8]
    forms = tuple(f"{year}{sep}{month}{sep}{date}" for sep in "-./")
    if not is_date(day):
        return forms
    regional = tuple(f"{date}{sep}{month}{sep}{year}" for sep in "/.-")
    out = [*forms, *regional, f"{month}/{date}/{year}", f"{year}:{month}:{date}"]
    d, m = str(int(date)), str(int(month))
    out += [f"{d}{sep}{m}{sep}{year}" for sep in "/.-"]
    out += [f"{month}{sep}{date}{sep}{year}" for sep in ".-"]  # (US order: 03-15-2024)
    out += [f"{m}{sep}{d}{sep}{year}" for sep in "/.-"]
    out += [f"{year}-{m}-{d}", f"{year}/{m}/{d}"]  # (not 2024.3.5: a software version's form)
    out += [f"{date}{month}{year}", f"{month}{date}{year}"]  # (compact: 15032024, 03152024)
    yy = year[2:]
    for compact in (f"{yy}{month}{date}", f"{date}{month}{yy}", f"{month}{date}{yy}"):
        # (compact with a two-digit year: 610317, 170361, 031761, as a Swedish or a Korean
        # ID begins; the leak check leaves out those that are also a time, HHMMSS: a kept time
        # would otherwise be taken for the date)
        if short_years or not _is_time(compact):
            out.append(compact)
    out += [f"{year}年{m}月{d}日", f"{year}年{month}月{date}日"]  # (Japanese, Chinese text)
    out += [f"{year}년 {m}월 {d}일", f"{year}년{m}월{d}일"]  # (Korean text)
    out += _japanese_era_forms(day)  # (昭和50年3月15日, S50.3.15)
    roman = _ROMAN[int(month) - 1]  # (15.III.1975, as Polish, Czech and Hungarian write it)
    for n in dict.fromkeys((d, date)):
        out += [f"{n}.{roman}.{year}", f"{n} {roman} {year}", f"{year}.{roman}.{n}"]
    if short_years:  # as forms and letters write it: 15/03/24, 03-15-24, 15.3.24, 3/15/24
        for first, second in ((date, month), (month, date), (d, m), (m, d)):
            out += [f"{first}{sep}{second}{sep}{yy}" for sep in "/.-"]
    full = _MONTHS[int(month) - 1]
    nth = d + _ordinal(int(d))
    short = (full[:3], f"{full[:3]}.", *(("Sept", "Sept.") if full == "September" else ()))
    for name in dict.fromkeys((*short, full)):
        if name.endswith("."):  # (Apr. 17, 1961; 17 Apr. 1961: a dot, then a space)
            for n in dict.fromkeys((d, date)):
                out += [f"{n} {name} {year}", f"{name} {n}, {year}", f"{name} {n} {year}"]
            continue
        for n in dict.fromkeys((d, date)):
            out += [f"{n} {name} {year}", f"{n}-{name}-{year}", f"{n}{name}{year}"]
            out += [f"{n}/{name}/{year}", f"{n}.{name}.{year}"]  # (15/Mar/1975, 15.Mar.1975)
            out += [f"{name} {n}, {year}", f"{name} {n} {year}", f"{n} {name}, {year}"]
            out += [f"{year}-{name}-{n}", f"{year} {name} {n}"]
        out += [f"{nth} {name} {year}", f"{nth} {name}, {year}", f"{nth} of {name} {year}"]
        out += [f"{name} {nth}, {year}", f"{name} {nth} {year}"]
    seen = {form.casefold() for form in out}  # (matching ignores case: Mai and mai are one)
    for form in _other_language_forms(d, date, int(month), year):
        if form.casefold() not in seen:
            seen.add(form.casefold())
            out.append(form)
    return tuple(dict.fromkeys(out))


def _is_time(digits: str) -> bool:
    """Six digits that are also a time of day, HHMMSS."""
    return int(digits[:2]) < 24 and int(digits[2:4]) < 60 and int(digits[4:]) < 60


_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
_ERAS = (  # (first day, name, letter): the Japanese eras since 1868
    ("20190501", "令和", "R"),
    ("19890108", "平成", "H"),
    ("19261225", "昭和", "S"),
    ("19120730", "大正", "T"),
    ("18681023", "明治", "M"),
)


def _japanese_era_forms(day: str) -> list[str]:
    """A date YYYYMMDD as Japanese forms write it, by the era's year: 昭和50年3月15日 (also
    昭和元年 for an era's first year), S50.3.15, S50.03.15, S50/3/15."""
    era = next((era for era in _ERAS if day >= era[0]), None)
    if era is None:
        return []
    first, name, letter = era
    number = int(day[:4]) - int(first[:4]) + 1
    m, d = str(int(day[4:6])), str(int(day[6:8]))
    years = (str(number), "元") if number == 1 else (str(number),)
    out = [f"{name}{y}年{m}月{d}日" for y in years]
    out += [f"{letter}{number}.{m}.{d}", f"{letter}{number:02d}.{day[4:6]}.{day[6:8]}"]
    out.append(f"{letter}{number}/{m}/{d}")
    return out


def _ordinal(day: int) -> str:
    """The English ordinal suffix of a day of the month: 1st, 2nd, 3rd, 4th ... 11th ... 23rd."""
    if day in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def unmarked(text: str) -> str:
    """``text`` with the marks taken off its Latin letters (MÜLLER: MULLER, Łukasz: Lukasz,
    Straße: Strasse); other characters as they are."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.lru_cache(maxsize=4096)
def unmarked_letter(char: str) -> str:
    """``char`` without its marks when that is one ASCII letter (ü: u, Ł: L), else ``char``:
    text so translated keeps its length, and its places."""
    plain = unmarked(char)
    return plain if len(plain) == 1 and plain.isascii() else char
