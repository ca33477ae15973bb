#!/usr/bin/env node
// The ceiling of the Scramjet peer's bench.js client for passthrough on this machine: the same
// client code (a 64 KiB-chunked POST with backpressure, a GET that counts bytes and lines per
// chunk, the same 1,024-byte-line payload) against host/examples/relay — weir's server stack
// with no guest — instead of a hub. A hub measured by bench.js cannot be faster than this.
//
//   node tests/bench/bench-client-ceiling.js --relay http://127.0.0.1:PORT [--mb 200] [--reps 3]
//   node tests/bench/bench-client-ceiling.js --hub http://127.0.0.1:PORT/api/v1 --sequence ID …
// With --hub, the same client through an instance of a passthrough sequence on a hub (each
// rep starts one: output read from /instance/:id/output, input posted to /instance/:id/input).
"use strict";
const http = require("http");

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, "")] = process.argv[i + 1];
const BASE = new URL(args.hub || args.relay || "http://127.0.0.1:18601");
const HUB = args.hub !== undefined;
const MB = parseInt(args.mb || "200", 10);
const REPS = parseInt(args.reps || "3", 10);
const agent = new http.Agent({ keepAlive: false });
const now = () => Number(process.hrtime.bigint()) / 1e6;

function startInstance() {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: BASE.hostname, port: BASE.port, path: `${BASE.pathname}/sequence/${args.sequence}/start`,
      method: "POST", agent, headers: { "content-type": "application/json" },
    }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => (res.statusCode === 200 ? resolve(JSON.parse(text).id) : reject(new Error(text))));
    });
    req.on("error", reject);
    req.end("{}");
  });
}

function readStream(path, until) {
  let bytes = 0, lines = 0, tLast;
  const finished = new Promise((resolve, reject) => {
    const req = http.request({ host: BASE.hostname, port: BASE.port, path, method: "GET", agent }, (res) => {
      res.on("data", (c) => {
        tLast = now();
        bytes += c.length;
        for (let i = c.indexOf(10); i !== -1; i = c.indexOf(10, i + 1)) lines++;
        if (bytes >= until) resolve();
      });
      res.on("end", () => resolve());
    });
    req.on("error", reject);
    req.end();
  });
  return { finished, stats: () => ({ bytes, lines, tLast }) };
}

function postStream(path, chunks) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: BASE.hostname, port: BASE.port, path, method: "POST", agent,
      headers: { "content-type": "application/octet-stream", "transfer-encoding": "chunked" },
    }, (res) => { res.resume(); res.on("end", () => resolve(res.statusCode)); });
    req.on("error", reject);
    (async () => {
      for (const chunk of chunks()) if (!req.write(chunk)) await new Promise((r) => req.once("drain", r));
      req.end();
    })().catch(reject);
  });
}

(async () => {
  const CH = 64 * 1024;
  const total = MB * 1024 * 1024;
  const payload = Buffer.alloc(total);
  for (let i = 0; i < 1024; i++) payload[i] = 97 + (i % 26);
  payload[1023] = 10;
  for (let off = 1024; off < total; off *= 2) payload.copy(payload, off, 0, Math.min(off, total - off));
  for (let line = 0; line * 1024 < total; line++) payload.write(String(line).padStart(10, "0") + " ", line * 1024, "latin1");
  const rates = [];
  for (let i = 0; i < REPS; i++) {
    const id = HUB ? await startInstance() : undefined;
    const out = readStream(HUB ? `${BASE.pathname}/instance/${id}/output` : "/relay", total);
    await new Promise((r) => setTimeout(r, 50)); // the GET is waiting before the POST starts
    const tIn = now();
    const post = postStream(HUB ? `${BASE.pathname}/instance/${id}/input` : "/relay", function* () { for (let s = 0; s < total; s += CH) yield payload.subarray(s, s + CH); });
    await out.finished;
    const st = out.stats();
    await post;
    const what = HUB ? "hub" : "relay";
    if (st.bytes !== total) throw new Error(`${what} gave ${st.bytes} bytes, expected ${total}`);
    const rate = st.bytes / 1048576 / ((st.tLast - tIn) / 1000);
    rates.push(rate);
    console.log(`${what} #${i + 1}: ${st.bytes} bytes (${st.lines} lines) = ${rate.toFixed(1)} MiB/s`);
  }
  rates.sort((a, b) => a - b);
  console.log(`SUMMARY ${HUB ? "hub" : "relay"} through the bench.js client: median ${rates[Math.floor(rates.length / 2)].toFixed(1)} MiB/s`);
})().catch((e) => { console.error(e); process.exit(1); });
