"""``dicomscrub explain``: a golden file for a known data set, the value policy, and errors.

Regenerate the golden files after an intended change of the output with::

    DICOMSCRUB_UPDATE_GOLDEN=1 pytest tests/unit/test_explain.py

and review the diff before committing it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomscrub.cli import cli

BuildCT = Callable[..., Dataset]
WriteDicom = Callable[..., Path]

GOLDEN = Path(__file__).resolve().parents[1] / "data"
UPDATE = os.environ.get("DICOMSCRUB_UPDATE_GOLDEN") == "1"
IDENTITY = ("DOE^JANE", "MRN0012345", "OTHER-4711", "ACC0001", "20240305", "1.2.826.0.1.3680043")


def invoke(*args: str | Path) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


@pytest.fixture
def known_file(tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom) -> Path:
    """The conftest CT, its GEMS block declared MIXED with (0019,xx23) safe and an action for
    (0019,xx10), and Other Patient IDs Sequence (removed by basic) holding a second ID."""
    ds = make_ct()
    action = Dataset()
    action.IdentifyingPrivateElements = [0x10]
    action.DeidentificationAction = "D"
    item = Dataset()
    item.PrivateGroupReference = 0x0019
    item.PrivateCreatorReference = "GEMS_ACQU_01"
    item.BlockIdentifyingInformationStatus = "MIXED"
    item.NonidentifyingPrivateElements = [0x23]
    item.DeidentificationActionSequence = Sequence([action])
    ds.PrivateDataElementCharacteristicsSequence = Sequence([item])
    other = Dataset()
    other.PatientID = "OTHER-4711"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    return write_dicom(tmp_path / "ct.dcm", ds)


def golden(name: str, text: str) -> str:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path.read_text(encoding="utf-8")


def test_explain_output_for_a_known_file_matches_the_golden_file(known_file: Path) -> None:
    result = invoke("explain", known_file, "--option", "retain-safe-private")
    assert result.exit_code == 0, result.output
    assert result.stdout == golden("explain-ct-safe-private.txt", result.stdout)


def test_explain_json_for_a_known_file_matches_the_golden_file(known_file: Path) -> None:
    result = invoke("explain", known_file, "--option", "retain-safe-private", "--json")
    assert result.exit_code == 0, result.output
    assert result.stdout == golden("explain-ct-safe-private.json", result.stdout)


def test_explain_shows_values_only_for_kept_elements(known_file: Path) -> None:
    result = invoke("explain", known_file, "--option", "retain-safe-private", "--json")
    report = json.loads(result.stdout)
    shown = [row for row in report["elements"] if row["value"]]
    assert shown, "some kept values are shown"
    assert all(row["effect"].startswith("kept") for row in shown)
    text = invoke("explain", known_file, "--option", "retain-safe-private").stdout
    assert [value for value in IDENTITY if value in text + result.stdout] == []


def test_explain_names_the_rule_and_the_private_block_decision(known_file: Path) -> None:
    rows = {
        row["path"]: row
        for row in json.loads(
            invoke("explain", known_file, "--option", "retain-safe-private", "--json").stdout
        )["elements"]
    }
    assert (rows["(0010,0010)"]["effect"], rows["(0010,0010)"]["rule"]) == (
        "emptied",
        "basic: (0010,0010) Z",
    )
    assert rows["(0008,2218)"]["rule"] == "not listed: settings.default (basic) K"
    assert rows["(0010,1002)[0]/(0010,0020)"]["effect"] == "removed with its sequence"
    assert (rows["(0019,1010)"]["effect"], rows["(0019,1010)"]["rule"]) == (
        "replaced",
        "declared-action; declared action D",
    )
    assert (rows["(0019,1023)"]["effect"], rows["(0019,1023)"]["rule"]) == (
        "kept",
        "listed-nonidentifying",
    )


def test_explain_without_options_follows_the_basic_profile(known_file: Path) -> None:
    report = json.loads(invoke("explain", known_file, "--json").stdout)
    assert report["profile"] == ["basic"]
    (block,) = report["private_blocks"]
    assert block == {
        "path": "(0019,0010)",
        "creator": "GEMS_ACQU_01",
        "declared": "MIXED, nonidentifying 23, actions 10=D",
        "fate": "removed: all 2 elements",
    }


def test_explain_a_file_that_is_not_dicom_exits_1_with_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not an image\n", encoding="utf-8")
    result = invoke("explain", path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {path}: not DICOM (no DICM marker and no recognisable data set)\n"
    )


def test_explain_a_fifo_exits_2_at_once(tmp_path: Path) -> None:
    """Reading a FIFO waits for a writer forever: it is refused as not a regular file. (In a
    process of its own, with a timeout: a test that hangs tells nothing.)"""
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    result = subprocess.run(
        [sys.executable, "-m", "dicomscrub", "explain", str(fifo)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"Error: {fifo} is not a regular file (a FIFO, a device or a socket); explain reads a "
        "file\n"
    )


def test_explain_with_a_bad_profile_exits_2(tmp_path: Path, known_file: Path) -> None:
    assert invoke("explain", known_file, "--option", "retain-uid").exit_code == 2
    assert invoke("explain", tmp_path / "missing.dcm").exit_code == 2


def test_explain_says_when_run_would_reject_the_file(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom
) -> None:
    """Burned In Annotation YES, or an image without Pixel Data: explain still explains, and
    says first that run writes nothing, in the text and in the JSON."""
    burned = make_ct()
    burned.BurnedInAnnotation = "YES"
    cut = make_ct()
    del cut.PixelData
    cases = {
        "Burned In Annotation (0028,0301) is YES: the pixels may show identifying text": burned,
        "incomplete image: an image object without Pixel Data": cut,
    }
    for i, (reason, ds) in enumerate(cases.items()):
        path = write_dicom(tmp_path / f"f{i}.dcm", ds)
        text = invoke("explain", path)
        assert text.exit_code == 0, text.output
        assert text.stdout.splitlines()[2].startswith(
            f"run rejects this file, nothing is written: {reason}"
        )
        report = json.loads(invoke("explain", path, "--json").stdout)
        assert report["rejected"].startswith(reason)
    plain = json.loads(
        invoke("explain", write_dicom(tmp_path / "ok.dcm", make_ct()), "--json").stdout
    )
    assert plain["rejected"] == ""


def test_explain_masks_a_creator_or_kept_value_that_holds_an_identifying_value(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom
) -> None:
    """A block named after the patient's ID (removed) and a private value the profile keeps that
    equals the patient's name: explain masks both as the audit does, and says that run rejects
    the file (its leak check finds the name where it is kept), with run's reason."""
    ds = make_ct(patient_name="Doe^Jane", patient_id="PID4242424")
    ds.private_block(0x0033, "PID4242424", create=True).add_new(0x01, "LO", "harmless")
    ds[0x00191010].value = "Doe^Jane"  # GEMS_ACQU_01 (0019,xx10), kept by the profile below
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    profile = tmp_path / "keep.yaml"
    profile.write_text(
        'extends: [basic]\nrules:\n  - {tag: "(0019,xx10)", creator: GEMS_ACQU_01, action: K}\n',
        encoding="utf-8",
    )
    text = invoke("explain", path, "-p", profile)
    as_json = invoke("explain", path, "-p", profile, "--json")
    for shown in (text, as_json):
        assert shown.exit_code == 0, shown.output
        assert "PID4242424" not in shown.output
        assert "Doe^Jane" not in shown.output
        assert "P***" in shown.output and "D***" in shown.output
    assert "run rejects this file" in text.output
    assert "PatientName at (0019,1010)" in json.loads(as_json.output)["rejected"]


