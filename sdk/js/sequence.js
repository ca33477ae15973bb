// The sequence world for JavaScript plugins: input, output, events, topics,
// config and log around the `weir:plugin` imports.
//
// A plugin's module exports one async function as its default export;
// `weir pack` adds the glue that calls it from the component's `run` export:
//
//   export default async function hello(ctx) {
//     await ctx.mapLines((name) => `Hello ${name}!`);
//   }
//
// The imports are blocking calls (the hub applies backpressure), so every
// `await` on the SDK resolves as soon as the host call returns.
import { readInput, writeOutput } from "weir:plugin/io@0.1.0";
import { emit, wait, keepAlive } from "weir:plugin/events@0.1.0";
import { instanceId, config, args } from "weir:plugin/context@0.1.0";
import { publish, subscribe, read } from "weir:plugin/topics@0.1.0";
import { addLogMethods, errorMessage } from "./log.js";

/** Bytes asked for per host read, and the output buffer's size. */
export const CHUNK_SIZE = 64 * 1024;

const encoder = new TextEncoder();

/** An error that names the input line it happened on (counted from 1). */
export class LineError extends Error {
  constructor(line, cause) {
    super(`line ${line}: ${errorMessage(cause)}`);
    this.name = "LineError";
    this.line = line;
  }
}

/** A byte stream pulled from a blocking host read: the input or a topic. */
class Stream {
  constructor(pull, beforePull) {
    this.pull = pull;
    this.beforePull = beforePull;
    this.ended = false;
  }

  /** The next chunk, or `undefined` at the end. */
  next() {
    if (this.ended) return undefined;
    this.beforePull?.();
    const chunk = this.pull(CHUNK_SIZE);
    if (chunk === undefined) this.ended = true;
    return chunk;
  }

  /** The stream's chunks (`Uint8Array`) as they arrive. */
  async *chunks() {
    for (let chunk = this.next(); chunk !== undefined; chunk = this.next()) {
      if (chunk.length > 0) yield chunk;
    }
  }

  [Symbol.asyncIterator]() {
    return this.chunks();
  }

  /** The stream's lines as strings, without `\n` or `\r\n`; the last may lack one. */
  async *lines() {
    for await (const [, line] of this.numberedLines()) yield line;
  }

  /** `[number, line]` pairs, numbered from 1. */
  async *numberedLines() {
    const decoder = new TextDecoder("utf-8", { fatal: true });
    let pending = "";
    let number = 0;
    for (let chunk = this.next(); ; chunk = this.next()) {
      let text;
      try {
        text = decoder.decode(chunk, { stream: chunk !== undefined });
      } catch (e) {
        throw new LineError(number + 1, "the input is not valid UTF-8");
      }
      pending += text;
      const parts = pending.split("\n");
      pending = chunk === undefined ? "" : parts.pop();
      if (chunk === undefined && parts.at(-1) === "") parts.pop();
      for (const part of parts) {
        number += 1;
        yield [number, part.endsWith("\r") ? part.slice(0, -1) : part];
      }
      if (chunk === undefined) return;
    }
  }

  /** One parsed JSON value per non-blank line (newline-delimited JSON). */
  async *records() {
    for await (const [, record] of this.numberedRecords()) yield record;
  }

  /** `[lineNumber, record]` pairs; blank lines are skipped but counted. */
  async *numberedRecords() {
    for await (const [number, line] of this.numberedLines()) {
      if (line.trim() === "") continue;
      let record;
      try {
        record = JSON.parse(line);
      } catch (e) {
        throw new LineError(number, e);
      }
      yield [number, record];
    }
  }

  /** Everything left, as one `Uint8Array`. */
  async bytes() {
    const parts = [];
    for await (const chunk of this.chunks()) parts.push(chunk);
    return concat(parts);
  }

  /** Everything left, as text. */
  async text() {
    return new TextDecoder().decode(await this.bytes());
  }
}

/** `data` (text, a typed array or an ArrayBuffer) as a `Uint8Array`. */
function toBytes(data, what) {
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data)) return Uint8Array.from(data);
  throw new TypeError(`${what} takes a string, a typed array or an ArrayBuffer, not ${Object.prototype.toString.call(data)}`);
}

