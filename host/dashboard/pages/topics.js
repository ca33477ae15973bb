// Topics: depth (bytes retained), producers, subscribers, traffic, and a
// live peek (a subscription of this page, shown as it arrives).

import { readText } from "../api.js";
import { Tail, act, actionForm, bytes, card, field, fill, h, lines, table } from "../ui.js";

export function mount(root, ctx) {
  const holder = h("div", { id: "topic-list" });
  const peekTitle = h("h2", {}, "Peek");
  const peekTail = new Tail(32 * 1024, { id: "topic-peek", "aria-label": "topic peek" });
  const peekNote = h("p", { class: "muted" }, "Choose Peek on a topic to watch what is published to it. A peek is a subscriber of its own: it takes nothing from the others.");
  const stopPeek = h("button", { hidden: true, onclick: () => peek(null) }, "Stop peeking");
  const name = h("input", { id: "new-topic", placeholder: "topic name", required: true });
  const type = h(
    "select",
    { id: "new-topic-type" },
    ["application/x-ndjson", "text/plain", "application/octet-stream"].map((t) => h("option", { value: t }, t)),
  );
  const message = h("input", { id: "publish-text", placeholder: "text to publish (a line)" });
  const publishTo = h("input", { id: "publish-topic", placeholder: "topic" });
  root.append(
    h("h1", {}, "Topics"),
    card(null, h("div", { class: "row" }, h("button", { onclick: read }, "Read again")), holder),
    h(
      "div",
      { class: "grid write" },
      card(
        "Create a topic",
        actionForm(
          { class: "row" },
          async () => {
            await ctx.api.call("POST", "/topics", { id: name.value, "content-type": type.value });
            read();
          },
          "created",
          field("name", name),
          field("content type", type),
          h("button", { type: "submit" }, "Create"),
        ),
      ),
      card(
        "Publish",
        actionForm(
          { class: "row" },
          async () => {
            await ctx.api.call("POST", `/topic/${encodeURIComponent(publishTo.value)}`, undefined, {
              body: lines(message.value) || "\n",
              headers: { "Content-Type": "text/plain", "x-end-stream": "true" },
            });
            read();
          },
          "published",
          field("topic", publishTo),
          field("text", message),
          h("button", { type: "submit" }, "Publish"),
        ),
      ),
    ),
    h("section", { class: "card" }, h("div", { class: "row" }, peekTitle, stopPeek), peekNote, peekTail.el),
  );

  let topics = [];
  let peeking = null; // {name, controller}

  async function read() {
    try {
      topics = await ctx.api.get("/topics");
      draw();
    } catch (e) {
      fill(holder, h("p", { class: "error", role: "alert" }, e.message));
    }
  }

  function peek(topic) {
    peeking?.controller.abort();
    peeking = null;
    stopPeek.hidden = !topic;
    if (!topic) {
      peekTitle.textContent = "Peek";
      return;
    }
    const controller = new AbortController();
    peeking = { name: topic, controller };
    peekTitle.textContent = `Peek: ${topic}`;
    peekTail.clear();
    ctx.api
      .raw("GET", `/topic/${encodeURIComponent(topic)}`, { signal: controller.signal })
      .then((response) => readText(response, (text) => peekTail.append(text), controller.signal))
      .catch((e) => e.name !== "AbortError" && peekTail.append(`\n— ${e.message} —\n`));
  }

  function draw() {
    fill(
      holder,
      table(
        [
          ["topic", (t) => h("strong", {}, t.topic)],
          ["content type", (t) => t.contentType],
          ["retained", (t) => bytes(t.retainedBytes)],
          ["producers", (t) => t.producers],
          ["subscribers", (t) => t.subscribers],
          ["published", (t) => `${bytes(t.publishedBytes)}, ${t.publishedRecords} records`],
          ["delivered", (t) => `${bytes(t.deliveredBytes)}, ${t.deliveredRecords} records`],
          [
            "",
            (t) =>
              h(
                "div",
                { class: "actions" },
                h("button", { onclick: () => peek(t.topic) }, "Peek"),
                h(
                  "button",
                  {
                    class: "danger write",
                    onclick: (e) =>
                      confirm(`Delete topic ${t.topic}? Its subscribers' streams end.`) &&
                      act(e.currentTarget, () => ctx.api.call("DELETE", `/topics/${encodeURIComponent(t.topic)}`), "deleted").then(read),
                  },
                  "Delete",
                ),
              ),
          ],
        ],
        topics,
        { rowAttrs: (t) => ({ dataset: { topic: t.topic } }), empty: "no topics: a sequence's provides/requires or a publish makes one" },
      ),
    );
  }

  read();
  // Topics have no change events of their own; instances starting and
  // ending are what changes their producers and subscribers, and the
  // depth moves with traffic, so the table is read again every 5 s too.
  const unlisten = ctx.listen((kinds) => kinds.has("instance") && read());
  const timer = setInterval(read, 5000);
  return {
    unmount() {
      unlisten();
      clearInterval(timer);
      peeking?.controller.abort();
    },
  };
}
