"""The ``dicomscrub`` command line: the only module that imports click."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from dicomscrub import INTERRUPTED, __version__, stop_as_ctrl_c
from dicomscrub.check import CheckReport, check_tree, report_csv, report_json
from dicomscrub.discover import name_text
from dicomscrub.process import FileResult, Status
from dicomscrub.profile.loader import (
    ProfileError,
    builtin_dir,
    builtin_names,
    load_document,
    load_profile,
)
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.pseudonym import KEY_ENV, KeyError_, load_key, write_new_key
from dicomscrub.report import ExitCode, Report, is_summary, utc_now, write_summary_json
from dicomscrub.runner import (
    RunError,
    RunPlan,
    default_jobs,
    execute,
    plan_run,
    summary_before_plan,
)
from dicomscrub.writer import Layout

if TYPE_CHECKING:
    from rich.console import Console

# rich (tables, colours) and tqdm (the progress bar) are imported where they are used: a quiet run
# from cron or CI needs neither, and starts faster without them.

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

MAX_JOBS = max(64, 4 * default_jobs())
"""The most worker processes ``--jobs`` accepts: more than four per core only costs memory (a
mistyped count, one process per input file, would fork thousands)."""


class UsageProblem(click.ClickException):
    """A usage, profile or key error: exit code 2, before any file is touched."""

    exit_code = int(ExitCode.USAGE)


class Commands(click.Group):
    """The command group: any command stopped by Ctrl-C or SIGTERM (the console script turns it
    into Ctrl-C) ends with one line and exit 130, not click's "Aborted!" and exit 1, which
    ``check`` uses for "findings": a CI job stopped by its timeout must not read as a verdict.
    ``run`` says more itself (what it kept)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _interrupted(f"interrupted: {ctx.invoked_subcommand or 'dicomscrub'} stopped")


@click.group(cls=Commands, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="dicomscrub")
def cli() -> None:
    """De-identify folders of DICOM files with PS3.15 Annex E profiles.

    \b
    Example:
      dicomscrub run ./incoming -o ./deid
    """


def _input_paths(
    ctx: click.Context, param: click.Parameter, given: tuple[str, ...]
) -> tuple[Path, ...]:
    """INPUTS as paths; an empty one (a shell variable that was not set) is an error, not the
    current folder."""
    if any(not text for text in given):
        raise click.BadParameter("an empty path is not an input (give . for the current folder)")
    return tuple(Path(text) for text in given)


