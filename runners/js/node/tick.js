// Node's `process.nextTick`, on the engine's microtask queue: the runner drains that queue
// completely before it runs a timer or waits on the host, so a tick runs before either, as
// in Node (only its order among promise callbacks differs). An exception a tick throws goes
// to the runner's handler, as an uncaught exception ends a Node process.

let uncaught = (error) => {
  throw error;
};

/** Sets where an exception thrown by a tick, timer or event handler goes. */
export function onUncaught(handler) {
  uncaught = handler;
}

export function reportUncaught(error) {
  uncaught(error);
}

export function nextTick(fn, ...args) {
  if (typeof fn !== "function") throw new TypeError('The "callback" argument must be of type function');
  queueMicrotask(() => {
    try {
      fn(...args);
    } catch (error) {
      uncaught(error);
    }
  });
}
