// What every stream shares: the legacy `Stream` base, `destroy` and the error path, and the
// properties both sides have (`destroyed`, `closed`, `errored`).
import { EventEmitter } from "../events.js";
import { nextTick } from "../tick.js";

export function codeError(code, message, Type = Error) {
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


export function destroy(error, callback) {
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

export function errorOrDestroy(stream, error, sync) {
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


export function sharedProperties() {
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

