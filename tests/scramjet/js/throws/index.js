// Writes "before\n", then throws on the first input chunk: exit 23, the log names "bad input".
module.exports = async function* (input) {
    yield "before\n";
    for await (const chunk of input) {
        throw new Error(`bad input: ${String(chunk).trim()}`);
    }
};
