"""Crosswalk files (``original,deidentified,kind``): reading an imported subject table with located
errors that never quote a value, writing and merging a crosswalk (mode 0600, atomic), and the
checks ``plan_run`` makes before any file is touched."""

from __future__ import annotations

import csv
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from dicomscrub.crosswalk import COLUMNS, CrosswalkError, read_subjects, write_crosswalk
from dicomscrub.pseudonym import Key
from dicomscrub.runner import RunError, RunPlan, plan_run

MRN_A, MRN_B = "4711007", "2345678"
HEADER = "original,deidentified,kind\n"


def write(tmp_path: Path, text: str, name: str = "subjects.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def located_error(path: Path) -> CrosswalkError:
    with pytest.raises(CrosswalkError) as info:
        read_subjects(path)
    return info.value


# ---- read_subjects: what is accepted ------------------------------------------------------------


def test_read_subjects_maps_patient_ids_to_subject_ids(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}{MRN_A},SUBJ-001,PatientID\n{MRN_B},SUBJ-002,PatientID\n")
    assert read_subjects(path) == {MRN_A: "SUBJ-001", MRN_B: "SUBJ-002"}


def test_read_subjects_accepts_an_empty_kind_and_no_kind_column(tmp_path: Path) -> None:
    assert read_subjects(write(tmp_path, f"{HEADER}{MRN_A},SUBJ-001,\n")) == {MRN_A: "SUBJ-001"}
    no_kind = write(tmp_path, f"original,deidentified\n{MRN_A},SUBJ-001\n", "two.csv")
    assert read_subjects(no_kind) == {MRN_A: "SUBJ-001"}


def test_read_subjects_skips_rows_of_other_kinds(tmp_path: Path) -> None:
    """A --mapping-out file (with UID rows) serves as --mapping-in."""
    text = (
        f"{HEADER}{MRN_A},ANON-AAAAAAAAAAAAAAAA,PatientID\n"
        "1.2.3.4,2.25.1234,StudyInstanceUID\n1.2.3.5,2.25.1234,SOPInstanceUID\n"
    )
    assert read_subjects(write(tmp_path, text)) == {MRN_A: "ANON-AAAAAAAAAAAAAAAA"}


def test_read_subjects_accepts_bom_crlf_header_case_column_order_and_blank_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "excel.csv"
    text = f" Kind , DeIdentified ,ORIGINAL\r\n\r\nPatientID,SUBJ-001,{MRN_A}\r\n,,\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert read_subjects(path) == {MRN_A: "SUBJ-001"}


def test_read_subjects_trims_ids_and_pseudonyms(tmp_path: Path) -> None:
    path = write(tmp_path, f'{HEADER}"  {MRN_A}  "," SUBJ-001 ",PatientID\n')
    assert read_subjects(path) == {MRN_A: "SUBJ-001"}


def test_read_subjects_of_a_header_only_file_is_empty(tmp_path: Path) -> None:
    assert read_subjects(write(tmp_path, HEADER)) == {}


# ---- read_subjects: located errors without values -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("", 1, "empty file"),
        ("original,kind\n4711007,PatientID\n", 1, "original and deidentified"),
        ("patient,subject\n4711007,SUBJ-001\n", 1, "original and deidentified"),
        (f"{HEADER}4711007,SUBJ-001,PatientID\n2345678,SUBJ-002\n", 3, "expected 3 columns"),
        (f"{HEADER}4711007,SUBJ-001,PatientID,extra\n", 2, "found 4"),
        (f"{HEADER}4711007,SUBJ-001,PatientID\n4711007,SUBJ-009,PatientID\n", 3, "line 2"),
        (f"{HEADER}4711007,SUBJ-001,PatientID\n 4711007 ,SUBJ-009,\n", 3, "already mapped"),
        (f"{HEADER}4711007,SUBJ-001,PatientID\n2345678,SUBJ-001,PatientID\n", 3, "another"),
        (f"{HEADER}  ,SUBJ-001,PatientID\n", 2, "empty original"),
        (f"{HEADER}4711007,,PatientID\n", 2, "1 to 64"),
        (f"{HEADER}4711007,SUBJ\\001,PatientID\n", 2, "'\\'"),
        (f"{HEADER}4711007,{'S' * 65},PatientID\n", 2, "1 to 64"),
        (f"{HEADER}4711007,SUBJ\x07001,PatientID\n", 2, "printable"),
    ],
    ids=[
        "empty",
        "missing-deidentified",
        "no-known-columns",
        "too-few-columns",
        "too-many-columns",
        "duplicate-original",
        "duplicate-after-trimming",
        "pseudonym-twice",
        "empty-original",
        "empty-pseudonym",
        "backslash",
        "too-long",
        "control-character",
    ],
)
def test_malformed_crosswalk_names_file_and_line_but_no_value(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = write(tmp_path, text)
    message = str(located_error(path))
    assert message.startswith(f"{path}:{line}:"), message
    assert words in message
    for value in (MRN_A, MRN_B, "SUBJ-001", "SUBJ-002", "SUBJ-009", "SUBJ\\001", "S" * 65):
        assert value not in message, value


def test_a_missing_crosswalk_is_an_error(tmp_path: Path) -> None:
    message = str(located_error(tmp_path / "nope.csv"))
    assert "nope.csv" in message
    assert "cannot read" in message


def test_a_crosswalk_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(HEADER.encode() + "4711007,SÜBJ-001,PatientID\n".encode("latin-1"))
    assert "not UTF-8" in str(located_error(path))


def test_an_oversized_cell_is_a_located_error(tmp_path: Path) -> None:
    path = write(tmp_path, f"{HEADER}{'9' * 200_000},SUBJ-001,PatientID\n")
    message = str(located_error(path))
    assert message.startswith(f"{path}:2:")


# ---- write_crosswalk ----------------------------------------------------------------------------


ROWS = [
    (MRN_B, "ANON-BBBBBBBBBBBBBBBB", "PatientID"),
    ("1.2.3.9", "2.25.9", "StudyInstanceUID"),
    (MRN_A, "ANON-AAAAAAAAAAAAAAAA", "PatientID"),
    ("1.2.3.1", "2.25.1", "SOPInstanceUID"),
]


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_write_crosswalk_has_the_header_sorted_rows_and_owner_only_mode(tmp_path: Path) -> None:
    path = tmp_path / "crosswalk.csv"
    assert write_crosswalk(path, ROWS) == len(ROWS)
    rows = read_rows(path)
    assert rows[0] == list(COLUMNS) == ["original", "deidentified", "kind"]
    assert rows[1:] == [list(r) for r in sorted(ROWS, key=lambda r: (r[2], r[0], r[1]))]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crosswalk.csv"]  # no temporary left


def test_write_crosswalk_merges_with_the_rows_of_earlier_runs(tmp_path: Path) -> None:
    path = tmp_path / "crosswalk.csv"
    write_crosswalk(path, ROWS[:2])
    assert write_crosswalk(path, ROWS[1:]) == len(ROWS)  # one row in common, written once
    assert sorted(tuple(r) for r in read_rows(path)[1:]) == sorted(ROWS)


def test_write_crosswalk_tightens_the_mode_of_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "crosswalk.csv"
    path.write_text(HEADER, encoding="utf-8")
    path.chmod(0o644)
    write_crosswalk(path, ROWS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_crosswalk_creates_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "secure" / "crosswalks" / "project.csv"
    write_crosswalk(path, ROWS)
    assert len(read_rows(path)) == len(ROWS) + 1


def test_written_crosswalk_reads_back_as_subjects(tmp_path: Path) -> None:
    path = tmp_path / "crosswalk.csv"
    write_crosswalk(path, ROWS)
    assert read_subjects(path) == {MRN_A: "ANON-AAAAAAAAAAAAAAAA", MRN_B: "ANON-BBBBBBBBBBBBBBBB"}


def test_values_with_commas_and_quotes_survive_a_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "crosswalk.csv"
    write_crosswalk(path, [('MRN,"7"', "SUBJ-001", "PatientID")])
    assert read_subjects(path) == {'MRN,"7"': "SUBJ-001"}


def test_merge_keeps_earlier_rows_of_a_crosswalk_saved_with_a_byte_order_mark(
    tmp_path: Path,
) -> None:
    path = tmp_path / "crosswalk.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}{MRN_A},SUBJ-001,PatientID\r\n".encode())
    write_crosswalk(path, [ROWS[0]])
    assert (MRN_A, "SUBJ-001", "PatientID") in {tuple(r) for r in read_rows(path)[1:]}


# ---- plan_run: checked before any file is touched -----------------------------------------------


@pytest.fixture
def tree(tmp_path: Path, write_dicom: Callable[..., Path], make_ct: Callable[..., Dataset]) -> Path:
    root = tmp_path / "in"
    write_dicom(root / "ct.dcm", make_ct(patient_id=MRN_A))
    return root


def plan(
    tree: Path,
    out: Path,
    key: Key,
    *,
    options: tuple[str, ...] = ("patient-pseudonyms",),
    mapping_out: Path | None = None,
    mapping_in: Path | None = None,
) -> RunPlan:
    return plan_run(
        [tree], out, key=key, options=options, mapping_out=mapping_out, mapping_in=mapping_in
    )


def test_plan_refuses_a_crosswalk_inside_the_output_folder(
    tmp_path: Path, tree: Path, key: Key
) -> None:
    out = tmp_path / "out"
    for inside in (out / "crosswalk.csv", out / "deep" / "crosswalk.csv"):
        with pytest.raises(RunError, match="must not be inside the output folder"):
            plan(tree, out, key, mapping_out=inside)
    assert not out.exists()


def test_plan_refuses_a_crosswalk_that_is_a_folder(tmp_path: Path, tree: Path, key: Key) -> None:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(RunError, match="is a folder"):
        plan(tree, tmp_path / "out", key, mapping_out=folder)


def test_plan_accepts_a_crosswalk_beside_the_output(tmp_path: Path, tree: Path, key: Key) -> None:
    result = plan(tree, tmp_path / "out", key, mapping_out=tmp_path / "crosswalk.csv")
    assert result.mapping_out == (tmp_path / "crosswalk.csv").resolve()
    assert not (tmp_path / "crosswalk.csv").exists()  # written at the end of the run only


def test_plan_without_mapping_out_writes_no_crosswalk(tmp_path: Path, tree: Path, key: Key) -> None:
    assert plan(tree, tmp_path / "out", key).mapping_out is None


def test_plan_reads_the_imported_subjects(tmp_path: Path, tree: Path, key: Key) -> None:
    subjects = write(tmp_path, f"{HEADER}{MRN_A},SUBJ-001,PatientID\n")
    result = plan(tree, tmp_path / "out", key, mapping_in=subjects)
    assert result.subjects == {MRN_A: "SUBJ-001"}


def test_plan_refuses_mapping_in_without_a_patient_id_pseudonym_rule(
    tmp_path: Path, tree: Path, key: Key
) -> None:
    subjects = write(tmp_path, f"{HEADER}{MRN_A},SUBJ-001,PatientID\n")
    with pytest.raises(RunError, match="pseudonym"):
        plan(tree, tmp_path / "out", key, mapping_in=subjects, options=())


def test_plan_turns_a_malformed_crosswalk_into_a_located_run_error(
    tmp_path: Path, tree: Path, key: Key
) -> None:
    subjects = write(tmp_path, f"{HEADER}{MRN_A},SUBJ-001,PatientID\n{MRN_A},SUBJ-002,\n")
    with pytest.raises(RunError) as info:
        plan(tree, tmp_path / "out", key, mapping_in=subjects)
    assert str(info.value).startswith(f"{subjects}:3:")
    assert MRN_A not in str(info.value)
