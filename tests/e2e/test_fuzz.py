"""Fuzzed inputs generated from pydicom's bundled files never crash the batch, and damaged ones
never produce an output: truncated files, wrong lengths, garbage after the preamble; flipped bytes
give either a rejection or a complete, valid, de-identified file.

A file cut exactly between two top-level elements is a well-formed, shorter file. Such cuts are
rejected only where something says a part is missing (an image without Pixel Data); the random
cuts here avoid those boundaries, and the boundary cases are tested one by one.
"""

from __future__ import annotations

import csv
import random
import struct
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import RawDataElement

from corpus import bundled
from dicomscrub.process import Status
from dicomscrub.pseudonym import Key
from dicomscrub.runner import execute, plan_run
from dicomscrub.structure import LONG_VRS

SEEDS = ("CT_small.dcm", "MR_small_implicit.dcm", "JPEG2000.dcm", "rtplan.dcm", "ExplVR_BigEnd.dcm")
LONG = {vr.decode() for vr in LONG_VRS}


def element_starts(name: str) -> dict[int, int]:
    """Tag -> offset where each top-level element starts."""
    ds = pydicom.dcmread(bundled(name), force=True)
    implicit = ds.original_encoding[0]
    starts = {}
    for tag in ds.keys():  # noqa: SIM118
        elem = ds.get_item(tag)
        vr = getattr(elem, "VR", None)
        tell = getattr(elem, "value_tell", None) or getattr(elem, "file_tell", None)
        if tell is not None:
            starts[int(tag)] = tell - (12 if not implicit and vr in LONG else 8)
    return starts


def length_fields(data: bytes, name: str) -> list[tuple[int, str, int]]:
    """(offset of the length field, its struct format, the length) of top-level elements."""
    ds = pydicom.dcmread(bundled(name), force=True)
    implicit, little = ds.original_encoding
    e = "<" if little else ">"
    fields = []
    for tag in ds.keys():  # noqa: SIM118 - raw elements, not converted
        raw = ds.get_item(tag)
        if not isinstance(raw, RawDataElement) or raw.length in (0, 0xFFFFFFFF):
            continue
        if implicit or raw.VR in LONG:
            fields.append((raw.value_tell - 4, e + "L", raw.length))
        else:
            fields.append((raw.value_tell - 2, e + "H", raw.length))
    return fields


def mutations(rng: random.Random) -> dict[str, tuple[str, bytes]]:
    """name -> (kind, bytes)."""
    out: dict[str, tuple[str, bytes]] = {}
    for name in SEEDS:
        data = bundled(name).read_bytes()
        stem = name.removesuffix(".dcm")
        starts = element_starts(name)
        boundaries = set(starts.values()) | {len(data)}
        inside = [n for n in range(140, len(data) - 1) if n not in boundaries]
        for i, cut in enumerate(sorted(rng.sample(inside, 6))):
            out[f"trunc/{stem}-{i}.dcm"] = ("truncated", data[:cut])
        out[f"trunc/{stem}-last-byte.dcm"] = ("truncated", data[:-1])
        if 0x7FE00010 in starts:  # cut exactly before Pixel Data, and before the image attributes
            out[f"trunc/{stem}-before-pixels.dcm"] = ("truncated", data[: starts[0x7FE00010]])
            rows = min(start for tag, start in starts.items() if tag >= 0x00280000)
            out[f"trunc/{stem}-before-rows.dcm"] = ("truncated", data[:rows])
        fields = length_fields(data, name)
        for i, (pos, fmt, length) in enumerate(rng.sample(fields, min(6, len(fields)))):
            limit = 0xFFFF if fmt.endswith("H") else 0xFFFFFFF0
            for j, new in enumerate((length + 2, max(length - 2, 1), limit)):
                mutated = bytearray(data)
                struct.pack_into(fmt, mutated, pos, min(new, limit))
                out[f"length/{stem}-{i}-{j}.dcm"] = ("wrong length", bytes(mutated))
        garbage = rng.randbytes(2000)
        out[f"garbage/{stem}-after-preamble.dcm"] = ("garbage", b"\0" * 128 + b"DICM" + garbage)
        meta_end = 132 + 12 + struct.unpack("<L", data[140:144])[0]
        out[f"garbage/{stem}-after-meta.dcm"] = ("garbage", data[:meta_end] + garbage)
        for i in range(6):
            mutated = bytearray(data)
            for pos in rng.sample(range(132, min(len(data), 4000)), 3):
                mutated[pos] ^= 1 << rng.randrange(8)
            out[f"flip/{stem}-{i}.dcm"] = ("flipped", bytes(mutated))
    return out


