"""The resume state under damage and failure, and file names that are not UTF-8: a run never
stops on them, and says what it did."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from corpus import snapshot
from dicomscrub.cli import cli
from dicomscrub.state import StateStore

Tree = Callable[..., Path]


def run_cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, " ".join(result.output.split())


def file_rows(audit: Path) -> list[dict[str, str]]:
    with audit.open(encoding="utf-8", newline="") as fh:
        return [row for row in csv.DictReader(fh) if row["record"] == "file"]


def statuses(audit: Path) -> list[str]:
    return [row["status"] for row in file_rows(audit)]


def test_damaged_records_that_pass_the_integrity_check_are_done_again(
    tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    inputs, out, summary = tree(6), tmp_path / "out", tmp_path / "summary.json"
    assert run_cli(inputs, "-o", out, "--key-file", key_file)[0] == 0
    written = snapshot(out)
    with sqlite3.connect(out / ".dicomscrub" / "state.sqlite") as db:  # cells SQLite cannot see
        db.execute("UPDATE done SET output = X'2E2E2FFF' WHERE rowid = 1")  # ../ and not UTF-8
        db.execute("UPDATE done SET methods = 'X' WHERE rowid = 2")  # not JSON
        db.execute("UPDATE done SET method_codes = '{}' WHERE rowid = 3")  # not a list
    code, output = run_cli(inputs, "-o", out, "--key-file", key_file, "--summary-json", summary)
    assert code == 0, output
    assert sorted(statuses(tmp_path / "out.audit.csv")) == ["skipped"] * 3 + ["unchanged"] * 3
    assert "3 records of the resume state could not be read" in output
    assert "3 records" in json.loads(summary.read_text())["resume_state_problem"]
    assert snapshot(out) == written
    code, _ = run_cli(inputs, "-o", out, "--key-file", key_file)  # recorded again
    assert code == 0 and statuses(tmp_path / "out.audit.csv") == ["unchanged"] * 6


@pytest.mark.parametrize("kind", ["empty", "other tables", "other schema version"])
def test_a_state_database_that_is_not_this_versions_is_set_aside(
    tree: Tree, tmp_path: Path, key_file: Path, kind: str
) -> None:
    inputs, out = tree(3), tmp_path / "out"
    assert run_cli(inputs, "-o", out, "--key-file", key_file)[0] == 0
    path = out / ".dicomscrub" / "state.sqlite"
    if kind == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
        with sqlite3.connect(path) as db:
            if kind == "other tables":
                db.execute("CREATE TABLE done (input TEXT PRIMARY KEY, output TEXT)")
            else:
                db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
                db.execute("INSERT INTO meta VALUES ('schema', '99')")
        db.close()
    code, output = run_cli(inputs, "-o", out, "--key-file", key_file)
    assert code == 0, output
    assert "resume state of this output folder could not be used" in output
    assert [p.name.startswith("state.sqlite.damaged-") for p in path.parent.iterdir()].count(True)
    assert statuses(tmp_path / "out.audit.csv") == ["skipped"] * 3


def test_damaged_states_set_aside_in_the_same_second_are_all_kept(
    tree: Tree, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dicomscrub.state

    monkeypatch.setattr(dicomscrub.state, "_stamp", lambda: "20260101T000000Z")
    inputs, out = tree(1), tmp_path / "out"
    path = out / ".dicomscrub" / "state.sqlite"
    assert run_cli(inputs, "-o", out, "--key-file", key_file)[0] == 0
    for n in range(3):
        path.write_bytes(b"damaged %d" % n * 100)
        assert run_cli(inputs, "-o", out, "--key-file", key_file)[0] == 0
    kept = sorted(p.name for p in path.parent.iterdir() if "damaged" in p.name)
    base = "state.sqlite.damaged-20260101T000000Z"
    assert kept == [base, f"{base}-2", f"{base}-3"]
    assert (path.parent / f"{base}-2").read_bytes() == b"damaged 1" * 100


class _FullDisk:
    """A connection whose writes fail as on a full disk."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def commit(self) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_a_state_that_cannot_be_written_stops_being_recorded_and_the_run_goes_on(
    tree: Tree, tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = StateStore.__init__

    def init(self: StateStore, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        self.db = _FullDisk(self.db)  # type: ignore[assignment]

    monkeypatch.setattr(StateStore, "__init__", init)
    inputs, out, summary = tree(4), tmp_path / "out", tmp_path / "summary.json"
    code, output = run_cli(
        inputs, "-o", out, "--key-file", key_file, "--summary-json", summary, "--jobs", "1"
    )
    assert code == 0, output
    assert statuses(tmp_path / "out.audit.csv") == ["written"] * 4
    problem = json.loads(summary.read_text())["resume_state_problem"]
    assert "database or disk is full" in problem and "database or disk is full" in output
    monkeypatch.undo()
    code, _ = run_cli(inputs, "-o", out, "--key-file", key_file)
    assert code == 0 and statuses(tmp_path / "out.audit.csv") == ["skipped"] * 4


ODD, CUT = "b\\xe9\\x0aname.dcm", "cut\\xff\\x1b[2J.dcm"  # (as the audit names them)


@pytest.mark.skipif(sys.platform != "linux", reason="file names are bytes on Linux")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_file_names_that_are_not_utf8_are_audited_resumed_and_quarantined(
    tree: Tree, tmp_path: Path, key_file: Path, jobs: str
) -> None:
    """Written as the CLI shows them: a byte that is not UTF-8 as ``\\xNN``, and a character
    that does not print (a newline, an escape) as ``\\xNN`` too."""
    inputs, out, quarantine = tree(3), tmp_path / "out", tmp_path / "q"
    first = sorted(inputs.rglob("*.dcm"))[0]
    odd = os.fsdecode(bytes(first.parent) + b"/b\xe9\nname.dcm")
    os.rename(first, odd)
    cut = os.fsdecode(bytes(first.parent) + b"/cut\xff\x1b[2J.dcm")
    Path(cut).write_bytes(Path(sorted(inputs.rglob("*.dcm"))[0]).read_bytes()[:1500])
    args = ("-o", out, "--key-file", key_file, "--layout", "mirror", "--jobs", jobs)
    code, output = run_cli(inputs, *args, "--quarantine", quarantine)
    assert code == 1, output  # the cut file is rejected
    rows = {row["input"].rsplit("/", 1)[-1]: row for row in file_rows(tmp_path / "out.audit.csv")}
    assert rows[ODD]["status"] == "written"
    assert rows[ODD]["output"].endswith("/" + ODD)
    assert rows[CUT]["status"] == "rejected"
    assert "rejected: " in output and f"{CUT}: damaged input" in output
    assert Path(odd.replace(str(inputs), str(out / inputs.name), 1)).is_file() or any(
        p.name == os.fsdecode(b"b\xe9\nname.dcm") for p in out.rglob("*")
    )
    index = (quarantine / "index.csv").read_text(encoding="utf-8")
    # (a newline or an escape sequence in a name is written escaped: one line per row, and
    # nothing a terminal showing the file would act on)
    audit = (tmp_path / "out.audit.csv").read_text(encoding="utf-8")
    assert "\x1b" not in audit + index and "e9\n" not in audit + index
    assert CUT in index
    with sqlite3.connect(out / ".dicomscrub" / "state.sqlite") as db:
        kinds = sorted(row[0] for row in db.execute("SELECT typeof(output) FROM done"))
    db.close()
    assert kinds == [
        "blob",
        "text",
        "text",
    ]  # text as earlier versions read it, but for the odd name
    code, output = run_cli(inputs, *args)
    again = {
        r["input"].rsplit("/", 1)[-1]: r["status"] for r in file_rows(out.parent / "out.audit.csv")
    }
    assert again[ODD] == "unchanged" and code == 1


@pytest.mark.parametrize("retain_uids", [False, True])
def test_a_crosswalk_another_key_wrote_is_not_merged_into(
    tree: Tree, tmp_path: Path, key_file: Path, retain_uids: bool
) -> None:
    """Its rows and this run's would be one table of two keys' pseudonyms; refused before any
    file is touched. The same key adds to it; rows of Retain UIDs (a UID kept as it is) fit
    any key."""
    inputs, crosswalk = tree(3), tmp_path / "map.csv"
    other_key = tmp_path / "other.key"
    other_key.write_text("another-key-0123456789abcdef\n")
    options = ("--option", "retain-uids") if retain_uids else ()
    code, output = run_cli(
        inputs, "-o", tmp_path / "a", "--key-file", key_file, "--mapping-out", crosswalk, *options
    )
    assert code == 0, output
    before = crosswalk.read_bytes()
    if retain_uids:  # (every UID row is a UID kept as it is: any key gives it)
        code, output = run_cli(
            inputs,
            "-o",
            tmp_path / "c",
            "--key-file",
            other_key,
            "--mapping-out",
            crosswalk,
            *options,
        )
        assert code == 0, output
        assert crosswalk.read_bytes() == before
        return
    for key in (other_key, None):
        args = ("--key-file", key) if key else ()
        code, output = run_cli(inputs, "-o", tmp_path / "b", *args, "--mapping-out", crosswalk)
        assert code == 2, output
        assert f"crosswalk {crosswalk} holds UIDs another key replaced (5 rows)" in output
        assert ("no key was given" in output) is (key is None)
        assert crosswalk.read_bytes() == before and not (tmp_path / "b").exists()
    code, output = run_cli(
        tree(5, name="later"),  # (the same 3 and 2 more)
        "-o",
        tmp_path / "d",
        "--key-file",
        key_file,
        "--mapping-out",
        crosswalk,
    )
    assert code == 0, output
    assert crosswalk.read_text().count("SOPInstanceUID") == 5  # (this key's rows added)


def test_a_crosswalk_holds_the_inputs_an_earlier_run_did_without_one(
    tree: Tree, tmp_path: Path, key_file: Path
) -> None:
    inputs, out = tree(4), tmp_path / "out"
    assert run_cli(inputs, "-o", out, "--key-file", key_file)[0] == 0  # (or killed before it)
    code, output = run_cli(
        inputs, "-o", out, "--key-file", key_file, "--mapping-out", tmp_path / "late.csv"
    )
    assert code == 0, output
    assert statuses(tmp_path / "out.audit.csv") == ["skipped"] * 4  # read again, not rewritten
    code, _ = run_cli(
        inputs,
        "-o",
        tmp_path / "fresh",
        "--key-file",
        key_file,
        "--mapping-out",
        tmp_path / "ref.csv",
    )
    assert code == 0
    late = (tmp_path / "late.csv").read_text(encoding="utf-8")
    assert late == (tmp_path / "ref.csv").read_text(encoding="utf-8")
    assert late.count("SOPInstanceUID") == 4
