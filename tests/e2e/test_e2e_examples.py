"""The repository's sample export (examples/incoming), used read-only."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from e2e_support import EXAMPLES_INCOMING, Keys, Run, read_output, run_cli

FICTIONAL = ("DOE", "JANE", "MUSTERMANN", "ERIKA", "ROSSI", "MARIO", "MRN0012345")
PREAMBLE_INPUT = "DOE_JANE_MRN0012345/2024-03-05_CT_CHEST/SE002_MR_SURVEY/IM0001.dcm"
CT = "DOE_JANE_MRN0012345/2024-03-05_CT_CHEST/SE001_CT_CHEST_AXIAL"


def test_examples_run_writes_10_skips_2_and_exits_0(examples_run: Run) -> None:
    statuses = Counter(r["status"] for r in examples_run.file_rows)
    assert statuses == {"written": 10, "skipped": 2}, statuses
    assert examples_run.exit_code == 0, examples_run.output_text
    skipped = {r["input"] for r in examples_run.file_rows if r["status"] == "skipped"}
    assert skipped == {"README.txt", "notes.json"}


def test_fictional_identities_appear_in_no_output_file(examples_run: Run) -> None:
    written = examples_run.written()
    assert len(written) == 10
    for rel, path in written.items():
        data = path.read_bytes().upper()
        found = [name for name in FICTIONAL if name.encode("ascii") in data]
        assert found == [], rel


def test_fictional_identities_appear_in_no_output_path(examples_run: Run) -> None:
    paths = [
        p.relative_to(examples_run.out).as_posix().upper() for p in examples_run.out.rglob("*")
    ]
    assert len(paths) >= 10
    assert [(p, n) for p in paths for n in FICTIONAL if n in p] == []


def test_the_inputs_do_hold_the_fictional_identities(examples_run: Run) -> None:
    """Guards the two tests above against passing on inputs that never held the names."""
    text = b"".join(p.read_bytes().upper() for p in EXAMPLES_INCOMING.rglob("*") if p.is_file())
    assert all(name.encode("ascii") in text for name in FICTIONAL)


def test_preamble_that_held_doe_jane_is_zeroed(examples_run: Run) -> None:
    assert b"DOE^JANE" in (EXAMPLES_INCOMING / PREAMBLE_INPUT).read_bytes()[:128]
    out = examples_run.written()[PREAMBLE_INPUT]
    assert out.read_bytes()[:128] == b"\0" * 128


def test_reference_inside_the_example_series_follows_the_new_uid(examples_run: Run) -> None:
    """IM0003 (no .dcm extension) references IM0001 by SOP Instance UID."""
    written = examples_run.written()
    im1 = read_output(written[f"{CT}/IM0001.dcm"])
    im3 = read_output(written[f"{CT}/IM0003"])
    assert im3.ReferencedImageSequence[0].ReferencedSOPInstanceUID == im1.SOPInstanceUID
    assert im3.SeriesInstanceUID == im1.SeriesInstanceUID
    assert im3.FrameOfReferenceUID == im1.FrameOfReferenceUID


def test_a_de_identified_tree_is_de_identified_again_with_another_key(
    examples_run: Run, keys: Keys, tmp_path: Path
) -> None:
    """Re-keying for a second recipient: dicomscrub's own Implementation Class UID and Version
    Name, which its outputs (now the inputs) hold as every output does, are not the patient's
    values; the leak check does not reject them."""
    again = run_cli([examples_run.out], tmp_path / "again", keys.b)
    statuses = Counter(r["status"] for r in again.file_rows)
    assert statuses == {"written": 10, "skipped": 1}, again.output_text  # (.dicomscrub skipped)
    assert again.exit_code == 0, again.output_text