def test_explain_a_link_that_leads_nowhere_says_so(tmp_path: Path) -> None:
    """A loop of links (or a broken one) exists as a link: explain names it as run does, not
    "does not exist"."""
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    result = invoke("explain", tmp_path / "a")
    assert result.exit_code == 2
    assert "is a symbolic link that leads nowhere (broken, or a loop)" in " ".join(
        result.output.split()
    )


def test_explain_shows_controls_in_a_creator_or_kept_value_as_escapes(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom
) -> None:
    """A creator and a kept value are read from the file: their escape sequences and newlines
    went to the terminal as they were."""
    ds = make_ct()
    ds.private_block(0x0033, "EVIL\x1b]0;title\x07", create=True).add_new(0x01, "LO", "x")
    ds.ManufacturerModelName = "CT\x1b[2J"
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    shown = invoke("explain", path)
    assert shown.exit_code == 0, shown.output
    assert "\x1b" not in shown.output and "\x07" not in shown.output
    assert "EVIL\\x1b]0;title\\x07" in shown.output and "CT\\x1b[2J" in shown.output


def test_explain_shows_a_creator_of_several_values_or_of_a_sequence_as_its_text(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom
) -> None:
    """As the audit shows them: backslash-joined (not ``['ACME', 'OTHER']``), and ``(sequence)``
    for a creator that is a sequence (not ``[]``), in the elements' keyword and the blocks."""
    ds = make_ct(private=False)
    ds.add_new(0x00290010, "LO", ["ACME", "OTHER"])
    ds.add_new(0x00291001, "LO", "x")
    ds.add_new(0x00310010, "SQ", Sequence([Dataset()]))
    ds.add_new(0x00311001, "LO", "y")
    path = write_dicom(tmp_path / "in" / "one.dcm", ds)
    report = json.loads(invoke("explain", path, "--json").stdout)
    blocks = {b["path"]: b["creator"] for b in report["private_blocks"]}
    assert blocks == {"(0029,0010)": "ACME\\OTHER", "(0031,0010)": "(sequence)"}
    keywords = {e["path"]: e["keyword"] for e in report["elements"]}
    assert keywords["(0029,1001)"] == "[ACME\\OTHER]"
    assert keywords["(0031,1001)"] == "[(sequence)]"
    text = invoke("explain", path).stdout
    assert "['" not in text and "[[" not in text
    assert "ACME\\OTHER" in text and "(sequence)" in text


@pytest.mark.parametrize("fmt", [None, "--json"], ids=["text", "json"])
def test_a_file_name_with_controls_or_bytes_that_are_not_utf8_is_shown_escaped(
    tmp_path: Path, make_ct: BuildCT, write_dicom: WriteDicom, fmt: str | None
) -> None:
    """The file's own name heads the text as the audit shows names (\\xNN); in JSON a byte that
    is not UTF-8 is ``\\udcNN`` (read back, the name is the file's own). Standard output that
    takes UTF-8 only stopped on such a name with a traceback."""
    made = write_dicom(tmp_path / "in" / "one.dcm", make_ct())
    name = os.fsencode(tmp_path / "in") + b"/bad\x1b[31m\xff.dcm"
    os.rename(made, name)
    done = subprocess.run(
        [sys.executable, "-m", "dicomscrub", "explain", name] + ([fmt] if fmt else []),
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    text = done.stdout.decode("utf-8")  # (strict: all of it UTF-8)
    if fmt == "--json":
        assert os.fsencode(json.loads(text)["file"]) == os.path.basename(name)
    else:
        assert "\x1b" not in text
        assert text.splitlines()[0].startswith("bad\\x1b[31m\\xff.dcm: profile")
