"""Longitudinal de-identification end to end: keys, keyed patient pseudonyms, Modified Dates,
crosswalks and byte-identical re-runs, on a synthetic tree of 3 patients x 2 studies built from
pydicom's bundled CT_small.dcm and MR_small.dcm (never downloaded).

Every run goes through the CLI (click's CliRunner); the tests look only at the files, the audit and
the crosswalk that the runs leave behind.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import itertools
import re
import shutil
import stat
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from e2e_support import Run, read_output, run_cli, tag_text, values, walk
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from dicomscrub.cli import cli
from dicomscrub.state import STATE_DIR

PSEUDONYM = re.compile(r"^ANON-[A-Z2-7]{16}$")
OPTIONS = ("--option", "patient-pseudonyms", "--option", "retain-long-modified-dates")
DEFAULT_SHIFT = (-3650, -1)
MODIFIED_CODE = "113107"
FULL_CODE = "113106"
BIRTH_DATE_PATH = "(0010,0030)"
TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"})


# ---- the synthetic tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class Patient:
    folder: str
    patient_id: str  # a 7-digit medical record number
    names: tuple[str, ...]  # spellings of one person, used in turn by the patient's files
    birth_date: str
    age: str


PATIENTS = (
    Patient("p0", "4711007", ("Doe^Jane", "DOE^JANE^^", "doe ^ jane "), "19290110", "095Y"),
    Patient("p1", "2345678", ("Roe^Richard",), "19350301", "089Y"),
    Patient("p2", "3456789", ("Smith^Anna", "SMITH^ANNA"), "19790515", "045Y"),
)
BY_FOLDER = {p.folder: p for p in PATIENTS}
FILES_PER_STUDY = (3, 2)


def _uid(*parts: object) -> str:
    return str(generate_uid(entropy_srcs=["dicomscrub-e2e-longitudinal", *map(str, parts)]))


def _day(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def _build_file(base: Dataset, patient: Patient, p: int, s: int, f: int) -> Dataset:
    ds = copy.deepcopy(base)
    ds.PatientID = patient.patient_id
    ds.PatientName = patient.names[(s * 3 + f) % len(patient.names)]
    ds.PatientBirthDate = patient.birth_date
    ds.PatientAge = patient.age
    ds.StudyInstanceUID = _uid(patient.patient_id, "study", s)
    ds.SeriesInstanceUID = _uid(patient.patient_id, "series", s, f % 2)
    ds.SOPInstanceUID = _uid(patient.patient_id, "sop", s, f)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    # study 1 of the last patient crosses a year boundary
    start = dt.date(2023, 11, 20) + dt.timedelta(days=37 * p + 61 * s)
    acquired = start + dt.timedelta(days=f)
    ds.StudyDate = _day(start)
    ds.SeriesDate = _day(start)
    ds.AcquisitionDate = _day(acquired)
    ds.ContentDate = _day(acquired + dt.timedelta(days=1))
    ds.AcquisitionDateTime = f"{_day(acquired)}101500.000000+0100"
    ds.InstanceCoercionDateTime = _day(start)[:4] if f == 0 else _day(start)[:6]  # partial DT
    calibrated = (start - dt.timedelta(days=60), start - dt.timedelta(days=30))
    ds.DateOfLastCalibration = f"{_day(calibrated[0])}-{_day(calibrated[1])}"  # a DA range
    drug = Dataset()
    drug.RadiopharmaceuticalStartDateTime = f"{_day(start)}093000-0500"
    drug.RadiopharmaceuticalStopDateTime = f"{_day(start + dt.timedelta(days=1))}110000.5+1030"
    code = Dataset()
    code.CodeValue = "C-111A1"
    code.CodingSchemeDesignator = "SRT"
    code.CodeMeaning = "F^18^[^18^F]"
    code.ExpiryDate = _day(start + dt.timedelta(days=90))  # a DA no rule lists, two levels down
    drug.RadionuclideCodeSequence = Sequence([code])
    ds.RadiopharmaceuticalInformationSequence = Sequence([drug])
    return ds


def _save(ds: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=True)


def _testdata(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    assert path is not None, name
    return Path(path)


def _read(path: Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dcmread(path)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """in/<patient>/<study>/<file>.dcm: 3 patients x 2 studies x 3 or 2 files, CT and MR."""
    root = tmp_path_factory.mktemp("longitudinal") / "in"
    bases = [_read(_testdata(name)) for name in ("CT_small.dcm", "MR_small.dcm")]
    for p, patient in enumerate(PATIENTS):
        for s, count in enumerate(FILES_PER_STUDY):
            for f in range(count):
                ds = _build_file(bases[f % 2], patient, p, s, f)
                _save(ds, root / patient.folder / f"s{s}" / f"f{f}.dcm")
    return root


@pytest.fixture(scope="module")
def reordered_tree(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same files under another root name, with folder and file names chosen so that the
    sorted walk visits patients, studies and files in the reverse order."""
    root = tmp_path_factory.mktemp("reordered") / "another-root-name"
    for path in sorted(tree.rglob("*.dcm")):
        patient, study, name = path.relative_to(tree).parts
        target = root / f"z{9 - int(patient[1])}" / f"y{9 - int(study[1])}" / f"x{9 - int(name[1])}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target.with_suffix(".dcm"))
    return root


