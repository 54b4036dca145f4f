"""Counters for a run, the summary, and the exit code (one place decides it)."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

from dicomscrub.process import FileResult, Status


class ExitCode(enum.IntEnum):
    """Documented exit codes of ``dicomscrub``."""

    OK = 0  # every DICOM input was written (non-DICOM files may have been skipped)
    SOME_FAILED = 1  # some inputs failed or were rejected; the others were written
    FINDINGS = 1  # check: something was found (an alias of SOME_FAILED)
    USAGE = 2  # bad command line, profile or key: nothing was touched
    INTERRUPTED = 130  # Ctrl-C: finished files kept, no partial file left


@dataclass
class Report:
    counts: Counter[str] = field(default_factory=Counter)
    private_kept: int = 0
    private_removed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, result: FileResult) -> None:
        self.counts[result.status.value] += 1
        self.private_kept += result.private_kept
        self.private_removed += result.private_removed
        if result.status in (Status.FAILED, Status.REJECTED):
            self.failures.append((result.input, result.detail))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def exit_code(self) -> ExitCode:
        if self.counts[Status.FAILED.value] or self.counts[Status.REJECTED.value]:
            return ExitCode.SOME_FAILED
        return ExitCode.OK
