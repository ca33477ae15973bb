// Node's `stream`: Readable, Writable, Duplex, Transform, PassThrough, pipeline, finished.
//
// The state machines follow Node's own (lib/internal/streams): the same flowing and paused
// modes, high-water marks, 'data'/'readable'/'end'/'finish'/'close' order and autoDestroy,
// so code written against Node's streams sees the same events. Constructors are functions,
// as in Node, so `Readable.call(this, options)` in code written for old Node works too.
import { EventEmitter } from "./events.js";
import { Buffer } from "./buffer.js";
import { StringDecoder } from "./string_decoder.js";
import { nextTick } from "./tick.js";

const kCallback = Symbol("transform callback");

function codeError(code, message, Type = Error) {
  const error = new Type(message);
  error.code = code;
  return error;
}

/** The legacy base of every stream. */
export function Stream(options) {
  EventEmitter.call(this, options);
}
Object.setPrototypeOf(Stream.prototype, EventEmitter.prototype);
Object.setPrototypeOf(Stream, EventEmitter);

// ---------------------------------------------------------------------------------------
// Readable

function ReadableState(options, isDuplex) {
  const objectMode = !!(options.objectMode || (options.readableObjectMode && true));
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
  this.isDuplex = isDuplex;
  if (options.encoding) {
    this.decoder = new StringDecoder(options.encoding);
    this.encoding = options.encoding;
  }
}

