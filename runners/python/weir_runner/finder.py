"""Importing the package's modules through ``source-package.read-file``, for a host that does not
mount the package at ``/package`` (the runner uses the mount when it is there).

Searches the same directories as the mount would (relative to the package root): ``main``'s
directory, the root, ``__pypackages__`` and ``__pypackages__/<X.Y>/lib``. Modules and
packages (``__init__.py``) of source only; files a module opens itself are not reachable
this way.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import posixpath
import sys
from typing import Optional, Sequence

from . import host

#: The Python versions whose PEP 582 directory is searched (there is no directory listing).
PEP582_VERSIONS = [f"3.{minor}" for minor in range(14, 7, -1)]


def search_dirs(main: str) -> list[str]:
    """The directories, relative to the package root, a module is looked for in."""
    dirs = [posixpath.dirname(main), "", "__pypackages__"]
    dirs += [f"__pypackages__/{version}/lib" for version in PEP582_VERSIONS]
    return list(dict.fromkeys(dirs))


class PackageLoader(importlib.abc.Loader):
    def __init__(self, path: str, source: bytes) -> None:
        self.path, self.source = path, source

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        code = compile(self.source, f"/package/{self.path}", "exec", dont_inherit=True)
        module.__file__ = f"/package/{self.path}"
        exec(code, module.__dict__)


class PackageFinder(importlib.abc.MetaPathFinder):
    """Finds modules among the package's files."""

    def __init__(self, dirs: list[str]) -> None:
        self.dirs = [d for d in dirs if d == "" or host.is_directory(d)]

    def find_spec(self, fullname: str, path: Optional[Sequence[str]], target=None):
        name = fullname.rpartition(".")[2]
        bases = (
            self.dirs if path is None else [p[len("/package/") :] for p in path if p.startswith("/package/")]
        )
        for base in bases:
            stem = posixpath.join(base, name) if base else name
            init = host.read_file(f"{stem}/__init__.py")
            if init is not None:
                spec = importlib.util.spec_from_loader(
                    fullname, PackageLoader(f"{stem}/__init__.py", init), is_package=True
                )
                spec.submodule_search_locations = [f"/package/{stem}"]
                return spec
            source = host.read_file(f"{stem}.py")
            if source is not None:
                return importlib.util.spec_from_loader(fullname, PackageLoader(f"{stem}.py", source))
        return None


def load_main(main: str):
    """Imports ``main`` (relative to the package root) as module ``sequence`` from read-file."""
    source = host.read_file(main)
    if source is None:
        return None
    sys.meta_path.append(PackageFinder(search_dirs(main)))
    spec = importlib.util.spec_from_loader("sequence", PackageLoader(main, source))
    module = importlib.util.module_from_spec(spec)
    sys.modules["sequence"] = module
    spec.loader.exec_module(module)
    return module
