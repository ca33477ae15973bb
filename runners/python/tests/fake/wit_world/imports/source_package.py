import os
from enum import Enum

from componentize_py_types import Err

from . import host


class FileError(Enum):
    NOT_FOUND = 0
    IS_DIRECTORY = 1
    TOO_LARGE = 2
    INVALID_PATH = 3


def read_file(path):
    full = os.path.join(host.state.root, path)
    if os.path.isdir(full):
        raise Err(FileError.IS_DIRECTORY)
    try:
        with open(full, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise Err(FileError.NOT_FOUND) from None


def is_directory(path):
    return os.path.isdir(os.path.join(host.state.root, path))


def set_exit_code(code):
    host.state.exit_code = code
