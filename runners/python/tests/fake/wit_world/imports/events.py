from dataclasses import dataclass
from typing import Optional

from . import host, types


@dataclass
class Source_Input:
    pass


@dataclass
class Source_Topic:
    value: str


@dataclass
class Arrival_Data:
    value: Optional[bytes]


@dataclass
class Arrival_Signal:
    value: types.Signal


@dataclass
class Arrival_Timeout:
    pass


def emit(name, message):
    host.state.emitted.append((name, message))


def wait(timeout_ms):
    return host.state.signals.pop(0) if host.state.signals else None


def next(read, max_len, timeout_ms):
    return host.next_arrival(read, max_len, timeout_ms)


def keep_alive(ms):
    host.state.kept_alive.append(ms)
