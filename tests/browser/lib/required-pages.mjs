// Every page and dialog that journeys/pages.test.mjs must check with axe,
// each in the light and the dark theme. Its last test compares this list with
// the labels assertAccessible recorded, both ways: a check taken out of the
// journey (or one added without being listed here) fails the run.

export const THEMES = ["light", "dark"];

/** Checked once in each theme; the label gets " (light)" or " (dark)". */
export const IN_EACH_THEME = [
  // Signed out, and the first run.
  "sign-in page",
  "sign-in error",
  "sign-in refused after 5 failures (429)",
  "setup page",
  "setup page with errors",
  "Credentials page of a new organization (empty)",
  // The pages of the navigation, as the owner sees them.
  "Credentials page",
  "Members page",
  "Audit log page",
  "Webhooks page",
  "Organization page",
  "Account page",
  "Audit log, filtered",
  "Audit log with an unreadable date (422)",
  "Audit log with a filter error (422)",
  "Audit log CSV export with bad filters (error page)",
  "not-found page",
  // Credentials: every dialog, and the full pages that stand in for them without JavaScript.
  "Edit credential dialog",
  "Rotate Credential dialog",
  "Disable credential dialog",
  "New Credential dialog",
  "New Credential dialog with errors",
  "Credential created dialog (reveal)",
  "Credential rotated dialog (reveal)",
  "Delete credential dialog",
  "error dialog (the credential was deleted meanwhile)",
  "New Credential as a full page",
  "Edit credential as a full page",
  "Rotate Credential as a full page",
  "Disable credential as a full page",
  "Delete credential as a full page",
  "a disabled credential's card",
  // Members and invitations.
  "Remove member dialog",
  "Members, invitation with errors",
  "Members with a new invitation link",
  "invitation page",
  // Approvals: an owner requires them, an admin asks, the owner decides.
  "Organization page, approval turned on",
  "New Credential dialog asking for a justification (admin)",
  "New Credential dialog, justification missing (admin)",
  "Credentials page with a pending request (admin)",
  "Credentials page with a pending request (owner)",
  "Reject request dialog",
  "Reject request as a full page",
  "Credentials page with a rejected request (admin)",
  "Credentials page after an approval (owner)",
  "Credentials page with an approved request (admin)",
];

/** Checked once (light theme): other people's views of the same pages. */
export const ONCE = [
  "/settings/credentials as support@keyward.test",
  "/audit-log as support@keyward.test",
  "/settings/credentials as viewer@acme.test",
  "/audit-log as viewer@acme.test",
  "/settings/credentials as owner@globex.test",
  "/audit-log as owner@globex.test",
];

export const REQUIRED = [...THEMES.flatMap((theme) => IN_EACH_THEME.map((what) => `${what} (${theme})`)), ...ONCE];
