"""pydicom is kept quiet while files are processed, once per batch, and as it was afterwards."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import pydicom
import pytest

from dicomscrub import process
from dicomscrub.discover import Source
from dicomscrub.parallel import JobSpec
from dicomscrub.process import _quiet_pydicom, process_files
from dicomscrub.profile.loader import load_profile
from dicomscrub.pseudonym import Key
from dicomscrub.writer import Layout, OutputPlan


def _modes() -> tuple[int, int]:
    settings = pydicom.config.settings
    return settings.reading_validation_mode, settings.writing_validation_mode


def test_nested_inside_a_batch_and_restored_after() -> None:
    before = _modes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with _quiet_pydicom():
            with _quiet_pydicom():  # (a file inside a batch)
                warnings.warn("quotes a value", UserWarning, stacklevel=1)
                assert _modes() == (pydicom.config.IGNORE, pydicom.config.IGNORE)
            # the inner one ending does not end the outer one
            warnings.warn("quotes a value", UserWarning, stacklevel=1)
            assert _modes() == (pydicom.config.IGNORE, pydicom.config.IGNORE)
        assert _modes() == before
        with pytest.raises(UserWarning):
            warnings.warn("after", UserWarning, stacklevel=1)


def test_process_files_enters_it_once_and_leaves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered: list[bool] = []
    real = process.warnings.catch_warnings

    def counted() -> warnings.catch_warnings:  # type: ignore[type-arg]
        entered.append(True)
        return real()

    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.dcm").write_bytes(
            Path(pydicom.data.get_testdata_file("CT_small.dcm")).read_bytes()  # type: ignore[arg-type]
        )
    spec = JobSpec(
        load_profile("basic"),
        Key(b"k" * 32, "file"),
        OutputPlan(tmp_path / "out", Layout.MIRROR, ("in",)),
        True,
    )
    job = spec.build()
    sources = [Source(p, 0, src, p.name) for p in sorted(src.iterdir())]
    before = _modes()
    monkeypatch.setattr(process.warnings, "catch_warnings", counted)
    results = process_files(sources, job)
    assert [r.status.value for r in results] == ["written"] * 3
    assert len(entered) == 1
    assert _modes() == before
    assert process._quiet.inside is False


def test_left_after_an_exception_in_a_batch(tmp_path: Path) -> None:
    before = _modes()
    with pytest.raises(KeyboardInterrupt), _quiet_pydicom(), _quiet_pydicom():
        raise KeyboardInterrupt
    assert _modes() == before
    assert process._quiet.inside is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning):
            warnings.warn("after", UserWarning, stacklevel=1)


def test_another_thread_is_not_inside_this_ones_batch() -> None:
    seen: list[bool] = []
    with _quiet_pydicom():
        thread = threading.Thread(
            target=lambda: seen.append(getattr(process._quiet, "inside", False))
        )
        thread.start()
        thread.join()
        seen.append(process._quiet.inside)
    assert seen == [False, True]
