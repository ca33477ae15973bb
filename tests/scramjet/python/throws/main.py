# Fails while it runs: writes "first\n", then raises. The instance ends errored with exit
# code 23; its log has "RuntimeError: this sequence fails on purpose" and the traceback.
async def run(context, input):
    yield "first\n"
    raise RuntimeError("this sequence fails on purpose")
