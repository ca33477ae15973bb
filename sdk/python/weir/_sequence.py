"""The sequence world: input, output, events, topics, config and log.

Imported by the glue ``weir pack`` adds (``from weir._sequence import WitWorld``) and on
first use of ``weir.Context``.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Optional, Tuple, Union

import wit_world
from componentize_py_types import Err
from wit_world.imports import context as host_context
from wit_world.imports import events as host_events
from wit_world.imports import io as host_io
from wit_world.imports import log as host_log
from wit_world.imports import topics as host_topics
from wit_world.imports import types as host_types

from . import _json, drive, registered

#: Bytes asked for per host read, and the output buffer's size.
CHUNK_SIZE = 64 * 1024

_LEVELS = {
    "trace": host_types.LogLevel.TRACE,
    "debug": host_types.LogLevel.DEBUG,
    "info": host_types.LogLevel.INFO,
    "warn": host_types.LogLevel.WARN,
    "error": host_types.LogLevel.ERROR,
}


class LineError(Exception):
    """An error that names the input line it happened on (counted from 1)."""

    def __init__(self, line: int, cause: object) -> None:
        super().__init__(f"line {line}: {cause}")
        self.line = line


@dataclass
class Event:
    """An event sent to the instance; ``message`` is the parsed JSON."""

    name: str
    message: Any


@dataclass
class Stop:
    """The hub asks the instance to stop within ``timeout_ms``."""

    timeout_ms: int
    can_keep_alive: bool


Signal = Union[Event, Stop]


class Stream:
    """A byte stream pulled from a blocking host read: the input or a topic.

    Iterate it with ``async for`` over ``chunks()``, ``lines()`` or ``records()``.
    """

    def __init__(self, pull: Callable[[int], Optional[bytes]], before_pull: Optional[Callable[[], None]] = None):
        self._pull = pull
        self._before_pull = before_pull
        self._ended = False

    def _next(self) -> Optional[bytes]:
        if self._ended:
            return None
        if self._before_pull is not None:
            self._before_pull()
        chunk = self._pull(CHUNK_SIZE)
        if chunk is None:
            self._ended = True
        return chunk

    async def chunks(self) -> AsyncIterator[bytes]:
        """The stream's chunks as they arrive."""
        while (chunk := self._next()) is not None:
            if chunk:
                yield chunk

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.chunks()

    async def lines(self) -> AsyncIterator[str]:
        """The stream's lines, without ``\\n`` or ``\\r\\n``; the last may lack one."""
        async for _, line in self.numbered_lines():
            yield line

    async def numbered_lines(self) -> AsyncIterator[Tuple[int, str]]:
        """``(number, line)`` pairs, numbered from 1."""
        decoder = codecs.getincrementaldecoder("utf-8")()
        pending = ""
        number = 0
        while True:
            chunk = self._next()
            try:
                pending += decoder.decode(chunk or b"", final=chunk is None)
            except UnicodeDecodeError:
                raise LineError(number + 1, "the input is not valid UTF-8") from None
            parts = pending.split("\n")
            pending = "" if chunk is None else parts.pop()
            if chunk is None and parts and parts[-1] == "":
                parts.pop()
            for part in parts:
                number += 1
                yield number, part[:-1] if part.endswith("\r") else part
            if chunk is None:
                return

    async def records(self) -> AsyncIterator[Any]:
        """One parsed JSON value per non-blank line (newline-delimited JSON)."""
        async for _, record in self.numbered_records():
            yield record

    async def numbered_records(self) -> AsyncIterator[Tuple[int, Any]]:
        """``(line number, record)`` pairs; blank lines are skipped but counted."""
        async for number, line in self.numbered_lines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as e:
                raise LineError(number, e) from None
            yield number, record

    async def read(self) -> bytes:
        """Everything left, as bytes."""
        return b"".join([chunk async for chunk in self.chunks()])

    async def text(self) -> str:
        """Everything left, as text."""
        return (await self.read()).decode()


