"""``Stream`` and ``StringStream``: the Scramjet framework's streams, as weir's runner has them.

A stream is lazy: nothing is read from its source until something consumes it (a sink such
as ``to_list``, ``reduce`` or ``write_to``, ``async for``, ``read``, or the runner writing the
stream a sequence returned to the output). Callbacks may be plain or ``async``; an ``async``
``map``/``filter``/``each`` callback runs on up to ``max_parallel`` chunks at once, and the
chunks keep their order.

Inside, chunks move in batches: a stage pulls a list of chunks from the one before it and
hands on a list, so the cost of a stage is paid per batch and not per chunk (the runner's
input gives one batch per 64 KiB read: one string, one bytes object, or every NDJSON record
the read completed).
"""

from __future__ import annotations

import asyncio
import codecs
import re
import types
from collections.abc import AsyncIterable, Iterable
from itertools import islice
from typing import Any, Callable, Optional

__all__ = ["Stream", "StringStream", "UnsupportedOperation", "StreamAlreadyConsumed"]

#: Chunks taken from a plain iterable per batch.
ITERABLE_BATCH = 256

_AWAITABLES = (types.CoroutineType, asyncio.Future)


class UnsupportedOperation(Exception):
    """A source that is neither iterable nor readable in chunks."""


class StreamAlreadyConsumed(Exception):
    """A stream was transformed or read by a second consumer."""


def _is_awaitable(value: Any) -> bool:
    return isinstance(value, _AWAITABLES) or hasattr(type(value), "__await__")


class _Done:
    """An awaitable that is already complete (what ``write`` returns while there is room)."""

    __slots__ = ()

    def __await__(self):
        return iter(())


DONE = _Done()


# Sources: ``await source.pull()`` gives a non-empty list of chunks, or None at the end.


class _Buffer:
    """The source of a stream written with ``write``/``end``."""

    def __init__(self, high_water: int) -> None:
        self._items: list = []
        self._ended = False
        self._high_water = max(1, high_water)
        self._reader: Optional[asyncio.Future] = None
        self._writers: list[asyncio.Future] = []

    def write(self, chunk: Any):
        if self._ended:
            raise ValueError("write after end")
        self._items.append(chunk)
        self._wake_reader()
        if len(self._items) < self._high_water:
            return DONE
        drained = asyncio.get_running_loop().create_future()
        self._writers.append(drained)
        return drained

    def end(self) -> None:
        self._ended = True
        self._wake_reader()

    def _wake_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    async def pull(self) -> Optional[list]:
        while not self._items:
            if self._ended:
                return None
            self._reader = asyncio.get_running_loop().create_future()
            await self._reader
        items, self._items = self._items, []
        writers, self._writers = self._writers, []
        for drained in writers:
            if not drained.done():
                drained.set_result(None)
        return items


class _SyncIterableSource:
    def __init__(self, iterable: Iterable) -> None:
        self._iterator = iter(iterable)

    async def pull(self) -> Optional[list]:
        batch = list(islice(self._iterator, ITERABLE_BATCH))
        return batch or None


class _AsyncIterableSource:
    def __init__(self, iterable: AsyncIterable) -> None:
        self._iterator = iterable.__aiter__()

    async def pull(self) -> Optional[list]:
        try:
            return [await self._iterator.__anext__()]
        except StopAsyncIteration:
            return None


class _CallbackSource:
    """Chunks from ``callback(*args)`` (e.g. ``file.read(size)``) until it gives ``''``/``b''``."""

    def __init__(self, callback: Callable, args: tuple) -> None:
        self._callback, self._args = callback, args
        self._ended = False

    async def pull(self) -> Optional[list]:
        if self._ended:
            return None
        chunk = self._callback(*self._args)
        if _is_awaitable(chunk):
            chunk = await chunk
        if chunk == "" or chunk == b"" or chunk is None:
            self._ended = True
            return None
        return [chunk]