def _inputs(tree: Path) -> dict[str, Dataset]:
    return {p.relative_to(tree).as_posix(): _read(p) for p in sorted(tree.rglob("*.dcm"))}


@pytest.fixture(scope="module")
def inputs(tree: Path) -> dict[str, Dataset]:
    return _inputs(tree)


# ---- keys and runs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFiles:
    a: Path
    a_copy: Path  # the bytes of ``a`` in another file
    b: Path
    a_text: str


def _invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=True)


def _run(inputs: list[Path], out: Path, key_file: Path, *extra: object) -> Run:
    return run_cli(inputs, out, key_file, *(str(e) for e in extra))


@pytest.fixture(scope="module")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    folder = tmp_path_factory.mktemp("longitudinal-keys")
    for name in ("a.key", "b.key"):
        result = _invoke("keygen", folder / name)
        assert result.exit_code == 0, result.output
    (folder / "a-copy.key").write_bytes((folder / "a.key").read_bytes())
    text = (folder / "a.key").read_text(encoding="ascii").strip()
    return KeyFiles(folder / "a.key", folder / "a-copy.key", folder / "b.key", text)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("longitudinal-runs")


@pytest.fixture(scope="module")
def run_a(tree: Path, key_files: KeyFiles, work: Path) -> Run:
    """Pseudonyms and Modified Dates with key A, with a crosswalk."""
    run = _run(
        [tree],
        work / "a" / "out",
        key_files.a,
        *OPTIONS,
        "--mapping-out",
        work / "a" / "crosswalk.csv",
    )
    assert run.exit_code == 0, run.output_text
    return run


@pytest.fixture(scope="module")
def run_a_again(tree: Path, key_files: KeyFiles, work: Path) -> Run:
    """A second, separate run: same tree, same options, key A read from another file."""
    run = _run([tree], work / "a-again" / "out", key_files.a_copy, *OPTIONS)
    assert run.exit_code == 0, run.output_text
    return run


@pytest.fixture(scope="module")
def run_a_reordered(reordered_tree: Path, key_files: KeyFiles, work: Path) -> Run:
    run = _run([reordered_tree], work / "a-reordered" / "out", key_files.a, *OPTIONS)
    assert run.exit_code == 0, run.output_text
    return run


@pytest.fixture(scope="module")
def run_a_reversed_inputs(tree: Path, key_files: KeyFiles, work: Path) -> Run:
    """The patient folders given as separate inputs, last patient first."""
    roots = [tree / p.folder for p in reversed(PATIENTS)]
    run = _run(roots, work / "a-reversed" / "out", key_files.a, *OPTIONS)
    assert run.exit_code == 0, run.output_text
    return run


@pytest.fixture(scope="module")
def run_b(tree: Path, key_files: KeyFiles, work: Path) -> Run:
    run = _run([tree], work / "b" / "out", key_files.b, *OPTIONS)
    assert run.exit_code == 0, run.output_text
    return run


@pytest.fixture(scope="module")
def run_full_dates(tree: Path, key_files: KeyFiles, work: Path) -> Run:
    run = _run(
        [tree],
        work / "full" / "out",
        key_files.a,
        "--option",
        "patient-pseudonyms",
        "--option",
        "retain-long-full-dates",
    )
    assert run.exit_code == 0, run.output_text
    return run


@pytest.fixture(scope="module")
def run_basic(tree: Path, key_files: KeyFiles, work: Path) -> Run:
    run = _run([tree], work / "basic" / "out", key_files.a)
    assert run.exit_code == 0, run.output_text
    return run


SITE_PROFILE = """\
name: longitudinal-site
extends: [basic, retain-long-modified-dates]
method:
  label: Example site longitudinal export v1
date_shift_days: [{low}, {high}]
age_cap_years: 89
rules:
  - {{keyword: PatientBirthDate, action: C}}
  - {{keyword: PatientAge, action: K}}
"""


