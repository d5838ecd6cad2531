// Every page and every dialog, as each role sees it, in the light and the dark
// theme: no axe violation at WCAG 2.1 AA, and no "incomplete" axe result that
// is not in the reviewed list (lib/browser.mjs). Their HTML is captured for
// vnu. What must be checked is written down in lib/required-pages.mjs; the
// last test compares it with what was.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

import { OUT, assertAccessible, checked, openBrowser, openCredentials, secretIn, shoot, signIn, useKeyward } from "../lib/browser.mjs";
import { REQUIRED, THEMES } from "../lib/required-pages.mjs";
import { PASSWORD, startEmptyKeyward, startKeyward } from "../lib/server.mjs";
import { card, fromMenu } from "../lib/steps.mjs";

const setup = useKeyward();

const PAGES = [
  ["/settings/credentials", "Credentials page"],
  ["/settings/members", "Members page"],
  ["/audit-log", "Audit log page"],
  ["/settings/webhooks", "Webhooks page"],
  ["/settings/organization", "Organization page"],
  ["/account", "Account page"],
];

/** A screenshot for a person to look over (target/browser/review/, not the docs). */
function review(page, name) {
  const dir = join(OUT, "review");
  mkdirSync(dir, { recursive: true });
  return page.screenshot({ path: join(dir, `${name}.png`) });
}

/**
 * The field is marked invalid and its message is at it: aria-invalid, and a
 * visible .field-error among what aria-describedby points to. Returns the message.
 */
async function expectFieldError(field, message) {
  await field.waitFor();
  const found = await field.evaluate((el) => ({
    invalid: el.getAttribute("aria-invalid"),
    errors: (el.getAttribute("aria-describedby") ?? "")
      .split(/\s+/)
      .map((id) => document.getElementById(id))
      .filter((e) => e?.classList.contains("field-error") && e.checkVisibility())
      .map((e) => e.innerText.trim()),
  }));
  assert.equal(found.invalid, "true", "the field is marked invalid");
  assert.equal(found.errors.length, 1, "the field is described by one visible message");
  if (message) assert.match(found.errors[0], message);
  return found.errors[0];
}

/** The response to the next request for `path` (a pathname), sent by `action`. */
async function answerTo(page, method, path, action) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === method && new URL(r.url()).pathname === path),
    action(),
  ]);
  return response;
}

