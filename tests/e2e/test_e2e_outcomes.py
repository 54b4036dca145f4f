"""What happens to each of pydicom's bundled test files: written, skipped or rejected, never
lost."""

from __future__ import annotations

from collections import Counter
from pathlib import PurePosixPath

from e2e_support import Run, Tree, read_input, read_output
from pydicom.dataset import Dataset
from pydicom.uid import UID

from dicomscrub.runner import COLLISION_IN_RUN

# Files that are not DICOM at all, by name.
NON_DICOM_SUFFIXES = (".txt", ".json", ".dump", ".icc", ".gz")
NON_DICOM_NAMES = frozenset({"README"})
# pydicom's no_meta.dcm is CT_small.dcm without its first 335 bytes, i.e. it starts with the last
# byte of CT_small's file meta (a 0x20 padding byte): no parser can find a data set in it (pydicom
# with force=True reads one bogus element (0820,0500)). dicomscrub skips it as not DICOM.
UNPARSEABLE = frozenset({"no_meta.dcm"})
TRUNCATED = frozenset({"MR_truncated.dcm", "rtplan_truncated.dcm"})
"""Bundled files cut short: pydicom reads them with force, dicomscrub rejects them."""
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"


def _name(rel: str) -> str:
    return PurePosixPath(rel).name


def _is_non_dicom(rel: str) -> bool:
    name = _name(rel)
    return name in NON_DICOM_NAMES or name.endswith(NON_DICOM_SUFFIXES)


def _is_dicomdir(rel: str) -> bool:
    return _name(rel).startswith("DICOMDIR")


def _is_directory(ds: Dataset) -> bool:
    """A DICOMDIR by content: Media Storage Directory Storage, or directory records."""
    meta = getattr(ds, "file_meta", None)
    media_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    return media_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds


