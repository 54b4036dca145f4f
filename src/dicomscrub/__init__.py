"""dicomscrub: batch de-identification of DICOM files by PS3.15 Annex E profiles."""

__version__ = "0.1.0"

INTERRUPTED = "interrupted: finished files kept, no partial file left"
"""What a run stopped by Ctrl-C or SIGTERM says when it stops before its summary (while it starts,
is planned or walks its inputs): the same whether or not a file was done yet. (Here, because
:mod:`dicomscrub.__main__` says it too, before the CLI is imported.)"""


def stop_as_ctrl_c(signum: int, frame: object) -> None:
    """The SIGTERM handler of the command (a cron or CI timeout): it stops as Ctrl-C does. (Here,
    because :mod:`dicomscrub.__main__` sets it before the CLI is imported, and ``run`` sets it
    for the CLI called without the console script.)"""
    raise KeyboardInterrupt