class _Jobs(click.IntRange):
    """--jobs N, with a message that says what is expected."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            self.fail(f"expected a whole number from 1 to {MAX_JOBS}; got {value!r}", param, ctx)


class _RunCommand(click.Command):
    """``run``, whose --summary-json says so when the command line itself is refused (a
    --key-file that does not exist, a --jobs out of range, an unknown option: exit 2), as it
    does for the refusals found later (see :func:`_summary_of_no_run`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = _last_value(args, "--summary-json")
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            # Nothing else of the command line can be trusted (not even where the output and
            # the inputs are), so only an earlier summary is replaced: none is made.
            if given:
                path = Path(given)
                with contextlib.suppress(OSError, RuntimeError):
                    if path.is_file() and is_summary(path):
                        now = utc_now()
                        error = exc.format_message()
                        write_summary_json(path, Report(started=now, finished=now, error=error))
            raise


def _last_value(args: list[str], option: str) -> str | None:
    """The value given to ``option`` in ``args`` (the last, as click takes it), or None."""
    value = None
    rest = iter(args)
    for arg in rest:
        if arg == "--":  # (what follows is INPUTS)
            break
        if arg == option:
            value = next(rest, None)
        elif arg.startswith(f"{option}="):
            value = arg[len(option) + 1 :]
    return value


@cli.command(cls=_RunCommand, context_settings=CONTEXT)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(), callback=_input_paths)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Output folder (created if needed; must not be inside an input).",
)
@click.option(
    "-p",
    "--profile",
    default="basic",
    show_default=True,
    metavar="NAME|FILE",
    help="Built-in profile name or a YAML profile file.",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="NAME|FILE",
    help="Option profile layered over the profile (repeatable), e.g. retain-safe-private.",
)
@click.option(
    "--audit",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Audit CSV path. Default: <OUTPUT>.audit.csv beside the output folder "
    "(<OUTPUT>.dry-run.audit.csv with --dry-run).",
)
@click.option(
    "--key-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help=f"Secret key for UIDs and pseudonyms (else ${KEY_ENV}; else a random key for this run).",
)
@click.option(
    "--layout",
    type=click.Choice([m.value for m in Layout]),
    default=Layout.HIERARCHY.value,
    show_default=True,
    help="hierarchy: <PatientID>/<Study>/<Series>/<SOP>.dcm from new values; "
    "mirror: input paths (folder names may hold identity).",
)
@click.option(
    "--mapping-out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write (merge into) a crosswalk CSV original,deidentified,kind of Patient IDs and "
    "Study/Series/SOP Instance UIDs. It holds identity: mode 0600, never inside OUTPUT. "
    "Every input is read again, those done by earlier runs included (reported skipped).",
)
@click.option(
    "--mapping-in",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Patient ID -> pseudonym table (CSV original,deidentified[,kind]) that wins over the "
    "keyed pseudonym; needs a profile that pseudonymizes Patient ID.",
)
@click.option(
    "-j",
    "--jobs",
    type=_Jobs(min=1, max=MAX_JOBS),
    default=None,
    metavar="N",
    help=f"Worker processes. Default: all cores ({default_jobs()} here). 1: no pool. "
    f"At most 4 per core or 64, whichever is more ({MAX_JOBS} here).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS|FILE",
    help="Send the per-file work to the workers of a Dask cluster: a scheduler address "
    "(tcp://HOST:8786) or a scheduler file. Inputs and OUTPUT must be on storage every worker "
    "reaches under the same paths. Needs the dask extra: pip install 'dicomscrub[dask]'.",
)
@click.option(
    "--quarantine",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    help="Copy rejected inputs here (named by a keyed hash, with index.csv mapping names to "
    "input paths) for a person to review. Not inside OUTPUT.",
)
@click.option(
    "--summary-json",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="Write counts per status, times, files/s, MB/s and failures with reasons as JSON.",
)
@click.option(
    "--allow-rejected",
    is_flag=True,
    help="Exit 0 even if inputs were rejected (failures, and rejected inputs that --quarantine "
    "could not set aside, still exit 1).",
)
@click.option(
    "--fsync",
    is_flag=True,
    help="Flush each output file to disk before it appears under its name, and the audit "
    "and resume state before they are closed: complete files even after a power loss or "
    "system crash (slower). "
    "Without it, complete files whenever dicomscrub itself is killed.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Do everything but write outputs: the audit and the summary say what would be written "
    "(status would-write); no output folder is created.",
)
@click.option(
    "--benchmark-no-leak-check",
    "no_leak_check",
    is_flag=True,
    hidden=True,
    help="For benchmarks/check_overhead.py only: skip the leak check that keeps a file holding "
    "an identifying value of its input from being written.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def run(
    inputs: tuple[Path, ...],
    output: Path,
    profile: str,
    options: tuple[str, ...],
    audit: Path | None,
    key_file: Path | None,
    layout: str,
    mapping_out: Path | None,
    mapping_in: Path | None,
    jobs: int | None,
    scheduler: str | None,
    quarantine: Path | None,
    summary_json: Path | None,
    allow_rejected: bool,
    fsync: bool,
    dry_run: bool,
    no_leak_check: bool,
    quiet: bool,
) -> None:
    """De-identify DICOM files and folders INPUTS into OUTPUT.

    Folders are walked recursively in sorted order; DICOM is recognised by content. Non-DICOM
    files and DICOMDIRs are skipped and reported. Inputs are never modified. Damaged files,
    objects without a SOP Class and images with Burned In Annotation YES are rejected, never
    written.

    Runs are incremental and resumable: OUTPUT/.dicomscrub/ remembers (without any identifying
    value) which inputs are done, so running the same command again, after new files arrive or
    after a crash or kill, processes only what is not done yet. A second run on the same OUTPUT
    while one is running is refused.

    Before a file is written, its bytes are searched for the identifying values of its input: a
    file that would leak one is rejected, not written.

    \b
    Examples:
      dicomscrub run ./incoming -o ./deid
      dicomscrub run ./a ./b -o ./deid --option retain-safe-private --audit run.csv
      dicomscrub run ./incoming -o ./deid -p my-profile.yaml --key-file site.key
      dicomscrub run /pacs/export -o /share/deid --key-file site.key -q \\
          --quarantine /review --summary-json run.json --allow-rejected
      dicomscrub run ./incoming -o ./deid --dry-run --audit plan.csv
      dicomscrub run /shared/export -o /shared/deid --key-file site.key \\
          --scheduler tcp://scheduler.example:8786

    \b
    Exit codes: 0 every DICOM input written or already done; 1 some failed or were
    rejected (rejected: not with --allow-rejected), or a rejected input could not be copied
    to --quarantine and listed in its index; 2 usage, profile or key error,
    OUTPUT in use by another run, or a Dask cluster that cannot be used (nothing touched);
    130 interrupted (Ctrl-C, SIGTERM, the Dask scheduler lost): finished files kept, no
    partial file left.
    """
    try:  # (stopped before it starts, a run is stopped as later: 130, one line, no traceback)
        try:
            key = load_key(key_file)
        except KeyError_ as exc:
            raise UsageProblem(str(exc)) from None
        try:
            plan = plan_run(
                list(inputs),
                output,
                profile=profile,
                options=options,
                audit=audit,
                key=key,
                layout=Layout(layout),
                mapping_out=mapping_out,
                mapping_in=mapping_in,
                jobs=jobs,
                scheduler=scheduler,
                quarantine=quarantine,
                summary_json=summary_json,
                allow_rejected=allow_rejected,
                fsync=fsync,
                dry_run=dry_run,
                leak_check=not no_leak_check,
                key_file=key_file,
            )
        except (ProfileError, RunError) as exc:
            raise UsageProblem(str(exc)) from None
        err = None if quiet else _console(stderr=True)
        if err is not None:
            if key.origin == "random":
                err.print(
                    f"[yellow]warning:[/] no --key-file and no ${KEY_ENV}: using a random key for "
                    "this run; its new UIDs will not match those of other runs, and nothing an "
                    "earlier run did counts as done"
                )
            if no_leak_check:
                err.print("[yellow]warning:[/] leak check disabled (benchmark flag)")
            if plan.layout is Layout.MIRROR:
                err.print(
                    "[yellow]warning:[/] --layout mirror copies input folder and file names, which "
                    "often contain patient names or IDs"
                )
    except UsageProblem as exc:
        if summary_json is not None:
            _summary_of_no_run(summary_json, output, inputs, error=exc.message)
        raise
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # (a second one: no traceback)
        if summary_json is not None:
            _summary_of_no_run(summary_json, output, inputs)
        _interrupted()
    report = _run_with_progress(plan, quiet)
    if report.stop_reason:
        click.echo(f"stopped: {report.stop_reason}", err=True)
    if report.summary_problem:
        click.echo(f"error: {report.summary_problem}", err=True)
    if report.interrupted and report.audit_broken:
        click.echo(
            "interrupted: no partial output file left; the outputs written after the audit "
            "failed are not in it: run the same command again (once it can be written) to "
            "audit them and finish",
            err=True,
        )
    elif report.interrupted:
        click.echo(
            "interrupted: finished files kept and recorded, no partial file left; "
            "run the same command again to finish",
            err=True,
        )
    if err is not None:
        _print_summary(err, report, plan)
        if report.total == 0 and not report.interrupted:
            err.print("[yellow]warning:[/] the inputs hold no file: nothing was done")
        if report.links_outside:
            err.print(
                f"[yellow]warning:[/] {report.links_outside} symbolic links lead to files outside "
                "the inputs and were not followed (skipped): give the folder that holds their "
                "targets as an input"
            )
    elif report.failures:
        for result in report.failures:
            click.echo(f"{result.status.value}: {_shown(result, plan)}: {result.detail}", err=True)
    sys.exit(int(report.exit_code))


