# Uppercase: text/plain input chunks come out upper-cased.
async def run(context, input):
    return input.map(str.upper)
