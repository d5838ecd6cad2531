// Journeys 1 and 2: the owner generates a credential exactly as the guide
// says, sees it once, copies it, and creates until the limit.
import { test } from "node:test";
import assert from "node:assert/strict";

import { assertAccessible, openBrowser, openCredentials, secretIn, shoot, signIn, useKeyward } from "../lib/browser.mjs";

const setup = useKeyward({ browser: true });

test("1. Owner: Settings > Credentials > New Credential > name > Save & Generate Key, shown once", async () => {
  const { page, context } = setup.browser;
  await signIn(page, setup.server.base, "owner@acme.test");
  await openCredentials(page);
  await assertAccessible(page, "Credentials page (owner)");
  await shoot(page, "credentials.png");

  await page.getByRole("link", { name: "New Credential" }).click();
  const dialog = page.getByRole("dialog", { name: "New Credential" });
  await dialog.waitFor();
  await dialog.getByLabel("Credential name").fill("Payments reconciliation");
  await assertAccessible(page, "New Credential dialog");
  await shoot(page, "new-credential.png");
  await dialog.getByRole("button", { name: "Save & Generate Key" }).click();

  const reveal = page.getByRole("dialog", { name: "Credential created" });
  await reveal.waitFor();
  for (const field of ["Audience", "Client ID", "Secret"]) {
    await reveal.getByRole("term").filter({ hasText: new RegExp(`^${field}$`) }).waitFor();
  }
  const secret = secretIn(await reveal.innerText());
  assert.ok(secret, "the reveal shows the secret");
  const clientId = (await reveal.innerText()).match(/kwid_[A-Za-z0-9]{22}/)[0];
  await assertAccessible(page, "reveal dialog");
  await shoot(page, "reveal.png");

  const copy = reveal.getByRole("button", { name: "Copy Secret" });
  const label = await copy.innerText();
  await copy.click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  // Copied is said to screen readers, and a second click does not make
  // "Copied" the button's label for good.
  await page.getByRole("status").filter({ hasText: "Copied to the clipboard." }).waitFor();
  assert.equal(await copy.innerText(), "Copied");
  await copy.click();
  await page.waitForFunction(
    ([selector, text]) => document.querySelector(selector)?.innerText === text,
    ['dialog [data-copy="#reveal-secret"]', label],
    { timeout: 4000 },
  );

  await reveal.getByRole("link", { name: "Close" }).click();
  await reveal.waitFor({ state: "detached" });
  assert.ok(!(await page.content()).includes(secret), "closed: the secret left the page");
  await page.reload();
  assert.ok(!(await page.content()).includes(secret), "reloaded: the secret is nowhere on the page");

  const card = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: /Payments reconciliation/ }) });
  await card.waitFor();
  assert.ok((await card.innerText()).includes(clientId), "the card shows the Client ID");
  // The demo credential was the first, so it is the primary.
  const primary = page.getByRole("listitem").filter({ has: page.getByText("Primary", { exact: true }) });
  assert.equal(await primary.count(), 1);
  await context.clearPermissions();
});

test("2. Owner creates until the limit: New Credential is disabled with its explanation", async () => {
  const { page } = setup.browser;
  await openCredentials(page);
  await page.getByRole("link", { name: "New Credential" }).click();
  const dialog = page.getByRole("dialog", { name: "New Credential" });
  await dialog.getByLabel("Credential name").fill("Ledger export");
  await dialog.getByRole("button", { name: "Save & Generate Key" }).click();
  const reveal = page.getByRole("dialog", { name: "Credential created" });
  await reveal.getByRole("link", { name: "Close" }).click();
  await reveal.waitFor({ state: "detached" });

  const button = page.getByRole("button", { name: "New Credential" });
  await button.waitFor();
  assert.equal(await button.isDisabled(), true);
  const description = await button.evaluate((b) => document.getElementById(b.getAttribute("aria-describedby")).textContent);
  assert.match(description, /maximum of 3 API credentials/);
  assert.match(description, /Delete an existing credential/);
  assert.equal(await page.getByRole("link", { name: "New Credential" }).count(), 0);
  await assertAccessible(page, "Credentials page at the limit");
});
