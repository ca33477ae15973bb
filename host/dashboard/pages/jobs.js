// Render jobs: the jobs table (multi-select with shift/ctrl, bulk actions,
// priority edited in place), submitting a job, and one job: settings,
// timings, errors, blocklist, a live preview of every frame, the task grid
// with each task's worker and log, and the artifacts.

import { readText } from "../api.js";
import { Tail, act, actionForm, badge, bytes, card, field, fill, h, ms, parseJson, progressBar, table, toast, when } from "../ui.js";

export function mount(root, ctx, params) {
  return params[0] ? detail(root, ctx, params[0]) : list(root, ctx);
}

const ACTIONS = ["cancel", "pause", "resume", "requeue"];

/** Whether a control means anything for a job in its state now. */
function applies(action, job) {
  const open = ["queued", "active", "paused"].includes(job.state);
  switch (action) {
    case "cancel":
      return open;
    case "pause":
      return job.state === "queued" || job.state === "active";
    case "resume":
      return job.state === "paused";
    default: // requeue: an ended job, or failed or canceled tasks of a running one
      return !open || (job.taskCounts?.failed ?? 0) + (job.taskCounts?.canceled ?? 0) > 0;
  }
}

function frames(spec) {
  if (spec === null || spec === undefined) return "–";
  return typeof spec === "string" ? spec : JSON.stringify(spec);
}

function list(root, ctx) {
  const selected = new Set();
  let anchor = null; // the id a shift-click extends from
  const holder = h("div", { id: "job-list" });
  const bulk = h("div", { class: "actions write", id: "bulk-actions" });
  const submitPanel = submitForm(ctx);
  root.append(h("h1", {}, "Render jobs"), submitPanel, card("Jobs", bulk, holder));

  function ordered() {
    return [...ctx.jobs.values()].sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)));
  }

  function select(job, event) {
    const rows = ordered().map((j) => j.id);
    if (event.shiftKey && anchor && rows.includes(anchor)) {
      const [from, to] = [rows.indexOf(anchor), rows.indexOf(job.id)].sort((a, b) => a - b);
      if (!(event.ctrlKey || event.metaKey)) selected.clear();
      rows.slice(from, to + 1).forEach((id) => selected.add(id));
    } else if (event.ctrlKey || event.metaKey || event.target.type === "checkbox") {
      selected.has(job.id) ? selected.delete(job.id) : selected.add(job.id);
      anchor = job.id;
    } else {
      selected.clear();
      selected.add(job.id);
      anchor = job.id;
    }
    draw();
  }

  async function runBulk(action, button) {
    const ids = [...selected].filter((id) => ctx.jobs.has(id));
    if (!ids.length) return;
    if (action === "delete" && !confirm(`Delete ${ids.length} job(s) and their artifacts?`)) return;
    button.disabled = true;
    const failures = [];
    for (const id of ids) {
      try {
        if (action === "delete") {
          await ctx.api.call("DELETE", `/jobs/${encodeURIComponent(id)}`);
          ctx.jobs.delete(id);
          selected.delete(id);
        } else {
          const job = await ctx.api.call("POST", `/jobs/${encodeURIComponent(id)}/${action}`);
          if (job?.id) ctx.putJob(job);
        }
      } catch (e) {
        failures.push(`${ctx.jobs.get(id)?.name || id}: ${e.message}`);
      }
    }
    button.disabled = false;
    if (failures.length) toast(failures.join("\n"), "error");
    else toast(`${action}: ${ids.length} job(s)`);
    ctx.changed("job");
  }

  function priorityInput(job) {
    const input = h("input", {
      type: "number",
      class: "priority",
      value: job.priority,
      "aria-label": `priority of ${job.name}`,
      disabled: ctx.readOnly,
      onclick: (e) => e.stopPropagation(),
      onchange: async () => {
        const priority = Number(input.value);
        await act(input, async () => {
          const updated = await ctx.api.call("PATCH", `/jobs/${encodeURIComponent(job.id)}`, { priority });
          ctx.putJob(updated);
        }, `priority of ${job.name}: ${priority}`);
      },
    });
    return input;
  }

  function draw() {
    const jobs = ordered();
    for (const id of [...selected]) if (!ctx.jobs.has(id)) selected.delete(id);
    fill(
      bulk,
      h("span", { class: "muted" }, selected.size ? `${selected.size} selected` : "select jobs (click, shift-click, ctrl-click) for"),
      [...ACTIONS, "delete"].map((action) =>
        h(
          "button",
          {
            class: action === "delete" || action === "cancel" ? "danger" : "",
            disabled: !selected.size,
            dataset: { action },
            onclick: (e) => runBulk(action, e.currentTarget),
          },
          action,
        ),
      ),
    );
    // Keep the focus (and a priority being typed) across redraws.
    const focused = document.activeElement?.closest?.("tr")?.dataset?.id;
    const editing = document.activeElement?.classList?.contains("priority");
    if (editing) return;
    fill(
      holder,
      table(
        [
          [
            h("span", { class: "visually-hidden" }, "selected"),
            (j) =>
              h("input", {
                type: "checkbox",
                checked: selected.has(j.id),
                "aria-label": `select ${j.name}`,
                onclick: (e) => {
                  e.stopPropagation();
                  select(j, e);
                },
              }),
          ],
          ["name", (j) => h("a", { href: `#/jobs/${encodeURIComponent(j.id)}`, onclick: (e) => e.stopPropagation() }, j.name || j.id)],
          ["package", (j) => j.package?.name || "–"],
          ["state", (j) => badge(j.state)],
          ["progress", (j) => progressBar(j.progress)],
          ["frames", (j) => `${j.framesDone}/${j.framesTotal}`],
          ["priority", (j) => priorityInput(j)],
          ["tags", (j) => (j.tags || []).map((t) => h("span", { class: "tag" }, t))],
          ["updated", (j) => when(j.updatedAt)],
        ],
        jobs,
        {
          rowAttrs: (j) => ({
            class: selected.has(j.id) ? "selected" : "",
            dataset: { id: j.id, state: j.state },
            "aria-selected": selected.has(j.id) ? "true" : "false",
            onclick: (e) => select(j, e),
          }),
          empty: "no render jobs: submit one above",
        },
      ),
    );
    if (focused) holder.querySelector(`tr[data-id="${CSS.escape(focused)}"] input, tr[data-id="${CSS.escape(focused)}"] a`)?.focus();
  }

  draw();
  return { unmount: ctx.listen((kinds) => (kinds.has("job") || kinds.has("reset")) && draw()) };
}

