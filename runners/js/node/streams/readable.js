// Readable: Node's flowing and paused modes, `pipe` with backpressure, async iteration and
// `Readable.from`, following lib/internal/streams/readable.js.
import { Buffer } from "../buffer.js";
import { StringDecoder } from "../string_decoder.js";
import { nextTick } from "../tick.js";
import { Stream, codeError, destroy, errorOrDestroy, sharedProperties } from "./shared.js";
import { finished } from "./pipeline.js";

function ReadableState(options) {
  const objectMode = !!(options.objectMode || options.readableObjectMode);
  this.objectMode = objectMode;
  this.highWaterMark = options.readableHighWaterMark ?? options.highWaterMark ?? (objectMode ? 16 : 16384);
  this.buffer = [];
  this.head = 0;
  this.length = 0;
  this.pipes = [];
  this.flowing = null;
  this.ended = false;
  this.endEmitted = false;
  this.reading = false;
  this.constructed = true;
  this.sync = true;
  this.needReadable = false;
  this.emittedReadable = false;
  this.readableListening = false;
  this.resumeScheduled = false;
  this.errorEmitted = false;
  this.emitClose = options.emitClose !== false;
  this.autoDestroy = options.autoDestroy !== false;
  this.destroyed = false;
  this.errored = null;
  this.closed = false;
  this.closeEmitted = false;
  this.awaitDrain = 0;
  this.readingMore = false;
  this.dataEmitted = false;
  this.readable = options.readable !== false;
  this.decoder = null;
  this.encoding = null;
  if (options.encoding) {
    this.decoder = new StringDecoder(options.encoding);
    this.encoding = options.encoding;
  }
}

export function Readable(options) {
  if (!(this instanceof Readable)) return new Readable(options);
  options = options ?? {};
  Stream.call(this, options);
  this._readableState = new ReadableState(options);
  if (typeof options.read === "function") this._read = options.read;
  if (typeof options.destroy === "function") this._destroy = options.destroy;
  if (typeof options.construct === "function") {
    const state = this._readableState;
    state.constructed = false;
    nextTick(() =>
      options.construct.call(this, (error) => {
        state.constructed = true;
        if (error) destroy.call(this, error);
        else if (state.needReadable || state.flowing) maybeReadMore(this, state);
      }),
    );
  }
}
Object.setPrototypeOf(Readable.prototype, Stream.prototype);
Object.setPrototypeOf(Readable, Stream);

Readable.prototype._read = function _read() {
  throw codeError("ERR_METHOD_NOT_IMPLEMENTED", "The _read() method is not implemented");
};

Readable.prototype.push = function push(chunk, encoding) {
  return addChunk(this, this._readableState, chunk, encoding, false);
};

Readable.prototype.unshift = function unshift(chunk, encoding) {
  return addChunk(this, this._readableState, chunk, encoding, true);
};

function addChunk(stream, state, chunk, encoding, toFront) {
  if (chunk === null) {
    state.reading = false;
    onEofChunk(stream, state);
    return false;
  }
  if (!state.objectMode) {
    if (typeof chunk === "string") {
      if (state.decoder && (!encoding || encoding === state.encoding)) {
        // already text in the stream's encoding
      } else {
        chunk = Buffer.from(chunk, encoding);
        if (state.decoder) chunk = state.decoder.write(chunk);
      }
    } else if (chunk instanceof Uint8Array) {
      chunk = state.decoder ? state.decoder.write(chunk) : Buffer.view(chunk);
    } else {
      errorOrDestroy(stream, codeError("ERR_INVALID_ARG_TYPE", 'The "chunk" argument must be of type string or an instance of Buffer or Uint8Array', TypeError));
      return false;
    }
  }
  if (state.destroyed) return false;
  if (state.ended && !toFront) {
    errorOrDestroy(stream, codeError("ERR_STREAM_PUSH_AFTER_EOF", "stream.push() after EOF"));
    return false;
  }
  state.reading = false;
  if (!state.objectMode && chunk.length === 0) {
    maybeReadMore(stream, state);
    return state.length < state.highWaterMark;
  }
  if (state.flowing && state.length === 0 && !state.sync && stream._events.data !== undefined) {
    state.dataEmitted = true;
    stream.emit("data", chunk);
  } else {
    state.length += state.objectMode ? 1 : chunk.length;
    if (toFront) {
      state.buffer.splice(state.head, 0, chunk);
    } else {
      state.buffer.push(chunk);
    }
    if (state.needReadable) emitReadable(stream);
  }
  maybeReadMore(stream, state);
  return !state.ended && (state.length < state.highWaterMark || state.length === 0);
}

