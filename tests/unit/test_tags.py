"""Tag notation: exact tags, masks with x digits, private masks that name a creator."""

from __future__ import annotations

import pytest

from dicomscrub.tags import (
    Mask,
    TagSyntaxError,
    format_tag,
    is_private_group,
    parse_tag_or_mask,
    private_mask,
)


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("(0010,0010)", 0x00100010),
        ("(7fe0,0010)", 0x7FE00010),
        ("( 0008 , 1140 )", 0x00081140),
        ("  (FFFE,E000)  ", 0xFFFEE000),
    ],
)
def test_exact_tag_parses_to_int(text: str, tag: int) -> None:
    assert parse_tag_or_mask(text) == tag


def test_format_tag_writes_upper_case_group_and_element() -> None:
    assert format_tag(0x7FE00010) == "(7FE0,0010)"
    assert format_tag(parse_tag_or_mask("(0008,103e)")) == "(0008,103E)"  # type: ignore[arg-type]


def test_mask_with_x_digits_matches_any_hex_digit_there() -> None:
    mask = parse_tag_or_mask("(50xx,xxxx)")
    assert isinstance(mask, Mask)
    assert mask.text == "(50xx,xxxx)"
    assert mask.wildcards == 6
    assert mask.creator is None
    assert mask.matches(0x50000000)
    assert mask.matches(0x50FF3000)
    assert not mask.matches(0x51000000)
    assert not mask.matches(0x60003000)


def test_upper_case_x_is_a_wildcard_and_the_text_is_canonical() -> None:
    mask = parse_tag_or_mask("(60XX,3000)")
    assert isinstance(mask, Mask)
    assert mask.text == "(60xx,3000)"
    assert mask.wildcards == 2
    assert mask.matches(0x60223000)
    assert not mask.matches(0x60224000)


def test_private_mask_matches_element_byte_in_any_block_of_its_creator() -> None:
    mask = private_mask("(0019,xx10)", "GEMS_ACQU_01")
    assert mask.creator == "GEMS_ACQU_01"
    assert mask.is_private
    assert mask.matches(0x00191010, "GEMS_ACQU_01")
    assert mask.matches(0x00191110, "GEMS_ACQU_01")  # block at (0019,0011)
    assert mask.matches(0x00191010, "GEMS_ACQU_01 ")  # LO padding is not significant


def test_private_mask_does_not_match_other_creator_other_element_or_no_creator() -> None:
    mask = private_mask("(0019,xx10)", "GEMS_ACQU_01")
    assert not mask.matches(0x00191010, "SIEMENS CSA HEADER")
    assert not mask.matches(0x00191010, None)
    assert not mask.matches(0x00191011, "GEMS_ACQU_01")
    assert not mask.matches(0x00211010, "GEMS_ACQU_01")


@pytest.mark.parametrize(
    "text",
    ["(0010,001G)", "0010,0010", "(0010,00100)", "(001,0010)", "(0010;0010)", "", "private"],
)
def test_malformed_tag_is_a_syntax_error_naming_the_text(text: str) -> None:
    with pytest.raises(TagSyntaxError, match=r"expected a tag written \(GGGG,EEEE\)") as info:
        parse_tag_or_mask(text)
    assert repr(text) in str(info.value)


def test_private_mask_with_exact_tag_is_an_error() -> None:
    with pytest.raises(TagSyntaxError, match=r"addresses the block byte as xx"):
        private_mask("(0019,1010)", "GEMS_ACQU_01")


@pytest.mark.parametrize("text", ["(0010,xx10)", "(00xx,xx10)", "(FFFF,xx10)"])
def test_private_mask_in_a_standard_group_is_an_error(text: str) -> None:
    with pytest.raises(TagSyntaxError, match=r"needs an odd \(private\) group"):
        private_mask(text, "GEMS_ACQU_01")


@pytest.mark.parametrize("text", ["(0019,xxxx)", "(0019,10xx)", "(0019,x010)"])
def test_private_mask_must_free_exactly_the_block_byte(text: str) -> None:
    with pytest.raises(TagSyntaxError, match=r"written \(gggg,xxEE\)"):
        private_mask(text, "GEMS_ACQU_01")


@pytest.mark.parametrize(
    ("group", "private"),
    [
        (0x0009, True),
        (0x0019, True),
        (0x7053, True),
        (0x0001, False),
        (0x0003, False),
        (0x0005, False),
        (0x0007, False),
        (0x0008, False),
        (0x0010, False),
        (0xFFFF, False),
    ],
)
def test_only_odd_groups_above_0008_are_private(group: int, private: bool) -> None:
    assert is_private_group(group) is private
