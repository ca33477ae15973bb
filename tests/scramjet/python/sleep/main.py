# asyncio in a sequence: three tasks sleep 150, 50 and 100 ms, each emits event "tick"
# with its delay and puts it on an asyncio.Queue; the output is one JSON line,
# {"order": [50, 100, 150]}, after about 150 ms (the sleeps overlap).
import asyncio


async def run(context, input):
    queue = asyncio.Queue()

    async def tick(ms):
        await asyncio.sleep(ms / 1000)
        context.emit("tick", ms)
        await queue.put(ms)

    await asyncio.gather(*(asyncio.create_task(tick(ms)) for ms in (150, 50, 100)))
    return {"order": [queue.get_nowait() for _ in range(queue.qsize())]}
