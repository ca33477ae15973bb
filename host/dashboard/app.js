// The dashboard's shell: the token, the hub it looks at (this one, or
// another hub of the Space through the Space's forward route), the change
// feed that keeps the shared state current, and the page router.

import { Api, ApiError, EventFeed, setToken, token } from "./api.js";
import { fill, h, toast } from "./ui.js";
import * as overview from "./pages/overview.js";
import * as sequences from "./pages/sequences.js";
import * as instances from "./pages/instances.js";
import * as topics from "./pages/topics.js";
import * as jobs from "./pages/jobs.js";
import * as workers from "./pages/workers.js";
import * as space from "./pages/space.js";

const PAGES = [
  { path: "", title: "Overview", page: overview },
  { path: "sequences", title: "Sequences", page: sequences },
  { path: "instances", title: "Instances", page: instances },
  { path: "topics", title: "Topics", page: topics },
  { path: "jobs", title: "Render jobs", page: jobs },
  { path: "workers", title: "Workers", page: workers },
  { path: "space", title: "Space", page: space, spaceOnly: true },
];

const HUB_KEY = "weir.hub";
const RECENT_EVENTS = 50;

/** What every page shares: the API of the hub in view and what is known of it. */
class Context {
  constructor() {
    this.home = new Api("/api/v1");
    this.api = this.home;
    this.access = { auth: false, scope: "admin" };
    this.space = null; // the Space's name when this hub is in one
    this.hub = ""; // "" = this hub, else the id of a hub of the Space
    this.instances = new Map();
    this.jobs = new Map();
    this.workers = new Map();
    this.tasks = new Map(); // job id → Map(index → task)
    this.loading = new Map(); // job id → whether a task event came during its read
    this.arriving = new Set(); // one list per reload in flight: the changes that came meanwhile
    this.events = [];
    this.feedState = "connecting";
    this.listeners = new Set();
    this.pending = new Set();
    this.frame = 0;
    this.feed = null;
  }

  get readOnly() {
    return this.access.scope === "read";
  }

