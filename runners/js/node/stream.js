// Node's `stream`: Readable, Writable, Duplex, Transform, PassThrough, pipeline, finished.
//
// The state machines follow Node's own (lib/internal/streams): the same flowing and paused
// modes, high-water marks, 'data'/'readable'/'end'/'finish'/'close' order and autoDestroy,
// so code written against Node's streams sees the same events. Constructors are functions,
// as in Node, so `Readable.call(this, options)` in code written for old Node works too.
import { Stream } from "./streams/shared.js";
import { Readable } from "./streams/readable.js";
import { Writable } from "./streams/writable.js";
import { Duplex, Transform, PassThrough } from "./streams/duplex.js";
import { finished, pipeline, promises, isReadable, isErrored } from "./streams/pipeline.js";

export { Stream, Readable, Writable, Duplex, Transform, PassThrough, finished, pipeline, promises, isReadable, isErrored };

Stream.Stream = Stream;
Stream.Readable = Readable;
Stream.Writable = Writable;
Stream.Duplex = Duplex;
Stream.Transform = Transform;
Stream.PassThrough = PassThrough;
Stream.pipeline = pipeline;
Stream.finished = finished;
Stream.promises = promises;
Stream.isReadable = isReadable;
Stream.isErrored = isErrored;
