// Secrets leave no trace in the browser, and no page can be framed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

import { openBrowser, openCredentials, signIn, useKeyward } from "../lib/browser.mjs";
import { createCredential } from "../lib/steps.mjs";

const setup = useKeyward();

/** Every file under `dir` that contains `needle`, as bytes. */
function filesContaining(dir, needle) {
  const found = [];
  const bytes = Buffer.from(needle);
  const walk = (d) => {
    for (const entry of readdirSync(d)) {
      const path = join(d, entry);
      let stat;
      try {
        stat = statSync(path);
      } catch {
        continue; // a lock file that vanished
      }
      if (stat.isDirectory()) walk(path);
      else if (stat.isFile() && readFileSync(path).includes(bytes)) found.push(path);
    }
  };
  walk(dir);
  return found;
}

async function storageOf(page) {
  return page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
}

for (const javaScriptEnabled of [true, false]) {
  test(`after the reveal, sign-out and Back, the secret is nowhere in the browser (JavaScript ${javaScriptEnabled ? "on" : "off"})`, async () => {
    const browser = await openBrowser(setup.server.base, { javaScriptEnabled });
    const { page, context, profile } = browser;
    try {
      await signIn(page, setup.server.base, "owner@acme.test");
      await openCredentials(page);
      let secret;
      if (javaScriptEnabled) {
        ({ secret } = await createCredential(page, "Trace check"));
      } else {
        await page.getByRole("link", { name: "New Credential" }).click();
        await page.getByLabel("Credential name").fill("Trace check plain");
        await page.getByRole("button", { name: "Save & Generate Key" }).click();
        secret = (await page.content()).match(/kws_test_[A-Za-z0-9]{49}/)[0];
        await page.getByRole("link", { name: "Close" }).click();
      }
      const body = secret.slice(9);
      assert.ok(!(await page.content()).includes(body), "closed: not on the page");
      if (javaScriptEnabled) assert.ok(!(await storageOf(page)).includes(body), "not in Web Storage");

      await page.getByRole("button", { name: "Sign out" }).click();
      await page.waitForURL("**/login**");
      // Back through every page of the history down to the first Keyward page
      // (the entry before it is the new tab's about:blank): none shows the secret.
      const history = await context.newCDPSession(page);
      const position = async () => (await history.send("Page.getNavigationHistory")).currentIndex;
      const steps = (await position()) - 1;
      assert.ok(steps >= (javaScriptEnabled ? 2 : 4), `only ${steps} pages to go Back through`);
      for (let i = 1; i <= steps; i++) {
        const from = await position();
        await page.goBack();
        assert.equal(await position(), from - 1, `Back ${i} went one page back`);
        assert.ok(page.url().startsWith(setup.server.base), `Back ${i}: ${page.url()}`);
        assert.ok(!(await page.content()).includes(body), `Back ${i}: ${page.url()} shows the secret`);
        if (javaScriptEnabled) assert.ok(!(await storageOf(page)).includes(body), `Back ${i}: the secret is in Web Storage`);
      }
      // Nothing in the profile on disk: HTTP cache, back/forward state, storage.
      // A control first: a value the page did store is found by this search.
      const probe = `keyward-probe-${Date.now()}`;
      if (javaScriptEnabled) {
        await page.goto(`${setup.server.base}/login`);
        await page.evaluate((value) => localStorage.setItem("probe", value), probe);
      }
      await browser.closeContext(); // writes everything the profile keeps to disk
      if (javaScriptEnabled) assert.notDeepEqual(filesContaining(profile, probe), [], "the search finds what the profile stores");
      assert.deepEqual(filesContaining(profile, body), [], "the profile holds the secret");
    } finally {
      await browser.close();
    }
  });
}

test("every page refuses to be framed", async () => {
  const browser = await openBrowser(setup.server.base);
  const { page } = browser;
  // A page of another site (localhost, not 127.0.0.1: both on this machine,
  // so Chromium's local-network protection has no part in what happens) that
  // frames Keyward's pages, and counts its frames' load events.
  const paths = ["/login", "/settings/credentials", "/settings/credentials/new", "/settings/members", "/audit-log", "/settings/organization", "/account", "/no-such-page"];
  // A control: a Keyward page whose two framing headers Playwright's request
  // interception takes out must show in its frame, so the checks below are
  // ones that a framable page fails.
  const control = "/login?framing-control";
  const framer = createServer((request, response) => {
    const frames = [...paths, control].map((p) => `<iframe title="${p}" onload="window.loaded = (window.loaded || 0) + 1" src="${setup.server.base}${p}"></iframe>`);
    response.writeHead(200, { "content-type": "text/html" }).end(`<!DOCTYPE html><title>framer</title>${frames.join("")}`);
  });
  await new Promise((resolve) => framer.listen(0, "127.0.0.1", resolve));
  try {
    await signIn(page, setup.server.base, "owner@acme.test");
    for (const path of paths) {
      const response = await page.request.get(`${setup.server.base}${path}`);
      assert.equal(response.headers()["x-frame-options"], "DENY", path);
      assert.match(response.headers()["content-security-policy"], /frame-ancestors 'none'/, path);
    }
    await page.route(`${setup.server.base}${control}`, async (route) => {
      const response = await route.fetch();
      const headers = { ...response.headers() };
      delete headers["x-frame-options"];
      delete headers["content-security-policy"];
      await route.fulfill({ response, headers });
    });
    // Keyward's answers to the frames' requests, to know each was sent and answered.
    const answered = [];
    page.on("response", (response) => {
      if (response.frame() !== page.mainFrame() && response.url().startsWith(setup.server.base)) answered.push(response);
    });
    await page.goto(`http://localhost:${framer.address().port}/`);
    // Every frame has finished loading, blocked or not.
    await page.waitForFunction((count) => window.loaded === count, paths.length + 1);

    const frames = page.frames().filter((f) => f !== page.mainFrame());
    assert.equal(frames.length, paths.length + 1);
    const shown = async (frame) => frame.evaluate(() => document.body?.innerText ?? "");
    const controlFrame = frames.find((f) => f.url() === `${setup.server.base}${control}`);
    assert.ok(controlFrame, "the control frame shows its page");
    assert.match(await shown(controlFrame), /Keyward/, "without the headers the framed page shows");
    const blocked = frames.filter((f) => f !== controlFrame);
    for (const frame of blocked) {
      // Chromium's own error page stands in for a refused frame.
      assert.equal(frame.url(), "chrome-error://chromewebdata/", `a frame shows ${frame.url()}`);
      const text = await shown(frame);
      assert.doesNotMatch(text, /Keyward|Sign in|Credentials|Members|Audit log|not found/i, `a refused frame shows: ${text}`);
      assert.match(text, /refused to connect/);
    }
    // Each frame was refused on Keyward's final answer (after any redirect
    // to sign-in), not for want of one.
    const firstOf = (request) => (request.redirectedFrom() ? firstOf(request.redirectedFrom()) : request);
    for (const path of paths) {
      const url = `${setup.server.base}${path}`;
      const answer = answered.find((r) => firstOf(r.request()).url() === url && (r.status() < 300 || r.status() >= 400));
      assert.ok(answer, `Keyward answered the frame of ${path}`);
      assert.equal(answer.headers()["x-frame-options"], "DENY", path);
      assert.match(answer.headers()["content-security-policy"], /frame-ancestors 'none'/, path);
    }
  } finally {
    framer.close();
    await browser.close();
  }
});
