# Publishes to the topic "py-names" instead of /output: one NDJSON record {"name": <line>}
# per input line. Input "ann\nbob\n" puts {"name": "ann"} and {"name": "bob"} on the topic.
from scramjet.streams import StringStream

provides = {"provides": "py-names", "contentType": "application/x-ndjson"}


async def run(context, input):
    return StringStream.read_from(input).split("\n").filter(bool).map(lambda name: {"name": name})
