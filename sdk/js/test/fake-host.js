// The weir:plugin imports, played by a test: `host` holds what goes in and what came out.
export const host = {};

/** Resets the fake host: `input` chunks (Uint8Array), `signals` for `wait`, topic data. */
export function reset({ input = [], signals = [], topics = {}, config = "{}", args = "[]" } = {}) {
  Object.assign(host, { input: [...input], signals: [...signals], topics, config, args });
  Object.assign(host, { writes: [], emitted: [], logs: [], published: [], subscribed: [], progress: [], keptAlive: [] });
}
reset();

export const readInput = (max) => {
  const chunk = host.input.shift();
  if (chunk && chunk.length > max) throw new Error(`chunk of ${chunk.length} > ${max}`);
  return chunk;
};
export const writeOutput = (data) => {
  if (host.closed) throw { payload: "closed" };
  host.writes.push(new Uint8Array(data));
};
export const emit = (name, message) => host.emitted.push([name, message]);
export const wait = () => host.signals.shift();
export const keepAlive = (ms) => host.keptAlive.push(ms);
export const instanceId = () => "00000000-0000-0000-0000-000000000000";
export const config = () => host.config;
export const args = () => host.args;
export const publish = (topic, data) => host.published.push([topic, new TextDecoder().decode(data)]);
export const subscribe = (topic) => host.subscribed.push(topic);
export const read = (topic) => host.topics[topic]?.shift();
export const log = (level, message) => host.logs.push([level, message]);
export const reportProgress = (fraction) => host.progress.push(fraction);
