// What the JavaScript runner's engine (SpiderMonkey, interpreted, in wasm) charges for the
// operations sequences are made of: one NDJSON line per measurement on /output, then it ends.
// Run by tests/bench/js-engine.sh; each figure is the mean over N operations (Date.now, 1 ms).
const { StringDecoder } = require("string_decoder");

function perOp(name, n, f) {
  const t0 = Date.now();
  f(n);
  return { op: name, us: ((Date.now() - t0) * 1000) / n };
}

async function perOpAsync(name, n, f) {
  const t0 = Date.now();
  await f(n);
  return { op: name, us: ((Date.now() - t0) * 1000) / n };
}

function perChunk(name, n, f) {
  const t0 = Date.now();
  f(n);
  const ms = Math.max(Date.now() - t0, 1);
  return { op: name, us: (ms * 1000) / n, MiBps: Math.round((n * 64) / 1024 / (ms / 1000)) };
}

function atDepth(depth, f) {
  return depth === 0 ? f() : atDepth(depth - 1, f);
}

module.exports = async function* () {
  const N = 20000;
  yield perOp("object literal", N, (n) => { for (let i = 0; i < n; i++) ({ a: i, b: "x", c: i * 2 }); });
  yield perOp("new Promise", N, (n) => { for (let i = 0; i < n; i++) new Promise(() => {}); });
  yield atDepth(100, () => perOp("new Promise, 100 frames deep", N, (n) => { for (let i = 0; i < n; i++) new Promise(() => {}); }));
  yield perOp("Promise.resolve(x)", N, (n) => { for (let i = 0; i < n; i++) Promise.resolve(i); });
  yield await perOpAsync("await of a plain value", N, async (n) => { for (let i = 0; i < n; i++) await i; });
  yield await perOpAsync("await Promise.resolve(x)", N, async (n) => { for (let i = 0; i < n; i++) await Promise.resolve(i); });
  yield await perOpAsync("async generator item through for await", N, async (n) => {
    async function* items() { for (let i = 0; i < n; i++) yield i; }
    for await (const _ of items());
  });
  yield await perOpAsync("async generator item over an awaited source", N, async (n) => {
    const source = { i: 0, next() { return Promise.resolve(this.i < n ? { value: this.i++, done: false } : { done: true }); }, [Symbol.asyncIterator]() { return this; } };
    async function* items() { for await (const x of source) yield x; }
    for await (const _ of items());
  });
  yield await perOpAsync("the same, its consumer with 32 next() calls in flight", N, async (n) => {
    const source = { i: 0, next() { return Promise.resolve(this.i < n ? { value: this.i++, done: false } : { done: true }); }, [Symbol.asyncIterator]() { return this; } };
    async function* items() { for await (const x of source) yield x; }
    const it = items();
    const pending = [];
    for (let k = 0; k < 32; k++) pending.push(it.next());
    for (let head = 0; ; head++) {
      const r = await pending[head];
      if (r.done) break;
      pending.push(it.next());
    }
  });
  yield perOp("JSON.parse of a 40-byte record", N, (n) => { for (let i = 0; i < n; i++) JSON.parse('{"id":12345,"name":"name-12345","n":12345}'); });
  yield perOp("JSON.stringify of a 3-field record", N, (n) => { for (let i = 0; i < n; i++) JSON.stringify({ id: i, name: "NAME-1", n: i }); });
  yield perOp("String(s).toUpperCase(), 10 chars", N, (n) => { for (let i = 0; i < n; i++) String("name-" + i).toUpperCase(); });

  const C = 400;
  const bytes = new Uint8Array(65536);
  for (let i = 0; i < bytes.length; i++) bytes[i] = 97 + (i % 26);
  const text = new TextDecoder().decode(bytes);
  const upper = text.toUpperCase();
  yield perChunk("64 KiB: TextDecoder.decode", C, (n) => { const d = new TextDecoder(); for (let i = 0; i < n; i++) d.decode(bytes, { stream: true }); });
  yield perChunk("64 KiB: StringDecoder.write", C, (n) => { const d = new StringDecoder("utf8"); for (let i = 0; i < n; i++) d.write(bytes); });
  yield perChunk("64 KiB: toUpperCase", C, (n) => { for (let i = 0; i < n; i++) text.toUpperCase(); });
  yield perChunk("64 KiB: TextEncoder.encode", C, (n) => { const e = new TextEncoder(); for (let i = 0; i < n; i++) e.encode(upper); });
  yield perChunk("64 KiB: upper-case byte by byte in JavaScript", C / 40, (n) => {
    for (let i = 0; i < n; i++) {
      const out = new Uint8Array(bytes.length);
      for (let j = 0; j < bytes.length; j++) { const c = bytes[j]; out[j] = c >= 97 && c <= 122 ? c - 32 : c; }
    }
  });
};
