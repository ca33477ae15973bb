# NDJSON map: each application/x-ndjson input record {"id", "name", "n"} comes out as
# {"id": id, "name": NAME, "n": n * 2}, one NDJSON line per record.
async def run(context, input):
    return input.map(lambda rec: {"id": rec["id"], "name": str(rec["name"]).upper(), "n": rec["n"] * 2})
