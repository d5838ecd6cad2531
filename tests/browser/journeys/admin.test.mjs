// Journey 3: an administrator with API Credentials: Can Edit rotates, renames
// and deletes, following the guide; the primary cannot be deleted.
import { test } from "node:test";
import assert from "node:assert/strict";

import { assertAccessible, openBrowser, openCredentials, secretIn, signIn, useKeyward } from "../lib/browser.mjs";
import { card, createCredential, fromMenu } from "../lib/steps.mjs";

const setup = useKeyward({ browser: true });

test("3. Admin (Can Edit): rotate, rename, delete; Delete is unavailable on the primary", async () => {
  const { page } = setup.browser;
  await signIn(page, setup.server.base, "admin@acme.test");
  await openCredentials(page);
  const { clientId, secret } = await createCredential(page, "Settlement worker");

  // Rotate: the ... menu > Rotate Credential > confirm; a new secret, the same Client ID.
  await fromMenu(page, "Settlement worker", "Rotate Credential");
  const confirm = page.getByRole("dialog", { name: "Rotate Credential" });
  await confirm.waitFor();
  await assertAccessible(page, "Rotate Credential confirmation");
  await confirm.getByRole("button", { name: "Rotate Credential" }).click();
  const reveal = page.getByRole("dialog", { name: "Credential rotated" });
  await reveal.waitFor();
  const text = await reveal.innerText();
  const rotated = secretIn(text);
  assert.ok(rotated);
  assert.notEqual(rotated, secret, "the new secret differs");
  assert.ok(text.includes(clientId), "the Client ID is unchanged");
  await assertAccessible(page, "rotation reveal");
  await reveal.getByRole("link", { name: "Close" }).click();
  await reveal.waitFor({ state: "detached" });

  // Edit > rename > Save.
  await fromMenu(page, "Settlement worker", "Edit");
  const edit = page.getByRole("dialog", { name: "Edit credential" });
  await edit.waitFor();
  await assertAccessible(page, "Edit dialog");
  await edit.getByLabel("Credential name").fill("Settlement service");
  await edit.getByRole("button", { name: "Save" }).click();
  await edit.waitFor({ state: "detached" });
  await card(page, "Settlement service").waitFor();
  assert.ok((await card(page, "Settlement service").innerText()).includes(clientId));

  // Delete a non-primary credential after confirming.
  await fromMenu(page, "Settlement service", "Delete");
  const del = page.getByRole("dialog", { name: "Delete credential" });
  await del.waitFor();
  await assertAccessible(page, "Delete confirmation");
  await del.getByRole("button", { name: "Delete" }).click();
  await del.waitFor({ state: "detached" });
  await page.getByRole("status").filter({ hasText: "deleted" }).waitFor();
  assert.equal(await card(page, "Settlement service").count(), 0);
  await page.reload();
  assert.equal(await card(page, "Settlement service").count(), 0, "gone after a reload too");

  // The primary's menu offers Delete only as a disabled item with the reason.
  const primary = page.getByRole("listitem").filter({ has: page.getByText("Primary", { exact: true }) });
  const name = (await primary.getByRole("heading").first().innerText()).split("\n")[0].replace(/\s*Primary.*$/, "").trim();
  await page.getByRole("button", { name: `Actions for ${name}` }).click();
  const del2 = page.getByRole("button", { name: "Delete", exact: true });
  assert.equal(await del2.isDisabled(), true);
  const reason = await del2.evaluate((b) => document.getElementById(b.getAttribute("aria-describedby")).textContent);
  assert.match(reason, /primary/i);
  assert.equal(await page.getByRole("link", { name: "Delete", exact: true }).count(), 0);
  await assertAccessible(page, "action menu of the primary");
  await page.keyboard.press("Escape");
});
