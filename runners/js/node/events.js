// Node's `events`: EventEmitter with the behaviour streams and sequences rely on
// (listener order, `once`, an unhandled "error" throws, `events.once` as a promise).

const kOnce = Symbol("once");

/**
 * A function, not a class, as in Node: code written for old Node calls
 * `EventEmitter.call(this)` from its own constructor (`util.inherits`).
 */
export function EventEmitter() {
  EventEmitter.init.call(this);
}

/** Sets up the listener table of `this`. */
EventEmitter.init = function init() {
  if (this._events === undefined || this._events === Object.getPrototypeOf(this)._events) {
    this._events = Object.create(null);
    this._eventsCount = 0;
  }
  this._maxListeners = this._maxListeners ?? undefined;
};

class Methods {

  on(name, listener) {
    return addListener(this, name, listener, false);
  }

  addListener(name, listener) {
    return addListener(this, name, listener, false);
  }

  prependListener(name, listener) {
    return addListener(this, name, listener, true);
  }

  once(name, listener) {
    return addListener(this, name, onceWrapper(this, name, listener), false);
  }

  prependOnceListener(name, listener) {
    return addListener(this, name, onceWrapper(this, name, listener), true);
  }

  off(name, listener) {
    return this.removeListener(name, listener);
  }

  removeListener(name, listener) {
    const events = this._events;
    const list = events?.[name];
    if (list === undefined) return this;
    if (typeof list === "function") {
      if (list === listener || list[kOnce] === listener) {
        delete events[name];
        this._eventsCount -= 1;
        if (events.removeListener) this.emit("removeListener", name, listener);
      }
      return this;
    }
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i] === listener || list[i][kOnce] === listener) {
        if (list.length === 2) events[name] = list[1 - i];
        else list.splice(i, 1);
        if (events.removeListener) this.emit("removeListener", name, listener);
        break;
      }
    }
    return this;
  }

  removeAllListeners(name) {
    if (this._events === undefined) return this;
    if (name === undefined) {
      this._events = Object.create(null);
      this._eventsCount = 0;
    } else if (this._events[name] !== undefined) {
      delete this._events[name];
      this._eventsCount -= 1;
    }
    return this;
  }

  emit(name, ...args) {
    const list = this._events?.[name];
    if (list === undefined) {
      if (name === "error") {
        const error = args[0];
        if (error instanceof Error) throw error;
        const wrapped = new Error(`Unhandled error. (${String(error)})`);
        wrapped.context = error;
        throw wrapped;
      }
      return false;
    }
    if (typeof list === "function") {
      list.apply(this, args);
    } else {
      const copy = list.slice();
      for (let i = 0; i < copy.length; i++) copy[i].apply(this, args);
    }
    return true;
  }

  listeners(name) {
    const list = this._events?.[name];
    if (list === undefined) return [];
    return (typeof list === "function" ? [list] : list).map((l) => l[kOnce] ?? l);
  }

  rawListeners(name) {
    const list = this._events?.[name];
    if (list === undefined) return [];
    return typeof list === "function" ? [list] : list.slice();
  }

  listenerCount(name) {
    const list = this._events?.[name];
    if (list === undefined) return 0;
    return typeof list === "function" ? 1 : list.length;
  }

  eventNames() {
    return this._events ? Reflect.ownKeys(this._events) : [];
  }

  setMaxListeners(n) {
    this._maxListeners = n;
    return this;
  }

  getMaxListeners() {
    return this._maxListeners ?? EventEmitter.defaultMaxListeners;
  }
}

for (const name of Object.getOwnPropertyNames(Methods.prototype)) {
  if (name !== "constructor") {
    Object.defineProperty(EventEmitter.prototype, name, Object.getOwnPropertyDescriptor(Methods.prototype, name));
  }
}

EventEmitter.defaultMaxListeners = 10;
EventEmitter.EventEmitter = EventEmitter;
EventEmitter.errorMonitor = Symbol("events.errorMonitor");
EventEmitter.captureRejections = false;

function addListener(target, name, listener, prepend) {
  if (typeof listener !== "function") {
    throw new TypeError(`The "listener" argument must be of type function. Received ${typeof listener}`);
  }
  if (target._events === undefined) EventEmitter.init.call(target);
  const events = target._events;
  if (events.newListener !== undefined) target.emit("newListener", name, listener[kOnce] ?? listener);
  const list = events[name];
  if (list === undefined) {
    events[name] = listener;
    target._eventsCount += 1;
  } else if (typeof list === "function") {
    events[name] = prepend ? [listener, list] : [list, listener];
  } else if (prepend) {
    list.unshift(listener);
  } else {
    list.push(listener);
  }
  return target;
}

function onceWrapper(target, name, listener) {
  if (typeof listener !== "function") {
    throw new TypeError(`The "listener" argument must be of type function. Received ${typeof listener}`);
  }
  let fired = false;
  function wrapper(...args) {
    if (fired) return undefined;
    fired = true;
    target.removeListener(name, wrapper);
    return listener.apply(target, args);
  }
  wrapper[kOnce] = listener;
  return wrapper;
}

/** Resolves with the arguments of the next `name` event; rejects on "error" first. */
EventEmitter.once = function once(emitter, name) {
  return new Promise((resolve, reject) => {
    const onError = (error) => {
      emitter.removeListener(name, onEvent);
      reject(error);
    };
    const onEvent = (...args) => {
      if (name !== "error") emitter.removeListener("error", onError);
      resolve(args);
    };
    emitter.once(name, onEvent);
    if (name !== "error") emitter.once("error", onError);
  });
};

EventEmitter.listenerCount = (emitter, name) => emitter.listenerCount(name);

export default EventEmitter;
