"""The audit CSV: complete, free of original values, and beside (never inside) the output."""

from __future__ import annotations

import re
from pathlib import Path

from e2e_support import (
    STANDARD_UID_ROOT,
    TEMP_PREFIX,
    Run,
    Tree,
    count_private,
    read_input,
    uid_values,
    walk,
)
from pydicom.dataset import Dataset

from dicomscrub.state import STATE_DIR


def _originals(ds: Dataset) -> set[str]:
    """Patient's Name, Patient ID and every UID (not the standard's) of one input, at any depth."""
    found: set[str] = set()
    for _, elem in walk(ds):
        if elem.keyword in ("PatientName", "PatientID") and elem.value:
            found.add(str(elem.value).strip())
        elif elem.VR == "UI":
            found.update(uid for uid in uid_values(elem) if not uid.startswith(STANDARD_UID_ROOT))
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        for _, elem in walk(meta):
            if elem.VR == "UI":
                found.update(u for u in uid_values(elem) if not u.startswith(STANDARD_UID_ROOT))
    # Values this short ("0", "1", "M") occur in any CSV by chance, and so do short numbers: a
    # bundled file has Patient ID 204, which could as well be a count in the private_removed column.
    return {v for v in found if len(v) >= 3 and not (v.isdigit() and len(v) < 5)}


def _leaks(run: Run, inputs: dict[str, Dataset | None]) -> list[tuple[str, str]]:
    """Original values found in the raw audit text once the input paths are taken out.

    The ``root`` and ``input`` columns name the user's own files, and the mirror layout copies
    those names into ``output``: pydicom names its dicomdirtests/ folders after Patient IDs
    (77654033, 98892001 ...), which the audit has to repeat to say which file a row is about.
    Nothing else may hold an original value."""
    text = run.audit_text
    for row in run.file_rows:
        text = text.replace(row["input"], "")
        text = text.replace(row["root"], "")
    originals: dict[str, str] = {}
    for rel, ds in inputs.items():
        if ds is not None and run.by_input.get(rel, {}).get("status") == "written":
            for value in _originals(ds):
                originals.setdefault(value, rel)
    assert len(originals) > 200
    return sorted(
        (value, rel)
        for value, rel in originals.items()
        if re.search(rf"(?<![A-Za-z0-9.]){re.escape(value)}(?![A-Za-z0-9.])", text)
    )


def test_mirror_audit_holds_no_original_name_id_or_uid(
    corpus_mirror_run: Run, corpus_inputs: dict[str, Dataset | None]
) -> None:
    assert _leaks(corpus_mirror_run, corpus_inputs) == []


def test_hierarchy_audit_holds_no_original_name_id_or_uid(
    corpus_hierarchy_run: Run, corpus_inputs: dict[str, Dataset | None]
) -> None:
    assert _leaks(corpus_hierarchy_run, corpus_inputs) == []


def test_input_paths_are_the_only_place_an_original_patient_id_appears(
    corpus_mirror_run: Run, corpus_inputs: dict[str, Dataset | None]
) -> None:
    """Pins why _leaks takes the input paths out: the raw text holds 77654033, but only there."""
    assert "77654033" in corpus_mirror_run.audit_text
    for line in corpus_mirror_run.audit_text.splitlines():
        if "77654033" in line:
            assert line.count("77654033") == line.count("dicomdirtests/77654033/"), line


def _written_inputs(run: Run, inputs: dict[str, Dataset | None]) -> dict[str, Dataset]:
    out = {}
    for rel in run.written():
        ds = inputs[rel]
        assert ds is not None, rel
        out[rel] = ds
    return out


def test_audit_has_one_private_row_per_private_element_of_each_input_at_any_depth(
    corpus_mirror_run: Run, corpus_inputs: dict[str, Dataset | None]
) -> None:
    counts = {
        rel: (count_private(ds), len(corpus_mirror_run.private_rows(rel)))
        for rel, ds in _written_inputs(corpus_mirror_run, corpus_inputs).items()
    }
    assert {rel: c for rel, c in counts.items() if c[0] != c[1]} == {}


def test_audit_lists_private_elements_inside_a_removed_standard_sequence(
    edge_cases: Tree, edge_cases_run: Run
) -> None:
    rel = "nested_private.dcm"
    ds = read_input(edge_cases.root / rel)
    assert ds is not None
    rows = edge_cases_run.private_rows(rel)
    tags = {r["tag"] for r in rows}
    assert {"(0010,1002)[0]/(0011,0010)", "(0010,1002)[0]/(0011,1001)"} <= tags
    assert len(rows) == count_private(ds)


def test_every_private_row_says_removed_under_basic(corpus_mirror_run: Run) -> None:
    rows = [r for r in corpus_mirror_run.rows if r["record"] == "private"]
    assert rows
    assert {r["decision"] for r in rows} == {"removed"}
    for row in rows:
        assert row["tag"] and row["basis"], row


def test_file_rows_count_the_private_rows(corpus_mirror_run: Run) -> None:
    for row in corpus_mirror_run.file_rows:
        private = corpus_mirror_run.private_rows(row["input"])
        removed = sum(1 for r in private if r["decision"] == "removed")
        if row["status"] == "written":
            assert int(row["private_removed"]) == removed, row["input"]
            assert int(row["private_kept"]) == len(private) - removed, row["input"]
        else:
            assert private == [], row["input"]


def test_a_private_element_in_an_input_that_was_not_written_is_not_audited(
    corpus_mirror_run: Run,
) -> None:
    """nested_priv_SQ.dcm holds private sequences but is rejected: no private rows for it."""
    assert corpus_mirror_run.by_input["nested_priv_SQ.dcm"]["status"] == "rejected"
    assert corpus_mirror_run.private_rows("nested_priv_SQ.dcm") == []


def _files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and STATE_DIR not in p.relative_to(root).parts
    }


def test_no_temporary_files_are_left_in_any_output_tree(all_runs: list[Run]) -> None:
    for run in all_runs:
        leftovers = [p for p in run.out.rglob("*") if p.name.startswith(TEMP_PREFIX)]
        assert leftovers == [], run.args
        assert not run.audit_path.with_name(run.audit_path.name + ".partial").exists()


def test_output_tree_holds_exactly_the_written_files(all_runs: list[Run]) -> None:
    for run in all_runs:
        written = {r["output"] for r in run.file_rows if r["status"] == "written"}
        assert _files(run.out) == written, run.args


def test_audit_defaults_to_a_file_beside_the_output_folder(
    corpus_hierarchy_run: Run, synthetic_run: Run, examples_run: Run
) -> None:
    for run in (corpus_hierarchy_run, synthetic_run, examples_run):
        assert "--audit" not in run.args
        beside = run.out.parent / f"{run.out.name}.audit.csv"
        assert run.audit_path == beside and beside.is_file()
        assert run.audit_text.startswith("record,root,input,output,status,")
        assert not any(p.suffix == ".csv" for p in run.out.rglob("*"))


def test_audit_given_with_option_is_written_there_and_not_in_the_output(
    corpus_mirror_run: Run,
) -> None:
    assert "--audit" in corpus_mirror_run.args
    assert corpus_mirror_run.audit_path.is_file()
    assert corpus_mirror_run.out not in corpus_mirror_run.audit_path.parents
    assert not (corpus_mirror_run.out.parent / "out.audit.csv").exists()
