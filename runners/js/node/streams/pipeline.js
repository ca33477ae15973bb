// `finished` and `pipeline`, and their promise forms (`stream/promises`).
import { nextTick } from "../tick.js";
import { codeError } from "./shared.js";
import { Readable } from "./readable.js";

function isStream(value) {
  return !!value && typeof value.on === "function" && (typeof value.pipe === "function" || typeof value.write === "function");
}

/** Calls `callback(error)` once `stream` has ended, finished, errored or closed early. */
export function finished(stream, options, callback) {
  if (typeof options === "function") {
    callback = options;
    options = {};
  }
  options = options ?? {};
  const r = stream._readableState;
  const w = stream._writableState;
  const wantRead = options.readable !== false && (r ? r.readable !== false : typeof stream.pipe === "function" && !w);
  const wantWrite = options.writable !== false && (w ? w.writable !== false || w.finished : false);
  let readDone = !wantRead || (r ? r.endEmitted : false);
  let writeDone = !wantWrite || (w ? w.finished : false);
  let called = false;
  const call = (error) => {
    if (called) return;
    called = true;
    cleanup();
    callback.call(stream, error);
  };
  const onend = () => {
    readDone = true;
    if (writeDone) call();
  };
  const onfinish = () => {
    writeDone = true;
    if (readDone) call();
  };
  const onerror = (error) => call(error);
  const onclose = () => {
    const errored = (r ?? w)?.errored;
    if (errored) call(errored);
    else if (!readDone || !writeDone) call(codeError("ERR_STREAM_PREMATURE_CLOSE", "Premature close"));
    else call();
  };
  function cleanup() {
    stream.removeListener("end", onend);
    stream.removeListener("finish", onfinish);
    stream.removeListener("error", onerror);
    stream.removeListener("close", onclose);
  }
  stream.on("end", onend);
  stream.on("finish", onfinish);
  stream.on("error", onerror);
  stream.on("close", onclose);
  const errored = (r ?? w)?.errored;
  if (errored && ((r ?? w).errorEmitted || (r ?? w).closed)) nextTick(call, errored);
  else if (readDone && writeDone) nextTick(call);
  else if ((r ?? w)?.closeEmitted) nextTick(onclose);
  return cleanup;
}

/**
 * Pipes `source` through the stages into the last one, destroying them all on the first
 * error; `callback(error)` when the last has finished. A stage may be a stream, an
 * iterable (the source) or a function of the previous stage returning an async iterable.
 */
export function pipeline(...stages) {
  const callback = typeof stages[stages.length - 1] === "function" ? stages.pop() : () => {};
  if (stages.length === 1 && Array.isArray(stages[0])) stages = stages[0];
  if (stages.length < 2) throw codeError("ERR_MISSING_ARGS", 'The "streams" argument must be specified', TypeError);
  const streams = [];
  let called = false;
  const done = (error) => {
    if (called) return;
    called = true;
    if (error) for (const stream of streams) if (!stream.destroyed) stream.destroy(error);
    callback(error);
  };
  let previous;
  for (let i = 0; i < stages.length; i++) {
    let stage = stages[i];
    const last = i === stages.length - 1;
    let consumed = false;
    if (typeof stage === "function") {
      stage = stage(previous);
      consumed = true;
    }
    if (stage && typeof stage.then === "function" && !isStream(stage)) {
      if (!last) throw codeError("ERR_INVALID_RETURN_VALUE", "a pipeline stage returned a promise before the last", TypeError);
      stage.then(() => done(), done);
      break;
    }
    if (!isStream(stage)) stage = Readable.from(stage);
    else if (previous && !consumed) previous.pipe(stage);
    streams.push(stage);
    const stream = stage;
    finished(stream, { readable: !last || !stream._writableState, writable: true }, (error) => {
      if (error) done(error);
      else if (stream === streams[stages.length - 1]) done();
    });
    previous = stage;
  }
  return previous;
}

export const promises = {
  pipeline: (...stages) => new Promise((resolve, reject) => pipeline(...stages, (error) => (error ? reject(error) : resolve()))),
  finished: (stream, options) => new Promise((resolve, reject) => finished(stream, options, (error) => (error ? reject(error) : resolve()))),
};

export function isReadable(stream) {
  return !!stream && stream.readable === true;
}

export function isErrored(stream) {
  return !!(stream?._readableState?.errored || stream?._writableState?.errored);
}

