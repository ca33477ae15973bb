// Small DOM helpers. Text from the hub (names, messages, logs) is always
// set as text, never parsed as HTML.

/**
 * Makes an element: h("button", {class: "x", onclick: f}, "text", child).
 * Attributes starting with "on" become listeners; `null`/`false` are left out.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function ms(n) {
  if (n === null || n === undefined) return "–";
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60000) return `${(n / 1000).toFixed(1)} s`;
  return `${Math.floor(n / 60000)} min ${Math.round((n % 60000) / 1000)} s`;
}

export function when(iso) {
  if (!iso) return "–";
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return String(iso);
  const ago = (Date.now() - t.getTime()) / 1000;
  if (ago >= 0 && ago < 5) return "just now";
  if (ago >= 0 && ago < 120) return `${Math.round(ago)} s ago`;
  if (ago >= 0 && ago < 7200) return `${Math.round(ago / 60)} min ago`;
  return t.toLocaleString();
}

/** A coloured state label. */
export function badge(state) {
  return h("span", { class: `badge state-${state}` }, state);
}

export function progressBar(percent) {
  const p = Math.max(0, Math.min(100, Number(percent) || 0));
  return h(
    "div",
    { class: "progress", role: "progressbar", "aria-valuenow": p, "aria-valuemin": 0, "aria-valuemax": 100 },
    h("div", { class: "progress-fill", style: { width: `${p}%` } }),
    h("span", { class: "progress-label" }, `${p.toFixed(p % 1 ? 1 : 0)}%`),
  );
}

/** A table: `columns` are [heading, (row) => cell]. */
export function table(columns, rows, { rowAttrs, empty = "nothing here yet" } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", { scope: "col" }, title)))),
      h(
        "tbody",
        {},
        rows.map((row) => h("tr", rowAttrs ? rowAttrs(row) : {}, columns.map(([, cell]) => h("td", {}, cell(row))))),
      ),
    ),
  );
}

/** A titled card. */
export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...children);
}

/** A form field with its label. */
export function field(label, input, hint) {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), input, hint ? h("small", {}, hint) : null);
}

let toastArea = null;

/** Shows a message for a few seconds: kind "ok" or "error". */
export function toast(message, kind = "ok") {
  toastArea ??= document.getElementById("toasts");
  const el = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  toastArea.append(el);
  while (toastArea.children.length > 3) toastArea.firstElementChild.remove();
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 3000);
}

/**
 * A form that runs `action` when submitted, through [`act`] (its submit
 * button disabled meanwhile, the hub's message shown if it fails, `done`
 * shown if it succeeds).
 */
export function actionForm(attrs, action, done, ...children) {
  return h(
    "form",
    {
      ...attrs,
      onsubmit: (e) => {
        e.preventDefault();
        act(e.submitter, action, done);
      },
    },
    ...children,
  );
}

/** The JSON a person typed; `fallback` for nothing, an error naming `what` for bad JSON. */
export function parseJson(text, what, fallback) {
  if (!text.trim()) return fallback;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${e.message}`);
  }
}

/** Text as lines: a final newline added when it has none. */
export function lines(text) {
  return text && !text.endsWith("\n") ? `${text}\n` : text;
}

/**
 * Runs an action from a button: disables it meanwhile and shows the hub's
 * error message if it fails. Resolves to the action's result or undefined.
 */
export async function act(button, action, done) {
  if (button) button.disabled = true;
  try {
    const result = await action();
    if (done) toast(done);
    return result;
  } catch (e) {
    toast(e.message || String(e), "error");
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/**
 * A bounded text tail: keeps the last `limit` characters of what is
 * appended, scrolled to the end while the reader is at the end.
 */
export class Tail {
  constructor(limit = 64 * 1024, attrs = {}) {
    this.limit = limit;
    this.text = "";
    this.el = h("pre", { class: "tail", tabindex: 0, ...attrs });
  }

  append(text) {
    const atEnd = this.el.scrollTop + this.el.clientHeight >= this.el.scrollHeight - 4;
    this.text += text;
    if (this.text.length > this.limit) this.text = this.text.slice(this.text.length - this.limit);
    this.el.textContent = this.text;
    if (atEnd) this.el.scrollTop = this.el.scrollHeight;
  }

  clear() {
    this.text = "";
    this.el.textContent = "";
  }
}
