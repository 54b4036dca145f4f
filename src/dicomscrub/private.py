"""Private blocks: the file's own declarations in (0008,0300), and what to do with each element.

PS3.3 C.12.1.1.7 lets the creator of an instance declare, per private block (group + Private
Creator), whether the block is SAFE, UNSAFE or MIXED; for MIXED, (0008,0304) lists the low bytes of
the safe elements, and (0008,0305) may give an action (D, Z, X or U) for identifying elements.
PS3.15 E.3.10 (Retain Safe Private Option) counts such a declaration, Table E.3.10-1 and other
knowledge as grounds for keeping a private element.

Precedence, strongest first (see the README):

1. A declaration in the file that an element is identifying (its block is UNSAFE, or MIXED without
   the element in (0008,0304)) or a malformed declaration (treated as UNSAFE) wins over every table
   and over a profile rule that would keep the element: the instance's creator knows what it wrote
   there, while Table E.3.10-1 is only a sample whose vendors guarantee nothing. A declared action
   is applied; without one the element is removed.
2. A declaration that the element is safe (SAFE block, or listed in (0008,0304)).
3. Table E.3.10-1, then the profile's own ``safe_private`` list (creator + group + element byte).
4. Otherwise the element is removed.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from dicomscrub.dictionary import has
from dicomscrub.tags import format_tag, is_private_group

SEQUENCE_TAG = 0x00080300


class BlockStatus(str, enum.Enum):
    SAFE = "SAFE"
    UNSAFE = "UNSAFE"
    MIXED = "MIXED"
    UNDECLARED = "UNDECLARED"


DECLARED_ACTIONS = frozenset({"D", "Z", "X", "U"})


@dataclass(frozen=True)
class Declaration:
    """One block as declared in (0008,0300), after validation."""

    group: int
    creator: str
    status: BlockStatus
    nonidentifying: frozenset[int] = frozenset()
    actions: dict[int, str] = field(default_factory=dict)  # element byte -> D, Z, X or U
    problem: str = ""  # why a malformed declaration is treated as UNSAFE
    item_index: int = -1

    def is_safe(self, byte: int) -> bool:
        if self.status is BlockStatus.SAFE:
            return True
        return self.status is BlockStatus.MIXED and byte in self.nonidentifying


def _ints(value: object) -> list[int] | None:
    """A US 1-n value as a list of ints (None if it is not one)."""
    if value is None or value == "":
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, MultiValue | list | tuple):
        out: list[int] = []
        for v in value:
            if not isinstance(v, int):
                return None
            out.append(v)
        return out
    if isinstance(value, bytes):  # read as UN: little endian US values
        if len(value) % 2:
            return None
        return [int.from_bytes(value[i : i + 2], "little") for i in range(0, len(value), 2)]
    return None


_US = ("US", "UN")
"""The VRs a declaration's numbers may have: US, as PS3.6 says, or UN (read as little endian
US, as the dictionary says). A list written with another VR (UL, SS) is no declaration of this
attribute's: the item is malformed."""


def _byte_list(item: Dataset, tag: int, name: str) -> tuple[list[int] | None, str]:
    """Validate a low-byte list (0008,0304)/(0008,0306): increasing, no repeats, 0..FF."""
    if tag not in item:
        return None, ""
    if item[tag].VR not in _US:
        return None, f"{name} {format_tag(tag)} has VR {item[tag].VR}, not US"
    values = _ints(item[tag].value)
    if values is None:
        return None, f"{name} {format_tag(tag)} is not a list of US values"
    if any(v > 0xFF or v < 0 for v in values):
        return None, f"{name} {format_tag(tag)} holds a value above 00FFH"
    if any(b <= a for a, b in itertools.pairwise(values)):
        return None, f"{name} {format_tag(tag)} is not in increasing order without repeats"
    return values, ""


