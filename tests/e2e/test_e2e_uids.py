"""UIDs: no original instance UID survives anywhere, references follow the new UIDs, and the
mapping depends only on the key."""

from __future__ import annotations

import re

import pytest
from e2e_support import (
    STANDARD_UID_ROOT,
    Run,
    Synthetic,
    is_non_instance_uid_tag,
    read_output,
    tag_text,
    uid_values,
    values,
    walk,
)
from pydicom.dataset import Dataset

NEW_UID = re.compile(r"^2\.25\.(0|[1-9][0-9]*)$")
UID_TOKEN = re.compile(r"[0-9]+(?:\.[0-9]+)*")
UID_BYTES = re.compile(rb"[0-9]+(?:\.[0-9]+)+")


def _dotted(tokens: list[str]) -> list[str]:
    """Tokens with at least two dots: numbers such as 0 or 1.5 are not taken for UIDs."""
    return [t for t in tokens if t.count(".") >= 2]


def _all_elements(ds: Dataset):  # type: ignore[no-untyped-def]
    yield from walk(ds)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        yield from walk(meta, "meta/")


@pytest.fixture(scope="module")
def original_uids(
    corpus_inputs: dict[str, Dataset | None], corpus_mirror_run: Run
) -> dict[str, str]:
    """UID -> where it was seen, for every instance UID of every written input (data set and
    file meta, at any depth); UIDs of the standard and class/syntax UIDs are left out."""
    found: dict[str, str] = {}
    class_uids: set[str] = set()
    for rel in corpus_mirror_run.written():
        ds = corpus_inputs[rel]
        assert ds is not None, rel
        for path, elem in _all_elements(ds):
            holds_uids = elem.VR == "UI" or (elem.VR == "UN" and elem.keyword.endswith("UID"))
            if not holds_uids:
                continue
            for uid in uid_values(elem):
                if uid.startswith(STANDARD_UID_ROOT):
                    continue
                if is_non_instance_uid_tag(elem):
                    class_uids.add(uid)
                else:
                    found.setdefault(uid, f"{rel} {path}{tag_text(int(elem.tag))}")
    # A value used both as a class UID and as an instance UID cannot be checked. In the bundled
    # files only the placeholder "0" (a test SR's Referenced SOP Class and Instance UID) is one.
    assert set(found) & class_uids <= {"0"}
    found = {uid: where for uid, where in found.items() if uid not in class_uids}
    assert len(found) > 150
    return found


def test_no_original_uid_survives_in_parsed_values_or_file_meta(
    original_uids: dict[str, str], corpus_outputs: dict[str, Dataset | None]
) -> None:
    """UI values are compared whole; text and byte values are searched for UID-shaped tokens."""
    survivors = []
    for rel, ds in corpus_outputs.items():
        assert ds is not None, rel
        for path, elem in _all_elements(ds):
            if elem.VR == "UI":
                found = uid_values(elem)
            elif isinstance(elem.value, bytes):
                found = _dotted(UID_TOKEN.findall(elem.value.decode("latin-1")))
            elif elem.VR != "SQ":
                found = _dotted(UID_TOKEN.findall("\\".join(str(v) for v in values(elem))))
            else:
                continue
            survivors += [
                (rel, path + tag_text(int(elem.tag)), original_uids[uid])
                for uid in found
                if uid in original_uids
            ]
    assert survivors == []


def test_no_original_uid_appears_anywhere_in_the_output_bytes(
    original_uids: dict[str, str], corpus_mirror_run: Run
) -> None:
    """Every maximal run of digits and dots in the raw file is compared with the originals, so a
    UID hidden in a value of any VR (or outside any element) is found too. UIDs such as "0" (a
    bundled SR has one) are too short to search as bytes; the parsed-value test covers them."""
    searchable = {uid for uid in original_uids if uid.count(".") >= 2}
    assert len(searchable) > 150
    hits = []
    for rel, path in corpus_mirror_run.written().items():
        tokens = {t.decode("ascii") for t in UID_BYTES.findall(path.read_bytes())}
        hits += [(rel, uid, original_uids[uid]) for uid in sorted(tokens & searchable)]
    assert hits == []


def test_references_between_bundled_files_point_to_the_new_sop_instance_uids(
    corpus_inputs: dict[str, Dataset | None], corpus_outputs: dict[str, Dataset | None]
) -> None:
    """Several bundled files reference others (SC_rgb_*.dcm -> SC_rgb_jpeg_gdcm.dcm ...)."""
    new_sop: dict[str, set[str]] = {}
    for rel, out in corpus_outputs.items():
        inp = corpus_inputs[rel]
        assert inp is not None and out is not None
        if "SOPInstanceUID" in inp:
            new_sop.setdefault(str(inp.SOPInstanceUID), set()).add(str(out.SOPInstanceUID))
    # every copy of one original instance gets the same new UID
    assert {k: v for k, v in new_sop.items() if len(v) != 1} == {}
    checked = 0
    for rel, out in corpus_outputs.items():
        inp = corpus_inputs[rel]
        assert inp is not None and out is not None
        out_refs = {
            path: elem.value
            for path, elem in walk(out)
            if elem.keyword == "ReferencedSOPInstanceUID"
        }
        for path, elem in walk(inp):
            if elem.keyword != "ReferencedSOPInstanceUID" or not path:
                continue
            target = str(elem.value)
            if target not in new_sop or path not in out_refs:
                continue
            assert out_refs[path] in new_sop[target], (rel, path)
            checked += 1
    assert checked >= 10


