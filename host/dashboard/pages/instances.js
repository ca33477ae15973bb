// Instances: the list with state and accounting; one instance with its
// streams (output, stdout, stderr, log), input, events, stop and kill.

import { readText } from "../api.js";
import { Tail, act, actionForm, badge, bytes, card, field, fill, h, lines, ms, table, when } from "../ui.js";

export function mount(root, ctx, params) {
  return params[0] ? detail(root, ctx, params[0]) : list(root, ctx);
}

function flowText(flow) {
  if (!flow) return "–";
  return `${bytes(flow.bytes)}${flow.lines ? `, ${flow.lines} lines` : ""}`;
}

function list(root, ctx) {
  const holder = h("div", { id: "instance-list" });
  root.append(h("h1", {}, "Instances"), card(null, holder));
  function draw() {
    const rows = [...ctx.instances.values()].sort((a, b) => String(b.created).localeCompare(String(a.created)));
    fill(
      holder,
      table(
        [
          ["id", (i) => h("a", { href: `#/instances/${encodeURIComponent(i.id)}` }, i.id)],
          ["sequence", (i) => i.sequence?.name || i.sequence?.id || i.sequence || "–"],
          ["state", (i) => badge(i.status)],
          ["CPU", (i) => ms(i.usage?.cpuMs)],
          ["peak memory", (i) => bytes(i.usage?.peakMemoryBytes)],
          ["in", (i) => flowText(i.usage?.input)],
          ["out", (i) => flowText(i.usage?.output)],
          ["blocked", (i) => ms(i.usage?.outputBlockedMs)],
          ["started", (i) => when(i.started || i.created)],
          ["exit", (i) => (i.terminated ? `${i.terminated.exitcode} ${i.terminated.reason}` : "")],
        ],
        rows,
        { rowAttrs: (i) => ({ dataset: { id: i.id } }), empty: "no instances: start one from Sequences" },
      ),
    );
  }
  draw();
  return { unmount: ctx.listen((kinds) => (kinds.has("instance") || kinds.has("reset")) && draw()) };
}

const STREAMS = [
  ["output", "the sequence's output (the first reader takes what is buffered)"],
  ["stdout", "WASI stdout"],
  ["stderr", "WASI stderr"],
  ["log", "the instance log"],
];

