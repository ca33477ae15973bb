// The host's side, the only module that imports `weir:plugin/*`: plain functions for the
// rest of the runner (tests give it a fake with the same shape, `test/fake-host.js`).
import { next, emit, keepAlive } from "weir:plugin/events@0.1.0";
import { writeOutput } from "weir:plugin/io@0.1.0";
import { instanceId, config, args, inputContentType } from "weir:plugin/context@0.1.0";
import { publish, subscribe } from "weir:plugin/topics@0.1.0";
import { log } from "weir:plugin/log@0.1.0";
import { readFile, setExitCode } from "weir:plugin/source-package@0.1.0";

// Taken before the runner installs its own: the engine's timer is how the runner lets every
// pending microtask run (its callback runs only once the microtask queue is empty).
const engineSetTimeout = globalThis.setTimeout;
const engineLog = console.log.bind(console);
const engineError = console.error.bind(console);

/** Why `read-file` found nothing to read: these mean "no such module file". */
const ABSENT = new Set(["not-found", "is-directory", "invalid-path"]);

export const host = {
  /** Waits for input (`read`), a signal, or `timeoutMs` (undefined: no timeout). */
  next: (read, maxLen, timeoutMs) => next(read, maxLen, timeoutMs === undefined ? undefined : BigInt(Math.ceil(timeoutMs))),
  /** Resolves once every pending microtask has run. */
  drain: () => new Promise((resolve) => engineSetTimeout(resolve, 0)),
  now: () => Date.now(),
  writeOutput(bytes) {
    try {
      writeOutput(bytes);
    } catch {
      throw new Error("the output is closed");
    }
  },
  publish(topic, bytes) {
    try {
      publish(topic, bytes);
    } catch (e) {
      throw new Error(`cannot publish to topic ${topic}: ${e?.payload ?? e}`);
    }
  },
  subscribe(topic) {
    try {
      subscribe(topic);
    } catch (e) {
      throw new Error(`cannot subscribe to topic ${topic}: ${e?.payload ?? e}`);
    }
  },
  /** A package file's bytes, or undefined when there is none at `path`. */
  readFile(path) {
    try {
      return readFile(path);
    } catch (e) {
      if (ABSENT.has(e?.payload)) return undefined;
      throw new Error(`cannot read ${path}: ${e?.payload ?? e}`);
    }
  },
  emit: (name, message) => emit(name, message),
  keepAlive: (ms) => keepAlive(BigInt(ms)),
  log: (level, message) => log(level, message),
  instanceId: () => instanceId(),
  config: () => config(),
  args: () => args(),
  inputContentType: () => inputContentType(),
  setExitCode: (code) => setExitCode(code),
  /** A line to the instance's stdout / stderr (the engine's console writes there). */
  stdout: (line) => engineLog(line),
  stderr: (line) => engineError(line),
};