@pytest.mark.parametrize("jobs", [1, 2])
def test_fuzzed_inputs_never_crash_and_damaged_ones_are_never_written(
    tmp_path: Path, key: Key, jobs: int
) -> None:
    inputs = tmp_path / "in"
    kinds = {}
    for rel, (kind, data) in mutations(random.Random(20240531)).items():
        path = inputs / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        kinds[rel] = kind
    before = {rel: (inputs / rel).read_bytes() for rel in kinds}
    out = tmp_path / "out"
    plan = plan_run([inputs], out, key=key, jobs=jobs)
    report = execute(plan)

    with plan.audit.open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["record"] == "file"]
    assert sorted(r["input"] for r in rows) == sorted(kinds)  # every input has a status
    assert report.total == len(kinds)
    for row in rows:
        assert row["status"] in {s.value for s in Status}
        if kinds[row["input"]] == "truncated":  # (cut after the DICM marker: DICOM, damaged)
            assert row["status"] == "rejected", row
        if kinds[row["input"]] in ("truncated", "wrong length", "garbage"):
            assert row["status"] in ("rejected", "skipped"), row
            assert row["output"] == "", row
            assert row["detail"], row
        assert "Traceback" not in row["detail"]
    written = {r["output"] for r in rows if r["status"] == "written"}
    assert written, "flipped bytes in values still give valid files"
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {p for p in on_disk if not p.startswith(".dicomscrub/")} == written
    for rel in written:  # complete, valid files only
        ds = pydicom.dcmread(out / rel)
        assert ds.PatientIdentityRemoved == "YES"
        assert "PixelData" not in ds or len(ds.PixelData) > 0
    assert {rel: (inputs / rel).read_bytes() for rel in kinds} == before  # inputs untouched


def test_a_file_cut_right_after_its_dicm_marker_or_file_meta_is_rejected(tmp_path: Path) -> None:
    """Not skipped as "not DICOM", and the run fails: the marker says the file is DICOM."""
    from click.testing import CliRunner

    from dicomscrub.cli import cli

    data = bundled("CT_small.dcm").read_bytes()
    meta_end = 144 + struct.unpack("<I", data[140:144])[0]
    inputs = tmp_path / "in"
    inputs.mkdir()
    cuts = {"after-dicm.dcm": data[:132], "after-meta.dcm": data[:meta_end], "dicm": b"DICM"}
    for name, cut in cuts.items():
        (inputs / name).write_bytes(cut)
    key = tmp_path / "site.key"
    key.write_bytes(bytes(range(32)))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(inputs), "-o", str(out), "--key-file", str(key)])
    assert result.exit_code == 1, result.output
    with (tmp_path / "out.audit.csv").open(encoding="utf-8", newline="") as fh:
        rows = {r["input"]: r for r in csv.DictReader(fh) if r["record"] == "file"}
    assert sorted(rows) == sorted(cuts)
    for row in rows.values():
        assert row["status"] == "rejected", row
        assert row["detail"].startswith("damaged input: file ends after its "), row
    explained = CliRunner().invoke(cli, ["explain", str(inputs / "after-meta.dcm")])
    assert explained.exit_code == 1
    assert "file ends after its file meta, with no data set (truncated)" in explained.output
