// Runs the SDK under Node with a fake host: `node --import ./test/register.mjs --test test/`.
import { register } from "node:module";

register("./hooks.mjs", import.meta.url);
