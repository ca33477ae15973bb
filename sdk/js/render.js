// The render world for JavaScript plugins: a frame in, artifacts out.
//
// A render plugin's module exports one async function as its default export;
// `weir pack` adds the glue that calls it from the component's `render` export:
//
//   export default async function render(frame) {
//     frame.progress(1);
//     return [frame.artifact(`frame-${frame.padded()}.txt`, "text/plain", `${frame.number}\n`)];
//   }
import { reportProgress } from "weir:plugin/frames@0.1.0";
import { addLogMethods, errorMessage } from "./log.js";

const encoder = new TextEncoder();

/** The frame being rendered: its number, attempt, job and settings. */
export class Frame {
  constructor(request) {
    this.jobId = request.jobId;
    this.number = Number(request.frame);
    this.attempt = request.attempt;
    /** The package's `[config]` overlaid with the job's `settings`. */
    this.settings = JSON.parse(request.settings);
    addLogMethods(this);
  }

  /** The settings with `defaults` under them: `frame.settingsWith({ width: 320 })`. */
  settingsWith(defaults) {
    return { ...defaults, ...this.settings };
  }

  /** The frame number padded to six digits, as in `frame-000007.png`. */
  padded(width = 6) {
    const digits = String(Math.abs(this.number)).padStart(width, "0");
    return this.number < 0 ? `-${digits}` : digits;
  }

  /** Reports how much of the frame is done, 0 … 1. */
  progress(fraction) {
    reportProgress(Math.fround(Number(fraction)));
  }

  /** An artifact: `data` is a `Uint8Array` or text (UTF-8). */
  artifact(name, mediaType, data) {
    return artifact(name, mediaType, data);
  }

  /** A PNG artifact of 8-bit RGB pixels (`width * height * 3` bytes, rows top to bottom). */
  png(name, width, height, rgb) {
    return artifact(name, "image/png", encodePng(width, height, rgb));
  }
}

/** An artifact: `data` is a `Uint8Array` or text (UTF-8). */
export function artifact(name, mediaType, data) {
  let bytes = data;
  if (typeof data === "string") bytes = encoder.encode(data);
  else if (ArrayBuffer.isView(data)) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
  else throw new TypeError(`artifact ${name}: data must be a string, a typed array or an ArrayBuffer`);
  return { name: String(name), mediaType: String(mediaType), data: bytes };
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes, crc = 0xffffffff) {
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return crc;
}

/**
 * Encodes 8-bit RGB pixels (`width * height * 3` bytes, rows top to bottom) as a PNG.
 * The image data is stored, not compressed: JavaScript in a component has no zlib.
 */
export function encodePng(width, height, rgb) {
  if (rgb.length !== width * height * 3) throw new RangeError(`expected ${width * height * 3} bytes of RGB, got ${rgb.length}`);
  const row = width * 3 + 1;
  const raw = new Uint8Array(row * height);
  for (let y = 0; y < height; y++) raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * row + 1);
  // zlib stream of stored deflate blocks (at most 65535 bytes each) and an Adler-32.
  const blocks = Math.max(1, Math.ceil(raw.length / 65535));
  const zlib = new Uint8Array(2 + raw.length + blocks * 5 + 4);
  zlib.set([0x78, 0x01]);
  let at = 2;
  for (let b = 0; b < blocks; b++) {
    const part = raw.subarray(b * 65535, Math.min(raw.length, (b + 1) * 65535));
    zlib.set([b === blocks - 1 ? 1 : 0, part.length & 0xff, part.length >>> 8, ~part.length & 0xff, (~part.length >>> 8) & 0xff], at);
    zlib.set(part, at + 5);
    at += 5 + part.length;
  }
  let a = 1;
  let s = 0;
  for (let i = 0; i < raw.length; i++) {
    a = (a + raw[i]) % 65521;
    s = (s + a) % 65521;
  }
  be32(zlib, at, ((s << 16) | a) >>> 0);
  const header = new Uint8Array(13);
  be32(header, 0, width);
  be32(header, 4, height);
  header.set([8, 2, 0, 0, 0], 8);
  return concat([
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", zlib),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  be32(out, 0, data.length);
  out.set(encoder.encode(type), 4);
  out.set(data, 8);
  be32(out, 8 + data.length, (crc32(out.subarray(4, 8 + data.length)) ^ 0xffffffff) >>> 0);
  return out;
}

function be32(bytes, at, value) {
  bytes[at] = value >>> 24;
  bytes[at + 1] = (value >>> 16) & 0xff;
  bytes[at + 2] = (value >>> 8) & 0xff;
  bytes[at + 3] = value & 0xff;
}

function concat(parts) {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  return all;
}

/** Runs `main(frame)` as the component's `render`: a thrown error fails this attempt. */
export async function runRender(main, request) {
  try {
    const artifacts = await main(new Frame(request));
    if (!Array.isArray(artifacts)) throw new TypeError("a render function returns an array of artifacts");
    return artifacts.map((a) => artifact(a.name, a.mediaType, a.data));
  } catch (e) {
    throw errorMessage(e);
  }
}
