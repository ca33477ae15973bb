// Node's `string_decoder`: text from byte chunks whose edges may split a character.
import { Buffer, normalizeEncoding } from "./buffer.js";

/** How many bytes of a trailing partial unit each encoding keeps for the next chunk. */
const UNIT = { base64: 3, base64url: 3, utf16le: 2 };

export class StringDecoder {
  constructor(encoding) {
    this.encoding = normalizeEncoding(encoding);
    this.utf8 = this.encoding === "utf8" ? new TextDecoder("utf-8") : null;
    this.rest = null;
  }

  write(chunk) {
    if (typeof chunk === "string") return chunk;
    if (this.utf8) return this.utf8.decode(chunk, { stream: true });
    let bytes = Buffer.view(chunk);
    if (this.rest) {
      bytes = Buffer.concat([this.rest, bytes]);
      this.rest = null;
    }
    const unit = UNIT[this.encoding];
    if (unit) {
      const whole = bytes.length - (bytes.length % unit);
      if (whole < bytes.length) this.rest = Buffer.from(bytes.subarray(whole));
      bytes = bytes.subarray(0, whole);
    }
    return bytes.toString(this.encoding);
  }

  end(chunk) {
    let text = chunk === undefined ? "" : this.write(chunk);
    if (this.utf8) return text + this.utf8.decode();
    if (this.rest) {
      text += this.rest.toString(this.encoding);
      this.rest = null;
    }
    return text;
  }
}

export default { StringDecoder };
