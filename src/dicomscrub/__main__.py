"""The console script ``dicomscrub``, and ``python -m dicomscrub``."""

from __future__ import annotations

import signal
import sys
from typing import NoReturn

from dicomscrub import INTERRUPTED, stop_as_ctrl_c


def main() -> None:
    """:func:`dicomscrub.cli.main`, in a process started for it: pydicom's modules that a run
    never uses are left unloaded (see :mod:`dicomscrub._startup`) before the CLI imports pydicom.

    Ctrl-C or SIGTERM (a cron or CI timeout) while the modules are imported, a fifth of a second,
    ends the command as it ends a run (exit 130, one line), not with a traceback from inside an
    import, nor by being lost in it. (``signal`` costs nothing here: it is imported
    at start-up anyway.)"""
    signal.signal(signal.SIGTERM, stop_as_ctrl_c)  # (the run sets its own, and puts this one back)
    # Held while the modules are imported: a KeyboardInterrupt raised inside the import system
    # may be swallowed ("Exception ignored in ... _get_module_lock") and the command go on as if
    # never stopped, or come out as a RuntimeError from a class body. Looked for afterwards.
    stops = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        from dicomscrub._startup import defer_unused_pydicom_modules

        defer_unused_pydicom_modules()
        from dicomscrub.cli import main as cli_main

        if signal.sigpending() & stops:
            interrupted()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)  # (one that came meanwhile: raised here)
    except KeyboardInterrupt:
        interrupted()
    cli_main()


def interrupted() -> NoReturn:
    """Say so and exit 130; a second signal meanwhile is ignored (no traceback from it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(INTERRUPTED, file=sys.stderr, flush=True)
    raise SystemExit(130)  # (ExitCode.INTERRUPTED: dicomscrub.report imports pydicom)


if __name__ == "__main__":
    main()
