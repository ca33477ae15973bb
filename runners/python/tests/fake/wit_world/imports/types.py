from dataclasses import dataclass
from enum import Enum
from typing import Union


@dataclass
class Event:
    name: str
    message: str


@dataclass
class StopRequest:
    timeout_ms: int
    can_keep_alive: bool


@dataclass
class Signal_Event:
    value: Event


@dataclass
class Signal_Stop:
    value: StopRequest


Signal = Union[Signal_Event, Signal_Stop]


class LogLevel(Enum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4
