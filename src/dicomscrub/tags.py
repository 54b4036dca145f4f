"""Tag notation and the selectors a profile rule can use.

Tags are written as in the standard, ``(0010,0010)``. A mask replaces hex digits by ``x``:
``(50xx,xxxx)`` or, in a private group, ``(0019,xx10)``, where ``xx`` is the block byte.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_TAG_RE = re.compile(r"^\(\s*([0-9A-Fa-fXx]{4})\s*,\s*([0-9A-Fa-fXx]{4})\s*\)$")


class TagSyntaxError(ValueError):
    """A tag or mask that is not written ``(GGGG,EEEE)`` with hex digits or ``x``."""


@functools.lru_cache(maxsize=65536)
def format_tag(tag: int) -> str:
    """Return ``(GGGG,EEEE)`` for an integer tag (cached: the same tags recur in every file)."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def is_private_group(group: int) -> bool:
    """Odd groups other than 0001, 0003, 0005, 0007 and FFFF hold private data (PS3.5 7.8.1)."""
    return group % 2 == 1 and group > 0x0008 and group != 0xFFFF


@dataclass(frozen=True)
class Mask:
    """A tag pattern: ``value`` compared under ``care`` (bits that must match)."""

    text: str
    value: int
    care: int
    creator: str | None = None

    @property
    def wildcards(self) -> int:
        """Number of hex digits left free (fewer means more specific)."""
        return sum(1 for shift in range(0, 32, 4) if not (self.care >> shift) & 0xF)

    @property
    def is_private(self) -> bool:
        return is_private_group(self.value >> 16) and (self.care >> 16) == 0xFFFF

    def matches(self, tag: int, creator: str | None = None) -> bool:
        if (tag & self.care) != self.value:
            return False
        if self.creator is not None:
            return creator is not None and creator.strip() == self.creator.strip()
        return True


def parse_tag_or_mask(text: str) -> int | Mask:
    """Parse ``(GGGG,EEEE)`` to an int, or a text with ``x`` digits to a :class:`Mask`."""
    m = _TAG_RE.match(text.strip())
    if not m:
        raise TagSyntaxError(
            f"expected a tag written (GGGG,EEEE) with hex digits or x, got {text!r}"
        )
    digits = (m.group(1) + m.group(2)).upper()
    if "X" not in digits:
        return int(digits, 16)
    value = care = 0
    for ch in digits:
        value <<= 4
        care <<= 4
        if ch != "X":
            value |= int(ch, 16)
            care |= 0xF
    canon = f"({digits[:4]},{digits[4:]})".replace("X", "x")
    return Mask(canon, value, care)


def private_mask(text: str, creator: str) -> Mask:
    """Parse a private mask ``(gggg,xxEE)`` that is valid only in the block of ``creator``."""
    parsed = parse_tag_or_mask(text)
    if isinstance(parsed, int):
        raise TagSyntaxError(
            f"a rule with a creator addresses the block byte as xx, e.g. (0019,xx10); got {text!r}"
        )
    group = parsed.value >> 16
    if (parsed.care >> 16) != 0xFFFF or not is_private_group(group):
        raise TagSyntaxError(f"a rule with a creator needs an odd (private) group; got {text!r}")
    if (parsed.care & 0xFFFF) != 0x00FF:
        raise TagSyntaxError(
            f"a private mask with a creator is written (gggg,xxEE) with two hex digits EE; "
            f"got {text!r}"
        )
    return Mask(parsed.text, parsed.value, parsed.care, creator)