for (const colorScheme of THEMES) {
  test(`every page and dialog passes axe (${colorScheme} theme)`, async () => {
    const check = (page, what) => assertAccessible(page, `${what} (${colorScheme})`);
    const base = setup.server.base;
    const browser = await openBrowser(base, { colorScheme });
    const { page } = browser;
    try {
      await page.goto(`${base}/login`);
      await check(page, "sign-in page");
      // A failed sign-in shows its message at the form.
      await page.getByLabel("Email").fill("owner@acme.test");
      await page.getByLabel("Password").fill("not the password");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("alert").waitFor();
      await check(page, "sign-in error");

      await signIn(page, base, "owner@acme.test");
      for (const [path, what] of PAGES) {
        const response = await page.goto(`${base}${path}`);
        assert.equal(response.status(), 200, path);
        await check(page, what);
      }
      await page.goto(`${base}/audit-log?action=credential.created&from=2000-01-01`);
      await check(page, "Audit log, filtered");
      // Filters the server refuses: 422, the message at the field: a date it
      // cannot read (the date input is left empty, with the message), and
      // a range that ends before it starts.
      let response = await page.goto(`${base}/audit-log?from=yesterday`);
      assert.equal(response.status(), 422);
      await expectFieldError(page.getByLabel("From", { exact: true }), /Enter a date as YYYY-MM-DD\./);
      await check(page, "Audit log with an unreadable date (422)");
      response = await page.goto(`${base}/audit-log?from=2024-05-02&to=2024-05-01`);
      assert.equal(response.status(), 422);
      await expectFieldError(page.getByLabel("To", { exact: true }), /The end date is before the start date\./);
      await check(page, "Audit log with a filter error (422)");
      if (colorScheme === "light") await review(page, "audit-log-422");
      // The CSV export of the same filters: an error page, not a file.
      response = await page.goto(`${base}/audit-log/export.csv?from=yesterday`);
      assert.equal(response.status(), 400);
      assert.match(response.headers()["content-type"], /^text\/html/);
      await page.getByRole("alert").filter({ hasText: "The filters could not be read." }).waitFor();
      await check(page, "Audit log CSV export with bad filters (error page)");
      response = await page.goto(`${base}/no-such-page`);
      assert.equal(response.status(), 404);
      await check(page, "not-found page");

      // Every dialog of the Credentials page.
      await page.goto(`${base}/`);
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
        await check(page, `${title} dialog`);
        await page.keyboard.press("Escape");
        await dialog.waitFor({ state: "detached" });
      }
      const newCredential = page.getByRole("link", { name: "New Credential" });
      await newCredential.click();
      const dialog = page.getByRole("dialog", { name: "New Credential" });
      await dialog.waitFor();
      await check(page, "New Credential dialog");
      // Errors shown at their fields (focus on the first), with the permission rows and IP list.
      await dialog.getByLabel("Credential name").fill("abc");
      await dialog.getByLabel("Limited IP addresses").check();
      await dialog.getByLabel("Allowed addresses and CIDR ranges").fill("300.1.2.3");
      response = await answerTo(page, "POST", "/settings/credentials", () =>
        dialog.getByRole("button", { name: "Save & Generate Key" }).click(),
      );
      assert.equal(response.status(), 422);
      const nameField = dialog.getByLabel("Credential name");
      await expectFieldError(nameField, /5 to 50 characters/);
      await expectFieldError(dialog.getByLabel("Allowed addresses and CIDR ranges"), /300\.1\.2\.3/);
      assert.equal(await nameField.evaluate((el) => el === document.activeElement), true, "focus is on the first field in error");
      await check(page, "New Credential dialog with errors");
      if (colorScheme === "dark") await shoot(page, "new-credential-dark.png");
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });

      // A second credential: its reveal, its rotation's reveal, its Delete dialog.
      const other = `Pages check ${colorScheme}`;
      await newCredential.click();
      await dialog.getByLabel("Credential name").fill(other);
      await dialog.getByRole("button", { name: "Save & Generate Key" }).click();
      const created = page.getByRole("dialog", { name: "Credential created" });
      await created.waitFor();
      assert.ok(secretIn(await created.innerText()));
      const otherId = (await created.innerText()).match(/kwid_[A-Za-z0-9]{22}/)[0];
      await check(page, "Credential created dialog (reveal)");
      await created.getByRole("link", { name: "Close" }).click();
      await created.waitFor({ state: "detached" });
      await fromMenu(page, other, "Rotate Credential");
      await page.getByRole("dialog", { name: "Rotate Credential" }).getByRole("button", { name: "Rotate Credential" }).click();
      const rotated = page.getByRole("dialog", { name: "Credential rotated" });
      await rotated.waitFor();
      assert.ok(secretIn(await rotated.innerText()));
      await check(page, "Credential rotated dialog (reveal)");
      await rotated.getByRole("link", { name: "Close" }).click();
      await rotated.waitFor({ state: "detached" });
      await fromMenu(page, other, "Delete");
      const del = page.getByRole("dialog", { name: "Delete credential" });
      await del.waitFor();
      await check(page, "Delete credential dialog");
      await page.keyboard.press("Escape");
      await del.waitFor({ state: "detached" });

      // The full-page forms that work without JavaScript (the dialogs' URLs, loaded directly).
      const clientId = (await card(page, name).innerText()).match(/kwid_[A-Za-z0-9]{22}/)[0];
      for (const [path, what] of [
        ["/settings/credentials/new", "New Credential as a full page"],
        [`/settings/credentials/${clientId}/edit`, "Edit credential as a full page"],
        [`/settings/credentials/${clientId}/rotate`, "Rotate Credential as a full page"],
        [`/settings/credentials/${clientId}/disable`, "Disable credential as a full page"],
        [`/settings/credentials/${otherId}/delete`, "Delete credential as a full page"],
      ]) {
        response = await page.goto(`${base}${path}`);
        assert.equal(response.status(), 200, path);
        await check(page, what);
      }

      // An error dialog: the credential being edited is deleted meanwhile in
      // another tab; saving gets 404 as a dialog with the request ID.
      await page.goto(`${base}/settings/credentials`);
      await fromMenu(page, other, "Edit");
      const edit = page.getByRole("dialog", { name: "Edit credential" });
      await edit.waitFor();
      const tab = await browser.newPage();
      try {
        await tab.goto(`${base}/settings/credentials`);
        await fromMenu(tab, other, "Delete");
        await tab.getByRole("dialog", { name: "Delete credential" }).getByRole("button", { name: "Delete" }).click();
        await tab.getByRole("status").filter({ hasText: "Deleted" }).waitFor();
      } finally {
        await tab.close();
      }
      response = await answerTo(page, "POST", `/settings/credentials/${otherId}/edit`, () =>
        edit.getByRole("button", { name: "Save", exact: true }).click(),
      );
      assert.equal(response.status(), 404);
      const failed = page.getByRole("dialog", { name: "Not found" });
      await failed.waitFor();
      await failed.getByRole("alert").filter({ hasText: "There is nothing here, or it was deleted." }).waitFor();
      const requestId = response.headers()["x-request-id"];
      assert.ok(requestId, "the response has a request ID");
      assert.equal((await failed.locator(".request-id code").innerText()).trim(), requestId, "the dialog shows the request ID");
      await check(page, "error dialog (the credential was deleted meanwhile)");
      if (colorScheme === "light") await review(page, "error-dialog");
      await failed.getByRole("link", { name: "Close" }).click();
      await failed.waitFor({ state: "detached" });

      await fromMenu(page, name, "Disable");
      await page.getByRole("dialog", { name: "Disable credential" }).getByRole("button", { name: "Disable" }).click();
      await page.getByRole("status").filter({ hasText: "Disabled" }).waitFor();
      await check(page, "a disabled credential's card");
      await page.getByRole("button", { name: `Actions for ${name}` }).click();
      await page.getByRole("button", { name: "Enable" }).click();
      await page.getByRole("status").filter({ hasText: "Enabled" }).waitFor();

      // Members: the remove confirmation, and inviting with and without a mistake.
      await page.goto(`${base}/settings/members`);
      await page.getByRole("link", { name: /^Remove/ }).first().click();
      const remove = page.getByRole("dialog", { name: "Remove member" });
      await remove.waitFor();
      await check(page, "Remove member dialog");
      await page.keyboard.press("Escape");
      await remove.waitFor({ state: "detached" });
      const invite = page.getByRole("region", { name: "Invite a member" });
      await invite.getByLabel("Email").fill("not an email");
      response = await answerTo(page, "POST", "/settings/members", () => invite.getByRole("button", { name: "Send invitation" }).click());
      assert.equal(response.status(), 422);
      const email = page.getByRole("region", { name: "Invite a member" }).getByLabel("Email");
      await expectFieldError(email);
      assert.equal(await email.evaluate((el) => el === document.activeElement), true, "focus is on the email in error");
      await check(page, "Members, invitation with errors");
      if (colorScheme === "light") await review(page, "members-invite-error");
      const invitee = `pages-${colorScheme}@acme.test`;
      await email.fill(invitee);
      await invite.getByLabel("Role", { exact: true }).selectOption({ label: "Admin · API Credentials: Can View" });
      await invite.getByRole("button", { name: "Send invitation" }).click();
      await page.getByRole("heading", { name: `Invitation link for ${invitee}` }).waitFor();
      const link = (await page.locator("#invite-link").innerText()).trim();
      assert.match(link, /\/invitations\/kwinv_[A-Za-z0-9]{43}$/);
      await check(page, "Members with a new invitation link");
      const guest = await openBrowser(base, { colorScheme });
      try {
        await guest.page.goto(link);
        await guest.page.getByRole("heading", { level: 1, name: "Join Acme Payments" }).waitFor();
        await check(guest.page, "invitation page");
      } finally {
        await guest.close();
      }
    } finally {
      await browser.close();
    }
  });
}

