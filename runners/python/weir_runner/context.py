"""``context``: what a Scramjet Python sequence's ``run`` gets first.

As on the Scramjet hub: ``config``, ``logger`` (a ``logging.Logger`` whose lines go to the
instance log), ``emit``, ``on``, ``keep_alive``, ``set_stop_handler``, ``set_health_check``.
``emit`` and ``keep_alive`` act at once and return an awaitable, so both ``ctx.emit(…)`` and
``await ctx.emit(…)`` work.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Optional

from scramjet.streams import DONE

from . import host

#: Events kept for handlers not registered yet (the oldest are dropped past this).
UNHANDLED_EVENTS = 64


class InstanceLogHandler(logging.Handler):
    """Writes log records to the instance log (``/instance/:id/log``)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
        except Exception:
            message = str(record.msg)
        if record.levelno >= logging.ERROR:
            level = "error"
        elif record.levelno >= logging.WARNING:
            level = "warn"
        elif record.levelno >= logging.INFO:
            level = "info"
        elif record.levelno >= logging.DEBUG:
            level = "debug"
        else:
            level = "trace"
        host.log(level, message)


def instance_logger() -> logging.Logger:
    logger = logging.getLogger("sequence")
    if not logger.handlers:
        logger.addHandler(InstanceLogHandler())
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


class AppContext:
    """The sequence's view of its instance."""

    def __init__(self, config: dict, instance_id: str) -> None:
        #: The start request's ``appConfig`` (over the package's defaults).
        self.config = config
        self.instance_id = instance_id
        self.logger = instance_logger()
        self.handlers: dict[str, list[Callable]] = {}
        #: Events that came before any handler of their name: handed to the first one.
        self.unhandled: list = []
        self.dispatch: Callable[[Any], None] = lambda event: None
        self.finish: Callable[[Optional[str]], None] = lambda error: None
        self.stop_handlers: list[Callable] = []
        self.keep_alive_requested = False
        self.health_check: Callable[[], Any] = lambda: {"healthy": True}

    def emit(self, event_name: str, message: Any = ""):
        """Emits event ``event_name`` with ``message`` (any JSON value)."""
        host.emit(event_name, json.dumps(message, default=str))
        return DONE

    def on(self, event_name: str, callback: Callable[[Any], Any]) -> "AppContext":
        """Calls ``callback(message)`` (plain or ``async``) for each event ``event_name``; handlers
        run whenever the sequence waits."""
        self.handlers.setdefault(event_name, []).append(callback)
        waiting = [event for event in self.unhandled if event.name == event_name]
        if waiting:
            self.unhandled = [event for event in self.unhandled if event.name != event_name]
            for event in waiting:
                self.dispatch(event)
        return self

    def keep_alive(self, timeout: float = 0):
        """Asks the hub for ``timeout`` ms more; after a stop that allows it, cancels the stop."""
        self.keep_alive_requested = True
        host.keep_alive(max(0, int(timeout)))
        return DONE

    def set_stop_handler(self, handler: Callable[[float, bool], Any], *args: Any) -> None:
        """``handler(timeout_s, can_keep_alive)`` (plain or ``async``) runs when the hub asks the
        instance to stop."""
        self.stop_handlers.append(handler)

    def set_health_check(self, health_check: Callable[[], Any]) -> None:
        """Accepted; weir monitors the sandbox itself and does not call it."""
        self.health_check = health_check

    # The names newer Scramjet runners give these.
    add_stop_handler = set_stop_handler
    add_monitoring_handler = set_health_check

    def add_kill_handler(self, handler: Callable[[], Any]) -> None:
        """Accepted and never called: a kill ends the sandbox at once."""

    def end(self) -> None:
        """Ends the sequence now, as completed (what it wrote so far is kept)."""
        self.finish(None)

    def destroy(self, error: Any = None) -> None:
        """Ends the sequence now, as failed with ``error``."""
        self.finish(str(error) if error is not None else "the sequence destroyed itself")
