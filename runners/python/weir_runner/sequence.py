"""Running a loaded sequence: its input, its result to the output, events, stop, exit codes.

``run(context, input, *args)`` is called once; what it returns (awaited when it is a
coroutine) is written to the output until it ends: a ``Stream``, an async generator or
iterable, a plain iterable, ``str``/``bytes``, another value (one JSON line), or None
(nothing). The input is a ``StringStream`` over the instance's input, or over the topic
``requires`` names.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
from collections.abc import AsyncIterable, Iterable
from types import ModuleType
from typing import Any, Callable, Optional

from scramjet import streams
from scramjet.streams import Stream, StringStream, _AsyncIterableSource, _SyncIterableSource

from . import codec, host, package
from .context import UNHANDLED_EVENTS, AppContext
from .loop import Reader, RunnerLoop, Waits


class Failed(Exception):
    """The sequence failed: ``code`` is the exit code, ``message`` its error and traceback."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def topic_of(value: Any, key: str) -> dict:
    """A ``requires``/``provides`` declaration as ``{"topic", "contentType"}``: both
    ``{'requires': t, 'contentType': c}`` and ``{'topic': t, 'content_type': c}`` are read."""
    if not isinstance(value, dict):
        return {}
    return {
        "topic": value.get(key) or value.get("topic"),
        "contentType": value.get("contentType") or value.get("content_type"),
    }


class InputSource:
    """The input's batches, decoded by the content type known once the first data came."""

    def __init__(self, reader: Reader, content_type: Optional[str], ask_type: bool) -> None:
        self._reader = reader
        self._content_type = content_type
        self._ask_type = ask_type
        self._decoder = None
        self._ended = False

    async def pull(self) -> Optional[list]:
        while not self._ended:
            data = await self._reader.read()
            if self._decoder is None:
                if self._ask_type:
                    self._content_type = host.input_content_type() or self._content_type
                self._decoder = codec.decoder(self._content_type)
            if data is None:
                self._ended = True
            batch = self._decoder.decode(data)
            if batch:
                return batch
        return None


class Instance:
    """One run of a sequence module on a :class:`RunnerLoop`."""

    def __init__(self) -> None:
        self.module: Any = None
        self.requires: dict = {}
        self.provides: dict = {}
        self.output = codec.Output(host.write_output)
        self.waits = Waits(self._on_signal, self.output.flush)
        self.loop = RunnerLoop(self.waits)
        self.loop.set_exception_handler(self._on_task_error)
        # The loop is current before the module loads: code at its top level may ask for it.
        asyncio.set_event_loop(self.loop)
        self.context: Optional[AppContext] = None
        self.early_events: list = []
        self.task: Optional[asyncio.Task] = None
        #: Whether the run was ended early: a stop request, ``context.end()`` or ``destroy()``.
        self.stopped = False
        #: The error ``context.destroy(error)`` ended the run with.
        self.destroyed: Optional[str] = None

    def run(self, module: ModuleType) -> None:
        """Runs the sequence to its end; raises :class:`Failed` (exit code 23) when it fails."""
        self.module = module
        self.requires = topic_of(getattr(module, "requires", None), "requires")
        self.provides = topic_of(getattr(module, "provides", None), "provides")
        self.output.send = sender(self.provides)
        line_buffered(sys.stdout, sys.stderr)  # print() reaches /stdout at once
        try:
            self._drive()
        except BaseException as e:
            self._flush_after_failure()
            raise failure(e) from None
        finally:
            self.close()

    def _drive(self) -> None:
        self.task = self.loop.create_task(self.main())
        try:
            self.loop.run_until_complete(self.task)
        except asyncio.CancelledError:
            if not self.stopped:
                raise
        except SystemExit as e:
            # sys.exit() ends the sequence as it would end the Scramjet runner's process.
            if e.code not in (None, 0):
                raise
        if self.destroyed is not None:
            raise Failed(23, self.destroyed)
        self.output.flush()

    def _flush_after_failure(self) -> None:
        # What the sequence wrote before it failed still reaches the reader.
        try:
            self.output.flush()
        except host.OutputClosed:
            pass

    def close(self) -> None:
        """Ends the loop (after a run, or when the module did not load)."""
        try:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        except BaseException:
            pass
        self.loop.close()
        asyncio.set_event_loop(None)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass

    async def main(self) -> None:
        self.context = AppContext(json.loads(host.config() or "{}"), host.instance_id())
        self.context.dispatch = self._dispatch
        self.context.finish = self._finish
        self.context.unhandled, self.early_events = self.early_events, []
        args = json.loads(host.args() or "[]")
        result = package.entry(self.module)(self.context, self._input(), *args)
        if asyncio.iscoroutine(result):
            result = await result
        # As on the Scramjet hub, the result's own `provides`/`content_type` come first.
        provides = topic_of(getattr(result, "provides", None), "provides")
        if provides.get("topic"):
            self.provides = provides
            self.output.send = sender(provides)
        content_type = (
            getattr(result, "content_type", None)
            or self.provides.get("contentType")
            or getattr(self.module, "output_type", None)
        )
        await self.forward(result, content_type)

    def _input(self) -> StringStream:
        topic = self.requires.get("topic")
        content_type = self.requires.get("contentType")
        if topic:
            host.subscribe(topic)
            reader = self.waits.reader(host.topic_source(topic))
            content_type = content_type or "application/x-ndjson"
        else:
            reader = self.waits.reader(host.INPUT)
        return StringStream(
            upstream=InputSource(reader, content_type, ask_type=not content_type), name="input"
        )

    async def forward(self, result: Any, content_type: Optional[str]) -> None:
        """Writes ``result`` to the output (or the ``provides`` topic)."""
        if result is None:
            return
        encode = codec.encoder(content_type)
        source = batches(result)
        if source is None:
            # A single value: numbers as text, as the Scramjet hub writes them.
            single = isinstance(result, (bool, int, float)) and not codec.is_ndjson(content_type)
            self.output.write(str(result).encode() if single else encode([result]))
            return
        while (batch := await source.pull()) is not None:
            self.output.write(encode(batch))

    def _on_signal(self, signal: Any) -> None:
        if isinstance(signal, host.Stop):
            self.loop.create_task(self._stop(signal))
            return
        self._dispatch(signal)

    def _dispatch(self, event: host.Event) -> None:
        """Calls the event's handlers; keeps it for later when it has none yet."""
        context = self.context
        handlers = context.handlers.get(event.name) if context else None
        if not handlers:
            unhandled = context.unhandled if context else self.early_events
            unhandled.append(event)
            del unhandled[:-UNHANDLED_EVENTS]
            return
        for handler in handlers:
            try:
                outcome = handler(event.message)
                if asyncio.iscoroutine(outcome):
                    self.loop.create_task(outcome)
            except Exception as e:
                host.log("error", f"the handler of event {event.name} failed: {describe(e)}")

    async def _stop(self, stop: host.Stop) -> None:
        context = self.context
        if context is not None:
            context.keep_alive_requested = False
            for handler in context.stop_handlers:
                try:
                    outcome = handler(stop.timeout_ms / 1000, stop.can_keep_alive)
                    if asyncio.iscoroutine(outcome):
                        await outcome
                except Exception as e:
                    host.log("error", f"stop handler failed: {describe(e)}")
            if stop.can_keep_alive and context.keep_alive_requested:
                return
        self.stopped = True
        if self.task is not None:
            self.task.cancel()

    def _finish(self, error: Optional[str]) -> None:
        """``context.end()`` (error None) or ``context.destroy(error)``: ends the run now."""
        self.stopped = True
        self.destroyed = error
        if self.task is not None:
            self.task.cancel()

    def _on_task_error(self, loop: asyncio.AbstractEventLoop, details: dict) -> None:
        error = details.get("exception")
        text = describe(error) if error is not None else str(details.get("message"))
        host.log("error", f"a task of the sequence failed: {text}")


