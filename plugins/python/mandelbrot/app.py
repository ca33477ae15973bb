"""Renders frame N of a zoom into the Mandelbrot set as ``frame-{N:06}.png``: the twin of
the Rust ``mandelbrot`` plugin, pixel for pixel.

A render plugin: settings with defaults and a clear error, progress per band of rows, and
output that depends only on the frame and the settings (same bytes every time).
"""

import math

import weir

DEFAULTS = {
    "width": 320,
    "height": 240,
    "max_iter": 200,
    "zoom_per_frame": 1.1,
    "center_x": -0.743643887037151,
    "center_y": 0.131825904205330,
    "scale": 3.0,
}
BANDS = 16


@weir.render
async def render(frame: weir.Frame) -> list:
    s = frame.settings_with(DEFAULTS)
    check(s)
    width, height, max_iter = s["width"], s["height"], s["max_iter"]
    # Frame N shows a view zoom_per_frame^N times narrower than frame 0.
    step = s["scale"] / s["zoom_per_frame"] ** frame.number / width
    left, top = s["center_x"] - step * width / 2, s["center_y"] + step * height / 2
    rgb = bytearray(width * height * 3)
    band = -(-height // BANDS)
    at = 0
    for y in range(height):
        ci = top - (y + 0.5) * step
        for x in range(width):
            rgb[at : at + 3] = color(escape_time(left + (x + 0.5) * step, ci, max_iter), max_iter)
            at += 3
        if (y + 1) % band == 0 or y + 1 == height:
            frame.progress((y + 1) / height)
    return [frame.png(f"frame-{frame.padded()}.png", width, height, rgb)]


def check(s: dict) -> None:
    for name, top in (("width", 8192), ("height", 8192), ("max_iter", 1_000_000)):
        value = s[name]
        if not (isinstance(value, int) and 1 <= value <= top):
            raise ValueError(f"invalid settings: {name} must be between 1 and {top}, got {value}")
    for name in ("zoom_per_frame", "scale"):
        value = s[name]
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"invalid settings: {name} must be a positive number, got {value}")


def escape_time(cr: float, ci: float, max_iter: int) -> int:
    """Iterations until z = z² + c leaves the radius-2 disc; ``max_iter`` if it never does."""
    zr = zi = 0.0
    for i in range(max_iter):
        if zr * zr + zi * zi > 4.0:
            return i
        zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
    return max_iter


def color(iterations: int, max_iter: int) -> bytes:
    """Black inside the set; outside, a blue-orange ramp over the escape time."""
    if iterations >= max_iter:
        return b"\x00\x00\x00"
    t = math.sqrt(iterations / max_iter)
    u = 1.0 - t

    def channel(v: float) -> int:
        return int(min(max(v, 0.0), 1.0) * 255.0)

    return bytes((channel(9.0 * u * t * t * t), channel(15.0 * u * u * t * t), channel(8.5 * u * u * u * t)))
