"""weir's SDK for Python plugins.

A plugin is one decorated function in ``app.py``; ``weir pack`` builds it into a component
with componentize-py against weir's WIT and this package::

    import weir

    @weir.sequence
    async def hello(ctx: weir.Context) -> None:
        await ctx.map_lines(lambda name: f"Hello {name}!")

A render plugin turns a frame into artifacts::

    @weir.render
    async def render(frame: weir.Frame) -> list[weir.Artifact]:
        frame.progress(1.0)
        return [frame.artifact(f"frame-{frame.padded()}.txt", "text/plain", f"{frame.number}\\n")]

The host calls behind the SDK block (the hub applies backpressure), so every ``await`` on
the SDK completes as soon as the call returns. A plugin awaits only the SDK's calls: there
is no asyncio event loop inside the component.

``Context``, ``Event``, ``Stop`` and ``LineError`` come from :mod:`weir._sequence`;
``Frame`` and ``Artifact`` from :mod:`weir._render`. Each is imported on first use, so a
render plugin never loads the sequence world's imports, nor the other way round.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, TypeVar, Union

__all__ = ["sequence", "render", "Context", "Event", "Stop", "LineError", "Frame", "Artifact"]

F = TypeVar("F", bound=Callable[..., Union[Awaitable[Any], Any]])

_registered: dict[str, Callable[..., Any]] = {}


def sequence(function: F) -> F:
    """Marks ``function(ctx)`` as the plugin's sequence: the component's ``run`` calls it.

    It may be ``async def`` or a plain function. An exception ends the instance as errored
    with the exception's message as the reason.
    """
    _registered["sequence"] = function
    return function


def render(function: F) -> F:
    """Marks ``function(frame)`` as the plugin's renderer: it returns a list of artifacts.

    It may be ``async def`` or a plain function. An exception fails this attempt of the frame
    with the exception's message.
    """
    _registered["render"] = function
    return function


def registered(kind: str) -> Callable[..., Any]:
    """The function decorated with ``@weir.sequence`` or ``@weir.render``."""
    try:
        return _registered[kind]
    except KeyError:
        raise LookupError(f"app.py has no @weir.{kind} function") from None


def drive(result: Any) -> Any:
    """Runs a coroutine whose awaits all complete at once (the SDK's) to its end."""
    if not hasattr(result, "send"):
        return result
    try:
        result.send(None)
        while True:
            result.throw(
                RuntimeError(
                    "a weir plugin can await only the SDK's calls: there is no event loop in the component"
                )
            )
    except StopIteration as stop:
        return stop.value


def __getattr__(name: str) -> Any:
    if name in ("Context", "Event", "Stop", "LineError", "Signal"):
        from . import _sequence

        return getattr(_sequence, name)
    if name in ("Frame", "Artifact"):
        from . import _render

        return getattr(_render, name)
    raise AttributeError(f"module 'weir' has no attribute {name!r}")
