// A personal access token, made on the Account page as a person makes one,
// shown once, and used from outside the browser against the JSON API.
import { test } from "node:test";
import assert from "node:assert/strict";

import { assertAccessible, openBrowser, shoot, signIn, useKeyward } from "../lib/browser.mjs";

const setup = useKeyward();

test("Account > Personal access tokens: generate, copy once, call the API, revoke", async () => {
  const browser = await openBrowser(setup.server.base);
  const { page } = browser;
  try {
    await signIn(page, setup.server.base, "admin@acme.test");
    await page.goto(`${setup.server.base}/account`);
    const section = page.getByRole("region", { name: "Personal access tokens" });
    // An empty name is refused at its field, with focus there.
    await section.getByRole("button", { name: "Generate token" }).click();
    await page.getByText("Enter a token name.", { exact: true }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), "token_name");

    await page.getByLabel("Token name").fill("ci deploy");
    await page.getByRole("radio", { name: /^Read and write/ }).check();
    await page.getByLabel("Expires").selectOption({ label: "In 7 days" });
    await page.getByRole("button", { name: "Generate token" }).click();
    const shown = page.getByRole("alert").filter({ hasText: "Copy your new token “ci deploy” now" });
    await shown.waitFor();
    const token = (await shown.locator("code").innerText()).trim();
    assert.match(token, /^kwpat_[A-Za-z0-9]{49}$/);
    await assertAccessible(page, "Account page with a new token");
    await shoot(page, "account-token.png");
    await shown.getByRole("button", { name: "Copy the token" }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);

    // A script uses it; the page never shows it again.
    const api = await fetch(`${setup.server.base}/api/v1/credentials`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(api.status, 200);
    assert.equal((await api.json()).data[0].name, "Payments backend");
    await page.goto(`${setup.server.base}/account`);
    assert.ok(!(await page.content()).includes(token), "shown once");
    const row = page.getByRole("row").filter({ hasText: "ci deploy" });
    await row.getByText("Read and write").waitFor();

    await row.getByRole("button", { name: /^Revoke/ }).click();
    await page.getByRole("status").filter({ hasText: "Revoked the token “ci deploy”" }).waitFor();
    const after = await fetch(`${setup.server.base}/api/v1/credentials`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(after.status, 401);
    assert.match(after.headers.get("www-authenticate"), /^Bearer /);
  } finally {
    await browser.close();
  }
});