@pytest.fixture(scope="module")
def run_site_profile(tree: Path, key_files: KeyFiles, work: Path) -> Run:
    """A user profile: shift of exactly +5 days, birth date shifted (C), ages capped at 89."""
    profile = work / "site.yaml"
    profile.write_text(SITE_PROFILE.format(low=5, high=5), encoding="utf-8")
    run = _run(
        [tree], work / "site" / "out", key_files.a, "-p", profile, "--option", "patient-pseudonyms"
    )
    assert run.exit_code == 0, run.output_text
    return run


SUBJECTS = "original,deidentified,kind\n4711007,SUBJ-001,PatientID\n2345678 , SUBJ-002 ,\n"


@pytest.fixture(scope="module")
def run_subjects(tree: Path, key_files: KeyFiles, work: Path) -> Run:
    """An imported crosswalk that names two of the three patients."""
    subjects = work / "subjects.csv"
    subjects.write_text(SUBJECTS, encoding="utf-8")
    run = _run([tree], work / "subjects" / "out", key_files.a, *OPTIONS, "--mapping-in", subjects)
    assert run.exit_code == 0, run.output_text
    return run


# ---- helpers over runs --------------------------------------------------------------------------


_OUTPUTS: dict[Path, dict[str, Dataset]] = {}


def outputs(run: Run) -> dict[str, Dataset]:
    """Input relative path -> the de-identified data set written for it (read once per run;
    callers must not change the data sets)."""
    if run.out not in _OUTPUTS:
        written = run.written()
        assert len(written) == sum(FILES_PER_STUDY) * len(PATIENTS), run.output_text
        _OUTPUTS[run.out] = {rel: read_output(path) for rel, path in written.items()}
    return _OUTPUTS[run.out]


def patient_of(rel: str) -> Patient:
    return BY_FOLDER[rel.split("/")[0]]


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and STATE_DIR not in p.relative_to(root).parts
    }


def dates(ds: Dataset) -> dict[str, tuple[str, str]]:
    """Every non-empty DA or DT value at any depth: path -> (VR, value)."""
    found: dict[str, tuple[str, str]] = {}
    for prefix, elem in walk(ds):
        if elem.VR in ("DA", "DT"):
            vals = [str(v).strip() for v in values(elem)]
            if vals:
                found[prefix + tag_text(int(elem.tag))] = (elem.VR, "\\".join(vals))
    return found


def parse_day(text: str) -> dt.date:
    return dt.datetime.strptime(text[:8], "%Y%m%d").date()


def full_days(vr: str, value: str) -> list[dt.date]:
    """The complete dates in a DA value (range ends included) or a DT value (none if partial)."""
    if vr == "DA":
        return [parse_day(part) for part in value.split("-") if part]
    return [parse_day(value)] if len(value) >= 8 else []


def code_values(ds: Dataset) -> list[str]:
    return [str(item.CodeValue) for item in ds.get("DeidentificationMethodCodeSequence", [])]


