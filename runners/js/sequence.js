// A Scramjet sequence run in the runner: loads the package's main module, calls its
// functions under the Scramjet code contract, writes what they return, and runs the event
// loop (microtasks, timers, input, events and stop requests) until the instance is done.
import { EventEmitter } from "./node/events.js";
import { Readable } from "./node/stream.js";
import { Timers } from "./node/timers.js";
import { LineSink, createProcess, createConsole } from "./node/process.js";
import { createBuiltins, installGlobals } from "./node/builtins.js";
import { format } from "./node/util.js";
import { onUncaught } from "./node/tick.js";
import { Loader, ROOT } from "./loader.js";
import { Input } from "./input.js";
import { Output, NDJSON, writeResult } from "./output.js";
import { createContext } from "./context.js";

/** Bytes asked of the host per read of input. */
export const READ_SIZE = 256 * 1024;
/** How long ref'd timers may keep an instance alive once its output has ended (Scramjet's `exitTimeout`). */
export const EXIT_TIMEOUT_MS = 10_000;

/** Exit codes of the Scramjet runner (`scramjet-hub-semantics.md` §2.7). */
export const EXIT = { MAIN_MISSING: 21, LOAD_FAILED: 22, FAILED: 23 };

/** Thrown by `process.exit` to unwind the code that called it. */
class ProcessExit {
  constructor(code) {
    this.code = code;
  }
}

/** A failure with the exit code it ends the instance with. */
class SequenceError extends Error {
  constructor(code, message, cause) {
    super(message);
    this.exitCode = code;
    this.cause = cause;
  }
}

/** Error text for the log and the instance's end reason: message, then the stack. */
export function describe(error) {
  if (error instanceof SequenceError) {
    return error.cause === undefined ? error.message : `${error.message}: ${describe(error.cause)}`;
  }
  if (error instanceof Error) {
    const head = `${error.name}: ${error.message}`;
    const stack = packageFrames(error.stack ?? "", error.name);
    return stack === "" ? head : `${head}\n${stack}`;
  }
  return typeof error === "string" ? error : format(error);
}

/** The frames of `stack` in the package's own code (the runner's are noise to its author). */
function packageFrames(stack, name) {
  return stack
    .split("\n")
    .filter((frame) => frame.includes(`${ROOT}/`) && !frame.startsWith(`${name}:`))
    .join("\n");
}

export class Runtime {
  /** `host` is the host's side as plain functions (`host.js`; a fake one in tests). */
  constructor(host) {
    this.host = host;
    this.timers = new Timers(host.now);
    this.out = new LineSink(host.stdout);
    this.err = new LineSink(host.stderr);
    this.events = new EventEmitter();
    this.stopHandlers = [];
    this.outputs = [];
    this.finished = false;
    this.error = undefined;
    this.functionsDone = false;
    this.result = "pending";
    this.outputDoneAt = undefined;
    this.stopping = false;
    this.keepAliveAsked = false;
    this.inputEnded = false;
  }

  /** Runs the sequence to its end; rejects with the error text when it failed. */
  async run() {
    this.install();
    try {
      const { functions, requires } = this.load();
      this.context = createContext(this);
      this.openInput(requires);
      this.execute(functions).catch((error) => this.fail(new SequenceError(EXIT.FAILED, "the sequence failed", error)));
    } catch (error) {
      this.fail(error);
    }
    await this.loop();
    this.out.flush();
    this.err.flush();
    if (this.error !== undefined) {
      const text = describe(this.error);
      this.host.setExitCode(this.error.exitCode ?? EXIT.FAILED);
      this.host.log("error", text);
      this.host.stderr(text);
      throw text;
    }
  }

