// The package's own module: upper-cases and adds the mark from ../config.json.
const { mark } = require("../config.json");

module.exports = (text) => text.toUpperCase() + mark;
