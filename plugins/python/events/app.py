"""Answers each ``test-event`` with a ``test-response`` event: ``"reply to M"`` for message ``M``.

Receiving events until the stop request, and emitting events.
"""

import json

import weir


@weir.sequence
async def events(ctx: weir.Context) -> None:
    async for event in ctx.events():
        if event.name != "test-event":
            continue
        message = event.message if isinstance(event.message, str) else json.dumps(event.message, separators=(",", ":"))
        ctx.emit("test-response", f"reply to {message}")
