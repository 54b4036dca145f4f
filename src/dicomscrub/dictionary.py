"""The DICOM data dictionary as dicomscrub sees it: pydicom's, plus the attributes of Table E.1-1
that pydicom's dictionary does not know yet (``data/dictionary-additions.csv``, generated)."""

from __future__ import annotations

import csv
import difflib
import functools
import io
from importlib import resources
from typing import TYPE_CHECKING, Any

from pydicom import datadict
from pydicom._dicom_dict import DicomDictionary
from pydicom.dataset import Dataset

if TYPE_CHECKING:
    from dicomscrub.tags import Mask


@functools.cache
def ensure_registered() -> int:
    """Add the generated entries to pydicom's dictionary once per process; return how many."""
    entries: dict[int, tuple[str, str, str, str, str]] = {}
    path = resources.files("dicomscrub") / "data" / "dictionary-additions.csv"
    if not path.is_file():
        return 0
    text = path.read_text(encoding="utf-8")
    for row in csv.DictReader(io.StringIO(text, newline="")):
        tag = int(row["tag"], 16)
        if datadict.dictionary_has_tag(tag):
            continue
        retired = "Retired" if row["retired"].strip().upper() == "Y" else ""
        entries[tag] = (row["vr"], row["vm"], row["name"], retired, row["keyword"])
    if entries:
        datadict.add_dict_entries(entries)
    return len(entries)


def tag_for_keyword(keyword: str) -> int | None:
    ensure_registered()
    return datadict.tag_for_keyword(keyword)


def keyword_suggestions(keyword: str) -> list[str]:
    ensure_registered()
    return difflib.get_close_matches(keyword, datadict.keyword_dict.keys(), n=3, cutoff=0.75)


def vr_of(tag: int) -> str | None:
    """The dictionary VR of a standard tag (first choice of an ambiguous VR), or None."""
    ensure_registered()
    try:
        vr = datadict.dictionary_VR(tag)
    except KeyError:
        return None
    return vr.split(" or ")[0].strip() or None


def first_not_uid(mask: Mask) -> int | None:
    """The first standard attribute (in tag order; group lengths aside) that ``mask`` reaches
    whose VR is not UI, or None."""
    ensure_registered()
    for tag in sorted(DicomDictionary):
        if tag & 0xFFFF and mask.matches(tag) and vr_of(tag) != "UI":
            return tag
    return None


def vm_of(tag: int) -> str:
    ensure_registered()
    try:
        return datadict.dictionary_VM(tag)
    except KeyError:
        return "1"


def keyword_for(tag: int) -> str:
    """The dictionary keyword of a standard tag, or "" if unknown."""
    ensure_registered()
    return datadict.keyword_for_tag(tag)


def has(ds: Dataset, tag: int) -> bool:
    """``tag in ds`` for a tag given as a number, without making it a ``Tag`` first (as
    ``Dataset.__contains__`` does, at a microsecond a time: it is asked many times of every
    file): the data set's elements are keyed by tags, which are numbers."""
    return tag in ds._dict


def value_of(ds: Dataset, tag: int, default: Any = None) -> Any:
    """What ``ds.get(keyword, default)`` gives for the element ``tag``: its value, or ``default``
    when ``ds`` does not hold it (without looking a keyword up, nor raising and catching an
    error when the element is not there, as ``get`` does: it is asked of every file)."""
    return ds[tag].value if tag in ds._dict else default
