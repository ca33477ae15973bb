# Imports pure-Python modules bundled in __pypackages__: `greeting` as `pip install -t`
# lays it out, `shout` as PEP 582 does (__pypackages__/3.14/lib). Input "ann\nbob\n"
# (text/plain) gives "Hello, ann!\nHELLO, BOB!\n" (every second line shouted).
from greeting import greet
from scramjet.streams import StringStream
from shout import shout


async def run(context, input):
    lines = StringStream.read_from(input).split("\n").filter(bool)
    count = 0

    def render(name):
        nonlocal count
        count += 1
        text = greet(name)
        return (shout(text) if count % 2 == 0 else text) + "\n"

    return lines.map(render)
