"""Greets each input line: ``X`` becomes ``Hello X!``.

The smallest Python plugin: one decorated function and a line transform.
"""

import weir


@weir.sequence
async def hello(ctx: weir.Context) -> None:
    await ctx.map_lines(lambda name: f"Hello {name}!")
