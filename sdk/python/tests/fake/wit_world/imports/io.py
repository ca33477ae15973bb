from componentize_py_types import Err

from . import host


def read_input(max_len):
    chunk = host.input.pop(0) if host.input else None
    assert chunk is None or len(chunk) <= max_len
    return chunk


def write_output(data):
    if host.closed:
        raise Err(0)
    host.writes.append(bytes(data))
