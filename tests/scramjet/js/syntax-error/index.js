// Does not parse: the instance ends with exit 22 ("Sequence failed on start") and no output.
module.exports = function (input) {
    return input.pipe(;
};
