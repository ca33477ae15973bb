// Duplex (both sides on one object), Transform and PassThrough.
import { Readable } from "./readable.js";
import { Writable, writableProperties } from "./writable.js";
import { codeError } from "./shared.js";

const kCallback = Symbol("transform callback");

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

