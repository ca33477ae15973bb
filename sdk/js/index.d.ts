// Types of weir's JavaScript SDK, sequence world (`sequence.js`).
//
// A sequence plugin's `app.js` default-exports `async function (ctx: Context)`;
// annotate it with `/** @param {import("weir-sdk").Context} ctx */`.

/** Bytes asked for per host read, and the output buffer's size (64 KiB). */
export const CHUNK_SIZE: number;

/** A log level of the instance log. */
export type Level = "trace" | "debug" | "info" | "warn" | "error";

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** An error that names the input line it happened on: `line 3: ...`. */
export class LineError extends Error {
  /** The line, counted from 1 (blank lines included). */
  readonly line: number;
}

/** A byte stream: the instance input or a subscribed topic. */
export interface Stream extends AsyncIterable<Uint8Array> {
  /** The chunks as they arrive (at most 64 KiB each). */
  chunks(): AsyncIterableIterator<Uint8Array>;
  /** The lines as text, without `\n` or `\r\n`; the last may lack one. */
  lines(): AsyncIterableIterator<string>;
  /** `[number, line]` pairs, numbered from 1. */
  numberedLines(): AsyncIterableIterator<[number, string]>;
  /** One parsed JSON value per non-blank line. A bad line throws a `LineError`. */
  records<T = Json>(): AsyncIterableIterator<T>;
  /** `[line number, record]` pairs. */
  numberedRecords<T = Json>(): AsyncIterableIterator<[number, T]>;
  /** Everything left, as bytes. */
  bytes(): Promise<Uint8Array>;
  /** Everything left, as text. */
  text(): Promise<string>;
}

/** The instance output: buffered, sent in chunks of at least 64 KiB or on `flush`. */
export interface Output {
  /** Writes bytes or text (UTF-8). */
  write(data: Uint8Array | string): Promise<void>;
  /** Writes `line` and `\n`. */
  writeLine(line: string): Promise<void>;
  /** Writes `record` as one line of compact JSON. */
  writeRecord(record: unknown): Promise<void>;
  /** Sends everything buffered now. */
  flush(): Promise<void>;
}

/** A topic shared with other instances and HTTP clients. */
export interface Topic {
  readonly name: string;
  /** Publishes bytes or text; for line-framed topics only whole lines go out. */
  publish(data: Uint8Array | string): Promise<void>;
  /** Publishes `record` as one line of JSON. */
  publishRecord(record: unknown): Promise<void>;
  /** Subscribes (once) and returns the topic's stream. */
  subscribe(): Stream;
}

/** An event sent to the instance (`POST /instance/:id/_event`). */
export interface Event {
  type: "event";
  name: string;
  /** The message, parsed from JSON (the text itself when it is not JSON). */
  message: Json;
}

/** The hub asks the instance to stop (`POST /instance/:id/_stop`). */
export interface Stop {
  type: "stop";
  timeoutMs: number;
  canKeepAlive: boolean;
}

export type Signal = Event | Stop;

/** What a sequence function gets. */
export class Context {
  readonly input: Stream;
  readonly output: Output;
  readonly instanceId: string;
  /** The package's `[config]` overlaid with the start request's `appConfig`. */
  readonly config: { [key: string]: Json };
  /** The start arguments. */
  readonly args: Json[];
  /** Emits event `name` with `message` (any JSON value). */
  emit(name: string, message?: unknown): void;
  /** The next event or stop request; `undefined` after `timeoutMs` (none: wait for ever). */
  wait(timeoutMs?: number): Promise<Signal | undefined>;
  /** Calls `handler(message, event)` for each event `name` received while waiting. */
  on(name: string, handler: (message: Json, event: Event) => unknown): this;
  /** Waits, handing events to their `on` handlers, until the hub asks the instance to stop. */
  untilStopped(): Promise<void>;
  /** The events sent to the instance, until the hub asks it to stop. */
  events(): AsyncIterableIterator<Event>;
  /** Every event and stop request. */
  signals(): AsyncIterableIterator<Signal>;
  /** Asks for `ms` more milliseconds; after a stop that allows it, cancels the stop. */
  keepAlive(ms: number): void;
  /** The topic `name`. */
  topic(name: string): Topic;
  log(level: Level, message: string): void;
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Writes `f(line)` per input line (none when `f` returns `undefined`), flushing at the end. */
  mapLines(f: (line: string) => string | undefined | Promise<string | undefined>): Promise<void>;
  /** Writes the lines for which `keep` is true. */
  filterLines(keep: (line: string) => boolean | Promise<boolean>): Promise<void>;
  /** Writes `f(record)` as JSON per input record (none when `undefined`). */
  mapRecords<T = Json, U = unknown>(f: (record: T) => U | undefined | Promise<U | undefined>): Promise<void>;
  /** Writes the records for which `keep` is true. */
  filterRecords<T = Json>(keep: (record: T) => boolean | Promise<boolean>): Promise<void>;
}

/** Runs `main(ctx)` as the component's `run` (the glue `weir pack` adds calls it). */
export function runSequence(main: (ctx: Context) => unknown): Promise<void>;