function onEofChunk(stream, state) {
  if (state.ended) return;
  if (state.decoder) {
    const rest = state.decoder.end();
    if (rest.length) {
      state.buffer.push(rest);
      state.length += state.objectMode ? 1 : rest.length;
    }
  }
  state.ended = true;
  if (state.sync) {
    emitReadable(stream);
  } else {
    state.needReadable = false;
    state.emittedReadable = true;
    emitReadableNow(stream);
  }
}

function emitReadable(stream) {
  const state = stream._readableState;
  state.needReadable = false;
  if (!state.emittedReadable) {
    state.emittedReadable = true;
    nextTick(emitReadableNow, stream);
  }
}

function emitReadableNow(stream) {
  const state = stream._readableState;
  if (!state.destroyed && !state.errored && (state.length || state.ended)) {
    stream.emit("readable");
    state.emittedReadable = false;
  }
  state.needReadable = !state.flowing && !state.ended && state.length <= state.highWaterMark;
  flow(stream);
}

function maybeReadMore(stream, state) {
  if (!state.readingMore && state.constructed) {
    state.readingMore = true;
    nextTick(readMore, stream, state);
  }
}

function readMore(stream, state) {
  while (!state.reading && !state.ended && (state.length < state.highWaterMark || (state.flowing && state.length === 0))) {
    const before = state.length;
    stream.read(0);
    if (before === state.length) break;
  }
  state.readingMore = false;
}

function howMuchToRead(n, state) {
  if (n <= 0 || (state.length === 0 && state.ended)) return 0;
  if (state.objectMode) return 1;
  if (Number.isNaN(n)) {
    return state.flowing && state.length ? state.buffer[state.head].length : state.length;
  }
  if (n <= state.length) return n;
  return state.ended ? state.length : 0;
}

Readable.prototype.read = function read(n) {
  const state = this._readableState;
  n = n === undefined ? NaN : Number.isInteger(n) ? n : parseInt(n, 10);
  const requested = n;
  if (n !== 0) state.emittedReadable = false;
  if (n === 0 && state.needReadable && ((state.highWaterMark !== 0 ? state.length >= state.highWaterMark : state.length > 0) || state.ended)) {
    if (state.length === 0 && state.ended) endReadable(this);
    else emitReadable(this);
    return null;
  }
  n = howMuchToRead(n, state);
  if (n === 0 && state.ended) {
    if (state.length === 0) endReadable(this);
    return null;
  }
  let doRead = state.needReadable || state.length === 0 || state.length - n < state.highWaterMark;
  if (state.ended || state.reading || state.destroyed || state.errored || !state.constructed) doRead = false;
  else if (doRead) {
    state.reading = true;
    state.sync = true;
    if (state.length === 0) state.needReadable = true;
    try {
      this._read(state.highWaterMark);
    } catch (error) {
      errorOrDestroy(this, error);
    }
    state.sync = false;
    if (!state.reading) n = howMuchToRead(requested, state);
  }
  const chunk = n > 0 ? fromList(n, state) : null;
  if (chunk === null) {
    state.needReadable = state.length <= state.highWaterMark;
    n = 0;
  } else {
    state.length -= state.objectMode ? 1 : n;
  }
  if (state.length === 0) {
    if (!state.ended) state.needReadable = true;
    if (requested !== n && state.ended) endReadable(this);
  }
  if (chunk !== null && !state.errorEmitted && !state.closeEmitted) {
    state.dataEmitted = true;
    if (this._events.data !== undefined) this.emit("data", chunk);
  }
  return chunk;
};

