"""The host calls the runner makes: the only module that touches the generated bindings.

Signals come back as :class:`Event` and :class:`Stop`; arrivals of ``events.next`` as
``(kind, value)`` pairs, so the rest of the runner (and its tests' fake host) never sees
binding types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional, Tuple

from componentize_py_types import Err
from wit_world.imports import context as host_context
from wit_world.imports import events as host_events
from wit_world.imports import io as host_io
from wit_world.imports import log as host_log
from wit_world.imports import source_package as host_package
from wit_world.imports import topics as host_topics
from wit_world.imports import types as host_types

#: What ``next`` returned: ``DATA`` (bytes, or None at the end), ``SIGNAL`` or ``TIMEOUT``.
DATA, SIGNAL, TIMEOUT = "data", "signal", "timeout"

LEVELS = {
    "trace": host_types.LogLevel.TRACE,
    "debug": host_types.LogLevel.DEBUG,
    "info": host_types.LogLevel.INFO,
    "warn": host_types.LogLevel.WARN,
    "error": host_types.LogLevel.ERROR,
}


@dataclass
class Event:
    """An event sent to the instance; ``message`` is the parsed JSON (None when absent)."""

    name: str
    message: Any


@dataclass
class Stop:
    """The hub asks the instance to stop within ``timeout_ms``."""

    timeout_ms: int
    can_keep_alive: bool


class OutputClosed(Exception):
    """Nobody can read the output (or the topic) any more."""


INPUT = host_events.Source_Input()


def topic_source(name: str):
    return host_events.Source_Topic(name)


def next_arrival(source, max_len: int, timeout_ms: Optional[int]) -> Tuple[str, Any]:
    """One ``events.next``: whichever of data from ``source``, a signal or the timeout is first."""
    arrival = host_events.next(source, max_len, timeout_ms)
    if isinstance(arrival, host_events.Arrival_Data):
        return DATA, arrival.value
    if isinstance(arrival, host_events.Arrival_Signal):
        return SIGNAL, _signal(arrival.value)
    return TIMEOUT, None


def _signal(signal) -> Any:
    if isinstance(signal, host_types.Signal_Stop):
        return Stop(signal.value.timeout_ms, signal.value.can_keep_alive)
    try:
        message = json.loads(signal.value.message)
    except ValueError:
        message = signal.value.message
    return Event(signal.value.name, message)


def emit(name: str, message: str) -> None:
    host_events.emit(name, message)


def keep_alive(ms: int) -> None:
    host_events.keep_alive(ms)


def write_output(data: bytes) -> None:
    # componentize-py lowers list<u8> from `bytes` only (a bytearray traps the component).
    if type(data) is not bytes:
        data = bytes(data)
    try:
        host_io.write_output(data)
    except Err:
        raise OutputClosed("the output is closed") from None


def publish(topic: str, data: bytes) -> None:
    if type(data) is not bytes:
        data = bytes(data)
    try:
        host_topics.publish(topic, data)
    except Err as e:
        raise OutputClosed(f"cannot publish to topic {topic}: {e.value}") from None


def subscribe(topic: str) -> None:
    try:
        host_topics.subscribe(topic)
    except Err as e:
        raise RuntimeError(f"cannot subscribe to topic {topic}: {e.value}") from None


def log(level: str, message: str) -> None:
    host_log.log(LEVELS[level], message)


def config() -> str:
    return host_context.config()


def args() -> str:
    return host_context.args()


def instance_id() -> str:
    return host_context.instance_id()


def input_content_type() -> Optional[str]:
    return host_context.input_content_type()


def read_file(path: str) -> Optional[bytes]:
    """A package file's bytes; None when there is none at ``path``."""
    try:
        return host_package.read_file(path)
    except Err:
        return None


def is_directory(path: str) -> bool:
    return host_package.is_directory(path)


def set_exit_code(code: int) -> None:
    host_package.set_exit_code(code)
