"""Session fixtures of the end-to-end tests.

Inputs are copies in temporary trees: pydicom's bundled test files, a small synthetic series (with
an already de-identified MR) and two edge-case files; examples/incoming is used read-only. The CLI
runs once per fixture through click's CliRunner with a fixed key, and every test inspects the files
and the audit CSV that run left.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
import warnings
from pathlib import Path

import pytest
from e2e_support import (
    EXAMPLES_INCOMING,
    PYDICOM_TEST_FILES,
    Keys,
    Run,
    Synthetic,
    Tree,
    hash_tree,
    read_input,
    read_output,
    run_cli,
)
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _uid(name: str) -> str:
    return str(generate_uid(entropy_srcs=["dicomscrub-e2e", name]))


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    folder = tmp_path_factory.mktemp("keys")
    secret_a = hashlib.sha256(b"dicomscrub e2e key A").digest()
    secret_b = hashlib.sha256(b"dicomscrub e2e key B").digest()
    (folder / "a.key").write_bytes(secret_a)
    (folder / "a-copy.key").write_bytes(secret_a)
    (folder / "b.key").write_bytes(secret_b)
    return Keys(folder / "a.key", folder / "a-copy.key", folder / "b.key")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    """A copy of all of pydicom's bundled test files (dicomdirtests/ included)."""
    assert PYDICOM_TEST_FILES.is_dir(), PYDICOM_TEST_FILES
    root = tmp_path_factory.mktemp("corpus") / "test_files"
    shutil.copytree(PYDICOM_TEST_FILES, root)
    return Tree(root, hash_tree(root))


def _save(ds: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=True)


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Synthetic:
    """Three CT_small copies in one series (ct3 references ct1 and ct2) and an MR that an earlier
    tool already marked as de-identified."""
    root = tmp_path_factory.mktemp("synthetic") / "in"
    base = read_input(PYDICOM_TEST_FILES / "CT_small.dcm")
    assert base is not None
    sops = (_uid("ct1"), _uid("ct2"), _uid("ct3"))
    frame = _uid("frame-of-reference")
    for i, sop in enumerate(sops, start=1):
        ds = copy.deepcopy(base)
        ds.SOPInstanceUID = sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        ds.InstanceNumber = i
        ds.FrameOfReferenceUID = frame
        if i == 3:
            ref = Dataset()
            ref.ReferencedSOPClassUID = CT_IMAGE_STORAGE
            ref.ReferencedSOPInstanceUID = sops[0]
            src = Dataset()
            src.ReferencedSOPClassUID = CT_IMAGE_STORAGE
            src.ReferencedSOPInstanceUID = sops[1]
            ds.ReferencedImageSequence = Sequence([ref])
            ds.SourceImageSequence = Sequence([src])
        _save(ds, root / "series" / f"ct{i}.dcm")

    mr = read_input(PYDICOM_TEST_FILES / "MR_small.dcm")
    assert mr is not None
    mr.SOPInstanceUID = _uid("predeid")
    mr.file_meta.MediaStorageSOPInstanceUID = mr.SOPInstanceUID
    mr.PatientIdentityRemoved = "YES"
    mr.DeidentificationMethod = "Earlier tool v1"
    mr.DeidentificationMethodCodeSequence = Sequence(
        [_code_item("113100", "Basic Application Confidentiality Profile (Earlier tool v1)")]
    )
    _save(mr, root / "predeid" / "mr.dcm")
    return Synthetic(
        root,
        hash_tree(root),
        sops,
        frame,
        str(base.StudyInstanceUID),
        str(base.SeriesInstanceUID),
    )


