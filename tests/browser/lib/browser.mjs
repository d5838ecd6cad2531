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
  await capture.attach(page);
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
    /** Another tab, its HTML captured from its first request on. */
    async newPage() {
      const tab = await context.newPage();
      await capture.attach(tab);
      return tab;
    },
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
    /** closeContext(), then the profile is removed. */
    async close() {
      try {
        await browser.closeContext();
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    },
  });
}

const seen = new Set();
/**
 * Saves every HTML body the server sends (pages and htmx fragments) for vnu.
 *
 * Each page's responses from `base` are held at the DevTools protocol's
 * Fetch "Response" stage until their body is read, then passed on unchanged:
 * a body read later, from the response event, is lost once the page has
 * navigated on (Chromium drops a document's resources when the next one
 * commits). Every HTML response the browser reports is matched with a body
 * read so; `settle()` waits for the reads under way and throws, naming them,
 * if any response has no body (a body that could not be read, or a tab
 * whose capture was not in place yet: open tabs with `browser.newPage()`).
 */
function captureHtml(context, base) {
  mkdirSync(HTML_DIR, { recursive: true });
  const pending = new Set();
  const track = (promise) => {
    pending.add(promise);
    promise.finally(() => pending.delete(promise));
    return promise;
  };
  const read = new Map(); // "METHOD url" -> bodies read and not yet matched
  const failures = []; // bodies that were held but could not be read
  const responses = []; // HTML responses the browser reported, to match
  const attached = new WeakMap();

  const attach = (page) => {
    if (!attached.has(page)) {
      attached.set(page, track((async () => {
        const cdp = await context.newCDPSession(page);
        cdp.on("Fetch.requestPaused", (event) => track(hold(cdp, event)));
        const patterns = ["Document", "XHR"].map((resourceType) => ({ urlPattern: `${base}/*`, resourceType, requestStage: "Response" }));
        await cdp.send("Fetch.enable", { patterns });
      })()));
    }
    return attached.get(page);
  };

  async function hold(cdp, { requestId, request, responseStatusCode: status, responseHeaders = [] }) {
    try {
      const header = (name) => responseHeaders.find((h) => h.name.toLowerCase() === name)?.value ?? "";
      if (status === undefined || (status >= 300 && status < 400) || !header("content-type").startsWith("text/html")) return;
      const key = `${request.method} ${request.url}`;
      try {
        const { body, base64Encoded } = await cdp.send("Fetch.getResponseBody", { requestId });
        const hx = Object.entries(request.headers).some(([k, v]) => k.toLowerCase() === "hx-request" && v === "true");
        save(request.url, hx, base64Encoded ? Buffer.from(body, "base64").toString("utf8") : body);
        read.set(key, (read.get(key) ?? 0) + 1);
      } catch (error) {
        failures.push({ url: request.url, method: request.method, status, error: error.message.split("\n")[0] });
      }
    } finally {
      // The page may be gone by now, and the request with it.
      await cdp.send("Fetch.continueRequest", { requestId }).catch(() => {});
    }
  }

  context.on("page", attach);
  for (const page of context.pages()) attach(page);
  context.on("response", (response) => {
    const type = response.headers()["content-type"] ?? "";
    if (!response.url().startsWith(base) || !type.startsWith("text/html") || response.status() >= 300 && response.status() < 400) return;
    responses.push(response);
  });

  /** Every response reported so far that no body read matches, and every body that could not be read. */
  const unmatched = async () => {
    while (pending.size > 0) await Promise.all([...pending]);
    const missing = responses.splice(0).flatMap((response) => {
      const method = response.request().method();
      const key = `${method} ${response.url()}`;
      if ((read.get(key) ?? 0) > 0) {
        read.set(key, read.get(key) - 1);
        return [];
      }
      return [{ url: response.url(), method, status: response.status(), error: "its body was never held for reading" }];
    });
    return [...failures.splice(0), ...missing];
  };
  return {
    /** Resolves once `page` is captured from its next request on. */
    attach,
    async settle() {
      const list = (await unmatched()).map((u) => `${u.method} ${u.url} (${u.status}): ${u.error}`);
      assert.deepEqual(list, [], `${list.length} HTML bodies could not be read for the Nu checker:\n${list.join("\n")}`);
    },
  };
}

function save(url, fragment, body) {
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 12);
  if (seen.has(hash)) return;
  seen.add(hash);
  const path = new URL(url).pathname.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "") || "root";
  const name = `${fragment ? "fragment" : "page"}-${path}-${hash}.html`;
  // A fragment is checked as the body of a minimal document, as htmx places it.
  const document = fragment
    ? `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Fragment</title></head><body>\n${body}\n</body></html>\n`
    : body;
  writeFileSync(join(HTML_DIR, name), document);
}

