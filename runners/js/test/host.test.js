// host.js against the bindings' shapes: timeouts as BigInt, absent files as undefined, the
// other read errors and a closed output as errors that say what happened.
import { test } from "node:test";
import assert from "node:assert/strict";
import { register } from "node:module";

register("./wit-hooks.mjs", import.meta.url);
const { host } = await import("../host.js");
const { calls, state } = await import("./wit-fake.js");

test("next passes the timeout as a whole BigInt (none stays none), keepAlive too", () => {
  host.next({ tag: "input" }, 1024, 2.3);
  host.next(undefined, 1024, undefined);
  host.keepAlive(1500);
  assert.deepEqual(calls.splice(0), [
    ["next", { tag: "input" }, 1024, 3n],
    ["next", undefined, 1024, undefined],
    ["keepAlive", 1500n],
  ]);
});

test("readFile: bytes, undefined when absent or a directory, an error when too large", () => {
  assert.deepEqual(host.readFile("package.json"), new Uint8Array([123, 125]));
  assert.equal(host.readFile("nope.js"), undefined);
  assert.equal(host.readFile("dir"), undefined);
  assert.throws(() => host.readFile("big.bin"), /cannot read big\.bin: too-large/);
});

test("a closed output and a refused publish are errors naming what failed", () => {
  host.writeOutput(new Uint8Array(3));
  assert.deepEqual(calls.splice(0), [["writeOutput", 3]]);
  state.closed = true;
  assert.throws(() => host.writeOutput(new Uint8Array(1)), /the output is closed/);
  assert.throws(() => host.publish("t", new Uint8Array(1)), /cannot publish to topic t: no topic t/);
});

test("drain resolves after the pending microtasks", async () => {
  const seen = [];
  queueMicrotask(() => queueMicrotask(() => seen.push("nested microtask")));
  await host.drain();
  assert.deepEqual(seen, ["nested microtask"]);
});