@pytest.fixture(scope="session")
def edge_cases(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    """Two CT_small copies. odd.dcm has elements in the odd groups 0003 and 0007, which PS3.5
    7.8.1 forbids (neither standard nor private), at the top level and inside a kept sequence item.
    nested_private.dcm has a private block inside an item of Other Patient IDs Sequence, which
    basic removes (X)."""
    root = tmp_path_factory.mktemp("edge-cases") / "in"
    nested = read_input(PYDICOM_TEST_FILES / "CT_small.dcm")
    assert nested is not None
    nested.SOPInstanceUID = _uid("nested-private")
    nested.file_meta.MediaStorageSOPInstanceUID = nested.SOPInstanceUID
    item = nested.OtherPatientIDsSequence[0]
    item.add_new(0x00110010, "LO", "ACME 1.0")
    item.add_new(0x00111001, "LO", "NESTED PRIVATE VALUE")
    _save(nested, root / "nested_private.dcm")

    ds = read_input(PYDICOM_TEST_FILES / "CT_small.dcm")
    assert ds is not None
    ds.SOPInstanceUID = _uid("odd-groups")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.add_new(0x00030010, "LO", "ACME 1.0")
    ds.add_new(0x00031001, "LO", "ODDGROUP^PATIENT")
    ds.add_new(0x00071000, "LO", "ODDGROUP-MRN-4711")
    region = _code_item("T-D3000", "Chest")
    region.CodingSchemeDesignator = "SRT"
    region.add_new(0x00031001, "LO", "ODDGROUP^NESTED")
    ds.AnatomicRegionSequence = Sequence([region])
    _save(ds, root / "odd.dcm")
    return Tree(root, hash_tree(root))


# ---- CLI runs ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def corpus_mirror_run(corpus: Tree, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The corpus, --layout mirror (one output path per input), audit named with --audit."""
    work = tmp_path_factory.mktemp("corpus-mirror")
    return run_cli(
        [corpus.root], work / "out", keys.a, "--layout", "mirror", audit=work / "audit.csv"
    )


@pytest.fixture(scope="session")
def corpus_hierarchy_run(corpus: Tree, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The corpus, default (hierarchy) layout, default audit path."""
    work = tmp_path_factory.mktemp("corpus-hierarchy")
    return run_cli([corpus.root], work / "out", keys.a)


@pytest.fixture(scope="session")
def synthetic_run(
    synthetic: Synthetic, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    work = tmp_path_factory.mktemp("synthetic-a")
    return run_cli([synthetic.root], work / "out", keys.a, "--layout", "mirror")


@pytest.fixture(scope="session")
def synthetic_rerun_same_key(
    synthetic: Synthetic, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    """A second, separate run with the same key (read from another file)."""
    work = tmp_path_factory.mktemp("synthetic-a-again")
    return run_cli([synthetic.root], work / "out", keys.a_copy, "--layout", "mirror")


@pytest.fixture(scope="session")
def synthetic_run_other_key(
    synthetic: Synthetic, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    work = tmp_path_factory.mktemp("synthetic-b")
    return run_cli([synthetic.root], work / "out", keys.b, "--layout", "mirror")


@pytest.fixture(scope="session")
def synthetic_safe_private_run(
    synthetic: Synthetic, keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    work = tmp_path_factory.mktemp("synthetic-safe-private")
    return run_cli(
        [synthetic.root],
        work / "out",
        keys.a,
        "--layout",
        "mirror",
        "--option",
        "retain-safe-private",
    )


@pytest.fixture(scope="session")
def edge_cases_run(edge_cases: Tree, keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Run:
    work = tmp_path_factory.mktemp("edge-cases-run")
    return run_cli([edge_cases.root], work / "out", keys.a, "--layout", "mirror")


@pytest.fixture(scope="session")
def examples_hashes_before() -> dict[str, str]:
    return hash_tree(EXAMPLES_INCOMING)


@pytest.fixture(scope="session")
def examples_run(
    examples_hashes_before: dict[str, str], keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    """The repository's sample export, used read-only, default layout."""
    work = tmp_path_factory.mktemp("examples")
    return run_cli([EXAMPLES_INCOMING], work / "deid", keys.a)


# ---- parsed data sets (read once per session) ----------------------------------------------------


@pytest.fixture(scope="session")
def corpus_inputs(corpus: Tree) -> dict[str, Dataset | None]:
    """Every corpus file as pydicom reads it with force=True (None: unreadable)."""
    return {rel: read_input(corpus.root / rel) for rel in corpus.hashes_before}


@pytest.fixture(scope="session")
def corpus_outputs(corpus_mirror_run: Run) -> dict[str, Dataset | None]:
    """Every written output of the mirror run, by input relative path, read without force
    (None: pydicom could not read it back)."""
    outputs: dict[str, Dataset | None] = {}
    for rel, path in corpus_mirror_run.written().items():
        try:
            outputs[rel] = read_output(path)
        except Exception:
            outputs[rel] = None
    return outputs


@pytest.fixture(scope="session")
def all_runs(
    corpus_mirror_run: Run,
    corpus_hierarchy_run: Run,
    synthetic_run: Run,
    synthetic_rerun_same_key: Run,
    synthetic_run_other_key: Run,
    synthetic_safe_private_run: Run,
    examples_run: Run,
    edge_cases_run: Run,
) -> list[Run]:
    return [
        edge_cases_run,
        corpus_mirror_run,
        corpus_hierarchy_run,
        synthetic_run,
        synthetic_rerun_same_key,
        synthetic_run_other_key,
        synthetic_safe_private_run,
        examples_run,
    ]