def _shown(result: FileResult, plan: RunPlan) -> str:
    """An input as messages name it: its path relative to its input, and with several inputs
    under the input's own path (two inputs may hold files of the same relative path)."""
    if len(plan.inputs) > 1:
        return name_text(str(Path(result.root) / result.input))
    return name_text(result.input)


def _summary_of_no_run(
    path: Path, output: Path, inputs: tuple[Path, ...], *, error: str = ""
) -> None:
    """A run refused (``error``: a usage, profile or key error) or stopped while it was planned,
    before its paths were checked: its --summary-json says so, as a later refusal's or stop's
    does, so that an earlier run's summary is not read as this run's result. Only where
    :func:`summary_before_plan` allows (nothing there yet, or an earlier summary: never over the
    key file, a profile or an input that the refusal may be about, a device or a FIFO); else it
    is left as it is, as is a summary that cannot be written."""
    target = summary_before_plan(path, output, list(inputs))
    if target is None:
        return
    now = utc_now()
    with contextlib.suppress(OSError):
        write_summary_json(
            target, Report(started=now, finished=now, interrupted=not error, error=error)
        )


def _run_with_progress(plan: RunPlan, quiet: bool) -> Report:
    show = not quiet and sys.stderr.isatty()
    bar: Any = None  # tqdm's generic type is not worth spelling here

    def discovered(n: int) -> None:
        nonlocal bar
        if show:
            from tqdm import tqdm

            bar = tqdm(total=n, unit="file", file=sys.stderr, dynamic_ncols=True)

    def one(result: FileResult) -> None:
        if bar is not None:
            bar.update(1)
        if not quiet and result.status in (Status.FAILED, Status.REJECTED):
            msg = f"{result.status.value}: {_shown(result, plan)}: {result.detail}"
            (bar.write(msg, file=sys.stderr) if bar is not None else click.echo(msg, err=True))

    previous = signal.signal(signal.SIGTERM, stop_as_ctrl_c)
    try:
        return execute(plan, on_discovered=discovered, on_result=one)
    except RunError as exc:
        raise UsageProblem(str(exc)) from None
    except KeyboardInterrupt:  # while walking the inputs, or a second Ctrl-C
        if bar is not None:
            bar.close()
            bar = None
        _interrupted()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if bar is not None:
            bar.close()


