// People join by invitation: the owner invites an email, the invitee gets the
// email from a real SMTP server on loopback, opens the link, asks for a code
// (emailed to the invited address), enters it with their own name and
// password and lands in the organization with the invited role; someone with
// an account signs in on the link's page and joins; a used, revoked or expired
// link gets a page that says so.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";

import { assertAccessible, openBrowser, shoot, signIn, useKeyward } from "../lib/browser.mjs";
import { PASSWORD } from "../lib/server.mjs";
import { startSmtp } from "../lib/smtp.mjs";

let smtp;
const setup = useKeyward({
  browser: true,
  env: async () => {
    smtp = await startSmtp();
    return { KEYWARD_SMTP_URL: smtp.url, KEYWARD_SMTP_FROM: "Keyward <keyward@acme.test>" };
  },
});
after(() => smtp?.stop());

/** Settings > Members > Invite a member, as the owner does it; the link as emailed. */
async function invite(page, email, role) {
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "Members" }).click();
  await page.getByRole("heading", { level: 1, name: "Members" }).waitFor();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Role", { exact: true }).selectOption({ label: role });
  await page.getByRole("button", { name: "Send invitation" }).click();
  await page.getByText(`We emailed it to ${email}.`).waitFor();
  const [message] = (await smtp.messagesTo(email)).slice(-1);
  assert.ok(message, `an email reached ${email}`);
  assert.match(message, /Subject: You are invited to join "Acme Payments" on Keyward/);
  const link = message.match(/http:\/\/127\.0\.0\.1:\d+\/invitations\/kwinv_[A-Za-z0-9]{43}/)[0];
  const shown = await page.locator("#invite-link").innerText();
  assert.equal(shown, link, "the page shows the link that was emailed");
  return link;
}

test("an invited person creates their own account from the emailed link and joins", async () => {
  const { page } = setup.browser;
  await signIn(page, setup.server.base, "owner@acme.test");
  const link = await invite(page, "nina@acme.test", "Admin · API Credentials: Can Edit");
  await assertAccessible(page, "Members with a new invitation link");
  await shoot(page, "members-invited.png");

  const invitee = await openBrowser(setup.server.base);
  try {
    const p = invitee.page;
    await p.goto(link);
    await p.getByRole("heading", { name: "Join Acme Payments" }).waitFor();
    assert.match(await p.getByRole("main").innerText(), /Olivia Owner invited nina@acme\.test to join Acme Payments as Admin · API Credentials: Can Edit\./);
    await assertAccessible(p, "invitation page, new account");
    // The link alone makes no account: a code goes to the invited address.
    const before = (await smtp.messagesTo("nina@acme.test")).length;
    await p.getByRole("button", { name: "Email me a code" }).click();
    await p.getByText("We emailed a code to nina@acme.test.").waitFor();
    let mails = [];
    for (let i = 0; i < 100 && mails.length <= before; i++) {
      mails = await smtp.messagesTo("nina@acme.test");
      if (mails.length <= before) await new Promise((r) => setTimeout(r, 50));
    }
    const code = mails[before].match(/Your code is (\d{6})/)[1];
    await assertAccessible(p, "invitation page, code sent");
    // A mistake is shown at its field, and focus goes there.
    await p.getByLabel("Code from the email").fill(code);
    await p.getByLabel("Your name").fill("Nina New");
    await p.getByLabel("Password", { exact: true }).fill("short");
    await p.getByLabel("Confirm password").fill("short");
    await p.getByRole("button", { name: "Create account and join" }).click();
    await p.getByText("Use a password of at least 12 characters.").waitFor();
    assert.equal(await p.evaluate(() => document.activeElement?.id), "password");
    await assertAccessible(p, "invitation page with an error");
    await p.getByLabel("Code from the email").fill(code);
    await p.getByLabel("Password", { exact: true }).fill("nina's own password");
    await p.getByLabel("Confirm password").fill("nina's own password");
    await p.getByRole("button", { name: "Create account and join" }).click();
    await p.getByRole("heading", { level: 1, name: "Credentials" }).waitFor();
    const top = await p.locator(".topbar").innerText();
    assert.match(top, /Nina New/);
    assert.match(top, /Acme Payments/);
    assert.match(top, /Admin · API Credentials: Can Edit/);

    // The link worked once.
    await p.goto(link);
    await p.getByText("This invitation has been used already.").waitFor();
    await assertAccessible(p, "used invitation link");
  } finally {
    await invitee.close();
  }
});

test("someone with an account signs in on the link's page and joins", async () => {
  const { page } = setup.browser;
  const link = await invite(page, "owner@globex.test", "Admin · API Credentials: Can View");
  const gus = await openBrowser(setup.server.base, { colorScheme: "dark" });
  try {
    const p = gus.page;
    await p.goto(link);
    await p.getByText("Have a Keyward account for owner@globex.test?").waitFor();
    await assertAccessible(p, "invitation page, existing account (dark)");
    await shoot(p, "invitation-dark.png");
    await p.getByLabel("Password for owner@globex.test").fill(PASSWORD);
    await p.getByRole("button", { name: "Sign in and join" }).click();
    await p.getByRole("heading", { level: 1, name: "Credentials" }).waitFor();
    assert.match(await p.locator(".topbar").innerText(), /Acme Payments/);
  } finally {
    await gus.close();
  }
});

test("a revoked or expired link gets a page that says so", async () => {
  const { page } = setup.browser;
  const revoked = await invite(page, "gone@acme.test", "Admin · API Credentials: Can View");
  await page.getByRole("button", { name: "Revoke the invitation of gone@acme.test" }).click();
  await page.getByText("Revoked the invitation of gone@acme.test").waitFor();
  const expired = await invite(page, "late@acme.test", "Admin · API Credentials: Can View");
  // A week on, as far as the database knows.
  execFileSync("sqlite3", [setup.server.database, "UPDATE invitations SET expires_at = 0 WHERE email = 'late@acme.test'"]);

  const visitor = await openBrowser(setup.server.base, { colorScheme: "dark" });
  try {
    const p = visitor.page;
    const status = async (url) => (await p.goto(url)).status();
    assert.equal(await status(revoked), 410);
    await p.getByText("This invitation was withdrawn.").waitFor();
    await assertAccessible(p, "revoked invitation link (dark)");
    assert.equal(await status(expired), 410);
    await p.getByText("This invitation has expired.").waitFor();
    assert.equal(await status(`${setup.server.base}/invitations/kwinv_${"0".repeat(43)}`), 404);
    await p.getByText("This invitation link is not valid.").waitFor();
  } finally {
    await visitor.close();
  }
});
