// Journey 5: keyboard only. Every step below is Tab, Shift+Tab, Enter, Space,
// Escape or typing; focus enters each dialog and returns to where it came from.
import { test } from "node:test";
import assert from "node:assert/strict";

import { PASSWORD } from "../lib/server.mjs";
import { openBrowser, secretIn, useKeyward } from "../lib/browser.mjs";
import { card } from "../lib/steps.mjs";

const setup = useKeyward({ browser: true });

const focused = (locator) => locator.evaluate((el) => el === document.activeElement);

/** Focus lands on `locator` (allowing htmx a moment to settle the list). */
async function expectFocus(locator, message) {
  for (let i = 0; i < 40; i++) {
    if ((await locator.count()) === 1 && (await focused(locator))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  const where = await locator.page().evaluate(() => document.activeElement?.outerHTML.slice(0, 160));
  assert.fail(`${message}; focus is on ${where}`);
}

/** Presses Tab until `locator` has focus (at most `limit` times). */
async function tabTo(page, locator, limit = 80) {
  for (let i = 0; i < limit; i++) {
    if ((await locator.count()) === 1 && (await focused(locator))) return;
    await page.keyboard.press("Tab");
  }
  assert.fail(`Tab never reached ${locator}`);
}

async function focusIsIn(page, dialog) {
  assert.equal(await dialog.evaluate((d) => d.contains(document.activeElement)), true, "focus is inside the dialog");
  // And stays there: a modal dialog keeps Tab inside it.
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press("Tab");
    const inside = await dialog.evaluate((d) => d.contains(document.activeElement) || document.activeElement === document.body);
    assert.equal(inside, true, "Tab stays inside the open dialog");
  }
}

test("5. Keyboard only: sign in, create, copy, rotate, rename, delete", async () => {
  const { page } = setup.browser;
  await page.goto(`${setup.server.base}/login`);
  await tabTo(page, page.getByLabel("Email"));
  await page.keyboard.type("owner@acme.test");
  await page.keyboard.press("Tab");
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press("Enter");
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));

  // Settings > Credentials.
  const nav = page.getByRole("navigation", { name: "Main" });
  await tabTo(page, nav.getByRole("link", { name: "Credentials" }));
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { level: 1, name: "Credentials" }).waitFor();

  // New Credential: Enter opens the dialog with focus inside it.
  const newButton = page.getByRole("link", { name: "New Credential" });
  await tabTo(page, newButton);
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog", { name: "New Credential" });
  await dialog.waitFor();
  await focusIsIn(page, dialog);
  await tabTo(page, dialog.getByLabel("Credential name"), 30);
  await page.keyboard.type("Keyboard client");
  await tabTo(page, dialog.getByRole("button", { name: "Save & Generate Key" }), 60);
  await page.keyboard.press("Enter");

  // The reveal: focus inside; Space on Copy Secret; Escape closes and focus returns.
  const reveal = page.getByRole("dialog", { name: "Credential created" });
  await reveal.waitFor();
  assert.equal(await reveal.evaluate((d) => d.contains(document.activeElement)), true);
  const secret = secretIn(await reveal.innerText());
  await tabTo(page, reveal.getByRole("button", { name: "Copy Secret" }), 10);
  await page.keyboard.press("Space");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await page.keyboard.press("Escape");
  await reveal.waitFor({ state: "detached" });
  await expectFocus(newButton, "focus returns to New Credential");
  assert.ok(!(await page.content()).includes(secret));

  // Rotate Credential through the ... menu: Enter opens it, Tab reaches the item.
  const menuButton = page.getByRole("button", { name: "Actions for Keyboard client" });
  await tabTo(page, menuButton);
  await page.keyboard.press("Enter");
  await tabTo(page, page.getByRole("link", { name: "Rotate Credential" }), 10);
  await page.keyboard.press("Enter");
  const confirm = page.getByRole("dialog", { name: "Rotate Credential" });
  await confirm.waitFor();
  await focusIsIn(page, confirm);
  await tabTo(page, confirm.getByRole("button", { name: "Rotate Credential" }), 10);
  await page.keyboard.press("Enter");
  const rotated = page.getByRole("dialog", { name: "Credential rotated" });
  await rotated.waitFor();
  const newSecret = secretIn(await rotated.innerText());
  assert.notEqual(newSecret, secret);
  await tabTo(page, rotated.getByRole("link", { name: "Close" }), 10);
  await page.keyboard.press("Enter");
  await rotated.waitFor({ state: "detached" });
  await expectFocus(page.getByRole("button", { name: "Actions for Keyboard client" }), "focus returns to the menu button");

  // Edit > rename > Save (Enter in the name field submits).
  await page.keyboard.press("Enter");
  await tabTo(page, page.getByRole("link", { name: "Edit", exact: true }), 10);
  await page.keyboard.press("Enter");
  const edit = page.getByRole("dialog", { name: "Edit credential" });
  await edit.waitFor();
  await focusIsIn(page, edit);
  await tabTo(page, edit.getByLabel("Credential name"), 30);
  await page.keyboard.press("Control+A");
  await page.keyboard.type("Keyboard service");
  await page.keyboard.press("Enter");
  await edit.waitFor({ state: "detached" });
  await card(page, "Keyboard service").waitFor();
  const renamedButton = page.getByRole("button", { name: "Actions for Keyboard service" });
  await expectFocus(renamedButton, "focus returns to the renamed card's menu button");

  // Escape on a confirmation cancels it and returns focus.
  await page.keyboard.press("Enter");
  await tabTo(page, page.getByRole("link", { name: "Delete", exact: true }), 10);
  await page.keyboard.press("Enter");
  const del = page.getByRole("dialog", { name: "Delete credential" });
  await del.waitFor();
  await page.keyboard.press("Escape");
  await del.waitFor({ state: "detached" });
  await expectFocus(renamedButton, "Escape returns focus to the menu button");

  // Delete, confirmed with Space.
  await page.keyboard.press("Enter");
  await tabTo(page, page.getByRole("link", { name: "Delete", exact: true }), 10);
  await page.keyboard.press("Enter");
  await del.waitFor();
  await tabTo(page, del.getByRole("button", { name: "Delete" }), 10);
  await page.keyboard.press("Space");
  await del.waitFor({ state: "detached" });
  await page.getByRole("status").filter({ hasText: "Deleted" }).waitFor();
  assert.equal(await card(page, "Keyboard service").count(), 0);
  await expectFocus(newButton, "with its card gone, focus goes to New Credential");

  // Journey 2 by keyboard: create until the limit; the disabled button is explained.
  for (const name of ["Keyboard two", "Keyboard three"]) {
    await tabTo(page, newButton);
    await page.keyboard.press("Enter");
    await dialog.waitFor();
    await tabTo(page, dialog.getByLabel("Credential name"), 30);
    await page.keyboard.type(name);
    await page.keyboard.press("Enter");
    const shown = page.getByRole("dialog", { name: "Credential created" });
    await shown.waitFor();
    await page.keyboard.press("Escape");
    await shown.waitFor({ state: "detached" });
  }
  const disabled = page.getByRole("button", { name: "New Credential" });
  assert.equal(await disabled.isDisabled(), true);
  await expectFocus(page.getByRole("main"), "at the limit focus goes to the main region, not the disabled button");
});