def _interrupted(message: str = INTERRUPTED) -> NoReturn:
    """A command stopped by Ctrl-C or SIGTERM: ``message`` and exit 130 (a run stopped before
    its summary says :data:`dicomscrub.INTERRUPTED`)."""
    click.echo(message, err=True)
    sys.exit(int(ExitCode.INTERRUPTED))


UNWRAPPED = 1 << 16
"""The width given to rich when the output is not a terminal (a cron log, a CI job, a pipe):
rich would otherwise cut every line at 80 columns, and paths with it, mid-name. A table takes
only the width its cells need."""


def _console(*, stderr: bool = False) -> Console:
    """A rich console on standard error or output: as wide as the terminal, or, when it is not
    one, never wrapping (see :data:`UNWRAPPED`)."""
    from rich.console import Console

    if (sys.stderr if stderr else sys.stdout).isatty():
        return Console(stderr=stderr, highlight=False)
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=UNWRAPPED)


def _print_summary(err: Console, report: Report, plan: RunPlan) -> None:
    from rich.markup import escape
    from rich.table import Table

    if report.swept:
        err.print(f"removed {report.swept} temporary files left by an interrupted run")
    if report.kept_partial_audit:
        kept = escape(str(report.kept_partial_audit))
        err.print(f"the audit of an interrupted run was kept as {kept}")
    if report.kept_earlier_audit:
        kept = escape(str(report.kept_earlier_audit))
        err.print(f"the audit of the run before was kept as {kept}")
    if report.state_set_aside:
        err.print(
            "[yellow]warning:[/] the resume state of this output folder could not be used "
            "(damaged by a power loss or a system crash, empty, or not this version's); it was "
            f"moved to {escape(str(report.state_set_aside))} and every input was processed again"
        )
    if report.state_problem:
        err.print(f"[yellow]warning:[/] {escape(report.state_problem)}")
    if report.other_settings:
        err.print(
            "[yellow]warning:[/] this output folder also holds files written with other settings "
            "(profile, options, key, layout or version); existing files are never overwritten"
        )
    title = "dicomscrub summary (dry run)" if plan.dry_run else "dicomscrub summary"
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("status")
    table.add_column("files", justify="right")
    for status in Status:
        if (status is Status.WOULD_WRITE) != plan.dry_run and status in (
            Status.WOULD_WRITE,
            Status.WRITTEN,
        ):
            continue
        table.add_row(status.value, str(report.counts[status.value]))
    table.add_row("private elements kept", str(report.private_kept))
    table.add_row("private elements removed", str(report.private_removed))
    err.print(table)
    seconds = max(report.seconds, 1e-9)
    done = report.total - report.processed
    examined = f"{report.processed} examined, {done} already done: " if done else ""
    err.print(
        f"{_count(report.total, 'file')} in {_seconds(report.seconds)} "
        f"({examined}{report.processed / seconds:.1f} files/s, "
        f"{report.bytes_written / 1e6 / seconds:.1f} MB/s, {_engine(plan)}); "
        ""
        + (
            f"dry run, nothing written to {escape(str(plan.output))}"
            if plan.dry_run
            else f"output: {escape(str(plan.output))}"
        )
        + (
            f"; audit: {escape(str(plan.audit))}.partial (incomplete: it could not be written)"
            if report.audit_broken
            else f"; audit: {escape(str(plan.audit))}"
        )
        + (f"; summary: {escape(str(plan.summary_json))}" if plan.summary_json else ""),
        soft_wrap=True,
    )