class _Stage:
    """A batch transform over an upstream source; ``step(batch)`` may be async, ``finish()``
    gives what is left at the end."""

    def __init__(self, upstream, step: Callable, finish: Optional[Callable] = None) -> None:
        self._upstream, self._step, self._finish = upstream, step, finish
        self._ended = False

    async def pull(self) -> Optional[list]:
        while not self._ended:
            batch = await self._upstream.pull()
            if batch is None:
                self._ended = True
                out = self._finish() if self._finish is not None else None
            else:
                out = self._step(batch)
                if _is_awaitable(out):
                    out = await out
            if out:
                return out
        return None


async def _settle(values: list, max_parallel: int) -> list:
    """``values`` with each awaitable replaced by its result, at most ``max_parallel`` at once."""
    pending = [i for i, v in enumerate(values) if _is_awaitable(v)]
    for start in range(0, len(pending), max(1, max_parallel)):
        group = pending[start : start + max_parallel]
        results = await asyncio.gather(*(values[i] for i in group))
        for i, result in zip(group, results):
            values[i] = result
    return values


def _has_awaitable(values: list) -> bool:
    """Whether any of ``values`` is awaitable (checked once per type, not per value)."""
    for kind in set(map(type, values)):
        if issubclass(kind, _AWAITABLES) or hasattr(kind, "__await__"):
            return True
    return False


