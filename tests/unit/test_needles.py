"""The leak check's tokens of values read from their bytes (dicomscrub.needles)."""

from __future__ import annotations

import pytest

from dicomscrub import identity, needles
from dicomscrub.identity import Matcher, Token
from dicomscrub.pipeline import Scrubber
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.pseudonym import Key, Pseudonymizer


def _found(tokens: list[Token], output: bytes) -> set[str]:
    return {tok.text for _, tok in Matcher(tokens).search(output)} if tokens else set()


def test_a_blob_seen_once_gets_every_token_that_can_be_found_in_the_output(
    basic: CompiledProfile, key: Key
) -> None:
    """The short cut for a long binary value seen once (only the text runs whose longest ASCII
    word is a word of the output get tokens) finds what the full tokenisation finds."""
    import random

    rng = random.Random(20261202)
    scrubber = Scrubber(basic, Pseudonymizer(key))
    context = (("iso8859",), False, True)
    encodings = identity.encodings_of([])
    texts = [
        b"DOE^JANE",
        b"Stra\xdfenberg^Hans",
        b"M\xfcller^J\xfcrgen",
        b"MRN0012345",
        b"x9Kq.Zw7",
    ]
    for round_ in range(60):
        planted = rng.sample(texts, 3)
        blob = rng.randbytes(2048) + b"\x01".join(planted) + b"\x02" + rng.randbytes(2048)
        item = (0x00291010, b"OB", blob, "SIEMENS CSA HEADER")
        full = needles.unparsed_tokens(item, context, scrubber)
        # an output holding some runs of the blob, in other cases, and random bytes
        runs = [run.encode("latin-1") for run in identity.text_runs(blob)]
        shown = rng.sample(runs, min(3, len(runs)))
        output = b"\x00".join(
            [
                rng.randbytes(512),
                *(r.upper() if round_ % 2 else r for r in shown),
                b"STRASSENBERG^HANS",
            ]
        )
        memo = needles.NeedleMemo(scrubber)
        groups = memo.lookup([item], context, encodings, identity.words_of(output))
        quick = _tokens(groups)
        assert {t.text for t in quick} <= {t.text for t in full}
        assert _found(quick, output) == _found(full, output)
        assert _found(full, output)  # something was found each time: the test compares hits
    # seen a second time, a blob gets all its tokens (and keeps them)
    memo = needles.NeedleMemo(scrubber)
    memo.lookup([item], context, encodings, set())
    again = memo.lookup([item], context, encodings, set())
    assert {t.text for t in _tokens(again)} == {t.text for t in full}


def _tokens(groups: list[needles.Needles]) -> list[Token]:
    found = {t for g in groups for tokens in g.by_key.values() for t in tokens}
    return sorted(found | {t for g in groups for t in g.always}, key=lambda t: t.text)


@pytest.mark.parametrize(
    "value",
    [
        b"2.25.123199825824289530647907523288288680\0",
        b"1.2.826.0.1.3680043.8.498.14\\1.2.840.10008.5.1.4.1.1.2",
        b"1.2.840.10008.1.2.1\0",  # defined by the standard: no token
        b"1.2.3\0",  # too few digits
        b"1.2.3.4.5.6",  # just enough digits
        b"12.345\0",  # one too few
        b"1.2.826.0.1 3680043",  # not written as a UID: the general way
    ],
)
def test_uids_get_the_needles_the_general_way_gives(
    value: bytes, basic: CompiledProfile, key: Key
) -> None:
    scrubber = Scrubber(basic, Pseudonymizer(key))
    context = (("iso8859",), False, True)
    encodings = identity.encodings_of([])
    memo = needles.NeedleMemo(scrubber)
    fast = memo.lookup([(0, b"UI", value, "")], context, encodings, set())
    general = needles.unparsed_tokens((0x00080018, b"UI", value, ""), context, scrubber)
    assert [(t.text, t.kind, t.category) for t in _tokens(fast)] == sorted(
        (t.text, t.kind, t.category) for t in general
    )
    if general:
        assert fast[0].by_key == needles.Needles.of(general, encodings).by_key


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_file_meta_read_from_its_bytes_gives_the_values_pydicom_reads() -> None:
    """meta_from_bytes, used when the lanes hold the file's bytes, lists the same file meta
    values as meta_unparsed does from pydicom's data set, on every bundled Part 10 file."""
    import pydicom

    from corpus import TEST_FILES
    from dicomscrub.discover import Kind
    from dicomscrub.structure import scan

    compared = 0
    for path in sorted(TEST_FILES.glob("*.dcm")):
        data = path.read_bytes()
        if data[128:132] != b"DICM":
            continue
        with path.open("rb") as fh:
            try:
                fmap = scan(fh, len(data), Kind.PART10)
                fh.seek(0)
                ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
            except Exception:
                continue
        found = needles.meta_from_bytes(data[132 : fmap.dataset_start])
        if found is None:
            continue
        items, decoded = needles.meta_unparsed(ds)
        expected = {(tag, value.strip(b" \0")) for tag, _, value, _ in items}
        expected |= {
            (o.tag, (o.value if isinstance(o.value, bytes) else str(o.value).encode("latin-1")))
            for o in decoded
        }
        expected = {(tag, value.strip(b" \0")) for tag, value in expected}
        expected = {(tag, value) for tag, value in expected if len(value) >= 4}
        got = {(tag, value.strip(b" \0")) for tag, _, value, _ in found}
        assert {(t, v) for t, v in got if len(v) >= 4} == expected, path.name
        compared += 1
    assert compared > 50
