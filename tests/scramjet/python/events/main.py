# Events: answers every event "ping" with an event "pong" {"got": <ping's message>},
# emits "hello" at start, prints "events sequence started" to stdout, and echoes each
# input line as "echo: <line>\n" until the input ends.
import time

from scramjet.streams import StringStream


async def run(context, input):
    def on_ping(message):
        context.logger.info("got ping %s", message)
        context.emit("pong", {"got": message, "at": time.time()})

    context.on("ping", on_ping)
    await context.emit("hello", {"started": time.time()})
    print("events sequence started", flush=True)
    async for line in StringStream.read_from(input).split("\n"):
        context.logger.info("line %s", line)
        yield f"echo: {line}\n"
