"""pydicom's examples and downloader are loaded only when used (dicomscrub._startup)."""

from __future__ import annotations

import json
import subprocess
import sys


def _run(code: str) -> dict[str, object]:
    """Run ``code`` in a new interpreter (sys.modules as a run starts) and read its JSON."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return dict(json.loads(out.splitlines()[-1]))


LOADED = """
import json, sys
def loaded():
    return {m: type(sys.modules.get(m)).__name__ for m in (
        "pydicom.examples", "pydicom.data.download", "urllib.request", "tqdm",
        "importlib.metadata", "email")}
"""


def test_a_run_starts_without_pydicoms_examples_and_downloader() -> None:
    got = _run(LOADED + "import dicomscrub.cli\nprint(json.dumps(loaded()))")
    assert got == {
        "pydicom.examples": "Deferred",
        "pydicom.data.download": "Deferred",
        "urllib.request": "NoneType",
        "tqdm": "NoneType",
        "importlib.metadata": "NoneType",
        "email": "NoneType",
    }


def test_both_work_when_used() -> None:
    got = _run(
        LOADED
        + """
import dicomscrub, pydicom
from pydicom.data import get_testdata_file
import pydicom.data.download as download
name = str(pydicom.examples.ct.PatientName)
test_file = get_testdata_file("CT_small.dcm")
data_dir = str(download.get_data_dir())
print(json.dumps({"name": name, "test_file": test_file, "data_dir": data_dir, **loaded()}))
"""
    )
    assert got["name"] == "CompressedSamples^CT1"
    assert str(got["test_file"]).endswith("CT_small.dcm")
    assert got["data_dir"]
    # the real modules have replaced the stand-ins
    assert got["pydicom.examples"] == got["pydicom.data.download"] == "module"


def test_nothing_is_done_when_pydicom_came_first() -> None:
    got = _run(LOADED + "import pydicom\nimport dicomscrub.cli\nprint(json.dumps(loaded()))")
    assert got["pydicom.examples"] == got["pydicom.data.download"] == "module"


def test_pydicoms_version_is_the_one_importlib_metadata_gives() -> None:
    got = _run(
        LOADED
        + """
import dicomscrub, pydicom
import importlib.metadata
print(json.dumps({"ours": pydicom.__version__, "info": list(pydicom.__version_info__),
                  "real": importlib.metadata.version("pydicom"), **loaded()}))
"""
    )
    assert got["ours"] == got["real"]
    assert got["info"] == str(got["real"]).split(".")[:3]
    assert got["importlib.metadata"] == "module"  # imported for real when asked for


def test_installed_version_beside_the_package_or_as_importlib_metadata_says() -> None:
    import importlib.metadata

    from dicomscrub._startup import installed_version

    assert installed_version("pydicom") == importlib.metadata.version("pydicom")
    # an editable install has no dist-info beside its package: importlib.metadata answers
    assert installed_version("dicomscrub") == importlib.metadata.version("dicomscrub")