function shift(state) {
  const chunk = state.buffer[state.head];
  state.buffer[state.head] = undefined;
  state.head += 1;
  if (state.head === state.buffer.length) {
    state.buffer.length = 0;
    state.head = 0;
  } else if (state.head > 1024 && state.head * 2 > state.buffer.length) {
    state.buffer = state.buffer.slice(state.head);
    state.head = 0;
  }
  return chunk;
}

function fromList(n, state) {
  if (state.length === 0) return null;
  if (state.objectMode) return shift(state);
  const count = state.buffer.length - state.head;
  if (n >= state.length) {
    if (count === 1) return shift(state);
    const parts = state.buffer.slice(state.head);
    state.buffer.length = 0;
    state.head = 0;
    return state.decoder ? parts.join("") : Buffer.concat(parts);
  }
  const first = state.buffer[state.head];
  if (n < first.length) {
    state.buffer[state.head] = first.slice(n);
    return first.slice(0, n);
  }
  if (n === first.length) return shift(state);
  const parts = [];
  let left = n;
  while (left > 0) {
    const next = state.buffer[state.head];
    if (next.length <= left) {
      parts.push(shift(state));
      left -= next.length;
    } else {
      parts.push(next.slice(0, left));
      state.buffer[state.head] = next.slice(left);
      left = 0;
    }
  }
  return state.decoder ? parts.join("") : Buffer.concat(parts);
}

function endReadable(stream) {
  const state = stream._readableState;
  if (!state.endEmitted) {
    state.ended = true;
    nextTick(endReadableNow, state, stream);
  }
}

function endReadableNow(state, stream) {
  if (!state.errored && !state.closeEmitted && !state.endEmitted && state.length === 0) {
    state.endEmitted = true;
    stream.emit("end");
    const wState = stream._writableState;
    if (wState && stream.allowHalfOpen === false && !wState.ending) stream.end();
    if (state.autoDestroy) {
      if (!wState || (wState.autoDestroy && (wState.finished || wState.writable === false))) stream.destroy();
    }
  }
}

function flow(stream) {
  const state = stream._readableState;
  while (state.flowing && stream.read() !== null);
}

Readable.prototype.on = function on(event, listener) {
  const result = Stream.prototype.on.call(this, event, listener);
  const state = this._readableState;
  if (event === "data") {
    state.readableListening = this.listenerCount("readable") > 0;
    if (state.flowing !== false) this.resume();
  } else if (event === "readable" && !state.endEmitted && !state.readableListening) {
    state.readableListening = state.needReadable = true;
    state.flowing = false;
    state.emittedReadable = false;
    if (state.length) emitReadable(this);
    else if (!state.reading) nextTick(() => this.read(0));
  }
  return result;
};
Readable.prototype.addListener = Readable.prototype.on;

Readable.prototype.removeListener = function removeListener(event, listener) {
  const result = Stream.prototype.removeListener.call(this, event, listener);
  if (event === "readable") nextTick(updateReadableListening, this);
  return result;
};
Readable.prototype.off = Readable.prototype.removeListener;

function updateReadableListening(stream) {
  const state = stream._readableState;
  state.readableListening = stream.listenerCount("readable") > 0;
  if (!state.readableListening && stream.listenerCount("data") > 0) stream.resume();
}

Readable.prototype.resume = function resume() {
  const state = this._readableState;
  if (!state.flowing) {
    state.flowing = !state.readableListening;
    if (!state.resumeScheduled) {
      state.resumeScheduled = true;
      nextTick(resumeNow, this, state);
    }
  }
  return this;
};

function resumeNow(stream, state) {
  if (!state.reading) stream.read(0);
  state.resumeScheduled = false;
  stream.emit("resume");
  flow(stream);
  if (state.flowing && !state.reading) stream.read(0);
}

Readable.prototype.pause = function pause() {
  const state = this._readableState;
  if (state.flowing !== false) {
    state.flowing = false;
    this.emit("pause");
  }
  return this;
};

Readable.prototype.isPaused = function isPaused() {
  return this._readableState.flowing === false;
};