def crosswalk_rows(path: Path) -> tuple[list[str], list[tuple[str, str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], [(r[0], r[1], r[2]) for r in rows[1:]]


# ---- keys ---------------------------------------------------------------------------------------


def test_keygen_writes_a_new_owner_only_key_file(key_files: KeyFiles) -> None:
    for path in (key_files.a, key_files.b):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text(encoding="ascii").strip()
        assert len(text) >= 32
    assert key_files.a.read_bytes() != key_files.b.read_bytes()


def test_keygen_refuses_to_overwrite_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "site.key"
    path.write_text("an existing key that must survive\n", encoding="ascii")
    result = _invoke("keygen", path)
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert path.read_text(encoding="ascii") == "an existing key that must survive\n"


def test_keygen_does_not_print_the_key(tmp_path: Path) -> None:
    path = tmp_path / "new.key"
    result = _invoke("keygen", path)
    assert result.exit_code == 0
    assert path.read_text(encoding="ascii").strip() not in result.output


def test_key_never_appears_in_outputs_audit_crosswalk_or_messages(
    run_a: Run, key_files: KeyFiles
) -> None:
    text = key_files.a_text
    secrets = (text.encode(), text.upper().encode(), bytes.fromhex(text), text[:16].encode())
    crosswalk = run_a.out.parent / "crosswalk.csv"
    for name, data in [
        *tree_bytes(run_a.out).items(),
        ("audit", run_a.audit_path.read_bytes()),
        ("crosswalk", crosswalk.read_bytes()),
        ("stdout+stderr", run_a.output_text.encode()),
    ]:
        for secret in secrets:
            assert secret not in data, name


def test_a_too_short_key_file_is_refused_without_showing_it(tree: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_text("s3cr3t-tiny\n", encoding="ascii")
    result = _invoke("run", tree, "-o", tmp_path / "out", "--key-file", short, *OPTIONS)
    assert result.exit_code == 2
    assert "s3cr3t-tiny" not in result.output
    assert not (tmp_path / "out").exists()


# ---- patient pseudonyms -------------------------------------------------------------------------


def pseudonyms(run: Run) -> dict[str, tuple[set[str], set[str]]]:
    """Patient ID -> (Patient IDs, Patient's Names) found in that patient's outputs."""
    found: dict[str, tuple[set[str], set[str]]] = {}
    for rel, ds in outputs(run).items():
        ids, names = found.setdefault(patient_of(rel).patient_id, (set(), set()))
        ids.add(str(ds.PatientID))
        names.add(str(ds.PatientName))
    return found


def test_pseudonyms_have_the_documented_format(run_a: Run) -> None:
    for ids, names in pseudonyms(run_a).values():
        for value in ids | names:
            assert PSEUDONYM.match(value), value


def test_every_file_of_a_patient_gets_one_id_and_one_name_pseudonym(run_a: Run) -> None:
    found = pseudonyms(run_a)
    assert set(found) == {p.patient_id for p in PATIENTS}
    for patient_id, (ids, names) in found.items():
        assert len(ids) == 1, patient_id
        assert len(names) == 1, patient_id  # "Doe^Jane", "DOE^JANE^^", "doe ^ jane " are one


def test_name_variants_of_one_person_were_really_in_the_input(inputs: dict[str, Dataset]) -> None:
    spellings = {str(ds.PatientName) for rel, ds in inputs.items() if rel.startswith("p0/")}
    assert len(spellings) == 3


def test_different_patients_get_different_pseudonyms(run_a: Run) -> None:
    found = pseudonyms(run_a)
    ids = [next(iter(i)) for i, _ in found.values()]
    names = [next(iter(n)) for _, n in found.values()]
    assert len(set(ids)) == len(PATIENTS)
    assert len(set(names)) == len(PATIENTS)
    assert not set(ids) & set(names)  # a name pseudonym is not the ID pseudonym


def test_pseudonyms_are_stable_across_separate_runs_with_one_key(
    run_a: Run, run_a_again: Run
) -> None:
    assert pseudonyms(run_a) == pseudonyms(run_a_again)


def test_pseudonyms_differ_with_another_key(run_a: Run, run_b: Run) -> None:
    a, b = pseudonyms(run_a), pseudonyms(run_b)
    for patient in PATIENTS:
        assert not a[patient.patient_id][0] & b[patient.patient_id][0]
        assert not a[patient.patient_id][1] & b[patient.patient_id][1]


def test_no_original_patient_id_or_name_survives_in_any_text_value(run_a: Run) -> None:
    for rel, ds in outputs(run_a).items():
        text = " ".join(
            str(v).upper() for _, elem in walk(ds) if elem.VR in TEXT_VRS for v in values(elem)
        )
        patient = patient_of(rel)
        assert patient.patient_id not in text, rel
        for name in patient.names:
            for part in re.split(r"[\^ ]+", name.upper()):
                if len(part) >= 3:
                    assert not re.search(rf"\b{part}\b", text), (rel, part)


def test_output_folders_are_named_by_the_pseudonym(run_a: Run) -> None:
    top = {p.name for p in run_a.out.iterdir() if p.name != STATE_DIR}
    assert top == {next(iter(ids)) for ids, _ in pseudonyms(run_a).values()}


# ---- Modified Dates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateCheck:
    rel: str
    path: str
    vr: str
    before: str
    after: str


def date_checks(run: Run, inputs: dict[str, Dataset]) -> Iterator[DateCheck]:
    for rel, ds in outputs(run).items():
        before = dates(inputs[rel])
        for path, (vr, after) in dates(ds).items():
            assert path in before, f"{rel} {path}: a date the input did not have"
            yield DateCheck(rel, path, vr, before[path][1], after)


def offsets_by_patient(run: Run, inputs: dict[str, Dataset]) -> dict[str, dict[str, set[int]]]:
    """Patient ID -> study folder -> the day offsets seen between input and output dates."""
    found: dict[str, dict[str, set[int]]] = {}
    for check in date_checks(run, inputs):
        days_in, days_out = full_days(check.vr, check.before), full_days(check.vr, check.after)
        assert len(days_in) == len(days_out), check
        study = check.rel.split("/")[1]
        seen = found.setdefault(patient_of(check.rel).patient_id, {}).setdefault(study, set())
        seen.update((o - i).days for i, o in zip(days_in, days_out, strict=True))
    return found


def test_every_date_is_shifted_by_one_nonzero_offset_per_patient(
    run_a: Run, inputs: dict[str, Dataset]
) -> None:
    found = offsets_by_patient(run_a, inputs)
    assert set(found) == {p.patient_id for p in PATIENTS}
    per_patient = {}
    for patient_id, studies in found.items():
        assert set(studies) == {"s0", "s1"}, patient_id  # both studies of the patient
        offsets = set().union(*studies.values())
        assert len(offsets) == 1, (patient_id, studies)
        (offset,) = offsets
        assert offset != 0
        assert DEFAULT_SHIFT[0] <= offset <= DEFAULT_SHIFT[1]
        per_patient[patient_id] = offset
    assert len(set(per_patient.values())) > 1  # per patient, not one shift for everybody


def test_intervals_between_every_pair_of_a_patients_dates_are_exact(
    run_a: Run, inputs: dict[str, Dataset]
) -> None:
    pairs: dict[str, list[tuple[dt.date, dt.date, str]]] = {}
    for check in date_checks(run_a, inputs):
        where = f"{check.rel} {check.path}"
        for i, o in zip(
            full_days(check.vr, check.before), full_days(check.vr, check.after), strict=True
        ):
            pairs.setdefault(patient_of(check.rel).patient_id, []).append((i, o, where))
    compared = 0
    for patient_id, days in pairs.items():
        assert len({where.split()[0].split("/")[1] for _, _, where in days}) == 2, patient_id
        for (i1, o1, w1), (i2, o2, w2) in itertools.combinations(days, 2):
            assert (i2 - i1) == (o2 - o1), (patient_id, w1, w2)
            compared += 1
    assert compared > 1000


def test_no_date_is_dropped_except_the_birth_date(run_a: Run, inputs: dict[str, Dataset]) -> None:
    for rel, ds in outputs(run_a).items():
        assert set(dates(ds)) == set(dates(inputs[rel])) - {BIRTH_DATE_PATH}, rel


def test_dates_inside_sequences_are_shifted_at_every_depth(
    run_a: Run, inputs: dict[str, Dataset]
) -> None:
    nested = [c for c in date_checks(run_a, inputs) if "/" in c.path]
    paths = {c.path for c in nested}
    assert "(0054,0016)[0]/(0018,1078)" in paths
    assert "(0054,0016)[0]/(0018,1079)" in paths
    assert "(0054,0016)[0]/(0054,0300)[0]/(0014,1020)" in paths  # a DA no rule lists
    assert all(c.before != c.after for c in nested)


def test_dt_time_of_day_and_utc_offset_are_kept(run_a: Run, inputs: dict[str, Dataset]) -> None:
    suffixes = set()
    for check in date_checks(run_a, inputs):
        if check.vr == "DT" and len(check.before) > 8:
            assert check.after[8:] == check.before[8:], check
            assert check.after[:8] != check.before[:8], check
            suffixes.add(check.after[8:])
    assert {"101500.000000+0100", "093000-0500", "110000.5+1030"} <= suffixes


def test_partial_dt_keeps_its_precision_and_moves_with_the_patient(
    run_a: Run, inputs: dict[str, Dataset]
) -> None:
    offsets = {
        pid: next(iter(set().union(*s.values())))
        for pid, s in offsets_by_patient(run_a, inputs).items()
    }
    seen = set()
    for check in date_checks(run_a, inputs):
        if check.vr == "DT" and len(check.before) < 8:
            offset = dt.timedelta(days=offsets[patient_of(check.rel).patient_id])
            first = dt.date(int(check.before[:4]), int(check.before[4:6] or 1), 1)
            assert len(check.after) == len(check.before), check
            assert check.after == _day(first + offset)[: len(check.before)], check
            seen.add(len(check.before))
    assert seen == {4, 6}


def test_da_range_ends_are_both_shifted(run_a: Run, inputs: dict[str, Dataset]) -> None:
    ranges = [c for c in date_checks(run_a, inputs) if c.path == "(0018,1200)"]
    assert len(ranges) == len(inputs)
    for check in ranges:
        assert re.fullmatch(r"\d{8}-\d{8}", check.after), check


def test_birth_date_is_emptied_under_modified_dates(run_a: Run) -> None:
    for rel, ds in outputs(run_a).items():
        assert "PatientBirthDate" in ds, rel
        assert str(ds.PatientBirthDate) == "", rel


def test_modified_dates_are_declared_in_0028_0303_and_code_113107(run_a: Run) -> None:
    for rel, ds in outputs(run_a).items():
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED", rel
        assert MODIFIED_CODE in code_values(ds), rel
        assert FULL_CODE not in code_values(ds), rel
    assert all(MODIFIED_CODE in r["method_codes"].split("\\") for r in run_a.file_rows)


def test_time_values_are_kept_under_modified_dates(run_a: Run, inputs: dict[str, Dataset]) -> None:
    for rel, ds in outputs(run_a).items():
        assert ds.StudyTime == inputs[rel].StudyTime, rel


def test_full_dates_option_keeps_every_date(
    run_full_dates: Run, inputs: dict[str, Dataset]
) -> None:
    checks = list(date_checks(run_full_dates, inputs))
    assert any("/" in c.path for c in checks)
    for check in checks:
        assert check.after == check.before, check
    for rel, ds in outputs(run_full_dates).items():
        assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED", rel
        assert FULL_CODE in code_values(ds), rel
        assert MODIFIED_CODE not in code_values(ds), rel


def test_basic_profile_empties_or_dummies_dates_and_says_removed(run_basic: Run) -> None:
    for rel, ds in outputs(run_basic).items():
        assert "StudyDate" in ds, rel
        assert str(ds.StudyDate) == "", rel
        assert {v for _, v in dates(ds).values()} <= {"19000101", "19000101000000"}, rel
        assert ds.LongitudinalTemporalInformationModified == "REMOVED", rel


def test_site_profile_shift_of_exactly_five_days(
    run_site_profile: Run, inputs: dict[str, Dataset]
) -> None:
    checks = list(date_checks(run_site_profile, inputs))
    assert checks
    for check in checks:
        for i, o in zip(
            full_days(check.vr, check.before), full_days(check.vr, check.after), strict=True
        ):
            assert (o - i).days == 5, check


def test_site_profile_shifts_the_birth_date_with_the_other_dates(
    run_site_profile: Run, inputs: dict[str, Dataset]
) -> None:
    for rel, ds in outputs(run_site_profile).items():
        born = parse_day(str(inputs[rel].PatientBirthDate))
        assert str(ds.PatientBirthDate) == _day(born + dt.timedelta(days=5)), rel


def test_site_profile_caps_ages_over_89(run_site_profile: Run) -> None:
    expected = {"4711007": "090Y", "2345678": "089Y", "3456789": "045Y"}
    for rel, ds in outputs(run_site_profile).items():
        assert str(ds.PatientAge) == expected[patient_of(rel).patient_id], rel


def test_a_date_shift_range_of_only_zero_is_a_profile_error(
    tree: Path, key_files: KeyFiles, tmp_path: Path
) -> None:
    profile = tmp_path / "zero.yaml"
    profile.write_text(SITE_PROFILE.format(low=0, high=0), encoding="utf-8")
    result = _invoke("run", tree, "-o", tmp_path / "out", "--key-file", key_files.a, "-p", profile)
    assert result.exit_code == 2
    assert "date_shift_days" in result.output
    assert f"{profile}:" in result.output
    assert not (tmp_path / "out").exists()


# ---- crosswalk out ------------------------------------------------------------------------------


def test_mapping_out_is_an_owner_only_csv_with_the_documented_header(run_a: Run) -> None:
    path = run_a.out.parent / "crosswalk.csv"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    header, _ = crosswalk_rows(path)
    assert header == ["original", "deidentified", "kind"]
    assert not any(p.suffix == ".csv" for p in run_a.out.rglob("*"))


def test_mapping_out_maps_every_original_to_the_value_in_the_outputs(
    run_a: Run, inputs: dict[str, Dataset]
) -> None:
    expected = set()
    for rel, ds in outputs(run_a).items():
        for keyword in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            expected.add((str(inputs[rel][keyword].value), str(ds[keyword].value), keyword))
    _, rows = crosswalk_rows(run_a.out.parent / "crosswalk.csv")
    assert len(rows) == len(set(rows))
    assert set(rows) == expected
    kinds = {kind for _, _, kind in rows}
    assert kinds == {"PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"}
    assert len([r for r in rows if r[2] == "PatientID"]) == len(PATIENTS)


def test_mapping_out_inside_the_output_folder_is_refused(
    tree: Path, key_files: KeyFiles, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = _invoke(
        "run",
        tree,
        "-o",
        out,
        "--key-file",
        key_files.a,
        *OPTIONS,
        "--mapping-out",
        out / "crosswalk.csv",
    )
    assert result.exit_code == 2
    assert "inside the output folder" in result.output
    assert not out.exists()


def test_no_crosswalk_is_written_unless_asked_for(run_a_again: Run) -> None:
    around = list(run_a_again.out.parent.iterdir())
    assert sorted(p.name for p in around) == ["out", "out.audit.csv"]


def test_mapping_out_merges_rows_of_a_second_run(
    tree: Path, key_files: KeyFiles, tmp_path: Path
) -> None:
    crosswalk = tmp_path / "crosswalk.csv"
    first = _run(
        [tree / "p0"], tmp_path / "out1", key_files.a, *OPTIONS, "--mapping-out", crosswalk
    )
    assert first.exit_code == 0
    _, rows_first = crosswalk_rows(crosswalk)
    second = _run(
        [tree / "p1"], tmp_path / "out2", key_files.a, *OPTIONS, "--mapping-out", crosswalk
    )
    assert second.exit_code == 0
    _, rows_second = crosswalk_rows(crosswalk)
    assert set(rows_first) < set(rows_second)
    patients = {r[0] for r in rows_second if r[2] == "PatientID"}
    assert patients == {"4711007", "2345678"}
    assert len(rows_second) == len(set(rows_second))
    assert stat.S_IMODE(crosswalk.stat().st_mode) == 0o600


def test_mapping_out_of_one_run_serves_as_mapping_in_of_another(
    tree: Path, run_a: Run, key_files: KeyFiles, tmp_path: Path
) -> None:
    """The custodian's crosswalk, fed back with another key, reproduces the same pseudonyms."""
    run = _run(
        [tree],
        tmp_path / "out",
        key_files.b,
        *OPTIONS,
        "--mapping-in",
        run_a.out.parent / "crosswalk.csv",
    )
    assert run.exit_code == 0, run.output_text
    assert {pid: ids for pid, (ids, _) in pseudonyms(run).items()} == {
        pid: ids for pid, (ids, _) in pseudonyms(run_a).items()
    }


def test_mapping_out_inside_an_input_is_refused_and_the_input_is_untouched(
    tree: Path, key_files: KeyFiles, tmp_path: Path
) -> None:
    copy_of_input = tmp_path / "in"
    shutil.copytree(tree / "p2", copy_of_input)
    notes = copy_of_input / "notes.txt"
    notes.write_text("scanner notes, not DICOM\n", encoding="utf-8")
    result = _invoke(
        "run",
        copy_of_input,
        "-o",
        tmp_path / "out",
        "--key-file",
        key_files.a,
        *OPTIONS,
        "--mapping-out",
        notes,
    )
    assert notes.read_text(encoding="utf-8") == "scanner notes, not DICOM\n"
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_mapping_out_equal_to_the_audit_file_is_refused(
    tree: Path, key_files: KeyFiles, tmp_path: Path
) -> None:
    same = tmp_path / "run.csv"
    result = _invoke(
        "run",
        tree / "p2",
        "-o",
        tmp_path / "out",
        "--key-file",
        key_files.a,
        *OPTIONS,
        "--mapping-out",
        same,
        "--audit",
        same,
    )
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_an_unreadable_existing_crosswalk_is_a_usage_error_before_any_file_is_written(
    tree: Path, key_files: KeyFiles, tmp_path: Path
) -> None:
    crosswalk = tmp_path / "crosswalk.csv"
    crosswalk.write_bytes(b"\xff\xfe\x00 not a crosswalk")
    result = _invoke(
        "run",
        tree / "p2",
        "-o",
        tmp_path / "out",
        "--key-file",
        key_files.a,
        *OPTIONS,
        "--mapping-out",
        crosswalk,
    )
    assert not isinstance(result.exception, UnicodeDecodeError)
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()


# ---- crosswalk in -------------------------------------------------------------------------------


def test_imported_subject_ids_replace_patient_id_and_name(run_subjects: Run) -> None:
    found = pseudonyms(run_subjects)
    assert found["4711007"] == ({"SUBJ-001"}, {"SUBJ-001"})
    assert found["2345678"] == ({"SUBJ-002"}, {"SUBJ-002"})


def test_patients_missing_from_the_import_get_the_keyed_pseudonym(
    run_subjects: Run, run_a: Run
) -> None:
    assert pseudonyms(run_subjects)["3456789"] == pseudonyms(run_a)["3456789"]
    ids, names = pseudonyms(run_subjects)["3456789"]
    assert all(PSEUDONYM.match(v) for v in ids | names)


def test_imported_subjects_do_not_change_the_dates(run_subjects: Run, run_a: Run) -> None:
    a, s = outputs(run_a), outputs(run_subjects)
    for rel in a:
        assert dates(a[rel]) == dates(s[rel]), rel


@pytest.mark.parametrize("subject", ["4711007", "Doe^Jane", "doe jane"])
def test_an_imported_subject_id_that_is_the_patients_own_id_or_name_is_rejected(
    tree: Path, key_files: KeyFiles, tmp_path: Path, subject: str
) -> None:
    """A crosswalk whose subject ID for Patient ID 4711007 is that ID, or the patient's name (a
    table filled in by mistake): written as Patient ID and Patient's Name, each is the other
    attribute's original value, which no kept value excuses; the patient's files are rejected
    and the others written."""
    subjects = tmp_path / "subjects.csv"
    subjects.write_text(f"original,deidentified\n4711007,{subject}\n", encoding="utf-8")
    run = _run([tree], tmp_path / "out", key_files.a, *OPTIONS, "--mapping-in", subjects)
    assert run.exit_code == 1, run.output_text
    rows = run.file_rows
    for row in rows:
        rejected = row["input"].startswith(f"{PATIENTS[0].folder}/")
        assert row["status"] == ("rejected" if rejected else "written"), row
        if rejected:
            assert "leak check" in row["detail"], row


BAD_CROSSWALKS = {
    "duplicate original": (
        "original,deidentified,kind\n4711007,SUBJ-001,PatientID\n4711007,SUBJ-009,PatientID\n",
        3,
    ),
    "pseudonym used twice": (
        "original,deidentified,kind\n4711007,SUBJ-001,PatientID\n2345678,SUBJ-001,PatientID\n",
        3,
    ),
    "missing column": ("original,kind\n4711007,PatientID\n", 1),
    "wrong column count": (
        "original,deidentified,kind\n4711007,SUBJ-001,PatientID\n2345678,SUBJ-002\n",
        3,
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CROSSWALKS))
def test_a_malformed_crosswalk_is_refused_with_its_location_and_no_value(
    case: str, tree: Path, key_files: KeyFiles, tmp_path: Path
) -> None:
    text, line = BAD_CROSSWALKS[case]
    subjects = tmp_path / "subjects.csv"
    subjects.write_text(text, encoding="utf-8")
    result = _invoke(
        "run",
        tree,
        "-o",
        tmp_path / "out",
        "--key-file",
        key_files.a,
        *OPTIONS,
        "--mapping-in",
        subjects,
    )
    assert result.exit_code == 2, result.output
    assert f"{subjects}:{line}:" in result.output
    for value in ("4711007", "2345678", "SUBJ-001", "SUBJ-002", "SUBJ-009"):
        assert value not in result.output, value
    assert not (tmp_path / "out").exists()


def test_mapping_in_without_a_pseudonym_rule_is_refused(
    tree: Path, key_files: KeyFiles, tmp_path: Path
) -> None:
    subjects = tmp_path / "subjects.csv"
    subjects.write_text(SUBJECTS, encoding="utf-8")
    result = _invoke(
        "run",
        tree,
        "-o",
        tmp_path / "out",
        "--key-file",
        key_files.a,
        "--option",
        "retain-long-modified-dates",
        "--mapping-in",
        subjects,
    )
    assert result.exit_code == 2
    assert "pseudonym" in result.output
    assert not (tmp_path / "out").exists()


# ---- determinism --------------------------------------------------------------------------------


def test_two_runs_with_one_key_give_byte_identical_trees(run_a: Run, run_a_again: Run) -> None:
    a, again = tree_bytes(run_a.out), tree_bytes(run_a_again.out)
    assert len(a) == sum(FILES_PER_STUDY) * len(PATIENTS)
    assert sorted(a) == sorted(again)
    for rel, data in a.items():
        assert data == again[rel], rel


def test_another_root_name_and_walk_order_give_byte_identical_trees(
    run_a: Run, run_a_reordered: Run
) -> None:
    assert tree_bytes(run_a.out) == tree_bytes(run_a_reordered.out)


def test_inputs_given_in_reverse_order_give_byte_identical_trees(
    run_a: Run, run_a_reversed_inputs: Run
) -> None:
    assert tree_bytes(run_a.out) == tree_bytes(run_a_reversed_inputs.out)


def test_the_reordered_copy_was_really_walked_in_another_order(
    run_a: Run, run_a_reordered: Run
) -> None:
    order_a = [r["output"] for r in run_a.file_rows]
    order_b = [r["output"] for r in run_a_reordered.file_rows]
    assert sorted(order_a) == sorted(order_b)
    assert order_a != order_b


def test_another_key_gives_other_output_paths_and_bytes(run_a: Run, run_b: Run) -> None:
    a, b = tree_bytes(run_a.out), tree_bytes(run_b.out)
    assert not set(a) & set(b)
    assert not set(a.values()) & set(b.values())


def test_outputs_read_back_as_valid_part10_files(run_a: Run) -> None:
    for path in run_a.written().values():
        data = path.read_bytes()
        assert data[:128] == b"\0" * 128
        assert data[128:132] == b"DICM"
        ds = dcmread(io.BytesIO(data))
        assert PSEUDONYM.match(str(ds.PatientID))
