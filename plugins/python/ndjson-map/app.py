"""Adds ``"processed": true`` to each JSON object record: the records/s benchmark.

A record transform over newline-delimited JSON. Records are read and written through the
buffered input and output, so there is no host call per record. Keys keep their order and
the new field comes last. A line that is not a JSON object ends the run with an error
naming the line, e.g. ``line 3: expected a JSON object``.
"""

from typing import Any

import weir


def mark(record: Any) -> dict:
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    record["processed"] = True
    return record


@weir.sequence
async def ndjson_map(ctx: weir.Context) -> None:
    await ctx.map_records(mark)
