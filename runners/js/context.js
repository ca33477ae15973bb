// `this` of a sequence function: Scramjet's AppContext over the runner.
import { format } from "./node/util.js";

const LEVELS = ["trace", "debug", "info", "warn", "error"];

/**
 * The context for `runtime`: `config`, `args`, `instanceId`, `logger`, events (`on`,
 * `emit`), `keepAlive`, stop handlers, `end` and `destroy`. Kill handlers are accepted and
 * never called: a kill ends the sandbox at once. Monitoring handlers are accepted; the hub
 * does not poll them.
 */
export function createContext(runtime) {
  const { host } = runtime;
  const logger = {};
  for (const level of LEVELS) logger[level] = (...args) => host.log(level, format(...args));
  logger.log = logger.info;
  const context = {
    config: parseJson(host.config(), {}),
    args: parseJson(host.args(), []),
    instanceId: host.instanceId(),
    logger,
    exitTimeout: 10_000,
    on(name, handler) {
      runtime.events.on(String(name), handler);
      return context;
    },
    off(name, handler) {
      runtime.events.removeListener(String(name), handler);
      return context;
    },
    emit(name, message) {
      host.emit(String(name), JSON.stringify(message) ?? "null");
      return context;
    },
    keepAlive(ms) {
      runtime.keepAlive(ms ?? 10_000);
      return context;
    },
    addStopHandler(handler) {
      runtime.stopHandlers.push(handler);
      return context;
    },
    addKillHandler() {
      return context;
    },
    addMonitoringHandler() {
      return context;
    },
    end() {
      runtime.complete();
      return context;
    },
    destroy(error) {
      if (error) runtime.fail(error);
      else runtime.complete();
      return context;
    },
  };
  if (!Array.isArray(context.args)) context.args = [];
  return context;
}

function parseJson(text, fallback) {
  try {
    return JSON.parse(text);
  } catch {
    return fallback;
  }
}
