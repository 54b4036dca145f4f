"""Benchmark ``dicomscrub run`` against ``cp -r`` on the same corpus, rounds alternated.

Each round copies the corpus with ``cp -r`` and de-identifies it with ``dicomscrub run`` into a
fresh folder (order alternating between rounds, outputs deleted and ``sync`` run between commands,
nothing of that timed). It prints the medians: seconds, files/s, MB/s, peak resident memory per
process, the ratio to ``cp -r`` and the CPU time each command used, in user space and in the
kernel (all processes: ``cp -r``'s is nearly all kernel time, copying and creating files, which
``dicomscrub run`` pays as well); then the fastest round of each (``cp -r``'s time is mostly
the kernel's: its fastest round is the stricter yardstick).
Right before each timed command, the script touches and frees three times the corpus's size of
anonymous memory (untimed). On a virtual machine whose balloon driver reports free memory to the
host (Linux's free page reporting, ``virtio_balloon``), memory freed a few seconds earlier is given
back to the host, and the first touch of each page then costs a fault in the host: a ``cp -r`` that
ran right after another had deleted its copy took 0.65 s, and 1.0 to 1.6 s when a few seconds
passed in between (a ``dicomscrub run`` with its start-up, say), so which command ran first
decided the ratio. With the memory touched just before, both commands start with memory the host
backs, and ``cp -r`` takes the same time round after round (``--no-touch`` leaves that out).
``--memory-gb 2`` also generates one sparse multi-frame file of that size and reports the peak
resident memory of de-identifying it with ``--jobs 1``.

    python benchmarks/make_corpus.py /tmp/corpus
    python benchmarks/bench.py /tmp/corpus --rounds 5 --memory-gb 2

Before the rounds, the script compiles dicomscrub's modules to bytecode (``compileall``), as
``pip install`` does for an installed package: from a source checkout with
``PYTHONDONTWRITEBYTECODE`` set (some sandboxes and containers set it), every run would otherwise
compile each module changed since its bytecode was last written, some 0.1 s a run.

Peak memory is measured by running each command under this script's ``--measure`` mode, which
reports the largest ``ru_maxrss`` of the command and all its children (the worker processes).
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import mmap
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(cmd: list[str]) -> None:
    """``--measure``: run ``cmd``; print its wall time and the peak RSS of its process tree."""
    started = time.perf_counter()
    code = subprocess.call(cmd)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": usage.ru_maxrss / 1024,
                "user": usage.ru_utime,
                "sys": usage.ru_stime,
                "exit": code,
            }
        )
    )


def timed(cmd: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", "--", *cmd],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["exit"] not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed with exit code {result['exit']}")
    return result


def corpus_size(root: Path) -> tuple[int, int]:
    files = total = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            files += 1
            total += os.path.getsize(os.path.join(dirpath, name))
    return files, total


def clean(*paths: Path) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    subprocess.run(["sync"], check=True)


def touch_memory(nbytes: int) -> None:
    """Touch ``nbytes`` of anonymous memory (capped at half of what is available) and free it."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info = dict(line.split(":", 1) for line in fh)
        nbytes = min(nbytes, int(info["MemAvailable"].split()[0]) * 1024 // 2)
    except (OSError, KeyError, ValueError):
        nbytes = min(nbytes, 1 << 30)
    block = bytes(64 * mmap.PAGESIZE)
    with mmap.mmap(-1, nbytes) as mem:
        for offset in range(0, nbytes - len(block) + 1, len(block)):
            mem[offset : offset + len(block)] = block


def compile_package() -> None:
    """dicomscrub's modules compiled to bytecode, as an installed package's are."""
    spec = importlib.util.find_spec("dicomscrub")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("dicomscrub is not installed in this Python")
    for folder in spec.submodule_search_locations:
        compileall.compile_dir(folder, quiet=1)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        measure(sys.argv[sys.argv.index("--") + 1 :])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, help="dicomscrub --jobs (default: its default)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: beside the corpus)")
    parser.add_argument("--memory-gb", type=float, help="also check memory on a file this big")
    parser.add_argument("--fsync", action="store_true", help="pass --fsync to dicomscrub")
    parser.add_argument(
        "--no-touch", action="store_true", help="do not touch memory before each command"
    )
    args = parser.parse_args()

    if not args.corpus.is_dir():
        raise SystemExit(f"{args.corpus}: no such folder; make it with make_corpus.py")
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=args.work or args.corpus.parent))
    key = work / "bench.key"
    key.write_text("benchmark-key-0123456789abcdef\n", encoding="ascii")
    files, total = corpus_size(args.corpus)
    compile_package()
    scrub = [sys.executable, "-m", "dicomscrub", "run", str(args.corpus), "-q", "--key-file"]
    scrub.append(str(key))
    if args.jobs:
        scrub += ["--jobs", str(args.jobs)]
    if args.fsync:
        scrub.append("--fsync")
    cp_runs: list[dict[str, float]] = []
    ds_runs: list[dict[str, float]] = []
    print(
        f"corpus: {files} files, {total / 1e6:.0f} MB; {os.cpu_count()} cores; {args.rounds} rounds"
    )
    try:
        for i in range(args.rounds):
            order = ("cp", "dicomscrub") if i % 2 == 0 else ("dicomscrub", "cp")
            for which in order:
                target = work / f"{which}-{i}"
                clean(target)
                if not args.no_touch:
                    touch_memory(3 * total)
                if which == "cp":
                    cp_runs.append(timed(["cp", "-r", str(args.corpus), str(target)]))
                else:
                    ds_runs.append(timed([*scrub, "-o", str(target)]))
                clean(target, work / f"{target.name}.audit.csv")
            print(
                f"round {i + 1}: cp -r {cp_runs[-1]['seconds']:.2f} s, "
                f"dicomscrub {ds_runs[-1]['seconds']:.2f} s"
            )
        cp_s = statistics.median(r["seconds"] for r in cp_runs)
        ds_s = statistics.median(r["seconds"] for r in ds_runs)
        rows = [("cp -r", cp_s, cp_runs), ("dicomscrub run", ds_s, ds_runs)]
        print(
            f"\n{'':16}{'seconds':>9}{'files/s':>10}{'MB/s':>9}{'peak RSS/process':>18}{'× cp':>7}"
            f"{'CPU user':>10}{'CPU kernel':>12}"
        )
        for name, seconds, runs in rows:
            rss = statistics.median(r["peak_rss_mb"] for r in runs)
            user = statistics.median(r["user"] for r in runs)
            kernel = statistics.median(r["sys"] for r in runs)
            print(
                f"{name:16}{seconds:9.2f}{files / seconds:10.0f}{total / 1e6 / seconds:9.0f}"
                f"{rss:15.0f} MB{seconds / cp_s:7.2f}{user:8.2f} s{kernel:10.2f} s"
            )
        # cp -r's time is mostly the kernel's, and can move from round to round (ext4 without a
        # journal looking past the inodes the round before freed): its fastest round is the
        # stricter yardstick
        cp_best = min(r["seconds"] for r in cp_runs)
        ds_best = min(r["seconds"] for r in ds_runs)
        print(
            f"fastest rounds: cp -r {cp_best:.2f} s, dicomscrub run {ds_best:.2f} s: "
            f"{ds_best / cp_best:.2f} × (dicomscrub's median against cp's fastest: "
            f"{ds_s / cp_best:.2f} ×)"
        )
        if args.memory_gb:
            big = work / "big"
            subprocess.run(
                [
                    sys.executable,
                    str(HERE / "make_corpus.py"),
                    str(big),
                    "--big-gb",
                    str(args.memory_gb),
                ],
                check=True,
                capture_output=True,
            )
            size = (big / "BIG_MULTIFRAME.dcm").stat().st_size
            run = timed([*scrub[:4], str(big), *scrub[5:], "--jobs", "1", "-o", str(work / "bo")])
            print(
                f"\nmemory: one {size / 1e9:.2f} GB multi-frame file, --jobs 1: "
                f"{run['seconds']:.2f} s, peak RSS {run['peak_rss_mb']:.0f} MB"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
