// Node's `util`: format, a basic inspect, promisify, inherits and the text codecs.

const kCustomPromisify = Symbol.for("nodejs.util.promisify.custom");
const kCustomInspect = Symbol.for("nodejs.util.inspect.custom");

/** Like Node's `util.format`: `%s %d %i %f %j %o %O %c %%`, then the rest joined by spaces. */
export function format(first, ...args) {
  if (typeof first !== "string") return [first, ...args].map((a) => (typeof a === "string" ? a : inspect(a))).join(" ");
  let i = 0;
  let out = "";
  let last = 0;
  for (let at = first.indexOf("%"); at !== -1 && at + 1 < first.length; at = first.indexOf("%", at)) {
    const code = first[at + 1];
    let piece;
    if (code === "%") piece = "%";
    else if (i >= args.length || !"sdifjoOc".includes(code)) {
      at += 2;
      continue;
    } else {
      const arg = args[i++];
      switch (code) {
        case "s":
          piece = typeof arg === "string" ? arg : typeof arg === "bigint" ? `${arg}n` : typeof arg === "object" && arg !== null ? inspect(arg, { depth: 1 }) : String(arg);
          break;
        case "d":
        case "i": {
          const n = typeof arg === "bigint" ? arg : Number(arg);
          piece = typeof n === "bigint" ? `${n}n` : String(code === "i" ? Math.trunc(n) : n);
          break;
        }
        case "f":
          piece = String(parseFloat(arg));
          break;
        case "j":
          try {
            piece = JSON.stringify(arg);
          } catch {
            piece = "[Circular]";
          }
          break;
        case "c":
          piece = "";
          break;
        default:
          piece = inspect(arg, { depth: code === "o" ? 4 : 2 });
      }
    }
    out += first.slice(last, at) + piece;
    at += 2;
    last = at;
  }
  out += first.slice(last);
  for (; i < args.length; i++) out += " " + (typeof args[i] === "string" ? args[i] : inspect(args[i]));
  return out;
}

export function formatWithOptions(_options, ...args) {
  return format(...args);
}

/** A readable rendering of `value`, close to Node's for plain data. */
export function inspect(value, options = {}) {
  const depth = typeof options === "object" && options !== null && options.depth !== undefined ? options.depth : 2;
  return render(value, depth === null ? Infinity : depth, new Set(), true);
}
inspect.custom = kCustomInspect;
inspect.defaultOptions = { depth: 2 };