class Stream:
    """A stream of chunks of any type.

    ``Stream()`` is a stream to ``write`` to and ``end``; ``Stream.read_from(source)`` reads an
    iterable, an async iterable, another stream or (with ``chunk_size``) anything with
    ``read(size)``.
    """

    def __init__(
        self, max_parallel: int = 64, upstream: Any = None, origin: Any = None, name: str = "datastream"
    ):
        self.name = name
        self.max_parallel = max_parallel
        if upstream is None:
            self._source = _Buffer(max_parallel)
        elif isinstance(upstream, Stream):
            self._source = upstream._take()
        else:
            self._source = upstream
        self._origin = origin if origin is not None else self
        self._consumed = False
        self._reading = None
        self._read_batch: list = []

    # Creating streams.

    @classmethod
    def read_from(cls, source: Any, max_parallel: int = 64, chunk_size: Optional[int] = None) -> "Stream":
        """A stream of the chunks of ``source``."""
        if chunk_size:
            if not hasattr(source, "read"):
                raise UnsupportedOperation(
                    f"chunk_size was given, but source {source!r} has no read() method"
                )
            return cls.from_callback(max_parallel, source.read, chunk_size)
        if isinstance(source, Stream):
            return cls(max_parallel, upstream=source, name=source.name)
        if isinstance(source, (Iterable, AsyncIterable)):
            return cls.from_iterable(source, max_parallel=max_parallel)
        raise UnsupportedOperation(
            f"source {source!r} is not iterable; give chunk_size to read it with its read() method"
        )

    @classmethod
    def from_iterable(cls, iterable: Any, max_parallel: int = 64) -> "Stream":
        """A stream of the items of a plain or async iterable."""
        if isinstance(iterable, AsyncIterable):
            return cls(max_parallel, upstream=_AsyncIterableSource(iterable))
        return cls(max_parallel, upstream=_SyncIterableSource(iterable))

    @classmethod
    def from_callback(cls, max_parallel: int, callback: Callable, *args: Any) -> "Stream":
        """A stream of what ``callback(*args)`` returns (plain or async), until ``''`` or ``b''``."""
        return cls(max_parallel, upstream=_CallbackSource(callback, args))

    # Writing.

    def write(self, chunk: Any):
        """Writes one chunk to a stream made with ``Stream()``; await the result to wait for room."""
        source = self._origin._source
        if not isinstance(source, _Buffer):
            raise UnsupportedOperation("only a stream made with Stream() can be written to")
        return source.write(chunk)

    def end(self) -> None:
        """Ends a stream made with ``Stream()``."""
        source = self._origin._source
        if isinstance(source, _Buffer):
            source.end()

    # Internals.

    def _take(self):
        """Hands this stream's source to the one consumer it may have."""
        if self._consumed:
            raise StreamAlreadyConsumed(f"stream {self.name} has already been consumed")
        self._consumed = True
        return self._source

    def _then(
        self, step: Callable, finish: Optional[Callable] = None, cls: Optional[type] = None, suffix: str = ""
    ) -> "Stream":
        target = cls or type(self)
        stream = target(
            self.max_parallel,
            upstream=_Stage(self._take(), step, finish),
            origin=self._origin,
            name=self.name + suffix,
        )
        return stream

    def _batches(self):
        """The batches of chunks: for the runner's output, which writes them a batch at a time."""
        return self._take()

    # Transforms.

    def map(self, func: Callable, *args: Any) -> "Stream":
        """Each chunk as ``func(chunk, *args)`` returns it."""
        parallel = self.max_parallel

        def step(batch):
            out = [func(chunk, *args) for chunk in batch]
            return _settle(out, parallel) if _has_awaitable(out) else out

        return self._then(step, suffix="+m")

    def each(self, func: Callable, *args: Any) -> "Stream":
        """Calls ``func(chunk, *args)`` on each chunk and passes the chunk on unchanged."""
        parallel = self.max_parallel

        def step(batch):
            results = [func(chunk, *args) for chunk in batch]
            if not _has_awaitable(results):
                return batch

            async def after():
                await _settle(results, parallel)
                return batch

            return after()

        return self._then(step, suffix="+e")

    def filter(self, func: Callable, *args: Any) -> "Stream":
        """The chunks for which ``func(chunk, *args)`` is true."""
        parallel = self.max_parallel

        def keep(batch, decisions):
            return [chunk for chunk, decision in zip(batch, decisions) if decision]

        def step(batch):
            decisions = [func(chunk, *args) for chunk in batch]
            if not _has_awaitable(decisions):
                return keep(batch, decisions)

            async def after():
                return keep(batch, await _settle(decisions, parallel))

            return after()

        return self._then(step, suffix="+f")

    def flatmap(self, func: Callable, *args: Any) -> "Stream":
        """Every item of the iterable ``func(chunk, *args)`` returns, as separate chunks."""

        async def step(batch):
            out: list = []
            for chunk in batch:
                results = func(chunk, *args)
                if _is_awaitable(results):
                    results = await results
                out.extend(results)
            return out

        return self._then(step, suffix="+fm")

    def batch(self, func: Callable, *args: Any) -> "Stream":
        """Lists of chunks: a list ends after each chunk for which ``func(chunk, *args)`` is true."""
        current: list = []

        def step(batch):
            nonlocal current
            out = []
            for chunk in batch:
                current.append(chunk)
                if func(chunk, *args):
                    out.append(current)
                    current = []
            return out

        def finish():
            return [current] if current else None

        return self._then(step, finish, suffix="+b")

    def sequence(self, sequencer: Callable, initialPartial: Any = None) -> "Stream":  # noqa: N803 (Scramjet's name)
        """Re-chunks the stream: ``sequencer(partial, chunk)`` returns a list whose items but the
        last are new chunks; the last is the partial passed with the next chunk (and emitted at
        the end when it is not empty)."""
        partial = initialPartial

        async def step(batch):
            nonlocal partial
            out: list = []
            for chunk in batch:
                chunks = sequencer(partial, chunk)
                if _is_awaitable(chunks):
                    chunks = await chunks
                chunks = list(chunks)
                out.extend(chunks[:-1])
                partial = chunks[-1] if chunks else initialPartial
            return out

        def finish():
            return [partial] if partial else None

        return self._then(step, finish, suffix="+s")

    def decode(self, encoding: str = "utf-8") -> "StringStream":
        """A ``StringStream`` of the bytes chunks decoded (characters split across chunks are
        joined); chunks that are already strings pass unchanged."""
        decoder = codecs.getincrementaldecoder(encoding)()

        def step(batch):
            out = []
            for chunk in batch:
                text = chunk if isinstance(chunk, str) else decoder.decode(chunk)
                if text:
                    out.append(text)
            return out

        def finish():
            rest = decoder.decode(b"", final=True)
            return [rest] if rest else None

        return self._then(step, finish, cls=StringStream, suffix="+d")

    def use(self, func: Callable) -> Any:
        """``func(self)``: applies a function to the whole stream."""
        return func(self)

    def pipe(self, target: "Stream") -> "Stream":
        """Writes every chunk into ``target`` (a ``Stream()``) and ends it; returns ``target``."""
        source = self._take()

        async def forward():
            while (batch := await source.pull()) is not None:
                for chunk in batch:
                    await target.write(chunk)
            target.end()

        asyncio.get_running_loop().create_task(forward())
        return target

    def __or__(self, func: Callable) -> "Stream":
        return self.map(func)

    def __mod__(self, func: Callable) -> "Stream":
        return self.filter(func)

    def __await__(self):
        raise TypeError("a Stream cannot be awaited; await a sink method such as .to_list() to get its data")

    # Sinks.

    async def __aiter__(self):
        source = self._take()
        while (batch := await source.pull()) is not None:
            for chunk in batch:
                yield chunk

    async def read(self) -> Any:
        """The next chunk, or None at the end."""
        if self._reading is None:
            self._reading = self._take()
        if not self._read_batch:
            batch = await self._reading.pull()
            if batch is None:
                return None
            self._read_batch = batch[::-1]
        return self._read_batch.pop()

    async def to_list(self) -> list:
        """Every chunk, in a list."""
        source = self._take()
        result: list = []
        while (batch := await source.pull()) is not None:
            result.extend(batch)
        return result

    async def write_to(self, target: Any) -> Any:
        """Calls ``target.write(chunk)`` (plain or async) for each chunk; returns ``target``."""
        source = self._take()
        while (batch := await source.pull()) is not None:
            for chunk in batch:
                written = target.write(chunk)
                if _is_awaitable(written):
                    await written
        return target

    async def reduce(self, func: Callable, initial: Any = None) -> Any:
        """``func(func(func(a, b), c), d)`` over the chunks (starting from ``initial`` when given)."""
        source = self._take()
        accumulator = initial
        first = initial is None
        while (batch := await source.pull()) is not None:
            for chunk in batch:
                if first:
                    accumulator, first = chunk, False
                    continue
                accumulator = func(accumulator, chunk)
                if _is_awaitable(accumulator):
                    accumulator = await accumulator
        return accumulator


