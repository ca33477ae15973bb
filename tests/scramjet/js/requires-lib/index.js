// Requires its own lib/shout.js and the bundled node_modules/dep: for input "hi" the output
// is "HI! (dep 1.2.3)\n".
const { Transform } = require("node:stream");
const shout = require("./lib/shout");
const dep = require("dep");

module.exports = function (input) {
    return input.pipe(new Transform({
        transform(chunk, _encoding, callback) {
            callback(null, `${shout(String(chunk).trim())} (dep ${dep.version})\n`);
        },
    }));
};
