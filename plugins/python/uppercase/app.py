"""Upper-cases ASCII letters as the bytes stream through.

Works on raw chunks: each one is converted and flushed as soon as it arrives, so a reader
sees the output without waiting for a line end or the input's end.
"""

import weir


@weir.sequence
async def uppercase(ctx: weir.Context) -> None:
    async for chunk in ctx.input.chunks():
        # bytes.upper() changes ASCII letters only.
        await ctx.output.write(chunk.upper())
        await ctx.output.flush()
