// Workers: the farm at a glance (active / idle / asleep / inoperable),
// each worker's state, last contact, version, tags, slots, current tasks
// and failures per job; enable, disable, drain, sign off.

import { act, badge, card, fill, h, table, when } from "../ui.js";

/** The farm's word for a worker: what it is doing, or why it does nothing. */
export function farmState(worker) {
  if (worker.state !== "online") return "inoperable";
  if (worker.status === "disabled") return "asleep";
  if ((worker.activeTasks || []).length) return "active";
  return worker.status === "draining" ? "asleep" : "idle";
}

export function mount(root, ctx) {
  const glance = h("div", { class: "stats", id: "farm-glance" });
  const holder = h("div", { id: "worker-list" });
  root.append(h("h1", {}, "Workers"), card("The farm at a glance", glance), card(null, holder));

  function failuresOf(workerId) {
    const out = [];
    for (const job of ctx.jobs.values()) {
      const n = job.workerFailures?.[workerId];
      if (n) out.push(h("li", {}, h("a", { href: `#/jobs/${encodeURIComponent(job.id)}` }, job.name || job.id), `: ${n}`, job.blocklist?.includes(workerId) ? " (blocklisted)" : ""));
    }
    return out.length ? h("ul", { class: "compact" }, out) : "–";
  }

  function setStatus(worker, status, button) {
    return act(button, async () => {
      const updated = await ctx.api.call("PATCH", `/workers/${encodeURIComponent(worker.id)}`, { status });
      if (updated?.id) ctx.workers.set(updated.id, updated);
      ctx.changed("worker");
    }, `${worker.name}: ${status}`);
  }

  function draw() {
    const workers = [...ctx.workers.values()].sort((a, b) => Number(b.local) - Number(a.local) || String(a.name).localeCompare(String(b.name)));
    const counts = { active: 0, idle: 0, asleep: 0, inoperable: 0 };
    for (const w of workers) counts[farmState(w)]++;
    fill(
      glance,
      Object.entries(counts).map(([state, n]) =>
        h("div", { class: `stat farm-${state}` }, h("span", { class: "stat-value" }, n), h("span", { class: "stat-label" }, state)),
      ),
    );
    fill(
      holder,
      table(
        [
          ["name", (w) => [h("strong", {}, w.name), w.local ? " (this hub's slot)" : ""]],
          ["farm", (w) => badge(farmState(w))],
          ["state", (w) => `${w.state}, ${w.status}`],
          ["last seen", (w) => when(w.lastSeen)],
          ["version", (w) => w.version || "–"],
          ["tags", (w) => (w.tags || []).map((t) => h("span", { class: "tag" }, t))],
          ["slots", (w) => w.slots],
          ["current tasks", (w) => ((w.activeTasks || []).length ? h("ul", { class: "compact" }, w.activeTasks.map((t) => h("li", {}, h("code", {}, String(t).slice(0, 8))))) : "–")],
          ["done / failed", (w) => `${w.tasksCompleted} / ${w.tasksFailed}`],
          ["failures per job", (w) => failuresOf(w.id)],
          [
            "",
            (w) =>
              h(
                "div",
                { class: "actions write" },
                ["enabled", "disabled", "draining"].map((status) =>
                  h(
                    "button",
                    { disabled: w.status === status, dataset: { status }, onclick: (e) => setStatus(w, status, e.currentTarget) },
                    { enabled: "enable", disabled: "disable", draining: "drain" }[status],
                  ),
                ),
                w.local
                  ? null
                  : h(
                      "button",
                      {
                        class: "danger",
                        onclick: (e) =>
                          confirm(`Sign ${w.name} off? Its tasks are queued again.`) &&
                          act(e.currentTarget, async () => {
                            await ctx.api.call("DELETE", `/workers/${encodeURIComponent(w.id)}`);
                            ctx.workers.delete(w.id);
                            ctx.changed("worker");
                          }, "signed off"),
                      },
                      "sign off",
                    ),
              ),
          ],
        ],
        workers,
        { rowAttrs: (w) => ({ dataset: { id: w.id, name: w.name } }), empty: "no workers: this hub has no slots and no worker has registered" },
      ),
    );
  }

  draw();
  return { unmount: ctx.listen((kinds) => (kinds.has("worker") || kinds.has("job") || kinds.has("reset")) && draw()) };
}
