from enum import Enum

from componentize_py_types import Err

from . import host


class WriteError(Enum):
    CLOSED = 0


def read_input(max_len):
    raise AssertionError("the runner reads its input through events.next")


def write_output(data):
    if host.state.closed:
        raise Err(WriteError.CLOSED)
    host.state.writes.append(bytes(data))
