// Logging into the instance or job log: shared by both worlds.
import { log as hostLog } from "weir:plugin/log@0.1.0";

const LEVELS = ["trace", "debug", "info", "warn", "error"];

/** Writes one log line at `level` ("trace" … "error"). */
export function log(level, message) {
  if (!LEVELS.includes(level)) {
    throw new TypeError(`unknown log level ${JSON.stringify(level)}; use one of ${LEVELS.join(", ")}`);
  }
  hostLog(level, String(message));
}

/** Adds `trace` … `error` methods that log at their level to `target`. */
export function addLogMethods(target) {
  for (const level of LEVELS) {
    target[level] = (message) => log(level, message);
  }
  target.log = log;
  return target;
}

/** The message of an error thrown by plugin code, as the hub shows it. */
export function errorMessage(error) {
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}
