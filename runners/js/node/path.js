// Node's `path` (POSIX): package paths are `/`-separated.

function normalizeParts(path, absolute) {
  const out = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
    } else out.push(part);
  }
  return out;
}

export function normalize(path) {
  if (path === "") return ".";
  const absolute = path.startsWith("/");
  const joined = normalizeParts(path, absolute).join("/");
  const trailing = path.endsWith("/") && joined !== "" ? "/" : "";
  return (absolute ? "/" : "") + (joined || (absolute ? "" : ".")) + trailing;
}

export function join(...parts) {
  const path = parts.filter((p) => p !== "").join("/");
  return path === "" ? "." : normalize(path);
}

export function resolve(...parts) {
  let path = "";
  for (let i = parts.length - 1; i >= 0 && !path.startsWith("/"); i--) {
    if (parts[i]) path = path ? `${parts[i]}/${path}` : parts[i];
  }
  if (!path.startsWith("/")) path = `/${path}`;
  return "/" + normalizeParts(path, true).join("/");
}

export function isAbsolute(path) {
  return path.startsWith("/");
}

export function dirname(path) {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const i = trimmed.lastIndexOf("/");
  if (i === -1) return ".";
  if (i === 0) return "/";
  return trimmed.slice(0, i);
}

export function basename(path, ext) {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  let base = trimmed.slice(trimmed.lastIndexOf("/") + 1);
  if (ext && base.endsWith(ext) && base !== ext) base = base.slice(0, -ext.length);
  return base;
}

export function extname(path) {
  const base = basename(path);
  const i = base.lastIndexOf(".");
  return i <= 0 ? "" : base.slice(i);
}

export function relative(from, to) {
  const a = resolve(from).split("/").filter(Boolean);
  const b = resolve(to).split("/").filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => ".."), ...b.slice(i)].join("/");
}

export function parse(path) {
  const base = basename(path);
  const ext = extname(path);
  return { root: path.startsWith("/") ? "/" : "", dir: dirname(path), base, ext, name: ext ? base.slice(0, -ext.length) : base };
}

export function format({ dir, root, base, name, ext }) {
  const file = base ?? `${name ?? ""}${ext ?? ""}`;
  return dir ? `${dir}/${file}` : `${root ?? ""}${file}`;
}

const path = { normalize, join, resolve, isAbsolute, dirname, basename, extname, relative, parse, format, sep: "/", delimiter: ":" };
path.posix = path;
export default path;
