// Every page and the New Credential dialog fit a 390×844 phone and a
// 1280×900 desktop, in the light and the dark theme: nothing is wider than
// the viewport, axe finds nothing, and the audit log shows sentences, not
// raw JSON. The screenshots land in docs/screenshots for the README.
import { test } from "node:test";
import assert from "node:assert/strict";

import { assertAccessible, openBrowser, shoot, signIn, useKeyward } from "../lib/browser.mjs";
import { createCredential, fromMenu } from "../lib/steps.mjs";

const setup = useKeyward();

const PAGES = ["/settings/credentials", "/settings/members", "/audit-log", "/settings/webhooks", "/settings/organization", "/account"];
const SIZES = [
  ["phone", { width: 390, height: 844 }],
  ["desktop", { width: 1280, height: 900 }],
];

async function fits(page, label) {
  const [width, viewport] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(width <= viewport, `${label} is ${width} px wide in a ${viewport} px viewport`);
}

test("events to show: a credential made and rotated with a window, an invitation", async () => {
  const browser = await openBrowser(setup.server.base);
  try {
    const { page } = browser;
    await signIn(page, setup.server.base, "owner@acme.test");
    await page.goto(`${setup.server.base}/settings/credentials`);
    await createCredential(page, "Fraud scoring");
    await fromMenu(page, "Fraud scoring", "Rotate Credential");
    const confirm = page.getByRole("dialog", { name: "Rotate Credential" });
    await confirm.getByLabel("Keep the previous secret working").selectOption({ label: "24 hours" });
    await confirm.getByRole("button", { name: "Rotate Credential" }).click();
    await page.getByRole("dialog", { name: "Credential rotated" }).getByRole("link", { name: "Close" }).click();
    await page.goto(`${setup.server.base}/settings/members`);
    await page.getByLabel("Email").fill("nina@acme.test");
    await page.getByRole("button", { name: "Send invitation" }).click();
    await page.getByText("Invited nina@acme.test").waitFor();

    await page.goto(`${setup.server.base}/audit-log`);
    const log = await page.getByRole("main").innerText();
    assert.match(log, /Olivia Owner rotated “Fraud scoring” · previous secret valid 24 hours/);
    assert.match(log, /Olivia Owner invited nina@acme\.test/);
    assert.doesNotMatch(log, /[{}]|"name":|grace_seconds|credential\.rotated/, "no raw JSON or keys");
  } finally {
    await browser.close();
  }
});

for (const [device, viewport] of SIZES) {
  for (const colorScheme of ["light", "dark"]) {
    test(`every page and the New Credential dialog fit the ${device} (${colorScheme})`, async () => {
      const browser = await openBrowser(setup.server.base, { colorScheme, viewport });
      try {
        const { page } = browser;
        await signIn(page, setup.server.base, "owner@acme.test");
        for (const path of PAGES) {
          await page.goto(`${setup.server.base}${path}`);
          await fits(page, `${path} (${device}, ${colorScheme})`);
          if (device === "phone") await assertAccessible(page, `${path} (${device}, ${colorScheme})`);
        }
        await page.goto(`${setup.server.base}/audit-log`);
        await page.locator("details").first().click();
        await fits(page, `the audit log with details open (${device}, ${colorScheme})`);
        if (colorScheme === "light") await shoot(page, `audit-log-${device}.png`);
        await page.goto(`${setup.server.base}/settings/credentials`);
        if (device === "phone") await shoot(page, `credentials-phone-${colorScheme}.png`);
        await page.getByRole("link", { name: "New Credential" }).click();
        const dialog = page.getByRole("dialog", { name: "New Credential" });
        await dialog.waitFor();
        // A row limited to one vault or key becomes a small labelled card.
        await dialog.getByRole("button", { name: "Add a vault or key" }).click();
        await dialog.getByLabel("ID", { exact: true }).waitFor();
        const [inner, outer] = await dialog.evaluate((d) => [d.scrollWidth, d.clientWidth]);
        assert.ok(inner <= outer, `the dialog's content is ${inner} px in ${outer} px (${device}, ${colorScheme})`);
        await fits(page, `the New Credential dialog (${device}, ${colorScheme})`);
        if (device === "phone") {
          await assertAccessible(page, `New Credential dialog (${device}, ${colorScheme})`);
          await shoot(page, `new-credential-phone-${colorScheme}.png`);
        }
        // Every dialog has a × that closes it (the changed form asks first).
        await dialog.getByRole("button", { name: "Dismiss" }).click();
        await dialog.waitFor({ state: "detached" });
        assert.deepEqual(browser.asked.splice(0), ["Discard your changes?"]);
        // Removing a member is a dialog too.
        await page.goto(`${setup.server.base}/settings/members`);
        await page.getByRole("link", { name: /^Remove/ }).first().click();
        const remove = page.getByRole("dialog", { name: "Remove member" });
        await remove.waitFor();
        await fits(page, `the Remove member dialog (${device}, ${colorScheme})`);
        if (device === "phone") await assertAccessible(page, `Remove member dialog (${device}, ${colorScheme})`);
        await remove.getByRole("button", { name: "Dismiss" }).click();
        await remove.waitFor({ state: "detached" });
      } finally {
        await browser.close();
      }
    });
  }
}
