"""The data-set registry: one decorator, the built-in data sets, and an entry-point group.

A data set is a loader ``load(root, image_size, **options) -> ImageSet`` registered with what
the suite needs to know about it::

    @register_dataset("my_clinic", description="Our clinic's 2023 scans, benign vs malignant",
                      citation="Doe et al. (2024)", licence="internal use only",
                      root_env="MY_CLINIC_ROOT", check_root=lambda p: (p / "benign").is_dir())
    def load(root: Path, image_size: int, cache_dir=None, include_normal=False) -> ImageSet:
        ...

``root`` is the data set's folder, found (see :meth:`DatasetSpec.locate`) in this order:

1. the explicit ``data_root`` (``--data-root``): if given, the only place tried;
2. else the environment variable ``root_env`` (e.g. ``BUSI_ROOT``), if set: the only place tried;
3. else ``datasets/<name>`` (and ``datasets/<shared_dir>``) under the project;
4. else ``../shared/datasets/<shared_dir>`` next to the project.

"The project" is the current directory and, when the suite runs from a source checkout, that
checkout (see :func:`project_dirs`). When no place holds the data set, a
:class:`DatasetNotFoundError` (a ``FileNotFoundError``) names every place tried, why each
failed, and what to do. Generated data sets (``needs_root=False``) get ``root=None``.

The options a loader may take are those :func:`benchmark.data.load_dataset` passes:
``include_normal``, ``cache_dir`` (real data), ``n_images``, ``seed`` (generated data); each
loader receives only those its signature names (all of them if it takes ``**options``).

Other packages register data sets through the entry-point group ``petl_bench.datasets``: each
entry point names a module that registers data sets when imported, a :class:`DatasetSpec`, or a
callable that registers them when called. A plugin that fails to load is reported (a warning,
and in the error for an unknown name and in ``petl-bench datasets``), not fatal to the others.
"""
from __future__ import annotations

import importlib
import inspect
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

ENTRY_POINT_GROUP = "petl_bench.datasets"
BUILTIN_MODULES = ("busi", "breast_lesions_usg", "bus_bra", "synthetic", "folder")
_DEFAULT = object()


class DatasetNotFoundError(FileNotFoundError):
    """A data set's folder was not found; the message names every place tried."""


@dataclass(frozen=True)
class RootSearch:
    """Where a data set's folder was looked for: ``root`` (None when not found), how it was
    found (``source``: "--data-root", "$BUSI_ROOT", "datasets/", "../shared/datasets/"), and
    every (path, how, why not) tried."""

    root: Path | None
    source: str | None
    tried: tuple[tuple[Path, str, str], ...] = ()


