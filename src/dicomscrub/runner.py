"""The batch run as a library call: validate, lock, discover, process, audit, report.

The CLI is a thin layer over :func:`plan_run` and :func:`execute`; neither needs a terminal.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dicomscrub.audit import AuditInUse, AuditWriter, restatus
from dicomscrub.cluster import ClusterError, ClusterPool, scheduler_target
from dicomscrub.crosswalk import (
    CrosswalkError,
    foreign_rows,
    read_crosswalk,
    read_subjects,
    write_crosswalk,
)
from dicomscrub.discover import Source, discover
from dicomscrub.parallel import HeldInterrupts, InlineRun, Item, JobSpec, OrderedPool
from dicomscrub.process import COLLISION, IDENTICAL, FileResult, Job, Status, process_file
from dicomscrub.profile.loader import load_profile
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.pseudonym import KEY_ENV, Key
from dicomscrub.quarantine import INDEX, Quarantine
from dicomscrub.report import Report, is_summary, utc_now, write_summary_json
from dicomscrub.state import (
    DoneRecord,
    LockedError,
    OutputLock,
    StateError,
    StateStore,
    holds_outputs,
    input_fingerprint,
    input_id,
    naming_digest,
    quarantine_stamp,
    recorded_naming,
    run_digest,
    sweep_temp_files,
)
from dicomscrub.writer import TEMP_PREFIX, Layout, OutputPlan, mirror_labels

UNCHANGED_DETAIL = "done by an earlier run with the same settings; input unchanged"
PATIENT_ID_TAG = 0x00100020


class RunError(Exception):
    """A problem with the command line or the file system found before any file is touched."""


def default_jobs() -> int:
    """All the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class RunPlan:
    inputs: tuple[Path, ...]
    output: Path
    audit: Path
    profile: CompiledProfile
    key: Key
    layout: Layout
    jobs: int = 1
    quarantine: Path | None = None
    summary_json: Path | None = None
    allow_rejected: bool = False
    stream: bool = True
    fsync: bool = False
    mapping_out: Path | None = None
    subjects: dict[str, str] | None = None
    earlier_mapping: frozenset[tuple[str, str, str]] = frozenset()
    dry_run: bool = False  # everything but writing outputs: the audit says what would be written
    leak_check: bool = True  # off only to measure its cost (benchmarks/check_overhead.py)
    scheduler: str | None = None  # --scheduler: a Dask scheduler address or scheduler file


def _contains(outer: Path, inner: Path) -> bool:
    return inner == outer or outer in inner.parents


def _distinct(inputs: list[Path]) -> None:
    """No input is given twice or inside another: its files would be read, written (twice under
    --layout mirror) and audited twice."""
    seen: list[tuple[Path, Path]] = []
    for given in inputs:
        real = given.resolve()
        for other, other_real in seen:
            if real == other_real:
                raise RunError(
                    f"input {given} is given twice (also as {other}): its files would be "
                    "processed twice"
                )
            inner, outer = (given, other) if _contains(other_real, real) else (other, given)
            if _contains(other_real, real) or _contains(real, other_real):
                raise RunError(
                    f"input {inner} is inside input {outer}: its files would be processed twice"
                )
        seen.append((given, real))


def default_audit_path(output: Path, dry_run: bool = False) -> Path:
    """``<OUTPUT>.audit.csv`` beside the output folder (never inside it: the tree gets shared);
    for a dry run ``<OUTPUT>.dry-run.audit.csv`` (a plan does not move the real runs' audit
    aside as an earlier one)."""
    out = output.resolve()
    return out.parent / f"{out.name}.{'dry-run.' if dry_run else ''}audit.csv"


