// Secrets leave no trace in the browser, and no page can be framed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
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
      // Back through every page of the history: none shows the secret.
      for (let i = 0; i < 6; i++) {
        const went = await page.goBack().catch(() => null);
        assert.ok(!(await page.content()).includes(body), `Back ${i + 1}: ${page.url()} shows the secret`);
        if (javaScriptEnabled) assert.ok(!(await storageOf(page).catch(() => "")).includes(body));
        if (!went) break;
      }
      // Nothing in the profile on disk: HTTP cache, back/forward state, storage.
      // A control first: a value the page did store is found by this search.
      const probe = `keyward-probe-${Date.now()}`;
      if (javaScriptEnabled) {
        await page.goto(`${setup.server.base}/login`);
        await page.evaluate((value) => localStorage.setItem("probe", value), probe);
      }
      await context.close(); // writes everything the profile keeps to disk
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
  try {
    await signIn(page, setup.server.base, "owner@acme.test");
    const paths = ["/login", "/settings/credentials", "/settings/credentials/new", "/settings/members", "/audit-log", "/settings/organization", "/account", "/no-such-page"];
    for (const path of paths) {
      const response = await page.request.get(`${setup.server.base}${path}`);
      assert.equal(response.headers()["x-frame-options"], "DENY", path);
      assert.match(response.headers()["content-security-policy"], /frame-ancestors 'none'/, path);
    }
    // And a page of another origin that tries it gets an empty frame.
    await page.route("http://framer.test/", (route) =>
      route.fulfill({
        contentType: "text/html",
        body: `<!DOCTYPE html><title>framer</title>${paths.map((p) => `<iframe src="${setup.server.base}${p}"></iframe>`).join("")}`,
      }),
    );
    await page.goto("http://framer.test/");
    await page.waitForTimeout(500);
    const frames = page.frames().filter((f) => f !== page.mainFrame());
    assert.equal(frames.length, paths.length);
    for (const frame of frames) {
      const text = await frame.evaluate(() => document.body?.innerText ?? "").catch(() => "");
      assert.ok(!/Sign in|Credentials|Members|Audit log/.test(text), `${frame.url()} rendered inside a frame`);
    }
  } finally {
    await browser.close();
  }
});
