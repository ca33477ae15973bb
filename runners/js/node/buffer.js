// Node's `buffer`: Buffer as a Uint8Array subclass. Text goes through the engine's
// TextEncoder/TextDecoder (native code), never a byte-by-byte loop in JavaScript.

const encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8");
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

const ENCODINGS = {
  utf8: "utf8", "utf-8": "utf8",
  hex: "hex",
  base64: "base64", base64url: "base64url",
  latin1: "latin1", binary: "latin1",
  ascii: "ascii",
  ucs2: "utf16le", "ucs-2": "utf16le", utf16le: "utf16le", "utf-16le": "utf16le",
};

/** The canonical name of `encoding` (`utf8` when none), or a TypeError. */
export function normalizeEncoding(encoding) {
  if (encoding === undefined || encoding === null) return "utf8";
  const name = ENCODINGS[String(encoding).toLowerCase()];
  if (name === undefined) throw new TypeError(`Unknown encoding: ${encoding}`);
  return name;
}

export class Buffer extends Uint8Array {
  /** `new Buffer(n)` and `Buffer(x)` are deprecated in Node but still work there. */
  constructor(arg, offsetOrEncoding, length) {
    if (typeof arg === "number") super(arg);
    else if (arg instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && arg instanceof SharedArrayBuffer)) {
      super(arg, offsetOrEncoding ?? 0, length ?? arg.byteLength - (offsetOrEncoding ?? 0));
    } else {
      const bytes = toBytes(arg, offsetOrEncoding);
      super(bytes.buffer, bytes.byteOffset, bytes.length);
    }
  }

  static get [Symbol.species]() {
    return Buffer;
  }

  static from(value, encodingOrOffset, length) {
    if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer)) {
      const offset = encodingOrOffset ?? 0;
      return new Buffer(value, offset, length ?? value.byteLength - offset);
    }
    if (typeof value === "string") {
      const bytes = encode(value, normalizeEncoding(encodingOrOffset));
      return new Buffer(bytes.buffer, bytes.byteOffset, bytes.length);
    }
    if (ArrayBuffer.isView(value)) {
      const copy = new Buffer(value.byteLength);
      copy.set(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
      return copy;
    }
    if (value && value.type === "Buffer" && Array.isArray(value.data)) return Buffer.from(value.data);
    if (Array.isArray(value) || (value && typeof value.length === "number")) {
      const buf = new Buffer(value.length);
      for (let i = 0; i < value.length; i++) buf[i] = value[i] & 255;
      return buf;
    }
    if (value && typeof value.valueOf === "function" && value.valueOf() !== value) {
      return Buffer.from(value.valueOf(), encodingOrOffset, length);
    }
    throw new TypeError(
      "The first argument must be of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object.",
    );
  }

  /** A Buffer over `bytes`' memory, without copying. */
  static view(bytes) {
    return bytes instanceof Buffer ? bytes : new Buffer(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  static alloc(size, fill, encoding) {
    const buf = new Buffer(size);
    if (fill !== undefined && fill !== 0) buf.fill(fill, 0, size, encoding);
    return buf;
  }

  static allocUnsafe(size) {
    return new Buffer(size);
  }

  static allocUnsafeSlow(size) {
    return new Buffer(size);
  }

  static isBuffer(value) {
    return value instanceof Buffer;
  }

  static isEncoding(encoding) {
    return typeof encoding === "string" && ENCODINGS[encoding.toLowerCase()] !== undefined;
  }

  static byteLength(value, encoding) {
    if (typeof value !== "string") return value.byteLength;
    const name = normalizeEncoding(encoding);
    if (name === "utf8") return utf8Length(value);
    return encode(value, name).length;
  }

  static concat(list, totalLength) {
    if (totalLength === undefined) {
      totalLength = 0;
      for (const part of list) totalLength += part.length;
    }
    const all = new Buffer(totalLength);
    let at = 0;
    for (const part of list) {
      if (at >= totalLength) break;
      const piece = at + part.length > totalLength ? part.subarray(0, totalLength - at) : part;
      all.set(piece, at);
      at += piece.length;
    }
    return all;
  }

  static compare(a, b) {
    return compareBytes(a, b);
  }

  toString(encoding, start = 0, end = this.length) {
    start = Math.max(0, start | 0);
    end = Math.min(this.length, end === undefined ? this.length : end | 0);
    if (end <= start) return "";
    const bytes = start === 0 && end === this.length ? this : this.subarray(start, end);
    return decode(bytes, normalizeEncoding(encoding));
  }

  toLocaleString(encoding, start, end) {
    return this.toString(encoding, start, end);
  }

  toJSON() {
    return { type: "Buffer", data: Array.from(this) };
  }

  /** As in Node: a view of the same memory (Uint8Array's `slice` copies). */
  slice(start, end) {
    return this.subarray(start, end);
  }

  equals(other) {
    return compareBytes(this, other) === 0;
  }

  compare(other) {
    return compareBytes(this, other);
  }

  copy(target, targetStart = 0, sourceStart = 0, sourceEnd = this.length) {
    const piece = this.subarray(sourceStart, Math.min(sourceEnd, sourceStart + target.length - targetStart));
    target.set(piece, targetStart);
    return piece.length;
  }

  write(string, offset = 0, length, encoding) {
    if (typeof offset === "string") [offset, length, encoding] = [0, undefined, offset];
    else if (typeof length === "string") [length, encoding] = [undefined, length];
    const bytes = encode(string, normalizeEncoding(encoding));
    const n = Math.min(bytes.length, length ?? this.length - offset, this.length - offset);
    this.set(bytes.subarray(0, n), offset);
    return n;
  }

  fill(value, start = 0, end = this.length, encoding) {
    if (typeof start === "string") [start, end, encoding] = [0, this.length, start];
    if (typeof value === "number") return super.fill(value & 255, start, end);
    const bytes = typeof value === "string" ? encode(value, normalizeEncoding(encoding)) : value;
    if (bytes.length === 0) return super.fill(0, start, end);
    for (let i = start; i < end; i++) this[i] = bytes[(i - start) % bytes.length];
    return this;
  }

  indexOf(value, byteOffset = 0, encoding) {
    const needle = typeof value === "number" ? null : typeof value === "string" ? encode(value, normalizeEncoding(encoding)) : value;
    if (needle === null) return super.indexOf(value & 255, byteOffset);
    if (byteOffset < 0) byteOffset = Math.max(0, this.length + byteOffset);
    if (needle.length === 0) return Math.min(byteOffset, this.length);
    const first = needle[0];
    for (let i = super.indexOf(first, byteOffset); i !== -1 && i <= this.length - needle.length; i = super.indexOf(first, i + 1)) {
      let j = 1;
      while (j < needle.length && this[i + j] === needle[j]) j++;
      if (j === needle.length) return i;
    }
    return -1;
  }

  includes(value, byteOffset, encoding) {
    return this.indexOf(value, byteOffset, encoding) !== -1;
  }

  readUInt8(offset = 0) { return this[checked(this, offset, 1)]; }
  readInt8(offset = 0) { return (this[checked(this, offset, 1)] << 24) >> 24; }
  readUInt16LE(offset = 0) { return this.#view().getUint16(checked(this, offset, 2), true); }
  readUInt16BE(offset = 0) { return this.#view().getUint16(checked(this, offset, 2), false); }
  readInt16LE(offset = 0) { return this.#view().getInt16(checked(this, offset, 2), true); }
  readInt16BE(offset = 0) { return this.#view().getInt16(checked(this, offset, 2), false); }
  readUInt32LE(offset = 0) { return this.#view().getUint32(checked(this, offset, 4), true); }
  readUInt32BE(offset = 0) { return this.#view().getUint32(checked(this, offset, 4), false); }
  readInt32LE(offset = 0) { return this.#view().getInt32(checked(this, offset, 4), true); }
  readInt32BE(offset = 0) { return this.#view().getInt32(checked(this, offset, 4), false); }
  readFloatLE(offset = 0) { return this.#view().getFloat32(checked(this, offset, 4), true); }
  readFloatBE(offset = 0) { return this.#view().getFloat32(checked(this, offset, 4), false); }
  readDoubleLE(offset = 0) { return this.#view().getFloat64(checked(this, offset, 8), true); }
  readDoubleBE(offset = 0) { return this.#view().getFloat64(checked(this, offset, 8), false); }
  readBigUInt64LE(offset = 0) { return this.#view().getBigUint64(checked(this, offset, 8), true); }
  readBigUInt64BE(offset = 0) { return this.#view().getBigUint64(checked(this, offset, 8), false); }
  writeUInt8(value, offset = 0) { this[checked(this, offset, 1)] = value; return offset + 1; }
  writeInt8(value, offset = 0) { this[checked(this, offset, 1)] = value & 255; return offset + 1; }
  writeUInt16LE(value, offset = 0) { this.#view().setUint16(checked(this, offset, 2), value, true); return offset + 2; }
  writeUInt16BE(value, offset = 0) { this.#view().setUint16(checked(this, offset, 2), value, false); return offset + 2; }
  writeInt16LE(value, offset = 0) { this.#view().setInt16(checked(this, offset, 2), value, true); return offset + 2; }
  writeInt16BE(value, offset = 0) { this.#view().setInt16(checked(this, offset, 2), value, false); return offset + 2; }
  writeUInt32LE(value, offset = 0) { this.#view().setUint32(checked(this, offset, 4), value, true); return offset + 4; }
  writeUInt32BE(value, offset = 0) { this.#view().setUint32(checked(this, offset, 4), value, false); return offset + 4; }
  writeInt32LE(value, offset = 0) { this.#view().setInt32(checked(this, offset, 4), value, true); return offset + 4; }
  writeInt32BE(value, offset = 0) { this.#view().setInt32(checked(this, offset, 4), value, false); return offset + 4; }
  writeDoubleLE(value, offset = 0) { this.#view().setFloat64(checked(this, offset, 8), value, true); return offset + 8; }
  writeDoubleBE(value, offset = 0) { this.#view().setFloat64(checked(this, offset, 8), value, false); return offset + 8; }

  #view() {
    return new DataView(this.buffer, this.byteOffset, this.byteLength);
  }
}

for (const [alias, name] of [["readUint8", "readUInt8"], ["readUint16LE", "readUInt16LE"], ["readUint16BE", "readUInt16BE"],
  ["readUint32LE", "readUInt32LE"], ["readUint32BE", "readUInt32BE"], ["writeUint8", "writeUInt8"],
  ["writeUint16LE", "writeUInt16LE"], ["writeUint16BE", "writeUInt16BE"], ["writeUint32LE", "writeUInt32LE"],
  ["writeUint32BE", "writeUInt32BE"]]) {
  Buffer.prototype[alias] = Buffer.prototype[name];
}

Buffer.poolSize = 8192;

function checked(buf, offset, size) {
  if (!Number.isInteger(offset) || offset < 0 || offset + size > buf.length) {
    throw new RangeError(`The value of "offset" is out of range. It must be >= 0 and <= ${buf.length - size}. Received ${offset}`);
  }
  return offset;
}

function toBytes(value, encoding) {
  if (typeof value === "string") return encode(value, normalizeEncoding(encoding));
  return Buffer.from(value);
}

function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function utf8Length(string) {
  let n = string.length;
  for (let i = 0; i < string.length; i++) {
    const c = string.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < string.length) {
      n += 2;
      i += 1;
    } else n += 2;
  }
  return n;
}

/** `string` as bytes in `encoding` (a canonical name). */
export function encode(string, encoding) {
  switch (encoding) {
    case "utf8":
      return encoder.encode(string);
    case "hex": {
      const n = string.length >>> 1;
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const byte = parseInt(string.substr(i * 2, 2), 16);
        if (Number.isNaN(byte)) return bytes.subarray(0, i);
        bytes[i] = byte;
      }
      return bytes;
    }
    case "base64":
    case "base64url": {
      const clean = string.replace(/[^A-Za-z0-9+/\-_]/g, "").replace(/-/g, "+").replace(/_/g, "/");
      const padded = clean + "===".slice((clean.length + 3) % 4);
      const binary = atob(padded.length % 4 === 0 ? padded : clean);
      return encode(binary, "latin1");
    }
    case "latin1":
    case "ascii": {
      const bytes = new Uint8Array(string.length);
      for (let i = 0; i < string.length; i++) bytes[i] = string.charCodeAt(i) & 255;
      return bytes;
    }
    case "utf16le": {
      const bytes = new Uint8Array(string.length * 2);
      for (let i = 0; i < string.length; i++) {
        const c = string.charCodeAt(i);
        bytes[i * 2] = c & 255;
        bytes[i * 2 + 1] = c >>> 8;
      }
      return bytes;
    }
    default:
      throw new TypeError(`Unknown encoding: ${encoding}`);
  }
}

/** `bytes` as text in `encoding` (a canonical name). */
export function decode(bytes, encoding) {
  switch (encoding) {
    case "utf8":
      return utf8Decoder.decode(bytes);
    case "hex": {
      let out = "";
      for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]];
      return out;
    }
    case "base64":
      return btoa(latin1(bytes));
    case "base64url":
      return btoa(latin1(bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    case "latin1":
      return latin1(bytes);
    case "ascii": {
      let out = "";
      for (let i = 0; i < bytes.length; i += 4096) {
        out += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + 4096), (b) => b & 127));
      }
      return out;
    }
    case "utf16le": {
      let out = "";
      for (let i = 0; i + 1 < bytes.length; i += 2) out += String.fromCharCode(bytes[i] | (bytes[i + 1] << 8));
      return out;
    }
    default:
      throw new TypeError(`Unknown encoding: ${encoding}`);
  }
}

function latin1(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 4096) out += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096));
  return out;
}

export const kMaxLength = 2 ** 32;
export const constants = { MAX_LENGTH: kMaxLength, MAX_STRING_LENGTH: 2 ** 29 - 24 };
export const SlowBuffer = Buffer;
export const INSPECT_MAX_BYTES = 50;

/** What `require("buffer")` returns. */
export const bufferModule = { Buffer, SlowBuffer, kMaxLength, constants, INSPECT_MAX_BYTES, atob: (s) => atob(s), btoa: (s) => btoa(s) };
