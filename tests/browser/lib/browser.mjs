// Headless Chromium (Debian's package) driven by playwright-core, with what
// every journey needs: signing in, the accessibility check, capturing every
// HTML page and fragment for the Nu HTML checker, and screenshots.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { chromium } from "playwright-core";

import { PASSWORD, startKeyward } from "./server.mjs";

export const ROOT = resolve(import.meta.dirname, "../../..");
export const OUT = process.env.BROWSER_OUT ?? join(ROOT, "target/browser");
export const HTML_DIR = join(OUT, "html");
export const SCREENSHOTS = join(ROOT, "docs/screenshots");
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A browser profile of its own (kept on disk, so its cache can be searched). */
export async function openBrowser(base, options = {}) {
  const profile = mkdtempSync(join(tmpdir(), "keyward-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: FLAGS,
    headless: true,
    viewport: options.viewport ?? { width: 1280, height: 900 },
    colorScheme: options.colorScheme ?? "light",
    javaScriptEnabled: options.javaScriptEnabled ?? true,
    permissions: options.javaScriptEnabled === false ? [] : ["clipboard-read", "clipboard-write"],
  });
  context.setDefaultTimeout(10_000);
  const capture = captureHtml(context, base);
  const page = context.pages()[0] ?? (await context.newPage());
  // Closing an uncopied reveal or a changed form asks with confirm(). A
  // journey that is not about that answers OK, and the questions asked are
  // kept (`asked`); one that is sets `answer` to decide itself.
  const browser = {
    asked: [],
    answer: null,
  };
  page.on("dialog", async (dialog) => {
    browser.asked.push(dialog.message());
    const accept = browser.answer ? browser.answer(dialog.message()) : true;
    await (accept ? dialog.accept() : dialog.dismiss());
  });
  let closed = false;
  return Object.assign(browser, {
    context,
    page,
    profile,
    /**
     * Saves every HTML body received so far, then closes the browser; the
     * profile stays on disk (for a journey that searches it). Throws if a
     * body could not be read: a page the journey loaded must reach vnu.
     */
    async closeContext() {
      if (closed) return;
      closed = true;
      try {
        await capture.settle();
      } finally {
        await context.close();
      }
    },
    async close() {
      try {
        await browser.closeContext();
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    },
  });
}

/** How many HTML bodies this process saved for vnu (new ones, and ones seen already). */
export const captured = { saved: 0, duplicates: 0 };
const seen = new Set();
/**
 * Saves every HTML body the server sends (pages and htmx fragments) for vnu.
 * Each body is read as its response arrives; `settle()` waits for every read
 * still under way and throws, naming them, if any body could not be read.
 */
function captureHtml(context, base) {
  mkdirSync(HTML_DIR, { recursive: true });
  const pending = new Set();
  const unread = [];
  context.on("response", (response) => {
    const url = response.url();
    const type = response.headers()["content-type"] ?? "";
    if (!url.startsWith(base) || !type.startsWith("text/html") || response.status() >= 300 && response.status() < 400) return;
    const saving = save(response).catch((error) => {
      unread.push(`${response.request().method()} ${url} (${response.status()}): ${error.message.split("\n")[0]}`);
    });
    pending.add(saving);
    saving.finally(() => pending.delete(saving));
  });
  return {
    async settle() {
      while (pending.size > 0) await Promise.all([...pending]);
      assert.deepEqual(unread, [], `${unread.length} HTML bodies could not be read for the Nu checker:\n${unread.join("\n")}`);
    },
  };
}

async function save(response) {
  const body = await response.text();
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 12);
  if (seen.has(hash)) {
    captured.duplicates++;
    return;
  }
  seen.add(hash);
  const url = response.url();
  const fragment = response.request().headers()["hx-request"] === "true";
  const path = new URL(url).pathname.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "") || "root";
  const name = `${fragment ? "fragment" : "page"}-${path}-${hash}.html`;
  // A fragment is checked as the body of a minimal document, as htmx places it.
  const document = fragment
    ? `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Fragment</title></head><body>\n${body}\n</body></html>\n`
    : body;
  writeFileSync(join(HTML_DIR, name), document);
  captured.saved++;
}

/**
 * axe "incomplete" results a person has reviewed on the pages themselves:
 * rule id / the reason axe gives (its messageKey) -> why it is not a
 * problem. Any other incomplete result fails the check like a violation.
 */
export const REVIEWED_INCOMPLETE = {};

/** What axe could not decide about one node: "rule/messageKey". */
function incompleteKey(rule, node) {
  const reasons = [...node.any, ...node.all, ...node.none]
    .map((check) => check.data?.messageKey)
    .filter(Boolean);
  return `${rule.id}/${reasons[0] ?? "(none)"}`;
}

/**
 * axe-core on the page as it is now (an open dialog included): no WCAG 2.1
 * A/AA violation, and nothing axe could not decide unless it is in
 * REVIEWED_INCOMPLETE. `label` names what was checked (see `checked`).
 */
export async function assertAccessible(page, label) {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  if (!(await page.evaluate(() => typeof window.axe !== "undefined"))) {
    await page.evaluate(AXE_SOURCE);
  }
  const results = await page.evaluate(() =>
    window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
      resultTypes: ["violations", "incomplete"],
    }),
  );
  const problems = results.violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => n.target.join(" ")).join("\n    ")}`,
  );
  for (const rule of results.incomplete) {
    const unreviewed = rule.nodes.filter((node) => !(incompleteKey(rule, node) in REVIEWED_INCOMPLETE));
    if (unreviewed.length > 0) {
      problems.push(
        `incomplete ${rule.id}: ${rule.help}\n    ${unreviewed
          .map((n) => `${n.target.join(" ")} [${incompleteKey(rule, n)}] ${n.failureSummary?.replace(/\s+/g, " ") ?? ""}`)
          .join("\n    ")}`,
      );
    }
  }
  assert.deepEqual(problems, [], `axe found problems on ${label}:\n${problems.join("\n")}`);
  checked.push(label);
}
/** The label of every page and dialog this process checked with axe, in order. */
export const checked = [];

export async function signIn(page, base, email) {
  await page.goto(`${base}/login`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));
}

/** Settings > Credentials, from the left navigation, as the guide says. */
export async function openCredentials(page) {
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "Settings" }).click();
  await nav.getByRole("link", { name: "Credentials" }).click();
  await page.getByRole("heading", { level: 1, name: "Credentials" }).waitFor();
}

export function shoot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return page.screenshot({ path: join(SCREENSHOTS, name) });
}

/** The secret in a text, if any (kws_test_ + 43 + 6 characters). */
export function secretIn(text) {
  return text.match(/kws_(?:test|live)_[A-Za-z0-9]{49}/)?.[0] ?? null;
}

/**
 * A fresh Keyward (demo data, its own database) for the test file, and with
 * `browser` one browser on it; both are stopped after the file's tests.
 */
export function useKeyward({ browser = false, env = () => ({}) } = {}) {
  const setup = {};
  before(async () => {
    setup.server = await startKeyward(await env());
    if (browser) setup.browser = await openBrowser(setup.server.base);
  });
  after(async () => {
    await setup.browser?.close();
    await setup.server?.stop();
  });
  return setup;
}
