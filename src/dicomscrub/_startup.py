"""The ``dicomscrub`` command's start: what it never uses of pydicom's imports is not loaded.

``import pydicom`` loads ``pydicom.examples``, which walks pydicom's folder of test files some
thirteen times to find its example files, and, through its pixel handlers, ``pydicom.data.download``
(the downloader of pydicom's extra test files), which imports ``urllib.request`` with ``http`` and
``ssl``, and ``tqdm``; and its version comes from ``importlib.metadata``, which imports ``email``
and ``zipfile``. That is some 80 ms of every start on the 2-core machine of the benchmark, paid
before the first file is read, while the other core waits: a run's start is not shared among its
workers.

:func:`defer_unused_pydicom_modules`, called by the console script (:mod:`dicomscrub.__main__`)
before anything imports pydicom, puts a stand-in in ``sys.modules`` for each of the first two,
which imports the real module the first time anything in it is used (an attribute read, or one of
the functions that ``pydicom.data.data_manager`` imports from ``download`` by name, called), and,
only while pydicom is imported, one for ``importlib.metadata`` (see :data:`METADATA`). Nothing
changes for code that uses them: it waits for the module then, once. A program that imports
dicomscrub as a library gets pydicom as it is: only the command's own process (and the workers it
forks) has the stand-ins.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFERRED: dict[str, tuple[str, ...]] = {
    "pydicom.examples": (),
    # the names pydicom.data.data_manager imports from it when it is itself imported
    "pydicom.data.download": (
        "data_path_with_download",
        "calculate_file_hash",
        "get_cached_filehash",
        "get_url_map",
        "get_data_dir",
    ),
}

_SWAP = threading.Lock()
"""Held while a stand-in is taken out of ``sys.modules`` (two threads could both find it there)."""


class Deferred(types.ModuleType):
    """A stand-in for the module ``name``: the real one is imported on first use."""

    def __init__(self, name: str, functions: tuple[str, ...]) -> None:
        super().__init__(name, "(pydicom's module, loaded on first use by dicomscrub)")
        for function in functions:
            setattr(self, function, self._forward(function))

    def load(self) -> types.ModuleType:
        """The real module (imported now if it was not yet)."""
        with _SWAP:  # (not held while importing: the import system has its own locks)
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
        return importlib.import_module(self.__name__)

    def _forward(self, function: str) -> Callable[..., Any]:
        return _Forward(self, function)

    def __getattr__(self, attr: str) -> Any:  # (only for what the stand-in does not hold)
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)  # e.g. __path__, __file__: asked by the import system
        return getattr(self.load(), attr)


class _Forward:
    """A function of a deferred module, as the stand-in holds it: the call loads the module and
    calls the real function; pickled, it is the real function (by module and name)."""

    def __init__(self, module: Deferred, name: str) -> None:
        self._module = module
        self.__name__ = self.__qualname__ = name
        self.__module__ = module.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._module.load(), self.__name__)(*args, **kwargs)

    def __reduce__(self) -> tuple[Callable[[str, str], Any], tuple[str, str]]:
        return _real_function, (self.__module__, self.__name__)


def _real_function(module: str, name: str) -> Any:
    found = sys.modules.get(module)
    real = found.load() if isinstance(found, Deferred) else importlib.import_module(module)
    return getattr(real, name)


def defer_unused_pydicom_modules() -> None:
    """Install the stand-ins, then import pydicom (see the module's docstring). Nothing is done
    when pydicom was imported already."""
    if "pydicom" in sys.modules:
        return
    stand_ins: dict[str, types.ModuleType] = {}
    for name, functions in DEFERRED.items():
        stand_ins[name] = sys.modules.setdefault(name, Deferred(name, functions))
    metadata = None
    if METADATA not in sys.modules:
        metadata = Deferred(METADATA, ())
        metadata.version = installed_version  # type: ignore[attr-defined]
        sys.modules[METADATA] = metadata
        # (as an import would set it: ``import importlib.metadata`` then reads it there)
        importlib.metadata = metadata
    try:
        import pydicom.data  # noqa: F401 (pydicom, then the package that holds ``download``)
    finally:
        if metadata is not None:
            with _SWAP:  # (the next import of it imports it, unless one already did)
                if sys.modules.get(METADATA) is metadata:
                    del sys.modules[METADATA]
                if getattr(importlib, "metadata", None) is metadata:
                    del importlib.metadata

    # a module found in sys.modules is not made an attribute of its package, as an imported one is
    for name, module in stand_ins.items():
        package, _, child = name.rpartition(".")
        if not hasattr(sys.modules[package], child):
            setattr(sys.modules[package], child, module)


METADATA = "importlib.metadata"
"""pydicom's ``_version`` asks ``importlib.metadata.version("pydicom")`` for its version. Importing
``importlib.metadata`` (with ``email``, ``zipfile`` and more) took 30 to 60 ms of a start. While
pydicom is imported, a stand-in answers ``version`` from the distribution's own ``METADATA`` file,
found beside the package (as pip installs it), and hands anything else to the real module (which
it imports then: pydicom's optional plugins, imported with it, may ask for more)."""


def installed_version(distribution_name: str) -> str:
    """``importlib.metadata.version(distribution_name)`` for a package installed as pip installs
    it: the ``Version`` of the one ``<name>-<version>.dist-info`` folder beside the package of that
    name; where there is not exactly one, or it cannot be read, the answer of
    ``importlib.metadata`` itself."""
    name = distribution_name
    try:
        spec = importlib.util.find_spec(name) if name.isidentifier() else None
        if spec is not None and spec.origin is not None:
            site = Path(spec.origin).parent.parent
            found = list(site.glob(f"{name}-*.dist-info"))
            if len(found) == 1:
                with open(found[0] / "METADATA", encoding="utf-8") as fh:
                    for line in fh:
                        if not line.strip():
                            break  # (the end of the headers)
                        key, _, value = line.partition(":")
                        if key.strip().lower() == "version" and value.strip():
                            return value.strip()
    except (OSError, ValueError, ImportError):
        pass
    real = sys.modules.get(METADATA)
    if isinstance(real, Deferred):
        real = real.load()
    elif real is None:
        real = importlib.import_module(METADATA)
    return str(real.version(distribution_name))


def lazy_import(name: str) -> types.ModuleType:
    """The module ``name``, imported when one of its attributes is first read (the standard
    library's :class:`importlib.util.LazyLoader`); at once if it was imported already."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return importlib.import_module(name)  # (raises ModuleNotFoundError)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
