// Overview: instance counts, capacity, render farm, the machine's load and
// memory, and the latest changes from the feed.

import { bytes, card, fill, h, ms, when } from "../ui.js";

export function mount(root, ctx) {
  const counts = h("div", { class: "stats", id: "overview-status" });
  const machine = h("div", { class: "stats", id: "overview-load" });
  const farm = h("div", { class: "stats", id: "overview-farm" });
  const recent = h("ol", { class: "events", id: "overview-events", "aria-live": "polite" });
  root.append(
    h("h1", {}, "Overview"),
    h("div", { class: "grid" }, card("Instances", counts), card("Machine", machine), card("Render farm", farm)),
    card("Recent changes", recent),
  );

  let status = null;
  let load = null;
  let version = null;
  let stale = true;
  let reading = false;

  async function read() {
    if (reading) return;
    reading = true;
    stale = false;
    try {
      [status, load, version] = await Promise.all([
        ctx.api.get("/status"),
        ctx.api.get("/load-check"),
        version ? Promise.resolve(version) : ctx.api.get("/version"),
      ]);
    } catch (e) {
      fill(counts, h("p", { class: "error", role: "alert" }, e.message));
    } finally {
      reading = false;
    }
    draw();
  }

  function stat(label, value, title) {
    return h("div", { class: "stat", title }, h("span", { class: "stat-value" }, value), h("span", { class: "stat-label" }, label));
  }

  function draw() {
    if (status) {
      const alive = status.capacity?.alive ?? 0;
      fill(
        counts,
        Object.entries(status.instances || {}).map(([state, n]) => stat(state, n)),
        stat("capacity", `${alive} / ${status.capacity?.maxInstances ?? "?"}`, "alive instances of the most this hub runs"),
        stat("sequences", status.sequences ?? 0),
        stat("up", ms(status.uptimeMs)),
      );
    }
    if (load) {
      const total = (load.memFree || 0) + (load.memUsed || 0);
      fill(
        machine,
        stat("CPU load", `${Math.round(load.currentLoad ?? 0)}%`, `1-minute load average ${load.avgLoad ?? "?"}`),
        stat("cores", load.cores ?? "?"),
        stat("memory used", `${bytes(load.memUsed)} of ${bytes(total)}`),
        (load.fsSize || []).slice(0, 2).map((fs) => stat(`disk ${fs.mount}`, `${Math.round(fs.use)}%`, `${bytes(fs.available)} free`)),
        version ? stat("version", version.version || version.service || "?") : null,
      );
    }
    const jobs = [...ctx.jobs.values()];
    const by = (state) => jobs.filter((j) => j.state === state).length;
    const workers = [...ctx.workers.values()];
    fill(
      farm,
      stat("active jobs", by("active")),
      stat("queued jobs", by("queued")),
      stat("completed", by("completed")),
      stat("failed", by("failed")),
      stat("workers online", workers.filter((w) => w.state === "online").length),
      stat("slots", workers.filter((w) => w.state === "online").reduce((n, w) => n + (w.slots || 0), 0)),
    );
    fill(
      recent,
      ctx.events.length
        ? ctx.events.slice(0, 20).map((e) => h("li", {}, h("time", {}, when(e.at.toISOString())), " ", h("strong", {}, e.type), " ", describe(e)))
        : h("li", { class: "empty" }, "no changes since the page opened"),
    );
  }

  read();
  // Counts and load follow the changes of the feed, read again at most
  // every two seconds; the machine's load also every ten seconds while this
  // page is open (the load has no events of its own).
  const unlisten = ctx.listen((kinds) => {
    if (kinds.has("instance") || kinds.has("reset")) stale = true;
    draw();
  });
  const timer = setInterval(() => {
    if (stale) read();
  }, 2000);
  const loadTimer = setInterval(() => {
    stale = true;
  }, 10000);
  return {
    unmount() {
      unlisten();
      clearInterval(timer);
      clearInterval(loadTimer);
    },
  };
}

/** One line for a change of the feed. */
export function describe(event) {
  const d = event.data || {};
  switch (event.type) {
    case "job":
      return d.removed ? `job ${d.id} deleted` : `${d.name || d.id} ${d.state} ${d.progress ?? 0}%`;
    case "task":
      return `task ${d.index} of job ${d.jobId}: ${d.state}${d.worker ? ` on ${d.worker}` : ""}`;
    case "worker":
      return `${d.name || d.id} ${d.state}, ${d.status}`;
    case "instance":
      return d.removed ? `instance ${d.id} removed` : `instance ${d.id} ${d.status}${d.reason ? `: ${d.reason}` : ""}`;
    case "reset":
      return d.reason || "the state was read again";
    default:
      return JSON.stringify(d);
  }
}