def plan_run(
    inputs: list[Path],
    output: Path,
    *,
    profile: str = "basic",
    options: tuple[str, ...] = (),
    audit: Path | None = None,
    key: Key,
    layout: Layout = Layout.HIERARCHY,
    jobs: int | None = None,
    quarantine: Path | None = None,
    summary_json: Path | None = None,
    allow_rejected: bool = False,
    stream: bool = True,
    fsync: bool = False,
    mapping_out: Path | None = None,
    mapping_in: Path | None = None,
    dry_run: bool = False,
    leak_check: bool = True,
    scheduler: str | None = None,
    key_file: Path | None = None,
) -> RunPlan:
    """Validate everything (profile first); raise ProfileError or RunError before touching files.

    ``key_file`` is the file ``key`` was read from (--key-file), if any: no file the run writes
    may be it."""
    compiled = load_profile(profile, options)
    if not inputs:
        raise RunError("give at least one input file or folder")
    if jobs is not None and jobs < 1:
        raise RunError(f"--jobs must be at least 1; got {jobs}")
    if scheduler is not None:
        if jobs is not None:
            raise RunError("--jobs sets local worker processes; with --scheduler leave it out")
        try:
            scheduler = scheduler_target(scheduler)
        except ClusterError as exc:
            raise RunError(str(exc)) from None
    try:
        out = output.resolve()
    except (RuntimeError, OSError):  # (Python 3.11: RuntimeError for a loop of links)
        raise RunError(f"output {output} is a symbolic link that leads back to itself") from None
    for given in inputs:
        if not given.exists():
            if given.is_symlink():
                raise RunError(
                    f"input {given} is a symbolic link that leads nowhere (broken, or a loop)"
                )
            raise RunError(f"input {given} does not exist")
        real = given.resolve()
        if real.is_dir() and _contains(real, out):
            raise RunError(f"output folder {output} is inside input folder {given}; refusing")
        if _contains(out, real):
            raise RunError(f"input {given} is inside output folder {output}; refusing")
    _distinct(inputs)
    if out.exists() and not out.is_dir():
        raise RunError(f"output {output} exists and is not a folder")
    if key_file is not None and _contains(out, _resolve(key_file, "key file")):
        # (whoever gets the output tree could then test guesses against its pseudonyms and UIDs)
        raise RunError(
            f"key file {key_file} must not be inside the output folder: the output tree is what "
            "gets shared; keep the key elsewhere"
        )
    if mapping_in is not None and _contains(out, _resolve(mapping_in, "--mapping-in")):
        # (it pairs each patient's original ID with its subject ID: a re-identification table)
        raise RunError(
            f"--mapping-in {mapping_in} must not be inside the output folder: it holds original "
            "Patient IDs, and the output tree is what gets shared; keep it elsewhere"
        )
    if key.origin == "random" and out.is_dir() and holds_outputs(out):
        # (from cron, each run would write the whole tree again under other UIDs)
        raise RunError(
            f"output folder {output} holds files an earlier run wrote, and no key was given "
            f"(--key-file or ${KEY_ENV}): a random key would write every input again under other "
            "UIDs; give the earlier run's key, or a new output folder (and a key for the runs to "
            "come: dicomscrub keygen FILE)"
        )
    recorded = recorded_naming(out)
    if recorded is not None and recorded != naming_digest(key, layout.value):
        raise RunError(
            f"output folder {output} holds files an earlier run wrote with another key or "
            "layout: this run would write every input again beside them under other names "
            "(other pseudonyms and UIDs), and nothing would collide; give the earlier run's key "
            "and layout, or a new output folder"
        )
    audit_path = _resolve(audit or default_audit_path(output, dry_run), "audit file")
    summary_path = _resolve(summary_json, "summary file") if summary_json is not None else None
    mapping_path = _resolve(mapping_out, "crosswalk") if mapping_out is not None else None
    written = [
        ("--audit" if audit is not None else "audit file", audit or audit_path, audit_path),
        ("--summary-json", summary_json, summary_path),
        ("--mapping-out", mapping_out, mapping_path),
    ]
    _not_read(written, _read_files(compiled, profile, options, key_file, mapping_in, inputs))
    _outside(audit_path, "audit file", out, inputs)
    _writable(audit_path, "audit file")
    quarantine_path = None
    if quarantine is not None:
        quarantine_path = _resolve(quarantine, "quarantine")
        if _contains(quarantine_path, out):
            raise RunError(f"output folder {output} must not be inside the quarantine folder")
        _outside(quarantine_path, "quarantine folder", out, inputs)
        _plan_quarantine(quarantine_path, quarantine)
    if summary_path is not None:
        _outside(summary_path, "summary file", out, inputs)
        _writable(summary_path, "summary file")
        if _same(summary_path, audit_path):
            raise RunError(f"summary file {summary_json} must not be the audit file")
    if mapping_out is not None and dry_run:
        raise RunError("--dry-run writes no crosswalk; leave out --mapping-out")
    if quarantine is not None and dry_run:
        raise RunError("--dry-run copies nothing aside; leave out --quarantine")
    mapping_path, earlier = _plan_mapping_out(
        mapping_out, out, inputs, audit_path, summary_path, key
    )
    if quarantine_path is not None:  # its index is the only key to its copies' names
        for what, path in (
            ("audit file", audit_path),
            ("summary file", summary_path),
            ("crosswalk", mapping_path),
        ):
            if path is not None and _contains(quarantine_path, path):
                raise RunError(f"{what} {path} must not be inside the quarantine folder")
        if key_file is not None and _contains(quarantine_path, _resolve(key_file, "key file")):
            # (whoever reviews the files set aside would get it with them)
            raise RunError(
                f"key file {key_file} must not be inside the quarantine folder: it is handed "
                "to whoever reviews the files set aside; keep the key elsewhere"
            )
    subjects = _plan_mapping_in(mapping_in, compiled)
    return RunPlan(
        tuple(inputs),
        output,
        audit_path,
        compiled,
        key,
        layout,
        jobs=jobs or default_jobs(),
        quarantine=quarantine_path,
        summary_json=summary_path,
        allow_rejected=allow_rejected,
        stream=stream,
        fsync=fsync,
        mapping_out=mapping_path,
        subjects=subjects,
        earlier_mapping=frozenset(earlier),
        dry_run=dry_run,
        leak_check=leak_check,
        scheduler=scheduler,
    )