class StringStream(Stream):
    """A stream of strings, with text operations."""

    def __init__(
        self, max_parallel: int = 64, upstream: Any = None, origin: Any = None, name: str = "stringstream"
    ):
        super().__init__(max_parallel=max_parallel, upstream=upstream, origin=origin, name=name)

    def parse(self, func: Callable, *args: Any) -> Stream:
        """A ``Stream`` of ``func(chunk, *args)``: turns strings into objects."""
        return self._then(lambda batch: [func(chunk, *args) for chunk in batch], cls=Stream, suffix="+p")

    def split(self, separator: Optional[str] = None) -> "StringStream":
        """Re-chunks the text at each ``separator`` (by default, at runs of whitespace, as
        ``str.split()``); the separators are dropped."""
        partial = ""

        def step(batch):
            nonlocal partial
            out: list = []
            for chunk in batch:
                if not chunk:
                    continue
                parts = (partial + chunk).split(separator)
                if separator is None and chunk[-1].isspace():
                    partial = ""
                else:
                    partial = parts.pop() if parts else ""
                out.extend(parts)
            return out

        def finish():
            return [partial] if partial else None

        return self._then(step, finish, suffix="+sp")

    def match(self, pattern: str) -> "StringStream":
        """Every match of ``pattern`` as a chunk (with groups: every group of every match)."""
        regex = re.compile(pattern)

        def step(batch):
            out: list = []
            for chunk in batch:
                found = regex.findall(chunk)
                if regex.groups <= 1:
                    out.extend(found)
                else:
                    for groups in found:
                        out.extend(groups)
            return out

        return self._then(step, suffix="+mt")
