"""The command's start leaves pydicom's unused modules unloaded (dicomscrub._startup)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

DEFER = (
    "from dicomscrub._startup import defer_unused_pydicom_modules\ndefer_unused_pydicom_modules()\n"
)


def _run(code: str, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run ``code`` in a new interpreter (sys.modules as a run starts) and read its JSON."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    ).stdout
    return dict(json.loads(out.splitlines()[-1]))


LOADED = """
import json, sys
def loaded():
    return {m: type(sys.modules.get(m)).__name__ for m in (
        "pydicom.examples", "pydicom.data.download", "urllib.request", "tqdm",
        "importlib.metadata", "email")}
"""


PLUGINS = ("pylibjpeg", "openjpeg", "libjpeg", "rle", "gdcm", "jpeg_ls", "PIL")
"""pydicom's optional plugins, imported with it: some ask importlib.metadata for more than a
version (then it is imported for real, as it must be)."""


def test_the_command_starts_without_pydicoms_examples_downloader_and_metadata() -> None:
    got = _run(LOADED + DEFER + "import dicomscrub.cli\nprint(json.dumps(loaded()))")
    expected = {
        "pydicom.examples": "Deferred",
        "pydicom.data.download": "Deferred",
        "urllib.request": "NoneType",
        "tqdm": "NoneType",
        "importlib.metadata": "NoneType",
        "email": "NoneType",
    }
    if any(importlib.util.find_spec(name) for name in PLUGINS):
        for name in ("importlib.metadata", "email"):
            del got[name], expected[name]
    assert got == expected


def test_the_console_entry_defers_them() -> None:
    """``python -m dicomscrub`` (the console script's function): the real modules are never
    imported (-X importtime lists every module imported)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "dicomscrub", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "dicomscrub" in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "pydicom.dataset" in imported  # (the listing is what it seems)
    assert not imported & {"pydicom.examples", "pydicom.data.download", "urllib.request"}


def test_a_library_user_gets_pydicom_as_it_is() -> None:
    got = _run(LOADED + "import dicomscrub.cli, dicomscrub.runner\nprint(json.dumps(loaded()))")
    assert got["pydicom.examples"] == got["pydicom.data.download"] == "module"


def test_both_work_when_used() -> None:
    got = _run(
        LOADED
        + DEFER
        + """
import pickle, pydicom, pydicom.data.data_manager as manager
from pydicom.data import get_testdata_file
import pydicom.data.download as download
name = str(pydicom.examples.ct.PatientName)
test_file = get_testdata_file("CT_small.dcm")
data_dir = str(download.get_data_dir())
again = pickle.loads(pickle.dumps(manager.get_url_map))
print(json.dumps({"name": name, "test_file": test_file, "data_dir": data_dir,
                  "pickled": callable(again), **loaded()}))
"""
    )
    assert got["name"] == "CompressedSamples^CT1"
    assert str(got["test_file"]).endswith("CT_small.dcm")
    assert got["data_dir"]
    assert got["pickled"] is True
    # the real modules have replaced the stand-ins
    assert got["pydicom.examples"] == got["pydicom.data.download"] == "module"


def test_nothing_is_done_when_pydicom_came_first() -> None:
    got = _run(LOADED + "import pydicom\n" + DEFER + "print(json.dumps(loaded()))")
    assert got["pydicom.examples"] == got["pydicom.data.download"] == "module"


def test_pydicoms_version_is_the_one_importlib_metadata_gives() -> None:
    got = _run(
        LOADED
        + DEFER
        + """
import pydicom
import importlib.metadata
print(json.dumps({"ours": pydicom.__version__, "info": list(pydicom.__version_info__),
                  "real": importlib.metadata.version("pydicom"), **loaded()}))
"""
    )
    assert got["ours"] == got["real"]
    assert got["info"] == str(got["real"]).split(".")[:3]
    assert got["importlib.metadata"] == "module"  # imported for real when asked for


def test_a_plugin_that_uses_importlib_metadata_while_pydicom_is_imported(
    tmp_path: Path,
) -> None:
    """pydicom imports its optional plugins (jpeg_ls among them) while the stand-in for
    importlib.metadata is in place: each way of using that module works."""
    plugin = tmp_path / "jpeg_ls"
    plugin.mkdir()
    (plugin / "__init__.py").write_text(
        "import importlib.metadata\n"
        "from importlib.metadata import version\n"
        "A = importlib.metadata.version('pydicom')\n"
        "B = version(distribution_name='pydicom')\n"
        "C = sorted(importlib.metadata.packages_distributions())[:1]\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    got = _run(
        LOADED
        + DEFER
        + """
import importlib, importlib.metadata, jpeg_ls, pydicom
print(json.dumps({"a": jpeg_ls.A, "b": jpeg_ls.B, "real": importlib.metadata.version("pydicom"),
                  "attr": type(importlib.metadata).__name__, **loaded()}))
""",
        env=env,
    )
    assert got["a"] == got["b"] == got["real"]
    assert got["attr"] == "module"


def test_installed_version_beside_the_package_or_as_importlib_metadata_says() -> None:
    import importlib.metadata

    from dicomscrub._startup import installed_version

    assert installed_version("pydicom") == importlib.metadata.version("pydicom")
    # an editable install has no dist-info beside its package: importlib.metadata answers
    assert installed_version("dicomscrub") == importlib.metadata.version("dicomscrub")
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        installed_version("no-such-distribution-here")


def test_two_threads_loading_one_stand_in() -> None:
    """Both get the real module; the stand-in is taken out once (it used to raise KeyError when
    the second thread found it gone)."""
    from dicomscrub._startup import Deferred

    name = "json.tool"  # (a small module of the standard library not imported by the tests)
    was = sys.modules.pop(name, None)
    stand_in = Deferred(name, ())
    sys.modules[name] = stand_in
    results: list[object] = []
    barrier = threading.Barrier(8)

    def load() -> None:
        barrier.wait()
        try:
            results.append(stand_in.load())
        except Exception as exc:  # pragma: no cover (the failure this test looks for)
            results.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({id(r) for r in results}) == 1
        assert isinstance(results[0], type(sys))
        assert sys.modules[name] is results[0]
    finally:
        if was is not None:
            sys.modules[name] = was


SIGNAL_AT = """
import os, signal, sys, time
WHEN, SIGNUM = sys.argv[1], getattr(signal, sys.argv[2])
sys.argv = ["dicomscrub", "run", sys.argv[3], "-o", sys.argv[4]]

class SignalAtImport:  # the signal arrives while the command imports its modules
    def find_spec(self, name, path=None, target=None):
        if name == "pydicom" and WHEN == "imports":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), SIGNUM)
        if name == "pydicom" and WHEN == "swallowed":  # (where the import system ignores it)
            sys.meta_path.remove(self)
            try:
                os.kill(os.getpid(), SIGNUM)
                time.sleep(0.2)
            except KeyboardInterrupt:
                pass
        return None

sys.meta_path.insert(0, SignalAtImport())
if WHEN == "plan":  # ... or while the run is planned (pydicom then imported first)
    import dicomscrub.cli

    def plan_run(*args, **kwargs):
        os.kill(os.getpid(), SIGNUM)
        time.sleep(30)  # (the signal ends this)

    dicomscrub.cli.plan_run = plan_run
from dicomscrub.__main__ import main

main()
"""


@pytest.mark.parametrize("when", ["imports", "swallowed", "plan"])
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_command_starts_exits_130_with_one_line(
    tmp_path: Path, when: str, signame: str
) -> None:
    """Ctrl-C, or SIGTERM from a cron or CI timeout, before the run has started: the same line
    and exit code as later, no traceback (from inside an import), no "Aborted!" (click's); also
    where the import system would swallow the KeyboardInterrupt (the run went on: exit 0)."""
    (tmp_path / "in").mkdir()
    out = tmp_path / "out"
    args = [when, signame, str(tmp_path / "in"), str(out)]
    result = subprocess.run(
        [sys.executable, "-c", SIGNAL_AT, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 130, result.stderr
    assert result.stderr == "interrupted: finished files kept, no partial file left\n"
    assert not out.exists()


@pytest.mark.parametrize("earlier", ["file", "none", "fifo", "no summary"])
def test_a_run_stopped_while_planned_leaves_no_earlier_summary_as_its_own(
    tmp_path: Path, earlier: str
) -> None:
    """Stopped while it is planned, a run's --summary-json says it was interrupted (an earlier
    run's summary left in place would read as this run's result); a FIFO there is left alone,
    and so is a file that holds no summary (the plan did not get as far as to refuse it: the
    run's key, say)."""
    (tmp_path / "in").mkdir()
    summary = tmp_path / "summary.json"
    if earlier == "file":
        summary.write_text('{"exit_code": 0}', encoding="utf-8")
    elif earlier == "fifo":
        os.mkfifo(summary)
    elif earlier == "no summary":
        summary.write_text("6b" * 32, encoding="utf-8")
    script = SIGNAL_AT.replace("sys.argv[4]]", 'sys.argv[4], "--summary-json", sys.argv[5]]')
    assert script != SIGNAL_AT
    args = ["plan", "SIGINT", str(tmp_path / "in"), str(tmp_path / "out"), str(summary)]
    result = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 130, result.stderr
    assert result.stderr == "interrupted: finished files kept, no partial file left\n"
    if earlier == "fifo":
        assert summary.is_fifo()
        return
    if earlier == "no summary":
        assert summary.read_text(encoding="utf-8") == "6b" * 32
        return
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert (doc["interrupted"], doc["exit_code"], doc["files"]) == (True, 130, 0)


SIGNAL_IN = """
import os, signal, sys, time
import dicomscrub.cli
SIGNUM, TARGET = getattr(signal, sys.argv[1]), sys.argv[2]

def stopped(*args, **kwargs):  # the signal arrives while the command works
    os.kill(os.getpid(), SIGNUM)
    time.sleep(30)  # (the signal ends this)

setattr(dicomscrub.cli, TARGET, stopped)
sys.argv = ["dicomscrub", *sys.argv[3:]]
from dicomscrub.__main__ import main

main()
"""


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    ("command", "target"),
    [("check", "check_tree"), ("explain", "load_profile"), ("profiles", "load_profile")],
)
def test_a_signal_while_another_command_works_exits_130_not_as_a_verdict(
    tmp_path: Path, signame: str, command: str, target: str
) -> None:
    """``check`` stopped by Ctrl-C or a CI timeout (SIGTERM) exits 130 with one line: click's
    "Aborted!" with exit 1 would read as "findings"; the same for the other commands."""
    args = {
        "check": ["check", str(tmp_path)],
        "explain": ["explain", get_testdata_file("CT_small.dcm")],
        "profiles": ["profiles", "validate", str(tmp_path / "p.yaml")],
    }[command]
    (tmp_path / "p.yaml").write_text("name: p\nextends: basic\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", SIGNAL_IN, signame, target, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 130, result.stderr
    assert result.stderr == f"interrupted: {command} stopped\n"
    assert result.stdout == ""