function render(value, depth, seen, top) {
  switch (typeof value) {
    case "string":
      return top ? `'${value}'` : `'${value.replace(/'/g, "\\'")}'`;
    case "bigint":
      return `${value}n`;
    case "symbol":
      return value.toString();
    case "function":
      return value.name ? `[Function: ${value.name}]` : "[Function (anonymous)]";
    case "undefined":
      return "undefined";
    case "object":
      break;
    default:
      return Object.is(value, -0) ? "-0" : String(value);
  }
  if (value === null) return "null";
  if (typeof value[kCustomInspect] === "function") return String(value[kCustomInspect](depth, {}, inspect));
  if (seen.has(value)) return "[Circular *1]";
  if (value instanceof Error) return value.stack || `${value.name}: ${value.message}`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  if (value instanceof RegExp) return String(value);
  if (value instanceof Promise) return "Promise { <pending> }";
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const name = value.constructor?.name ?? "Uint8Array";
    if (name === "Buffer") {
      const hex = Array.from(value.subarray(0, 50), (b) => b.toString(16).padStart(2, "0"));
      return `<Buffer${hex.length ? " " + hex.join(" ") : ""}${value.length > 50 ? ` ... ${value.length - 50} more bytes` : ""}>`;
    }
    return `${name}(${value.length}) [ ${Array.from(value.subarray(0, 100)).join(", ")} ]`;
  }
  if (depth < 0) return Array.isArray(value) ? "[Array]" : "[Object]";
  seen.add(value);
  let out;
  if (Array.isArray(value)) {
    const items = value.slice(0, 100).map((v) => render(v, depth - 1, seen, false));
    if (value.length > 100) items.push(`... ${value.length - 100} more items`);
    out = items.length ? `[ ${items.join(", ")} ]` : "[]";
  } else if (value instanceof Map) {
    const items = [...value].map(([k, v]) => `${render(k, depth - 1, seen, false)} => ${render(v, depth - 1, seen, false)}`);
    out = `Map(${value.size}) {${items.length ? ` ${items.join(", ")} ` : ""}}`;
  } else if (value instanceof Set) {
    const items = [...value].map((v) => render(v, depth - 1, seen, false));
    out = `Set(${value.size}) {${items.length ? ` ${items.join(", ")} ` : ""}}`;
  } else {
    const keys = Object.keys(value);
    const items = keys.map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : `'${k}'`}: ${render(value[k], depth - 1, seen, false)}`);
    const proto = Object.getPrototypeOf(value);
    const name = proto === null ? "[Object: null prototype] " : proto !== Object.prototype && proto.constructor?.name ? `${proto.constructor.name} ` : "";
    out = items.length ? `${name}{ ${items.join(", ")} }` : `${name}{}`;
  }
  seen.delete(value);
  return out;
}

/** `fn(...args, callback)` as a function returning a promise. */
export function promisify(fn) {
  if (typeof fn !== "function") throw new TypeError('The "original" argument must be of type function');
  if (typeof fn[kCustomPromisify] === "function") return fn[kCustomPromisify];
  function promisified(...args) {
    return new Promise((resolve, reject) => {
      fn.call(this, ...args, (error, ...values) => {
        if (error) reject(error);
        else resolve(values.length > 1 ? values : values[0]);
      });
    });
  }
  Object.setPrototypeOf(promisified, Object.getPrototypeOf(fn));
  return Object.defineProperties(promisified, Object.getOwnPropertyDescriptors(fn));
}
promisify.custom = kCustomPromisify;

/** An async function as one taking a Node-style callback. */
export function callbackify(fn) {
  return function callbackified(...args) {
    const callback = args.pop();
    fn.apply(this, args).then(
      (value) => queueMicrotask(() => callback(null, value)),
      (error) => queueMicrotask(() => callback(error || new Error(String(error)))),
    );
  };
}

export function inherits(ctor, superCtor) {
  Object.defineProperty(ctor, "super_", { value: superCtor, writable: true, configurable: true });
  Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
}

export function deprecate(fn) {
  return fn;
}

export function debuglog() {
  const log = () => {};
  log.enabled = false;
  return log;
}

export function isDeepStrictEqual(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

export const types = {
  isPromise: (v) => v instanceof Promise,
  isDate: (v) => v instanceof Date,
  isRegExp: (v) => v instanceof RegExp,
  isUint8Array: (v) => v instanceof Uint8Array,
  isTypedArray: (v) => ArrayBuffer.isView(v) && !(v instanceof DataView),
  isArrayBuffer: (v) => v instanceof ArrayBuffer,
  isAsyncFunction: (v) => typeof v === "function" && v.constructor?.name === "AsyncFunction",
  isGeneratorFunction: (v) => typeof v === "function" && /GeneratorFunction$/.test(v.constructor?.name ?? ""),
  isNativeError: (v) => v instanceof Error,
};

export default {
  format, formatWithOptions, inspect, promisify, callbackify, inherits, deprecate, debuglog, isDeepStrictEqual, types,
  isArray: Array.isArray,
  isBuffer: (v) => v?.constructor?.name === "Buffer",
  isFunction: (v) => typeof v === "function",
  isString: (v) => typeof v === "string",
  isNumber: (v) => typeof v === "number",
  isObject: (v) => v !== null && typeof v === "object",
  isUndefined: (v) => v === undefined,
  isNullOrUndefined: (v) => v === null || v === undefined,
  isError: (v) => v instanceof Error,
  TextEncoder: globalThis.TextEncoder,
  TextDecoder: globalThis.TextDecoder,
};