Readable.prototype.setEncoding = function setEncoding(encoding) {
  const state = this._readableState;
  state.decoder = new StringDecoder(encoding);
  state.encoding = state.decoder.encoding;
  const parts = state.buffer.slice(state.head).map((chunk) => state.decoder.write(chunk));
  state.buffer = parts.filter((s) => s.length > 0);
  state.head = 0;
  state.length = state.objectMode ? state.buffer.length : state.buffer.reduce((n, s) => n + s.length, 0);
  return this;
};

Readable.prototype.pipe = function pipe(dest, options) {
  const src = this;
  const state = this._readableState;
  state.pipes.push(dest);
  let waiting = false;
  const ondrain = () => {
    if (!waiting) return;
    waiting = false;
    state.awaitDrain -= 1;
    if (state.awaitDrain === 0 && src.listenerCount("data") > 0) {
      state.flowing = true;
      flow(src);
    }
  };
  const ondata = (chunk) => {
    if (dest.write(chunk) === false && !waiting) {
      waiting = true;
      state.awaitDrain += 1;
      src.pause();
    }
  };
  const onend = () => dest.end();
  const cleanup = () => {
    dest.removeListener("drain", ondrain);
    dest.removeListener("error", onerror);
    dest.removeListener("close", onclose);
    dest.removeListener("finish", onfinish);
    src.removeListener("data", ondata);
    src.removeListener("end", onend);
    src.removeListener("end", cleanup);
    if (waiting) {
      waiting = false;
      state.awaitDrain -= 1;
    }
  };
  const unpipe = () => src.unpipe(dest);
  function onerror() {
    unpipe();
  }
  const onclose = () => unpipe();
  const onfinish = () => unpipe();
  dest[kUnpipe] ??= new Map();
  dest[kUnpipe].set(src, cleanup);
  src.on("data", ondata);
  const end = (!options || options.end !== false) && dest !== globalThis.process?.stdout && dest !== globalThis.process?.stderr;
  if (end) {
    if (state.endEmitted) nextTick(onend);
    else src.once("end", onend);
  }
  src.once("end", cleanup);
  dest.on("drain", ondrain);
  dest.on("error", onerror);
  dest.once("close", onclose);
  dest.once("finish", onfinish);
  dest.emit("pipe", src);
  if (dest.writableNeedDrain === true) {
    waiting = true;
    state.awaitDrain += 1;
    src.pause();
  } else if (!state.flowing) {
    src.resume();
  }
  return dest;
};

const kUnpipe = Symbol("unpipe");

Readable.prototype.unpipe = function unpipe(dest) {
  const state = this._readableState;
  const targets = dest === undefined ? state.pipes.slice() : [dest];
  for (const target of targets) {
    const i = state.pipes.indexOf(target);
    if (i === -1) continue;
    state.pipes.splice(i, 1);
    target[kUnpipe]?.get(this)?.();
    target[kUnpipe]?.delete(this);
    target.emit("unpipe", this);
  }
  if (state.pipes.length === 0 && this.listenerCount("data") === 0) state.flowing = false;
  return this;
};

Readable.prototype.destroy = destroy;
Readable.prototype._destroy = function _destroy(error, callback) {
  callback(error);
};

Readable.prototype[Symbol.asyncIterator] = function asyncIterator() {
  return readableIterator(this);
};

Readable.prototype.iterator = function iterator() {
  return readableIterator(this);
};