  /** Node's globals, and the built-in modules `require` gives. */
  install() {
    const argv = ["node", `${ROOT}/index.js`];
    this.process = createProcess({ out: this.out, err: this.err, argv, timers: this.timers, exit: (code) => this.exit(code) });
    this.console = createConsole(this.out, this.err);
    installGlobals(globalThis, { process: this.process, timers: this.timers, console: this.console });
    const readFile = (file) => (file.startsWith(`${ROOT}/`) ? this.host.readFile(file.slice(ROOT.length + 1)) : undefined);
    this.loader = new Loader({
      read: (file) => this.host.readFile(file),
      builtins: createBuiltins({ process: this.process, timers: this.timers, readFile, root: ROOT }),
    });
    onUncaught((error) => this.fail(error));
  }

  /** The exported functions and the declared input topic, from the package's `main`. */
  load() {
    const manifestBytes = this.host.readFile("package.json");
    if (manifestBytes === undefined) throw new SequenceError(EXIT.MAIN_MISSING, "the package has no package.json");
    let manifest;
    try {
      manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
    } catch (error) {
      throw new SequenceError(EXIT.LOAD_FAILED, "package.json is not valid JSON", error);
    }
    const main = typeof manifest.main === "string" && manifest.main !== "" ? manifest.main : "index.js";
    const file = this.loader.asFile(`${ROOT}/${main.replace(/^\.\//, "")}`);
    if (file === undefined) throw new SequenceError(EXIT.MAIN_MISSING, `Sequence entrypoint path ${main} is invalid`);
    this.process.argv[1] = file;
    let exported;
    try {
      exported = this.loader.load(file, null).exports;
    } catch (error) {
      if (error instanceof ProcessExit) throw error;
      throw new SequenceError(EXIT.LOAD_FAILED, `loading ${main} failed`, error);
    }
    return entryPoints(exported, main);
  }

  openInput(requires) {
    if (requires?.requires) {
      const topic = String(requires.requires);
      this.host.subscribe(topic);
      this.source = { tag: "topic", val: topic };
      this.input = new Input(requires.contentType ?? NDJSON);
    } else {
      this.source = { tag: "input" };
      this.input = new Input(requires?.contentType);
    }
  }

  /** Calls the functions in turn, each on the previous one's result, and writes the last. */
  async execute(functions) {
    const args = this.context.args;
    let value = this.input;
    for (let i = 0; i < functions.length; i++) {
      value = functions[i].call(this.context, value, ...args);
      if (value !== null && typeof value === "object" && typeof value.then === "function") value = await value;
      if (i < functions.length - 1) value = asStream(value);
    }
    this.functionsDone = true;
    if (value === undefined || value === null) {
      this.result = "none";
      return;
    }
    this.result = "writing";
    const topic = typeof value === "object" && value.topic ? String(value.topic) : undefined;
    const output = topic === undefined
      ? new Output((bytes) => this.host.writeOutput(bytes))
      : new Output((bytes) => this.host.publish(topic, bytes));
    this.outputs.push(output);
    await writeResult(value, output);
    this.result = "done";
    this.outputDoneAt = this.host.now();
  }

  /** The event loop: runs until `complete` or `fail`. */
  async loop() {
    const { host } = this;
    while (!this.finished) {
      await host.drain();
      if (this.finished) break;
      if (this.timers.runDue()) continue;
      if (this.isDone()) {
        this.complete();
        break;
      }
      const due = this.nextDue();
      const timeout = due === undefined ? undefined : Math.max(0, due - host.now());
      const read = this.input?.wanted && !this.inputEnded ? this.source : undefined;
      if (!this.flush()) break;
      this.dispatch(host.next(read, READ_SIZE, timeout));
    }
    this.flush();
  }

  /** Whether nothing is left to run: the result is written (or there is none) and no timer or reader waits. */
  isDone() {
    if (!this.functionsDone || this.stopping || this.result === "writing") return false;
    if (this.timers.hasRef()) return this.result === "done" && this.host.now() >= this.outputDoneAt + EXIT_TIMEOUT_MS;
    if (this.result === "none") return !(this.input?.wanted && !this.inputEnded) && this.events.eventNames().length === 0;
    return true;
  }

  nextDue() {
    const due = this.timers.nextDue();
    if (due === undefined || this.result !== "done") return due;
    return Math.min(due, this.outputDoneAt + EXIT_TIMEOUT_MS);
  }

