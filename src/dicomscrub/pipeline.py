"""Apply a compiled profile to one dataset, recursively inside every sequence item (PS3.15 E.1.1).

:class:`Scrubber` is built once per process from a :class:`CompiledProfile` and a key; its
:meth:`Scrubber.scrub` changes a dataset in place and returns what it did to private elements (for
the audit) without ever recording an original value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.valuerep import PersonName

from dicomscrub.actions import Action, Effect, resolve
from dicomscrub.dictionary import ensure_registered, keyword_for, vm_of, vr_of
from dicomscrub.profile.model import PRIVATE, CompiledProfile, Method, Rule
from dicomscrub.pseudonym import Pseudonymizer, is_standard_uid
from dicomscrub.tags import format_tag, is_private_group

DATE_VRS = frozenset({"DA", "DT", "TM"})
TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT"})
BYTES_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})
DUMMY_TEXT = "ANONYMIZED"
DUMMY_BY_VR: dict[str, str] = {
    "AE": DUMMY_TEXT,
    "AS": "000Y",
    "CS": DUMMY_TEXT,
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000",
    "IS": "0",
    "LO": DUMMY_TEXT,
    "LT": DUMMY_TEXT,
    "PN": DUMMY_TEXT,
    "SH": DUMMY_TEXT,
    "ST": DUMMY_TEXT,
    "TM": "000000",
    "UC": DUMMY_TEXT,
    "UR": DUMMY_TEXT,
    "UT": DUMMY_TEXT,
}
MIN_TOKEN = 3
"""Identifying tokens shorter than this are not scrubbed from cleaned text (too many false hits)."""

STRUCTURAL_UID_KEYWORDS = frozenset(
    {
        "CodingSchemeUID",
        "ContextGroupExtensionCreatorUID",
        "MappingResourceUID",
        "PrivateInformationCreatorUID",
        "TemplateExtensionCreatorUID",
        "TemplateExtensionOrganizationUID",
    }
)
"""UI attributes that name a class, a syntax or an organisation, never an instance: kept even
when they hold a UID not defined by the standard (a vendor's private SOP Class, say)."""

METHOD_SCHEME = "DCM"
FULL_DATES = "retain-long-full-dates"
MODIFIED_DATES = "retain-long-modified-dates"


@dataclass(frozen=True)
class PrivateRecord:
    """What happened to one private element. Never holds a value."""

    tag: str  # tag path, e.g. (0019,1010) or (0008,1140)[0]/(0019,1010)
    creator: str
    block_status: str
    decision: str  # kept, removed, replaced, emptied
    basis: str
    detail: str = ""


@dataclass
class ScrubResult:
    private: list[PrivateRecord] = field(default_factory=list)
    methods: tuple[str, ...] = ()
    method_codes: tuple[str, ...] = ()
    dates: str = "REMOVED"
    changed: int = 0


@dataclass
class _State:
    """Per-file state of one scrub."""

    tokens: list[str]
    patient: str
    result: ScrubResult
    dates_shifted: bool = False
    dates_kept: bool = False


def is_structural_uid_tag(tag: int) -> bool:
    """True for SOP Class, Transfer Syntax and similar UID attributes (not instances)."""
    keyword = keyword_for(tag)
    return keyword.endswith(("ClassUID", "SyntaxUID")) or keyword in STRUCTURAL_UID_KEYWORDS


def _values(elem: DataElement) -> list[object]:
    value = elem.value
    if value is None or value == "":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


def _vm_min(tag: int) -> int:
    vm = vm_of(tag)
    first = vm.split("-")[0].strip()
    return int(first) if first.isdigit() and int(first) > 0 else 1


def shift_date(value: str, offset: dt.timedelta) -> str | None:
    """Shift a DA value (YYYYMMDD, or the old YYYY.MM.DD); None if it is not a date."""
    text = value.strip()
    digits = text.replace(".", "") if len(text) == 10 else text
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        day = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        return (day + offset).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return None


_DT_RE = re.compile(r"^(\d{4})(\d{2})?(\d{2})?([0-9.]*)([+-]\d{4})?$")


def shift_datetime(value: str, offset: dt.timedelta) -> str | None:
    """Shift the date part of a DT value; time of day and UTC offset are unchanged.

    A partial DT (YYYY or YYYYMM) is shifted from its first day and cut back to its precision.
    """
    m = _DT_RE.match(value.strip())
    if not m:
        return None
    year, month, day, rest, tz = m.groups()
    if day is not None and month is None:
        return None
    try:
        start = dt.date(int(year), int(month or 1), int(day or 1)) + offset
    except (ValueError, OverflowError):
        return None
    text = start.strftime("%Y%m%d")
    text = text[: 4 + (2 if month else 0) + (2 if day else 0)]
    return text + (rest or "") + (tz or "")


class Scrubber:
    """A compiled profile plus a key, applied to datasets."""

    def __init__(self, profile: CompiledProfile, pseudonymizer: Pseudonymizer) -> None:
        ensure_registered()
        self.profile = profile
        self.pseudo = pseudonymizer
        self.methods: tuple[Method, ...] = profile.methods
        self._removed: dict[tuple[str, int, str | None], tuple[PrivateRecord, int]] = {}
        self._needs_tokens = any(
            r.action is Action.C
            for r in (*profile.exact.values(), *profile.masks, *profile.creator_masks)
        )

    # ---- entry point -------------------------------------------------------------------------

    def scrub(self, ds: Dataset) -> ScrubResult:
        """De-identify ``ds`` in place (file meta excluded; see :meth:`scrub_file_meta`)."""
        result = ScrubResult()
        patient = str(ds.get("PatientID", "") or "") or str(ds.get("StudyInstanceUID", "") or "")
        state = _State(
            tokens=self._collect_tokens(ds) if self._needs_tokens else [],
            patient=patient,
            result=result,
        )
        self._dataset(ds, "", state, replace_uids=False)
        self._filter_private_characteristics(ds)
        self._record_method(ds, state)
        return result

    def keeps_bulk(self, tag: int) -> bool:
        """True if the profile keeps the top-level binary element ``tag`` (Pixel Data, say)
        unchanged, so that its bytes can be copied from the input by range."""
        if is_private_group(tag >> 16):
            return False
        rule = self.profile.standard_rule(tag)
        action = rule.action if rule is not None else self.profile.default
        return resolve(action, False) is Effect.KEEP

    def scrub_file_meta(self, meta: Dataset, new_sop_instance_uid: str | None) -> None:
        """Keep only what the file meta needs; PS3.15 E.1.1 says it is replaced anyway."""
        for tag in list(meta.keys()):
            if int(tag) not in (0x00020001, 0x00020002, 0x00020003, 0x00020010):
                del meta[tag]
        media_uid = meta.get("MediaStorageSOPInstanceUID")
        if new_sop_instance_uid:
            meta.MediaStorageSOPInstanceUID = new_sop_instance_uid
        elif media_uid:
            meta.MediaStorageSOPInstanceUID = self.pseudo.uid(str(media_uid))

    # ---- walking -----------------------------------------------------------------------------

    def _dataset(self, ds: Dataset, prefix: str, state: _State, replace_uids: bool) -> None:
        creators: dict[tuple[int, int], str] = {}
        for key in ds.keys():  # noqa: SIM118 - a Dataset iterates over elements, not tags
            group, elem = key >> 16, key & 0xFFFF
            if is_private_group(group) and 0x10 <= elem <= 0xFF:
                value = ds[key].value
                if isinstance(value, bytes):
                    value = value.decode("latin-1")
                creators[(group, elem)] = str(value or "").strip()
        kept_blocks: set[tuple[int, int]] = set()
        creator_tags: list[int] = []
        for base_tag in list(ds.keys()):
            tag = int(base_tag)
            group, element = tag >> 16, tag & 0xFFFF
            if element == 0x0000:  # group length: recomputed on write when needed, else dropped
                del ds[tag]
                continue
            if is_private_group(group):
                if 0x10 <= element <= 0xFF:
                    creator_tags.append(tag)
                    continue
                block = (group, element >> 8)
                if self._private(ds, tag, creators.get(block), prefix, state):
                    kept_blocks.add(block)
                continue
            self._standard(ds, tag, prefix, state, replace_uids)
        for ctag in creator_tags:
            block = (ctag >> 16, ctag & 0xFF)
            creator = creators.get(block, "")
            path = prefix + format_tag(ctag)
            if block in kept_blocks:
                state.result.private.append(
                    PrivateRecord(path, creator, "UNDECLARED", "kept", "creator-of-kept-block")
                )
            else:
                del ds[ctag]
                state.result.private.append(
                    PrivateRecord(
                        path, creator, "UNDECLARED", "removed", "creator-of-removed-block"
                    )
                )

    def _standard(
        self, ds: Dataset, tag: int, prefix: str, state: _State, replace_uids: bool
    ) -> None:
        rule = self.profile.standard_rule(tag)
        if rule is not None and rule.action is Action.X:
            del ds[tag]  # removed: no need to decode the value first
            state.result.changed += 1
            return
        if not replace_uids and self._kept_as_is(ds, tag, rule):
            return  # left as read: written back byte for byte, never decoded
        elem = ds[tag]
        if elem.VR == "UN":
            elem = self._retype(ds, elem)
        rule = self.profile.standard_rule(tag)
        action = rule.action if rule is not None else self._unlisted_action(elem, replace_uids)
        is_seq = elem.VR == "SQ"
        effect = resolve(action, is_seq)
        if (
            replace_uids
            and elem.VR == "UI"
            and effect is Effect.KEEP
            and rule is None
            and not is_structural_uid_tag(tag)
        ):
            effect = Effect.UID
        self._apply(ds, elem, effect, rule, prefix, state, replace_uids)

    def _kept_as_is(self, ds: Dataset, tag: int, rule: Rule | None) -> bool:
        """True for an element kept without any change (K on a value that is not a sequence,
        UID, date or time, or of unknown VR), judged without decoding its value."""
        vr = ds.get_item(tag).VR or vr_of(tag)
        if not vr or vr in ("SQ", "UN", "UI") or vr in DATE_VRS or " or " in vr:
            return False
        action = rule.action if rule is not None else self.profile.default
        return resolve(action, False) is Effect.KEEP

    def _unlisted_action(self, elem: DataElement, replace_uids: bool) -> Action:
        if elem.VR == "UI":
            if is_structural_uid_tag(int(elem.tag)):
                return Action.K
            if replace_uids:
                return Action.U
            if any(not is_standard_uid(str(v)) for v in _values(elem)):
                return self.profile.unlisted_uids
            return Action.K
        if elem.VR in DATE_VRS:
            return self.profile.unlisted_dates
        return self.profile.default

    def _retype(self, ds: Dataset, elem: DataElement) -> DataElement:
        """A standard element read as UN gets its dictionary VR, so actions can be VR-correct."""
        vr = vr_of(elem.tag)
        if vr is None or vr == "UN" or vr == "SQ":
            return elem
        raw = elem.value if isinstance(elem.value, bytes) else b""
        try:
            if vr in TEXT_VRS or vr in DATE_VRS or vr in ("AS", "DS", "IS", "UI"):
                text = raw.decode("latin-1").rstrip("\0 ")
                value: object = text.split("\\") if "\\" in text else text
            else:
                return elem
        except UnicodeDecodeError:
            return elem
        new = DataElement(elem.tag, vr, value)
        ds[elem.tag] = new
        return new

    def _recurse(self, elem: DataElement, path: str, state: _State, replace_uids: bool) -> None:
        for i, item in enumerate(elem.value or []):
            self._dataset(item, f"{path}[{i}]/", state, replace_uids)

    def _apply(
        self,
        ds: Dataset,
        elem: DataElement,
        effect: Effect,
        rule: Rule | None,
        prefix: str,
        state: _State,
        replace_uids: bool,
    ) -> None:
        path = prefix + format_tag(elem.tag)
        if effect is Effect.KEEP:
            if elem.VR == "SQ":
                self._recurse(elem, path, state, replace_uids)
            elif elem.VR in ("DA", "DT") and _values(elem):
                state.dates_kept = True
            return
        state.result.changed += 1
        if effect is Effect.REMOVE:
            del ds[elem.tag]
        elif effect is Effect.EMPTY:
            elem.value = Sequence() if elem.VR == "SQ" else elem.empty_value
        elif effect is Effect.DUMMY:
            self._dummy(ds, elem, rule)
        elif effect is Effect.UID:
            self._uid(ds, elem)
        elif effect is Effect.KEEP_REPLACE_UIDS:
            if elem.VR == "SQ":
                self._recurse(elem, path, state, replace_uids=True)
            else:
                self._uid(ds, elem)
        elif effect is Effect.CLEAN:
            self._clean(ds, elem, path, state, replace_uids)

    # ---- effects -----------------------------------------------------------------------------

    def _dummy(self, ds: Dataset, elem: DataElement, rule: Rule | None) -> None:
        vr = elem.VR
        if vr == "SQ":
            elem.value = Sequence([Dataset()])
            return
        if vr == "UI":
            self._uid(ds, elem)
            if not _values(elem):
                elem.value = self.pseudo.uid(f"dummy:{format_tag(elem.tag)}")
            return
        if rule is not None and rule.value is not None and vr not in BYTES_VRS:
            elem.value = rule.value.split("\\") if "\\" in rule.value else rule.value
            return
        count = _vm_min(elem.tag)
        if vr in DUMMY_BY_VR:
            text = DUMMY_BY_VR[vr]
            elem.value = [text] * count if count > 1 else text
        elif vr in ("FL", "FD"):
            elem.value = [0.0] * count if count > 1 else 0.0
        elif vr in NUMBER_VRS:
            elem.value = [0] * count if count > 1 else 0
        else:  # OB, OW, UN and other bytes
            elem.value = b"\0\0"

    def _uid(self, ds: Dataset, elem: DataElement) -> None:
        values = _values(elem)
        if not values:
            return
        if isinstance(elem.value, bytes):  # UN
            text = elem.value.decode("latin-1").rstrip("\0 ")
            new_text = "\\".join(self.pseudo.uid(v) for v in text.split("\\"))
            raw = new_text.encode("ascii")
            elem.value = raw + (b"\0" if len(raw) % 2 else b"")
            return
        new = [self.pseudo.uid(str(v)) for v in values]
        elem.value = new if len(new) > 1 else new[0]

    def _clean(
        self, ds: Dataset, elem: DataElement, path: str, state: _State, replace_uids: bool
    ) -> None:
        """C: sequences are cleaned item by item; DA/DT are shifted by the patient's offset; TM
        is kept (the shift is whole days); text loses this file's identifying values; UIDs are
        replaced; numbers are kept; binary values, which cannot be cleaned, are removed."""
        vr = elem.VR
        if vr == "SQ":
            self._recurse(elem, path, state, replace_uids)
        elif vr in ("DA", "DT"):
            offset = self.pseudo.date_offset(state.patient)
            shift = shift_date if vr == "DA" else shift_datetime
            out: list[str] = []
            for v in _values(elem):
                shifted = shift(str(v), offset)
                if shifted is None:  # unparseable: do not keep an unshifted date
                    elem.value = elem.empty_value
                    return
                out.append(shifted)
            if out:
                elem.value = out if len(out) > 1 else out[0]
                state.dates_shifted = True
        elif vr == "TM":
            return
        elif vr in TEXT_VRS:
            values = [self._scrub_text(str(v), state.tokens) for v in _values(elem)]
            if values:
                elem.value = values if len(values) > 1 else values[0]
        elif vr == "UI":
            self._uid(ds, elem)
        elif vr in NUMBER_VRS or vr in ("DS", "IS", "AS"):
            return
        else:
            del ds[elem.tag]

    @staticmethod
    def _scrub_text(text: str, tokens: list[str]) -> str:
        out = text
        for token in tokens:
            out = re.sub(re.escape(token), "", out, flags=re.IGNORECASE)
        return re.sub(r"\s{2,}", " ", out).strip() if out != text else out

    def _collect_tokens(self, ds: Dataset) -> list[str]:
        """Values of this dataset that the profile protects: what C removes from kept text."""
        tokens: set[str] = set()

        def visit(d: Dataset) -> None:
            for elem in d:
                tag = int(elem.tag)
                if is_private_group(tag >> 16):
                    continue
                if elem.VR == "SQ":
                    for item in elem.value or []:
                        visit(item)
                    continue
                rule = self.profile.standard_rule(tag)
                if rule is None or rule.action in (Action.K, Action.C):
                    continue
                for v in _values(elem):
                    if isinstance(v, bytes):
                        continue
                    if isinstance(v, PersonName) or elem.VR == "PN":
                        text = str(v)
                        tokens.add(text.replace("^", " ").strip())
                        tokens.update(p for p in re.split(r"[\^=\s,]+", text))
                    else:
                        tokens.add(str(v).strip())

        visit(ds)
        return sorted((t for t in tokens if len(t) >= MIN_TOKEN), key=lambda t: (-len(t), t))

    # ---- private elements --------------------------------------------------------------------

    def _private(
        self, ds: Dataset, tag: int, creator: str | None, prefix: str, state: _State
    ) -> bool:
        """Apply the profile to one private element; True when the element stays."""
        key = (prefix, tag, creator)
        removed = self._removed.get(key)
        if removed is not None:  # decided before for this element of this block: removed
            del ds[tag]
            state.result.private.append(removed[0])
            state.result.changed += removed[1]
            return False
        path = prefix + format_tag(tag)
        shown_creator = creator or ""
        if (tag & 0xFFFF) < 0x1000 or creator is None:
            del ds[tag]
            rec = PrivateRecord(path, shown_creator, "UNDECLARED", "removed", "no-private-creator")
            state.result.private.append(self._remember(key, rec, 0))
            return False
        rule = self.profile.private_rule_for(tag, creator)
        action = rule.action if rule is not None else self.profile.default
        if action is Action.X:  # removed: no need to decode the value first
            del ds[tag]
            from_private_row = rule is not None and rule.selector == PRIVATE
            basis = "basic-profile" if from_private_row else "profile-rule"
            detail = "" if rule is None else f"{rule.source}: {rule.key} {rule.action.value}"
            rec = PrivateRecord(path, shown_creator, "UNDECLARED", "removed", basis, detail)
            state.result.private.append(self._remember(key, rec, 1))
            state.result.changed += 1
            return False
        if action is Action.C and self.profile.safe_private_entry(tag, creator) is None:
            del ds[tag]
            rec = PrivateRecord(path, shown_creator, "UNDECLARED", "removed", "not-declared")
            state.result.private.append(self._remember(key, rec, 0))
            return False
        elem = ds[tag]
        if action is Action.C:
            entry = self.profile.safe_private_entry(tag, creator)
            assert entry is not None
            basis = (
                "safe-private-table"
                if entry.source == "retain-safe-private"
                else ("profile-safe-list")
            )
            if elem.VR == "SQ":
                self._recurse(elem, path, state, replace_uids=False)
            state.result.private.append(
                PrivateRecord(path, shown_creator, "UNDECLARED", "kept", basis)
            )
            return True
        effect = resolve(action, elem.VR == "SQ")
        basis = "profile-rule"  # X (basic-profile) was handled above
        decision = {
            Effect.REMOVE: "removed",
            Effect.EMPTY: "emptied",
            Effect.KEEP: "kept",
        }.get(effect, "replaced")
        detail = "" if rule is None else f"{rule.source}: {rule.key} {rule.action.value}"
        state.result.private.append(
            PrivateRecord(path, shown_creator, "UNDECLARED", decision, basis, detail)
        )
        self._apply(ds, elem, effect, rule, prefix, state, replace_uids=False)
        return effect is not Effect.REMOVE

    def _remember(
        self, key: tuple[str, int, str | None], rec: PrivateRecord, changed: int
    ) -> PrivateRecord:
        """Removal decisions depend only on the element's place, tag and creator: cache them."""
        if len(self._removed) > 50_000:
            self._removed.clear()
        self._removed[key] = (rec, changed)
        return rec

    def _filter_private_characteristics(self, ds: Dataset) -> None:
        """Keep (0008,0300) items only for private blocks that are still present."""
        seq = ds.get(0x00080300)
        if seq is None or seq.VR != "SQ":
            return
        present: set[tuple[int, str]] = set()
        for tag in ds.keys():  # noqa: SIM118
            group, element = tag >> 16, tag & 0xFFFF
            if is_private_group(group) and 0x10 <= element <= 0xFF:
                value = ds[tag].value
                if isinstance(value, bytes):
                    value = value.decode("latin-1")
                present.add((group, str(value or "").strip()))
        items = [
            item
            for item in seq.value
            if (
                int(item.get("PrivateGroupReference", -1) or -1),
                str(item.get("PrivateCreatorReference", "") or "").strip(),
            )
            in present
        ]
        if items:
            seq.value = Sequence(items)
        else:
            del ds[0x00080300]

    # ---- bookkeeping -------------------------------------------------------------------------

    def _record_method(self, ds: Dataset, state: _State) -> None:
        """PS3.15 E.1.1: Patient Identity Removed, method text and codes (appended), and
        Longitudinal Temporal Information Modified set to what happened to the dates."""
        ds.PatientIdentityRemoved = "YES"
        existing = (
            [str(v) for v in _values(ds["DeidentificationMethod"])]
            if ("DeidentificationMethod" in ds)
            else []
        )
        labels = [m.label for m in self.methods]
        ds.DeidentificationMethod = (
            [*existing, *labels]
            if len(existing) + len(labels) > 1
            else ((existing + labels)[0] if existing + labels else "")
        )
        codes = [m for m in self.methods if m.code]
        if codes:
            seq = ds.get(0x00120064)
            items = list(seq.value or []) if seq is not None and seq.VR == "SQ" else []
            for m in codes:
                item = Dataset()
                item.CodeValue = m.code
                item.CodingSchemeDesignator = METHOD_SCHEME
                item.CodeMeaning = m.meaning or m.label
                items.append(item)
            ds.DeidentificationMethodCodeSequence = Sequence(items)
        if state.dates_shifted:
            dates = "MODIFIED"
        elif state.dates_kept:
            dates = "UNMODIFIED"
        else:
            dates = "REMOVED"
        ds.LongitudinalTemporalInformationModified = dates
        state.result.dates = dates
        state.result.methods = tuple(labels)
        state.result.method_codes = tuple(m.code for m in codes if m.code)


def iter_private_tags(ds: Dataset) -> Iterable[int]:
    for tag in ds.keys():  # noqa: SIM118
        if is_private_group(tag >> 16):
            yield int(tag)
