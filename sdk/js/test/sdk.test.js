// The JavaScript SDK against a fake host: line and record framing across chunks, output
// buffering, events, topics, errors, and the render side.
import { test } from "node:test";
import assert from "node:assert/strict";

import { host, reset } from "./fake-host.js";
import { runSequence, LineError } from "../sequence.js";
import { runRender, encodePng } from "../render.js";

const bytes = (text) => new TextEncoder().encode(text);
const output = () => new TextDecoder().decode(Buffer.concat(host.writes));

/** `text` as chunks cut at the given byte offsets. */
function chunks(text, ...cuts) {
  const all = bytes(text);
  const edges = [0, ...cuts, all.length];
  return edges.slice(1).map((end, i) => all.slice(edges[i], end));
}

test("lines are split across chunks, inside a UTF-8 character too, and CRLF is dropped", async () => {
  // "ö" is two bytes at offsets 8 and 9: the cut at 9 splits it.
  reset({ input: chunks("hello\r\nwörld\nlast", 3, 9, 13) });
  await runSequence((ctx) => ctx.mapLines((line) => line.toUpperCase()));
  assert.equal(output(), "HELLO\nWÖRLD\nLAST\n");
});

test("output is flushed before each read of input, in one host call per chunk", async () => {
  reset({ input: [bytes("a\nb\n"), bytes("c\n")] });
  await runSequence((ctx) => ctx.mapLines((line) => `<${line}>`));
  assert.deepEqual(host.writes.map((w) => new TextDecoder().decode(w)), ["<a>\n<b>\n", "<c>\n"]);
});

test("a bad record names its line, blank lines counted, and the error ends the run", async () => {
  reset({ input: [bytes('{"a":1}\n\n[1\n')] });
  await assert.rejects(runSequence((ctx) => ctx.mapRecords((r) => r)), (message) => {
    assert.equal(typeof message, "string");
    assert.match(message, /^line 3: /);
    return true;
  });
  assert.equal(output(), '{"a":1}\n');
});

test("filterRecords keeps what its predicate accepts; an error from it names the line", async () => {
  reset({ input: [bytes('{"n":1}\n{"n":2}\n{"n":3}\n')] });
  await runSequence((ctx) => ctx.filterRecords((r) => r.n % 2 === 1));
  assert.equal(output(), '{"n":1}\n{"n":3}\n');
  reset({ input: [bytes('{"n":1}\n{"n":2}\n')] });
  await assert.rejects(
    runSequence((ctx) => ctx.filterRecords((r) => { if (r.n === 2) throw new Error("two"); return true; })),
    /^line 2: two$/,
  );
  assert.ok(new LineError(4, "x").message === "line 4: x");
});

test("events end at the stop request and emit JSON", async () => {
  reset({
    signals: [
      { tag: "event", val: { name: "ping", message: '{"n":1}' } },
      undefined,
      { tag: "event", val: { name: "ping", message: "not json" } },
      { tag: "stop", val: { timeoutMs: 5000n, canKeepAlive: true } },
      { tag: "event", val: { name: "never", message: "null" } },
    ],
  });
  const seen = [];
  await runSequence(async (ctx) => {
    for await (const event of ctx.events()) {
      seen.push(event.message);
      ctx.emit("pong", event.message);
    }
    ctx.keepAlive(1500.2);
  });
  assert.deepEqual(seen, [{ n: 1 }, "not json"]);
  assert.deepEqual(host.emitted, [["pong", '{"n":1}'], ["pong", '"not json"']]);
  assert.deepEqual(host.keptAlive, [1501n]);
});

test("on hands events to their handler while untilStopped waits", async () => {
  reset({
    signals: [
      { tag: "event", val: { name: "ping", message: '"a"' } },
      { tag: "event", val: { name: "other", message: "1" } },
      { tag: "event", val: { name: "ping", message: '"b"' } },
      { tag: "stop", val: { timeoutMs: 0n, canKeepAlive: false } },
    ],
  });
  await runSequence(async (ctx) => {
    ctx.on("ping", async (message) => ctx.emit("pong", `reply to ${message}`));
    await ctx.untilStopped();
  });
  assert.deepEqual(host.emitted, [["pong", '"reply to a"'], ["pong", '"reply to b"']]);
});

test("topics publish records and read a subscription as records", async () => {
  reset({ topics: { in: [bytes('{"x":1}\n{"x'), bytes('":2}\n')] } });
  await runSequence(async (ctx) => {
    for await (const record of ctx.topic("in").subscribe().records()) {
      await ctx.topic("out").publishRecord({ y: record.x * 10 });
    }
  });
  assert.deepEqual(host.subscribed, ["in"]);
  assert.deepEqual(host.published, [["out", '{"y":10}\n'], ["out", '{"y":20}\n']]);
});

test("config, args and log come from the host", async () => {
  reset({ config: '{"mode":"fast"}', args: '["a",2]' });
  await runSequence((ctx) => {
    ctx.info(`${ctx.config.mode} ${ctx.args.join(",")}`);
    assert.throws(() => ctx.log("loud", "x"), /unknown log level/);
  });
  assert.deepEqual(host.logs, [["info", "fast a,2"]]);
});

test("a closed output is an error naming it", async () => {
  reset();
  host.closed = true;
  await assert.rejects(runSequence((ctx) => ctx.output.write("x")), /the output is closed/);
  host.closed = false;
});

test("render turns a frame into artifacts and reports progress", async () => {
  reset();
  const request = { jobId: "j", frame: 7n, attempt: 1, settings: '{"text":"hi"}' };
  const artifacts = await runRender((frame) => {
    frame.progress(0.5);
    const { text, size } = frame.settingsWith({ text: "x", size: 2 });
    return [frame.artifact(`frame-${frame.padded()}.txt`, "text/plain", `${text} ${frame.number} ${size}`)];
  }, request);
  assert.deepEqual(artifacts.map((a) => [a.name, a.mediaType, new TextDecoder().decode(a.data)]), [
    ["frame-000007.txt", "text/plain", "hi 7 2"],
  ]);
  assert.deepEqual(host.progress, [0.5]);
  await assert.rejects(runRender(() => { throw new Error("bad frame"); }, request), /^bad frame$/);
});

test("encodePng writes a PNG that zlib can inflate back to the pixels", async () => {
  const { inflateSync } = await import("node:zlib");
  const rgb = Uint8Array.from({ length: 3 * 4 * 2 }, (_, i) => i * 7);
  const png = encodePng(4, 2, rgb);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const idat = png.indexOf(0x49, 33); // "IDAT" follows the IHDR chunk
  const length = new DataView(png.buffer).getUint32(idat - 4);
  const raw = inflateSync(png.subarray(idat + 4, idat + 4 + length));
  assert.deepEqual([...raw], [0, ...rgb.subarray(0, 12), 0, ...rgb.subarray(12)]);
});