def _count(n: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _engine(plan: RunPlan) -> str:
    if plan.scheduler is not None:
        return f"Dask scheduler {plan.scheduler}"
    return f"{plan.jobs} job" if plan.jobs == 1 else f"{plan.jobs} jobs"


def _profile_options(func: Any) -> Any:
    """--profile and --option, as for run."""
    func = click.option(
        "--option",
        "options",
        multiple=True,
        metavar="NAME|FILE",
        help="Option profile layered over the profile (repeatable), as given to run.",
    )(func)
    return click.option(
        "-p",
        "--profile",
        default="basic",
        show_default=True,
        metavar="NAME|FILE",
        help="The profile the files were (or would be) de-identified with, as given to run.",
    )(func)


@cli.command(context_settings=CONTEXT)
@click.argument("output", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--against",
    multiple=True,
    metavar="IN",
    type=click.Path(path_type=Path, exists=True),
    help="The inputs OUTPUT was made from (repeatable): search OUTPUT for their identifying "
    "values.",
)
@_profile_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the findings as CSV.")
def check(
    output: Path,
    against: tuple[Path, ...],
    profile: str,
    options: tuple[str, ...],
    as_json: bool,
    as_csv: bool,
) -> None:
    """Check a de-identified tree OUTPUT; exit 1 with a report if anything is wrong.

    Every file under OUTPUT must be DICOM, be marked de-identified (Patient Identity Removed
    YES, a De-identification Method, code 113100), hold no value in an attribute the profile
    removes or empties, and no private element the profile could not have kept. With --against,
    no identifying value of the inputs (names and their components, IDs, dates, UIDs, every value
    the profile does not keep) may appear anywhere in OUTPUT: in values at any depth, private and
    undecoded data, the preamble, or file and folder names. The report names the file, the tag
    path and the kind of value; identifying values are shown masked (J*** (4 chars)).

    \b
    Examples:
      dicomscrub check ./deid
      dicomscrub check ./deid --against ./incoming --json > check.json
      dicomscrub check ./deid --against ./incoming --option retain-safe-private --csv

    \b
    Exit codes: 0 nothing found; 1 findings; 2 usage or profile error, OUTPUT holds no file, or
    no input of --against could be searched; 130 stopped (Ctrl-C, SIGTERM) before the end: no
    verdict.
    """
    if as_json and as_csv:
        raise UsageProblem("give --json or --csv, not both")
    try:
        compiled = load_profile(profile, options)
    except ProfileError as exc:
        raise UsageProblem(str(exc)) from None
    report = check_tree(output, compiled, list(against))
    if as_json:
        click.echo(report_json(report), nl=False)
    elif as_csv:
        click.echo(report_csv(report), nl=False)
    else:
        _print_check(report)
    if report.unchecked:
        click.echo(f"error: {output} holds no file: nothing was checked", err=True)
        sys.exit(int(ExitCode.USAGE))
    if report.uncompared:
        click.echo(
            "error: --against: no input file could be searched (none there, or none DICOM): "
            "nothing was compared",
            err=True,
        )
        sys.exit(int(ExitCode.USAGE))
    sys.exit(int(ExitCode.FINDINGS if report.findings else ExitCode.OK))


def _print_check(report: CheckReport) -> None:
    from rich.table import Table

    console = _console()
    if report.findings:
        table = Table(show_header=True, header_style="bold", title="dicomscrub check")
        for column in ("file", "location", "problem", "kind", "detail"):
            table.add_column(column, overflow="fold")
        for f in report.findings:  # (names and creators as the audit shows them: escaped)
            table.add_row(*map(name_text, (f.file, f.location, f.problem.value, f.kind, f.detail)))
        console.print(table, markup=False)
    searched = ""
    if report.inputs_searched or report.inputs_skipped:
        searched = (
            f"; searched for {_count(report.tokens, 'identifying value')} of "
            f"{_count(report.inputs_searched, 'input file')} "
            f"({_count(len(report.inputs_skipped), 'input file')} not searched)"
        )
    verdict = (
        "clean"
        if report.clean
        else f"{_count(len(report.findings), 'finding')} in "
        f"{_count(report.files_with_findings, 'file')}"
        if report.findings
        else "nothing checked"
        if report.unchecked
        else "nothing compared"
    )
    console.print(
        f"{_count(report.files, 'file')} checked ({report.dicom_files} DICOM){searched}: {verdict}",
        markup=False,
    )
    for name, reason in report.inputs_skipped:
        console.print(f"  input not searched: {name_text(name)}: {name_text(reason)}", markup=False)


def _existing_file(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """FILE must exist: a symbolic link that leads nowhere is named so, as run names it (not
    "does not exist", which it does, as a link)."""
    if not value.exists():
        if value.is_symlink():
            raise click.BadParameter(
                f"{value} is a symbolic link that leads nowhere (broken, or a loop)"
            )
        raise click.BadParameter(f"{value} does not exist")
    return value


@cli.command(context_settings=CONTEXT)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), callback=_existing_file)
@_profile_options
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def explain(file: Path, profile: str, options: tuple[str, ...], as_json: bool) -> None:
    """Show what the profile does to every element of FILE, and why.

    For each element (at any depth): its action, the effect, and the rule, profile or setting
    that decided it; for each private block: its declaration in (0008,0300) and its fate. Values
    are shown only for elements that are kept. Nothing is written.

    \b
    Examples:
      dicomscrub explain ./incoming/IM0001.dcm
      dicomscrub explain ./incoming/IM0001.dcm --option retain-safe-private --json

    \b
    Exit codes: 0 explained (a file run would reject for what it holds, such as Burned In
    Annotation YES, is explained under a line that says so); 1 the file cannot be explained
    (not DICOM, damaged, a DICOMDIR, no SOP Class UID); 2 usage or profile error.
    """
    from dicomscrub.explain import ExplainError, explain_file, render_json, render_text

    # (imported here: only this command uses it, and every command pays for what is imported)
    if not file.is_file():  # (reading a FIFO would wait for a writer forever, a device forever)
        raise UsageProblem(
            f"{file} is not a regular file (a FIFO, a device or a socket); explain reads a file"
        )
    try:
        compiled = load_profile(profile, options)
    except ProfileError as exc:
        raise UsageProblem(str(exc)) from None
    try:
        explanation = explain_file(file, compiled)
    except ExplainError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(int(ExitCode.SOME_FAILED))
    click.echo(render_json(explanation) if as_json else render_text(explanation), nl=False)


