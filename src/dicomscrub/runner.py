"""The batch run as a library call: validate, discover, process each file, audit, report.

The CLI is a thin layer over :func:`plan_run` and :func:`execute`; neither needs a terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dicomscrub.audit import AuditWriter
from dicomscrub.crosswalk import CrosswalkError, read_subjects, write_crosswalk
from dicomscrub.discover import Source, discover
from dicomscrub.pipeline import Scrubber
from dicomscrub.process import FileResult, Job, Status, process_file
from dicomscrub.profile.loader import load_profile
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.pseudonym import Key, Pseudonymizer
from dicomscrub.report import Report
from dicomscrub.writer import Layout, OutputPlan, mirror_labels

PATIENT_ID_TAG = 0x00100020


class RunError(Exception):
    """A problem with the command line or the file system found before any file is touched."""


@dataclass(frozen=True)
class RunPlan:
    inputs: tuple[Path, ...]
    output: Path
    audit: Path
    profile: CompiledProfile
    key: Key
    layout: Layout
    mapping_out: Path | None = None
    subjects: dict[str, str] | None = None
    dry_run: bool = False  # everything but writing outputs: the audit says what would be written
    leak_check: bool = True  # off only to measure its cost (benchmarks/check_overhead.py)


def _contains(outer: Path, inner: Path) -> bool:
    return inner == outer or outer in inner.parents


def default_audit_path(output: Path) -> Path:
    """``<OUT>.audit.csv`` beside the output folder (never inside it: the tree gets shared)."""
    out = output.resolve()
    return out.parent / f"{out.name}.audit.csv"


def plan_run(
    inputs: list[Path],
    output: Path,
    *,
    profile: str = "basic",
    options: tuple[str, ...] = (),
    audit: Path | None = None,
    key: Key,
    layout: Layout = Layout.HIERARCHY,
    mapping_out: Path | None = None,
    mapping_in: Path | None = None,
    dry_run: bool = False,
    leak_check: bool = True,
) -> RunPlan:
    """Validate everything (profile first); raise ProfileError or RunError before touching files."""
    compiled = load_profile(profile, options)
    if not inputs:
        raise RunError("give at least one input file or folder")
    out = output.resolve()
    for given in inputs:
        if not given.exists():
            raise RunError(f"input {given} does not exist")
        real = given.resolve()
        if real.is_dir() and _contains(real, out):
            raise RunError(f"output folder {output} is inside input folder {given}; refusing")
        if _contains(out, real):
            raise RunError(f"input {given} is inside output folder {output}; refusing")
    if out.exists() and not out.is_dir():
        raise RunError(f"output {output} exists and is not a folder")
    audit_path = (audit or default_audit_path(output)).resolve()
    if _contains(out, audit_path):
        raise RunError(f"audit file {audit_path} must not be inside the output folder")
    for given in inputs:
        if audit_path == given.resolve() or (
            given.is_dir() and _contains(given.resolve(), audit_path)
        ):
            raise RunError(f"audit file {audit_path} must not be inside an input")
    mapping_path: Path | None = None
    if mapping_out is not None and dry_run:
        raise RunError("--dry-run writes no crosswalk; leave out --mapping-out")
    if mapping_out is not None:
        mapping_path = mapping_out.resolve()
        if _contains(out, mapping_path):
            raise RunError(
                f"crosswalk {mapping_out} must not be inside the output folder: it holds identity"
            )
        if mapping_path.is_dir():
            raise RunError(f"crosswalk {mapping_out} is a folder")
    subjects: dict[str, str] | None = None
    if mapping_in is not None:
        if compiled.pseudonym_rule(PATIENT_ID_TAG) is None:
            raise RunError(
                "--mapping-in needs a profile that gives Patient ID a pseudonym "
                "(e.g. --option patient-pseudonyms)"
            )
        try:
            subjects = read_subjects(mapping_in)
        except CrosswalkError as exc:
            raise RunError(str(exc)) from None
    return RunPlan(
        tuple(inputs),
        output,
        audit_path,
        compiled,
        key,
        layout,
        mapping_path,
        subjects,
        dry_run=dry_run,
        leak_check=leak_check,
    )


def execute(
    plan: RunPlan,
    *,
    on_discovered: Callable[[int], None] | None = None,
    on_result: Callable[[FileResult], None] | None = None,
) -> Report:
    """Process every input file in sorted order; one bad file never stops the batch."""
    sources: list[Source] = discover(list(plan.inputs))
    if on_discovered:
        on_discovered(len(sources))
    if not plan.dry_run:
        plan.output.mkdir(parents=True, exist_ok=True)
    job = Job(
        Scrubber(
            plan.profile,
            Pseudonymizer(plan.key, plan.subjects),
            collect_mapping=plan.mapping_out is not None,
        ),
        OutputPlan(plan.output, plan.layout, mirror_labels(list(plan.inputs))),
        leak_check=plan.leak_check,
        dry_run=plan.dry_run,
    )
    report = Report()
    crosswalk: set[tuple[str, str, str]] = set()
    try:
        with AuditWriter(plan.audit) as audit:
            for source in sources:
                result = process_file(source, job)
                audit.write(result)
                report.add(result)
                if result.output and result.status in (Status.WRITTEN, Status.SKIPPED):
                    crosswalk.update(result.mapping)
                result.mapping = []
                if on_result:
                    on_result(result)
    finally:
        if plan.mapping_out is not None:
            write_crosswalk(plan.mapping_out, crosswalk)
    return report