function concat(parts) {
  if (parts.length === 1) return parts[0];
  const total = parts.reduce((n, part) => n + part.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
}

/** The instance's output: buffered, handed to the hub in chunks of at least 64 KiB or on `flush`. */
class Output {
  constructor() {
    this.parts = [];
    this.size = 0;
  }

  /** Writes bytes (`Uint8Array`) or text (UTF-8). */
  async write(data) {
    this.writeSync(data);
  }

  writeSync(data) {
    const bytes = toBytes(data, "output.write");
    if (bytes.length === 0) return;
    this.parts.push(bytes);
    this.size += bytes.length;
    if (this.size >= CHUNK_SIZE) this.flushSync();
  }

  /** Writes `line` and `\n`. */
  async writeLine(line) {
    this.writeSync(`${line}\n`);
  }

  /** Writes `record` as one line of compact JSON. */
  async writeRecord(record) {
    this.writeSync(`${JSON.stringify(record)}\n`);
  }

  /** Hands everything buffered to the hub now. */
  async flush() {
    this.flushSync();
  }

  flushSync() {
    if (this.size === 0) return;
    const data = concat(this.parts);
    this.parts = [];
    this.size = 0;
    try {
      writeOutput(data);
    } catch {
      throw new Error("the output is closed");
    }
  }
}

/** A topic shared with other instances and HTTP clients (`/api/v1/topic/:name`). */
class Topic {
  constructor(name) {
    this.name = name;
    this.reader = null;
  }

  /** Publishes bytes or text; for line-framed topics, whole lines go out. */
  async publish(data) {
    const bytes = toBytes(data, "topic.publish");
    try {
      publish(this.name, bytes);
    } catch (e) {
      throw new Error(`cannot publish to topic ${this.name}: ${errorMessage(e.payload ?? e)}`);
    }
  }

  /** Publishes `record` as one line of JSON. */
  async publishRecord(record) {
    await this.publish(`${JSON.stringify(record)}\n`);
  }

  /** Subscribes and returns the topic's stream (`chunks()`, `lines()`, `records()`). */
  subscribe() {
    if (this.reader) return this.reader;
    try {
      subscribe(this.name);
    } catch (e) {
      throw new Error(`cannot subscribe to topic ${this.name}: ${errorMessage(e.payload ?? e)}`);
    }
    this.reader = new Stream((max) => read(this.name, max));
    return this.reader;
  }
}

function toSignal(signal) {
  if (signal === undefined) return undefined;
  if (signal.tag === "stop") {
    return { type: "stop", timeoutMs: Number(signal.val.timeoutMs), canKeepAlive: signal.val.canKeepAlive };
  }
  let message;
  try {
    message = JSON.parse(signal.val.message);
  } catch {
    message = signal.val.message;
  }
  return { type: "event", name: signal.val.name, message };
}

/** What a sequence function gets: its streams, events, topics, config and log. */
export class Context {
  constructor() {
    this.output = new Output();
    this.input = new Stream(readInput, () => this.output.flushSync());
    this.instanceId = instanceId();
    this.config = JSON.parse(config());
    this.args = JSON.parse(args());
    addLogMethods(this);
  }

  /** Emits event `name` with `message` (any JSON value). */
  emit(name, message = null) {
    emit(String(name), JSON.stringify(message) ?? "null");
  }

  /**
   * The next event or stop request, or `undefined` after `timeoutMs` (none: wait for ever).
   * An event with a handler (`on`) is handed to it first.
   */
  async wait(timeoutMs) {
    const timeout = timeoutMs === undefined ? undefined : BigInt(Math.max(0, Math.ceil(timeoutMs)));
    const signal = toSignal(wait(timeout));
    const handler = signal?.type === "event" ? this.handlers?.get(signal.name) : undefined;
    if (handler) await handler(signal.message, signal);
    return signal;
  }

  /** Calls `handler(message, event)` for each event `name` received while waiting. */
  on(name, handler) {
    (this.handlers ??= new Map()).set(String(name), handler);
    return this;
  }

  /** Waits (handing events to their handlers) until the hub asks the instance to stop. */
  async untilStopped() {
    for await (const _ of this.events()) {
      // each event went to its handler in `wait`
    }
  }

  /** The events sent to the instance, until the hub asks it to stop. */
  async *events() {
    for (;;) {
      const signal = await this.wait();
      if (signal === undefined) continue;
      if (signal.type === "stop") return;
      yield signal;
    }
  }

  /** Every event and stop request, as they come. */
  async *signals() {
    for (;;) {
      const signal = await this.wait();
      if (signal !== undefined) yield signal;
    }
  }

  /** Asks the hub for `ms` more milliseconds; after a stop that allows it, cancels the stop. */
  keepAlive(ms) {
    keepAlive(BigInt(Math.max(0, Math.ceil(ms))));
  }

  /** The topic `name` (created as `application/x-ndjson` on first use). */
  topic(name) {
    this.topics ??= new Map();
    if (!this.topics.has(name)) this.topics.set(name, new Topic(name));
    return this.topics.get(name);
  }

  /** Writes `f(line)` for each input line (skipped when `f` returns `undefined`). */
  async mapLines(f) {
    for await (const [number, line] of this.input.numberedLines()) {
      const mapped = await atLine(number, () => f(line));
      if (mapped !== undefined) this.output.writeSync(`${mapped}\n`);
    }
    this.output.flushSync();
  }

  /** Writes the input lines for which `keep(line)` is true. */
  async filterLines(keep) {
    await this.mapLines(async (line) => ((await keep(line)) ? line : undefined));
  }

  /** Writes `f(record)` as JSON for each input record (skipped when `undefined`). */
  async mapRecords(f) {
    for await (const [number, record] of this.input.numberedRecords()) {
      const mapped = await atLine(number, () => f(record));
      if (mapped !== undefined) this.output.writeSync(`${JSON.stringify(mapped)}\n`);
    }
    this.output.flushSync();
  }

  /** Writes the input records for which `keep(record)` is true. */
  async filterRecords(keep) {
    await this.mapRecords(async (record) => ((await keep(record)) ? record : undefined));
  }
}

async function atLine(number, f) {
  try {
    return await f();
  } catch (e) {
    throw e instanceof LineError ? e : new LineError(number, e);
  }
}

/** Runs `main(ctx)` as the component's `run`: a thrown error ends the instance as errored. */
export async function runSequence(main) {
  const ctx = new Context();
  try {
    await main(ctx);
    ctx.output.flushSync();
  } catch (e) {
    // Bytes written before the error still reach the reader.
    try {
      ctx.output.flushSync();
    } catch {
      // the output is closed: nothing more to send
    }
    throw errorMessage(e);
  }
}
