// End-to-end test of the dashboard in headless Chromium (Playwright), run by
// tests/integration/dashboard.rs against a real `weir serve --token`.
//
// Environment: WEIR_URL, WEIR_TOKEN, WEIR_READ_TOKEN, HELLO_PKG,
// MANDELBROT_PKG, RENDER_TEST_PKG (packed .tar.gz files), CHROMIUM (the
// browser binary), PLAYWRIGHT (the playwright-core directory), SHOTS (where
// screenshots go). Exits non-zero with a message at the first failure.

import { createRequire } from "node:module";
import { readFileSync, mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import assert from "node:assert/strict";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = env("WEIR_URL");
const admin = env("WEIR_TOKEN");
const reader = env("WEIR_READ_TOKEN");
const shots = env("SHOTS");
mkdirSync(shots, { recursive: true });
const require = createRequire(join(env("PLAYWRIGHT"), "package.json"));
const { chromium } = require("playwright-core");

const TIMEOUT = 60_000;
const api = async (method, path, body, token = admin) => {
  const response = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
};

const step = (name) => console.log(`· ${name}`);
let shot = 0;
const screenshot = async (page, name) => {
  shot++;
  await page.screenshot({ path: join(shots, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
};

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const problems = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("console", (m) => m.type() === "error" && !/Failed to load resource/.test(m.text()) && problems.push(`console: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));

  step("the page is served with a strict CSP and asks for a token");
  const first = await page.goto(`${url}/`);
  const csp = first.headers()["content-security-policy"] || "";
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(first.headers()["x-content-type-options"], "nosniff");
  await page.locator("#token-dialog input").waitFor();
  await page.fill("#token-dialog input", "not-the-token");
  await page.click("#token-dialog button[type=submit]");
  await page.locator("#token-dialog .dialog-message", { hasText: /token/i }).waitFor();
  assert.equal(await page.locator("#token-dialog").isVisible(), true, "a wrong token keeps the dialog open");
  await page.fill("#token-dialog input", admin);
  await page.click("#token-dialog button[type=submit]");
  await page.locator("#token-dialog").waitFor({ state: "hidden" });
  await page.locator("#feed-state.feed-live").waitFor();
  await page.locator("#overview-status .stat").first().waitFor();
  await screenshot(page, "overview");

  step("upload a package with the file picker, and one by drag and drop");
  await page.click('#nav a[data-path="sequences"]');
  await page.setInputFiles("#package-file", env("HELLO_PKG"));
  await page.locator('#sequence-list tr[data-name="hello"]').waitFor();
  const bytes = readFileSync(env("MANDELBROT_PKG")).toString("base64");
  await page.evaluate(
    ({ bytes, name }) => {
      const data = Uint8Array.from(atob(bytes), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([data], name, { type: "application/gzip" }));
      document.querySelector("#drop-zone").dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    },
    { bytes, name: basename(env("MANDELBROT_PKG")) },
  );
  await page.locator('#sequence-list tr[data-name="mandelbrot"]').waitFor();

  step("a bad package shows the hub's own message");
  await page.setInputFiles("#package-file", { name: "broken.tar.gz", mimeType: "application/gzip", buffer: Buffer.from("this is not a gzip archive") });
  await page.locator("#upload-status.error").waitFor();
  const message = await page.locator("#upload-status").textContent();
  assert.doesNotMatch(message, /Error \d{3}|^\s*\d{3}\s*$/, "the message is the hub's, not a status code");
  assert.ok(message.length > 25, `a message a person can act on: ${message}`);
  await screenshot(page, "sequences");

  step("start an instance, send input, see the output");
  await page.click('#sequence-list tr[data-name="hello"] button.primary');
  await page.click("#start-panel button[type=submit]");
  await page.waitForURL(/#\/instances\/.+/);
  await page.click("#follow-output");
  await page.fill("#input-text", "world\nweir");
  await page.click("#send-end");
  await page.locator("#tail-output", { hasText: "Hello world!" }).waitFor();
  await page.locator("#tail-output", { hasText: "Hello weir!" }).waitFor();
  await page.locator("#instance-exit", { hasText: /^0: / }).waitFor();
  await screenshot(page, "instance");
  await page.click('#nav a[data-path="instances"]');
  await page.locator("#instance-list tbody tr").first().waitFor();
  await screenshot(page, "instances");

  step("an event reaches a running instance; deleting its sequence shows the hub's 409 reason");
  const hello = (await api("GET", "/sequences")).find((s) => s.name === "hello");
  const running = await api("POST", `/sequence/${hello.id}/start`, {});
  await page.goto(`${url}/#/instances/${running.id}`);
  await page.locator("#instance-state .badge", { hasText: "running" }).waitFor();
  await page.fill("#event-name", "ping");
  await page.fill("#event-message", '{"n": 1}');
  await page.click("form:has(#event-name) button[type=submit]");
  await page.locator(".toast", { hasText: "event sent" }).waitFor();
  await page.click('#nav a[data-path="sequences"]');
  const dialogs = [];
  const onDialog = (d) => {
    dialogs.push(d.message());
    dialogs.length === 1 ? d.accept() : d.dismiss();
  };
  page.on("dialog", onDialog);
  await page.click('#sequence-list tr[data-name="hello"] button.danger');
  await page.locator(".toast-error", { hasText: "Sequence in use" }).waitFor();
  page.off("dialog", onDialog);
  assert.match(dialogs[1] || "", /Sequence in use/, "the 409 reason, and an offer to kill the instances");
  await page.locator('#sequence-list tr[data-name="hello"]').waitFor();
  await api("POST", `/instance/${running.id}/_kill`, { removeImmediately: true });

  step("topics: create, peek, publish");
  await page.click('#nav a[data-path="topics"]');
  await page.fill("#new-topic", "dash-topic");
  await page.selectOption("#new-topic-type", "text/plain");
  await page.click('#topic-list ~ * button[type=submit], form:has(#new-topic) button[type=submit]');
  await page.locator('#topic-list tr[data-topic="dash-topic"]').waitFor();
  await page.click('#topic-list tr[data-topic="dash-topic"] button:text("Peek")');
  await page.fill("#publish-topic", "dash-topic");
  await page.fill("#publish-text", "hello from the dashboard");
  await page.click("form:has(#publish-text) button[type=submit]");
  await page.locator("#topic-peek", { hasText: "hello from the dashboard" }).waitFor();
  await screenshot(page, "topics");

  step("submit a mandelbrot job and watch it reach 100% with every frame shown");
  await page.click('#nav a[data-path="jobs"]');
  await page.click("#submit-job summary");
  const mandelbrot = await page.locator('#job-package option:text-matches("^mandelbrot")').getAttribute("value");
  await page.selectOption("#job-package", mandelbrot);
  await page.fill("#job-frames", "1-8");
  await page.fill("#job-chunk", "2");
  await page.fill("#job-settings", '{"width": 96,');
  await page.click("#job-submit");
  await page.locator(".toast-error", { hasText: "settings is not valid JSON" }).waitFor();
  assert.match(page.url(), /#\/jobs$/, "a bad form sends nothing and stays");
  await page.fill("#job-settings", '{"width": 96, "height": 64}');
  await page.click("#job-submit");
  await page.waitForURL(/#\/jobs\/.+/);
  const jobId = decodeURIComponent(page.url().split("#/jobs/")[1]);
  await page.locator("#job-frames-done", { hasText: "8 of 8 frames" }).waitFor();
  await page.locator("#job-progress .progress-label", { hasText: "100%" }).waitFor();
  await page.waitForFunction(() => {
    const images = [...document.querySelectorAll("#job-preview img")];
    return images.length === 8 && images.every((img) => img.complete && img.naturalWidth > 0);
  });
  await page.locator("#job-artifacts tbody tr").nth(7).waitFor();
  assert.equal(await page.locator("#job-artifacts tbody tr").count(), 8);
  await page.locator("#task-grid .task.state-completed").nth(3).waitFor();
  await page.click("#task-grid .task >> nth=0");
  await page.locator("#task-panel", { hasText: "completed on worker" }).waitFor();
  await screenshot(page, "job-completed");
  assert.equal((await api("GET", `/jobs/${jobId}`)).state, "completed");

  step("cancel a running job");
  await uploadRaw(env("RENDER_TEST_PKG"));
  const slow = await api("POST", "/jobs", { package: "render-test", frames: "1-20", name: "slow", settings: { spin_ms: 3000 } });
  await page.goto(`${url}/#/jobs/${slow.id}`);
  await page.locator("#task-grid .task.state-active").first().waitFor();
  await page.click("#job-cancel");
  try {
    await page.locator("#job-head .badge", { hasText: "canceled" }).waitFor();
  } catch (e) {
    const toasts = await page.locator("#toasts").textContent();
    const job = await api("GET", `/jobs/${slow.id}`);
    const head = await page.locator("#job-head").textContent();
    throw new Error(`${e.message}\npage head: ${head}\ntoasts: ${toasts}\njob: ${JSON.stringify(job)}`);
  }
  assert.equal((await api("GET", `/jobs/${slow.id}`)).state, "canceled");
  await screenshot(page, "job-canceled");

  step("jobs table: shift-click selects a range, priority is edited in place");
  await page.click('#nav a[data-path="jobs"]');
  await page.locator(`#job-list tr[data-id="${jobId}"]`).waitFor();
  await page.click(`#job-list tr[data-id="${jobId}"] td:nth-child(4)`);
  await page.click(`#job-list tr[data-id="${slow.id}"] td:nth-child(4)`, { modifiers: ["Shift"] });
  await page.locator("#bulk-actions", { hasText: "2 selected" }).waitFor();
  const priority = page.locator(`#job-list tr[data-id="${jobId}"] input.priority`);
  await priority.fill("77");
  await priority.press("Enter");
  await page.waitForFunction(({ id }) => {
    const job = window.weirDashboard.context.jobs.get(id);
    return job && job.priority === 77;
  }, { id: jobId });
  assert.equal((await api("GET", `/jobs/${jobId}`)).priority, 77);
  await screenshot(page, "jobs");

  step("a dropped event stream resumes with Last-Event-ID");
  const resumed = page.waitForRequest((r) => r.url().endsWith("/api/v1/events") && !!r.headers()["last-event-id"]);
  await page.evaluate(() => window.weirDashboard.dropFeed());
  await resumed;
  const late = await api("POST", "/jobs", { package: mandelbrot, frames: "1", name: "after-the-drop", settings: { width: 32, height: 32 } });
  await page.locator(`#job-list tr[data-id="${late.id}"]`).waitFor();

  step("workers: the farm at a glance, disable and enable a slot");
  await page.click('#nav a[data-path="workers"]');
  const slot = page.locator("#worker-list tbody tr").first();
  await slot.waitFor();
  const workerId = await slot.getAttribute("data-id");
  await slot.locator('button[data-status="disabled"]').click();
  await page.waitForFunction(({ id }) => window.weirDashboard.context.workers.get(id)?.status === "disabled", { id: workerId });
  assert.equal((await api("GET", `/workers/${workerId}`)).status, "disabled");
  await page.locator("#farm-glance .farm-asleep .stat-value", { hasText: /[1-9]/ }).waitFor();
  await screenshot(page, "workers");
  await page.locator(`#worker-list tr[data-id="${workerId}"] button[data-status="enabled"]`).click();
  await page.waitForFunction(({ id }) => window.weirDashboard.context.workers.get(id)?.status === "enabled", { id: workerId });

  step("keyboard: the drop zone and the navigation are reachable with Tab");
  await page.click('#nav a[data-path="sequences"]');
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement?.id === "drop-zone");
  }
  assert.ok(reached, "Tab reaches the upload drop zone");

  step("a phone-width screen shows every page without sideways scrolling");
  await page.setViewportSize({ width: 390, height: 844 });
  for (const path of ["", "sequences", "instances", "topics", "jobs", "workers"]) {
    await page.goto(`${url}/#/${path}`);
    await page.locator("#main h1").waitFor();
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `#/${path} is ${overflow}px wider than the screen`);
    await screenshot(page, `phone-${path || "overview"}`);
  }
  await page.goto(`${url}/#/jobs/${jobId}`);
  await page.locator("#job-preview img").first().waitFor();
  await screenshot(page, "phone-job");

  step("a read-only token gives a read-only page");
  const readOnly = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const view = await readOnly.newPage();
  view.setDefaultTimeout(TIMEOUT);
  await view.goto(`${url}/#/sequences`);
  await view.fill("#token-dialog input", reader);
  await view.click("#token-dialog button[type=submit]");
  await view.locator("#access", { hasText: "read-only" }).waitFor();
  await view.locator('#sequence-list tr[data-name="hello"]').waitFor();
  assert.equal(await view.locator("#drop-zone").isVisible(), false, "no upload for a read-only token");
  assert.equal(await view.locator('#sequence-list tr[data-name="hello"] button:visible').count(), 0, "no start or delete");
  await view.goto(`${url}/#/jobs/${jobId}`);
  await view.locator("#job-preview img").first().waitFor();
  assert.equal(await view.locator("#job-cancel").isVisible(), false, "no cancel for a read-only token");
  await screenshot(view, "read-only-job");
  await readOnly.close();
} finally {
  await browser.close();
}

async function uploadRaw(path) {
  const response = await fetch(`${url}/api/v1/sequence`, {
    method: "POST",
    headers: { Authorization: `Bearer ${admin}`, "Content-Type": "application/gzip" },
    body: readFileSync(path),
  });
  if (!response.ok) throw new Error(`upload ${path}: ${response.status} ${await response.text()}`);
}

assert.deepEqual(problems, [], "no script errors or CSP violations on any page");
console.log(`dashboard: every step passed, ${shot} screenshots in ${shots}`);
