// Journey 6: with JavaScript disabled, journeys 1 and 3 still complete
// through full pages (the same URLs htmx loads as dialogs). axe needs script
// in the page, so these full pages are checked in pages.test.mjs instead.
import { test } from "node:test";
import assert from "node:assert/strict";

import { openBrowser, openCredentials, secretIn, signIn, useKeyward } from "../lib/browser.mjs";
import { card } from "../lib/steps.mjs";

const setup = useKeyward();

async function withoutJs(run) {
  const browser = await openBrowser(setup.server.base, { javaScriptEnabled: false });
  try {
    await run(browser.page);
  } finally {
    await browser.close();
  }
}

test("6a. Without JavaScript: the owner creates a credential and sees it once", async () => {
  await withoutJs(async (page) => {
    await signIn(page, setup.server.base, "owner@acme.test");
    await openCredentials(page);
    await page.getByRole("link", { name: "New Credential" }).click();
    await page.waitForURL("**/settings/credentials/new");
    await page.getByLabel("Credential name").fill("No script client");
    await page.getByRole("button", { name: "Save & Generate Key" }).click();
    const reveal = page.getByRole("dialog", { name: "Credential created" });
    await reveal.waitFor();
    for (const field of ["Audience", "Client ID", "Secret"]) {
      await reveal.getByRole("term").filter({ hasText: new RegExp(`^${field}$`) }).waitFor();
    }
    const secret = secretIn(await reveal.innerText());
    assert.ok(secret);
    await reveal.getByRole("link", { name: "Close" }).click();
    await page.waitForURL((url) => url.pathname === "/settings/credentials");
    assert.ok(!(await page.content()).includes(secret));
    await card(page, "No script client").waitFor();
  });
});

test("6b. Without JavaScript: the admin rotates, renames and deletes", async () => {
  await withoutJs(async (page) => {
    await signIn(page, setup.server.base, "admin@acme.test");
    await openCredentials(page);
    const clientId = (await card(page, "No script client").innerText()).match(/kwid_[A-Za-z0-9]{22}/)[0];

    // The ... menu is a native popover: it opens without script.
    await page.getByRole("button", { name: "Actions for No script client" }).click();
    await page.getByRole("link", { name: "Rotate Credential" }).click();
    await page.waitForURL(`**/settings/credentials/${clientId}/rotate`);
    await page.getByRole("dialog", { name: "Rotate Credential" }).getByRole("button", { name: "Rotate Credential" }).click();
    const reveal = page.getByRole("dialog", { name: "Credential rotated" });
    await reveal.waitFor();
    const text = await reveal.innerText();
    assert.ok(secretIn(text));
    assert.ok(text.includes(clientId));
    await reveal.getByRole("link", { name: "Close" }).click();

    await page.getByRole("button", { name: "Actions for No script client" }).click();
    await page.getByRole("link", { name: "Edit", exact: true }).click();
    await page.getByLabel("Credential name").fill("No script service");
    await page.getByRole("button", { name: "Save" }).click();
    await page.waitForURL((url) => url.pathname === "/settings/credentials");
    await card(page, "No script service").waitFor();

    await page.getByRole("button", { name: "Actions for No script service" }).click();
    await page.getByRole("link", { name: "Delete", exact: true }).click();
    await page.getByRole("dialog", { name: "Delete credential" }).getByRole("button", { name: "Delete" }).click();
    await page.waitForURL((url) => url.pathname === "/settings/credentials");
    await page.getByRole("status").filter({ hasText: "Deleted" }).waitFor();
    assert.equal(await card(page, "No script service").count(), 0);
  });
});