def failure(error: BaseException) -> Failed:
    """The :class:`Failed` a run that raised ``error`` ends with."""
    if isinstance(error, Failed):
        return error
    if isinstance(error, SystemExit):
        code = error.code if isinstance(error.code, int) and 0 < error.code < 256 else 1
        return Failed(code, f"the sequence called sys.exit({error.code!r})")
    return Failed(23, describe(error))


def line_buffered(*streams: Any) -> None:
    for stream in streams:
        try:
            stream.reconfigure(line_buffering=True)
        except Exception:
            pass


def sender(provides: dict) -> Callable[[bytes], None]:
    """Where output goes: the topic ``provides`` names, else the instance's output."""
    topic = provides.get("topic")
    if topic:
        return lambda data: host.publish(topic, data)
    return host.write_output


def batches(result: Any):
    """A batch source over ``result``, or None for a single value."""
    if isinstance(result, Stream):
        return result._batches()
    if isinstance(result, (str, bytes, bytearray, dict)):
        return None
    if isinstance(result, AsyncIterable):
        return _AsyncIterableSource(result)
    if isinstance(result, Iterable):
        return _SyncIterableSource(result)
    return None


#: Frames of these files are left out of a sequence's traceback: they are the runner's.
RUNNER_FILES = (
    os.path.dirname(os.path.abspath(__file__)),
    os.path.dirname(os.path.abspath(streams.__file__)),
    "<frozen ",
)


def describe(error: BaseException) -> str:
    """The error and its traceback without the runner's frames (and the standard library's
    before the sequence's first), as the instance log shows them."""
    report = traceback.TracebackException.from_exception(error)
    frames = [frame for frame in report.stack if not frame.filename.startswith(RUNNER_FILES)]
    while frames and frames[0].filename.startswith(STDLIB) and len(frames) > 1:
        frames.pop(0)
    report.stack = traceback.StackSummary.from_list(frames)
    return "".join(report.format()).rstrip()


STDLIB = os.path.dirname(os.path.abspath(asyncio.__file__)).rsplit("/", 1)[0] + "/"