  /** Calls every page listener once per animation frame with the kinds that changed. */
  changed(kind) {
    this.pending.add(kind);
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => this.flush());
  }

  /** Redraws, but never while a pointer button is down: an element rebuilt
   * between a press and its release would lose the click. */
  flush() {
    if (pointerDown) {
      this.frame = -1;
      afterPointerUp = () => this.flush();
      return;
    }
    this.frame = 0;
    const kinds = new Set(this.pending);
    this.pending.clear();
    for (const listener of this.listeners) {
      try {
        listener(kinds);
      } catch (e) {
        console.error(e);
      }
    }
  }

  listen(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Points the API at another hub of the Space ("" = this one). */
  useHub(id) {
    this.hub = id || "";
    sessionStorage.setItem(HUB_KEY, this.hub);
    this.api =
      this.hub && this.space
        ? new Api(`/api/v1/space/${encodeURIComponent(this.space)}/api/v1/sth/${encodeURIComponent(this.hub)}/api/v1`)
        : this.home;
    this.api.onUnauthorized = this.home.onUnauthorized;
  }

  /** Reads the current state of the hub in view, all at once. */
  async reload() {
    // Changes that arrive while the lists are read may be newer than what the
    // lists say: they are kept and applied again on top, so none is lost.
    const during = [];
    this.arriving.add(during);
    let instances, jobs, workers;
    try {
      [instances, jobs, workers] = await Promise.all([
        this.api.get("/instances").catch(() => []),
        this.api.get("/jobs").catch(() => []),
        this.api.get("/workers").catch(() => []),
      ]);
    } finally {
      this.arriving.delete(during);
    }
    this.instances = new Map(instances.map((i) => [i.id, i]));
    this.jobs = new Map(jobs.map((j) => [j.id, j]));
    this.workers = new Map(workers.map((w) => [w.id, w]));
    this.tasks.clear();
    for (const event of during) this.update(event);
    for (const kind of ["instance", "job", "worker", "task", "reset"]) this.changed(kind);
  }

  /** Follows the hub's change feed; the feed's events update the maps. */
  follow() {
    this.feed?.stop();
    this.feed = new EventFeed(
      this.api,
      "/events",
      (event) => this.apply(event),
      (state, detail) => {
        this.feedState = state;
        if (detail) toast(`live updates stopped: ${detail}`, "error");
        this.changed("feed");
      },
    ).start();
  }

  apply(event) {
    const { type, data } = event;
    if (type === "open" || type === "reset") {
      this.reload().catch((e) => toast(e.message, "error"));
      if (type === "reset") this.remember(event);
      return;
    }
    this.remember(event);
    for (const during of this.arriving) during.push(event);
    this.update(event);
  }

  /** Applies one job, task, worker or instance change to the maps. */
  update(event) {
    const { type, data } = event;
    if (type === "job") {
      if (data.removed) {
        this.jobs.delete(data.id);
        this.tasks.delete(data.id);
      } else this.putJob(data);
    } else if (type === "task") {
      if (this.loading.has(data.jobId)) this.loading.set(data.jobId, true);
      const tasks = this.tasks.get(data.jobId);
      if (tasks) tasks.set(data.index, data);
    } else if (type === "worker") {
      this.workers.set(data.id, data);
    } else if (type === "instance") {
      if (data.removed) this.instances.delete(data.id);
      else this.refreshInstance(data.id, data);
    }
    this.changed(type);
  }

  /** Stores `job` unless a later state of it is stored already: the answer to a request can
   * arrive after the feed's events of changes made since (a short job ends meanwhile). */
  putJob(job) {
    const known = this.jobs.get(job.id);
    if (known && Date.parse(known.updatedAt) > Date.parse(job.updatedAt)) return known;
    this.jobs.set(job.id, job);
    return job;
  }

  remember(event) {
    this.events.unshift({ at: new Date(), type: event.type, id: event.id, data: event.data });
    if (this.events.length > RECENT_EVENTS) this.events.length = RECENT_EVENTS;
    this.changed("events");
  }

  /** An instance event carries its status only: read the whole instance. */
  async refreshInstance(id, partial) {
    const known = this.instances.get(id);
    this.instances.set(id, { ...(known || { id }), ...partial });
    try {
      this.instances.set(id, await this.api.get(`/instance/${encodeURIComponent(id)}`));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) this.instances.delete(id);
    }
    this.changed("instance");
  }

  /** The tasks of a job, read once and then kept current by task events.
   * Task events that arrive while the pages are read mark the read stale,
   * and it is done again, so no change made meanwhile is lost. */
  async loadTasks(jobId) {
    for (let round = 0; ; round++) {
      this.loading.set(jobId, false);
      const all = new Map();
      let after = null;
      for (;;) {
        const query = `?limit=1000${after === null ? "" : `&after=${after}`}`;
        const page = await this.api.get(`/jobs/${encodeURIComponent(jobId)}/tasks${query}`);
        for (const task of page) all.set(task.index, task);
        if (page.length < 1000) break;
        after = page[page.length - 1].index;
      }
      const stale = this.loading.get(jobId);
      if (!stale || round >= 4) {
        this.loading.delete(jobId);
        this.tasks.set(jobId, all);
        this.changed("task");
        return all;
      }
    }
  }
}

let pointerDown = false;
let afterPointerUp = null;
document.addEventListener("pointerdown", () => (pointerDown = true), true);
const released = () => {
  pointerDown = false;
  const then = afterPointerUp;
  afterPointerUp = null;
  // After the click event that follows the release.
  if (then) setTimeout(then, 0);
};
document.addEventListener("pointerup", released, true);
document.addEventListener("pointercancel", released, true);

const ctx = new Context();
let current = null; // the mounted page

function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, ...rest] = hash.split("/").map(decodeURIComponent);
  return { path: path || "", params: rest };
}

function render() {
  const { path, params } = route();
  const entry = PAGES.find((p) => p.path === path) || PAGES[0];
  for (const link of document.querySelectorAll("#nav a")) {
    link.toggleAttribute("aria-current", link.dataset.path === entry.path);
    if (link.dataset.path === entry.path) link.setAttribute("aria-current", "page");
  }
  current?.unmount?.();
  const main = document.getElementById("main");
  main.replaceChildren();
  document.title = `${entry.title} · weir`;
  current = entry.page.mount(main, ctx, params) || null;
  main.focus({ preventScroll: true });
}

