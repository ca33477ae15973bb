// weir's JavaScript runner: runs an unchanged Scramjet JavaScript sequence (its
// package.json, main module and bundled node_modules, read through `runner.read-file`)
// as the `run` export of the runner world. See docs/scramjet-sequences.md.
import { host } from "./host.js";
import { Runtime } from "./sequence.js";

/** Runs the package's sequence; a rejection (the error text) fails the instance. */
export async function run() {
  await new Runtime(host).run();
}
