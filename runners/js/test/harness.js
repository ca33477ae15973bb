// A fake host for the runner under plain Node: package files from a map, a script of what
// `events.next` returns, and a record of what the runner wrote, emitted and logged.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { Runtime } from "../sequence.js";

const engineSetImmediate = globalThis.setImmediate;
const GLOBALS = ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "clearImmediate", "Buffer", "process", "global", "console"];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const data = (text) => ({ tag: "data", val: typeof text === "string" ? encoder.encode(text) : text });
export const end = () => ({ tag: "data", val: undefined });
export const event = (name, message) => ({ tag: "signal", val: { tag: "event", val: { name, message: JSON.stringify(message) } } });
export const stop = (timeoutMs = 0, canKeepAlive = false) => ({ tag: "signal", val: { tag: "stop", val: { timeoutMs: BigInt(timeoutMs), canKeepAlive } } });

/** The files of directory `dir` (recursively), as `{ "lib/x.js": "…" }`. */
export function filesOf(dir, prefix = "") {
  const files = {};
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) Object.assign(files, filesOf(path, `${prefix}${name}/`));
    else files[`${prefix}${name}`] = readFileSync(path);
  }
  return files;
}

/**
 * A fake host: `files` (path → string or bytes), `arrivals` in the order `next` hands them
 * out (data only when the runner asks to read; signals whenever it waits), `contentType`
 * of the input, `config`/`args` as JSON text.
 */
export function fakeHost({ files = {}, arrivals = [], contentType, config = "{}", args = "[]" } = {}) {
  const host = {
    clock: 1_000_000,
    arrivals: [...arrivals],
    writes: [],
    published: [],
    subscribed: [],
    emitted: [],
    logs: [],
    kept: [],
    stdoutLines: [],
    stderrLines: [],
    waits: [],
    exitCode: undefined,
    next(read, maxLen, timeoutMs) {
      host.waits.push({ read: read?.tag, timeoutMs });
      const i = host.arrivals.findIndex((a) => a.tag === "signal" || (read !== undefined && a.tag === "data"));
      if (i !== -1) {
        const arrival = host.arrivals[i];
        if (arrival.tag === "data" && arrival.val && arrival.val.length > maxLen) {
          host.arrivals[i] = { tag: "data", val: arrival.val.subarray(maxLen) };
          return { tag: "data", val: arrival.val.subarray(0, maxLen) };
        }
        host.arrivals.splice(i, 1);
        return arrival;
      }
      if (timeoutMs !== undefined) {
        host.clock += timeoutMs;
        return { tag: "timeout" };
      }
      throw new Error(`the runner would wait for ever (read: ${read?.tag})`);
    },
    drain: () => new Promise((resolve) => engineSetImmediate(resolve)),
    now: () => host.clock,
    writeOutput(bytes) {
      host.writes.push(Buffer.from(bytes));
    },
    publish(topic, bytes) {
      host.published.push([topic, decoder.decode(bytes)]);
    },
    subscribe(topic) {
      host.subscribed.push(topic);
    },
    readFile(path) {
      const file = files[path];
      if (file === undefined) return undefined;
      return typeof file === "string" ? encoder.encode(file) : new Uint8Array(file);
    },
    emit: (name, message) => host.emitted.push([name, JSON.parse(message)]),
    keepAlive: (ms) => host.kept.push(ms),
    log: (level, message) => host.logs.push([level, message]),
    instanceId: () => "00000000-0000-0000-0000-000000000001",
    config: () => config,
    args: () => args,
    inputContentType: () => contentType,
    setExitCode: (code) => {
      host.exitCode = code;
    },
    stdout: (line) => host.stdoutLines.push(line),
    stderr: (line) => host.stderrLines.push(line),
    output: () => Buffer.concat(host.writes).toString(),
  };
  return host;
}

/** Runs a package on a fake host; resolves with the host and the error text, if any. */
export async function runPackage(options) {
  const host = fakeHost(options);
  const saved = GLOBALS.map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)]);
  let error;
  try {
    await new Runtime(host).run();
  } catch (e) {
    error = e;
  } finally {
    for (const [name, descriptor] of saved) {
      if (descriptor) Object.defineProperty(globalThis, name, descriptor);
      else delete globalThis[name];
    }
  }
  return { host, error, output: host.output() };
}