def _plan_mapping_out(
    mapping_out: Path | None,
    out: Path,
    inputs: list[Path],
    audit_path: Path,
    summary_path: Path | None,
    key: Key,
) -> tuple[Path | None, set[tuple[str, str, str]]]:
    """Check where the crosswalk goes (it holds identity) and read the rows it already has."""
    if mapping_out is None:
        return None, set()
    path = _resolve(mapping_out, "crosswalk")
    if _contains(out, path):
        raise RunError(
            f"crosswalk {mapping_out} must not be inside the output folder: it holds identity"
        )
    _outside(path, "crosswalk", out, inputs)
    if _same(path, audit_path):
        raise RunError(f"crosswalk {mapping_out} must not be the audit file")
    if summary_path is not None and _same(path, summary_path):
        raise RunError(f"crosswalk {mapping_out} must not be the summary file")
    _writable(path, "crosswalk")
    try:
        earlier = read_crosswalk(path) if path.exists() else set()
    except CrosswalkError as exc:
        raise RunError(str(exc)) from None
    foreign = foreign_rows(earlier, key)
    if foreign:
        # (one table of two keys' pseudonyms, which nothing would tell apart afterwards)
        without = " (no key was given: a random one)" if key.origin == "random" else ""
        raise RunError(
            f"crosswalk {mapping_out} holds UIDs another key replaced ({foreign} rows): this "
            f"run's key{without} would add rows of its own beside them; give the earlier run's "
            "key, or another --mapping-out file"
        )
    return path, earlier


def _read_files(
    compiled: CompiledProfile,
    profile: str,
    options: tuple[str, ...],
    key_file: Path | None,
    mapping_in: Path | None,
    inputs: list[Path],
) -> list[tuple[str, Path]]:
    """The files a run reads, each with its role as a message names it: the key file, every
    profile file of the stack (those given, those they extend, the built-in ones), the
    --mapping-in table and the inputs given as files."""
    given: dict[Path, str] = {}
    for flag, ref in (*(("--option", o) for o in reversed(options)), ("--profile", profile)):
        with contextlib.suppress(OSError, RuntimeError):  # (a built-in name is no path)
            given[Path(ref).expanduser().resolve()] = flag
    files: list[tuple[str, Path]] = []
    if key_file is not None:
        files.append(("the key file (--key-file)", key_file))
    for layer in compiled.layers:
        flag = "" if layer.builtin else given.get(layer.path.resolve(), "")
        if flag == "--profile":
            files.append(("the profile file (--profile)", layer.path))
        elif flag:
            files.append(("an option file (--option)", layer.path))
        elif layer.builtin:
            files.append((f"the file of the built-in profile {layer.name}", layer.path))
        else:
            files.append(("a profile file that --profile or --option extends", layer.path))
    if mapping_in is not None:
        files.append(("the subject table (--mapping-in)", mapping_in))
    files.extend((f"input {given_input}", given_input) for given_input in inputs)
    return files