for (const colorScheme of THEMES) {
  test(`approvals: the owner requires them, an admin asks, the owner rejects and approves (${colorScheme} theme)`, async () => {
    const check = (page, what) => assertAccessible(page, `${what} (${colorScheme})`);
    const base = setup.server.base;
    const ownerBrowser = await openBrowser(base, { colorScheme });
    const adminBrowser = await openBrowser(base, { colorScheme });
    const owner = ownerBrowser.page;
    const admin = adminBrowser.page;
    try {
      await signIn(owner, base, "owner@acme.test");
      await owner.goto(`${base}/settings/organization`);
      const requireApproval = owner.getByLabel("Require approval for new credentials");
      await requireApproval.check();
      await owner.getByRole("button", { name: "Save" }).click();
      await owner.getByRole("status").filter({ hasText: "Organization settings saved." }).waitFor();
      assert.equal(await requireApproval.isChecked(), true);
      await check(owner, "Organization page, approval turned on");

      // The admin's New Credential asks why; without a reason it says so at the field.
      await signIn(admin, base, "admin@acme.test");
      await openCredentials(admin);
      const ask = async (name, justification) => {
        await admin.getByRole("link", { name: "New Credential" }).click();
        const dialog = admin.getByRole("dialog", { name: "New Credential" });
        await dialog.getByLabel("Justification").waitFor();
        await dialog.getByLabel("Credential name").fill(name);
        await dialog.getByLabel("Justification").fill(justification);
        return dialog;
      };
      const first = `Approval ${colorScheme} one`;
      let dialog = await ask(first, "");
      await check(admin, "New Credential dialog asking for a justification (admin)");
      const response = await answerTo(admin, "POST", "/settings/credentials", () => dialog.getByRole("button", { name: "Request approval" }).click());
      assert.equal(response.status(), 422);
      await expectFieldError(dialog.getByLabel("Justification"), /Explain in 10 to 500 characters/);
      await check(admin, "New Credential dialog, justification missing (admin)");
      if (colorScheme === "light") await review(admin, "justification-missing");
      await dialog.getByLabel("Justification").fill("The nightly reconciliation job needs its own credential.");
      await dialog.getByRole("button", { name: "Request approval" }).click();
      await dialog.waitFor({ state: "detached" });
      await admin.getByRole("status").filter({ hasText: `Your request for “${first}” was sent` }).waitFor();
      const pending = (page, name) => page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: new RegExp(`^${name}`) }) });
      await pending(admin, first).getByText("Pending approval").waitFor();
      await check(admin, "Credentials page with a pending request (admin)");

      // The owner sees it with Approve and Reject; Reject asks for a reason in a dialog.
      await openCredentials(owner);
      const request = pending(owner, first);
      await request.getByRole("button", { name: `Approve ${first}` }).waitFor();
      await check(owner, "Credentials page with a pending request (owner)");
      if (colorScheme === "dark") await review(owner, "pending-request-dark");
      const requestId = await request.getAttribute("data-request");
      await owner.goto(`${base}/settings/credentials/requests/${requestId}/reject`);
      await owner.getByRole("heading", { name: "Reject request" }).waitFor();
      await check(owner, "Reject request as a full page");
      await openCredentials(owner);
      await pending(owner, first).getByRole("link", { name: `Reject ${first}` }).click();
      const reject = owner.getByRole("dialog", { name: "Reject request" });
      await reject.waitFor();
      await check(owner, "Reject request dialog");
      if (colorScheme === "light") await review(owner, "reject-dialog");
      await reject.getByLabel(/^Reason/).fill("Use the existing Payments backend credential.");
      await reject.getByRole("button", { name: "Reject" }).click();
      await reject.waitFor({ state: "detached" });
      await owner.getByRole("status").filter({ hasText: `Rejected the request for “${first}”.` }).waitFor();

      // The admin finds it among the decided requests, with the reason.
      await admin.reload();
      const history = admin.locator("details.history");
      await history.locator("summary").click();
      const rejected = pending(admin, first);
      await rejected.getByText("Rejected", { exact: true }).waitFor();
      await rejected.getByText("Use the existing Payments backend credential.").waitFor();
      await check(admin, "Credentials page with a rejected request (admin)");

      // A second request, approved: the admin then generates its key.
      const second = `Approval ${colorScheme} two`;
      dialog = await ask(second, "The ledger export moves to its own service this week.");
      await dialog.getByRole("button", { name: "Request approval" }).click();
      await dialog.waitFor({ state: "detached" });
      await owner.reload();
      await pending(owner, second).getByRole("button", { name: `Approve ${second}` }).click();
      await owner.getByRole("status").filter({ hasText: `Approved “${second}”.` }).waitFor();
      await check(owner, "Credentials page after an approval (owner)");
      await admin.reload();
      const generate = pending(admin, second).getByRole("button", { name: `Generate key for ${second}` });
      await generate.waitFor();
      await check(admin, "Credentials page with an approved request (admin)");
      await generate.click();
      const reveal = admin.getByRole("dialog", { name: "Credential created" });
      await reveal.waitFor();
      assert.ok(secretIn(await reveal.innerText()));
      await reveal.getByRole("link", { name: "Close" }).click();
      await reveal.waitFor({ state: "detached" });
      // Its place back, and approval off again, for what follows.
      await fromMenu(admin, second, "Delete");
      await admin.getByRole("dialog", { name: "Delete credential" }).getByRole("button", { name: "Delete" }).click();
      await admin.getByRole("status").filter({ hasText: "Deleted" }).waitFor();
      await owner.goto(`${base}/settings/organization`);
      await requireApproval.uncheck();
      await owner.getByRole("button", { name: "Save" }).click();
      await owner.getByRole("status").filter({ hasText: "Organization settings saved." }).waitFor();
    } finally {
      await ownerBrowser.close();
      await adminBrowser.close();
    }
  });
}

