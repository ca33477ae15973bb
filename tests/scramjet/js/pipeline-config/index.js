// Two functions as a pipeline, both reading this.config: with appConfig {"prefix":"> ","repeat":2}
// and NDJSON input {"name":"a"}, {"name":"b"}, the output is "> a\n> a\n> b\n> b\n".
const { Readable } = require("stream");

module.exports = [
    async function* names(input) {
        for await (const record of input) {
            for (let i = 0; i < (this.config.repeat || 1); i++) yield record.name;
        }
    },
    function lines(names) {
        const prefix = this.config.prefix || "";
        return Readable.from((async function* () {
            for await (const name of names) yield `${prefix}${name}\n`;
        })(), { objectMode: false });
    },
];
