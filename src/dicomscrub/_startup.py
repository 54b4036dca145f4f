"""Keep what dicomscrub never uses of pydicom's imports from being loaded at start-up.

``import pydicom`` loads ``pydicom.examples``, which walks pydicom's folder of test files some
thirteen times to find its example files, and, through its pixel handlers, ``pydicom.data.download``
(the downloader of pydicom's extra test files), which imports ``urllib.request`` with ``http`` and
``ssl``, and ``tqdm``. That is some 50 ms of every run's start on the 2-core machine of the
benchmark, paid before the first file is read, while one core waits: a run's start is not
shared among its workers.

Before pydicom is imported, each of these two modules gets a stand-in in ``sys.modules`` that loads
the real module the first time anything in it is used (an attribute read, or one of the functions
that ``pydicom.data.data_manager`` imports from ``download`` by name, called). Nothing changes for
code that uses them (``pydicom.examples.ct``, ``pydicom.data.get_testdata_file``): it only waits for
the module then, once. While pydicom is imported, ``importlib.metadata`` gets a stand-in too (see
:data:`METADATA`). When pydicom was imported before dicomscrub, nothing is done.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
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


class Deferred(types.ModuleType):
    """A stand-in for the module ``name``: the real one is imported on first use."""

    def __init__(self, name: str, functions: tuple[str, ...]) -> None:
        super().__init__(name, "(pydicom's module, loaded on first use by dicomscrub)")
        for function in functions:
            setattr(self, function, self._forward(function))

    def load(self) -> types.ModuleType:
        """The real module (imported now if it was not yet)."""
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return importlib.import_module(self.__name__)

    def _forward(self, function: str) -> Callable[..., Any]:
        def forward(*args: Any, **kwargs: Any) -> Any:
            return getattr(self.load(), function)(*args, **kwargs)

        forward.__name__ = forward.__qualname__ = function
        return forward

    def __getattr__(self, attr: str) -> Any:  # (only for what the stand-in does not hold)
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)  # e.g. __path__, __file__: asked by the import system
        return getattr(self.load(), attr)


def defer_unused_pydicom_modules() -> None:
    """Install the stand-ins, then import pydicom (see the module's docstring)."""
    if "pydicom" in sys.modules:
        return
    stand_ins: dict[str, types.ModuleType] = {}
    for name, functions in DEFERRED.items():
        stand_ins[name] = sys.modules.setdefault(name, Deferred(name, functions))
    metadata = None
    if METADATA not in sys.modules:
        metadata = sys.modules[METADATA] = Deferred(METADATA, ())
        metadata.version = installed_version  # type: ignore[attr-defined]
    try:
        import pydicom.data  # noqa: F401 (pydicom, then the package that holds ``download``)
    finally:
        if metadata is not None and sys.modules.get(METADATA) is metadata:
            del sys.modules[METADATA]  # (the next import of it imports it)

    # a module found in sys.modules is not made an attribute of its package, as an imported one is
    for name, module in stand_ins.items():
        package, _, child = name.rpartition(".")
        if not hasattr(sys.modules[package], child):
            setattr(sys.modules[package], child, module)


METADATA = "importlib.metadata"
"""pydicom's ``_version`` asks ``importlib.metadata.version("pydicom")`` for its version. Importing
``importlib.metadata`` (with ``email``, ``zipfile`` and more) took 30 to 60 ms of a start. While
pydicom is imported, a stand-in answers ``version`` from the distribution's own ``METADATA`` file,
found beside the package (as pip installs it), and hands anything else to the real module."""


def installed_version(name: str) -> str:
    """``importlib.metadata.version(name)`` for a package installed as pip installs it: the
    ``Version`` of the one ``<name>-<version>.dist-info`` folder beside the package; where there
    is not exactly one, or it cannot be read, the answer of ``importlib.metadata`` itself."""
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin is not None:
            site = Path(spec.origin).parent.parent
            found = list(site.glob(f"{name.replace('-', '_')}-*.dist-info"))
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
    return str(real.version(name))


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