def _sop_class(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    return str(
        ds.get("SOPClassUID", "") or (meta.get("MediaStorageSOPClassUID", "") if meta else "")
    )


def _image_without_pixels(ds: Dataset) -> bool:
    """An image object (an "Image Storage" class, or Rows, Columns and Bits Allocated) that holds
    no pixel data: indistinguishable from a file cut short, so dicomscrub does not write it."""
    if any(tag in ds for tag in (0x7FE00008, 0x7FE00009, 0x7FE00010, 0x00287FE0)):
        return False
    if UID(_sop_class(ds)).name.endswith("Image Storage"):
        return True
    return all(tag in ds for tag in (0x00280010, 0x00280011, 0x00280100))


def _composite(corpus_inputs: dict[str, Dataset | None]) -> dict[str, Dataset]:
    """Inputs pydicom reads as composite instances: a SOP Class UID in the data set or, failing
    that, a Media Storage SOP Class UID in the file meta."""
    return {
        rel: ds
        for rel, ds in corpus_inputs.items()
        if ds is not None
        and not _is_directory(ds)
        and not _is_non_dicom(rel)
        and _sop_class(ds)
        and rel not in TRUNCATED
        and not _image_without_pixels(ds)
    }


def test_every_input_file_has_exactly_one_file_row_in_the_audit(
    corpus: Tree, corpus_mirror_run: Run
) -> None:
    counts = Counter(r["input"] for r in corpus_mirror_run.file_rows)
    assert sorted(counts) == sorted(corpus.hashes_before)
    assert {rel: n for rel, n in counts.items() if n != 1} == {}


def test_every_composite_instance_is_written_and_reads_back_without_force(
    corpus_inputs: dict[str, Dataset | None],
    corpus_mirror_run: Run,
    corpus_outputs: dict[str, Dataset | None],
) -> None:
    composite = _composite(corpus_inputs)
    assert len(composite) > 90  # the bundled corpus: about 100 complete images, plans, reports
    rows = corpus_mirror_run.by_input
    not_written = {
        rel: rows[rel]["status"] for rel in composite if rows[rel]["status"] != "written"
    }
    assert not_written == {}
    for rel in composite:
        assert rows[rel]["output"] == rel  # mirror layout: one output path per input
        assert (corpus_mirror_run.out / rel).is_file()
    unreadable = sorted(rel for rel in composite if corpus_outputs.get(rel) is None)
    assert unreadable == []


def test_data_set_sop_class_uid_files_are_all_written(
    corpus_inputs: dict[str, Dataset | None], corpus_mirror_run: Run
) -> None:
    """The narrow reading of the rule: every input with (0008,0016) in the data set is written."""
    rows = corpus_mirror_run.by_input
    with_class = [
        rel
        for rel, ds in corpus_inputs.items()
        if ds is not None
        and ds.get("SOPClassUID")
        and rel not in TRUNCATED
        and not _image_without_pixels(ds)
    ]
    assert with_class
    assert [rel for rel in with_class if rows[rel]["status"] != "written"] == []


def test_files_without_a_sop_class_uid_are_rejected_with_a_reason(
    corpus_inputs: dict[str, Dataset | None], corpus_mirror_run: Run
) -> None:
    expected = sorted(
        rel
        for rel, ds in corpus_inputs.items()
        if ds is not None
        and len(ds) > 0
        and not _is_directory(ds)
        and not _is_non_dicom(rel)
        and rel not in UNPARSEABLE
        and rel not in TRUNCATED
        and not _sop_class(ds)
    )
    assert expected  # empty_charset_LEI.dcm, meta_missing_tsyntax.dcm, nested_priv_SQ.dcm
    rejected = [
        r
        for r in corpus_mirror_run.file_rows
        if r["status"] == "rejected"
        and r["input"] not in TRUNCATED
        and not r["detail"].startswith("incomplete image: ")
    ]
    assert sorted(r["input"] for r in rejected) == expected
    for row in rejected:
        assert "SOP Class UID" in row["detail"], row
        assert row["output"] == ""
        assert not (corpus_mirror_run.out / row["input"]).exists()


def test_images_without_pixel_data_are_rejected_as_incomplete_and_not_written(
    corpus_inputs: dict[str, Dataset | None], corpus_mirror_run: Run
) -> None:
    rows = corpus_mirror_run.by_input
    incomplete = [
        rel
        for rel, ds in corpus_inputs.items()
        if ds is not None
        and not _is_directory(ds)
        and not _is_non_dicom(rel)
        and _sop_class(ds)
        and rel not in TRUNCATED
        and _image_without_pixels(ds)
    ]
    assert len(incomplete) > 30  # dicomdirtests/TINY_ALPHA holds header-only images
    for rel in incomplete:
        assert rows[rel]["status"] == "rejected", rows[rel]
        assert rows[rel]["detail"].startswith("incomplete image: "), rows[rel]
        assert not (corpus_mirror_run.out / rel).exists()


def test_truncated_files_are_rejected_as_unreadable_and_not_written(
    corpus_mirror_run: Run,
) -> None:
    rows = corpus_mirror_run.by_input
    for rel in TRUNCATED:
        assert rows[rel]["status"] == "rejected", rows[rel]
        assert rows[rel]["detail"].startswith("damaged input: "), rows[rel]
        assert "truncated" in rows[rel]["detail"], rows[rel]
        assert rows[rel]["output"] == ""
        assert not (corpus_mirror_run.out / rel).exists()


def test_non_dicom_files_and_dicomdirs_are_skipped_with_a_reason(
    corpus: Tree, corpus_mirror_run: Run, corpus_inputs: dict[str, Dataset | None]
) -> None:
    rows = corpus_mirror_run.by_input
    non_dicom = [rel for rel in corpus.hashes_before if _is_non_dicom(rel)]
    dicomdirs = [rel for rel, ds in corpus_inputs.items() if ds is not None and _is_directory(ds)]
    assert len(non_dicom) >= 8
    assert sorted(dicomdirs) == sorted(rel for rel in corpus.hashes_before if _is_dicomdir(rel))
    assert len(dicomdirs) >= 8
    for rel in [*non_dicom, *UNPARSEABLE]:
        assert rows[rel]["status"] == "skipped", rows[rel]
        assert "not DICOM" in rows[rel]["detail"], rows[rel]
    for rel in dicomdirs:
        assert rows[rel]["status"] == "skipped", rows[rel]
        assert "DICOMDIR" in rows[rel]["detail"], rows[rel]
    skipped = {r["input"] for r in corpus_mirror_run.file_rows if r["status"] == "skipped"}
    assert skipped == {*non_dicom, *dicomdirs, *UNPARSEABLE}
    for rel in skipped:
        assert not (corpus_mirror_run.out / rel).exists()


def test_no_meta_dcm_is_not_readable_as_a_data_set(corpus: Tree) -> None:
    """Pins the surprise behind UNPARSEABLE: the bundled no_meta.dcm starts with a stray byte."""
    data = (corpus.root / "no_meta.dcm").read_bytes()
    assert data[:1] == b" " and data[1:5] == b"\x08\x00\x05\x00"
    ds = read_input(corpus.root / "no_meta.dcm")
    assert ds is None or "SOPClassUID" not in ds


def test_exit_code_is_1_only_because_of_the_rejected_files(corpus_mirror_run: Run) -> None:
    statuses = Counter(r["status"] for r in corpus_mirror_run.file_rows)
    assert corpus_mirror_run.exit_code == 1, corpus_mirror_run.output_text
    assert statuses["failed"] == 0
    assert statuses["rejected"] > 0
    assert set(statuses) <= {"written", "skipped", "rejected"}


def test_hierarchy_run_writes_the_same_instances_without_ever_overwriting(
    corpus_mirror_run: Run, corpus_hierarchy_run: Run, corpus_inputs: dict[str, Dataset | None]
) -> None:
    """Many bundled files are the same instance in another encoding (MR_small*.dcm share one SOP
    Instance UID, so do rtdose*.dcm, SC_rgb_rle*.dcm ...). Under the hierarchy layout they map to
    one output path: the first is written, each later one is refused (failed, or skipped when its
    output would be byte-identical), and no file is overwritten."""
    hier = corpus_hierarchy_run.by_input
    mirror = corpus_mirror_run.by_input
    assert set(hier) == set(mirror)
    written_at = {
        r["output"]: r["input"] for r in corpus_hierarchy_run.file_rows if r["status"] == "written"
    }
    assert len(written_at) == sum(
        1 for r in corpus_hierarchy_run.file_rows if r["status"] == "written"
    )
    for rel, row in hier.items():
        if mirror[rel]["status"] != "written":
            assert row["status"] == mirror[rel]["status"], rel
            continue
        if row["status"] == "written":
            continue
        assert row["status"] in ("failed", "skipped"), row
        assert row["detail"] in (COLLISION_IN_RUN, "identical output already present"), row
        first = written_at[row["output"]]  # the input that was written to that path
        this, other = corpus_inputs[rel], corpus_inputs[first]
        assert this is not None and other is not None
        assert str(this.get("SOPInstanceUID", "")) == str(other.get("SOPInstanceUID", "")), (
            rel,
            first,
        )
    assert corpus_hierarchy_run.exit_code == 1


def test_hierarchy_paths_are_built_from_the_new_values(corpus_hierarchy_run: Run) -> None:
    checked = 0
    for rel, path in corpus_hierarchy_run.written().items():
        ds = read_output(path)
        parts = path.relative_to(corpus_hierarchy_run.out).parts
        assert len(parts) == 4, rel
        if "SOPInstanceUID" in ds and "StudyInstanceUID" in ds and "SeriesInstanceUID" in ds:
            assert parts[1:] == (
                ds.StudyInstanceUID,
                ds.SeriesInstanceUID,
                f"{ds.SOPInstanceUID}.dcm",
            ), rel
            checked += 1
    assert checked > 60
