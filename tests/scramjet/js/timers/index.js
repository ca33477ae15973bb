// A setInterval writes "tick 1\n" … "tick 3\n" 20 ms apart, then the sequence ends itself
// with this.end() (exit 0) without reading its input.
const { PassThrough } = require("stream");

module.exports = function () {
    const out = new PassThrough();
    let n = 0;
    const timer = setInterval(() => {
        n += 1;
        out.write(`tick ${n}\n`);
        if (n === 3) {
            clearInterval(timer);
            out.end();
            this.end();
        }
    }, 20);
    return out;
};
