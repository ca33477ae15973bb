// CommonJS modules from the package's files, resolved as Node resolves them: relative
// paths, `.js`/`.json`/`.cjs`, a directory's `package.json` `main` (or `exports`) and
// `index.js`, `node_modules` walking up. Each module is compiled once, in Node's wrapper
// function with its header on the source's first line (so stacks and syntax errors give the
// file's own line numbers), and cached before it runs, so a cycle sees the partial
// `exports`, as in Node.
import path from "./node/path.js";

/** Where the package's files appear to the code (`__dirname` of a root-level main). */
export const ROOT = "/package";

const EXTENSIONS = [".js", ".json", ".cjs"];
const WRAPPER_HEAD = "(function (exports, require, module, __filename, __dirname) { ";
const WRAPPER_TAIL = "})";
// Indirect eval: compiled in the global scope, like `new Function`, but the source keeps its lines.
const compileWrapper = (text) => (0, eval)(text);
const decoder = new TextDecoder();

/** An error `require` throws; `code` is Node's (`MODULE_NOT_FOUND`, …). */
function notFound(request, parent) {
  const error = new Error(`Cannot find module '${request}'${parent ? `\nRequire stack:\n- ${parent}` : ""}`);
  error.code = "MODULE_NOT_FOUND";
  return error;
}

export class Module {
  constructor(id, parent) {
    this.id = id;
    this.filename = id;
    this.path = path.dirname(id);
    this.exports = {};
    this.parent = parent;
    this.loaded = false;
    this.children = [];
    this.paths = nodeModulePaths(this.path);
  }
}

function nodeModulePaths(dir) {
  const paths = [];
  for (let d = dir; ; d = path.dirname(d)) {
    if (!d.endsWith("/node_modules")) paths.push(`${d === "/" ? "" : d}/node_modules`);
    if (d === "/" || d === ROOT || d === ".") break;
  }
  return paths;
}

/**
 * Loads modules through `files`: `read(path)` gives a package file's bytes (`path` relative
 * to the package root) or `undefined` when there is no such file; `builtins` maps a
 * built-in module's name to a function returning its exports.
 */
export class Loader {
  constructor({ read, builtins }) {
    this.read = read;
    this.builtins = builtins;
    this.cache = Object.create(null);
    this.sources = new Map();
    this.main = undefined;
  }

  /** The text of the package file at absolute `file`, or undefined. */
  source(file) {
    if (this.sources.has(file)) return this.sources.get(file);
    const relative = file.startsWith(`${ROOT}/`) ? file.slice(ROOT.length + 1) : undefined;
    const bytes = relative === undefined ? undefined : this.read(relative);
    const text = bytes === undefined ? undefined : decoder.decode(bytes);
    this.sources.set(file, text);
    return text;
  }

  isFile(file) {
    return this.source(file) !== undefined;
  }

  /** The absolute file `request` names from a module in `dir`, or a thrown MODULE_NOT_FOUND. */
  resolve(request, dir, parent) {
    if (request.startsWith("./") || request.startsWith("../") || request === "." || request === ".." || request.startsWith("/")) {
      const base = request.startsWith("/") ? path.resolve(ROOT, `.${request}`) : path.resolve(dir, request);
      const found = this.asFile(base) ?? this.asDirectory(base);
      if (found === undefined) throw notFound(request, parent);
      return found;
    }
    const [name, subpath] = splitPackage(request);
    for (const modules of nodeModulePaths(dir)) {
      const packageDir = `${modules}/${name}`;
      const exported = this.viaExports(packageDir, subpath);
      if (exported !== undefined) return exported;
      const base = `${modules}/${request}`;
      const found = this.asFile(base) ?? this.asDirectory(base);
      if (found !== undefined) return found;
    }
    throw notFound(request, parent);
  }

  asFile(base) {
    if (this.isFile(base)) return base;
    for (const extension of EXTENSIONS) if (this.isFile(base + extension)) return base + extension;
    return undefined;
  }

  asDirectory(dir) {
    const manifest = this.packageJson(dir);
    if (manifest && typeof manifest.main === "string" && manifest.main !== "") {
      const main = path.resolve(dir, manifest.main);
      const found = this.asFile(main) ?? this.asIndex(main);
      if (found !== undefined) return found;
    }
    return this.asIndex(dir);
  }

  asIndex(dir) {
    for (const extension of EXTENSIONS) if (this.isFile(`${dir}/index${extension}`)) return `${dir}/index${extension}`;
    return undefined;
  }

