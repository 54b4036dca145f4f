"""The console script ``dicomscrub``, and ``python -m dicomscrub``."""

from __future__ import annotations


def main() -> None:
    """:func:`dicomscrub.cli.main`, in a process started for it: pydicom's modules that a run
    never uses are left unloaded (see :mod:`dicomscrub._startup`) before the CLI imports pydicom."""
    from dicomscrub._startup import defer_unused_pydicom_modules

    defer_unused_pydicom_modules()
    from dicomscrub.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