class Output:
    """The instance's output: buffered, handed to the hub in chunks of at least 64 KiB or on
    ``flush``."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0

    async def write(self, data: Union[bytes, bytearray, str]) -> None:
        """Writes bytes or text (UTF-8)."""
        self.write_now(data)

    def write_now(self, data: Union[bytes, bytearray, str]) -> None:
        """``write`` without ``await``."""
        chunk = data.encode() if isinstance(data, str) else bytes(data)
        if not chunk:
            return
        self._parts.append(chunk)
        self._size += len(chunk)
        if self._size >= CHUNK_SIZE:
            self.flush_now()

    async def write_line(self, line: str) -> None:
        """Writes ``line`` and ``\\n``."""
        self.write_now(line + "\n")

    async def write_record(self, record: Any) -> None:
        """Writes ``record`` as one line of compact JSON."""
        self.write_now(_json.dumps(record) + "\n")

    async def flush(self) -> None:
        """Hands everything buffered to the hub now."""
        self.flush_now()

    def flush_now(self) -> None:
        """``flush`` without ``await``."""
        if not self._size:
            return
        data = b"".join(self._parts)
        self._parts, self._size = [], 0
        try:
            host_io.write_output(data)
        except Err:
            raise BrokenPipeError("the output is closed") from None


class Topic:
    """A topic shared with other instances and HTTP clients (``/api/v1/topic/:name``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._reader: Optional[Stream] = None

    async def publish(self, data: Union[bytes, str]) -> None:
        """Publishes bytes or text; for line-framed topics, whole lines go out."""
        try:
            host_topics.publish(self.name, data.encode() if isinstance(data, str) else bytes(data))
        except Err as e:
            raise RuntimeError(f"cannot publish to topic {self.name}: {e.value}") from None

    async def publish_record(self, record: Any) -> None:
        """Publishes ``record`` as one line of JSON."""
        await self.publish(_json.dumps(record) + "\n")

    def subscribe(self) -> Stream:
        """Subscribes and returns the topic's stream."""
        if self._reader is None:
            try:
                host_topics.subscribe(self.name)
            except Err as e:
                raise RuntimeError(f"cannot subscribe to topic {self.name}: {e.value}") from None
            self._reader = Stream(lambda n: host_topics.read(self.name, n))
        return self._reader


def _signal(signal: Optional[host_types.Signal]) -> Optional[Signal]:
    if signal is None:
        return None
    if isinstance(signal, host_types.Signal_Stop):
        return Stop(signal.value.timeout_ms, signal.value.can_keep_alive)
    try:
        message = json.loads(signal.value.message)
    except ValueError:
        message = signal.value.message
    return Event(signal.value.name, message)


class Context:
    """What a sequence function gets: its streams, events, topics, config and log."""

    def __init__(self) -> None:
        self.output = Output()
        self.input = Stream(host_io.read_input, self.output.flush_now)
        self.instance_id: str = host_context.instance_id()
        #: The package's ``[config]`` overlaid with the start request's ``appConfig``.
        self.config: dict[str, Any] = json.loads(host_context.config())
        #: The start arguments.
        self.args: list[Any] = json.loads(host_context.args())
        self._topics: dict[str, Topic] = {}
        self._handlers: dict[str, Callable[[Any], Any]] = {}

    def emit(self, name: str, message: Any = None) -> None:
        """Emits event ``name`` with ``message`` (any JSON value)."""
        host_events.emit(name, _json.dumps(message))

    async def wait(self, timeout_ms: Optional[float] = None) -> Optional[Signal]:
        """The next event or stop request; ``None`` after ``timeout_ms`` (``None``: for ever).

        An event with a handler (``on``) is handed to it first.
        """
        timeout = None if timeout_ms is None else max(0, int(-(-timeout_ms // 1)))
        signal = _signal(host_events.wait(timeout))
        if isinstance(signal, Event) and signal.name in self._handlers:
            drive(self._handlers[signal.name](signal.message))
        return signal

    def on(self, name: str, handler: Callable[[Any], Any]) -> "Context":
        """Calls ``handler(message)`` (plain or ``async``) for each event ``name`` received while
        waiting."""
        self._handlers[name] = handler
        return self

    async def until_stopped(self) -> None:
        """Waits, handing events to their ``on`` handlers, until the hub asks to stop."""
        async for _ in self.events():
            pass

    async def events(self) -> AsyncIterator[Event]:
        """The events sent to the instance, until the hub asks it to stop."""
        while True:
            signal = await self.wait()
            if isinstance(signal, Stop):
                return
            if signal is not None:
                yield signal

    async def signals(self) -> AsyncIterator[Signal]:
        """Every event and stop request, as they come."""
        while True:
            signal = await self.wait()
            if signal is not None:
                yield signal

    def keep_alive(self, ms: float) -> None:
        """Asks the hub for ``ms`` more milliseconds; after a stop that allows it, cancels it."""
        host_events.keep_alive(max(0, int(ms)))

    def topic(self, name: str) -> Topic:
        """The topic ``name`` (created as ``application/x-ndjson`` on first use)."""
        return self._topics.setdefault(name, Topic(name))

    def log(self, level: str, message: str) -> None:
        """Writes one line into the instance log at ``level`` (``"trace"`` … ``"error"``)."""
        if level not in _LEVELS:
            raise ValueError(f"unknown log level {level!r}; use one of {', '.join(_LEVELS)}")
        host_log.log(_LEVELS[level], str(message))

    def trace(self, message: str) -> None:
        self.log("trace", message)

    def debug(self, message: str) -> None:
        self.log("debug", message)

    def info(self, message: str) -> None:
        self.log("info", message)

    def warn(self, message: str) -> None:
        self.log("warn", message)

    def error(self, message: str) -> None:
        self.log("error", message)

    async def map_lines(self, f: Callable[[str], Union[Optional[str], Awaitable[Optional[str]]]]) -> None:
        """Writes ``f(line)`` for each input line (skipped when it returns ``None``)."""
        async for number, line in self.input.numbered_lines():
            mapped = _at_line(number, f, line)
            if mapped is not None:
                self.output.write_now(f"{mapped}\n")
        self.output.flush_now()

    async def filter_lines(self, keep: Callable[[str], Any]) -> None:
        """Writes the input lines for which ``keep(line)`` is true."""
        await self.map_lines(lambda line: line if drive(keep(line)) else None)

    async def map_records(self, f: Callable[[Any], Any]) -> None:
        """Writes ``f(record)`` as JSON for each input record (skipped when ``None``)."""
        async for number, record in self.input.numbered_records():
            mapped = _at_line(number, f, record)
            if mapped is not None:
                self.output.write_now(_json.dumps(mapped) + "\n")
        self.output.flush_now()

    async def filter_records(self, keep: Callable[[Any], Any]) -> None:
        """Writes the input records for which ``keep(record)`` is true."""
        await self.map_records(lambda record: record if drive(keep(record)) else None)


def _at_line(number: int, f: Callable[[Any], Any], value: Any) -> Any:
    try:
        return drive(f(value))
    except LineError:
        raise
    except Exception as e:
        raise LineError(number, e) from None


def run_sequence() -> None:
    """The component's ``run``: calls the ``@weir.sequence`` function with a new Context."""
    ctx = Context()
    try:
        drive(registered("sequence")(ctx))
        ctx.output.flush_now()
    except Exception as e:
        # Bytes written before the error still reach the reader.
        try:
            ctx.output.flush_now()
        except BrokenPipeError:
            pass
        raise Err(str(e)) from None


class WitWorld(wit_world.WitWorld):
    """The export componentize-py looks for."""

    def run(self) -> None:
        run_sequence()