function nav() {
  const list = document.getElementById("nav");
  fill(
    list,
    PAGES.filter((p) => !p.spaceOnly || ctx.space).map((p) =>
      h("li", {}, h("a", { href: `#/${p.path}`, dataset: { path: p.path } }, p.title)),
    ),
  );
}

function feedIndicator() {
  const el = document.getElementById("feed-state");
  const text = { live: "live", reconnecting: "reconnecting…", closed: "not live", connecting: "connecting…" };
  el.textContent = text[ctx.feedState] || ctx.feedState;
  el.className = `feed feed-${ctx.feedState}`;
}

async function hubPicker() {
  const holder = document.getElementById("hub-picker");
  if (!ctx.space) {
    holder.hidden = true;
    return;
  }
  let hubs = [];
  try {
    hubs = await ctx.home.get(`/space/${encodeURIComponent(ctx.space)}/api/v1/list`);
  } catch (e) {
    toast(`the Space's hubs: ${e.message}`, "error");
  }
  const select = h(
    "select",
    {
      "aria-label": "hub in view",
      onchange: (e) => {
        ctx.useHub(e.target.value);
        ctx.follow();
        render();
      },
    },
    h("option", { value: "" }, "this hub"),
    hubs.map((hub) => h("option", { value: hub.id, selected: hub.id === ctx.hub }, `${hub.id}${hub.healthy === false ? " (unhealthy)" : ""}`)),
  );
  fill(holder, h("span", {}, `Space ${ctx.space}: `), select);
  holder.hidden = false;
}

/** Asks for a token until one opens the hub; resolves with its scope. */
function askToken(reason) {
  return new Promise((resolve) => {
    const dialog = document.getElementById("token-dialog");
    const input = dialog.querySelector("input");
    const message = dialog.querySelector(".dialog-message");
    message.textContent = reason;
    dialog.hidden = false;
    input.value = "";
    input.focus();
    dialog.querySelector("form").onsubmit = async (e) => {
      e.preventDefault();
      setToken(input.value.trim());
      const access = await ctx.home.get("/access").catch((err) => ({ error: err.message }));
      if (access.scope) {
        dialog.hidden = true;
        resolve(access);
      } else {
        setToken("");
        message.textContent = access.error || "This token does not open this hub. Check it and try again.";
        input.select();
      }
    };
  });
}

async function boot() {
  let access = await ctx.home.get("/access");
  if (access.auth && !access.scope) {
    access = await askToken(token() ? "The saved token no longer opens this hub." : "This hub needs a token.");
  }
  ctx.access = access;
  document.body.classList.toggle("read-only", ctx.readOnly);
  document.getElementById("access").textContent = access.auth ? (ctx.readOnly ? "read-only token" : "admin token") : "";
  ctx.home.onUnauthorized = () => {
    askToken("The hub refused the token.").then((a) => {
      ctx.access = a;
      document.body.classList.toggle("read-only", ctx.readOnly);
      ctx.follow();
    });
  };
  try {
    const spaces = await ctx.home.get("/spaces");
    ctx.space = spaces.length ? spaces[0].name || spaces[0].id || spaces[0] : null;
  } catch {
    ctx.space = null;
  }
  ctx.useHub(ctx.space ? sessionStorage.getItem(HUB_KEY) || "" : "");
  document.getElementById("sign-out").addEventListener("click", () => {
    setToken("");
    location.reload();
  });
  document.getElementById("sign-out").hidden = !access.auth;
  nav();
  hubPicker();
  ctx.listen((kinds) => kinds.has("feed") && feedIndicator());
  ctx.follow();
  window.addEventListener("hashchange", render);
  render();
}

// For the end-to-end tests: drop the live connection as a network would.
window.weirDashboard = { dropFeed: () => ctx.feed?.drop(), context: ctx };

boot().catch((e) => {
  fill(document.getElementById("main"), h("p", { class: "error", role: "alert" }, `The dashboard could not start: ${e.message}`));
});