def _not_read(
    written: list[tuple[str, Path | None, Path | None]], read: list[tuple[str, Path]]
) -> None:
    """No file the run writes (the audit, the summary, the crosswalk) is one it reads: the
    audit would move the key (or a profile, or the subject table) aside as an earlier audit,
    the summary and the crosswalk would replace it. Compared by path, links followed, and as
    files (a hard link is the same file under another name)."""
    for option, given, path in written:
        if given is None or path is None:
            continue
        for role, other in read:
            try:
                other_path = other.resolve()
            except (RuntimeError, OSError):  # (a loop of links: not a file this run reads)
                continue
            if _same(path, other_path):
                if option == "audit file":  # (not given: <OUTPUT>.audit.csv)
                    raise RunError(
                        f"the audit file {given} (the default, <OUTPUT>.audit.csv) is {role}; "
                        "give --audit another name"
                    )
                raise RunError(f"{option} {given} is {role}; give it another name")


def _same(path: Path, other: Path) -> bool:
    """``path`` and ``other`` (both resolved) are one file: one path, or two names of one file
    (a hard link, a bind mount), which only a file that exists can be."""
    if path == other:
        return True
    try:
        return os.path.samefile(path, other)
    except OSError:  # (one of them is not there)
        return False


def _plan_quarantine(path: Path, given: Path) -> None:
    """The quarantine folder can be made and written, and its index appended to: found now,
    rather than at the first rejected input, after outputs were written."""
    if path.exists() and not path.is_dir():
        raise RunError(f"quarantine {given} exists and is not a folder")
    folder = _nearest_existing(path)
    if not folder.is_dir():
        raise RunError(f"quarantine {given}: cannot make it in {folder}, which is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RunError(f"quarantine {given}: cannot write in {folder}")
    index = path / INDEX
    if index.exists() and not index.is_file():  # (a link to a regular file is one)
        raise RunError(
            f"quarantine index {index} exists and is not a regular file; refusing to append to it"
        )
    if index.is_file() and not os.access(index, os.W_OK):  # (appended to, not replaced)
        raise RunError(f"quarantine index {index}: cannot write it")


def _plan_mapping_in(mapping_in: Path | None, compiled: CompiledProfile) -> dict[str, str] | None:
    if mapping_in is None:
        return None
    if compiled.pseudonym_rule(PATIENT_ID_TAG) is None:
        raise RunError(
            "--mapping-in needs a profile that gives Patient ID a pseudonym "
            "(e.g. --option patient-pseudonyms)"
        )
    if mapping_in.exists() and not mapping_in.is_file():  # (a FIFO would wait for a writer)
        raise RunError(
            f"--mapping-in {mapping_in} is not a regular file (a FIFO, a device or a socket)"
        )
    try:
        return read_subjects(mapping_in)
    except CrosswalkError as exc:
        raise RunError(str(exc)) from None


def _resolve(path: Path, what: str) -> Path:
    """``path`` made absolute, links followed; a loop of links is a usage error."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # (Python 3.11: RuntimeError for a loop of links)
        raise RunError(f"{what} {path} leads through a loop of symbolic links") from None


def summary_before_plan(summary_json: Path, output: Path, inputs: list[Path]) -> Path | None:
    """Where a run refused or stopped before its plan was made may write its --summary-json
    (so that a summary of an earlier run is not read as this run's result), or None. The plan
    did not get as far as to check it, and what is there may be why it was refused (the key
    file, a profile, an input): only a path outside the output tree and the inputs, where
    nothing is yet or where an earlier summary is."""
    try:
        path = summary_json.resolve()
        _outside(path, "summary file", output.resolve(), inputs)
    except (RunError, RuntimeError, OSError):  # (RuntimeError: a loop of links, Python 3.11)
        return None
    if not path.exists():
        return path
    return path if path.is_file() and is_summary(path) else None


def _write_summary(path: Path, report: Report) -> None:
    try:
        write_summary_json(path, report)
    except OSError as exc:
        report.summary_problem = f"cannot write the summary {path}: {exc.strerror}"


def _writable(path: Path, what: str) -> None:
    """A file ``path`` can be written: not a folder, and its nearest existing folder writable
    (checked before any file is touched, so that a run does not end in a failure to write it).
    What is there already must be a regular file (``path`` is resolved: a link to one is one):
    it is replaced by a rename, and a device or a FIFO in its place must not be (``--audit
    /dev/null`` run as root would replace the system's /dev/null with a regular file)."""
    if path.is_dir():
        raise RunError(f"{what} {path} is a folder")
    if path.exists() and not path.is_file():
        raise RunError(
            f"{what} {path} exists and is not a regular file (a device, a FIFO or a socket); "
            "refusing to replace it"
        )
    folder = _nearest_existing(path.parent)
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise RunError(f"{what} {path}: cannot write in {folder}")


def _nearest_existing(path: Path) -> Path:
    """``path``, or the nearest folder above it that exists (where it would be made)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _outside(path: Path, what: str, out: Path, inputs: list[Path]) -> None:
    """``path`` must be neither in the output tree (it is shared) nor in an input."""
    if _contains(out, path):
        raise RunError(f"{what} {path} must not be inside the output folder")
    for given in inputs:
        real = given.resolve()
        if path == real or (real.is_dir() and _contains(real, path)):
            raise RunError(f"{what} {path} must not be inside an input")


class AuditBroken(KeyboardInterrupt):
    """The audit cannot be written (a full disk): the run stops as if interrupted, since what
    it writes from then on would not be audited."""


class _Resume:
    """Which inputs an earlier run already did, and recording what this run does."""

    def __init__(self, plan: RunPlan, state: StateStore | _NoState) -> None:
        self.plan = plan
        self.state = state
        self._roots: dict[int, Path] = {}
        self.ids: dict[tuple[int, str], str] = {}
        # (no input to look up: not stat'ed again). A crosswalk needs the values of every input,
        # which only reading it again gives: with --mapping-out nothing counts as done (a run
        # killed before its crosswalk was written, or one without --mapping-out, recorded inputs
        # whose rows no crosswalk holds).
        self.nothing_done = plan.mapping_out is not None or not state.has_done()

    def input_key(self, source: Source) -> str:
        root = self._roots.get(source.root_index)
        if root is None:
            root = self._roots[source.root_index] = source.root.resolve()
        return input_id(self.plan.key, root, source.rel, resolved=True)

    def item(self, source: Source) -> Item:
        """The source itself, or its result when an earlier run already wrote it."""
        if source.skip_reason:
            return source
        if self.nothing_done:
            self.ids[source.sort_key] = self.input_key(source)
            return source
        try:
            st = os.stat(source.path)
        except OSError:
            return source  # the worker reports why
        ikey = self.input_key(source)
        self.ids[source.sort_key] = ikey
        stamp = input_fingerprint(self.plan.key, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        done = self.state.lookup(ikey, stamp)
        if done is None or not (self.plan.output / done.output).is_file():
            return source
        return FileResult(
            input=source.rel,
            root=str(source.root),
            status=Status.UNCHANGED,
            output=done.output,
            detail=UNCHANGED_DETAIL,
            methods=done.methods,
            method_codes=done.method_codes,
            sort_key=source.sort_key,
            size=st.st_size,
            counts=(done.private_kept, done.private_removed),
        )

    def record(self, result: FileResult) -> None:
        """Remember a file whose output is now in place (written, or found identical)."""
        ikey = self.ids.pop(result.sort_key, None)
        if ikey is None or not result.output:
            return
        if result.status not in (Status.WRITTEN, Status.SKIPPED):
            return
        self.state.record(
            ikey,
            input_fingerprint(self.plan.key, result.size, result.mtime_ns, result.ctime_ns),
            DoneRecord(
                result.output,
                result.methods,
                result.method_codes,
                result.private_kept,
                result.private_removed,
            ),
        )


class _NoState:
    """The resume state of a dry run: nothing was done before, and nothing is remembered."""

    def has_done(self) -> bool:
        return False

    def lookup(self, input_key: str, fingerprint: str) -> DoneRecord | None:
        return None

    def record(self, input_key: str, fingerprint: str, rec: DoneRecord) -> None:
        return None


def execute(
    plan: RunPlan,
    *,
    on_discovered: Callable[[int], None] | None = None,
    on_result: Callable[[FileResult], None] | None = None,
) -> Report:
    """Process every input file in sorted order; one bad file never stops the batch.

    Raises RunError when the output folder is locked by another run or its state cannot be used.
    On Ctrl-C the files being processed are finished, recorded and audited, and the report comes
    back with ``interrupted`` set.
    """
    report = Report(started=utc_now(), allow_rejected=plan.allow_rejected)
    clock = time.monotonic()
    cluster = None
    try:
        cluster = _connect(plan)  # before anything is touched: an unusable cluster is a usage error
        return _execute(plan, report, clock, cluster, on_discovered, on_result)
    except RunError as exc:
        # Refused before any file was processed (the output folder in use by another run, say):
        # the summary says so, exit code 2 and why, as after an interruption.
        report.error = str(exc)
        _finish(plan, report, clock)
        raise
    except KeyboardInterrupt:
        # Stopped before the files were processed (while the output folder was locked and its
        # state opened, say), or a second time after: the summary says so, with the counts so
        # far, so that a summary of an earlier run is not left looking like this run's result.
        report.interrupted = True
        _finish(plan, report, clock)
        raise
    finally:
        if cluster is not None:
            cluster.close()


def _finish(plan: RunPlan, report: Report, clock: float) -> None:
    """The run's times, and its summary written."""
    report.seconds = time.monotonic() - clock
    report.finished = utc_now()
    if plan.summary_json is not None:
        _write_summary(plan.summary_json, report)


def _connect(plan: RunPlan) -> ClusterPool | None:
    """With --scheduler: the connected cluster engine (ClusterPool imports Dask only here)."""
    if plan.scheduler is None:
        return None
    cluster = ClusterPool(job_spec(plan), plan.scheduler)
    try:
        cluster.connect(plan.inputs)
    except ClusterError as exc:
        raise RunError(str(exc)) from None
    return cluster


def job_spec(plan: RunPlan) -> JobSpec:
    """What a worker builds its job from, for ``plan``."""
    return JobSpec(
        plan.profile,
        plan.key,
        OutputPlan(plan.output, plan.layout, mirror_labels(list(plan.inputs)), fsync=plan.fsync),
        plan.stream,
        subjects=plan.subjects,
        collect_mapping=plan.mapping_out is not None,
        leak_check=plan.leak_check,
        dry_run=plan.dry_run,
    )


def _execute(
    plan: RunPlan,
    report: Report,
    clock: float,
    cluster: ClusterPool | None,
    on_discovered: Callable[[int], None] | None,
    on_result: Callable[[FileResult], None] | None,
) -> Report:
    # The audit is claimed first: a run refused because another run writes the same audit
    # file has then created nothing in the output folder.
    try:
        writer = AuditWriter(plan.audit, fsync=plan.fsync).open()
    except AuditInUse as exc:
        # Two runs on one output folder meet first at its default audit (claimed before the
        # lock): the problem to name is the folder in use, not the audit (a run given its own
        # --audit would be refused by the lock next). A dry run takes no lock: its audit it is.
        lock = OutputLock(plan.output)
        if not plan.dry_run and (
            plan.audit == default_audit_path(plan.output) or lock.held_by_another()
        ):
            raise RunError(lock.message()) from None
        raise RunError(str(exc)) from None
    except OSError as exc:
        raise RunError(f"cannot write the audit {plan.audit}: {exc.strerror}") from None
    try:
        return _execute_claimed(plan, report, clock, cluster, writer, on_discovered, on_result)
    finally:
        writer.abandon()  # (refused or failed before the audit was closed: no audit of it)


def _execute_claimed(
    plan: RunPlan,
    report: Report,
    clock: float,
    cluster: ClusterPool | None,
    writer: AuditWriter,
    on_discovered: Callable[[int], None] | None,
    on_result: Callable[[FileResult], None] | None,
) -> Report:
    if not plan.dry_run:
        try:
            plan.output.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"cannot create output folder {plan.output}: {exc.strerror}") from None
    labels = mirror_labels(list(plan.inputs))
    spec = job_spec(plan)
    digest = run_digest(plan.profile, plan.key, plan.layout.value, labels, plan.subjects)
    if plan.dry_run:  # no output folder, no lock, no state: nothing is written but the audit
        _run(plan, spec, _NoState(), writer, report, on_discovered, on_result, cluster)
        _finish(plan, report, clock)
        return report
    try:
        with OutputLock(plan.output):
            state = StateStore(plan.output, digest, durable=plan.fsync)
            if state.set_aside is not None:
                report.state_set_aside = str(state.set_aside)
            try:
                if not state.previous_run_clean():
                    report.swept = sweep_temp_files(plan.output)
                report.other_settings = state.has_other_settings()
                state.begin_run(naming_digest(plan.key, plan.layout.value))
                died = _run(plan, spec, state, writer, report, on_discovered, on_result, cluster)
                state.commit()
                if report.interrupted or died:
                    sweep_temp_files(plan.output)
                state.end_run("interrupted" if report.interrupted else "finished")
            finally:
                state.close()
                report.state_problem = state.problems()
    except (LockedError, StateError) as exc:
        raise RunError(str(exc)) from None
    _finish(plan, report, clock)
    return report


_TICK_WAIT_S = 0.1
"""How long :func:`_file_clock_mark` waits for the file system's clock to move (one tick of the
kernel's coarse clock is 1 to 10 ms; a file system whose times are coarser is not waited for)."""


def _file_clock_mark(folder: Path) -> int:
    """A time of the file system holding ``folder`` (nanoseconds) that files changed before the
    call are at or before and files linked after it are after. Files take their times from the
    kernel's coarse clock, a tick behind :func:`time.time_ns` and the same for all files of one
    tick: the mark is a new file's time, and the call returns once the clock has moved past it."""
    try:
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=folder)
    except OSError:
        return time.time_ns()
    try:
        mark = os.fstat(fd).st_ctime_ns
        deadline = time.monotonic() + _TICK_WAIT_S
        while time.monotonic() < deadline:
            os.utime(fd)
            if os.fstat(fd).st_ctime_ns > mark:
                break
            time.sleep(0.0005)
        return mark
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)


