# Startup probe (as the peer hub's first-output): writes {"ready": <ms since epoch>} as
# soon as it runs, then echoes its input's chunks until the input ends.
import time


async def run(context, input):
    yield {"ready": int(time.time() * 1000)}
    async for chunk in input:
        yield chunk