@cli.command(context_settings=CONTEXT)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def keygen(file: Path) -> None:
    """Write a new secret key to FILE (mode 0600; an existing file is never replaced).

    The key links outputs across runs and machines: keep it out of the output tree, back it up
    (losing it breaks linkage), and guard it (with it, pseudonyms can be checked against guesses).

    \b
    Example:
      dicomscrub keygen ~/secrets/research.key
      dicomscrub run ./incoming -o ./deid --key-file ~/secrets/research.key
    """
    try:
        write_new_key(file)
    except FileExistsError:
        raise UsageProblem(f"{file} already exists; a key is never overwritten") from None
    except OSError as exc:
        raise UsageProblem(f"{file}: cannot write key: {exc.strerror}") from None
    click.echo(f"wrote a new key to {file} (mode 0600)", err=True)


@cli.group(context_settings=CONTEXT)
def profiles() -> None:
    """List, show and validate profiles.

    \b
    Examples:
      dicomscrub profiles list
      dicomscrub profiles show basic
      dicomscrub profiles validate my-profile.yaml
    """


@profiles.command("list", context_settings=CONTEXT)
def profiles_list() -> None:
    """List the built-in profiles and options.

    \b
    Example:
      dicomscrub profiles list
    """
    from rich.table import Table

    console = _console()
    table = Table(show_header=True, header_style="bold", box=None)
    for col in ("name", "kind", "code", "method label"):
        table.add_column(col)
    for name in builtin_names():
        try:
            doc = load_document(builtin_dir() / f"{name}.yaml", builtin=True)
        except ProfileError as exc:
            raise UsageProblem(str(exc)) from None
        method = doc.method
        table.add_row(
            name, doc.kind, (method.code or "") if method else "", method.label if method else ""
        )
    console.print(table)


