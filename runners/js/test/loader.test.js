// CommonJS resolution and loading as Node does it: relative paths, extensions, directories,
// node_modules walking up, `exports`, the module cache and cycles.
import { test } from "node:test";
import assert from "node:assert/strict";

import { Loader, ROOT } from "../loader.js";

const encoder = new TextEncoder();

function loader(files, builtins = { events: () => "EVENTS" }) {
  const read = (path) => (files[path] === undefined ? undefined : encoder.encode(files[path]));
  return new Loader({ read, builtins });
}

const run = (files, main = "index.js") => {
  const l = loader(files);
  return l.load(`${ROOT}/${main}`, null).exports;
};

test("relative requires with and without extensions, JSON, index.js and a directory's main", () => {
  const exports = run({
    "index.js": `module.exports = [require("./a"), require("./b.js"), require("./data.json").n, require("./dir"), require("./pkg"), require("./lib/")];`,
    "a.js": "module.exports = 'a';",
    "b.js": "module.exports = 'b';",
    "data.json": '{"n": 7}',
    "dir/index.js": "module.exports = 'dir';",
    "pkg/package.json": '{"main": "./src/entry"}',
    "pkg/src/entry.js": "module.exports = 'pkg';",
    "lib/index.js": "module.exports = __filename + ' ' + __dirname;",
  });
  assert.deepEqual(exports, ["a", "b", 7, "dir", "pkg", "/package/lib/index.js /package/lib"]);
});

test("node_modules are found walking up, scoped packages and `exports` with require conditions", () => {
  const exports = run({
    "index.js": `module.exports = require("./lib/deep/x");`,
    "lib/deep/x.js": `module.exports = [require("top"), require("@scope/pkg"), require("cond"), require("cond/feature"), require("top/extra")];`,
    "node_modules/top/index.js": "module.exports = 'top:' + require('inner');",
    "node_modules/top/extra.js": "module.exports = 'extra';",
    "node_modules/top/node_modules/inner/index.js": "module.exports = 'inner';",
    "node_modules/@scope/pkg/package.json": '{"main": "main.js"}',
    "node_modules/@scope/pkg/main.js": "module.exports = 'scoped';",
    "node_modules/cond/package.json": JSON.stringify({
      exports: { ".": { import: "./esm.mjs", require: "./cjs.js" }, "./feature": { default: "./feature.js" } },
    }),
    "node_modules/cond/cjs.js": "module.exports = 'cjs';",
    "node_modules/cond/feature.js": "module.exports = 'feature';",
  });
  assert.deepEqual(exports, ["top:inner", "scoped", "cjs", "feature", "extra"]);
});

test("each module runs once; a cycle sees the partial exports, as in Node", () => {
  const exports = run({
    "index.js": `const a = require("./a"); const again = require("./a"); module.exports = [a.done, a.sawB, a === again];`,
    "a.js": `exports.done = false; const b = require("./b"); exports.sawB = b.sawA; exports.done = true;`,
    "b.js": `const a = require("./a"); exports.sawA = a.done;`,
  });
  assert.deepEqual(exports, [true, false, true]);
});

test("built-ins, with or without node:, before node_modules; a missing module names itself", () => {
  const l = loader({
    "index.js": `module.exports = [require("events"), require("node:events")];`,
    "bad.js": `require("./nope");`,
    "bad2.js": `require("node:nope");`,
  });
  assert.deepEqual(l.load(`${ROOT}/index.js`, null).exports, ["EVENTS", "EVENTS"]);
  assert.throws(() => l.load(`${ROOT}/bad.js`, null), (e) => e.code === "MODULE_NOT_FOUND" && /Cannot find module '\.\/nope'/.test(e.message));
  assert.throws(() => l.load(`${ROOT}/bad2.js`, null), /Cannot find module 'node:nope'/);
});

test("a module that throws is not cached; a syntax error names the file; require.resolve and module fields", () => {
  const l = loader({
    "index.js": `module.exports = { id: module.id, resolved: require.resolve("./x"), main: require.main === module };`,
    "x.js": "",
    "throws.js": "throw new Error('boom');",
    "broken.js": "export default 1;",
  });
  assert.deepEqual(l.load(`${ROOT}/index.js`, null).exports, { id: "/package/index.js", resolved: "/package/x.js", main: true });
  assert.throws(() => l.load(`${ROOT}/throws.js`, null), /boom/);
  assert.equal(l.cache[`${ROOT}/throws.js`], undefined);
  assert.throws(() => l.load(`${ROOT}/broken.js`, null), (e) => e instanceof SyntaxError && /\/package\/broken\.js.*CommonJS/.test(e.message));
});
