// The sequence's input stream: bytes from the host, decoded by content type as the Scramjet
// runner does (`application/x-ndjson` → one parsed value per line, `text/*` → strings,
// anything else → Buffers), pushed into an object-mode Readable.
import { Readable } from "./node/stream.js";
import { Buffer } from "./node/buffer.js";
import { StringDecoder } from "./node/string_decoder.js";
import { NDJSON } from "./output.js";

/** The decoder for `contentType` (a media type, parameters allowed; undefined: bytes). */
export function decoderFor(contentType) {
  const type = String(contentType ?? "").split(";")[0].trim().toLowerCase();
  if (type === NDJSON || type === "application/jsonl" || type === "application/x-jsonlines") return new NdjsonDecoder();
  if (type.startsWith("text/")) return new TextChunks();
  return new ByteChunks();
}

/** Buffers as they came (no copy). */
class ByteChunks {
  write(bytes, push) {
    push(Buffer.view(bytes));
  }

  end() {}
}

/** UTF-8 text; a character split between chunks is kept whole. */
class TextChunks {
  constructor() {
    this.decoder = new StringDecoder("utf8");
  }

  write(bytes, push) {
    const text = this.decoder.write(bytes);
    if (text !== "") push(text);
  }

  end(push) {
    const text = this.decoder.end();
    if (text !== "") push(text);
  }
}

/**
 * One parsed JSON value per non-blank line. The complete lines of a chunk are parsed in one
 * `JSON.parse` (as an array) whenever they allow it: per-line calls cost more than the
 * parsing in an interpreter.
 */
export class NdjsonDecoder {
  constructor() {
    this.decoder = new TextDecoder("utf-8");
    this.pending = "";
    this.line = 0;
  }

  write(bytes, push) {
    const text = this.pending + this.decoder.decode(bytes, { stream: true });
    const end = text.lastIndexOf("\n");
    if (end === -1) {
      this.pending = text;
      return;
    }
    this.pending = text.slice(end + 1);
    this.parse(text.slice(0, end), push);
  }

  end(push) {
    const rest = this.pending + this.decoder.decode();
    this.pending = "";
    if (rest.trim() !== "") this.parse(rest, push);
  }

  parse(lines, push) {
    let values;
    try {
      values = JSON.parse(`[${lines.replaceAll("\n", ",")}]`);
    } catch {
      values = undefined;
    }
    // A blank or bad line makes the array invalid: then line by line, to skip blank lines
    // and name the bad one. (Lenient in one way: a line "1,2" counts as two values.)
    if (values !== undefined) {
      this.line += values.length;
      for (let i = 0; i < values.length; i++) push(values[i]);
      return;
    }
    for (const line of lines.split("\n")) {
      this.line += 1;
      if (line.trim() === "") continue;
      try {
        push(JSON.parse(line));
      } catch (error) {
        throw new SyntaxError(`input line ${this.line}: ${error.message}`);
      }
    }
  }
}

/**
 * The input as a Readable: `_read` marks that the sequence wants data (the runner then asks
 * the host for some), `deliver` pushes what arrived.
 *
 * A `for await` taking the input before anything else read it gets a direct iterator over
 * the decoded values (`DirectIterator`): the Readable machinery costs more per record than
 * the record itself in an interpreter, and this is how most sequences read their input.
 */
export class Input extends Readable {
  constructor(contentType) {
    super({ objectMode: true, highWaterMark: 16 });
    this.wanted = false;
    this.declared = contentType;
    this.decoder = undefined;
    this.direct = undefined;
    this.pushed = false;
    this.sink = (value) => {
      this.pushed = true;
      this.push(value);
    };
  }

  _read() {
    this.wanted = true;
  }

  [Symbol.asyncIterator]() {
    const state = this._readableState;
    const untouched = this.direct === undefined && state.length === 0 && state.flowing === null && !state.ended &&
      state.pipes.length === 0 && this.listenerCount("data") === 0 && this.listenerCount("readable") === 0;
    if (!untouched) return super[Symbol.asyncIterator]();
    this.direct = new DirectIterator(this);
    this.sink = (value) => this.direct.queue.push(value);
    this.wanted = true;
    return this.direct;
  }

  /** Hands over `bytes` from the host (`undefined`: the input ended). */
  deliver(bytes, contentType) {
    this.wanted = false;
    this.pushed = false;
    if (this.destroyed) return;
    try {
      this.decoder ??= decoderFor(this.declared ?? contentType());
      if (bytes === undefined) {
        this.decoder.end(this.sink);
        if (this.direct) this.direct.end();
        else this.push(null);
      } else {
        this.decoder.write(bytes, this.sink);
        if (this.direct) this.direct.wake();
        // Bytes that completed no value (part of a line): the read is still outstanding.
        else if (!this.pushed) this.wanted = true;
      }
    } catch (error) {
      if (this.direct) this.direct.fail(error);
      else this.destroy(error);
    }
  }
}

/** The values of an Input, straight from its decoder, for one `for await`. */
class DirectIterator {
  constructor(input) {
    this.input = input;
    this.queue = [];
    this.head = 0;
    this.ended = false;
    this.error = undefined;
    this.waiting = undefined;
  }

  next() {
    if (this.head < this.queue.length) return Promise.resolve({ value: this.take(), done: false });
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    this.input.wanted = true;
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  take() {
    const value = this.queue[this.head];
    this.queue[this.head] = undefined;
    this.head += 1;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      if (!this.ended) this.input.wanted = true;
    }
    return value;
  }

  /** New values arrived: hands one to a waiting `next`, or asks for more input. */
  wake() {
    if (this.head === this.queue.length) {
      this.input.wanted = !this.ended;
      return;
    }
    if (this.waiting === undefined) return;
    const { resolve } = this.waiting;
    this.waiting = undefined;
    resolve({ value: this.take(), done: false });
  }

  end() {
    this.ended = true;
    this.input.wanted = false;
    if (this.waiting !== undefined && this.head === this.queue.length) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve({ value: undefined, done: true });
    } else {
      this.wake();
    }
  }

  fail(error) {
    this.error = error;
    this.ended = true;
    this.input.wanted = false;
    if (this.waiting !== undefined) {
      const { reject } = this.waiting;
      this.waiting = undefined;
      reject(error);
    }
  }

  return() {
    this.ended = true;
    this.queue.length = 0;
    this.head = 0;
    this.input.wanted = false;
    this.input.destroy();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}
