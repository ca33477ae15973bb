// The Scramjet contract on a fake host: the peer sequences and weir's samples, output
// serialisation, pipelines, events while input is awaited, stop, timers and exit codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

import { runPackage, filesOf, data, end, event, stop } from "./harness.js";

const PEERS = "/work/shared/peers/scramjet-hub/sequences";
const SAMPLES = fileURLToPath(new URL("../../../tests/scramjet/js/", import.meta.url));
const NDJSON = "application/x-ndjson";

const pkg = (main, files = {}) => ({ "package.json": JSON.stringify({ name: "t", main: "index.js" }), "index.js": main, ...files });

function peer(name) {
  try {
    return filesOf(`${PEERS}/${name}`);
  } catch {
    return undefined;
  }
}

test("passthrough: a byte stream's bytes go out unchanged", { skip: !peer("passthrough") }, async () => {
  const bytes = new Uint8Array([0, 255, 10, 200, 1]);
  const { output, host, error } = await runPackage({ files: peer("passthrough"), arrivals: [data("abc"), data(bytes), end()] });
  assert.equal(error, undefined);
  assert.deepEqual(Buffer.concat(host.writes), Buffer.concat([Buffer.from("abc"), bytes]));
  assert.equal(output.length, 8);
});

test("uppercase: text/plain input arrives as strings, a character split between chunks whole", { skip: !peer("uppercase") }, async () => {
  const word = Buffer.from("wörld\n");
  const { output } = await runPackage({
    files: peer("uppercase"),
    contentType: "text/plain",
    arrivals: [data(word.subarray(0, 2)), data(word.subarray(2)), end()],
  });
  assert.equal(output, "WÖRLD\n");
});

test("ndjson-map: NDJSON input arrives parsed; yielded objects go out as NDJSON", { skip: !peer("ndjson-map") }, async () => {
  const { output } = await runPackage({
    files: peer("ndjson-map"),
    contentType: NDJSON,
    arrivals: [data('{"id":1,"name":"a","n":2}\n{"id":2,'), data('"name":"b","n":3}\n\n{"id":3,"name":"c","n":0}'), end()],
  });
  assert.equal(output, '{"id":1,"name":"A","n":4}\n{"id":2,"name":"B","n":6}\n{"id":3,"name":"C","n":0}\n');
});

test("first-output: the first record is written before the runner waits for input", { skip: !peer("first-output") }, async () => {
  const { host } = await runPackage({ files: peer("first-output"), contentType: NDJSON, arrivals: [data('{"a":1}\n'), end()] });
  assert.match(host.writes[0].toString(), /^\{"ready":\d+\}\n$/);
  assert.equal(host.writes.at(-1).toString(), '{"a":1}\n');
});

test("events: ping handlers run while the sequence awaits input; strings a generator yields are JSON", { skip: !peer("events") }, async () => {
  const { output, host } = await runPackage({
    files: peer("events"),
    contentType: "text/plain",
    arrivals: [event("ping", { n: 1 }), data("a"), event("ping", 2), data("b"), end()],
  });
  assert.equal(output, '"echo: a"\n"echo: b"\n');
  assert.deepEqual(host.emitted.map(([name, message]) => [name, message.got]), [["hello", undefined], ["pong", { n: 1 }], ["pong", 2]]);
  assert.deepEqual(host.stdoutLines, ["events sequence started"]);
  assert.deepEqual(host.logs.slice(0, 2), [["info", "got ping { n: 1 }"], ["info", "line a"]]);
  // The first waits read input and have no timeout: a handler ran during a blocked read.
  assert.deepEqual(host.waits[0], { read: "input", timeoutMs: undefined });
});

test("a pipeline of two functions, both reading this.config", async () => {
  const { output, error } = await runPackage({
    files: filesOf(`${SAMPLES}/pipeline-config`),
    config: JSON.stringify({ prefix: "> ", repeat: 2 }),
    contentType: NDJSON,
    arrivals: [data('{"name":"a"}\n{"name":"b"}\n'), end()],
  });
  assert.equal(error, undefined);
  assert.equal(output, "> a\n> a\n> b\n> b\n");
});

test("a declared input topic is subscribed and read; stream.topic publishes the output there", async () => {
  const { host, output } = await runPackage({
    files: filesOf(`${SAMPLES}/topics`),
    arrivals: [data('{"name":"x"}\n{"name":"y"}\n'), end()],
  });
  assert.deepEqual(host.subscribed, ["names"]);
  assert.deepEqual(host.waits[0].read, "topic");
  assert.equal(output, "");
  assert.deepEqual(host.published, [["greetings", '{"hello":"x"}\n{"hello":"y"}\n']]);
});