def creator_text(value: object) -> str:
    """A Private Creator's value (or a Private Creator Reference's) as the text that names its
    block, padding included: the text as the file writes it, several values joined by
    backslashes (a creator has one value, but a file may write ``ACME\\OTHER``), bytes (UN, OB)
    read as Latin-1, numbers as pydicom reads them; a sequence, which holds no text, as
    ``(sequence)``. The audit, explain, the profile's creator rules and the declarations all
    name a block by it (``str`` of a list would be ``['ACME', 'OTHER']``)."""
    if isinstance(value, Sequence):
        return "(sequence)"
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in value)
    return "" if value is None else str(value)


def _text(item: Dataset, tag: int) -> str:
    if tag not in item:
        return ""
    return creator_text(item[tag].value).strip().rstrip("\0").strip()


def _parse_item(item: Dataset, index: int) -> Declaration | tuple[int | None, str, str]:
    """A valid Declaration, or (group, creator, problem) for a malformed item."""
    group_values = _ints(item[0x00080301].value) if 0x00080301 in item else None
    group = group_values[0] if group_values and len(group_values) == 1 else None
    creator = _text(item, 0x00080302)
    if group is not None and item[0x00080301].VR not in _US:
        vr = item[0x00080301].VR
        return (group, creator, f"Private Group Reference (0008,0301) has VR {vr}, not US")
    if group is None:
        return (None, creator, "Private Group Reference (0008,0301) missing or not one US value")
    if not is_private_group(group):
        return (group, creator, "Private Group Reference (0008,0301) is not an odd (private) group")
    if not creator:
        return (group, creator, "Private Creator Reference (0008,0302) missing or empty")
    status_text = _text(item, 0x00080303)  # (CS: upper case; "safe" is no Enumerated Value)
    if status_text not in ("SAFE", "UNSAFE", "MIXED"):
        return (
            group,
            creator,
            "Block Identifying Information Status (0008,0303) is not SAFE, UNSAFE or MIXED",
        )
    status = BlockStatus(status_text)
    listed, problem = _byte_list(item, 0x00080304, "Nonidentifying Private Elements")
    if problem:
        return (group, creator, problem)
    if status is BlockStatus.MIXED and listed is None:
        return (group, creator, "MIXED block without Nonidentifying Private Elements (0008,0304)")
    actions: dict[int, str] = {}
    if 0x00080305 in item:
        seq = item[0x00080305].value
        if not isinstance(seq, Iterable) or isinstance(seq, bytes | str):
            return (
                group,
                creator,
                "Deidentification Action Sequence (0008,0305) is not a sequence",
            )
        for sub in seq:
            ids, problem = _byte_list(sub, 0x00080306, "Identifying Private Elements")
            if problem:
                return (group, creator, problem)
            if not ids:
                return (group, creator, "Identifying Private Elements (0008,0306) missing")
            action = _text(sub, 0x00080307)
            if action not in DECLARED_ACTIONS:
                return (group, creator, "Deidentification Action (0008,0307) is not D, Z, X or U")
            for b in ids:
                if b in actions and actions[b] != action:
                    return (group, creator, "two different actions declared for one element")
                actions[b] = action
    # (0008,0306) lists elements that may be identifying: the same item cannot also call them
    # safe, by a SAFE status or in (0008,0304). Which half is wrong cannot be told, so the
    # whole block is treated as UNSAFE.
    if actions and status is BlockStatus.SAFE:
        return (
            group,
            creator,
            "SAFE block with Identifying Private Elements (0008,0306) in (0008,0305)",
        )
    if status is BlockStatus.MIXED and set(actions) & set(listed or ()):
        return (
            group,
            creator,
            "an element both in Nonidentifying Private Elements (0008,0304) and in"
            " Identifying Private Elements (0008,0306)",
        )
    return Declaration(
        group=group,
        creator=creator,
        status=status,
        nonidentifying=frozenset(listed or ()),
        actions=actions,
        item_index=index,
    )


ANY_GROUP = -1
ANY_CREATOR = "\0any"
"""Keys of a malformed item that names only a creator, or only a group: it may refer to any block
of that creator, or of that group, so all of those count as UNSAFE."""


