"""Values that do not fit their VR: which element is at fault, said without its value.

The structural walk (:mod:`dicomscrub.structure`) checks every length and header, never a value.
A file that passes it may still hold a value pydicom cannot decode (a UL of 6 bytes, an FD of 4,
an IS of ``1e999``) or cannot encode back (an IS whose bytes are not text in the file's
character set), or an attribute written with a VR that cannot hold what the profile gives it (a
Patient ID written as US, given a pseudonym). pydicom raises on them with a message that quotes
the value, somewhere inside the scrub or the encoder. Such a file cannot be de-identified safely:
it is rejected as damaged input, with a message that names the element by its tag path.

:func:`find_damaged` looks for the element at fault only after a file failed (it decodes and
encodes every element, which the lanes avoid), in the data set read afresh.
"""

from __future__ import annotations

from typing import Any

from pydicom.charset import default_encoding
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.hooks import raw_element_vr

from dicomscrub.dictionary import keyword_for
from dicomscrub.structure import Damaged
from dicomscrub.tags import format_tag, is_private_group

NUMBER_SIZE = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "SV": 8, "UV": 8}
"""The size of one binary number of each VR: pydicom's decoding fails (BytesLengthException) when
the length is not a multiple of it."""
VALUE_SIZE = {**NUMBER_SIZE, "AT": 4, "OD": 8, "OF": 4, "OL": 4, "OV": 8, "OW": 2}
"""The size of one value of each binary VR: a value's length is a multiple of it."""


class DamagedValue(Damaged):
    """An element whose value does not fit its VR (the message names its tag path, not the
    value). A :class:`Damaged` file: rejected, never written."""


def named(path: str) -> str:
    """A tag path and, for a standard attribute, its keyword: ``(0008,0090) ReferringPhysicianName``
    (a private element is named by its path alone: a private dictionary's names follow the
    creator, which may name the patient)."""
    last = path.rpartition("/")[2]
    tag = int(last[1:5] + last[6:10], 16)
    keyword = "" if is_private_group(tag >> 16) else keyword_for(tag)
    return f"{path} {keyword}" if keyword else path


def find_damaged(ds: Dataset) -> DamagedValue | None:
    """The first element of ``ds`` (in tag order, at any depth) whose value pydicom cannot
    decode, or cannot encode back in the character set of its data set; None if there is none.
    ``ds`` is a data set as read, none of its elements decoded yet."""
    implicit, little = ds.original_encoding
    return _search(ds, "", default_encoding, bool(implicit), little is not False)


def _search(
    ds: Dataset, prefix: str, parent_encoding: Any, implicit: bool, little: bool
) -> DamagedValue | None:
    encodings = parent_encoding
    for tag in sorted(ds.keys()):
        path = prefix + format_tag(tag)
        raw = ds.get_item(tag)
        try:
            elem = ds[tag]
        except Exception as exc:
            return DamagedValue(_unreadable(ds, raw, path, exc))
        if tag == 0x00080005:  # as pydicom's writer takes it for the elements that follow
            encodings = elem.value
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                found = _search(item, f"{path}[{i}]/", encodings, implicit, little)
                if found is not None:
                    return found
            continue
        if isinstance(elem.value, bytes) or len(elem.VR) != 2:
            continue  # written as read; an ambiguous VR is settled by the writer first
        fp = DicomBytesIO()
        fp.is_implicit_VR, fp.is_little_endian = implicit, little
        try:
            write_data_element(fp, elem, encodings)
        except Exception as exc:
            return DamagedValue(_unwritable(elem, path, exc))
    return None


def _vr_read_as(ds: Dataset, raw: DataElement | RawDataElement) -> str:
    """The VR pydicom decodes ``raw`` with: as written, else from its dictionaries."""
    if not isinstance(raw, RawDataElement):
        return raw.VR
    found: dict[str, Any] = {}
    try:
        raw_element_vr(raw, found, ds=ds)
    except Exception:
        return raw.VR or ""
    return str(found.get("VR") or raw.VR or "")


def _unreadable(
    ds: Dataset, raw: DataElement | RawDataElement, path: str, exc: BaseException
) -> str:
    vr = _vr_read_as(ds, raw)
    where = named(path)
    if not vr:
        return f"the value of {where} cannot be read (its VR is not known)"
    size = VALUE_SIZE.get(vr)
    value = raw.value
    if size is not None and isinstance(value, bytes) and len(value) % size:
        return (
            f"the value of {where} does not fit its VR {vr} "
            f"({len(value)} bytes, not a multiple of {size})"
        )
    if vr in ("IS", "DS"):
        return f"the value of {where} is not a number its VR {vr} can hold"
    if vr == "SQ":
        return f"the value of {where} cannot be read as a sequence"
    return f"the value of {where} cannot be read as its VR {vr}"


def _unwritable(elem: DataElement, path: str, exc: BaseException) -> str:
    where = named(path)
    if isinstance(exc, UnicodeError):
        return f"the value of {where} holds characters its VR {elem.VR} cannot encode"
    return f"the value of {where} cannot be written back as its VR {elem.VR}"


def wrong_vr(elem: DataElement, path: str, expected: str | None, what: str) -> DamagedValue:
    """An attribute written with a VR that cannot hold ``what`` the profile gives it."""
    standard = f", not {expected}" if expected and expected != elem.VR else ""
    return DamagedValue(
        f"{named(path)} is written with VR {elem.VR}{standard}: {what} cannot be written in it"
    )