test("a chunk that completes no record leaves the read outstanding (both ways of reading input)", async () => {
  const arrivals = () => [data('{"name":'), data('"x"'), data("}\n"), end()];
  const viaData = await runPackage({ files: filesOf(`${SAMPLES}/topics`), arrivals: arrivals() });
  assert.deepEqual(viaData.host.published, [["greetings", '{"hello":"x"}\n']]);
  const viaIterator = await runPackage({ files: peer("ndjson-map") ?? {}, contentType: NDJSON, arrivals: [data('{"id":1,"na'), data('me":"q","n":1}'), end()] });
  if (peer("ndjson-map")) assert.equal(viaIterator.output, '{"id":1,"name":"Q","n":2}\n');
});

test("requires: the package's own modules, JSON and a bundled node_modules dependency", async () => {
  const { output, error } = await runPackage({ files: filesOf(`${SAMPLES}/requires-lib`), arrivals: [data("hi"), end()] });
  assert.equal(error, undefined);
  assert.equal(output, "HI! (dep 1.2.3)\n");
});

test("timers: setInterval output, then this.end() completes without reading input", async () => {
  const { output, error, host } = await runPackage({ files: filesOf(`${SAMPLES}/timers`) });
  assert.equal(error, undefined);
  assert.equal(output, "tick 1\ntick 2\ntick 3\n");
  assert.ok(host.waits.every((w) => w.read === undefined && w.timeoutMs > 0));
  assert.ok(host.clock >= 1_000_060);
});

test("exit 21: main names no file", async () => {
  const { error, host } = await runPackage({ files: { "package.json": '{"main":"nope.js"}' } });
  assert.equal(host.exitCode, 21);
  assert.match(error, /Sequence entrypoint path nope\.js is invalid/);
});

test("exit 22: a syntax error, a require that throws, an export that is no function", async () => {
  const syntax = await runPackage({ files: filesOf(`${SAMPLES}/syntax-error`) });
  assert.equal(syntax.host.exitCode, 22);
  assert.match(syntax.error, /loading index\.js failed: SyntaxError: \/package\/index\.js/);
  assert.equal(syntax.output, "");
  const missing = await runPackage({ files: pkg('require("left-pad");') });
  assert.equal(missing.host.exitCode, 22);
  assert.match(missing.error, /Cannot find module 'left-pad'/);
  const object = await runPackage({ files: pkg("module.exports = { hello: 1 };") });
  assert.equal(object.host.exitCode, 22);
  assert.match(object.error, /exports neither a function nor an array of functions/);
  assert.deepEqual(object.host.logs.at(-1)[0], "error");
});

test("exit 23: a function that throws while it runs; what it wrote before still goes out", async () => {
  const { error, host, output } = await runPackage({ files: filesOf(`${SAMPLES}/throws`), arrivals: [data("x\n"), end()] });
  assert.equal(host.exitCode, 23);
  assert.match(error, /bad input: x/);
  assert.equal(output, '"before\\n"\n');
  assert.match(host.logs.at(-1)[1], /bad input: x/);
  assert.match(host.stderrLines.join("\n"), /bad input: x/);
});

test("exit 23: the output stream errors", async () => {
  const main = `const { Readable } = require("stream");
    module.exports = () => new Readable({ read() { this.destroy(new Error("broken stream")); } });`;
  const { error, host } = await runPackage({ files: pkg(main) });
  assert.equal(host.exitCode, 23);
  assert.match(error, /broken stream/);
});

test("output rules: arrays and sync generators as NDJSON, primitives once, promises awaited, undefined nothing", async () => {
  const cases = [
    ["module.exports = () => [1, 'two', { three: 3 }];", '1\n"two"\n{"three":3}\n'],
    ["module.exports = function* () { yield 'a'; yield 'b'; };", '"a"\n"b"\n'],
    ["module.exports = async () => 42;", "42"],
    ["module.exports = () => 'plain text';", "plain text"],
    ["module.exports = () => Buffer.from('bytes');", "bytes"],
    ["module.exports = () => Promise.resolve({ a: 1 });", '{"a":1}\n'],
    ["module.exports = () => undefined;", ""],
    [`const { Readable } = require("stream");
      module.exports = () => Readable.from([{ a: 1 }, "s"]);`, '{"a":1}\n"s"\n'],
    [`const { Readable } = require("stream");
      module.exports = () => Object.assign(Readable.from(["x", "y"]), { contentType: "text/plain" });`, "xy"],
    [`module.exports = async function* () { yield { a: 1 }; };
      module.exports.contentType = "ignored on the function";`, '{"a":1}\n'],
  ];
  for (const [main, expected] of cases) {
    const { output, error } = await runPackage({ files: pkg(main) });
    assert.equal(error, undefined, main);
    assert.equal(output, expected, main);
  }
});

