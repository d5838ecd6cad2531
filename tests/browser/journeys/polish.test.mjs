// Nothing is lost by a stray key and every change is visible: closing an
// uncopied secret or a changed form asks first, fields with a limit count
// their characters, permissions read in plain language, and the card an
// action changed is highlighted beside a message that says what happened.
import { test } from "node:test";
import assert from "node:assert/strict";

import { openBrowser, openCredentials, signIn, useKeyward } from "../lib/browser.mjs";
import { card } from "../lib/steps.mjs";

const setup = useKeyward();

const UNCOPIED = "You have not copied the secret. Close anyway? It cannot be shown again.";

test("closing an uncopied secret or a changed form asks first; the new card is highlighted", async () => {
  const browser = await openBrowser(setup.server.base);
  const { page } = browser;
  try {
    await signIn(page, setup.server.base, "admin@acme.test");
    await openCredentials(page);
    await page.getByRole("link", { name: "New Credential" }).click();
    const dialog = page.getByRole("dialog", { name: "New Credential" });
    await dialog.waitFor();

    // A counter under each field with a limit.
    const name = dialog.getByLabel("Credential name");
    await name.fill("Ledger sync");
    await dialog.getByText("11 / 50").waitFor();
    // One access level per type of resource, in plain words.
    await dialog.getByLabel(/^Policies/).selectOption({ label: "Read" });

    // Escape and × with changes ask; staying keeps what was typed.
    browser.answer = () => false;
    await name.click();
    await page.keyboard.press("Escape");
    await dialog.getByRole("button", { name: "Dismiss" }).click();
    assert.deepEqual(browser.asked.splice(0), ["Discard your changes?", "Discard your changes?"]);
    assert.ok(await dialog.isVisible());
    assert.equal(await name.inputValue(), "Ledger sync");

    browser.answer = null;
    await dialog.getByRole("button", { name: "Save & Generate Key" }).click();
    const reveal = page.getByRole("dialog", { name: "Credential created" });
    await reveal.waitFor();
    await page.getByRole("status").filter({ hasText: "Created “Ledger sync”" }).waitFor();
    // The new card is marked, its permissions readable without hovering.
    await page.locator(".card.credential.changed").filter({ hasText: "Ledger sync" }).waitFor();
    const chips = await card(page, "Ledger sync").getByRole("list", { name: "Permissions of Ledger sync" }).innerText();
    assert.match(chips, /Policies: Read/);
    assert.match(chips, /Transactions: Read/);

    // Closing before copying the secret asks; staying keeps it on screen.
    browser.answer = () => false;
    await reveal.getByRole("link", { name: "Close" }).click();
    await reveal.getByRole("button", { name: "Dismiss" }).click();
    assert.deepEqual(browser.asked.splice(0), [UNCOPIED, UNCOPIED]);
    assert.ok(await reveal.getByText(/kws_(live|test)_/).isVisible());
    // Once copied, it closes without a question.
    await reveal.getByRole("button", { name: "Copy Secret" }).click();
    await reveal.getByRole("button", { name: "Copy Secret" }).filter({ hasText: "Copied" }).waitFor();
    await reveal.getByRole("link", { name: "Close" }).click();
    await reveal.waitFor({ state: "detached" });
    assert.deepEqual(browser.asked, []);

    // An unchanged form closes at once.
    await page.getByRole("link", { name: "New Credential" }).click();
    await dialog.waitFor();
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    assert.deepEqual(browser.asked, []);
  } finally {
    await browser.close();
  }
});