function submitForm(ctx) {
  const pkg = h("select", { id: "job-package", required: true }, h("option", { value: "" }, "reading packages…"));
  const name = h("input", { id: "job-name", placeholder: "the package's name" });
  const framesInput = h("input", { id: "job-frames", value: "1-24", required: true, placeholder: "1-100, or 1-10,20" });
  const chunk = h("input", { id: "job-chunk", type: "number", min: 1, value: 4 });
  const priority = h("input", { id: "job-priority", type: "number", value: 50 });
  const tags = h("input", { id: "job-tags", placeholder: "gpu, blender (comma separated)" });
  const retries = h("input", { id: "job-retries", type: "number", min: 0, placeholder: "hub default" });
  const settings = h("textarea", { id: "job-settings", rows: 3, placeholder: '{"width": 320}', spellcheck: false });
  const submit = h("button", { type: "submit", class: "primary", id: "job-submit" }, "Submit job");
  const form = actionForm(
    { class: "form" },
    async () => {
      const body = {
        package: pkg.value,
        frames: framesInput.value.trim(),
        chunkSize: Number(chunk.value) || 1,
        priority: Number(priority.value) || 0,
        tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean),
      };
      if (name.value.trim()) body.name = name.value.trim();
      if (retries.value !== "") body.maxRetries = Number(retries.value);
      const given = parseJson(settings.value, "settings", undefined);
      if (given !== undefined) body.settings = given;
      const job = await ctx.api.call("POST", "/jobs", body);
      ctx.putJob(job);
      location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    },
    null,
    h("div", { class: "row" }, field("package", pkg), field("name", name), field("frames", framesInput), field("frames per task", chunk)),
    h("div", { class: "row" }, field("priority (higher first)", priority), field("tags", tags), field("retries per task", retries)),
    field("settings (JSON, over the package's [config])", settings),
    h("div", { class: "row" }, submit),
  );
  ctx.api
    .get("/sequences")
    .then((sequences) => {
      fill(
        pkg,
        h("option", { value: "" }, sequences.length ? "choose a package" : "no packages: upload one in Sequences"),
        sequences.map((s) => h("option", { value: s.id }, `${s.name || s.id} (${s.id.slice(0, 8)})`)),
      );
    })
    .catch((e) => fill(pkg, h("option", { value: "" }, e.message)));
  return h("details", { class: "card write", id: "submit-job" }, h("summary", {}, "Submit a render job"), form);
}