  dispatch(arrival) {
    switch (arrival.tag) {
      case "data":
        if (arrival.val === undefined) this.inputEnded = true;
        this.input.deliver(arrival.val, () => this.host.inputContentType());
        break;
      case "signal":
        this.signal(arrival.val);
        break;
      default:
        break;
    }
  }

  signal(signal) {
    if (signal.tag === "stop") {
      this.stop(Number(signal.val.timeoutMs), signal.val.canKeepAlive);
      return;
    }
    const { name, message } = signal.val;
    if (this.events.listenerCount(name) === 0) return;
    let value;
    try {
      value = JSON.parse(message);
    } catch {
      value = message;
    }
    try {
      this.events.emit(name, value);
    } catch (error) {
      this.fail(error);
    }
  }

  /** A stop request: the stop handlers run; then the instance ends unless one kept it alive. */
  stop(timeoutMs, canKeepAlive) {
    this.stopping = true;
    this.keepAliveAsked = false;
    const handlers = this.stopHandlers.map((handler) => {
      try {
        return handler.call(this.context, timeoutMs, canKeepAlive);
      } catch (error) {
        return Promise.reject(error);
      }
    });
    Promise.all(handlers).then(
      () => {
        if (canKeepAlive && this.keepAliveAsked) this.stopping = false;
        else this.complete();
      },
      (error) => this.fail(new SequenceError(EXIT.FAILED, "a stop handler failed", error)),
    );
  }

  keepAlive(ms) {
    this.keepAliveAsked = true;
    this.host.keepAlive(Math.max(0, Math.ceil(Number(ms) || 0)));
  }

  /** Hands buffered output to the host; false (and the instance failed) when it cannot. */
  flush() {
    try {
      for (const output of this.outputs) output.flush();
      return true;
    } catch (error) {
      this.fail(new SequenceError(EXIT.FAILED, "writing the output failed", error));
      return false;
    }
  }

  /** Ends the instance as completed. */
  complete() {
    this.finished = true;
  }

  /** Ends the instance as failed with `error` (the first failure wins). */
  fail(error) {
    if (error instanceof ProcessExit) return;
    if (this.finished) {
      if (this.error === undefined) this.host.log("error", `after the end: ${describe(error)}`);
      return;
    }
    this.finished = true;
    this.error = error instanceof SequenceError ? error : new SequenceError(EXIT.FAILED, "the sequence failed", error);
  }

  /** `process.exit(code)`: 0 completes the instance, another code fails it with that code. */
  exit(code) {
    const n = Number(code) & 255;
    if (n === 0) this.complete();
    else this.fail(new SequenceError(n, `process.exit(${n})`));
    throw new ProcessExit(n);
  }
}

/** The functions `exported` holds and the input topic an object before them declares. */
function entryPoints(exported, main) {
  if (typeof exported !== "function" && typeof exported?.default === "function") exported = exported.default;
  if (typeof exported === "function") return { functions: [exported], requires: undefined };
  if (Array.isArray(exported) && exported.length > 0) {
    let requires;
    const functions = exported.filter((item, i) => {
      if (typeof item === "function") return true;
      if (i === 0 && item !== null && typeof item === "object") {
        requires = item;
        return false;
      }
      throw new SequenceError(EXIT.LOAD_FAILED, `${main} exports an array whose item ${i} is not a function`);
    });
    if (functions.length > 0) return { functions, requires };
  }
  throw new SequenceError(EXIT.LOAD_FAILED, `${main} exports neither a function nor an array of functions`);
}

/** A function's result as the next one's input: iterables become object-mode Readables. */
function asStream(value) {
  if (value === undefined || value === null || typeof value !== "object") return value;
  if (typeof value.pipe === "function" && typeof value.on === "function") return value;
  if (value instanceof Uint8Array) return value;
  if (typeof value[Symbol.asyncIterator] === "function" || typeof value[Symbol.iterator] === "function") {
    return Readable.from(value);
  }
  return value;
}
