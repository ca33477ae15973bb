// Adds `"processed": true` to each JSON object record: the records/s benchmark.
//
// A record transform over newline-delimited JSON. Records are read and written through the
// buffered input and output, so there is no host call per record. Keys keep their order and
// the new field comes last. A line that is not a JSON object ends the run with an error
// naming the line, e.g. `line 3: expected a JSON object`.

/** @param {import("weir-sdk").Context} ctx */
export default async function ndjsonMap(ctx) {
  await ctx.mapRecords((record) => {
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      throw new Error("expected a JSON object");
    }
    record.processed = true;
    return record;
  });
}
