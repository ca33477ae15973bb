# Passthrough: the input bytes (application/octet-stream) come out unchanged.
async def run(context, input):
    return input
