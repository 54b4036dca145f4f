#!/usr/bin/env python3
"""What the leak check costs ``dicomscrub run``: throughput with and without it.

Builds a tree of ``--files`` DICOM files from pydicom's bundled CT_small.dcm and MR_small.dcm
(found locally, never downloaded; every copy gets its own patient, study, series and instance
UIDs), then runs the library call behind ``dicomscrub run`` (``plan_run`` + ``execute``, so process
start-up is not counted) over it ``--rounds`` times in each mode, alternating which mode goes first,
each time into a fresh output folder. It prints, for each mode, the median and the best wall-clock
time and the median CPU time of the process, and their ratios; then the ratio within each round
(both modes run back to back), and the throughput the check costs, 1 - 1/ratio with the median of
those (the measure of the target: under 10%), with a 95% bootstrap interval of that median. On a
shared machine the wall-clock figures move with other load from minute to minute; the ratio within
a round moves least. Each run's output is deleted and ``sync`` run after it, untimed.

The "without" mode uses the benchmark-only switch (``RunPlan.leak_check = False``, the hidden CLI
flag ``--benchmark-no-leak-check``); it exists only for this measurement.

With ``--tree DIR`` it runs over an existing tree instead (the corpus of ``make_corpus.py``, whose
CT files carry some 150 private values each). CPU time counts the worker processes too.

With ``--instructions`` it counts instructions instead of seconds, with ``valgrind
--tool=callgrind`` (which must be installed): a process de-identifies the tree once (``--dry-run``,
one process, nothing written) and again with a new job (new per-job caches, warm module caches),
and the count of a process that does it once is taken away; it prints instructions per file and
their ratio. Instruction counts do not move with the load of a shared machine, so small changes
can be told apart; keep the tree small (30 files take a minute or two).

Usage::

    python benchmarks/check_overhead.py [--files 300] [--rounds 30] [--workdir DIR]
    python benchmarks/check_overhead.py --tree /work/bench-corpus [--jobs 2] [--rounds 30]
    python benchmarks/check_overhead.py --tree DIR --instructions
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from dicomscrub.pseudonym import Key
from dicomscrub.runner import execute, plan_run

SOURCES = ("CT_small.dcm", "MR_small.dcm")


def build_tree(root: Path, files: int) -> None:
    bases = []
    for name in SOURCES:
        path = get_testdata_file(name, download=False)
        if path is None:
            sys.exit(f"pydicom's bundled {name} is not available")
        bases.append(pydicom.dcmread(path))
    for i in range(files):
        ds = copy.deepcopy(bases[i % len(bases)])
        patient = i // 20  # 20 files per patient, 10 per series
        ds.PatientName = f"PATIENT{patient:04d}^GIVEN{patient:04d}"
        ds.PatientID = f"MRN{patient:07d}"
        ds.StudyInstanceUID = generate_uid(entropy_srcs=["bench-study", str(patient)])
        ds.SeriesInstanceUID = generate_uid(entropy_srcs=["bench-series", str(i // 10)])
        ds.SOPInstanceUID = generate_uid(entropy_srcs=["bench-sop", str(i)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        folder = root / f"P{patient:04d}" / f"S{i // 10:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.save_as(folder / f"IM{i:05d}.dcm", enforce_file_format=True)


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended (the pool's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def one_run(
    tree: Path, work: Path, leak_check: bool, n: int, expected: int, jobs: int | None
) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds) of one run."""
    out = work / f"out-{'check' if leak_check else 'nocheck'}-{n}"
    plan = plan_run(
        [tree],
        out,
        audit=work / f"audit-{n}-{leak_check}.csv",
        key=Key(b"benchmark key, not a secret....", "file"),
        leak_check=leak_check,
        jobs=jobs,
    )
    started, cpu = time.perf_counter(), _cpu()
    report = execute(plan)
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    if report.counts["written"] != expected:
        sys.exit(f"unexpected outcome: {dict(report.counts)}")
    shutil.rmtree(out)
    os.sync()  # untimed: the next run does not share the disk with this one's write-back
    return seconds, cpu