class _FirstInOrder:
    """With workers, two inputs whose outputs share a path race to it, and the first to link its
    file wins; ``--jobs 1`` gives it to the first in input order, and so must any N (the audit
    and the outputs are the same for any N). Settled here, as results are recorded in input
    order: an input that lost the race to a file written in this run by an input later in the
    order takes the path back (the later input's file, when not the same bytes, is removed and
    the earlier input done again), and the later input is then recorded as it would have been
    had it come second. A file there from before the run (not newer than :attr:`since`) is not
    one of this run's: those collisions stand."""

    def __init__(self, spec: JobSpec, sources: dict[tuple[int, str], Source]) -> None:
        self.spec = spec
        self.sources = sources
        self.since = 0 if spec.dry_run else _file_clock_mark(spec.plan.root)
        self.taken: dict[str, bool] = {}  # output path -> taken back from a later input: same bytes
        self.owned: set[str] = set()  # output paths written in this run, by input order
        self.job: Job | None = None

    def __call__(self, result: FileResult) -> FileResult:
        out = result.output
        if not out or self.spec.dry_run:
            return result
        if result.status is Status.WRITTEN:
            same = self.taken.get(out)
            if same is None:
                self.owned.add(out)
            elif same:  # the earlier input's output: these bytes
                restatus(result, Status.SKIPPED, IDENTICAL)
            else:  # replaced by the earlier input's output
                restatus(result, Status.FAILED, COLLISION_IN_RUN)
            return result
        lost = (result.status is Status.SKIPPED and result.detail == IDENTICAL) or (
            result.status is Status.FAILED and result.detail == COLLISION
        )
        if lost and result.status is Status.FAILED and out in self.owned:
            return restatus(result, Status.FAILED, COLLISION_IN_RUN)
        if not lost or out in self.owned or not self._this_run(out):
            return result
        self.owned.add(out)
        if result.status is Status.SKIPPED:  # the same bytes: this input's output is there
            self.taken[out] = True
            return restatus(result, Status.WRITTEN, "")
        self.taken[out] = False
        return self._again(result, out)

    def _this_run(self, out: str) -> bool:
        try:
            return (self.spec.plan.root / out).stat().st_ctime_ns > self.since
        except OSError:
            return False

    def _again(self, result: FileResult, out: str) -> FileResult:
        """The input of ``result`` done again, in this process, once the later input's file at
        ``out`` is removed (again if yet another later input's takes its place meanwhile)."""
        if self.job is None:
            self.job = self.spec.build()
        source = self.sources[result.sort_key]
        for _ in range(_TAKE_BACK):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.spec.plan.root / out)
            again = process_file(source, self.job)
            if not (again.status is Status.FAILED and again.detail == COLLISION):
                return again
            if not self._this_run(out):
                break
        return again