/** The chunks of `stream` as an async iterator: resolves at once while data is buffered. */
function readableIterator(stream) {
  const state = stream._readableState;
  let waiting = null;
  let error = null;
  let done = false;
  const wake = () => {
    if (waiting === null) return;
    const { resolve, reject } = waiting;
    waiting = null;
    if (error) return reject(error);
    const chunk = stream.read();
    if (chunk !== null) resolve({ value: chunk, done: false });
    else if (done) resolve({ value: undefined, done: true });
    else waiting = { resolve, reject };
  };
  stream.on("readable", wake);
  finished(stream, { writable: false }, (err) => {
    if (err && err.code !== "ERR_STREAM_PREMATURE_CLOSE") error = err;
    done = true;
    wake();
  });
  return {
    next() {
      if (error) return Promise.reject(error);
      const chunk = stream.read();
      if (chunk !== null) return Promise.resolve({ value: chunk, done: false });
      if (done || state.endEmitted) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => {
        waiting = { resolve, reject };
      });
    },
    return() {
      done = true;
      if (!state.endEmitted) stream.destroy();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

Readable.prototype.toArray = async function toArray() {
  const all = [];
  for await (const chunk of this) all.push(chunk);
  return all;
};

Readable.prototype.wrap = function wrap(old) {
  old.on("data", (chunk) => {
    if (!this.push(chunk) && old.pause) old.pause();
  });
  old.on("end", () => this.push(null));
  old.on("error", (error) => errorOrDestroy(this, error));
  this._read = () => old.resume?.();
  return this;
};

/** A Readable of `iterable`'s values (object mode unless `options` says otherwise). */
Readable.from = function from(iterable, options) {
  if (typeof iterable === "string" || iterable instanceof Uint8Array) {
    return new Readable({
      objectMode: true,
      ...options,
      read() {
        this.push(iterable);
        this.push(null);
      },
    });
  }
  let iterator;
  let isAsync;
  if (iterable && typeof iterable[Symbol.asyncIterator] === "function") {
    isAsync = true;
    iterator = iterable[Symbol.asyncIterator]();
  } else if (iterable && typeof iterable[Symbol.iterator] === "function") {
    isAsync = false;
    iterator = iterable[Symbol.iterator]();
  } else {
    throw codeError("ERR_INVALID_ARG_TYPE", 'The "iterable" argument must be an instance of Iterable', TypeError);
  }
  const readable = new Readable({ objectMode: true, highWaterMark: 1, ...options });
  let reading = false;
  readable._read = () => {
    if (!reading) {
      reading = true;
      pull();
    }
  };
  readable._destroy = (error, callback) => {
    close(error).then(
      () => nextTick(callback, error),
      (e) => nextTick(callback, e || error),
    );
  };
  async function close(error) {
    if (error && typeof iterator.throw === "function") {
      const { value, done } = await iterator.throw(error);
      await value;
      if (done) return;
    }
    if (typeof iterator.return === "function") {
      const { value } = await iterator.return();
      await value;
    }
  }
  async function pull() {
    for (;;) {
      try {
        const { value, done } = isAsync ? await iterator.next() : iterator.next();
        if (done) {
          readable.push(null);
        } else {
          const item = value && typeof value.then === "function" ? await value : value;
          if (item === null) {
            reading = false;
            throw codeError("ERR_STREAM_NULL_VALUES", "May not write null values to stream", TypeError);
          }
          if (readable.push(item)) continue;
          reading = false;
        }
      } catch (error) {
        readable.destroy(error);
      }
      break;
    }
  }
  return readable;
};


function readableProperties() {
  return {
    readable: {
      get() {
        const r = this._readableState;
        return !!r && r.readable !== false && !r.destroyed && !r.errorEmitted && !r.endEmitted;
      },
      set(value) {
        if (this._readableState) this._readableState.readable = !!value;
      },
      configurable: true,
    },
    readableEnded: { get() { return this._readableState?.endEmitted ?? false; }, configurable: true },
    readableFlowing: {
      get() { return this._readableState?.flowing ?? null; },
      set(value) { if (this._readableState) this._readableState.flowing = value; },
      configurable: true,
    },
    readableLength: { get() { return this._readableState?.length ?? 0; }, configurable: true },
    readableObjectMode: { get() { return this._readableState?.objectMode ?? false; }, configurable: true },
    readableHighWaterMark: { get() { return this._readableState?.highWaterMark; }, configurable: true },
    readableEncoding: { get() { return this._readableState?.encoding ?? null; }, configurable: true },
    readableDidRead: { get() { return this._readableState?.dataEmitted ?? false; }, configurable: true },
  };
}


Object.defineProperties(Readable.prototype, { ...readableProperties(), ...sharedProperties() });
