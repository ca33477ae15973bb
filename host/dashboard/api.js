// The dashboard's only way to the hub: the public HTTP API under /api/v1
// (or, in a Space, the same API of another hub through the Space's forward
// route). Every request carries the token from session storage in an
// Authorization header; nothing puts a token in a URL.

const TOKEN_KEY = "weir.token";

/** An API reply that was not 2xx, with the hub's own message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function authHeaders(extra) {
  const headers = new Headers(extra || {});
  const t = token();
  if (t) headers.set("Authorization", `Bearer ${t}`);
  return headers;
}

/** The hub's message from an error reply: `{"error": "..."}` or the text. */
async function errorOf(response) {
  const text = await response.text().catch(() => "");
  let message = text.trim();
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === "string") message = body.error;
    else if (body && typeof body.message === "string") message = body.message;
  } catch {
    // not JSON: the text as it came
  }
  if (!message) message = `${response.status} ${response.statusText}`;
  return new ApiError(response.status, message);
}

export class Api {
  /** @param {string} base e.g. "/api/v1" */
  constructor(base = "/api/v1") {
    this.base = base;
    /** Called with an ApiError of status 401 (no or wrong token). */
    this.onUnauthorized = null;
  }

  url(path) {
    return this.base + path;
  }

  /** A request whose reply is returned as a Response (2xx) or thrown. */
  async raw(method, path, { body, headers, signal } = {}) {
    let response;
    try {
      response = await fetch(this.url(path), {
        method,
        body,
        headers: authHeaders(headers),
        signal,
        cache: "no-store",
      });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new ApiError(0, `the hub did not answer (${e.message})`);
    }
    if (!response.ok) {
      const error = await errorOf(response);
      if (error.status === 401 && this.onUnauthorized) this.onUnauthorized(error);
      throw error;
    }
    return response;
  }

  /** A JSON request: `json` is sent as the body; the reply is parsed. */
  async call(method, path, json, extra = {}) {
    const headers = { ...(extra.headers || {}) };
    let body = extra.body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    }
    const response = await this.raw(method, path, { ...extra, body, headers });
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    return type.includes("json") ? response.json() : response.text();
  }

  get(path, extra) {
    return this.call("GET", path, undefined, extra);
  }
}

/**
 * Reads a streaming reply chunk by chunk as text, calling `onText` for each,
 * until it ends or `signal` aborts. Resolves when the stream ends.
 */
export async function readText(response, onText, signal) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const abort = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", abort, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onText(decoder.decode(value, { stream: true }));
    }
    const rest = decoder.decode();
    if (rest) onText(rest);
  } finally {
    signal?.removeEventListener("abort", abort);
  }
}

/**
 * Server-Sent Events read with fetch (an EventSource cannot send an
 * Authorization header). After a dropped connection it reconnects with the
 * id of the last event it saw in `Last-Event-ID`, so the hub replays what
 * was missed; a `reset` event from the hub means the history no longer
 * reaches back that far and the caller must read the current state again.
 */
export class EventFeed {
  /**
   * @param {Api} api
   * @param {string} path e.g. "/events"
   * @param {(event: {type: string, id: string, data: any}) => void} onEvent
   * @param {(state: "live"|"reconnecting"|"closed", detail?: string) => void} onState
   */
  constructor(api, path, onEvent, onState = () => {}) {
    this.api = api;
    this.path = path;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = "";
    this.controller = null;
    this.stopped = false;
    this.retryMs = 500;
  }

  start() {
    this.stopped = false;
    this.loop();
    return this;
  }

  stop() {
    this.stopped = true;
    this.controller?.abort();
    this.onState("closed");
  }

  /** Drops the connection as a network failure would (the tests use it). */
  drop() {
    this.controller?.abort();
  }

  async loop() {
    while (!this.stopped) {
      this.controller = new AbortController();
      const headers = { Accept: "text/event-stream" };
      if (this.lastId) headers["Last-Event-ID"] = this.lastId;
      try {
        const response = await this.api.raw("GET", this.path, {
          headers,
          signal: this.controller.signal,
        });
        if (response.status === 204) {
          // The stream has nothing more to say (a job that ended).
          this.onState("closed");
          return;
        }
        this.onState("live");
        this.retryMs = 500;
        await this.parse(response);
      } catch (e) {
        if (e instanceof ApiError && (e.status === 401 || e.status === 403 || e.status === 404)) {
          this.onState("closed", e.message);
          return;
        }
      }
      if (this.stopped) return;
      this.onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, this.retryMs));
      this.retryMs = Math.min(this.retryMs * 2, 10000);
    }
  }

  async parse(response) {
    let buffer = "";
    let event = { type: "message", id: "", data: [] };
    await readText(
      response,
      (text) => {
        buffer += text;
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          let line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line.endsWith("\r")) line = line.slice(0, -1);
          if (line === "") {
            if (event.data.length) this.dispatch(event);
            event = { type: "message", id: "", data: [] };
            continue;
          }
          if (line.startsWith(":")) continue; // keep-alive comment
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value.startsWith(" ")) value = value.slice(1);
          if (field === "event") event.type = value;
          else if (field === "data") event.data.push(value);
          else if (field === "id") {
            event.id = value;
            this.lastId = value;
          }
        }
      },
      this.controller.signal,
    );
  }

  dispatch(event) {
    const text = event.data.join("\n");
    let data = text;
    try {
      data = JSON.parse(text);
    } catch {
      // plain text data
    }
    this.onEvent({ type: event.type, id: event.id, data });
  }
}

/** Hex SHA-256 of a Blob: WebCrypto where the page may use it (https or
 * localhost), else the incremental implementation in sha256.js. */
export async function sha256Hex(blob, onProgress = () => {}) {
  if (globalThis.crypto?.subtle && blob.size <= 512 * 1024 * 1024) {
    const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
    onProgress(blob.size);
    return hex(new Uint8Array(digest));
  }
  const { Sha256 } = await import("./sha256.js");
  const hash = new Sha256();
  const step = 4 * 1024 * 1024;
  for (let at = 0; at < blob.size; at += step) {
    hash.update(new Uint8Array(await blob.slice(at, at + step).arrayBuffer()));
    onProgress(Math.min(at + step, blob.size));
  }
  return hex(hash.digest());
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Uploads a package in chunks through /uploads (start, PUT each chunk at
 * its offset, complete), calling `onProgress(sent, total, phase)`.
 * `replace` names a sequence to replace instead of adding one.
 */
export async function uploadPackage(api, file, { replace, onProgress = () => {}, signal } = {}) {
  onProgress(0, file.size, "hashing");
  const sha256 = await sha256Hex(file, (n) => onProgress(n, file.size, "hashing"));
  const upload = await api.call("POST", "/uploads", {
    size: file.size,
    sha256,
    ...(replace ? { replace } : {}),
  });
  const chunk = Math.max(64 * 1024, Math.min(upload.chunkLimit || 8 << 20, 8 << 20));
  try {
    let offset = upload.received || 0;
    onProgress(offset, file.size, "uploading");
    while (offset < file.size) {
      const end = Math.min(offset + chunk, file.size);
      const reply = await api.call("PUT", `/uploads/${upload.id}/chunks/${offset}`, undefined, {
        body: file.slice(offset, end),
        headers: { "Content-Type": "application/octet-stream" },
        signal,
      });
      offset = reply.received;
      onProgress(offset, file.size, "uploading");
    }
    onProgress(file.size, file.size, "checking");
    return await api.call("POST", `/uploads/${upload.id}/complete`);
  } catch (e) {
    api.call("DELETE", `/uploads/${upload.id}`).catch(() => {});
    throw e;
  }
}
