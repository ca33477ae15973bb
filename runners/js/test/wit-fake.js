// The generated bindings' shapes, played by a test: results throw `{ payload }` as the
// componentize-js bindings do, u64 is a BigInt.
export const calls = [];
export const state = { files: { "package.json": new Uint8Array([123, 125]) }, closed: false };

export const next = (read, maxLen, timeoutMs) => {
  calls.push(["next", read, maxLen, timeoutMs]);
  return { tag: "timeout" };
};
export const emit = (name, message) => calls.push(["emit", name, message]);
export const keepAlive = (ms) => calls.push(["keepAlive", ms]);
export const wait = () => undefined;
export const writeOutput = (data) => {
  if (state.closed) throw { payload: "closed" };
  calls.push(["writeOutput", data.length]);
};
export const readInput = () => undefined;
export const instanceId = () => "id";
export const config = () => "{}";
export const args = () => "[]";
export const inputContentType = () => "text/plain";
export const publish = (topic) => {
  throw { payload: `no topic ${topic}` };
};
export const subscribe = () => {};
export const read = () => undefined;
export const log = (level, message) => calls.push(["log", level, message]);
export const readFile = (path) => {
  if (path === "big.bin") throw { payload: "too-large" };
  if (path === "dir") throw { payload: "is-directory" };
  const file = state.files[path];
  if (file === undefined) throw { payload: "not-found" };
  return file;
};
export const isDirectory = (path) => path === "dir";
export const setExitCode = (code) => calls.push(["setExitCode", code]);
