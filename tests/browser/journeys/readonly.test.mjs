// Journey 4: a Can View administrator and support staff see the page
// read-only, and the server refuses a crafted POST from the page's context.
import { test } from "node:test";
import assert from "node:assert/strict";

import { assertAccessible, openBrowser, openCredentials, signIn, useKeyward } from "../lib/browser.mjs";

const setup = useKeyward();

for (const [who, email] of [["viewer (Can View)", "viewer@acme.test"], ["support staff", "support@keyward.test"]]) {
  test(`4. ${who}: read-only page, no action menu, crafted POSTs refused`, async () => {
    const browser = await openBrowser(setup.server.base);
    try {
      const { page } = browser;
      await signIn(page, setup.server.base, email);
      await openCredentials(page);
      await page.getByRole("listitem").filter({ has: page.getByText("Primary", { exact: true }) }).waitFor();
      assert.equal(await page.getByRole("button", { name: /^Actions for / }).count(), 0, "no action menu");
      assert.equal(await page.getByRole("link", { name: "New Credential" }).count(), 0);
      assert.equal(await page.getByRole("button", { name: "New Credential" }).count(), 0);
      await assertAccessible(page, `Credentials page (${who})`);

      const clientId = (await page.getByRole("main").innerText()).match(/kwid_[A-Za-z0-9]{22}/)[0];
      // From the page itself, with its session cookie and CSRF token, as a
      // script in the page (or a tampered form) would send them.
      const statuses = await page.evaluate(async (id) => {
        const token = JSON.parse(document.body.getAttribute("data-hx-headers"))["X-CSRF-Token"];
        const post = (path, fields) =>
          fetch(path, {
            method: "POST",
            headers: { "x-csrf-token": token, "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams(fields),
            redirect: "manual",
          }).then((r) => r.status);
        return {
          create: await post("/settings/credentials", { name: "Smuggled credential", permission_set: "monitoring", ip_mode: "all" }),
          rotate: await post(`/settings/credentials/${id}/rotate`, { grace: "0" }),
          remove: await post(`/settings/credentials/${id}/delete`, {}),
          disable: await post(`/settings/credentials/${id}/disable`, {}),
        };
      }, clientId);
      assert.deepEqual(statuses, { create: 403, rotate: 403, remove: 403, disable: 403 });
      await page.reload();
      assert.equal(await page.getByRole("listitem").filter({ hasText: "Smuggled credential" }).count(), 0);
      assert.ok((await page.getByRole("main").innerText()).includes(clientId), "the credential is still there");
    } finally {
      await browser.close();
    }
  });
}