@profiles.command("show", context_settings=CONTEXT)
@click.argument("name")
def profiles_show(name: str) -> None:
    """Print a built-in profile (or a profile file) as YAML, as it is; a file is validated
    first, as profiles validate does (exit 2 at its first error).

    \b
    Example:
      dicomscrub profiles show retain-safe-private
    """
    path = builtin_dir() / f"{name}.yaml"
    if name not in builtin_names():
        path = Path(name)
        if not path.is_file():
            raise UsageProblem(
                f"no built-in profile and no file named {name!r}; "
                f"built-ins: {', '.join(builtin_names())}"
            )
        _validated(path, ())
    click.echo(path.read_text(encoding="utf-8"), nl=False)


@profiles.command("validate", context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--option", "options", multiple=True, metavar="NAME|FILE", help="Options to layer.")
def profiles_validate(files: tuple[Path, ...], options: tuple[str, ...]) -> None:
    """Check profile FILES (and all they extend) without touching any DICOM file.

    A file of `kind: option` is checked as it runs: layered over basic (and the --option given).
    Exits 2 with file:line:column, the key path and the problem at the first error.

    \b
    Example:
      dicomscrub profiles validate examples/my-profile.yaml
    """
    for path in files:
        if not path.is_file() and str(path) in builtin_names():
            raise UsageProblem(
                f"{path}: no such file; {path} is a built-in profile, checked when it was made "
                f"(see it with: dicomscrub profiles show {path})"
            )
        if not path.is_file():
            raise UsageProblem(f"{path}: no such file")
        compiled, option = _validated(path, options)
        rules = len(compiled.exact) + len(compiled.masks) + len(compiled.creator_masks)
        kind = "an option, as --option over basic: " if option else ""
        click.echo(
            f"{path}: ok ({kind}{' + '.join(compiled.names)}; {rules} rules, "
            f"{len(compiled.safe_private)} safe private entries)"
        )


def _validated(path: Path, options: tuple[str, ...]) -> tuple[CompiledProfile, bool]:
    """The profile file ``path`` loaded and checked as it runs, and whether it is an option (an
    option cannot run alone: it is checked as --option over basic); UsageProblem at its first
    error."""
    try:
        option = load_document(path).kind == "option"
        if option:
            return load_profile("basic", (*options, str(path))), True
        return load_profile(str(path), options), False
    except ProfileError as exc:
        raise UsageProblem(str(exc)) from None


def main() -> None:
    """The console script (and ``python -m dicomscrub``): :func:`cli`, then :func:`fast_exit`."""
    try:
        cli(prog_name="dicomscrub")  # (standalone: it ends with SystemExit)
    except SystemExit as exc:
        fast_exit(exc.code)
    fast_exit(0)


def _seconds(seconds: float) -> str:
    """A run's time as the summary line gives it: 2.4 s, 0.042 s (not 0.0 s beside a rate)."""
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds:.2g} s"


def fast_exit(code: object) -> NoReturn:
    """Exit with ``code`` as ``sys.exit`` does, without tearing the interpreter down: freeing
    every module and object one by one takes some 30 ms once pydicom is loaded (a twentieth of a
    run of 2,000 files). Everything the commands write is closed by the time they return; the
    standard streams and logging are flushed here. Where another thread or process may still be
    at work (a Dask client, a child process), the ordinary exit is taken."""
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if others or multiprocessing.active_children() or "distributed" in sys.modules:
        sys.exit(code)  # type: ignore[arg-type]
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # as sys.exit does with a message
        print(code, file=sys.stderr)
        status = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # (a closed pipe: nothing more to say)
            stream.flush()
    os._exit(status & 0xFF)