def interval(ratios: list[float], draws: int = 10_000) -> tuple[float, float]:
    """A 95% bootstrap interval of the median of ``ratios`` (resampled with a fixed seed, so
    the same measurements print the same interval)."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(draws))
    return medians[int(0.025 * draws)], medians[int(0.975 * draws) - 1]


def dry_passes(tree: Path, leak_check: bool, passes: int) -> None:
    """De-identify ``tree`` ``passes`` times in this process, nothing written (what
    ``--instructions`` counts under valgrind)."""
    from dicomscrub.discover import Source
    from dicomscrub.process import Status, process_file
    from dicomscrub.runner import job_spec

    work = Path(tempfile.mkdtemp(prefix="dicomscrub-bench-"))
    try:
        plan = plan_run(
            [tree],
            work / "out",
            audit=work / "audit.csv",
            key=Key(b"benchmark key, not a secret....", "file"),
            dry_run=True,
            jobs=1,
            leak_check=leak_check,
        )
        files = sorted(p for p in tree.rglob("*") if p.is_file())
        sources = [Source(p, 0, tree, p.relative_to(tree).as_posix()) for p in files]
        for _ in range(passes):
            job = job_spec(plan).build()
            for source in sources:
                result = process_file(source, job)
                if result.status is not Status.WOULD_WRITE:
                    sys.exit(f"unexpected outcome for {source.rel}: {result.status.value}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def count_instructions(tree: Path) -> None:
    if shutil.which("valgrind") is None:
        sys.exit("--instructions needs valgrind")
    files = sum(1 for p in tree.rglob("*") if p.is_file())
    per_file: dict[bool, float] = {}
    for leak_check in (False, True):
        counts = []
        for passes in (1, 2):
            command = [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=/dev/null",
                sys.executable,
                __file__,
                "--dry-passes",
                str(passes),
                "--tree",
                str(tree),
                *([] if leak_check else ["--no-leak-check"]),
            ]
            env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same dict layouts in every run
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            found = re.search(r"Collected : (\d+)", done.stderr)
            if done.returncode != 0 or found is None:
                sys.exit(f"valgrind failed: {done.stderr[-500:]}")
            counts.append(int(found.group(1)))
        per_file[leak_check] = (counts[1] - counts[0]) / files
    without, with_check = per_file[False], per_file[True]
    print(f"{files} files, instructions per file of one pass (--dry-run, one process)")
    print(f"  without leak check: {without / 1e6:.3f} million")
    print(f"  with leak check   : {with_check / 1e6:.3f} million")
    print(f"  ratio: {with_check / without:.3f} (overhead {100 * (with_check / without - 1):.1f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--workdir", type=Path, help="default: a temporary folder")
    parser.add_argument("--tree", type=Path, help="an existing tree instead of a generated one")
    parser.add_argument("--jobs", type=int, help="dicomscrub --jobs (default: all cores)")
    parser.add_argument("--instructions", action="store_true", help="count with valgrind")
    parser.add_argument("--dry-passes", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-leak-check", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dry_passes is not None:
        dry_passes(args.tree, not args.no_leak_check, args.dry_passes)
        return
    if args.instructions:
        if args.tree is None:
            sys.exit("--instructions needs --tree")
        count_instructions(args.tree)
        return
    work = Path(tempfile.mkdtemp(prefix="dicomscrub-bench-", dir=args.workdir))
    try:
        if args.tree is not None:
            tree = args.tree
        else:
            tree = work / "in"
            build_tree(tree, args.files)
        plan = plan_run([tree], work / "probe", key=Key(b"benchmark key, not a secret....", "file"))
        expected = execute(plan).counts["written"]  # warm-up: imports, caches, page cache
        shutil.rmtree(work / "probe")
        if not expected:
            sys.exit("nothing to de-identify in the tree")
        files = expected
        wall: dict[bool, list[float]] = {True: [], False: []}
        cpu: dict[bool, list[float]] = {True: [], False: []}
        for n in range(args.rounds):
            order = (True, False) if n % 2 == 0 else (False, True)
            for mode in order:
                seconds, cpu_seconds = one_run(tree, work, mode, n, expected, args.jobs)
                wall[mode].append(seconds)
                cpu[mode].append(cpu_seconds)
        print(f"{files} files written, {args.rounds} rounds per mode")
        for label, mode in (("without leak check", False), ("with leak check", True)):
            median, best = statistics.median(wall[mode]), min(wall[mode])
            print(
                f"  {label:18}: wall median {median:.2f} s ({files / median:.0f} files/s), "
                f"best {best:.2f} s; CPU median {statistics.median(cpu[mode]):.2f} s"
            )
        ratios = {
            "wall median": statistics.median(wall[True]) / statistics.median(wall[False]),
            "wall best": min(wall[True]) / min(wall[False]),
            "CPU median": statistics.median(cpu[True]) / statistics.median(cpu[False]),
        }
        for name, ratio in ratios.items():
            print(f"  ratio, {name:11}: {ratio:.3f} (overhead {100 * (ratio - 1):.1f}%)")
        # each round runs both modes back to back: the ratio within a round is the least moved by
        # the load of a shared machine, which changes from minute to minute
        paired = sorted(w / o for w, o in zip(wall[True], wall[False], strict=True))
        ratio = statistics.median(paired)
        print(
            f"  ratio within a round, wall: median {ratio:.3f}, "
            f"from {paired[0]:.3f} to {paired[-1]:.3f} over {len(paired)} rounds"
        )
        low, high = interval(paired)
        print(
            f"  throughput lost to the leak check (1 - 1/ratio, median of rounds): "
            f"{100 * (1 - 1 / ratio):.1f}% "
            f"(95% bootstrap interval {100 * (1 - 1 / low):.1f} to {100 * (1 - 1 / high):.1f}%)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
