// Space: every hub of the Space with its health, load and capacity. Choose
// one to see every other page as that hub (through the Space's forward
// route, so the page talks to its own origin only).

import { bytes, card, fill, h, table, when } from "../ui.js";

export function mount(root, ctx) {
  const holder = h("div", { id: "space-hubs" });
  const totals = h("div", { class: "stats", id: "space-load" });
  root.append(h("h1", {}, `Space ${ctx.space || ""}`), card("Load of the healthy hubs", totals), card("Hubs", holder));
  const base = `/space/${encodeURIComponent(ctx.space || "")}/api/v1`;

  async function read() {
    try {
      const [hubs, load] = await Promise.all([ctx.home.get(`${base}/list`), ctx.home.get(`${base}/load`).catch(() => null)]);
      draw(hubs, load);
    } catch (e) {
      fill(holder, h("p", { class: "error", role: "alert" }, e.message));
    }
  }

  function draw(hubs, load) {
    if (load) {
      fill(
        totals,
        Object.entries(load)
          .filter(([, v]) => typeof v === "number")
          .map(([k, v]) =>
            h("div", { class: "stat" }, h("span", { class: "stat-value" }, /mem|fs|size|bytes/i.test(k) ? bytes(v) : Math.round(v * 100) / 100), h("span", { class: "stat-label" }, k)),
          ),
      );
    }
    fill(
      holder,
      table(
        [
          ["hub", (hub) => h("strong", {}, hub.id)],
          ["health", (hub) => h("span", { class: `badge state-${hub.healthy ? "running" : "errored"}` }, hub.healthy ? "healthy" : "unhealthy")],
          ["url", (hub) => hub.url || "–"],
          ["version", (hub) => hub.version || "–"],
          ["CPU", (hub) => (hub.load?.currentLoad === undefined ? "–" : `${Math.round(hub.load.currentLoad)}%`)],
          ["memory free", (hub) => bytes(hub.load?.memFree)],
          ["capacity", (hub) => (hub.capacity ? `${hub.capacity.alive ?? 0} / ${hub.capacity.maxInstances ?? "?"}` : "–")],
          ["tags", (hub) => (hub.tags || []).map((t) => h("span", { class: "tag" }, t))],
          ["last seen", (hub) => when(hub.lastSeen)],
          [
            "",
            (hub) =>
              h(
                "button",
                {
                  disabled: ctx.hub === hub.id,
                  onclick: () => {
                    // The page starts again on that hub (kept in session storage).
                    ctx.useHub(hub.id);
                    location.hash = "#/";
                    location.reload();
                  },
                },
                ctx.hub === hub.id ? "in view" : "view this hub",
              ),
          ],
        ],
        hubs,
        { rowAttrs: (hub) => ({ dataset: { hub: hub.id } }), empty: "no hubs registered" },
      ),
    );
  }

  read();
  const timer = setInterval(read, 5000);
  return { unmount: () => clearInterval(timer) };
}
