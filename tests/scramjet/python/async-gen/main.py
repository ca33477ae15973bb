# An async generator yielding objects: with appConfig {"count": 3} (the default) the
# output is three NDJSON lines, {"n": 0, "square": 0}, {"n": 1, "square": 1},
# {"n": 2, "square": 4}.
import asyncio


async def run(context, input):
    for n in range(context.config.get("count", 3)):
        await asyncio.sleep(0)
        yield {"n": n, "square": n * n}
