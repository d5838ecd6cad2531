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

/**
 * Focus is inside the open dialog, and Tab keeps it there: every Tab lands on
 * an element of the dialog, except that after the dialog's last element a
 * native modal <dialog> lets focus leave the page for the browser's own
 * controls (document.hasFocus() is false, nothing on the page has focus), as
 * Chromium does; the next Tab must then come back to the dialog's first element.
 */
async function focusIsIn(page, dialog) {
  const where = () =>
    dialog.evaluate((d) => {
      const active = document.activeElement;
      if (d.contains(active)) return { inside: true, at: [...d.querySelectorAll("*")].indexOf(active) };
      const browserUi = active === document.body && !document.hasFocus();
      return { inside: false, browserUi, html: active?.outerHTML.slice(0, 160) };
    });
  const start = await where();
  assert.equal(start.inside, true, `focus is inside the dialog, not on ${start.html}`);
  const stops = [start];
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press("Tab");
    const now = await where();
    assert.ok(now.inside || now.browserUi, `Tab ${i + 1} left the open dialog for ${now.html}`);
    stops.push(now);
  }
  // Leaving for the browser happens only after the dialog's last element,
  // and the Tab after it comes back to the dialog's first.
  const inside = stops.filter((s) => s.inside).map((s) => s.at);
  const first = Math.min(...inside);
  const last = Math.max(...inside);
  stops.forEach((stop, i) => {
    if (stop.inside) return;
    assert.ok(i > 0 && stops[i - 1].at === last, "focus left the page only after the dialog's last element");
    if (i + 1 < stops.length) assert.equal(stops[i + 1].at, first, "Tab from the browser's controls returns to the dialog's first element");
  });
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
