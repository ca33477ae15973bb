"""Finding and loading a package's sequence: ``package.json``'s ``main``, mounted at ``/package``.

The sequence module is imported from the read-only mount, as module ``sequence`` (the
Scramjet runner's name), with ``/package``, ``main``'s directory and ``__pypackages__`` on
``sys.path``: both layouts are searched, ``__pypackages__/<pkg>`` (``pip install -t``, what
Scramjet's templates do) and PEP 582's ``__pypackages__/<X.Y>/lib``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from types import ModuleType

from . import finder, host

ROOT = "/package"


class MainMissing(Exception):
    """``main`` names no file of the package (exit code 21)."""


class LoadFailed(Exception):
    """The sequence's source could not be loaded (exit code 22)."""


def main_path(root: str = ROOT) -> str:
    """The path of the file ``main`` names: absolute under ``root`` when the package is
    mounted there, else relative to the package root (loaded through read-file)."""
    data = host.read_file("package.json")
    if data is None:
        raise MainMissing("the package has no package.json")
    try:
        manifest = json.loads(data)
    except ValueError as e:
        raise MainMissing(f"package.json is not valid JSON: {e}") from None
    main = manifest.get("main") if isinstance(manifest, dict) else None
    if not isinstance(main, str) or not main.strip():
        raise MainMissing("package.json has no `main` naming the sequence's .py file")
    relative = os.path.normpath(main.strip())
    if relative.startswith("..") or os.path.isabs(relative):
        raise MainMissing(f"Sequence entrypoint path {main} is invalid: it leaves the package")
    mounted = os.path.isdir(root)
    for candidate in (relative, relative + ".py"):
        if mounted and os.path.isfile(os.path.join(root, candidate)):
            return os.path.join(root, candidate)
        if not mounted and host.read_file(candidate) is not None:
            return candidate
    raise MainMissing(f"Sequence entrypoint path {main} is invalid: the package has no such file")


def search_path(root: str, main: str) -> list[str]:
    """The directories the sequence imports from, in order."""
    packages = os.path.join(root, "__pypackages__")
    dirs = [os.path.dirname(main), root]
    if os.path.isdir(packages):
        dirs.append(packages)
        for name in sorted(os.listdir(packages)):
            lib = os.path.join(packages, name, "lib")
            if os.path.isdir(lib):
                dirs.append(lib)
    unique: list[str] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def load(root: str, main: str) -> ModuleType:
    """Imports ``main`` as module ``sequence``; its ``run`` must be callable."""
    if not os.path.isabs(main):
        return _checked(finder.load_main(main), main)
    sys.dont_write_bytecode = True
    sys.path[:0] = [d for d in search_path(root, main) if d not in sys.path]
    try:
        os.chdir(os.path.dirname(main))
    except OSError:
        pass
    spec = importlib.util.spec_from_file_location("sequence", main)
    if spec is None or spec.loader is None:
        raise LoadFailed(f"cannot load {main} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules["sequence"] = module
    spec.loader.exec_module(module)
    return _checked(module, os.path.relpath(main, root))


def entry(module: ModuleType):
    """The sequence function: ``run``, or ``main`` as newer Scramjet runners name it."""
    function = getattr(module, "run", None)
    if not callable(function):
        function = getattr(module, "main", None)
    return function if callable(function) else None


def _checked(module: ModuleType, main: str) -> ModuleType:
    if entry(module) is None:
        raise LoadFailed(f"{main} defines no function `run(context, input, *args)`")
    return module
