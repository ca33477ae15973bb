// The dashboard of a hub in a Space (headless Chromium, Playwright), run by
// tests/integration/space.rs: the Space page lists every hub with its
// health, and choosing one shows every page as that hub, through the
// Space's forward route, live events included.
//
// Environment: WEIR_URL (the hub the page is opened on), SPACE, OTHER_HUB
// (another hub's id), OTHER_INSTANCE (an instance running on that hub),
// CHROMIUM, PLAYWRIGHT, SHOTS.

import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = env("WEIR_URL");
const other = env("OTHER_HUB");
const instance = env("OTHER_INSTANCE");
const shots = env("SHOTS");
mkdirSync(shots, { recursive: true });
const require = createRequire(join(env("PLAYWRIGHT"), "package.json"));
const { chromium } = require("playwright-core");

const browser = await chromium.launch({ executablePath: env("CHROMIUM"), headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(60_000);
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));

  console.log("· the Space page lists every hub with its health");
  await page.goto(`${url}/`);
  await page.locator('#nav a[data-path="space"]').click();
  await page.locator(`#space-hubs tr[data-hub="${other}"] .badge`, { hasText: "healthy" }).waitFor();
  assert.ok((await page.locator("#space-hubs tbody tr").count()) >= 2, "both hubs are listed");
  assert.match(await page.locator("#main h1").textContent(), new RegExp(env("SPACE")));
  await page.screenshot({ path: join(shots, "space.png"), fullPage: true });

  console.log("· this hub's instances do not include the other hub's");
  await page.locator('#nav a[data-path="instances"]').click();
  await page.locator("#instance-list").waitFor();
  await page.waitForTimeout(500);
  assert.equal(await page.locator(`#instance-list tr[data-id="${instance}"]`).count(), 0);

  console.log("· choosing the other hub shows its pages, live");
  await page.locator('#nav a[data-path="space"]').click();
  await page.locator(`#space-hubs tr[data-hub="${other}"] button`).click();
  await page.locator("#hub-picker select").waitFor();
  assert.equal(await page.locator("#hub-picker select").inputValue(), other);
  await page.locator("#feed-state.feed-live").waitFor();
  await page.locator('#nav a[data-path="instances"]').click();
  await page.locator(`#instance-list tr[data-id="${instance}"]`).waitFor();
  await page.click(`#instance-list tr[data-id="${instance}"] a`);
  await page.locator("#instance-state .badge", { hasText: "running" }).waitFor();
  await page.click("#instance-kill");
  await page.locator("#instance-state .badge", { hasText: /errored|completed/ }).waitFor();
  await page.screenshot({ path: join(shots, "space-other-hub-instance.png"), fullPage: true });

  console.log("· and back to this hub");
  await page.selectOption("#hub-picker select", "");
  await page.locator('#nav a[data-path="instances"]').click();
  await page.locator("#instance-list").waitFor();
  await page.waitForTimeout(500);
  assert.equal(await page.locator(`#instance-list tr[data-id="${instance}"]`).count(), 0);
} finally {
  await browser.close();
}
assert.deepEqual(problems, [], "no script errors");
console.log("space dashboard: every step passed");
