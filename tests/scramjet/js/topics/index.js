// Reads the topic "names" (NDJSON, declared first in the array) and publishes
// {"hello":<name>} per record to the topic "greetings"; nothing goes to /output.
const { PassThrough } = require("stream");

module.exports = [
    { requires: "names", contentType: "application/x-ndjson" },
    function (input) {
        const out = new PassThrough({ objectMode: true });
        input.on("data", (record) => out.write({ hello: record.name }));
        input.on("end", () => out.end());
        out.topic = "greetings";
        out.contentType = "application/x-ndjson";
        return out;
    },
];
