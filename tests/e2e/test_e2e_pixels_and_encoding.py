"""Pixel data and encoding: the image bytes and the transfer syntax are the input's; the preamble
is replaced by zeros."""

from __future__ import annotations

from e2e_support import Run
from pydicom.dataset import Dataset
from pydicom.uid import UID

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def test_pixel_data_bytes_are_identical_between_input_and_output(
    corpus_inputs: dict[str, Dataset | None], corpus_outputs: dict[str, Dataset | None]
) -> None:
    compared = 0
    for rel, out in corpus_outputs.items():
        inp = corpus_inputs[rel]
        assert inp is not None and out is not None, rel
        for keyword in PIXEL_KEYWORDS:
            assert (keyword in inp) == (keyword in out), (rel, keyword)
            if keyword in inp:
                assert inp[keyword].value == out[keyword].value, (rel, keyword)
                assert inp[keyword].VR == out[keyword].VR, (rel, keyword)
                compared += 1
    assert compared > 80  # many dicomdirtests/ files and the RT, SR files have no pixels


def test_transfer_syntax_is_preserved(
    corpus_inputs: dict[str, Dataset | None], corpus_outputs: dict[str, Dataset | None]
) -> None:
    """The meta's Transfer Syntax UID is the input's; for an input without one (no file meta),
    it names the encoding pydicom detected, and the output really is encoded that way."""
    without_meta = 0
    for rel, out in corpus_outputs.items():
        inp = corpus_inputs[rel]
        assert inp is not None and out is not None, rel
        meta = getattr(inp, "file_meta", None)
        written = UID(str(out.file_meta.TransferSyntaxUID))
        given = meta.get("TransferSyntaxUID") if meta is not None else None
        if given:
            assert written == given, rel
        else:
            without_meta += 1
            implicit, little = inp.original_encoding
            assert (written.is_implicit_VR, written.is_little_endian) == (implicit, little), rel
        if not written.is_deflated:
            assert out.original_encoding == (written.is_implicit_VR, written.is_little_endian), rel
    assert without_meta >= 3  # ExplVR_BigEndNoMeta, ExplVR_LitEndNoMeta, rtstruct ...


def test_every_output_preamble_is_128_zero_bytes(all_runs: list[Run]) -> None:
    checked = 0
    for run in all_runs:
        for rel, path in run.written().items():
            head = path.read_bytes()[:132]
            assert head[:128] == b"\0" * 128, (run.args, rel)
            assert head[128:] == b"DICM", (run.args, rel)
            checked += 1
    assert checked > 150
