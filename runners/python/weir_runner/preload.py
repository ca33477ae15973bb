"""What the component's snapshot must hold: the standard library a sequence may import, and
the runner's own code paths, run once at build time.

componentize-py keeps no standard library files in the component: only modules imported
while it builds (its pre-initialisation snapshot) can be imported at run time. So the
modules sequences commonly use are imported here, and :func:`warm_up` runs the event loop,
a stream pipeline, logging and traceback formatting once, which pulls in the modules they
import lazily on first use.
"""

from __future__ import annotations

import importlib

#: Standard library modules importable by sequences (those missing from this CPython are
#: skipped: ``ssl``, ``sqlite3``, ``ctypes``, …).
STDLIB = """
abc argparse array ast asyncio base64 binascii bisect calendar cmath codecs collections
collections.abc colorsys concurrent.futures contextlib contextvars copy csv dataclasses
datetime decimal difflib email email.message email.utils enum errno fnmatch fractions
functools gettext glob gzip hashlib heapq hmac html html.parser http http.client
importlib importlib.abc importlib.machinery importlib.metadata importlib.resources
importlib.util inspect io ipaddress itertools json keyword linecache locale logging
logging.handlers lzma math mimetypes numbers operator os os.path pathlib pickle platform
pprint queue quopri random re reprlib secrets selectors shlex shutil signal socket
statistics string struct sys tarfile tempfile textwrap threading time timeit token tokenize
traceback types typing unicodedata urllib urllib.parse urllib.request uuid warnings weakref
xml xml.dom.minidom xml.etree.ElementTree zipfile zlib zoneinfo
""".split()


def import_stdlib() -> list[str]:
    """Imports :data:`STDLIB`; returns the names this CPython does not have."""
    missing = []
    for name in STDLIB:
        try:
            importlib.import_module(name)
        except Exception:
            missing.append(name)
    return missing


class _Idle:
    """Waits that never wait (for the warm-up loop, which has no host to call)."""

    def wait(self, timeout) -> None:
        pass


def warm_up() -> None:
    """Runs the loop, streams, codecs, logging and tracebacks once, without the host."""
    import asyncio
    import logging
    import traceback

    from scramjet.streams import Stream, StringStream

    from . import codec
    from .loop import RunnerLoop

    async def exercise():
        queue: asyncio.Queue = asyncio.Queue()

        async def produce():
            await asyncio.sleep(0.001)
            await queue.put(1)

        await asyncio.gather(asyncio.create_task(produce()), asyncio.wait_for(asyncio.sleep(0), 1))
        await queue.get()
        lines = await StringStream.read_from(["a\nb", "\n"]).split("\n").map(str.upper).to_list()
        records = codec.NdjsonDecoder().decode(b'{"a": 1}\n')
        codec.encode_ndjson(records + lines)
        await Stream.read_from(range(3)).batch(lambda x: x == 1).to_list()

    loop = RunnerLoop(_Idle())  # type: ignore[arg-type]
    try:
        loop.run_until_complete(exercise())
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
        asyncio.set_event_loop(None)
    try:
        raise RuntimeError("warm-up")
    except RuntimeError as e:
        traceback.format_exception(type(e), e, e.__traceback__)
    logging.Formatter().format(logging.LogRecord("x", logging.INFO, __file__, 1, "%s", ("y",), None))