/**
 * axe "incomplete" results (what axe could not decide) that a person has
 * reviewed on the pages themselves: each names its rule, the nodes it covers
 * and why they are fine. Any other incomplete result fails the check like a
 * violation does.
 */
export const REVIEWED_INCOMPLETE = [
  {
    rule: "label-content-name-mismatch",
    covers: (node) => /^[×…]$/.test(textOf(node.html)),
    reason:
      "A button whose only visible content is a symbol, named by aria-label: × (Dismiss) on every dialog, … (Actions for <credential>) on each card. " +
      "WCAG 2.5.3 is about text labels; a symbol is not one, so there is no visible text for the name to contain.",
  },
];

/** The text of an HTML snippet (an axe node's outerHTML), trimmed. */
function textOf(html) {
  return html.replace(/<[^>]*>/g, "").trim();
}

const AXE_OPTIONS = {
  runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
  resultTypes: ["violations", "incomplete"],
};

/** Why axe could not decide about a node (its checks' messageKey), if it says. */
function reasonOf(node) {
  return [...node.any, ...node.all, ...node.none].map((check) => check.data?.messageKey).find(Boolean) ?? "";
}

/**
 * axe-core on the page as it is now (an open dialog included): no WCAG 2.1
 * A/AA violation, and nothing axe could not decide unless REVIEWED_INCOMPLETE
 * covers it. `label` names what was checked (see `checked`).
 *
 * Text whose contrast axe cannot judge because something covers it
 * ("elmPartiallyObscured": what text scrolled out of view above a scrolling
 * dialog on a phone gets) is checked again scrolled into view, and that
 * check must decide: pass, or fail as a violation.
 */
export async function assertAccessible(page, label) {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  if (!(await page.evaluate(() => typeof window.axe !== "undefined"))) {
    await page.evaluate(AXE_SOURCE);
  }
  const results = await page.evaluate((options) => window.axe.run(document, options), AXE_OPTIONS);
  const violations = results.violations.flatMap((rule) => rule.nodes.map((node) => ({ rule, node })));
  let incomplete = results.incomplete.flatMap((rule) => rule.nodes.map((node) => ({ rule, node })));
  const outOfView = incomplete.filter(({ rule, node }) => rule.id === "color-contrast" && reasonOf(node) === "elmPartiallyObscured");
  if (outOfView.length > 0) {
    const again = await page.evaluate(
      async ({ targets, options }) => {
        const found = [];
        for (const target of targets) {
          const element = document.querySelector(target.join(" "));
          const scrolled = [];
          for (let box = element?.parentElement; box; box = box.parentElement) scrolled.push([box, box.scrollTop, box.scrollLeft]);
          const [x, y] = [window.scrollX, window.scrollY];
          element?.scrollIntoView({ block: "center", inline: "nearest" });
          const result = await window.axe.run({ include: [target] }, { ...options, runOnly: { type: "rule", values: ["color-contrast"] } });
          for (const [box, top, left] of scrolled) box.scrollTo(left, top);
          window.scrollTo(x, y);
          const judged = [...result.passes, ...result.violations, ...result.incomplete].some((rule) => rule.nodes.length > 0);
          found.push({ target, judged: Boolean(element) && judged, violations: result.violations, incomplete: result.incomplete });
        }
        return found;
      },
      { targets: outOfView.map(({ node }) => node.target), options: AXE_OPTIONS },
    );
    for (const { target, judged, violations: v, incomplete: i } of again) {
      assert.ok(judged, `axe checked ${target.join(" ")} again, scrolled into view`);
      violations.push(...v.flatMap((rule) => rule.nodes.map((node) => ({ rule, node }))));
      incomplete.push(...i.flatMap((rule) => rule.nodes.map((node) => ({ rule, node, inView: true }))));
    }
    incomplete = incomplete.filter((entry) => !outOfView.includes(entry));
  }
  const unreviewed = incomplete.filter(({ rule, node }) => !REVIEWED_INCOMPLETE.some((r) => r.rule === rule.id && r.covers(node)));
  const describe = (kind) => ({ rule, node, inView }) =>
    `${kind} ${rule.id} (${[node.impact, reasonOf(node)].filter(Boolean).join(", ")})${inView ? " scrolled into view" : ""}: ${rule.help}\n    ${node.target.join(" ")}: ${node.html.slice(0, 200)}\n      ${node.failureSummary?.replace(/\s+/g, " ") ?? ""}`;
  const problems = [...violations.map(describe("violation")), ...unreviewed.map(describe("incomplete, not reviewed:"))];
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
