"""The CSV audit: one ``file`` row per input, one ``private`` row per private element seen.

Written by the parent process only, in input order, to a temporary file renamed into place when the
run ends. It never holds an original attribute value: only paths, tags, creators (which name a
vendor's block, not a person), decisions and reasons.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from types import TracebackType
from typing import TextIO

from dicomscrub.process import FileResult

COLUMNS = (
    "record",
    "root",
    "input",
    "output",
    "status",
    "methods",
    "method_codes",
    "private_kept",
    "private_removed",
    "tag",
    "creator",
    "block_status",
    "decision",
    "basis",
    "detail",
)


class AuditWriter:
    """Context manager; rows go to ``<path>.partial`` and are renamed to ``path`` on close."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".partial")
        self._fh: TextIO | None = None
        self._writer: csv.DictWriter[str] | None = None

    def __enter__(self) -> AuditWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.tmp.open("w", encoding="utf-8", newline="")
        self._writer = csv.DictWriter(self._fh, fieldnames=COLUMNS, lineterminator="\n")
        self._writer.writeheader()
        return self

    def write(self, result: FileResult) -> None:
        assert self._writer is not None
        base = {"root": result.root, "input": result.input, "output": result.output}
        self._writer.writerow(
            {
                **base,
                "record": "file",
                "status": result.status.value,
                "methods": "\\".join(result.methods),
                "method_codes": "\\".join(result.method_codes),
                "private_kept": result.private_kept,
                "private_removed": result.private_removed,
                "detail": result.detail,
            }
        )
        for rec in result.private:
            self._writer.writerow(
                {
                    **base,
                    "record": "private",
                    "status": result.status.value,
                    "tag": rec.tag,
                    "creator": rec.creator,
                    "block_status": rec.block_status,
                    "decision": rec.decision,
                    "basis": rec.basis,
                    "detail": rec.detail,
                }
            )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._fh is not None
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.tmp, self.path)