test("first run: keyward serve on an empty database leads to the setup page (both themes)", async () => {
  const server = await startEmptyKeyward();
  const browsers = [];
  try {
    for (const colorScheme of THEMES) {
      const browser = await openBrowser(server.base, { colorScheme });
      browsers.push(browser);
      const { page } = browser;
      await page.goto(`${server.base}/settings/credentials`);
      assert.equal(new URL(page.url()).pathname, "/setup");
      await page.getByRole("heading", { level: 1, name: "Set up Keyward" }).waitFor();
      await assertAccessible(page, `setup page (${colorScheme})`);
      await page.getByLabel("Email").fill("not an email");
      await page.getByLabel("Password", { exact: true }).fill("short");
      const response = await answerTo(page, "POST", "/setup", () => page.getByRole("button", { name: "Create organization" }).click());
      assert.equal(response.status(), 422);
      for (const field of ["Organization name", "Your name", "Email"]) await expectFieldError(page.getByLabel(field, { exact: true }));
      await expectFieldError(page.getByLabel("Password", { exact: true }), /12/);
      await assertAccessible(page, `setup page with errors (${colorScheme})`);
      await review(page, `setup-errors-${colorScheme}`);
    }
    // The first browser completes it and lands on an empty Credentials page;
    // the second signs in as the new owner.
    for (const [i, { page }] of browsers.entries()) {
      const colorScheme = THEMES[i];
      if (i === 0) {
        await page.getByLabel("Organization name").fill("Initech");
        await page.getByLabel("Your name").fill("Peter First");
        await page.getByLabel("Email").fill("peter@initech.test");
        await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
        await page.getByLabel("Confirm password").fill(PASSWORD);
        await page.getByRole("button", { name: "Create organization" }).click();
        await page.waitForURL("**/settings/credentials");
      } else {
        await signIn(page, server.base, "peter@initech.test");
        await page.goto(`${server.base}/settings/credentials`);
      }
      await page.getByRole("heading", { name: "No API credentials yet" }).waitFor();
      await assertAccessible(page, `Credentials page of a new organization (empty) (${colorScheme})`);
      await review(page, `setup-done-${colorScheme}`);
    }
    const closed = await fetch(`${server.base}/setup`, { redirect: "manual" });
    assert.equal(closed.status, 404, "/setup is closed once done");
  } finally {
    for (const browser of browsers) await browser.close();
    await server.stop();
  }
});

