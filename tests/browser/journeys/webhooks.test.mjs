// Settings > Webhooks as an owner uses it: a mistake shown at its field, the
// signing secret shown once and copied, a test event delivered to a
// receiver on loopback and listed with its answer.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";

import { assertAccessible, openBrowser, shoot, signIn, useKeyward } from "../lib/browser.mjs";

// A receiver that answers 200 and remembers what it got.
const received = [];
const receiver = createServer((request, response) => {
  let body = "";
  request.on("data", (chunk) => (body += chunk));
  request.on("end", () => {
    received.push({ id: request.headers["webhook-id"], signature: request.headers["webhook-signature"], body });
    response.writeHead(200).end("ok");
  });
});
await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
after(() => receiver.close());
const receiverUrl = `http://127.0.0.1:${receiver.address().port}/hooks/keyward`;

const setup = useKeyward({
  env: () => ({
    KEYWARD_WEBHOOK_ALLOW_HTTP: "true",
    KEYWARD_WEBHOOK_ALLOWED_NETWORKS: "127.0.0.1/32",
  }),
});

test("Settings > Webhooks: add one, copy its secret once, send a test event", async () => {
  const browser = await openBrowser(setup.server.base);
  const { page } = browser;
  try {
    await signIn(page, setup.server.base, "owner@acme.test");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Webhooks" }).click();
    await page.getByRole("heading", { name: "Webhooks", level: 1 }).waitFor();
    await assertAccessible(page, "Webhooks page, empty");

    // A URL that is not one: the message at the field, focus there, events kept.
    await page.getByLabel("Endpoint URL").fill("hooks.example.com");
    await page.getByLabel(/^Member joined/).uncheck();
    await page.getByRole("button", { name: "Add webhook" }).click();
    await page.getByText("Enter a full URL, such as https://hooks.example.com/keyward.").waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), "url");
    assert.equal(await page.getByLabel(/^Member joined/).isChecked(), false);
    await assertAccessible(page, "Webhooks page with an error");

    await page.getByLabel("Endpoint URL").fill(receiverUrl);
    await page.getByLabel("Description (optional)").fill("Security alerts");
    await page.getByRole("button", { name: "Add webhook" }).click();
    const shown = page.getByRole("alert").filter({ hasText: "Copy its signing secret now" });
    await shown.waitFor();
    const secret = (await shown.locator("code.secret-text").innerText()).trim();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    await assertAccessible(page, "a new webhook with its secret");
    await shoot(page, "webhook-added.png");
    await shown.getByRole("button", { name: "Copy the signing secret" }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);

    // A test event reaches the receiver, signed; the page lists it.
    await page.getByRole("button", { name: "Send test event" }).click();
    await page.getByRole("status").filter({ hasText: "Test event queued" }).waitFor();
    assert.ok(!(await page.content()).includes(secret), "the secret is shown once");
    for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(received.length, 1);
    assert.equal(JSON.parse(received[0].body).type, "webhook.test");
    assert.match(received[0].signature, /^v1,[A-Za-z0-9+/]{43}=$/);
    await page.reload();
    const row = page.getByRole("row").filter({ hasText: "webhook.test" });
    await row.getByText("Delivered").waitFor();
    await row.getByText("200").waitFor();
    await assertAccessible(page, "a webhook's page with a delivery");
    await shoot(page, "webhook.png");

    await page.goto(`${setup.server.base}/settings/webhooks`);
    await page.getByRole("link", { name: receiverUrl }).waitFor();
    await page.getByText("Security alerts").waitFor();
    await shoot(page, "webhooks.png");
  } finally {
    await browser.close();
  }
});

test("the webhook pages fit a phone in both themes", async () => {
  for (const colorScheme of ["light", "dark"]) {
    const browser = await openBrowser(setup.server.base, { colorScheme, viewport: { width: 390, height: 844 } });
    const { page } = browser;
    try {
      await signIn(page, setup.server.base, "owner@acme.test");
      await page.goto(`${setup.server.base}/settings/webhooks`);
      const link = page.getByRole("link", { name: receiverUrl });
      await link.waitFor();
      const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);
      assert.ok(await fits(), `the list scrolls sideways (${colorScheme})`);
      await link.click();
      await page.getByRole("heading", { name: "Recent deliveries" }).waitFor();
      assert.ok(await fits(), `the endpoint page scrolls sideways (${colorScheme})`);
      await assertAccessible(page, `a webhook's page on a phone (${colorScheme})`);
      await page.screenshot({ path: `${process.env.BROWSER_OUT ?? "/tmp"}/webhook-phone-${colorScheme}.png`, fullPage: true });
    } finally {
      await browser.close();
    }
  }
});