function detail(root, ctx, id) {
  const path = `/instance/${encodeURIComponent(id)}`;
  const info = h("div", { id: "instance-info" });
  const usage = h("div", { id: "instance-usage" });
  const readers = new Map(); // stream → AbortController
  const tails = new Map(STREAMS.map(([name]) => [name, new Tail(64 * 1024, { id: `tail-${name}`, "aria-label": name })]));

  function follow(name, button) {
    if (readers.has(name)) {
      readers.get(name).abort();
      readers.delete(name);
      button.textContent = `Follow ${name}`;
      return;
    }
    const controller = new AbortController();
    readers.set(name, controller);
    button.textContent = `Stop following ${name}`;
    const tail = tails.get(name);
    ctx.api
      .raw("GET", `${path}/${name}`, { signal: controller.signal })
      .then((response) => readText(response, (text) => tail.append(text), controller.signal))
      .then(() => tail.append(`\n— ${name} ended —\n`))
      .catch((e) => {
        if (e.name !== "AbortError") tail.append(`\n— ${e.message} —\n`);
      })
      .finally(() => {
        if (readers.get(name) === controller) {
          readers.delete(name);
          button.textContent = `Follow ${name}`;
        }
      });
  }

  const streams = STREAMS.map(([name, about]) => {
    const button = h("button", { id: `follow-${name}` }, `Follow ${name}`);
    button.addEventListener("click", () => follow(name, button));
    return h("section", { class: "stream" }, h("div", { class: "row" }, h("h3", {}, name), h("small", { class: "muted" }, about), button), tails.get(name).el);
  });

  const input = h("textarea", { id: "input-text", rows: 3, placeholder: "lines to send to the input", spellcheck: false });
  const target = h("select", { id: "input-target", "aria-label": "send to" }, h("option", { value: "input" }, "input"), h("option", { value: "stdin" }, "stdin"));
  const send = (end) => (e) =>
    act(e.currentTarget, async () => {
      await ctx.api.call("POST", `${path}/${target.value}`, undefined, {
        body: lines(input.value),
        headers: { "Content-Type": "text/plain", "x-end-stream": end ? "true" : "false" },
      });
      input.value = "";
    }, end ? "sent, input ended" : "sent");
  const inputCard = card(
    "Send input",
    h("div", { class: "row" }, field("to", target)),
    input,
    h(
      "div",
      { class: "row" },
      h("button", { class: "primary", id: "send-input", onclick: send(false) }, "Send"),
      h("button", { id: "send-end", onclick: send(true) }, "Send and end the input"),
    ),
  );
  const eventName = h("input", { id: "event-name", placeholder: "event name" });
  const eventMessage = h("input", { id: "event-message", placeholder: "message (JSON or text)" });
  const eventCard = card(
    "Send an event",
    actionForm(
      { class: "row" },
      () => {
        let message = eventMessage.value;
        try {
          message = JSON.parse(message);
        } catch {
          // not JSON: sent as a string
        }
        return ctx.api.call("POST", `${path}/_event`, [5001, { eventName: eventName.value, message }]);
      },
      "event sent",
      field("name", eventName),
      field("message", eventMessage),
      h("button", { type: "submit" }, "Send event"),
    ),
  );
  const controls = h(
    "div",
    { class: "actions write" },
    h("button", { id: "instance-stop", onclick: (e) => act(e.currentTarget, () => ctx.api.call("POST", `${path}/_stop`, { timeout: 5000 }), "stopping") }, "Stop"),
    h("button", { class: "danger", id: "instance-kill", onclick: (e) => act(e.currentTarget, () => ctx.api.call("POST", `${path}/_kill`, {}), "killed") }, "Kill"),
  );
  const senders = h("div", { class: "grid write" }, inputCard, eventCard);
  root.append(
    h("p", {}, h("a", { href: "#/instances" }, "← Instances")),
    h("h1", {}, "Instance ", h("code", {}, id)),
    h("div", { class: "grid" }, card("State", info, controls), card("Accounting", usage)),
    senders,
    card("Streams", h("div", { class: "streams" }, streams)),
  );

  function draw(instance) {
    if (!instance) {
      fill(info, h("p", { class: "muted" }, "reading…"));
      return;
    }
    const t = instance.terminated;
    // An ended instance takes no input, events, stop or kill.
    controls.hidden = !!t;
    senders.hidden = !!t;
    fill(
      info,
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "state"),
        h("dd", { id: "instance-state" }, badge(instance.status)),
        h("dt", {}, "sequence"),
        h("dd", {}, instance.sequence?.name || instance.sequence?.id || "–"),
        h("dt", {}, "created"),
        h("dd", {}, when(instance.created)),
        h("dt", {}, "started"),
        h("dd", {}, when(instance.started)),
        h("dt", {}, "ended"),
        h("dd", {}, when(instance.ended)),
        h("dt", {}, "exit"),
        h("dd", { id: "instance-exit" }, t ? `${t.exitcode}: ${t.reason}` : "–"),
        h("dt", {}, "args"),
        h("dd", {}, h("code", {}, JSON.stringify(instance.args ?? []))),
      ),
    );
    const u = instance.usage || {};
    const limits = u.limits || {};
    fill(
      usage,
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "CPU"),
        h("dd", {}, ms(u.cpuMs)),
        h("dt", {}, "memory"),
        h("dd", {}, `${bytes(u.memoryBytes)} (peak ${bytes(u.peakMemoryBytes)})`),
        ["input", "stdin", "output", "stdout", "stderr"].map((s) => [h("dt", {}, s), h("dd", {}, flowText(u[s]))]),
        h("dt", {}, "output blocked"),
        h("dd", {}, ms(u.outputBlockedMs)),
        h("dt", {}, "limits"),
        h("dd", {}, `memory ${bytes(limits.memoryBytes)}, time ${ms(limits.timeoutMs)}, CPU ${ms(limits.cpuMs)}`),
      ),
    );
  }

  async function read() {
    try {
      const instance = await ctx.api.get(path);
      ctx.instances.set(id, instance);
      draw(instance);
    } catch (e) {
      fill(info, h("p", { class: "error", role: "alert" }, e.message));
    }
  }

  draw(ctx.instances.get(id));
  read();
  // The log is the instance's own account; follow it from the start.
  follow("log", root.querySelector("#follow-log"));
  const unlisten = ctx.listen((kinds) => {
    if (kinds.has("instance")) {
      const known = ctx.instances.get(id);
      if (known) draw(known);
    }
  });
  // While it runs, its accounting moves without events: read it again now and then.
  const timer = setInterval(() => {
    const known = ctx.instances.get(id);
    if (!known?.terminated) read();
  }, 3000);
  return {
    unmount() {
      unlisten();
      clearInterval(timer);
      for (const controller of readers.values()) controller.abort();
      readers.clear();
    },
  };
}