test("five failed sign-ins for one account: the next gets 429 and says to wait (both themes)", async () => {
  // A server of its own: its throttle memory is not shared with the tests above.
  const server = await startKeyward();
  try {
    for (const colorScheme of THEMES) {
      const browser = await openBrowser(server.base, { colorScheme });
      const { page } = browser;
      try {
        const attempt = async (password) => {
          await page.goto(`${server.base}/login`);
          await page.getByLabel("Email").fill("viewer@acme.test");
          await page.getByLabel("Password").fill(password);
          return answerTo(page, "POST", "/login", () => page.getByRole("button", { name: "Sign in" }).click());
        };
        if (colorScheme === THEMES[0]) {
          for (let i = 1; i <= 5; i++) assert.equal((await attempt(`wrong password ${i}`)).status(), 401, `failure ${i}`);
        }
        // Even the right password is refused now.
        const response = await attempt(PASSWORD);
        assert.equal(response.status(), 429);
        const wait = Number(response.headers()["retry-after"]);
        assert.ok(wait > 0 && wait <= 900, `Retry-After ${wait}`);
        await page.getByRole("alert").filter({ hasText: /^Too many failed sign-in attempts\. Wait 1?\d minutes? and try again\.$/ }).waitFor();
        assert.equal(new URL(page.url()).pathname, "/login");
        await assertAccessible(page, `sign-in refused after 5 failures (429) (${colorScheme})`);
        await review(page, `sign-in-429-${colorScheme}`);
      } finally {
        await browser.close();
      }
    }
  } finally {
    await server.stop();
  }
});

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

test("every page and dialog in lib/required-pages.mjs was checked, and nothing else", () => {
  const done = new Set(checked);
  const missing = REQUIRED.filter((label) => !done.has(label));
  const unlisted = [...done].filter((label) => !REQUIRED.includes(label));
  assert.deepEqual(missing, [], `required but not checked:\n  ${missing.join("\n  ")}`);
  assert.deepEqual(unlisted, [], `checked but not in lib/required-pages.mjs:\n  ${unlisted.join("\n  ")}`);
  assert.equal(checked.length, REQUIRED.length, "each was checked once");
});