@dataclass(frozen=True)
class DatasetSpec:
    """A registered data set. See the module docstring."""

    name: str
    loader: Callable[..., Any]
    description: str
    citation: str
    licence: str
    title: str = ""
    root_env: str | None = None
    shared_dir: str | None = None
    project_dir: str | None = None
    synthetic: bool = False
    needs_root: bool = True
    check_root: Callable[[Path], Path | str | bool | None] | None = None
    how_to_get: str = ""
    lesion_masks: Callable[..., Any] | None = None  # masks.py: (root, ids, image_size, **options) -> N x S x S bool

    # -- finding the folder ---------------------------------------------------------------
    def candidates(self, data_root: str | os.PathLike | None = None) -> list[tuple[Path, str]]:
        """The places to try, in order, as (path, how it was named)."""
        if data_root is not None:
            return [(Path(data_root).expanduser(), "--data-root")]
        if self.root_env and os.environ.get(self.root_env):
            return [(Path(os.environ[self.root_env]).expanduser(), f"${self.root_env}")]
        out: list[tuple[Path, str]] = []
        names = [n for n in dict.fromkeys([self.project_dir, self.shared_dir]) if n]
        for project in project_dirs():
            out += [(project / "datasets" / n, "datasets/ under the project") for n in names]
        if self.shared_dir:
            for project in project_dirs():
                out.append((project.parent / "shared" / "datasets" / self.shared_dir,
                            "../shared/datasets/ next to the project"))
        unique: dict[Path, tuple[Path, str]] = {}
        for path, how in out:
            unique.setdefault(path.absolute(), (path, how))
        return list(unique.values())

    def _check(self, path: Path) -> tuple[Path | None, str]:
        """(the usable root for ``path`` or None, why not)."""
        if not path.exists():
            return None, "does not exist"
        if not path.is_dir():
            return None, "is not a folder"
        if self.check_root is None:
            return path.resolve(), ""
        verdict = self.check_root(path)
        if isinstance(verdict, Path):
            return verdict.resolve(), ""
        if verdict is True:
            return path.resolve(), ""
        return None, verdict if isinstance(verdict, str) and verdict else "is not laid out as expected"

    def locate(self, data_root: str | os.PathLike | None = None) -> RootSearch:
        """Look for the folder without raising (for ``petl-bench datasets``)."""
        if not self.needs_root:
            return RootSearch(None, None)
        tried = []
        for path, how in self.candidates(data_root):
            root, why = self._check(path)
            if root is not None:
                return RootSearch(root, how, tuple(tried))
            tried.append((path, how, why))
        return RootSearch(None, None, tuple(tried))

    def resolve_root(self, data_root: str | os.PathLike | None = None) -> Path | None:
        """The data set's folder, or DatasetNotFoundError naming every place tried."""
        found = self.locate(data_root)
        if found.root is not None or not self.needs_root:
            return found.root
        places = "\n".join(f"  - {p.absolute()} ({how}): {why}" for p, how, why in found.tried)
        ways = ["pass --data-root PATH (data_root=PATH)"]
        if self.root_env:
            ways.append(f"set {self.root_env}=PATH")
        if self.project_dir or self.shared_dir:
            ways.append(f"put it at datasets/{self.project_dir or self.shared_dir} in the project")
        title = self.title or self.name
        raise DatasetNotFoundError(
            f"{title} data set ({self.name!r}) not found. Tried:\n{places or '  (nowhere: no place is known)'}\n"
            f"What to do: {self.how_to_get + ' Then ' if self.how_to_get else ''}"
            f"{', or '.join(ways)}."
        )

    # -- loading --------------------------------------------------------------------------
    def accepted_options(self, options: dict[str, Any], function: Callable | None = None) -> dict[str, Any]:
        """The ``options`` that ``function`` (default: the loader) declares (all of them if it takes ``**options``)."""
        params = inspect.signature(function or self.loader).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return dict(options)
        return {k: v for k, v in options.items() if k in params}

    def load(self, image_size: int, data_root: str | os.PathLike | None = None, **options):
        """Find the folder (unless generated) and call the loader with the options it takes."""
        root = self.resolve_root(data_root)
        data = self.loader(root, image_size, **self.accepted_options(options))
        from .imageset import ImageSet

        if not isinstance(data, ImageSet):
            raise TypeError(f"data set {self.name!r}: its loader returned {type(data).__name__}, not an ImageSet")
        return data

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title or self.name, "description": self.description,
                "citation": self.citation, "licence": self.licence, "synthetic": self.synthetic,
                "root_env": self.root_env, "needs_root": self.needs_root}


_REGISTRY: dict[str, DatasetSpec] = {}
_FAILED: dict[str, str] = {}  # entry point name -> error, for plugins that did not load
_discovered = False


def project_dirs() -> list[Path]:
    """The project folders roots are looked for under: the current directory and, when the
    suite is imported from a source checkout (a pyproject.toml beside ``benchmark/``), that
    checkout."""
    dirs = [Path.cwd()]
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "benchmark").is_dir():
        dirs.append(checkout)
    unique: dict[Path, Path] = {}
    for d in dirs:
        unique.setdefault(d.resolve(), d)
    return list(unique.values())


