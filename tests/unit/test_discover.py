"""Input discovery: DICOM recognised by content, sorted order, symbolic links reported."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from corpus import refuse_listing
from dicomscrub.discover import Kind, Source, discover, name_text, sniff
from dicomscrub.process import read_dataset

WriteDicom = Callable[..., Path]


def head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(512)


def by_rel(sources: list[Source]) -> dict[str, Source]:
    return {s.rel: s for s in sources}


# ---- sniff --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("part10", Kind.PART10),
        ("bare-meta", Kind.BARE_META),
        ("raw-implicit", Kind.RAW),
        ("raw-explicit", Kind.RAW),
    ],
)
def test_sniff_recognises_dicom_by_content(
    tmp_path: Path, write_dicom: WriteDicom, ct: Dataset, kind: str, expected: Kind
) -> None:
    path = write_dicom(tmp_path / "no-extension", ct, kind)
    assert sniff(head(path)) is expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"DICM notes\n",
        b"Patient list, not DICOM.\nDOE^JANE;MRN0012345\n",
        b'{"study": "CT CHEST", "files": 3}\n',
        b"\x89PNG\r\n\x1a\n" + b"\0" * 64,
        b"%PDF-1.7\n" + b"x" * 200,
    ],
    ids=["empty", "dicm-word", "text", "json", "png", "pdf"],
)
def test_sniff_rejects_non_dicom(data: bytes) -> None:
    assert sniff(data) is Kind.NOT_DICOM


@pytest.mark.parametrize("kind", ["part10", "bare-meta", "raw-implicit", "raw-explicit"])
def test_every_recognised_kind_reads_to_the_same_data_set(
    tmp_path: Path, write_dicom: WriteDicom, ct: Dataset, kind: str
) -> None:
    path = write_dicom(tmp_path / "file", ct, kind)
    ds, reason = read_dataset(path)
    assert reason == ""
    assert ds is not None
    assert ds.PatientID == ct.PatientID
    assert ds.SOPInstanceUID == ct.SOPInstanceUID
    assert ds[0x00191023].value == "39.375"


def test_reading_non_dicom_text_gives_a_reason_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "README.txt"
    path.write_text("Export notes for the research team.\n", encoding="utf-8")
    ds, reason = read_dataset(path)
    assert ds is None
    assert reason.startswith("not DICOM")


# ---- discover -----------------------------------------------------------------------------------


def test_discover_lists_every_file_in_sorted_order(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for rel in ("b/2.dcm", "a/z/1", "c.txt", "a/0.dcm", "a/z/0", "B.dcm"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")
    sources = discover([root])
    assert [s.rel for s in sources] == ["B.dcm", "a/0.dcm", "a/z/0", "a/z/1", "b/2.dcm", "c.txt"]
    assert all(s.skip_reason is None and s.root == root and s.root_index == 0 for s in sources)
    assert sources[0].path == root / "B.dcm"


def test_discover_keeps_input_order_between_roots(tmp_path: Path) -> None:
    second, first = tmp_path / "a", tmp_path / "b"
    for root in (first, second):
        root.mkdir()
        (root / "x.dcm").write_bytes(b"x")
    single = tmp_path / "single.dcm"
    single.write_bytes(b"x")
    sources = discover([first, second, single])
    assert [(s.root_index, s.root, s.rel) for s in sources] == [
        (0, first, "x.dcm"),
        (1, second, "x.dcm"),
        (2, tmp_path, "single.dcm"),
    ]


def test_symlink_to_a_file_outside_the_tree_is_reported_not_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "in", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.dcm").write_bytes(b"x")
    os.symlink(outside / "secret.dcm", root / "link.dcm")
    (root / "own.dcm").write_bytes(b"x")
    sources = by_rel(discover([root]))
    assert sources["link.dcm"].skip_reason == (
        "symbolic link leads outside the input tree; not followed"
    )
    assert sources["own.dcm"].skip_reason is None
    assert len(sources) == 2


def test_symlink_to_a_folder_outside_the_tree_is_reported_not_followed(tmp_path: Path) -> None:
    root, outside = tmp_path / "in", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.dcm").write_bytes(b"x")
    os.symlink(outside, root / "elsewhere")
    sources = discover([root])
    assert [(s.rel, s.skip_reason) for s in sources] == [
        ("elsewhere", "symbolic link leads outside the input tree; not followed")
    ]


def test_symlink_inside_the_tree_is_followed(tmp_path: Path) -> None:
    root = tmp_path / "in"
    (root / "series").mkdir(parents=True)
    (root / "series" / "1.dcm").write_bytes(b"x")
    os.symlink(Path("series") / "1.dcm", root / "latest.dcm")
    sources = by_rel(discover([root]))
    assert sources["latest.dcm"].skip_reason is None
    assert sources["latest.dcm"].path.read_bytes() == b"x"
    assert sources["series/1.dcm"].skip_reason is None


def test_broken_symlink_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "in"
    root.mkdir()
    os.symlink("missing.dcm", root / "broken.dcm")
    sources = discover([root])
    assert [(s.rel, s.skip_reason) for s in sources] == [("broken.dcm", "broken symbolic link")]


def test_symlink_loop_inside_the_tree_does_not_repeat_files(tmp_path: Path) -> None:
    root = tmp_path / "in"
    (root / "a").mkdir(parents=True)
    (root / "a" / "1.dcm").write_bytes(b"x")
    os.symlink("..", root / "a" / "up")
    sources = discover([root])
    assert [s.rel for s in sources] == ["a/1.dcm", "a/up"]  # the loop reported, not walked
    assert sources[0].skip_reason is None
    assert sources[1].skip_reason is not None and "already walked" in sources[1].skip_reason
    assert not sources[1].unreadable


def test_a_folder_walked_through_a_link_before_it_is_reported_once_walked(tmp_path: Path) -> None:
    root = tmp_path / "in"
    (root / "series").mkdir(parents=True)
    (root / "series" / "1.dcm").write_bytes(b"x")
    os.symlink("series", root / "alias")  # sorted before the folder itself
    sources = discover([root])
    assert [(s.rel, s.skip_reason is None) for s in sources] == [
        ("alias/1.dcm", True),
        ("series", False),
    ]
    assert "already walked through a symbolic link" in str(sources[1].skip_reason)


def test_a_folder_that_cannot_be_listed_is_an_unreadable_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "in"
    (root / "locked").mkdir(parents=True)
    (root / "1.dcm").write_bytes(b"x")
    refuse_listing(monkeypatch, "locked")
    sources = discover([root])
    assert [(s.rel, s.skip_reason, s.unreadable) for s in sources] == [
        ("1.dcm", None, False),
        ("locked", "cannot list folder: Permission denied", True),
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_an_input_that_is_neither_file_nor_folder_is_reported_as_such(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    sources = discover([fifo])
    assert [(s.rel, s.skip_reason) for s in sources] == [("pipe", "not a regular file")]


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("plain é.dcm", "plain é.dcm"),
        ("b\udce9.dcm", "b\\xe9.dcm"),  # the byte 0xE9 of a name that is not UTF-8
        ("two\nlines.dcm", "two\\x0alines.dcm"),
        ("c1\x9bcontrol", "c1\\x9bcontrol"),
        ("line\u2028separator", "line\\u2028separator"),
    ],
)
def test_names_are_shown_on_one_printable_line(name: str, shown: str) -> None:
    assert name_text(name) == shown


def test_the_output_folder_reached_under_another_name_is_not_walked(tmp_path: Path) -> None:
    """``run`` refuses an output inside an input by name; a bind mount can put it there under
    another name, so the walk also knows the output folder by device and inode: it is reported,
    its files (the outputs of earlier runs) are not inputs. The folder beside it is walked."""
    root = tmp_path / "in"
    (root / "mounted" / "out").mkdir(parents=True)
    (root / "mounted" / "out" / "written.dcm").write_bytes(b"x")
    (root / "other").mkdir()
    (root / "other" / "a.dcm").write_bytes(b"x")
    elsewhere = root / "mounted" / "out"  # as if mounted at another path: the same folder
    found = {s.rel: s.skip_reason for s in discover([root], elsewhere)}
    assert found == {
        "mounted/out": "the output folder, reached under another name (a bind mount); not walked",
        "other/a.dcm": None,
    }
    assert {s.rel for s in discover([root])} == {"mounted/out/written.dcm", "other/a.dcm"}
