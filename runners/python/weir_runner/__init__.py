"""weir's Python runner: runs an unchanged Scramjet Python sequence in the sandbox.

componentize-py builds this package against the ``runner`` world; its ``run``
export loads the package mounted at ``/package`` (``package.json``'s ``main``) and runs its
``async def run(context, input, *args)`` on an asyncio loop over ``events.next``.

- :mod:`.package` finds ``main``, sets ``sys.path`` and imports the module;
- :mod:`.sequence` runs it: input, result to output, events, stop;
- :mod:`.loop` is the event loop; :mod:`.codec` the content types; :mod:`.context` the
  sequence's ``context``; :mod:`.host` the only module that calls the bindings.

Everything is imported here, at build time, so that componentize-py's snapshot holds it and
an instance starts without importing anything but the sequence.
"""

from __future__ import annotations

import asyncio  # noqa: F401  (in the snapshot)
import gc
import logging  # noqa: F401
import sys
from typing import Optional

import wit_world
from componentize_py_types import Err

import scramjet.streams  # noqa: F401

from . import host, package, preload
from .sequence import Failed, Instance, describe

#: Standard library modules this CPython lacks (imported at build time: see preload).
MISSING_STDLIB = preload.import_stdlib()
preload.warm_up()
# Everything imported so far lives as long as the instance: keep the cyclic garbage collector
# from walking it (and touching its pages of the snapshot) on every collection.
gc.collect()
gc.freeze()


def run_package(root: Optional[str] = None) -> None:
    """Loads and runs the package at ``root`` (``/package``); raises :class:`Failed` with the
    exit code."""
    root = root or package.ROOT
    try:
        main = package.main_path(root)
    except package.MainMissing as e:
        raise Failed(21, str(e)) from None
    instance = Instance()
    try:
        module = package.load(root, main)
    except BaseException as e:
        instance.close()
        if isinstance(e, package.LoadFailed):
            raise Failed(22, str(e)) from None
        hint = f"\n{MODULE_HINT}" if isinstance(e, ModuleNotFoundError) else ""
        raise Failed(22, describe(e) + hint) from None
    instance.run(module)


MODULE_HINT = (
    "(weir's Python runner imports the package's own modules, pure-Python ones bundled in "
    "__pypackages__, and the standard library modules it was built with; C extensions "
    "cannot load)"
)


class WitWorld(wit_world.WitWorld):
    """The export componentize-py looks for."""

    def run(self) -> None:
        try:
            run_package()
        except Failed as failure:
            report(failure.code, failure.message)
        except BaseException as e:
            # Any other exception would trap the component: end as a failed run instead.
            report(23, describe(e))


def report(code: int, message: str) -> None:
    """Ends the run as failed: the exit code, the error in the instance log and on stderr."""
    host.set_exit_code(code)
    host.log("error", message)
    try:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
    except Exception:
        pass
    raise Err(message)
