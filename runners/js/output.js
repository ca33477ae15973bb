// The instance's output (or an output topic): what a sequence returned, serialised as the
// Scramjet hub does, buffered into writes of at least 64 KiB.
import { Buffer } from "./node/buffer.js";

/** Bytes handed to the host per write once this much is buffered. */
export const FLUSH_AT = 64 * 1024;

export const NDJSON = "application/x-ndjson";

const encoder = new TextEncoder();

/** Buffered writes to `sink(bytes)`; text is encoded once per flush. */
export class Output {
  constructor(sink) {
    this.sink = sink;
    this.parts = [];
    this.size = 0;
    this.text = "";
  }

  writeText(text) {
    this.text += text;
    if (this.text.length >= FLUSH_AT) this.flush();
  }

  writeBytes(bytes) {
    if (bytes.length === 0) return;
    if (this.text !== "") this.encodeText();
    if (this.size === 0 && bytes.length >= FLUSH_AT) {
      this.sink(bytes);
      return;
    }
    this.parts.push(bytes);
    this.size += bytes.length;
    if (this.size >= FLUSH_AT) this.flush();
  }

  /** One NDJSON line for `value` (`undefined` and functions write nothing, as JSON does). */
  writeRecord(value) {
    const json = JSON.stringify(value);
    if (json !== undefined) this.writeText(`${json}\n`);
  }

  /** A chunk of a byte stream: text as UTF-8, bytes as they are, anything else as JSON. */
  writeChunk(chunk) {
    if (typeof chunk === "string") this.writeText(chunk);
    else if (chunk instanceof Uint8Array) this.writeBytes(chunk);
    else this.writeRecord(chunk);
  }

  encodeText() {
    const bytes = encoder.encode(this.text);
    this.text = "";
    this.parts.push(bytes);
    this.size += bytes.length;
  }

  flush() {
    if (this.text !== "") this.encodeText();
    if (this.size === 0) return;
    const data = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    this.sink(data);
  }
}

function isReadable(value) {
  return typeof value.pipe === "function" && typeof value.on === "function";
}

/**
 * Writes `value`, the last function's result, to `output` and resolves once all of it is
 * written. As in the Scramjet hub: a Readable in object mode (or declared
 * `application/x-ndjson`) goes out as NDJSON, a byte Readable as its bytes; an async or
 * sync iterable (a generator, an array) as one NDJSON line per item, strings quoted; a
 * string, number or boolean once as `String(v)`; bytes as they are; any other object as
 * one JSON line.
 */
export async function writeResult(value, output) {
  if (value === undefined || value === null) return;
  const contentType = typeof value === "object" || typeof value === "function" ? value.contentType : undefined;
  if (typeof value === "object" && isReadable(value)) {
    const ndjson = contentType === undefined ? objectMode(value) : contentType === NDJSON;
    await drain(value, ndjson ? (chunk) => output.writeRecord(chunk) : (chunk) => output.writeChunk(chunk));
  } else if (value instanceof Uint8Array) {
    output.writeBytes(value);
  } else if (typeof value !== "object" && typeof value !== "function") {
    output.writeText(String(value));
  } else if (typeof value[Symbol.asyncIterator] === "function" || typeof value[Symbol.iterator] === "function") {
    const raw = contentType !== undefined && contentType !== NDJSON;
    for await (const item of value) {
      if (raw) output.writeChunk(item);
      else output.writeRecord(item);
    }
  } else {
    output.writeRecord(value);
  }
  output.flush();
}

function objectMode(stream) {
  const state = stream._readableState;
  if (state) return state.objectMode;
  return stream.readableObjectMode === true;
}

/** Hands each chunk of `stream` to `write` (which blocks on the host) until it ends. */
function drain(stream, write) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error) => {
      if (settled) return;
      settled = true;
      if (error) reject(error);
      else resolve();
    };
    stream.on("data", (chunk) => {
      try {
        write(chunk);
      } catch (error) {
        settle(error);
        stream.destroy?.(error);
      }
    });
    stream.on("end", () => settle());
    stream.on("error", (error) => settle(error));
    stream.on("close", () => {
      const errored = stream._readableState?.errored ?? stream.errored;
      settle(errored || undefined);
    });
    if (typeof stream.resume === "function") stream.resume();
  });
}
