// Writable: buffered writes with a high-water mark, 'drain', `end`, `_final` and 'finish',
// following lib/internal/streams/writable.js.
import { Buffer } from "../buffer.js";
import { nextTick } from "../tick.js";
import { Stream, codeError, destroy, errorOrDestroy, sharedProperties } from "./shared.js";

function WritableState(options, stream) {
  const objectMode = !!(options.objectMode || options.writableObjectMode);
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
  // A Duplex has set up its readable side first.
  const isDuplex = this._readableState !== undefined;
  if (!isDuplex && !Function.prototype[Symbol.hasInstance].call(Writable, this)) return new Writable(options);
  options = options ?? {};
  this._writableState = new WritableState(options, this);
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


export function writableProperties() {
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


Object.defineProperties(Writable.prototype, { ...writableProperties(), ...sharedProperties() });
