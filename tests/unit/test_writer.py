"""Atomic no-clobber writes and output paths."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from dicomscrub import writer
from dicomscrub.discover import Source
from dicomscrub.pseudonym import Key, Pseudonymizer
from dicomscrub.writer import (
    TEMP_PREFIX,
    Collision,
    FileRange,
    Layout,
    OutputPlan,
    mirror_labels,
    write_atomic,
)


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]


def source(root: Path, rel: str, index: int = 0) -> Source:
    return Source(root / rel, index, root, rel)


# ---- write_atomic -------------------------------------------------------------------------------


def test_write_atomic_creates_folders_and_writes_bytes(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.dcm"
    write_atomic(target, b"DICM data")
    assert target.read_bytes() == b"DICM data"
    assert leftovers(target.parent) == []


def test_write_atomic_accepts_a_memoryview(tmp_path: Path) -> None:
    target = tmp_path / "file.dcm"
    write_atomic(target, memoryview(b"view"))
    assert target.read_bytes() == b"view"


def test_write_atomic_refuses_to_overwrite_a_different_file(tmp_path: Path) -> None:
    target = tmp_path / "file.dcm"
    target.write_bytes(b"first")
    with pytest.raises(Collision) as info:
        write_atomic(target, b"second")
    assert info.value.identical is False
    assert target.read_bytes() == b"first"
    assert leftovers(tmp_path) == []


def test_write_atomic_reports_an_identical_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "file.dcm"
    target.write_bytes(b"same")
    with pytest.raises(Collision) as info:
        write_atomic(target, b"same")
    assert info.value.identical is True
    assert target.read_bytes() == b"same"
    assert leftovers(tmp_path) == []


# ---- output paths -------------------------------------------------------------------------------


def test_hierarchy_path_uses_the_data_set_s_new_values(tmp_path: Path, key: Key) -> None:
    ds = Dataset()
    ds.PatientID = "SUBJ01"
    ds.StudyInstanceUID = "2.25.1"
    ds.SeriesInstanceUID = "2.25.2"
    ds.SOPInstanceUID = "2.25.3"
    plan = OutputPlan(tmp_path / "out", Layout.HIERARCHY, ("in",))
    rel = plan.relative_path(ds, source(tmp_path / "in", "DOE_JANE/IM0001"), Pseudonymizer(key))
    assert rel == "SUBJ01/2.25.1/2.25.2/2.25.3.dcm"


@pytest.mark.parametrize(
    ("patient_id", "component"),
    [
        ("DOE^JANE/../x", "DOE_JANE_.._x"),
        ("..", "NO_PATIENT_ID"),
        (" MRN 001 ", "MRN_001"),
        ("a\\b:c*d", "a_b_c_d"),
        ("", "NO_PATIENT_ID"),
    ],
)
def test_hierarchy_path_sanitises_each_component(
    tmp_path: Path, key: Key, patient_id: str, component: str
) -> None:
    ds = Dataset()
    ds.PatientID = patient_id
    ds.StudyInstanceUID = "2.25.1"
    ds.SeriesInstanceUID = "2.25.2"
    ds.SOPInstanceUID = "2.25.3"
    plan = OutputPlan(tmp_path / "out", Layout.HIERARCHY, ("in",))
    rel = plan.relative_path(ds, source(tmp_path, "f"), Pseudonymizer(key))
    assert rel.split("/") == [component, "2.25.1", "2.25.2", "2.25.3.dcm"]


def test_hierarchy_path_without_uids_uses_placeholders_and_a_keyed_file_name(
    tmp_path: Path, key: Key
) -> None:
    plan = OutputPlan(tmp_path / "out", Layout.HIERARCHY, ("in",))
    pseudo = Pseudonymizer(key)
    first = plan.relative_path(Dataset(), source(tmp_path, "a/1"), pseudo)
    second = plan.relative_path(Dataset(), source(tmp_path, "a/2"), pseudo)
    assert first.startswith("NO_PATIENT_ID/NO_STUDY_UID/NO_SERIES_UID/2.25.")
    assert first.endswith(".dcm")
    assert first != second
    assert first == plan.relative_path(Dataset(), source(tmp_path, "a/1"), pseudo)


def test_mirror_path_with_one_root_is_the_input_path(tmp_path: Path, key: Key) -> None:
    plan = OutputPlan(tmp_path / "out", Layout.MIRROR, mirror_labels([tmp_path / "in"]))
    rel = plan.relative_path(Dataset(), source(tmp_path / "in", "s1/IM1"), Pseudonymizer(key))
    assert rel == "s1/IM1"


def test_mirror_labels_are_distinct_for_roots_with_the_same_name(tmp_path: Path) -> None:
    roots = [tmp_path / "site1" / "export", tmp_path / "site2" / "export", tmp_path / "other"]
    assert mirror_labels(roots) == ("export", "export-2", "other")


def test_mirror_path_with_several_roots_goes_under_each_root_s_label(
    tmp_path: Path, key: Key
) -> None:
    roots = [tmp_path / "site1" / "export", tmp_path / "site2" / "export"]
    plan = OutputPlan(tmp_path / "out", Layout.MIRROR, mirror_labels(roots))
    pseudo = Pseudonymizer(key)
    first = plan.relative_path(Dataset(), source(roots[0], "IM1", 0), pseudo)
    second = plan.relative_path(Dataset(), source(roots[1], "IM1", 1), pseudo)
    assert (first, second) == ("export/IM1", "export-2/IM1")


def test_mirror_path_of_a_file_input_is_its_name_at_the_top(tmp_path: Path, key: Key) -> None:
    """A file given as an input beside a folder: OUTPUT/<its name> (it was put into a folder of
    its own name, OUTPUT/IM9.dcm/IM9.dcm)."""
    (tmp_path / "export").mkdir()
    (tmp_path / "single").mkdir()
    (tmp_path / "single" / "IM9.dcm").write_bytes(b"")
    roots = [tmp_path / "export", tmp_path / "single" / "IM9.dcm"]
    assert mirror_labels(roots) == ("export", "")
    plan = OutputPlan(tmp_path / "out", Layout.MIRROR, mirror_labels(roots))
    pseudo = Pseudonymizer(key)
    found = plan.relative_path(Dataset(), source(roots[1].parent, "IM9.dcm", 1), pseudo)
    assert found == "IM9.dcm"


def test_file_inputs_of_one_name_go_into_folders_named_after_their_own(tmp_path: Path) -> None:
    """Two files named alike (or a file named as a folder input's label) would write one path:
    the second went to the top as well, and was failed as a collision of one instance in two
    files. It goes into a folder named after its own folder instead, as folders of one name do."""
    for folder in ("a", "c", "x"):
        (tmp_path / folder).mkdir()
    for name in ("a/single.dcm", "c/single.dcm", "x/IM1", "x/export"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "export").mkdir()
    roots = [tmp_path / "a" / "single.dcm", tmp_path / "c" / "single.dcm", tmp_path / "export"]
    roots += [tmp_path / "x" / "export", tmp_path / "x" / "IM1"]
    assert mirror_labels(roots) == ("", "c", "export", "x", "")


# ---- copying a range of the input ---------------------------------------------------------------


def _refuse(number: int) -> object:
    def refused(*args: object) -> int:
        raise OSError(number, "refused")

    return refused


@pytest.mark.parametrize("refused", [(), ("copy_file_range",), ("copy_file_range", "sendfile")])
def test_a_range_is_copied_whichever_way_the_kernel_allows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: tuple[str, ...]
) -> None:
    # copy_file_range refuses across file systems (EXDEV), where sendfile copies; the last way
    # is a buffer (here 3 chunks long, and shared by the files one after the other)
    used: list[str] = []
    for name in ("copy_file_range", "sendfile", "preadv"):
        call = _refuse(errno.EXDEV if name == "copy_file_range" else 22)
        if name not in refused:
            call = _counted(getattr(os, name), name, used)
        monkeypatch.setattr(os, name, call)
    monkeypatch.setattr(writer, "_CHUNK", 1000)
    data = bytes(range(256)) * 12
    (tmp_path / "in").write_bytes(data)
    with open(tmp_path / "in", "rb") as src:
        for name, offset, count in (("a", 7, 2500), ("b", 0, len(data)), ("c", 3000, 72)):
            write_atomic(tmp_path / name, [b"head", FileRange(src.fileno(), offset, count)])
            assert (tmp_path / name).read_bytes() == b"head" + data[offset : offset + count]
    expected = ("copy_file_range", "sendfile", "preadv")[len(refused)]
    assert set(used) == {expected}


def _counted(call: Any, name: str, used: list[str]) -> Any:
    def counted(*args: object) -> Any:
        used.append(name)
        return call(*args)

    return counted


@pytest.mark.parametrize("refused", [(), ("copy_file_range",), ("copy_file_range", "sendfile")])
def test_an_input_that_got_shorter_is_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: tuple[str, ...]
) -> None:
    for name in refused:
        monkeypatch.setattr(os, name, _refuse(errno.EXDEV if name == "copy_file_range" else 22))
    (tmp_path / "in").write_bytes(b"x" * 100)
    with open(tmp_path / "in", "rb") as src, pytest.raises(writer.InputChanged):
        write_atomic(tmp_path / "out", [b"head", FileRange(src.fileno(), 50, 80)])
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_an_error_other_than_a_refusal_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "copy_file_range", _refuse(errno.EIO))
    (tmp_path / "in").write_bytes(b"x" * 100)
    with open(tmp_path / "in", "rb") as src, pytest.raises(OSError) as caught:
        write_atomic(tmp_path / "out", [FileRange(src.fileno(), 0, 100)])
    assert caught.value.errno == errno.EIO and not (tmp_path / "out").exists()


def test_a_sendfile_that_writes_to_sockets_only_leaves_the_copy_to_the_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (macOS and the BSDs: sendfile answers ENOTSOCK for a file; there is no copy_file_range)
    monkeypatch.delattr(os, "copy_file_range")
    monkeypatch.setattr(os, "sendfile", _refuse(errno.ENOTSOCK))
    monkeypatch.setattr(writer, "_IN_KERNEL", ("copy_file_range", "sendfile"))
    data = bytes(range(256)) * 5
    (tmp_path / "in").write_bytes(data)
    with open(tmp_path / "in", "rb") as src:
        write_atomic(tmp_path / "out", [b"head", FileRange(src.fileno(), 10, 1000)])
    assert (tmp_path / "out").read_bytes() == b"head" + data[10:1010]
