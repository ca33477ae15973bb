// Answers each `test-event` with a `test-response` event: `"reply to M"` for message `M`.
//
// Receiving events until the stop request, and emitting events.

/** @param {import("weir-sdk").Context} ctx */
export default async function events(ctx) {
  for await (const event of ctx.events()) {
    if (event.name !== "test-event") continue;
    const message = typeof event.message === "string" ? event.message : JSON.stringify(event.message);
    ctx.emit("test-response", `reply to ${message}`);
  }
}
