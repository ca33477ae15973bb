// Writes LINES lines (the instance's config `lines`, default 200,000) to its stdout, one
// `process.stdout.write` each, then "done" to its output: tests/bench/stdout-lines.sh times
// how fast `GET /instance/:id/stdout` carries them.
module.exports = async function () {
  const lines = Number(this.config.lines ?? 200000);
  for (let i = 0; i < lines; i++) process.stdout.write(`line ${i} of the sequence's stdout\n`);
  return "done\n";
};
