"""The runner's asyncio event loop, whose one blocking wait is the host's ``events.next``.

CPython on WASI has ``asyncio`` and ``selectors``, but ``asyncio.new_event_loop()`` fails
there: the selector loop makes a self-pipe with ``socket.socketpair()``, which on WASI falls
back to binding a TCP socket, and the sandbox grants none. :class:`RunnerLoop` is asyncio's
own selector loop (tasks, timers, ``asyncio.sleep``, ``Queue``, ``gather``, ``wait_for``)
without the self-pipe (there are no threads to wake it), over a selector with no file
descriptors: its ``select(timeout)`` is one ``events.next`` call, which returns whichever
comes first of input (or topic) data, an event or stop request, and the timeout the loop's
timers ask for.

Data is read only while a task awaits it (:class:`Reader`): the host keeps what nobody has
asked for, so a slow sequence holds its input back (backpressure).
"""

from __future__ import annotations

import asyncio
import math
import selectors
import time
from asyncio import selector_events
from typing import Any, Callable, Optional

from . import host

#: Bytes asked for per read.
CHUNK_SIZE = 64 * 1024

#: While work is ready, the host is asked for signals at most this often (seconds).
POLL_INTERVAL = 0.005


class Reader:
    """Bytes from one host source (the input or a topic), read only while a task awaits them."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.ended = False
        self._waiter: Optional[asyncio.Future] = None

    @property
    def wanted(self) -> bool:
        return self._waiter is not None and not self._waiter.done()

    async def read(self) -> Optional[bytes]:
        """The next chunk (up to 64 KiB), or None once the source has ended."""
        if self.ended:
            return None
        if self.wanted:
            raise RuntimeError("two tasks read the same input at once")
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def deliver(self, data: Optional[bytes]) -> None:
        if data is None:
            self.ended = True
        if self.wanted:
            self._waiter.set_result(data)


class Waits:
    """What the loop does when it would block: flush the output, then one ``events.next``."""

    def __init__(self, on_signal: Callable[[Any], None], before_blocking: Callable[[], None]) -> None:
        self.readers: list[Reader] = []
        self._on_signal = on_signal
        self._before_blocking = before_blocking
        self._last_poll = 0.0

    def reader(self, source: Any) -> Reader:
        reader = Reader(source)
        self.readers.append(reader)
        return reader

    def wait(self, timeout: Optional[float]) -> None:
        reader = next((r for r in self.readers if r.wanted), None)
        if timeout is not None and timeout <= 0:
            # Work is ready: look for data and signals without blocking, and not after
            # every callback.
            now = time.monotonic()
            if reader is None and now - self._last_poll < POLL_INTERVAL:
                return
            timeout_ms: Optional[int] = 0
        else:
            self._before_blocking()
            timeout_ms = None if timeout is None else math.ceil(timeout * 1000)
        self._last_poll = time.monotonic()
        kind, value = host.next_arrival(reader.source if reader else None, CHUNK_SIZE, timeout_ms)
        if kind == host.DATA and reader is not None:
            reader.deliver(value)
        elif kind == host.SIGNAL:
            self._on_signal(value)


class HostSelector(selectors.BaseSelector):
    """A selector without file descriptors: ``select`` hands its timeout to ``Waits.wait``."""

    def __init__(self, waits: Waits) -> None:
        self._waits = waits

    def register(self, fileobj, events, data=None):
        raise OSError("the weir sandbox has no file descriptors to wait on")

    def unregister(self, fileobj):
        raise KeyError(fileobj)

    def select(self, timeout=None):
        self._waits.wait(timeout)
        return []

    def get_map(self):
        return {}

    def close(self) -> None:
        pass


class RunnerLoop(selector_events.BaseSelectorEventLoop):
    """asyncio's selector event loop over :class:`HostSelector`, without a self-pipe."""

    def __init__(self, waits: Waits) -> None:
        super().__init__(HostSelector(waits))

    def _make_self_pipe(self) -> None:
        pass

    def _close_self_pipe(self) -> None:
        pass

    def _write_to_self(self) -> None:
        pass