test("modules a sandbox cannot offer load, and throw when used; os reports one CPU", async () => {
  const main = `const { fork } = require("child_process");
    const net = require("node:net");
    let message;
    try { fork("x"); } catch (e) { message = e.message; }
    module.exports = () => [message, typeof net.createServer, require("os").cpus().length];`;
  const { output, error } = await runPackage({ files: pkg(main) });
  assert.equal(error, undefined);
  assert.equal(output, `"child_process.fork() is not available in weir's sandbox"\n"function"\n1\n`);
});

test("octet-stream (or unknown) input arrives as Buffers", async () => {
  const main = `module.exports = async function* (input) {
    for await (const chunk of input) yield { buffer: Buffer.isBuffer(chunk), text: chunk.toString("hex") };
  };`;
  const { output } = await runPackage({ files: pkg(main), arrivals: [data("hi"), end()] });
  assert.equal(output, '{"buffer":true,"text":"6869"}\n');
});

test("a stop request runs the stop handlers, then ends; keepAlive after a stop that allows it keeps running", async () => {
  const main = `module.exports = function () {
    let stops = 0;
    this.addStopHandler(async (timeout, canKeepAlive) => {
      stops += 1;
      this.logger.info("stopping", timeout, canKeepAlive);
      if (stops === 1) this.keepAlive(500);
    });
    this.on("x", () => {});
    const { PassThrough } = require("stream");
    return new PassThrough();
  };`;
  const { error, host } = await runPackage({ files: pkg(main), arrivals: [stop(1000, true), stop(2000, false)] });
  assert.equal(error, undefined);
  assert.deepEqual(host.kept, [500]);
  assert.deepEqual(host.logs, [["info", "stopping 1000 true"], ["info", "stopping 2000 false"]]);
});

test("this: config, args, instanceId, logger formatting, emit", async () => {
  const main = `module.exports = function (input, a, b) {
    this.logger.warn("%s=%d", "n", 5, { deep: [1] });
    this.emit("seen", { config: this.config, args: [a, b], id: this.instanceId });
    return "ok";
  };`;
  const { host, output } = await runPackage({ files: pkg(main), config: '{"k":1}', args: '["x",2]' });
  assert.equal(output, "ok");
  assert.deepEqual(host.logs, [["warn", "n=5 { deep: [ 1 ] }"]]);
  assert.deepEqual(host.emitted, [["seen", { config: { k: 1 }, args: ["x", 2], id: "00000000-0000-0000-0000-000000000001" }]]);
});

test("process.stdout.write goes out a line at a time; process.exit(3) ends with exit 3", async () => {
  const main = `module.exports = function () {
    process.stdout.write("par");
    process.stdout.write("tial\\nnext");
    console.error("to %s", "stderr");
    setTimeout(() => process.exit(3), 5);
    return new (require("stream").PassThrough)();
  };`;
  const { host, error } = await runPackage({ files: pkg(main) });
  assert.deepEqual(host.stdoutLines, ["partial", "next"]);
  assert.equal(host.stderrLines[0], "to stderr");
  assert.equal(host.exitCode, 3);
  assert.match(error, /process\.exit\(3\)/);
});

test("the input is read only while the sequence wants more (backpressure)", async () => {
  const main = `module.exports = async function* (input) {
    for await (const x of input) {
      yield x;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };`;
  const lines = Array.from({ length: 40 }, (_, i) => `${i}\n`).join("");
  const { host, output } = await runPackage({ files: pkg(main), contentType: NDJSON, arrivals: [data(lines), end()] });
  assert.equal(output.split("\n").length, 41);
  // While the timers ran, the runner waited without reading.
  assert.ok(host.waits.filter((w) => w.read === undefined && w.timeoutMs === 100).length >= 30);
});
