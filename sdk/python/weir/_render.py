"""The render world: a frame in, artifacts out.

Imported by the glue ``weir pack`` adds (``from weir._render import WitWorld``) and on
first use of ``weir.Frame``.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any, List, Union

import wit_world
from componentize_py_types import Err
from wit_world.imports import frames as host_frames
from wit_world.imports import log as host_log
from wit_world.imports import types as host_types

from . import drive, registered

_LEVELS = {
    "trace": host_types.LogLevel.TRACE,
    "debug": host_types.LogLevel.DEBUG,
    "info": host_types.LogLevel.INFO,
    "warn": host_types.LogLevel.WARN,
    "error": host_types.LogLevel.ERROR,
}


@dataclass
class Artifact:
    """One file a frame produced: its name, media type and bytes."""

    name: str
    media_type: str
    data: bytes


class Frame:
    """The frame being rendered: its number, attempt, job and settings."""

    def __init__(self, request: host_frames.FrameRequest) -> None:
        self.job_id: str = request.job_id
        self.number: int = request.frame
        self.attempt: int = request.attempt
        #: The package's ``[config]`` overlaid with the job's ``settings``.
        self.settings: dict[str, Any] = json.loads(request.settings)

    def settings_with(self, defaults: dict[str, Any]) -> dict[str, Any]:
        """The settings with ``defaults`` under them."""
        return {**defaults, **self.settings}

    def padded(self, width: int = 6) -> str:
        """The frame number padded to six digits, as in ``frame-000007.png``."""
        return f"{self.number:0{width}d}" if self.number >= 0 else f"-{-self.number:0{width}d}"

    def progress(self, fraction: float) -> None:
        """Reports how much of the frame is done, 0 … 1."""
        host_frames.report_progress(float(fraction))

    def log(self, level: str, message: str) -> None:
        """Writes one line into the job log at ``level`` (``"trace"`` … ``"error"``)."""
        host_log.log(_LEVELS[level], str(message))

    def info(self, message: str) -> None:
        self.log("info", message)

    def warn(self, message: str) -> None:
        self.log("warn", message)

    def artifact(self, name: str, media_type: str, data: Union[bytes, str]) -> Artifact:
        """An artifact; text is stored as UTF-8."""
        return Artifact(name, media_type, data.encode() if isinstance(data, str) else bytes(data))

    def png(self, name: str, width: int, height: int, rgb: Union[bytes, bytearray]) -> Artifact:
        """A PNG artifact of 8-bit RGB pixels (``width * height * 3`` bytes, top row first)."""
        return Artifact(name, "image/png", encode_png(width, height, rgb))


def encode_png(width: int, height: int, rgb: Union[bytes, bytearray]) -> bytes:
    """8-bit RGB pixels as a PNG (zlib-compressed)."""
    if len(rgb) != width * height * 3:
        raise ValueError(f"expected {width * height * 3} bytes of RGB, got {len(rgb)}")
    row = width * 3
    raw = b"".join(b"\x00" + bytes(rgb[y * row : (y + 1) * row]) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def run_render(request: host_frames.FrameRequest) -> List[host_frames.Artifact]:
    """The component's ``render``: calls the ``@weir.render`` function with the frame."""
    try:
        artifacts = drive(registered("render")(Frame(request)))
        if not isinstance(artifacts, list):
            raise TypeError("a render function returns a list of artifacts")
        return [host_frames.Artifact(a.name, a.media_type, bytes(a.data)) for a in artifacts]
    except Exception as e:
        raise Err(str(e)) from None


class WitWorld(wit_world.WitWorld):
    """The export componentize-py looks for."""

    def render(self, request: host_frames.FrameRequest) -> List[host_frames.Artifact]:
        return run_render(request)