def read_declarations(ds: Dataset) -> dict[tuple[int, str], Declaration]:
    """Every block declared in the top-level (0008,0300), keyed by (group, creator).

    A malformed item becomes an UNSAFE declaration carrying the reason. An item without a usable
    group or creator cannot be tied to one block, so it is stored under (group, ANY_CREATOR) or
    (ANY_GROUP, creator) and makes every block it could mean UNSAFE (see :func:`find_declaration`);
    an item with neither names no block at all. A block declared twice is UNSAFE.
    """
    out: dict[tuple[int, str], Declaration] = {}
    if not has(ds, SEQUENCE_TAG):
        return out
    elem = ds[SEQUENCE_TAG]
    items = elem.value if elem.VR == "SQ" else []
    for index, item in enumerate(items or []):
        parsed = _parse_item(item, index)
        if isinstance(parsed, tuple):
            group, creator, problem = parsed
            if group is None and not creator:
                continue
            parsed = Declaration(
                ANY_GROUP if group is None else group,
                creator or ANY_CREATOR,
                BlockStatus.UNSAFE,
                problem=problem,
                item_index=index,
            )
        key = (parsed.group, parsed.creator)
        if key in out:
            parsed = Declaration(
                parsed.group,
                parsed.creator,
                BlockStatus.UNSAFE,
                problem="block declared more than once",
                item_index=index,
            )
        out[key] = parsed
    return out


def find_declaration(
    declarations: dict[tuple[int, str], Declaration], group: int, creator: str
) -> Declaration | None:
    """The declaration that governs the block (group, creator); an incomplete malformed item that
    could refer to the block wins over everything, since the block may be the one it meant."""
    for key in ((group, ANY_CREATOR), (ANY_GROUP, creator)):
        vague = declarations.get(key)
        if vague is not None:
            return Declaration(
                group,
                creator,
                BlockStatus.UNSAFE,
                problem=vague.problem,
                item_index=vague.item_index,
            )
    return declarations.get((group, creator))


class Fate(str, enum.Enum):
    KEEP = "keep"
    REMOVE = "remove"
    DECLARED_ACTION = "declared-action"


@dataclass(frozen=True)
class Verdict:
    """What the safe-private logic decides for one private data element."""

    fate: Fate
    basis: str
    status: BlockStatus
    action: str = ""  # for DECLARED_ACTION: D, Z, X or U
    detail: str = ""


def identifying_verdict(decl: Declaration | None, byte: int) -> Verdict | None:
    """Rule 1 of the precedence: the file says this element is (or may be) identifying."""
    if decl is None:
        return None
    if decl.problem:
        return Verdict(
            Fate.REMOVE,
            "unsafe-block",
            BlockStatus.UNSAFE,
            detail=f"malformed declaration treated as UNSAFE: {decl.problem}",
        )
    if decl.status is BlockStatus.UNSAFE:
        if byte in decl.actions:
            return Verdict(
                Fate.DECLARED_ACTION, "declared-action", decl.status, action=decl.actions[byte]
            )
        return Verdict(Fate.REMOVE, "unsafe-block", decl.status)
    if decl.status is BlockStatus.MIXED and byte not in decl.nonidentifying:
        if byte in decl.actions:
            return Verdict(
                Fate.DECLARED_ACTION, "declared-action", decl.status, action=decl.actions[byte]
            )
        return Verdict(Fate.REMOVE, "identifying-element", decl.status)
    return None


def safe_verdict(
    decl: Declaration | None, byte: int, table_hit: bool, profile_hit: bool
) -> Verdict:
    """The Retain Safe Private decision for an element not declared identifying."""
    flagged = identifying_verdict(decl, byte)
    if flagged is not None:
        return flagged
    status = decl.status if decl is not None else BlockStatus.UNDECLARED
    if decl is not None and decl.status is BlockStatus.SAFE:
        return Verdict(Fate.KEEP, "declared-safe-block", status)
    if decl is not None and decl.status is BlockStatus.MIXED:
        return Verdict(Fate.KEEP, "listed-nonidentifying", status)
    if table_hit:
        return Verdict(Fate.KEEP, "safe-private-table", status)
    if profile_hit:
        return Verdict(Fate.KEEP, "profile-safe-list", status)
    return Verdict(Fate.REMOVE, "not-declared", status)
