"""Streamed output (Pixel Data copied by byte range) equals the fully parsed output, byte for byte,
on every bundled file where both apply."""

from __future__ import annotations

import functools
from pathlib import Path

import pydicom
import pytest

from corpus import TEST_FILES
from dicomscrub.discover import Source
from dicomscrub.pipeline import Scrubber
from dicomscrub.process import FileResult, Job, Status, process_file
from dicomscrub.profile.loader import load_profile
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.pseudonym import Key, Pseudonymizer
from dicomscrub.writer import Layout, OutputPlan

BUNDLED = sorted(p.name for p in TEST_FILES.iterdir() if p.is_file())


@functools.lru_cache(maxsize=4)
def compiled(profile: str) -> CompiledProfile:
    return load_profile(profile)


def run_one(path: Path, out: Path, key: Key, *, stream: bool, profile: str = "basic") -> FileResult:
    scrubber = Scrubber(compiled(profile), Pseudonymizer(key))
    job = Job(scrubber, OutputPlan(out, Layout.HIERARCHY, ("in",)), stream=stream)
    return process_file(Source(path, 0, path.parent, path.name), job)


@pytest.mark.parametrize("name", BUNDLED)
def test_streamed_output_equals_full_parse_output(name: str, tmp_path: Path, key: Key) -> None:
    streamed = run_one(TEST_FILES / name, tmp_path / "s", key, stream=True)
    full = run_one(TEST_FILES / name, tmp_path / "f", key, stream=False)
    assert (streamed.status, streamed.detail) == (full.status, full.detail)
    assert not full.streamed
    if streamed.status is not Status.WRITTEN:
        assert not any((tmp_path / "s").rglob("*.dcm"))
        pytest.skip(f"not written: {streamed.detail}")
    a = (tmp_path / "s" / streamed.output).read_bytes()
    b = (tmp_path / "f" / full.output).read_bytes()
    assert a == b


def test_most_bundled_images_are_streamed(tmp_path: Path, key: Key) -> None:
    streamed = [
        name
        for i, name in enumerate(BUNDLED)
        if run_one(TEST_FILES / name, tmp_path / str(i), key, stream=True).streamed
    ]
    assert len(streamed) >= 50
    assert "CT_small.dcm" in streamed and "JPEG2000.dcm" in streamed
    assert "image_dfl.dcm" not in streamed  # deflated: full path


def test_streamed_output_keeps_pixel_data_and_cleans_trailing_elements(
    tmp_path: Path, key: Key
) -> None:
    src = TEST_FILES / "CT_small.dcm"
    original = pydicom.dcmread(src)
    result = run_one(src, tmp_path, key, stream=True)
    assert result.streamed
    out = pydicom.dcmread(tmp_path / result.output)
    assert out.PixelData == original.PixelData
    assert "PatientName" not in out or str(out.PatientName) != str(original.PatientName)
    trailing = [int(e.tag) for e in original if e.tag > 0x7FE00010]
    assert trailing, "CT_small.dcm has elements after Pixel Data"
    for tag in trailing:  # private groups after Pixel Data are removed by the Basic Profile
        assert tag not in out


def test_a_profile_that_removes_pixel_data_takes_the_full_path(tmp_path: Path, key: Key) -> None:
    profile = tmp_path / "no-pixels.yaml"
    profile.write_text(
        "extends: [basic]\nrules:\n  - {tag: '(7FE0,0010)', action: X}\n", encoding="utf-8"
    )
    result = run_one(
        TEST_FILES / "CT_small.dcm", tmp_path / "o", key, stream=True, profile=str(profile)
    )
    assert result.status is Status.WRITTEN and not result.streamed
    assert "PixelData" not in pydicom.dcmread(tmp_path / "o" / result.output)
