// Upper-cases ASCII letters as the bytes stream through.
//
// Works on raw chunks: each one is converted and flushed as soon as it arrives, so a reader
// sees the output without waiting for a line end or the input's end.

/** @param {import("weir-sdk").Context} ctx */
export default async function uppercase(ctx) {
  for await (const chunk of ctx.input.chunks()) {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (byte >= 0x61 && byte <= 0x7a) chunk[i] = byte - 0x20;
    }
    await ctx.output.write(chunk);
    await ctx.output.flush();
  }
}
