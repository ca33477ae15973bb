// Sequences: upload a package (drag and drop or a file picker, chunked
// with progress), start an instance with config, args and limits, delete.

import { uploadPackage } from "../api.js";
import { act, actionForm, bytes, card, field, fill, h, parseJson, table, toast, when } from "../ui.js";

export function mount(root, ctx) {
  const list = h("div", { id: "sequence-list" });
  const progress = h("progress", { max: 1, value: 0, hidden: true, id: "upload-progress" });
  const progressText = h("span", { class: "muted", id: "upload-status", "aria-live": "polite" });
  const picker = h("input", {
    type: "file",
    accept: ".tar.gz,.tgz,application/gzip",
    id: "package-file",
    class: "visually-hidden",
    onchange: () => picker.files[0] && upload(picker.files[0]),
  });
  const zone = h(
    "div",
    {
      class: "drop-zone write",
      id: "drop-zone",
      tabindex: 0,
      role: "button",
      "aria-label": "upload a package: drop a .tar.gz here or press Enter to choose one",
      onclick: () => picker.click(),
      onkeydown: (e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), picker.click()),
      ondragover: (e) => {
        e.preventDefault();
        zone.classList.add("dragging");
      },
      ondragleave: () => zone.classList.remove("dragging"),
      ondrop: (e) => {
        e.preventDefault();
        zone.classList.remove("dragging");
        const file = e.dataTransfer.files[0];
        if (file) upload(file);
      },
    },
    h("strong", {}, "Drop a package (.tar.gz) here"),
    h("span", {}, " or click to choose one. Large packages go up in chunks."),
    picker,
  );
  const starter = h("div", { id: "start-panel" });
  root.append(
    h("h1", {}, "Sequences"),
    card("Upload", zone, h("div", { class: "row" }, progress, progressText)),
    starter,
    card("Packages", list),
  );

  let sequences = [];

  async function read() {
    try {
      sequences = await ctx.api.get("/sequences");
      draw();
    } catch (e) {
      fill(list, h("p", { class: "error", role: "alert" }, e.message));
    }
  }

  async function upload(file) {
    progress.hidden = false;
    progress.value = 0;
    try {
      const reply = await uploadPackage(ctx.api, file, {
        onProgress: (done, total, phase) => {
          progress.value = total ? done / total : 1;
          progressText.textContent = `${phase} ${file.name}: ${bytes(done)} of ${bytes(total)}`;
        },
      });
      progressText.textContent = `uploaded ${file.name} as sequence ${reply.id}`;
      toast(`uploaded ${file.name}`);
      await read();
    } catch (e) {
      progressText.textContent = `${file.name}: ${e.message}`;
      progressText.classList.add("error");
      toast(e.message, "error");
    } finally {
      progress.hidden = true;
      picker.value = "";
    }
  }

  function startForm(sequence) {
    const config = h("textarea", { rows: 3, id: "start-config", placeholder: '{"key": "value"}', spellcheck: false });
    const args = h("input", { id: "start-args", placeholder: '["arg1", 2]', spellcheck: false });
    const memory = h("input", { type: "number", min: 1, id: "start-memory", placeholder: "package default" });
    const timeout = h("input", { type: "number", min: 1, id: "start-timeout", placeholder: "none" });
    const cpu = h("input", { type: "number", min: 1, id: "start-cpu", placeholder: "none" });
    const submit = h("button", { type: "submit", class: "primary" }, "Start");
    const form = actionForm(
      { class: "form" },
      async () => {
        const limits = {};
        if (memory.value) limits.memory = Number(memory.value);
        if (timeout.value) limits.timeoutMs = Number(timeout.value);
        if (cpu.value) limits.cpuMs = Number(cpu.value);
        const body = { appConfig: parseJson(config.value, "config", {}), args: parseJson(args.value, "args", []) };
        if (Object.keys(limits).length) body.limits = limits;
        const reply = await ctx.api.call("POST", `/sequence/${encodeURIComponent(sequence.id)}/start`, body);
        location.hash = `#/instances/${encodeURIComponent(reply.id)}`;
      },
      null,
      field("config (JSON, the sequence's appConfig)", config),
      field("args (JSON array)", args),
      h("div", { class: "row" }, field("memory (MiB)", memory), field("time limit (ms)", timeout), field("CPU limit (ms)", cpu)),
      h("div", { class: "row" }, submit, h("button", { type: "button", onclick: () => starter.replaceChildren() }, "Cancel")),
    );
    fill(starter, card(`Start ${sequence.name || sequence.id}`, form));
    config.focus();
  }

  async function remove(sequence, button) {
    const known = (sequence.instances || []).length;
    if (!confirm(`Delete ${sequence.name || sequence.id}?${known ? ` ${known} instance(s) of it are running.` : ""}`)) return;
    const path = `/sequence/${encodeURIComponent(sequence.id)}`;
    button.disabled = true;
    try {
      await ctx.api.call("DELETE", path);
      toast("deleted");
    } catch (e) {
      // 409: the hub says why (its instances run); offer to kill them first.
      toast(`${sequence.name || sequence.id}: ${e.message}`, "error");
      if (e.status === 409 && confirm(`The hub refused: ${e.message}.\nKill its instances and delete it?`)) {
        await act(null, () => ctx.api.call("DELETE", path, undefined, { headers: { "x-seq-kill-inst": "true" } }), "instances killed, sequence deleted");
      }
    } finally {
      button.disabled = false;
    }
    read();
  }

  function draw() {
    fill(
      list,
      table(
        [
          ["name", (s) => h("strong", {}, s.name || "–")],
          ["id", (s) => h("code", {}, s.id)],
          ["kind", (s) => s.config?.world || s.config?.kind || s.config?.type || "–"],
          ["instances", (s) => (s.instances || []).length],
          ["uploaded", (s) => when(s.created)],
          [
            "",
            (s) =>
              h(
                "div",
                { class: "actions write" },
                h("button", { class: "primary", onclick: () => startForm(s) }, "Start…"),
                h("button", { class: "danger", onclick: (e) => remove(s, e.currentTarget) }, "Delete"),
              ),
          ],
        ],
        sequences,
        { rowAttrs: (s) => ({ dataset: { id: s.id, name: s.name || "" } }), empty: "no packages yet: drop one above" },
      ),
    );
  }

  read();
  const unlisten = ctx.listen((kinds) => kinds.has("instance") && read());
  return { unmount: unlisten };
}
