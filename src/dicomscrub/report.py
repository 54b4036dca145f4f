"""Counters for a run, the summary (also as JSON for CI), and the exit code (decided here only)."""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicomscrub import __version__
from dicomscrub.discover import LINK_OUTSIDE
from dicomscrub.process import FileResult, Status


class ExitCode(enum.IntEnum):
    """Documented exit codes of ``dicomscrub``."""

    OK = 0  # every DICOM input was written or was already done (non-DICOM files may be skipped)
    SOME_FAILED = 1  # inputs failed, rejected (unless --allow-rejected) or not quarantined
    FINDINGS = 1  # check: something was found (an alias of SOME_FAILED)
    USAGE = 2  # bad command line, profile or key, or output folder locked: nothing was touched
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: finished files kept, no partial file left


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class Report:
    counts: Counter[str] = field(default_factory=Counter)
    private_kept: int = 0
    private_removed: int = 0
    failures: list[FileResult] = field(default_factory=list)  # failed and rejected, in order
    seconds: float = 0.0
    started: str = ""
    finished: str = ""
    bytes_written: int = 0  # input bytes of the files written by this run
    streamed: int = 0  # files whose Pixel Data was copied by byte range
    interrupted: bool = False
    stop_reason: str = ""  # why the run stopped early, when not Ctrl-C or SIGTERM
    allow_rejected: bool = False
    swept: int = 0  # temporary files of a killed run removed at start
    kept_partial_audit: str = ""  # the partial audit of a killed run, kept under this name
    kept_earlier_audit: str = ""  # the audit of an earlier run into the same file, kept so
    other_settings: bool = False  # the output folder holds files written with other settings
    state_set_aside: str = ""  # a damaged resume state was moved here; every input was done again
    state_problem: str = ""  # what went wrong with the resume state during the run, if anything
    audit_broken: bool = False  # the run stopped because its audit could not be written
    summary_problem: str = ""  # why --summary-json could not be written (then the exit code is 1+)
    quarantine_failed: int = 0  # rejected inputs not set aside in --quarantine (exit code 1+)
    error: str = ""  # why the run was refused before any file was processed (exit code 2)
    links_outside: int = 0  # inputs skipped as symbolic links to files outside the inputs

    def add(self, result: FileResult) -> None:
        self.counts[result.status.value] += 1
        self.private_kept += result.private_kept
        self.private_removed += result.private_removed
        if result.status is Status.WRITTEN:
            self.bytes_written += result.size
            self.streamed += int(result.streamed)
        if result.status in (Status.FAILED, Status.REJECTED):
            self.failures.append(result)
        elif result.status is Status.SKIPPED and result.detail == LINK_OUTSIDE:
            self.links_outside += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def processed(self) -> int:
        """Files examined by this run (all but those already done by an earlier run)."""
        return self.total - self.counts[Status.UNCHANGED.value]

    @property
    def exit_code(self) -> ExitCode:
        if self.error:
            return ExitCode.USAGE
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.counts[Status.FAILED.value] or self.summary_problem:
            return ExitCode.SOME_FAILED
        if self.quarantine_failed:  # (--allow-rejected trusts the copies to be reviewed)
            return ExitCode.SOME_FAILED
        if self.counts[Status.REJECTED.value] and not self.allow_rejected:
            return ExitCode.SOME_FAILED
        return ExitCode.OK

    def summary(self) -> dict[str, Any]:
        """The ``--summary-json`` document: counts, times, rates, and failures with reasons
        (input paths relative to their root, the root's position on the command line, and
        reasons; never an attribute value)."""
        seconds = max(self.seconds, 1e-9)
        return {
            "dicomscrub_version": __version__,
            "started": self.started,
            "finished": self.finished,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "exit_code": int(self.exit_code),
            "error": self.error or None,
            "files": self.total,
            "counts": {
                status.value: self.counts[status.value]
                for status in Status
                if status is not Status.WOULD_WRITE or self.counts[status.value]
            },
            "files_processed": self.processed,
            "files_per_second": round(self.processed / seconds, 2),
            "bytes_written_inputs": self.bytes_written,
            "mb_per_second": round(self.bytes_written / 1e6 / seconds, 2),
            "streamed": self.streamed,
            "private_elements_kept": self.private_kept,
            "private_elements_removed": self.private_removed,
            "resume_state_set_aside": self.state_set_aside or None,
            "resume_state_problem": self.state_problem or None,
            "quarantine_failed": self.quarantine_failed,
            "failures": [
                {
                    "root_index": r.sort_key[0],
                    "input": r.input,
                    "status": r.status.value,
                    "reason": r.detail,
                }
                for r in self.failures
            ],
        }


def is_summary(path: Path) -> bool:
    """``path`` holds a summary (a JSON object with an ``exit_code``), as an earlier run wrote
    it; not the key file, a profile, an audit or an input, which start otherwise (only their
    first bytes are read)."""
    try:
        with path.open("rb") as fh:
            if not fh.read(4096).lstrip().startswith(b"{"):
                return False
            fh.seek(0)
            doc = json.load(fh)
    except (OSError, ValueError):  # (ValueError: not JSON, or not text)
        return False
    return isinstance(doc, dict) and "exit_code" in doc


def write_summary_json(path: Path, report: Report) -> None:
    """Write the summary atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        tmp.write_text(json.dumps(report.summary(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:  # (a full disk: no partial file is left beside it)
        tmp.unlink(missing_ok=True)
        raise
