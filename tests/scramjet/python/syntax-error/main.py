# Cannot load: a syntax error. The instance ends errored with exit code 22 and no output;
# its log has the SyntaxError with the line (main.py, line 3).
async def run(context, input)
    return "never"
