// Node's timers, kept by the runner: the engine's own timers cannot fire while the runner
// waits in a host call, so the runner's loop runs these itself between waits.
import { reportUncaught } from "./tick.js";

/** A pending `setTimeout`/`setInterval`, with Node's `ref`/`unref`/`refresh`. */
class Timeout {
  constructor(timers, fn, ms, args, repeat) {
    this._timers = timers;
    this._fn = fn;
    this._args = args;
    this._ms = Math.max(1, Number(ms) || 1);
    if (this._ms > 2 ** 31 - 1) this._ms = 1;
    this._repeat = repeat;
    this._ref = true;
    this._id = timers.nextId++;
    this._due = timers.now() + this._ms;
    this._active = true;
  }

  ref() {
    this._ref = true;
    return this;
  }

  unref() {
    this._ref = false;
    return this;
  }

  hasRef() {
    return this._ref;
  }

  refresh() {
    this._due = this._timers.now() + this._ms;
    if (!this._active) {
      this._active = true;
      this._timers.active.set(this._id, this);
    }
    return this;
  }

  close() {
    this._timers.clear(this);
    return this;
  }

  [Symbol.toPrimitive]() {
    return this._id;
  }
}

class Immediate {
  constructor(fn, args) {
    this._fn = fn;
    this._args = args;
    this._ref = true;
    this._cleared = false;
  }

  ref() {
    this._ref = true;
    return this;
  }

  unref() {
    this._ref = false;
    return this;
  }

  hasRef() {
    return this._ref;
  }
}

/** The runner's timers and immediates; `now` is the clock in milliseconds. */
export class Timers {
  constructor(now = () => Date.now()) {
    this.now = now;
    this.nextId = 1;
    this.active = new Map();
    this.immediates = [];
  }

  setTimeout(fn, ms, ...args) {
    return this.add(fn, ms, args, false);
  }

  setInterval(fn, ms, ...args) {
    return this.add(fn, ms, args, true);
  }

  add(fn, ms, args, repeat) {
    if (typeof fn !== "function") throw new TypeError('The "callback" argument must be of type function');
    const timeout = new Timeout(this, fn, ms, args, repeat);
    this.active.set(timeout._id, timeout);
    return timeout;
  }

  clear(timeout) {
    if (timeout === undefined || timeout === null) return;
    const id = typeof timeout === "object" ? timeout._id : Number(timeout);
    const found = this.active.get(id);
    if (found) {
      found._active = false;
      this.active.delete(id);
    }
  }

  setImmediate(fn, ...args) {
    if (typeof fn !== "function") throw new TypeError('The "callback" argument must be of type function');
    const immediate = new Immediate(fn, args);
    this.immediates.push(immediate);
    return immediate;
  }

  clearImmediate(immediate) {
    if (immediate instanceof Immediate) immediate._cleared = true;
  }

  /** Whether a timer or immediate that keeps the instance alive is pending. */
  hasRef() {
    for (const immediate of this.immediates) if (!immediate._cleared && immediate._ref) return true;
    for (const timeout of this.active.values()) if (timeout._ref) return true;
    return false;
  }

  /** When the next timer is due (ms on `now`'s clock), 0 when immediates wait, or undefined. */
  nextDue() {
    if (this.immediates.some((i) => !i._cleared)) return this.now();
    let due;
    for (const timeout of this.active.values()) if (due === undefined || timeout._due < due) due = timeout._due;
    return due;
  }

  /** Runs the immediates queued so far, then the timers now due; whether any ran. */
  runDue() {
    let ran = false;
    if (this.immediates.length > 0) {
      const queue = this.immediates;
      this.immediates = [];
      for (const immediate of queue) {
        if (immediate._cleared) continue;
        ran = true;
        call(immediate._fn, immediate._args, immediate);
      }
    }
    const now = this.now();
    const due = [];
    for (const timeout of this.active.values()) if (timeout._due <= now) due.push(timeout);
    due.sort((a, b) => a._due - b._due || a._id - b._id);
    for (const timeout of due) {
      if (!timeout._active) continue;
      ran = true;
      if (timeout._repeat) timeout._due = Math.max(timeout._due + timeout._ms, now);
      else {
        timeout._active = false;
        this.active.delete(timeout._id);
      }
      call(timeout._fn, timeout._args, timeout);
    }
    return ran;
  }
}

function call(fn, args, self) {
  try {
    fn.apply(self, args);
  } catch (error) {
    reportUncaught(error);
  }
}

/** `require("timers")` and `require("timers/promises")` over `timers`. */
export function timersModules(timers) {
  const api = {
    setTimeout: (fn, ms, ...args) => timers.setTimeout(fn, ms, ...args),
    clearTimeout: (t) => timers.clear(t),
    setInterval: (fn, ms, ...args) => timers.setInterval(fn, ms, ...args),
    clearInterval: (t) => timers.clear(t),
    setImmediate: (fn, ...args) => timers.setImmediate(fn, ...args),
    clearImmediate: (i) => timers.clearImmediate(i),
  };
  const promises = {
    setTimeout: (ms, value) => new Promise((resolve) => timers.setTimeout(() => resolve(value), ms)),
    setImmediate: (value) => new Promise((resolve) => timers.setImmediate(() => resolve(value))),
    async *setInterval(ms, value) {
      for (;;) yield await promises.setTimeout(ms, value);
    },
    scheduler: { wait: (ms) => promises.setTimeout(ms), yield: () => promises.setImmediate() },
  };
  api.promises = promises;
  return { timers: api, promises };
}
