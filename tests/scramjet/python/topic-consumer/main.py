# Reads the topic "py-names" as its input (parsed NDJSON records) and writes
# "Hello <name>!\n" for each: after topic-producer got "ann\nbob\n", the output is
# "Hello ann!\nHello bob!\n" (and it runs until stopped: a topic never ends).
requires = {"requires": "py-names", "contentType": "application/x-ndjson"}


async def run(context, input):
    return input.map(lambda record: f"Hello {record['name']}!\n")