def register_dataset(name: str, *, description: str, citation: str, licence: str, title: str = "",
                     root_env: str | None = None, shared_dir: str | None = None,
                     project_dir: str | None | object = _DEFAULT, synthetic: bool = False,
                     needs_root: bool | None = None, check_root: Callable | None = None,
                     how_to_get: str = "", lesion_masks: Callable | None = None):
    """Register the decorated ``load(root, image_size, **options) -> ImageSet`` as ``name``.

    ``project_dir`` is the folder name under ``datasets/`` (default: ``name``; None: not looked
    for there). ``needs_root`` defaults to ``not synthetic``. ``check_root(path)`` says whether
    an existing folder holds the data set: True, a Path (the real root inside it), or False or
    a string saying what is missing. ``how_to_get`` is told to the user when nothing is found.
    ``lesion_masks(root, ids, image_size, **options)`` gives the images' lesion masks (masks.py).
    """

    def decorator(loader: Callable) -> Callable:
        spec = DatasetSpec(
            name=name, loader=loader, description=description, citation=citation, licence=licence,
            title=title, root_env=root_env, shared_dir=shared_dir,
            project_dir=name if project_dir is _DEFAULT else project_dir, synthetic=synthetic,
            needs_root=(not synthetic) if needs_root is None else needs_root,
            check_root=check_root, how_to_get=how_to_get, lesion_masks=lesion_masks)
        add_dataset(spec)
        return loader

    return decorator


def add_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Register a ready-made DatasetSpec (what the decorator does)."""
    if not isinstance(spec.name, str) or not spec.name.isidentifier():
        raise ValueError(f"data set name {spec.name!r} must be an identifier (letters, digits, _)")
    if spec.name in _REGISTRY:
        raise ValueError(f"a data set named {spec.name!r} is already registered")
    for what in ("description", "citation", "licence"):
        if not getattr(spec, what):
            raise ValueError(f"data set {spec.name!r} must declare a {what}")
    if not callable(spec.loader):
        raise TypeError(f"data set {spec.name!r}: loader must be callable")
    _REGISTRY[spec.name] = spec
    return spec


def discover() -> None:
    """Import the built-in data sets and every entry point of ``petl_bench.datasets``, once."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for module in BUILTIN_MODULES:
        importlib.import_module(f"{__package__}.{module}")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
            if isinstance(loaded, DatasetSpec):
                if _REGISTRY.get(loaded.name) is not loaded:
                    add_dataset(loaded)
            elif callable(loaded) and not inspect.ismodule(loaded) and \
                    not any(s.loader is loaded for s in _REGISTRY.values()):
                loaded()
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not hide the others
            _FAILED[ep.name] = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"data-set entry point {ep.name!r} in group {ENTRY_POINT_GROUP} ({ep.value}) "
                          f"failed to load: {exc}", RuntimeWarning, stacklevel=2)


def get_dataset(name: str) -> DatasetSpec:
    discover()
    if name not in _REGISTRY:
        failed = "".join(f"; plugin {k!r} failed to load ({v})" for k, v in sorted(_FAILED.items()))
        raise KeyError(f"no data set named {name!r}; registered: {', '.join(sorted(_REGISTRY))} "
                       f"(`petl-bench datasets` lists them){failed}")
    return _REGISTRY[name]


def list_datasets() -> list[DatasetSpec]:
    discover()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def failed_plugins() -> dict[str, str]:
    discover()
    return dict(_FAILED)


def dataset_info(name: str) -> dict[str, Any]:
    """For reports: name, title, description, citation, licence, synthetic flag."""
    return get_dataset(name).info()


def unregister(name: str) -> None:
    """Remove a data set (for tests and interactive use)."""
    _REGISTRY.pop(name, None)


class RegisteredNames(Sequence):
    """The names of the registered data sets, read when used (so ``argparse`` choices see plugins)."""

    def _names(self) -> tuple[str, ...]:
        return tuple(s.name for s in list_datasets())

    def __getitem__(self, index):
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())

    def __repr__(self) -> str:
        return repr(self._names())


__all__ = ["ENTRY_POINT_GROUP", "DatasetNotFoundError", "DatasetSpec", "RootSearch", "add_dataset",
           "dataset_info", "discover", "failed_plugins", "get_dataset", "list_datasets", "project_dirs",
           "register_dataset", "unregister", "RegisteredNames"]
