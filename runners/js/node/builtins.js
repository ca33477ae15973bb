// The Node built-in modules a sequence can `require` (also as `node:<name>`), and the
// globals Node code expects. Modules a sandbox cannot offer (net, http, child_process, …)
// load, so that a library requiring one at its top (the Scramjet framework requires
// child_process and net for its workers) still loads; calling anything in them throws.
import { EventEmitter } from "./events.js";
import { Buffer, bufferModule } from "./buffer.js";
import * as stream from "./stream.js";
import util from "./util.js";
import { StringDecoder } from "./string_decoder.js";
import path from "./path.js";
import { timersModules } from "./timers.js";

/**
 * The built-ins over the instance's `process` and `timers`; `readFile(path)` gives a
 * package file's bytes (absolute path under `root`) or undefined, for the read-only `fs`.
 */
export function createBuiltins({ process, timers, readFile, root }) {
  const { timers: timersApi, promises: timerPromises } = timersModules(timers);
  const fs = createFs(readFile, root);
  const modules = {
    assert: () => assert,
    buffer: () => bufferModule,
    events: () => EventEmitter,
    fs: () => fs,
    "fs/promises": () => fs.promises,
    os: () => os,
    path: () => path,
    "path/posix": () => path,
    process: () => process,
    stream: () => stream.Stream,
    "stream/promises": () => stream.promises,
    string_decoder: () => ({ StringDecoder }),
    timers: () => timersApi,
    "timers/promises": () => timerPromises,
    util: () => util,
    "util/types": () => util.types,
  };
  for (const name of UNAVAILABLE) modules[name] = () => unavailable(name);
  return modules;
}

/** Installs Node's globals (`Buffer`, `process`, timers, `global`, `console`) on `target`. */
export function installGlobals(target, { process, timers, console }) {
  const { timers: api } = timersModules(timers);
  Object.assign(target, api);
  target.Buffer = Buffer;
  target.process = process;
  target.global = target;
  target.console = console;
}

/** Modules that need an OS the sandbox does not give. */
const UNAVAILABLE = ["child_process", "cluster", "crypto", "dgram", "dns", "http", "http2", "https", "inspector",
  "net", "perf_hooks", "readline", "tls", "tty", "v8", "vm", "worker_threads", "zlib"];
const stubs = new Map();

/** A stand-in for module `name`: every property is a function that throws when called. */
function unavailable(name) {
  if (!stubs.has(name)) {
    const fail = (property) => function notAvailable() {
      const error = new Error(`${name}.${String(property)}() is not available in weir's sandbox`);
      error.code = "ERR_NOT_AVAILABLE";
      throw error;
    };
    stubs.set(name, new Proxy({}, {
      get: (target, property) => (property === "__esModule" || typeof property === "symbol" ? undefined : fail(property)),
    }));
  }
  return stubs.get(name);
}

function createFs(readFile, root) {
  const missing = (file) => {
    const error = new Error(`ENOENT: no such file or directory, open '${file}'`);
    error.code = "ENOENT";
    error.errno = -2;
    error.path = file;
    return error;
  };
  const absolute = (file) => path.resolve(root, String(file));
  const readFileSync = (file, options) => {
    const bytes = readFile(absolute(file));
    if (bytes === undefined) throw missing(file);
    const encoding = typeof options === "string" ? options : options?.encoding;
    const buffer = Buffer.view(bytes);
    return encoding ? buffer.toString(encoding) : buffer;
  };
  const existsSync = (file) => readFile(absolute(file)) !== undefined;
  const callbackify = (fn) => (...args) => {
    const callback = args.pop();
    let result;
    try {
      result = fn(...args);
    } catch (error) {
      queueMicrotask(() => callback(error));
      return;
    }
    queueMicrotask(() => callback(null, result));
  };
  const promises = { readFile: async (file, options) => readFileSync(file, options) };
  return {
    readFileSync,
    existsSync,
    readFile: callbackify(readFileSync),
    promises,
    constants: { F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1 },
  };
}

const os = {
  EOL: "\n",
  platform: () => "wasi",
  type: () => "WASI",
  arch: () => "wasm32",
  release: () => "0.2",
  hostname: () => "weir",
  tmpdir: () => "/tmp",
  homedir: () => "/",
  endianness: () => "LE",
  // One CPU: the sandbox runs on one thread (libraries size their parallelism by this).
  cpus: () => [{ model: "wasm32", speed: 0, times: { user: 0, nice: 0, sys: 0, idle: 0, irq: 0 } }],
  availableParallelism: () => 1,
  totalmem: () => 0,
  freemem: () => 0,
  loadavg: () => [0, 0, 0],
  uptime: () => 0,
  networkInterfaces: () => ({}),
  userInfo: () => ({ username: "weir", uid: 0, gid: 0, shell: null, homedir: "/" }),
};

class AssertionError extends Error {
  constructor(message) {
    super(message);
    this.name = "AssertionError";
    this.code = "ERR_ASSERTION";
  }
}

function fail(message, fallback) {
  if (message instanceof Error) throw message;
  throw new AssertionError(message ?? fallback);
}

function deepEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => deepEqual(a[k], b[k]));
}

const assert = (value, message) => {
  if (!value) fail(message, "The expression evaluated to a falsy value");
};
Object.assign(assert, {
  AssertionError,
  ok: assert,
  equal: (a, b, m) => a == b || fail(m, `${util.inspect(a)} == ${util.inspect(b)}`), // eslint-disable-line eqeqeq
  notEqual: (a, b, m) => a != b || fail(m, `${util.inspect(a)} != ${util.inspect(b)}`), // eslint-disable-line eqeqeq
  strictEqual: (a, b, m) => Object.is(a, b) || fail(m, `Expected values to be strictly equal: ${util.inspect(a)} !== ${util.inspect(b)}`),
  notStrictEqual: (a, b, m) => !Object.is(a, b) || fail(m, `Expected "actual" to be strictly unequal to: ${util.inspect(b)}`),
  deepEqual: (a, b, m) => deepEqual(a, b) || fail(m, "Expected values to be loosely deep-equal"),
  deepStrictEqual: (a, b, m) => deepEqual(a, b) || fail(m, "Expected values to be strictly deep-equal"),
  notDeepStrictEqual: (a, b, m) => !deepEqual(a, b) || fail(m, "Expected values not to be strictly deep-equal"),
  fail: (m) => fail(m, "Failed"),
  throws: (fn, _expected, m) => {
    try {
      fn();
    } catch {
      return;
    }
    fail(typeof _expected === "string" ? _expected : m, "Missing expected exception.");
  },
});
assert.strict = assert;