  packageJson(dir) {
    const text = this.source(`${dir}/package.json`);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new Error(`Invalid package.json at ${dir}/package.json: ${error.message}`);
    }
  }

  /** A package's `exports` entry for `subpath` (`.` or `./x`), under require conditions. */
  viaExports(packageDir, subpath) {
    const manifest = this.packageJson(packageDir);
    if (!manifest || manifest.exports === undefined || manifest.exports === null) return undefined;
    let exports = manifest.exports;
    if (typeof exports === "string" || Array.isArray(exports) || !Object.keys(exports).some((k) => k.startsWith("."))) {
      exports = { ".": exports };
    }
    let target = exports[subpath];
    if (target === undefined) {
      for (const [key, value] of Object.entries(exports)) {
        const star = key.indexOf("*");
        if (star === -1) continue;
        const prefix = key.slice(0, star);
        const suffix = key.slice(star + 1);
        if (subpath.startsWith(prefix) && subpath.endsWith(suffix) && subpath.length >= key.length - 1) {
          const match = subpath.slice(prefix.length, subpath.length - suffix.length);
          target = replaceStar(value, match);
          break;
        }
      }
    }
    const resolved = conditional(target);
    if (typeof resolved !== "string") return undefined;
    const file = path.resolve(packageDir, resolved);
    return this.asFile(file);
  }

  /** Runs (once) and returns the module at absolute `file`. */
  load(file, parent) {
    const cached = this.cache[file];
    if (cached !== undefined) {
      if (parent && !parent.children.includes(cached)) parent.children.push(cached);
      return cached;
    }
    const module = new Module(file, parent);
    if (parent === null) this.main = module;
    module.require = this.requireFor(module);
    this.cache[file] = module;
    let ok = false;
    try {
      const text = this.source(file);
      if (file.endsWith(".json")) {
        module.exports = JSON.parse(text);
      } else {
        this.compile(module, text)();
      }
      ok = true;
    } finally {
      if (!ok) delete this.cache[file];
    }
    module.loaded = true;
    if (parent) parent.children.push(module);
    return module;
  }

  compile(module, text) {
    const source = text.startsWith("#!") ? `//${text}` : text;
    let fn;
    try {
      fn = compileWrapper(`${WRAPPER_HEAD}${source}\n${WRAPPER_TAIL}\n//# sourceURL=${module.filename}`);
    } catch (error) {
      if (error instanceof SyntaxError) {
        const hint = looksLikeEsm(text) ? " (ES module syntax: the runner loads CommonJS modules only)" : "";
        const line = typeof error.lineNumber === "number" ? `:${error.lineNumber}` : "";
        error.message = `${module.filename}${line}: ${error.message}${hint}`;
      }
      throw error;
    }
    return () => fn.call(module.exports, module.exports, module.require, module, module.filename, module.path);
  }

  requireFor(module) {
    const require = (request) => {
      if (typeof request !== "string" || request === "") {
        throw new TypeError(`The "id" argument must be a non-empty string. Received ${String(request)}`);
      }
      const builtin = this.builtin(request);
      if (builtin !== undefined) return builtin;
      return this.load(this.resolve(request, module.path, module.filename), module).exports;
    };
    require.resolve = (request) => (this.isBuiltin(request) ? request : this.resolve(request, module.path, module.filename));
    require.resolve.paths = (request) => (this.isBuiltin(request) ? null : module.paths);
    require.cache = this.cache;
    require.main = this.main;
    require.extensions = Object.create(null);
    return require;
  }

  isBuiltin(request) {
    const name = request.startsWith("node:") ? request.slice(5) : request;
    return Object.hasOwn(this.builtins, name);
  }

  builtin(request) {
    const name = request.startsWith("node:") ? request.slice(5) : request;
    if (!Object.hasOwn(this.builtins, name)) {
      if (request.startsWith("node:")) throw notFound(request);
      return undefined;
    }
    return this.builtins[name]();
  }
}

function splitPackage(request) {
  const parts = request.split("/");
  const count = request.startsWith("@") ? 2 : 1;
  const name = parts.slice(0, count).join("/");
  const rest = parts.slice(count).join("/");
  return [name, rest === "" ? "." : `./${rest}`];
}

function replaceStar(value, match) {
  if (typeof value === "string") return value.replace(/\*/g, match);
  if (Array.isArray(value)) return value.map((v) => replaceStar(v, match));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceStar(v, match)]));
  }
  return value;
}

const CONDITIONS = ["require", "node", "default"];

function conditional(target) {
  if (typeof target === "string" || target === null || target === undefined) return target;
  if (Array.isArray(target)) {
    for (const option of target) {
      const resolved = conditional(option);
      if (typeof resolved === "string") return resolved;
    }
    return undefined;
  }
  for (const [condition, value] of Object.entries(target)) {
    if (CONDITIONS.includes(condition)) {
      const resolved = conditional(value);
      if (resolved !== undefined) return resolved;
    }
  }
  return undefined;
}

/** Whether `text` has a line starting with an `import` or `export` statement. */
function looksLikeEsm(text) {
  return /^\s*(import\s+[\w{*'"]|export\s+(default|const|let|var|function|class|async|\{|\*))/m.test(text);
}
