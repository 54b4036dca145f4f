"""End to end: ``dicomscrub check --against`` on the session's runs: dicomscrub's own outputs pass,
the untouched sample export fails, and no report shows a fictional identity in full."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from e2e_support import EXAMPLES_INCOMING, Run, Tree

from dicomscrub.cli import cli
from dicomscrub.explain import ExplainError, explain_file, render_text
from dicomscrub.profile.loader import load_profile

FICTIONAL = ("DOE^JANE", "MUSTERMANN", "ERIKA", "ROSSI", "MARIO", "MRN0012345", "19720415")


def check(*args: object) -> tuple[int, dict[str, object], str]:
    result = CliRunner().invoke(cli, ["check", *map(str, args), "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout), result.stdout


def test_check_passes_on_dicomscrubs_output_of_the_sample_export(examples_run: Run) -> None:
    code, report, _ = check(examples_run.out, "--against", EXAMPLES_INCOMING)
    assert (code, report["findings"]) == (0, [])
    assert report["dicom_files"] == report["inputs_searched"] == 10
    assert report["inputs_skipped"] == [
        {
            "input": "README.txt",
            "reason": "not DICOM (no DICM marker and no recognisable data set)",
        },
        {
            "input": "notes.json",
            "reason": "not DICOM (no DICM marker and no recognisable data set)",
        },
    ]


def test_check_against_inputs_none_of_which_could_be_searched_is_not_called_clean(
    examples_run: Run, tmp_path: Path
) -> None:
    """A mistyped --against (an empty folder, or one of reports, not images) compares nothing:
    exit 2 and "clean": false, not a pass."""
    (tmp_path / "notes.txt").write_text("not DICOM", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    for against in (tmp_path / "notes.txt", tmp_path / "empty"):
        code, report, _ = check(examples_run.out, "--against", against)
        assert (code, report["clean"], report["compared"]) == (2, False, False)
        assert (report["findings"], report["inputs_searched"]) == ([], 0)
    result = CliRunner().invoke(cli, ["check", str(examples_run.out), "--against", str(against)])
    assert result.exit_code == 2
    assert "nothing compared" in result.stdout
    assert "error: --against: no input file could be searched" in result.stderr
    code, report, _ = check(examples_run.out, "--against", EXAMPLES_INCOMING, "--against", against)
    assert (code, report["clean"], report["compared"]) == (0, True, True)


def test_check_of_an_output_that_holds_no_file_is_not_called_clean(
    examples_run: Run, tmp_path: Path
) -> None:
    """An empty OUT (a mistyped or not yet written output) checks nothing: exit 2, "clean":
    false, with or without --against, not a pass."""
    empty = tmp_path / "empty"
    empty.mkdir()
    for extra in ((), ("--against", EXAMPLES_INCOMING)):
        code, report, _ = check(empty, *extra)
        assert (code, report["clean"], report["checked"], report["files"]) == (2, False, False, 0)
    result = CliRunner().invoke(cli, ["check", str(empty)])
    assert result.exit_code == 2
    assert "0 files checked (0 DICOM): nothing checked" in result.stdout
    assert f"error: {empty} holds no file: nothing was checked" in result.stderr
    code, report, _ = check(examples_run.out)
    assert (code, report["clean"], report["checked"]) == (0, True, True)


def test_check_passes_on_dicomscrubs_output_of_all_bundled_files(
    corpus: Tree, corpus_hierarchy_run: Run
) -> None:
    code, report, _ = check(corpus_hierarchy_run.out, "--against", corpus.root)
    assert (code, report["findings"]) == (0, [])
    assert isinstance(report["dicom_files"], int) and report["dicom_files"] > 60


def test_check_fails_on_the_untouched_sample_export_without_showing_identities() -> None:
    code, report, text = check(EXAMPLES_INCOMING, "--against", EXAMPLES_INCOMING)
    assert code == 1
    findings = report["findings"]
    assert isinstance(findings, list)
    folders = {f["file"] for f in findings if f["location"] == "folder name"}
    assert {"D***_M***", "M***_M***", "R***_M***"} <= folders  # (DOE_JANE: the whole name)
    preamble = [f for f in findings if f["location"] == "preamble"]
    assert [f["kind"] for f in preamble] == ["PatientName"]
    assert [name for name in FICTIONAL if name.lower() in text.lower()] == []


def test_check_reads_every_bundled_file_as_output_without_a_traceback(corpus: Tree) -> None:
    """pydicom's test files as OUT (truncated, deflated, big endian, JSON, gzip ...): every file
    gets findings or passes; nothing crashes and nothing is skipped silently."""
    code, report, _ = check(corpus.root, "--against", corpus.root)
    assert code == 1
    assert report["files"] == len(corpus.hashes_before)
    findings = report["findings"]
    assert isinstance(findings, list)
    unverifiable = {f["file"] for f in findings if f["problem"] == "unverifiable"}
    assert {"README.txt", "zipMR.gz", "MR_truncated.dcm"} <= unverifiable


def test_explain_every_bundled_file_explains_or_gives_a_clear_error(corpus: Tree) -> None:
    profile = load_profile("basic", ("retain-safe-private",))
    explained, refused = 0, []
    for rel in corpus.hashes_before:
        try:
            render_text(explain_file(corpus.root / rel, profile))
            explained += 1
        except ExplainError as exc:
            refused.append(str(exc))
    assert explained > 60
    assert all(str(corpus.root) in message for message in refused)
    assert any("not DICOM" in m for m in refused) and any("DICOMDIR" in m for m in refused)


def test_check_shows_no_warning_of_pydicom_s_that_quotes_a_value(tmp_path: Path) -> None:
    """An input with an unknown character set and a birth date in ACR-NEMA form: pydicom warns
    of both, quoting them, while the check decodes the input's values; none reaches stderr."""
    import subprocess
    import sys
    import warnings

    import pydicom
    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.PatientBirthDate = "1961.03.17"
        ds.SpecificCharacterSet = "ISO_IR 100"
        (tmp_path / "in").mkdir()
        ds.save_as(tmp_path / "in" / "a.dcm")
    data = (tmp_path / "in" / "a.dcm").read_bytes()
    assert data.count(b"ISO_IR 100") == 1
    (tmp_path / "in" / "a.dcm").write_bytes(data.replace(b"ISO_IR 100", b"ISO_IR 999"))
    key = tmp_path / "k"
    key.write_bytes(b"a test key, not a secret, 32 bytes")
    command = [sys.executable, "-m", "dicomscrub"]
    ran = subprocess.run(
        [*command, "run", tmp_path / "in", "-o", tmp_path / "out", "--key-file", key, "-q"],
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    checked = subprocess.run(
        [*command, "check", tmp_path / "out", "--against", tmp_path / "in"],
        capture_output=True,
        text=True,
    )
    assert "Warning" not in checked.stderr and "ISO_IR 999" not in checked.stderr, checked.stderr
    assert "1961" not in checked.stdout + checked.stderr
