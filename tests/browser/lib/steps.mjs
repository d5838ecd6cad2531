// Steps shared by several journeys, in the guide's words.
import assert from "node:assert/strict";

import { secretIn } from "./browser.mjs";

/** A credential's card, found by its name as a person finds it. */
export function card(page, name) {
  return page
    .getByRole("listitem")
    .filter({ has: page.getByRole("heading", { name: new RegExp(`^${name}\\b`) }) });
}

/** Opens the card's "..." action menu and selects `item`. */
export async function fromMenu(page, name, item) {
  await page.getByRole("button", { name: `Actions for ${name}` }).click();
  await page.getByRole("link", { name: item, exact: true }).click();
}

/** New Credential > name > Save & Generate Key > Close; returns { clientId, secret }. */
export async function createCredential(page, name) {
  await page.getByRole("link", { name: "New Credential" }).click();
  const dialog = page.getByRole("dialog", { name: "New Credential" });
  await dialog.getByLabel("Credential name").fill(name);
  await dialog.getByRole("button", { name: "Save & Generate Key" }).click();
  const reveal = page.getByRole("dialog", { name: "Credential created" });
  const text = await reveal.innerText();
  const result = { clientId: text.match(/kwid_[A-Za-z0-9]{22}/)[0], secret: secretIn(text) };
  assert.ok(result.secret);
  await reveal.getByRole("link", { name: "Close" }).click();
  await reveal.waitFor({ state: "detached" });
  return result;
}