export function Readable(options) {
  if (!(this instanceof Readable)) return new Readable(options);
  options = options ?? {};
  Stream.call(this, options);
  this._readableState = new ReadableState(options, this instanceof Duplex);
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

// ---------------------------------------------------------------------------------------
// Writable

function WritableState(options, stream, isDuplex) {
  const objectMode = !!(options.objectMode || (isDuplex ? options.writableObjectMode : options.writableObjectMode));
  this.objectMode = objectMode;
  this.highWaterMark = options.writableHighWaterMark ?? options.highWaterMark ?? (objectMode ? 16 : 16384);
  this.decodeStrings = options.decodeStrings !== false;
  this.defaultEncoding = options.defaultEncoding || "utf8";
  this.length = 0;
  this.writing = false;
  this.corked = 0;
  this.sync = true;
  this.writecb = null;
  this.writelen = 0;
  this.buffered = [];
  this.bufferedIndex = 0;
  this.pendingcb = 0;
  this.ending = false;
  this.ended = false;
  this.finished = false;
  this.finalCalled = false;
  this.prefinished = false;
  this.needDrain = false;
  this.destroyed = false;
  this.errored = null;
  this.errorEmitted = false;
  this.closed = false;
  this.closeEmitted = false;
  this.constructed = true;
  this.emitClose = options.emitClose !== false;
  this.autoDestroy = options.autoDestroy !== false;
  this.writable = options.writable !== false;
  this.onFinished = [];
  this.onwrite = (error) => onwrite(stream, error);
}

export function Writable(options) {
  const isDuplex = this instanceof Duplex;
  if (!isDuplex && !Function.prototype[Symbol.hasInstance].call(Writable, this)) return new Writable(options);
  options = options ?? {};
  this._writableState = new WritableState(options, this, isDuplex);
  if (typeof options.write === "function") this._write = options.write;
  if (typeof options.writev === "function") this._writev = options.writev;
  if (typeof options.destroy === "function") this._destroy = options.destroy;
  if (typeof options.final === "function") this._final = options.final;
  if (!isDuplex) Stream.call(this, options);
}
Object.setPrototypeOf(Writable.prototype, Stream.prototype);
Object.setPrototypeOf(Writable, Stream);

Object.defineProperty(Writable, Symbol.hasInstance, {
  value(object) {
    if (Function.prototype[Symbol.hasInstance].call(this, object)) return true;
    if (this !== Writable) return false;
    return !!object && object._writableState instanceof WritableState;
  },
});

Writable.prototype._write = function _write(chunk, encoding, callback) {
  if (this._writev) this._writev([{ chunk, encoding }], callback);
  else throw codeError("ERR_METHOD_NOT_IMPLEMENTED", "The _write() method is not implemented");
};

Writable.prototype.write = function write(chunk, encoding, callback) {
  const state = this._writableState;
  if (typeof encoding === "function") {
    callback = encoding;
    encoding = null;
  }
  if (!encoding) encoding = state.defaultEncoding;
  if (chunk === null) throw codeError("ERR_STREAM_NULL_VALUES", "May not write null values to stream", TypeError);
  if (!state.objectMode) {
    if (typeof chunk === "string") {
      if (state.decodeStrings) {
        chunk = Buffer.from(chunk, encoding);
        encoding = "buffer";
      }
    } else if (chunk instanceof Uint8Array) {
      chunk = Buffer.view(chunk);
      encoding = "buffer";
    } else {
      throw codeError("ERR_INVALID_ARG_TYPE", 'The "chunk" argument must be of type string or an instance of Buffer or Uint8Array', TypeError);
    }
  }
  let error;
  if (state.ending) error = codeError("ERR_STREAM_WRITE_AFTER_END", "write after end");
  else if (state.destroyed) error = codeError("ERR_STREAM_DESTROYED", "Cannot call write after a stream was destroyed");
  if (error) {
    if (typeof callback === "function") nextTick(callback, error);
    errorOrDestroy(this, error, true);
    return false;
  }
  state.pendingcb += 1;
  const length = state.objectMode ? 1 : chunk.length;
  state.length += length;
  const ok = state.length < state.highWaterMark;
  if (!ok) state.needDrain = true;
  if (state.writing || state.corked || state.errored || !state.constructed) {
    state.buffered.push({ chunk, encoding, callback });
  } else {
    doWrite(this, state, length, chunk, encoding, callback);
  }
  return ok && !state.errored && !state.destroyed;
};

function doWrite(stream, state, length, chunk, encoding, callback) {
  state.writelen = length;
  state.writecb = callback;
  state.writing = true;
  state.sync = true;
  if (state.destroyed) state.onwrite(codeError("ERR_STREAM_DESTROYED", "Cannot call write after a stream was destroyed"));
  else stream._write(chunk, encoding, state.onwrite);
  state.sync = false;
}

function onwrite(stream, error) {
  const state = stream._writableState;
  const callback = state.writecb;
  state.writing = false;
  state.writecb = null;
  state.length -= state.writelen;
  state.writelen = 0;
  if (error) {
    if (!state.errored) state.errored = error;
    if (typeof callback === "function") {
      if (state.sync) nextTick(callback, error);
      else callback(error);
    }
    errorOrDestroy(stream, error, state.sync);
    return;
  }
  if (state.bufferedIndex < state.buffered.length) clearBuffer(stream, state);
  if (state.sync) nextTick(afterWrite, stream, state, callback);
  else afterWrite(stream, state, callback);
}

function afterWrite(stream, state, callback) {
  if (!state.ending && !state.destroyed && state.length === 0 && state.needDrain) {
    state.needDrain = false;
    stream.emit("drain");
  }
  state.pendingcb -= 1;
  if (typeof callback === "function") callback(null);
  if (state.destroyed) return;
  finishMaybe(stream, state);
}

function clearBuffer(stream, state) {
  if (state.corked || state.destroyed || state.writing || !state.constructed) return;
  const i = state.bufferedIndex;
  if (i >= state.buffered.length) return;
  const { chunk, encoding, callback } = state.buffered[i];
  state.buffered[i] = null;
  state.bufferedIndex = i + 1;
  if (state.bufferedIndex === state.buffered.length) {
    state.buffered.length = 0;
    state.bufferedIndex = 0;
  }
  doWrite(stream, state, state.objectMode ? 1 : chunk.length, chunk, encoding, callback);
}

Writable.prototype.cork = function cork() {
  this._writableState.corked += 1;
};

Writable.prototype.uncork = function uncork() {
  const state = this._writableState;
  if (state.corked) {
    state.corked -= 1;
    if (!state.writing) clearBuffer(this, state);
  }
};

Writable.prototype.setDefaultEncoding = function setDefaultEncoding(encoding) {
  this._writableState.defaultEncoding = encoding;
  return this;
};

Writable.prototype.end = function end(chunk, encoding, callback) {
  const state = this._writableState;
  if (typeof chunk === "function") {
    callback = chunk;
    chunk = null;
  } else if (typeof encoding === "function") {
    callback = encoding;
    encoding = null;
  }
  if (chunk !== null && chunk !== undefined) this.write(chunk, encoding);
  if (state.corked) {
    state.corked = 1;
    this.uncork();
  }
  if (!state.errored && !state.ending) {
    state.ending = true;
    finishMaybe(this, state, true);
    state.ended = true;
  }
  if (typeof callback === "function") {
    if (state.errored) nextTick(callback, state.errored);
    else if (state.finished) nextTick(callback, null);
    else state.onFinished.push(callback);
  }
  return this;
};

function needFinish(state) {
  return state.ending && !state.destroyed && state.constructed && state.length === 0 && !state.errored &&
    state.bufferedIndex >= state.buffered.length && !state.finished && !state.writing && !state.errorEmitted && !state.closeEmitted;
}

function finishMaybe(stream, state, sync) {
  if (!needFinish(state)) return;
  prefinish(stream, state);
  if (state.pendingcb !== 0) return;
  if (sync) {
    state.pendingcb += 1;
    nextTick(() => {
      if (needFinish(state)) finish(stream, state);
      else state.pendingcb -= 1;
    });
  } else if (needFinish(state)) {
    state.pendingcb += 1;
    finish(stream, state);
  }
}

function prefinish(stream, state) {
  if (state.prefinished || state.finalCalled) return;
  if (typeof stream._final === "function" && !state.destroyed) {
    state.finalCalled = true;
    state.sync = true;
    state.pendingcb += 1;
    const done = (error) => {
      state.pendingcb -= 1;
      if (error) {
        for (const callback of state.onFinished.splice(0)) callback(error);
        errorOrDestroy(stream, error, state.sync);
      } else if (needFinish(state)) {
        state.prefinished = true;
        stream.emit("prefinish");
        state.pendingcb += 1;
        nextTick(finish, stream, state);
      }
    };
    try {
      stream._final(done);
    } catch (error) {
      done(error);
    }
    state.sync = false;
  } else {
    state.prefinished = true;
    stream.emit("prefinish");
  }
}

function finish(stream, state) {
  state.pendingcb -= 1;
  state.finished = true;
  for (const callback of state.onFinished.splice(0)) callback(null);
  stream.emit("finish");
  if (state.autoDestroy) {
    const rState = stream._readableState;
    if (!rState || (rState.autoDestroy && (rState.endEmitted || rState.readable === false))) stream.destroy();
  }
}

Writable.prototype.destroy = destroy;
Writable.prototype._destroy = function _destroy(error, callback) {
  callback(error);
};

// ---------------------------------------------------------------------------------------
// Shared: destroy, errors, properties

function destroy(error, callback) {
  const r = this._readableState;
  const w = this._writableState;
  if ((w && w.destroyed) || (r && r.destroyed)) {
    if (typeof callback === "function") callback();
    return this;
  }
  if (error) {
    if (w && !w.errored) w.errored = error;
    if (r && !r.errored) r.errored = error;
  }
  if (w) w.destroyed = true;
  if (r) r.destroyed = true;
  let called = false;
  const done = (err) => {
    if (called) return;
    called = true;
    if (err) {
      if (w && !w.errored) w.errored = err;
      if (r && !r.errored) r.errored = err;
    }
    if (w) {
      w.closed = true;
      const pending = w.onFinished.splice(0);
      const reason = w.errored ?? codeError("ERR_STREAM_DESTROYED", "Cannot call end after a stream was destroyed");
      for (const onFinished of pending) nextTick(onFinished, reason);
    }
    if (r) r.closed = true;
    if (typeof callback === "function") callback(err);
    if (err) nextTick(emitErrorClose, this, err);
    else nextTick(emitClose, this);
  };
  try {
    this._destroy(error || null, done);
  } catch (err) {
    done(err);
  }
  return this;
}

function emitErrorClose(stream, error) {
  emitError(stream, error);
  emitClose(stream);
}

function emitClose(stream) {
  const r = stream._readableState;
  const w = stream._writableState;
  if (w) w.closeEmitted = true;
  if (r) r.closeEmitted = true;
  if ((w && w.emitClose) || (r && r.emitClose)) stream.emit("close");
}

function emitError(stream, error) {
  const r = stream._readableState;
  const w = stream._writableState;
  if ((w && w.errorEmitted) || (r && r.errorEmitted)) return;
  if (w) w.errorEmitted = true;
  if (r) r.errorEmitted = true;
  stream.emit("error", error);
}

function errorOrDestroy(stream, error, sync) {
  const r = stream._readableState;
  const w = stream._writableState;
  if ((w && w.destroyed) || (r && r.destroyed)) return;
  if ((r && r.autoDestroy) || (w && w.autoDestroy)) {
    stream.destroy(error);
  } else if (error) {
    if (w && !w.errored) w.errored = error;
    if (r && !r.errored) r.errored = error;
    if (sync) nextTick(emitError, stream, error);
    else emitError(stream, error);
  }
}

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

function writableProperties() {
  return {
    writable: {
      get() {
        const w = this._writableState;
        return !!w && w.writable !== false && !w.destroyed && !w.errored && !w.ending;
      },
      set(value) {
        if (this._writableState) this._writableState.writable = !!value;
      },
      configurable: true,
    },
    writableEnded: { get() { return this._writableState?.ending ?? false; }, configurable: true },
    writableFinished: { get() { return this._writableState?.finished ?? false; }, configurable: true },
    writableLength: { get() { return this._writableState?.length ?? 0; }, configurable: true },
    writableObjectMode: { get() { return this._writableState?.objectMode ?? false; }, configurable: true },
    writableHighWaterMark: { get() { return this._writableState?.highWaterMark; }, configurable: true },
    writableNeedDrain: {
      get() {
        const w = this._writableState;
        return !!w && !w.destroyed && !w.ending && w.needDrain;
      },
      configurable: true,
    },
    writableCorked: { get() { return this._writableState?.corked ?? 0; }, configurable: true },
  };
}

function sharedProperties() {
  return {
    destroyed: {
      get() {
        return (this._readableState ?? this._writableState)?.destroyed ?? false;
      },
      set(value) {
        if (this._readableState) this._readableState.destroyed = value;
        if (this._writableState) this._writableState.destroyed = value;
      },
      configurable: true,
    },
    closed: { get() { return (this._readableState ?? this._writableState)?.closed ?? false; }, configurable: true },
    errored: { get() { return (this._readableState ?? this._writableState)?.errored ?? null; }, configurable: true },
  };
}

Object.defineProperties(Readable.prototype, { ...readableProperties(), ...sharedProperties() });
Object.defineProperties(Writable.prototype, { ...writableProperties(), ...sharedProperties() });

// ---------------------------------------------------------------------------------------
// Duplex, Transform, PassThrough

export function Duplex(options) {
  if (!(this instanceof Duplex)) return new Duplex(options);
  options = options ?? {};
  Readable.call(this, {
    ...options,
    objectMode: options.objectMode || options.readableObjectMode,
    highWaterMark: options.readableHighWaterMark ?? options.highWaterMark,
  });
  Writable.call(this, {
    ...options,
    objectMode: options.objectMode || options.writableObjectMode,
    highWaterMark: options.writableHighWaterMark ?? options.highWaterMark,
  });
  this.allowHalfOpen = options.allowHalfOpen !== false;
  if (options.readable === false) {
    this._readableState.readable = false;
    this._readableState.ended = true;
    this._readableState.endEmitted = true;
  }
  if (options.writable === false) {
    this._writableState.writable = false;
    this._writableState.ending = true;
    this._writableState.ended = true;
    this._writableState.finished = true;
  }
}
Object.setPrototypeOf(Duplex.prototype, Readable.prototype);
Object.setPrototypeOf(Duplex, Readable);
for (const name of ["write", "cork", "uncork", "setDefaultEncoding", "end"]) {
  Duplex.prototype[name] = Writable.prototype[name];
}
Duplex.prototype._write = Writable.prototype._write;
Object.defineProperties(Duplex.prototype, writableProperties());

export function Transform(options) {
  if (!(this instanceof Transform)) return new Transform(options);
  Duplex.call(this, options);
  this._readableState.sync = false;
  this[kCallback] = null;
  if (options) {
    if (typeof options.transform === "function") this._transform = options.transform;
    if (typeof options.flush === "function") this._flush = options.flush;
  }
}
Object.setPrototypeOf(Transform.prototype, Duplex.prototype);
Object.setPrototypeOf(Transform, Duplex);

Transform.prototype._transform = function _transform() {
  throw codeError("ERR_METHOD_NOT_IMPLEMENTED", "The _transform() method is not implemented");
};

Transform.prototype._final = function _final(callback) {
  if (typeof this._flush === "function" && !this.destroyed) {
    this._flush((error, data) => {
      if (error) {
        callback(error);
        return;
      }
      if (data !== null && data !== undefined) this.push(data);
      this.push(null);
      callback();
    });
  } else {
    this.push(null);
    callback();
  }
};

Transform.prototype._write = function _write(chunk, encoding, callback) {
  const rState = this._readableState;
  const wState = this._writableState;
  const length = rState.length;
  this._transform(chunk, encoding, (error, value) => {
    if (error) {
      callback(error);
      return;
    }
    if (value !== null && value !== undefined) this.push(value);
    if (wState.ended || length === rState.length || rState.length < rState.highWaterMark) callback();
    else this[kCallback] = callback;
  });
};

Transform.prototype._read = function _read() {
  const callback = this[kCallback];
  if (callback) {
    this[kCallback] = null;
    callback();
  }
};

export function PassThrough(options) {
  if (!(this instanceof PassThrough)) return new PassThrough(options);
  Transform.call(this, options);
}
Object.setPrototypeOf(PassThrough.prototype, Transform.prototype);
Object.setPrototypeOf(PassThrough, Transform);

PassThrough.prototype._transform = function _transform(chunk, _encoding, callback) {
  callback(null, chunk);
};

// ---------------------------------------------------------------------------------------
// finished, pipeline

function isStream(value) {
  return !!value && typeof value.on === "function" && (typeof value.pipe === "function" || typeof value.write === "function");
}

/** Calls `callback(error)` once `stream` has ended, finished, errored or closed early. */
export function finished(stream, options, callback) {
  if (typeof options === "function") {
    callback = options;
    options = {};
  }
  options = options ?? {};
  const r = stream._readableState;
  const w = stream._writableState;
  const wantRead = options.readable !== false && (r ? r.readable !== false : typeof stream.pipe === "function" && !w);
  const wantWrite = options.writable !== false && (w ? w.writable !== false || w.finished : false);
  let readDone = !wantRead || (r ? r.endEmitted : false);
  let writeDone = !wantWrite || (w ? w.finished : false);
  let called = false;
  const call = (error) => {
    if (called) return;
    called = true;
    cleanup();
    callback.call(stream, error);
  };
  const onend = () => {
    readDone = true;
    if (writeDone) call();
  };
  const onfinish = () => {
    writeDone = true;
    if (readDone) call();
  };
  const onerror = (error) => call(error);
  const onclose = () => {
    const errored = (r ?? w)?.errored;
    if (errored) call(errored);
    else if (!readDone || !writeDone) call(codeError("ERR_STREAM_PREMATURE_CLOSE", "Premature close"));
    else call();
  };
  function cleanup() {
    stream.removeListener("end", onend);
    stream.removeListener("finish", onfinish);
    stream.removeListener("error", onerror);
    stream.removeListener("close", onclose);
  }
  stream.on("end", onend);
  stream.on("finish", onfinish);
  stream.on("error", onerror);
  stream.on("close", onclose);
  const errored = (r ?? w)?.errored;
  if (errored && ((r ?? w).errorEmitted || (r ?? w).closed)) nextTick(call, errored);
  else if (readDone && writeDone) nextTick(call);
  else if ((r ?? w)?.closeEmitted) nextTick(onclose);
  return cleanup;
}

/**
 * Pipes `source` through the stages into the last one, destroying them all on the first
 * error; `callback(error)` when the last has finished. A stage may be a stream, an
 * iterable (the source) or a function of the previous stage returning an async iterable.
 */
export function pipeline(...stages) {
  const callback = typeof stages[stages.length - 1] === "function" ? stages.pop() : () => {};
  if (stages.length === 1 && Array.isArray(stages[0])) stages = stages[0];
  if (stages.length < 2) throw codeError("ERR_MISSING_ARGS", 'The "streams" argument must be specified', TypeError);
  const streams = [];
  let called = false;
  const done = (error) => {
    if (called) return;
    called = true;
    if (error) for (const stream of streams) if (!stream.destroyed) stream.destroy(error);
    callback(error);
  };
  let previous;
  for (let i = 0; i < stages.length; i++) {
    let stage = stages[i];
    const last = i === stages.length - 1;
    let consumed = false;
    if (typeof stage === "function") {
      stage = stage(previous);
      consumed = true;
    }
    if (stage && typeof stage.then === "function" && !isStream(stage)) {
      if (!last) throw codeError("ERR_INVALID_RETURN_VALUE", "a pipeline stage returned a promise before the last", TypeError);
      stage.then(() => done(), done);
      break;
    }
    if (!isStream(stage)) stage = Readable.from(stage);
    else if (previous && !consumed) previous.pipe(stage);
    streams.push(stage);
    const stream = stage;
    finished(stream, { readable: !last || !stream._writableState, writable: true }, (error) => {
      if (error) done(error);
      else if (stream === streams[stages.length - 1]) done();
    });
    previous = stage;
  }
  return previous;
}

export const promises = {
  pipeline: (...stages) => new Promise((resolve, reject) => pipeline(...stages, (error) => (error ? reject(error) : resolve()))),
  finished: (stream, options) => new Promise((resolve, reject) => finished(stream, options, (error) => (error ? reject(error) : resolve()))),
};

export function isReadable(stream) {
  return !!stream && stream.readable === true;
}

export function isErrored(stream) {
  return !!(stream?._readableState?.errored || stream?._writableState?.errored);
}

Stream.Stream = Stream;
Stream.Readable = Readable;
Stream.Writable = Writable;
Stream.Duplex = Duplex;
Stream.Transform = Transform;
Stream.PassThrough = PassThrough;
Stream.pipeline = pipeline;
Stream.finished = finished;
Stream.promises = promises;
Stream.isReadable = isReadable;
Stream.isErrored = isErrored;
