"""The audit's rows as workers pack them: the same text as csv.writer, sent compactly."""

from __future__ import annotations

import csv
import io
import pickle
from dataclasses import astuple
from pathlib import Path

import pytest

from dicomscrub import audit
from dicomscrub.audit import COLUMNS, AuditWriter, pack
from dicomscrub.pipeline import PrivateRecord
from dicomscrub.process import FileResult, Status

RECORDS = [
    PrivateRecord(f"(0019,10{n:02X})", "GEMS_ACQU_01", "UNDECLARED", "removed", "basic-profile")
    for n in range(180)
] + [
    PrivateRecord("(0021,1001)", 'ACME, "A" creator', "MIXED", "kept", "listed-nonidentifying"),
    PrivateRecord("(0008,1140)[0]/(0009,1001)", "X", "SAFE", "emptied", "declared-action", "a, b"),
]


def _result(n: int, records: list[PrivateRecord]) -> FileResult:
    return FileResult(
        input=f"patient, {n}/IM{n:04d}.dcm",
        root="/data/in",
        status=Status.WRITTEN,
        output=f"out/{n}.dcm",
        methods=("Basic Application Confidentiality Profile",),
        method_codes=("113100",),
        private=list(records),
    )


def _expected(results: list[FileResult]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in results:
        removed = sum(1 for p in r.private if p.decision == "removed")
        writer.writerow(
            (
                "file",
                r.root,
                r.input,
                r.output,
                r.status.value,
                "\\".join(r.methods),
                "\\".join(r.method_codes),
                len(r.private) - removed,
                removed,
                "",
                "",
                "",
                "",
                "",
                r.detail,
            )
        )
        for p in r.private:
            writer.writerow(
                ("private", r.root, r.input, r.output, r.status.value, "", "", "", "", *astuple(p))
            )
    return buffer.getvalue()


def _write(path: Path, results: list[FileResult]) -> str:
    with AuditWriter(path) as audit:
        for r in results:
            audit.write(r)
    return path.read_text(encoding="utf-8")


def test_packed_rows_are_the_csv_writer_rows(tmp_path: Path) -> None:
    plain = [_result(n, RECORDS[n % 3 :]) for n in range(4)] + [_result(9, [])]
    packed = [pickle.loads(pickle.dumps(pack(_result(n, RECORDS[n % 3 :])))) for n in range(4)]
    packed.append(pack(_result(9, [])))
    expected = _expected(plain)
    assert _write(tmp_path / "plain.csv", plain) == expected
    assert _write(tmp_path / "packed.csv", packed) == expected
    assert all(not r.private and r.private_rows is not None for r in packed[:4])
    assert packed[0].private_kept == 2 and packed[0].private_removed == 180


def test_a_batch_sends_each_row_tail_once() -> None:
    # files of one scanner repeat the same rows: a batch pickles each row's tail once
    batch = [pack(_result(n, RECORDS)) for n in range(16)]
    one = len(pickle.dumps(batch[:1]))
    sixteen = len(pickle.dumps(batch))
    assert sixteen < 4 * one
    text = sum(
        len(head + head.join(tails)) for head, tails in (r.private_rows or ("", []) for r in batch)
    )
    assert sixteen < text / 10


def test_rows_whose_writing_out_is_started_early_are_all_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "_WRITE_OUT", 1000)  # (every few files, not every 8 MB)
    results = [_result(n, RECORDS[n % 5 :]) for n in range(30)]
    expected = _expected([_result(n, RECORDS[n % 5 :]) for n in range(30)])
    assert _write(tmp_path / "audit.csv", [pack(r) for r in results]) == expected


def test_a_file_system_that_refuses_to_start_writing_out_early_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> None:
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(audit, "_WRITE_OUT", 1000)
    monkeypatch.setattr(audit.os, "posix_fadvise", refuse, raising=False)
    results = [_result(n, RECORDS) for n in range(5)]
    expected = _expected([_result(n, RECORDS) for n in range(5)])
    assert _write(tmp_path / "audit.csv", [pack(r) for r in results]) == expected


@pytest.mark.parametrize(
    "fields",
    [
        ("private", "/data/in", "a/b.dcm", "", "written"),
        ("private", " leading space", "trailing ", "", ""),
        ("private", "comma, inside", 'quote " inside', "x", "y"),
        ("private", "line\nbreak", "carriage\rreturn", "x", "y"),
        ("private", "é ü 漢字", "tab\there", "x", "y"),
        ("file", 3, 0, "", "kept"),
        ("",),
        ("only",),
    ],
)
def test_a_line_is_what_csv_writer_writes(fields: tuple[object, ...]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    assert audit._csv_line(fields) == buffer.getvalue()


def test_files_with_the_same_records_share_their_packed_rows() -> None:
    first, second = pack(_result(1, RECORDS)), pack(_result(2, RECORDS))
    assert first.private_rows is not None and second.private_rows is not None
    assert first.private_rows[1] is second.private_rows[1]
    assert first.private_rows[0] != second.private_rows[0]  # (each file's own columns)
    other = [PrivateRecord(r.tag, r.creator, r.block_status, "kept", r.basis) for r in RECORDS]
    third = pack(_result(3, other))
    assert third.private_rows is not None and third.counts == (len(other), 0)
    assert third.private_rows[1] is not first.private_rows[1]


def test_a_creator_with_controls_is_one_line_with_nothing_a_terminal_acts_on(
    tmp_path: Path,
) -> None:
    """A creator is read from the file: its escape sequences, bell and newlines were written as
    they are (a row over two lines, a terminal that acts on them when the audit is shown)."""
    creator = "EVIL\x1b]0;title\x07\nROW2\r"
    record = PrivateRecord("(0099,1001)", creator, "UNDECLARED", "removed", "basic-profile")
    for result in (_result(1, [record]), pack(_result(2, [record]))):
        text = _write(tmp_path / "audit.csv", [result])
        (tmp_path / "audit.csv").unlink()
        assert not any(c in text for c in "\x1b\x07\r")
        lines = text.splitlines()
        assert len(lines) == 3 and lines[2].startswith("private,")
        row = next(r for r in csv.DictReader(io.StringIO(text)) if r["record"] == "private")
        assert row["creator"] == "EVIL\\x1b]0;title\\x07\\x0aROW2\\x0d"
