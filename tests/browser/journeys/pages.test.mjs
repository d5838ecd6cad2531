// Every page and every dialog, as each role sees it, in the light and the dark
// theme: zero axe violations at WCAG 2.1 AA. Their HTML is captured for vnu.
import { test } from "node:test";
import assert from "node:assert/strict";

import { assertAccessible, openBrowser, openCredentials, shoot, signIn, useKeyward } from "../lib/browser.mjs";
import { fromMenu } from "../lib/steps.mjs";

const setup = useKeyward();

const PAGES = ["/settings/credentials", "/settings/members", "/audit-log", "/settings/webhooks", "/settings/organization", "/account"];

for (const colorScheme of ["light", "dark"]) {
  test(`every page and dialog passes axe (${colorScheme} theme)`, async () => {
    const browser = await openBrowser(setup.server.base, { colorScheme });
    const { page } = browser;
    try {
      await page.goto(`${setup.server.base}/login`);
      await assertAccessible(page, `sign-in page (${colorScheme})`);
      // A failed sign-in shows its message at the form.
      await page.getByLabel("Email").fill("owner@acme.test");
      await page.getByLabel("Password").fill("not the password");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("alert").waitFor();
      await assertAccessible(page, `sign-in error (${colorScheme})`);

      await signIn(page, setup.server.base, "owner@acme.test");
      for (const path of PAGES) {
        await page.goto(`${setup.server.base}${path}`);
        await assertAccessible(page, `${path} (${colorScheme})`);
      }
      await page.goto(`${setup.server.base}/audit-log?action=credential.created&from=2000-01-01`);
      await assertAccessible(page, `filtered audit log (${colorScheme})`);
      await page.goto(`${setup.server.base}/no-such-page`);
      await assertAccessible(page, `not-found page (${colorScheme})`);

      // Every dialog of the Credentials page.
      await page.goto(`${setup.server.base}/`);
      await openCredentials(page);
      if (colorScheme === "dark") await shoot(page, "credentials-dark.png");
      const name = "Payments backend";
      for (const [item, title] of [
        ["Edit", "Edit credential"],
        ["Rotate Credential", "Rotate Credential"],
        ["Disable", "Disable credential"],
      ]) {
        await fromMenu(page, name, item);
        const dialog = page.getByRole("dialog", { name: title });
        await dialog.waitFor();
        await assertAccessible(page, `${title} dialog (${colorScheme})`);
        await page.keyboard.press("Escape");
        await dialog.waitFor({ state: "detached" });
      }
      await page.getByRole("link", { name: "New Credential" }).click();
      const dialog = page.getByRole("dialog", { name: "New Credential" });
      await dialog.waitFor();
      // Errors shown at the fields, and the permission rows and IP list.
      await dialog.getByLabel("Credential name").fill("abc");
      await dialog.getByLabel("Limited IP addresses").check();
      await dialog.getByLabel("Allowed addresses and CIDR ranges").fill("300.1.2.3");
      await dialog.getByRole("button", { name: "Save & Generate Key" }).click();
      await dialog.getByText("300.1.2.3").first().waitFor();
      await page.getByRole("alert").first().waitFor().catch(() => {});
      await assertAccessible(page, `New Credential with errors (${colorScheme})`);
      if (colorScheme === "dark") await shoot(page, "new-credential-dark.png");
      await page.keyboard.press("Escape");

      // The full-page forms that work without JavaScript (the dialogs' URLs, loaded directly).
      const clientId = (await page.getByRole("main").innerText()).match(/kwid_[A-Za-z0-9]{22}/)[0];
      for (const path of ["/settings/credentials/new", `/settings/credentials/${clientId}/edit`, `/settings/credentials/${clientId}/rotate`, `/settings/credentials/${clientId}/disable`]) {
        await page.goto(`${setup.server.base}${path}`);
        await assertAccessible(page, `${path} as a full page (${colorScheme})`);
      }
      await page.goto(`${setup.server.base}/settings/credentials`);
      await fromMenu(page, "Payments backend", "Disable");
      await page.getByRole("dialog", { name: "Disable credential" }).getByRole("button", { name: "Disable" }).click();
      await page.getByRole("status").filter({ hasText: "Disabled" }).waitFor();
      await assertAccessible(page, `a disabled credential's card (${colorScheme})`);
      await page.getByRole("button", { name: "Actions for Payments backend" }).click();
      await page.getByRole("button", { name: "Enable" }).click();
      await page.getByRole("status").filter({ hasText: "Enabled" }).waitFor();

      // Members: the remove confirmation.
      await page.goto(`${setup.server.base}/settings/members`);
      await page.getByRole("link", { name: /^Remove/ }).first().click();
      await page.getByRole("dialog", { name: "Remove member" }).waitFor();
      await assertAccessible(page, `remove member confirmation (${colorScheme})`);
    } finally {
      await browser.close();
    }
  });
}

test("support staff and read-only pages pass axe", async () => {
  for (const email of ["support@keyward.test", "viewer@acme.test", "owner@globex.test"]) {
    const browser = await openBrowser(setup.server.base);
    try {
      await signIn(browser.page, setup.server.base, email);
      for (const path of ["/settings/credentials", "/audit-log"]) {
        await browser.page.goto(`${setup.server.base}${path}`);
        await assertAccessible(browser.page, `${path} as ${email}`);
      }
    } finally {
      await browser.close();
    }
  }
});
