# A StringStream chain: the input's non-empty lines, upper-cased.
# Input "hello\nworld\n\nbye" (text/plain) gives output "HELLO\nWORLD\nBYE\n".
from scramjet.streams import StringStream


async def run(context, input):
    return (
        StringStream.read_from(input)
        .decode("utf-8")
        .split("\n")
        .filter(lambda line: line != "")
        .map(lambda line: line.upper() + "\n")
    )
