// Node's `process` and `console` for a sequence: stdout and stderr go to the instance's
// (the hub's `/stdout` and `/stderr`), the environment is empty, `exit` ends the instance.
import { EventEmitter } from "./events.js";
import { Writable } from "./stream.js";
import { format } from "./util.js";
import { nextTick } from "./tick.js";

/**
 * Text written in pieces, handed on a line at a time (`writeLine` gets a line without its
 * `\n`): the engine's console writes whole lines only.
 */
export class LineSink {
  constructor(writeLine) {
    this.writeLine = writeLine;
    this.partial = "";
  }

  write(text) {
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop();
    for (const line of lines) this.writeLine(line);
  }

  flush() {
    if (this.partial !== "") {
      const line = this.partial;
      this.partial = "";
      this.writeLine(line);
    }
  }
}

function consoleStream(sink, fd) {
  const decoder = new TextDecoder();
  const stream = new Writable({
    decodeStrings: false,
    write(chunk, _encoding, callback) {
      sink.write(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
      callback();
    },
  });
  stream.fd = fd;
  stream.isTTY = false;
  stream.columns = 80;
  // Writes take effect at once (no callback round trip), as for Node's stdout to a file.
  const write = stream.write;
  stream.write = function writeNow(chunk, encoding, callback) {
    if (typeof chunk === "string" && !this.writableEnded) {
      sink.write(chunk);
      if (typeof encoding === "function") nextTick(encoding);
      else if (typeof callback === "function") nextTick(callback);
      return true;
    }
    return write.call(this, chunk, encoding, callback);
  };
  stream.end = function end(chunk, encoding, callback) {
    if (chunk !== undefined && typeof chunk !== "function") this.write(chunk, encoding);
    if (typeof chunk === "function") nextTick(chunk);
    else if (typeof callback === "function") nextTick(callback);
    return this;
  };
  return stream;
}

/**
 * The `process` object: `exit(code)` ends the instance, `stdout`/`stderr` write to `out`
 * and `err` (LineSinks), `argv` is `["node", main, ...args]`.
 */
export function createProcess({ out, err, argv, exit, timers }) {
  const process = new EventEmitter();
  const started = Date.now();
  const hrtime = (previous) => {
    const ms = typeof performance !== "undefined" ? performance.now() : Date.now() - started;
    let seconds = Math.floor(ms / 1000);
    let nanos = Math.round((ms - seconds * 1000) * 1e6);
    if (previous) {
      seconds -= previous[0];
      nanos -= previous[1];
      if (nanos < 0) {
        seconds -= 1;
        nanos += 1e9;
      }
    }
    return [seconds, nanos];
  };
  hrtime.bigint = () => {
    const [s, n] = hrtime();
    return BigInt(s) * 1000000000n + BigInt(n);
  };
  Object.assign(process, {
    title: "node",
    // The Node API level the runner's built-in modules follow.
    version: "v18.19.0",
    versions: { node: "18.19.0" },
    platform: "wasi",
    arch: "wasm32",
    release: { name: "node" },
    env: {},
    argv,
    argv0: "node",
    execArgv: [],
    execPath: "/usr/bin/node",
    pid: 1,
    ppid: 0,
    exitCode: undefined,
    browser: false,
    stdout: consoleStream(out, 1),
    stderr: consoleStream(err, 2),
    nextTick,
    hrtime,
    cwd: () => "/package",
    chdir: () => {
      throw new Error("process.chdir() is not supported in a sandbox");
    },
    uptime: () => (Date.now() - started) / 1000,
    memoryUsage: Object.assign(() => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }), { rss: () => 0 }),
    cpuUsage: () => ({ user: 0, system: 0 }),
    emitWarning: (warning) => err.write(`Warning: ${warning instanceof Error ? warning.message : warning}\n`),
    exit: (code) => exit(code ?? process.exitCode ?? 0),
    abort: () => exit(134),
    kill: () => true,
    umask: () => 0o22,
    getuid: () => 0,
    getgid: () => 0,
    binding: (name) => {
      throw new Error(`No such module: ${name}`);
    },
    features: {},
    config: { variables: {} },
  });
  process.setImmediate = (fn, ...args) => timers.setImmediate(fn, ...args);
  return process;
}

/** A `console` like Node's: util.format'ed lines to stdout (log, info, debug) or stderr. */
export function createConsole(out, err) {
  const counts = new Map();
  const times = new Map();
  let indent = "";
  const line = (sink) => (...args) => sink.write(`${indent}${format(...args).replace(/\n/g, `\n${indent}`)}\n`);
  const console = {
    log: line(out),
    info: line(out),
    debug: line(out),
    trace: line(err),
    warn: line(err),
    error: line(err),
    dir: (value) => out.write(`${format(value)}\n`),
    table: line(out),
    assert: (condition, ...args) => {
      if (!condition) line(err)("Assertion failed" + (args.length ? `: ${format(...args)}` : ""));
    },
    count: (label = "default") => {
      counts.set(label, (counts.get(label) ?? 0) + 1);
      line(out)(`${label}: ${counts.get(label)}`);
    },
    countReset: (label = "default") => counts.delete(label),
    time: (label = "default") => times.set(label, Date.now()),
    timeEnd: (label = "default") => {
      line(out)(`${label}: ${Date.now() - (times.get(label) ?? Date.now())}ms`);
      times.delete(label);
    },
    timeLog: (label = "default", ...args) => line(out)(`${label}: ${Date.now() - (times.get(label) ?? Date.now())}ms`, ...args),
    group: (...args) => {
      if (args.length) line(out)(...args);
      indent += "  ";
    },
    groupEnd: () => {
      indent = indent.slice(2);
    },
  };
  console.groupCollapsed = console.group;
  return console;
}