function detail(root, ctx, id) {
  const path = `/jobs/${encodeURIComponent(id)}`;
  const head = h("div", { id: "job-head" });
  const facts = h("div", { id: "job-facts" });
  const problems = h("div", { id: "job-problems" });
  const preview = h("div", { class: "preview", id: "job-preview", "aria-live": "polite" });
  const grid = h("div", { class: "task-grid", id: "task-grid", role: "grid", "aria-label": "tasks" });
  const artifacts = h("div", { id: "job-artifacts" });
  const footer = h("section", { class: "footer-panel", id: "task-panel", hidden: true });
  const log = new Tail(256 * 1024, { id: "job-log", "aria-label": "job log" });
  const images = new Map(); // artifact name → object URL
  const controller = new AbortController();
  let chosenTask = null;
  let index = [];
  let artifactsStale = true;

  root.append(
    h("p", {}, h("a", { href: "#/jobs" }, "← Render jobs")),
    head,
    h("div", { class: "grid" }, card("Settings and timings", facts), card("Errors and blocklist", problems)),
    card("Preview: every frame as it is rendered", preview),
    card("Tasks", h("p", { class: "muted" }, "Colour is the state; choose a task for its worker, attempts and log."), grid),
    card("Artifacts", artifacts),
    card("Job log", log.el),
    footer,
  );

  const job = () => ctx.jobs.get(id);

  function control(action) {
    return h(
      "button",
      {
        class: action === "cancel" ? "danger" : "",
        id: `job-${action}`,
        onclick: (e) =>
          act(e.currentTarget, async () => {
            const updated = await ctx.api.call("POST", `${path}/${action}`);
            if (updated?.id) ctx.putJob(updated);
            ctx.changed("job");
          }, `${action}: done`),
      },
      action,
    );
  }

  // The controls are made once and only shown or hidden as the job's state
  // changes: a button rebuilt between a press and its release would lose
  // the click (job events come several times a second while tasks run).
  const title = h("h1", {}, "Job ", h("code", {}, id));
  const status = h("div", { class: "row" });
  const controls = ACTIONS.map((action) => [action, control(action)]);
  const remove = h(
    "button",
    {
      class: "danger",
      id: "job-delete",
      onclick: (e) =>
        confirm("Delete this job and its artifacts?") &&
        act(e.currentTarget, async () => {
          await ctx.api.call("DELETE", path);
          ctx.jobs.delete(id);
          location.hash = "#/jobs";
        }, "deleted"),
    },
    "delete",
  );
  const bar = h("div", { class: "actions write", hidden: true }, controls.map(([, button]) => button), remove);
  head.append(title, status, bar);

  function drawHead() {
    const j = job();
    if (!j) {
      fill(status, h("p", { class: "muted" }, "reading…"));
      return;
    }
    fill(title, j.name || j.id, " ", badge(j.state));
    fill(status, h("div", { id: "job-progress", class: "grow" }, progressBar(j.progress)), h("span", { id: "job-frames-done" }, `${j.framesDone} of ${j.framesTotal} frames`));
    for (const [action, button] of controls) button.hidden = !applies(action, j);
    bar.hidden = false;
    const dl = (pairs) => h("dl", { class: "facts" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    fill(
      facts,
      dl([
        ["package", `${j.package?.name || "–"} (${(j.package?.digest || "").slice(0, 12)})`],
        ["frames", `${frames(j.frames)}, ${j.chunkSize} per task, ${j.tasksTotal} tasks`],
        ["tasks", Object.entries(j.taskCounts || {}).map(([s, n]) => `${n} ${s}`).join(", ")],
        ["priority", j.priority],
        ["tags", (j.tags || []).join(", ") || "–"],
        ["retries", `${j.maxRetries} per task; the job fails past ${j.failureThreshold}% failed tasks`],
        ["task time limit", ms(j.taskTimeoutMs)],
        ["settings", h("pre", { class: "json" }, JSON.stringify(j.settings ?? {}, null, 2))],
        ["created", when(j.createdAt)],
        ["started", when(j.startedAt)],
        ["finished", when(j.finishedAt)],
        ["updated", when(j.updatedAt)],
      ]),
    );
    const failures = Object.entries(j.workerFailures || {});
    fill(
      problems,
      (j.errors || []).length
        ? h("ul", { class: "errors" }, j.errors.map((e) => h("li", {}, typeof e === "string" ? e : JSON.stringify(e))))
        : h("p", { class: "muted" }, "no errors"),
      h("h3", {}, "Failed frames"),
      h("p", {}, (j.failedFrames || []).length ? j.failedFrames.join(", ") : "none"),
      h("h3", {}, "Failed tasks per worker"),
      failures.length ? h("ul", {}, failures.map(([w, n]) => h("li", {}, `${workerName(ctx, w)}: ${n}`))) : h("p", { class: "muted" }, "none"),
      h("h3", {}, "Blocklist"),
      (j.blocklist || []).length
        ? h(
            "ul",
            { id: "job-blocklist" },
            j.blocklist.map((w) =>
              h(
                "li",
                {},
                workerName(ctx, w),
                " ",
                h(
                  "button",
                  { class: "write", onclick: (e) => act(e.currentTarget, () => ctx.api.call("DELETE", `${path}/blocklist?worker=${encodeURIComponent(w)}`), "taken off the blocklist") },
                  "unblock",
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, "no worker is blocklisted for this job"),
    );
  }

  function drawTasks() {
    const tasks = ctx.tasks.get(id);
    if (!tasks) return;
    fill(
      grid,
      [...tasks.values()]
        .sort((a, b) => a.index - b.index)
        .map((t) =>
          h(
            "button",
            {
              class: `task state-${t.state}${chosenTask === t.index ? " chosen" : ""}`,
              title: `frames ${t.frameStart}–${t.frameEnd}: ${t.state}${t.worker ? ` on ${workerName(ctx, t.worker)}` : ""}`,
              dataset: { index: t.index, state: t.state },
              onclick: () => {
                chosenTask = t.index;
                drawTasks();
                drawFooter();
              },
            },
            h("span", {}, t.frameStart === t.frameEnd ? t.frameStart : `${t.frameStart}–${t.frameEnd}`),
            t.worker ? h("small", {}, workerName(ctx, t.worker)) : null,
          ),
        ),
    );
  }

  function drawFooter() {
    const t = chosenTask === null ? null : ctx.tasks.get(id)?.get(chosenTask);
    footer.hidden = !t;
    if (!t) return;
    const label = t.frameStart === t.frameEnd ? `${t.frameStart}` : `${t.frameStart}-${t.frameEnd}`;
    const lines = log.text
      .split("\n")
      .filter((line) => line.includes(`frames ${label} `) || line.includes(`[${label}]`));
    fill(
      footer,
      h(
        "div",
        { class: "row" },
        h("h2", {}, `Task ${t.index}: frames ${label}`),
        badge(t.state),
        h("span", {}, t.worker ? `worker ${workerName(ctx, t.worker)}` : "no worker yet"),
        h("span", {}, `attempt ${t.attempt}, ${t.failures?.length ?? 0} failures`),
        t.usage ? h("span", {}, `CPU ${ms(t.usage.cpuMs)}, peak ${bytes(t.usage.peakMemoryBytes)}, wall ${ms(t.usage.wallMs)}`) : null,
        h(
          "button",
          { class: "write", onclick: (e) => act(e.currentTarget, () => ctx.api.call("POST", `/tasks/${encodeURIComponent(t.id)}/requeue`), "queued again") },
          "render again",
        ),
        h("button", { onclick: () => ((chosenTask = null), drawTasks(), drawFooter()), "aria-label": "close the task panel" }, "×"),
      ),
      (t.failures || []).length ? h("ul", { class: "errors" }, t.failures.map((f) => h("li", {}, typeof f === "string" ? f : JSON.stringify(f)))) : null,
      h("pre", { class: "tail" }, lines.length ? lines.join("\n") : "no log lines for this task yet"),
    );
  }

  async function readArtifacts() {
    artifactsStale = false;
    try {
      index = await ctx.api.get(`${path}/artifacts`);
    } catch (e) {
      fill(artifacts, h("p", { class: "error", role: "alert" }, e.message));
      return;
    }
    index.sort((a, b) => (a.frame ?? 0) - (b.frame ?? 0) || a.name.localeCompare(b.name));
    // Images are fetched with the token and shown from blob: URLs; the hub
    // serves them with a CSP of their own, never as pages of this origin.
    for (const a of index) {
      if (!a.mediaType?.startsWith("image/") || a.mediaType.includes("svg") || images.has(a.name)) continue;
      images.set(a.name, null);
      ctx.api
        .raw("GET", `${path}/artifacts/${encodeURIComponent(a.name)}`, { signal: controller.signal })
        .then((r) => r.blob())
        .then((blob) => {
          images.set(a.name, URL.createObjectURL(blob));
          drawArtifacts();
        })
        .catch(() => images.delete(a.name));
    }
    drawArtifacts();
  }

  async function download(a, button) {
    await act(button, async () => {
      const response = await ctx.api.raw("GET", `${path}/artifacts/${encodeURIComponent(a.name)}`);
      const url = URL.createObjectURL(await response.blob());
      const link = h("a", { href: url, download: a.name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    });
  }

  function drawArtifacts() {
    const frames = index.filter((a) => images.get(a.name));
    fill(
      preview,
      frames.length
        ? frames.map((a) =>
            h(
              "figure",
              { dataset: { name: a.name } },
              h("img", { src: images.get(a.name), alt: `frame ${a.frame ?? a.name}`, loading: "lazy" }),
              h("figcaption", {}, a.frame ?? a.name),
            ),
          )
        : h("p", { class: "muted" }, "no frames yet"),
    );
    fill(
      artifacts,
      table(
        [
          ["name", (a) => a.name],
          ["frame", (a) => a.frame ?? "–"],
          ["type", (a) => a.mediaType],
          ["size", (a) => bytes(a.size)],
          ["sha256", (a) => h("code", { title: a.sha256 }, (a.sha256 || "").slice(0, 12))],
          ["", (a) => h("button", { onclick: (e) => download(a, e.currentTarget) }, "download")],
        ],
        index,
        { rowAttrs: (a) => ({ dataset: { name: a.name } }), empty: "no artifacts yet" },
      ),
    );
  }

  function followLog() {
    ctx.api
      .raw("GET", `${path}/log`, { signal: controller.signal })
      .then((response) =>
        readText(
          response,
          (text) => {
            log.append(text);
            if (chosenTask !== null) drawFooter();
          },
          controller.signal,
        ),
      )
      .catch((e) => e.name !== "AbortError" && log.append(`\n— ${e.message} —\n`));
  }

  async function start() {
    try {
      ctx.putJob(await ctx.api.get(path));
    } catch (e) {
      fill(status, h("p", { class: "error", role: "alert" }, e.message));
      return;
    }
    drawHead();
    await ctx.loadTasks(id).catch((e) => toast(e.message, "error"));
    drawTasks();
    readArtifacts();
    followLog();
  }

  drawHead();
  start();
  const unlisten = ctx.listen((kinds) => {
    if (kinds.has("job") || kinds.has("reset")) drawHead();
    if (kinds.has("task") || kinds.has("reset")) {
      drawTasks();
      drawFooter();
      artifactsStale = true;
    }
    if (kinds.has("reset")) ctx.loadTasks(id).catch(() => {});
  });
  // A completed task's artifacts are read at most twice a second.
  const timer = setInterval(() => artifactsStale && readArtifacts(), 500);
  return {
    unmount() {
      unlisten();
      clearInterval(timer);
      controller.abort();
      for (const url of images.values()) if (url) URL.revokeObjectURL(url);
    },
  };
}

export function workerName(ctx, id) {
  return ctx.workers.get(id)?.name || id;
}