COLLISION_IN_RUN = (
    "output path already holds a different file, written by an earlier input of this run with "
    "the same SOP Instance UID (one instance in two files: exported twice, in two transfer "
    "syntaxes?); not overwritten"
)
"""The detail of a collision with an output of this run (see :class:`_FirstInOrder`)."""

_TAKE_BACK = 8
"""Attempts to take an output path back from later inputs that keep racing to it."""


def _run(
    plan: RunPlan,
    spec: JobSpec,
    state: StateStore | _NoState,
    writer: AuditWriter,
    report: Report,
    on_discovered: Callable[[int], None] | None,
    on_result: Callable[[FileResult], None] | None,
    cluster: ClusterPool | None = None,
) -> bool:
    """Process the files; True if a worker process died (temporary files may be left)."""
    resume = _Resume(plan, state)
    quarantine = Quarantine(plan.quarantine) if plan.quarantine is not None else None
    pool: OrderedPool | ClusterPool | None = cluster
    if pool is None and plan.jobs > 1:
        pool = OrderedPool(spec, plan.jobs)
    crosswalk: set[tuple[str, str, str]] = set()
    try:
        if pool is not None:
            pool.start()  # fork the workers before any thread (the progress bar's) exists
        try:
            sources: list[Source] = discover(list(plan.inputs), plan.output)
        except KeyboardInterrupt:
            # while the inputs are walked (a minute for a large tree): the run ends as one stopped
            # later does, with nothing processed (an audit of no file, a summary of no file)
            report.interrupted = True
            sources = []
        by_key = {s.sort_key: s for s in sources}
        if on_discovered:
            on_discovered(len(sources))
        items: Iterator[Item] = (resume.item(s) for s in sources)
        in_order = _FirstInOrder(spec, by_key)  # (one process: only to name collisions)

        def handle(result: FileResult) -> None:
            result = in_order(result)
            if result.status is Status.REJECTED and quarantine is not None:
                source = by_key[result.sort_key]
                stamp = quarantine_stamp(plan.key, result.size, result.mtime_ns)
                name = f"{resume.input_key(source)}-{stamp}"
                set_aside, note = quarantine.add(source.path, name, result, report.started)
                result.detail = f"{result.detail}; {note}"
                if not set_aside:  # (not for review: the run must not look fine)
                    report.quarantine_failed += 1
            if not audit.broken:
                try:
                    audit.write(result)
                except OSError as exc:
                    audit.broken = True
                    raise AuditBroken(
                        f"cannot write the audit {plan.audit}: {exc.strerror}; its rows so far "
                        "are kept beside it (.partial)"
                    ) from None
                resume.record(result)  # (not once the audit is broken: the next run audits it)
            report.add(result)
            if result.output and result.status in (Status.WRITTEN, Status.SKIPPED):
                crosswalk.update(result.mapping)
            result.mapping = []
            if on_result:
                on_result(result)

        # Local runs hold signals throughout but while waiting (see HeldInterrupts); a Dask
        # run, whose pool does not wait through the guard, only while a result is recorded.
        held_throughout = not isinstance(pool, ClusterPool)

        def record(result: FileResult) -> None:
            hold.holding = True
            handle(result)
            hold.holding = held_throughout
            hold.check()

        inline = InlineRun(spec.build()) if pool is None else None
        with writer as audit, HeldInterrupts() as hold:
            if audit.kept_partial is not None:
                report.kept_partial_audit = str(audit.kept_partial)
            hold.holding = held_throughout
            try:
                if inline is not None:
                    for result in inline.run(items, hold):
                        record(result)
                elif isinstance(pool, OrderedPool):
                    for result in pool.run(items, total=len(sources), hold=hold):
                        record(result)
                else:
                    assert pool is not None
                    for result in pool.run(items):
                        record(result)
            except KeyboardInterrupt as exc:
                report.interrupted = True
                report.stop_reason = str(exc)  # e.g. the Dask scheduler was lost
                report.audit_broken = isinstance(exc, AuditBroken)
                drain = inline.drain() if inline is not None else pool.drain() if pool else ()
                try:
                    for result in drain:
                        record(result)
                except KeyboardInterrupt:  # a second Ctrl-C, held while a result was recorded
                    if isinstance(pool, OrderedPool):
                        pool.terminate()
        if writer.kept_earlier is not None:
            report.kept_earlier_audit = str(writer.kept_earlier)
    finally:
        if pool is not None:
            pool.close()
        if plan.mapping_out is not None:
            write_crosswalk(plan.mapping_out, crosswalk, set(plan.earlier_mapping))
    return pool is not None and pool.died