@pytest.fixture(scope="module")
def synthetic_outputs(synthetic_run: Run) -> dict[str, Dataset]:
    return {rel: read_output(path) for rel, path in synthetic_run.written().items()}


CT = ("series/ct1.dcm", "series/ct2.dcm", "series/ct3.dcm")


def test_synthetic_references_point_to_the_new_uids_of_the_referenced_outputs(
    synthetic: Synthetic, synthetic_outputs: dict[str, Dataset]
) -> None:
    ct1, ct2, ct3 = (synthetic_outputs[rel] for rel in CT)
    assert ct3.ReferencedImageSequence[0].ReferencedSOPInstanceUID == ct1.SOPInstanceUID
    assert ct3.SourceImageSequence[0].ReferencedSOPInstanceUID == ct2.SOPInstanceUID
    assert ct3.ReferencedImageSequence[0].ReferencedSOPClassUID == ct1.SOPClassUID
    assert {ct1.SOPInstanceUID, ct2.SOPInstanceUID} & set(synthetic.ct_sop) == set()


def test_study_series_and_frame_of_reference_stay_shared_across_the_series(
    synthetic: Synthetic, synthetic_outputs: dict[str, Dataset]
) -> None:
    outs = [synthetic_outputs[rel] for rel in CT]
    for keyword, original in (
        ("StudyInstanceUID", synthetic.study),
        ("SeriesInstanceUID", synthetic.series),
        ("FrameOfReferenceUID", synthetic.frame_of_reference),
    ):
        new = {str(ds[keyword].value) for ds in outs}
        assert len(new) == 1, keyword
        assert new != {original}, keyword
        assert NEW_UID.match(new.pop()), keyword
    assert len({str(ds.SOPInstanceUID) for ds in outs}) == 3


def test_media_storage_sop_instance_uid_equals_the_sop_instance_uid(
    corpus_outputs: dict[str, Dataset | None], synthetic_outputs: dict[str, Dataset]
) -> None:
    outputs = [*corpus_outputs.values(), *synthetic_outputs.values()]
    with_sop = [ds for ds in outputs if ds is not None and "SOPInstanceUID" in ds]
    assert len(with_sop) > 90
    for ds in with_sop:
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_new_uids_are_2_25_uids_of_at_most_64_characters(
    corpus_outputs: dict[str, Dataset | None], corpus_inputs: dict[str, Dataset | None]
) -> None:
    for rel, ds in corpus_outputs.items():
        assert ds is not None
        for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
            inp = corpus_inputs[rel]
            if inp is not None and inp.get(keyword):
                value = str(ds[keyword].value)
                assert NEW_UID.match(value) and len(value) <= 64, (rel, keyword, value)


def _uid_map(run: Run, synthetic: Synthetic) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for rel, path in run.written().items():
        ds = read_output(path)
        for keyword in (
            "SOPInstanceUID",
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "FrameOfReferenceUID",
        ):
            if keyword in ds:
                out[(rel, keyword)] = str(ds[keyword].value)
        out[(rel, "MediaStorageSOPInstanceUID")] = str(ds.file_meta.MediaStorageSOPInstanceUID)
    assert len(out) >= 4 * 4
    return out


def test_same_key_gives_the_same_new_uids_in_a_separate_run(
    synthetic: Synthetic, synthetic_run: Run, synthetic_rerun_same_key: Run
) -> None:
    assert synthetic_run.out != synthetic_rerun_same_key.out
    assert _uid_map(synthetic_run, synthetic) == _uid_map(synthetic_rerun_same_key, synthetic)


def test_a_different_key_gives_different_new_uids(
    synthetic: Synthetic, synthetic_run: Run, synthetic_run_other_key: Run
) -> None:
    first = _uid_map(synthetic_run, synthetic)
    other = _uid_map(synthetic_run_other_key, synthetic)
    assert first.keys() == other.keys()
    assert [k for k in first if first[k] == other[k]] == []
    assert set(first.values()) & set(other.values()) == set()


def test_the_same_key_maps_the_same_original_uid_identically_in_corpus_and_synthetic_runs(
    corpus_outputs: dict[str, Dataset | None], synthetic_outputs: dict[str, Dataset]
) -> None:
    """ct1..3 are copies of CT_small.dcm and keep its Study and Series UIDs: with the same key the
    corpus run and the synthetic run give them the same new Study and Series UIDs."""
    ct_small = corpus_outputs["CT_small.dcm"]
    assert ct_small is not None
    for rel in CT:
        assert synthetic_outputs[rel].StudyInstanceUID == ct_small.StudyInstanceUID
        assert synthetic_outputs[rel].SeriesInstanceUID == ct_small.SeriesInstanceUID
