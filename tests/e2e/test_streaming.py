"""Streamed output (Pixel Data copied by byte range) equals the fully parsed output, byte for byte,
on every bundled file where both apply."""

from __future__ import annotations

import errno
import functools
import os
from pathlib import Path
from typing import Any

import pydicom
import pytest

import dicomscrub.process
from corpus import TEST_FILES, snapshot
from dicomscrub.discover import Source
from dicomscrub.pipeline import Scrubber
from dicomscrub.process import FileResult, Job, Status, process_file, process_files
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


def _job(out: Path, key: Key) -> Job:
    scrubber = Scrubber(compiled("basic"), Pseudonymizer(key))
    return Job(scrubber, OutputPlan(out, Layout.HIERARCHY, ("in",)))


def _sources() -> list[Source]:
    """Every bundled file, and CT_small.dcm twice (the second gives the same output path)."""
    names = [*BUNDLED, "CT_small.dcm"]
    return [Source(TEST_FILES / n, 0, TEST_FILES, n) for n in names]


def _open_fds() -> list[str]:
    """The files under pydicom's test folder this process holds open (only these: other tests'
    threads, a Dask client's say, open and close descriptors of their own meanwhile)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # (closed meanwhile)
            continue
        if target.startswith(str(TEST_FILES)):
            found.append(target)
    return sorted(found)


def _outcome(result: FileResult) -> tuple[object, ...]:
    return (result.status, result.detail, result.output, result.streamed, len(result.private))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_writes_done_together_give_the_results_and_files_of_writes_done_at_once(
    tmp_path: Path, key: Key
) -> None:
    sources = _sources()
    one_by_one = [process_file(s, _job(tmp_path / "a", key)) for s in sources]
    before = _open_fds()
    together = process_files(sources, _job(tmp_path / "b", key))
    assert _open_fds() == before  # the inputs' duplicated descriptors are all closed
    assert [_outcome(r) for r in together] == [_outcome(r) for r in one_by_one]
    assert together[-1].status is Status.SKIPPED  # the same file again: found identical
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert sum(r.status is Status.WRITTEN for r in together) > 30


def test_writes_are_done_together_until_the_bytes_held_pass_the_limit(
    tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_process, real_write = dicomscrub.process.process_file, dicomscrub.process.write_atomic

    def processing(source: Source, job: Job) -> FileResult:
        events.append("p")
        return real_process(source, job)

    def writing(*args: Any, **kwargs: Any) -> None:
        events.append("w")
        real_write(*args, **kwargs)

    monkeypatch.setattr(dicomscrub.process, "process_file", processing)
    monkeypatch.setattr(dicomscrub.process, "write_atomic", writing)
    sources = [Source(TEST_FILES / n, 0, TEST_FILES, n) for n in ("CT_small.dcm", "MR_small.dcm")]
    process_files(sources, _job(tmp_path / "a", key))
    assert "".join(events) == "ppww"
    events.clear()
    monkeypatch.setattr(dicomscrub.process, "DEFER_BYTES", 0)
    process_files(sources, _job(tmp_path / "b", key))
    assert "".join(events) == "pwpw"
    events.clear()
    monkeypatch.setattr(dicomscrub.process, "DEFER_BYTES", 1 << 30)
    monkeypatch.setattr(dicomscrub.process, "DEFER_FILES", 1)
    process_files(sources, _job(tmp_path / "c", key))
    assert "".join(events) == "pwpw"


def test_a_write_that_fails_later_is_reported_on_its_own_file(
    tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = dicomscrub.process.write_atomic

    calls: list[Path] = []

    def full_disk(target: Path, parts: Any, *, fsync: bool = True) -> None:
        calls.append(target)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(target, parts, fsync=fsync)

    monkeypatch.setattr(dicomscrub.process, "write_atomic", full_disk)
    sources = [Source(TEST_FILES / n, 0, TEST_FILES, n) for n in ("CT_small.dcm", "MR_small.dcm")]
    results = process_files(
        [*sources, Source(TEST_FILES / "rtplan.dcm", 0, TEST_FILES, "rtplan.dcm")],
        _job(tmp_path, key),
    )
    assert [r.status for r in results] == [Status.WRITTEN, Status.FAILED, Status.WRITTEN]
    assert results[1].detail == "cannot write the output: No space left on device"
    assert results[1].private == [] and results[1].output == ""
    assert len(list(tmp_path.rglob("*.dcm"))) == 2


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc")
def test_an_interruption_writes_nothing_held_and_closes_the_inputs(
    tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = dicomscrub.process.process_file
    seen: list[str] = []

    def interrupted(source: Source, job: Job) -> FileResult:
        seen.append(source.rel)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real(source, job)

    monkeypatch.setattr(dicomscrub.process, "process_file", interrupted)
    before = _open_fds()
    job = _job(tmp_path, key)
    with pytest.raises(KeyboardInterrupt):
        process_files(_sources()[:5], job)
    assert _open_fds() == before
    assert not list(tmp_path.rglob("*.dcm")) and job.deferred is None
    assert process_files(_sources()[:5], job, stop=lambda: True) == []
    assert not list(tmp_path.rglob("*.dcm"))


def test_a_stop_before_a_file_drops_the_outputs_held_and_reports_only_files_done(
    tmp_path: Path, key: Key
) -> None:
    sources = _sources()[:4]
    answers = iter([False, False, True])
    results = process_files(sources, _job(tmp_path, key), stop=lambda: next(answers))
    assert results == []  # both files processed were held, not written: not done
    assert not list(tmp_path.rglob("*.dcm"))


def test_an_error_other_than_os_error_while_writing_fails_that_file_as_before(
    tmp_path: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(target: Path, parts: Any, *, fsync: bool = True) -> None:
        raise ValueError("no")

    monkeypatch.setattr(dicomscrub.process, "write_atomic", broken)
    sources = [Source(TEST_FILES / "CT_small.dcm", 0, TEST_FILES, "CT_small.dcm")]
    [deferred] = process_files(sources, _job(tmp_path / "a", key))
    [at_once] = [process_file(s, _job(tmp_path / "b", key)) for s in sources]
    assert _outcome(deferred) == _outcome(at_once)
    assert deferred.status is Status.FAILED and deferred.detail.startswith("cannot de-identify")
