// The built-in modules' behaviour sequences rely on: streams (modes, pipe, backpressure,
// Transform, pipeline, finished, async iteration), Buffer, util, StringDecoder, events.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Readable, Writable, Duplex, Transform, PassThrough, pipeline, finished, promises } from "../node/stream.js";
import { Buffer } from "../node/buffer.js";
import util from "../node/util.js";
import { StringDecoder } from "../node/string_decoder.js";
import { EventEmitter } from "../node/events.js";
import { Timers } from "../node/timers.js";

function collect(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on("data", (chunk) => chunks.push(chunk));
    stream.on("end", () => resolve(chunks));
    stream.on("error", reject);
  });
}

test("Readable: push from _read, flowing 'data' then 'end' then 'close'", async () => {
  let n = 0;
  const events = [];
  const r = new Readable({
    objectMode: true,
    read() {
      n += 1;
      this.push(n <= 3 ? { n } : null);
    },
  });
  r.on("end", () => events.push("end"));
  r.on("close", () => events.push("close"));
  assert.deepEqual(await collect(r), [{ n: 1 }, { n: 2 }, { n: 3 }]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(events, ["end", "close"]);
  assert.equal(r.readableEnded, true);
  assert.equal(r.destroyed, true);
});

test("Readable: paused mode read(), byte mode concatenates, setEncoding gives strings", async () => {
  const r = new Readable({ read() {} });
  r.push("ab");
  r.push(Buffer.from("cd"));
  assert.equal(r.read().toString(), "abcd");
  r.push("efgh");
  assert.equal(r.read(2).toString(), "ef");
  r.setEncoding("utf8");
  assert.equal(r.read(), "gh");
  r.push(Buffer.from([0xc3]));
  r.push(Buffer.from([0xb6]));
  r.push(null);
  assert.equal(r.read(), "ö");
});

test("Readable.from: async generators, strings, arrays; objectMode: false gives bytes", async () => {
  async function* gen() {
    yield "a";
    yield "b";
  }
  assert.deepEqual(await collect(Readable.from(gen())), ["a", "b"]);
  assert.deepEqual(await collect(Readable.from([1, 2, 3])), [1, 2, 3]);
  const bytes = await collect(Readable.from(gen(), { objectMode: false }));
  assert.equal(Buffer.concat(bytes).toString(), "ab");
  assert.ok(Buffer.isBuffer(bytes[0]));
});

test("async iteration over a Readable, and breaking out destroys it", async () => {
  const r = Readable.from([1, 2, 3, 4]);
  const seen = [];
  for await (const x of r) {
    seen.push(x);
    if (x === 2) break;
  }
  assert.deepEqual(seen, [1, 2]);
  assert.equal(r.destroyed, true);
  const errors = new Readable({ read() { this.destroy(new Error("bad")); } });
  await assert.rejects(async () => { for await (const _ of errors); }, /bad/);
});

test("pipe respects backpressure: the source pauses until the destination drains", async () => {
  const written = [];
  let pending = null;
  const slow = new Writable({
    objectMode: true,
    highWaterMark: 2,
    write(chunk, _encoding, callback) {
      written.push(chunk);
      pending = callback;
    },
  });
  const source = Readable.from([1, 2, 3, 4, 5, 6]);
  source.pipe(slow);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(written, [1]);
  assert.equal(source.isPaused(), true);
  const finishedWriting = new Promise((resolve) => slow.on("finish", resolve));
  while (pending) {
    const callback = pending;
    pending = null;
    callback();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await finishedWriting;
  assert.deepEqual(written, [1, 2, 3, 4, 5, 6]);
});

test("Transform with flush, PassThrough, a byte Duplex; pipeline and finished report the end or the first error", async () => {
  const upper = new Transform({
    transform(chunk, _encoding, callback) {
      callback(null, chunk.toString().toUpperCase());
    },
    flush(callback) {
      callback(null, "!");
    },
  });
  const sink = [];
  const out = new Writable({
    write(chunk, _encoding, callback) {
      sink.push(chunk.toString());
      callback();
    },
  });
  await promises.pipeline(Readable.from(["a", "b"]), upper, new PassThrough(), out);
  assert.equal(sink.join(""), "AB!");

  const failing = new Transform({
    transform(_chunk, _encoding, callback) {
      callback(new Error("transform failed"));
    },
  });
  const error = await new Promise((resolve) => pipeline(Readable.from(["x"]), failing, new PassThrough(), resolve));
  assert.match(error.message, /transform failed/);

  const duplex = new Duplex({ read() {}, write(chunk, _e, callback) { this.push(chunk); callback(); } });
  duplex.end("echo");
  assert.equal(duplex.read().toString(), "echo");
  const done = await new Promise((resolve) => finished(out, resolve));
  assert.equal(done, undefined);
});

test("pipeline takes async generator functions as stages", async () => {
  const sink = [];
  await promises.pipeline(
    Readable.from([1, 2, 3]),
    async function* (source) {
      for await (const n of source) yield n * 10;
    },
    new Writable({ objectMode: true, write(chunk, _e, callback) { sink.push(chunk); callback(); } }),
  );
  assert.deepEqual(sink, [10, 20, 30]);
});

test("Writable: write after end errors; end callback after finish; instanceof for Duplex", async () => {
  const w = new Writable({ write(_c, _e, callback) { callback(); } });
  const errors = [];
  w.on("error", (e) => errors.push(e.code));
  const ended = new Promise((resolve) => w.end("x", resolve));
  w.write("y");
  assert.equal((await ended).code, "ERR_STREAM_WRITE_AFTER_END");
  assert.deepEqual(errors, ["ERR_STREAM_WRITE_AFTER_END"]);
  assert.ok(new Duplex() instanceof Writable);
  assert.ok(new PassThrough() instanceof Readable);
  assert.ok(!(new Readable() instanceof Writable));
});

test("old-style subclasses: Readable.call(this) with util.inherits", async () => {
  function Counter() {
    Readable.call(this, { objectMode: true });
    this.n = 0;
  }
  util.inherits(Counter, Readable);
  Counter.prototype._read = function () {
    this.push(this.n < 2 ? this.n++ : null);
  };
  assert.deepEqual(await collect(new Counter()), [0, 1]);
});

test("Buffer: from/alloc/concat, encodings, slice is a view, JSON, reads and writes", () => {
  const b = Buffer.from("héllo");
  assert.equal(b.length, 6);
  assert.equal(b.toString("hex"), "68c3a96c6c6f");
  assert.equal(Buffer.from("68c3a96c6c6f", "hex").toString(), "héllo");
  assert.equal(b.toString("base64"), "aMOpbGxv");
  assert.equal(Buffer.from("aMOpbGxv", "base64").toString(), "héllo");
  assert.equal(Buffer.from("aGk", "base64url").toString(), "hi");
  assert.equal(Buffer.from([104, 105]).toString("latin1"), "hi");
  const view = b.slice(1, 3);
  view[0] = 0x41;
  assert.equal(b[1], 0x41);
  assert.ok(Buffer.isBuffer(view));
  assert.equal(Buffer.concat([Buffer.from("a"), Buffer.alloc(2, "z")]).toString(), "azz");
  assert.deepEqual(JSON.parse(JSON.stringify(Buffer.from("ab"))), { type: "Buffer", data: [97, 98] });
  assert.equal(Buffer.byteLength("héllo"), 6);
  const n = Buffer.alloc(4);
  n.writeUInt32BE(0x01020304);
  assert.equal(n.readUInt16LE(2), 0x0403);
  assert.equal(Buffer.from("hello world").indexOf("world"), 6);
  assert.ok(Buffer.from("abc").equals(Buffer.from("abc")));
});

test("util: format, inspect, promisify, inherits", async () => {
  assert.equal(util.format("%s is %d, %j %%", "x", 4.5, { a: 1 }, "extra"), 'x is 4.5, {"a":1} % extra');
  assert.equal(util.format("a", { b: [1, "c"] }), "a { b: [ 1, 'c' ] }");
  assert.equal(util.inspect(new Map([[1, 2]])), "Map(1) { 1 => 2 }");
  const later = util.promisify((x, callback) => setImmediate(() => callback(null, x * 2)));
  assert.equal(await later(21), 42);
  function Base() {}
  Base.prototype.hi = () => "hi";
  function Child() {}
  util.inherits(Child, Base);
  assert.equal(new Child().hi(), "hi");
  assert.equal(Child.super_, Base);
});

test("StringDecoder keeps characters split between chunks whole (utf8 and base64)", () => {
  const d = new StringDecoder("utf8");
  const euro = Buffer.from("€");
  assert.equal(d.write(euro.subarray(0, 1)) + d.write(euro.subarray(1)), "€");
  const b = new StringDecoder("base64");
  assert.equal(b.write(Buffer.from("ab")) + b.end(Buffer.from("c")), "YWJj");
});

test("EventEmitter: order, once, prepend, off, and an unhandled error throws", () => {
  const e = new EventEmitter();
  const seen = [];
  e.on("x", (v) => seen.push(`on ${v}`));
  e.once("x", (v) => seen.push(`once ${v}`));
  e.prependListener("x", (v) => seen.push(`first ${v}`));
  e.emit("x", 1);
  e.emit("x", 2);
  assert.deepEqual(seen, ["first 1", "on 1", "once 1", "first 2", "on 2"]);
  assert.equal(e.listenerCount("x"), 2);
  assert.throws(() => e.emit("error", new Error("unhandled")), /unhandled/);
});

test("timers: due order, intervals, clear, unref, immediates first", () => {
  let now = 0;
  const timers = new Timers(() => now);
  const seen = [];
  timers.setTimeout(() => seen.push("t20"), 20);
  const interval = timers.setInterval(() => seen.push("i10"), 10);
  const cleared = timers.setTimeout(() => seen.push("never"), 5);
  timers.clear(cleared);
  timers.setImmediate(() => seen.push("immediate"));
  assert.equal(timers.nextDue(), 0);
  timers.runDue();
  now = 10;
  timers.runDue();
  now = 20;
  timers.runDue();
  timers.clear(interval);
  // Due at the same time: the one scheduled first runs first.
  assert.deepEqual(seen, ["immediate", "i10", "t20", "i10"]);
  assert.equal(timers.hasRef(), false);
  timers.setTimeout(() => {}, 5).unref();
  assert.equal(timers.hasRef(), false);
  assert.equal(timers.nextDue(), 25);
});
