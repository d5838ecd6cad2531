//! Permission sets, IP allowlists, disable/enable, approval for new
//! credentials, and the audit log's filters, pagination and CSV export.

use axum::http::StatusCode;
use keyward::config::Environment;

use crate::helpers::*;

const CREATE: &str = "/settings/credentials";

async fn stored(app: &TestApp, name: &str) -> (String, String, String) {
    keyward::on!(app.state.db, |e| sqlx::query_as(
        "SELECT permission_set, permissions, ip_allowlist FROM credentials WHERE name = $1",
    )
    .bind(name)
    .fetch_one(e)
    .await)
    .unwrap()
}

#[tokio::test]
async fn a_permission_set_type_prepopulates_the_rows_with_and_without_javascript() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let new = owner.get("/settings/credentials/new").await;
    new.assert_contains(">Permission set type</label>")
        .assert_contains("Monitoring: Webhooks and auditing");
    assert_eq!(rows_in(&new.body), 4);

    let form = with(
        credential_fields("Preset test"),
        &[("permission_set", "controls"), ("op", "preset")],
    );
    let page = owner.post(CREATE, &form).await;
    page.assert_status(StatusCode::OK)
        .assert_contains("<html")
        .assert_contains("value=\"Preset test\"");
    assert_eq!(rows_in(&page.body), 8);
    let fragment = owner
        .htmx_post(
            CREATE,
            &with(form.clone(), &[("permission_set", "wallets")]),
        )
        .await;
    fragment.assert_status(StatusCode::OK).assert_lacks("<html");
    assert_eq!(rows_in(&fragment.body), 6);
    assert!(
        fragment.body.contains("id=\"permission_set\"") && fragment.body.contains(" autofocus")
    );
    // Changing rows creates nothing.
    assert_eq!(app.client_ids("Acme Payments").await.len(), 1);
}

#[tokio::test]
async fn rows_are_added_and_removed_in_place_with_and_without_javascript() {
    let app = TestApp::demo().await;
    let mut admin = app.signed_in(Persona::AdminEdit).await;
    admin.get("/settings/credentials/new").await;
    let base = credential_fields("Row editing");
    let added = admin
        .post(CREATE, &with(base.clone(), &[("op", "add")]))
        .await;
    added
        .assert_status(StatusCode::OK)
        .assert_contains("aria-label=\"Type of permission 5\" autofocus");
    assert_eq!(rows_in(&added.body), 5);
    let removed = admin
        .htmx_post(CREATE, &with(base.clone(), &[("op", "remove-0")]))
        .await;
    removed
        .assert_status(StatusCode::OK)
        .assert_lacks("<html")
        .assert_contains("value=\"Row editing\"");
    assert_eq!(rows_in(&removed.body), 3);
    // The first row (audit:read:org) is the one that went.
    assert!(!removed.body.contains("<option value=\"audit\" selected>"));
    assert_eq!(app.client_ids("Acme Payments").await.len(), 1);
}

#[tokio::test]
async fn unknown_types_actions_and_scopes_are_refused_at_their_row_and_duplicates_collapse() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    owner.get("/settings/credentials/new").await;
    let row = |kind, action, scope, resource| {
        vec![
            ("perm_type", kind),
            ("perm_action", action),
            ("perm_scope", scope),
            ("perm_resource", resource),
        ]
    };
    let base = vec![
        ("name", "Row checks"),
        ("description", ""),
        ("permission_set", "monitoring"),
        ("ip_mode", "all"),
    ];
    for (bad, message) in [
        (row("money", "read", "org", ""), "Choose a type:"),
        (row("vault", "steal", "org", ""), "Choose an action:"),
        (row("vault", "read", "galaxy", ""), "Choose a scope:"),
        (
            row("vault", "read", "org", "v-1"),
            "Leave Resource blank for org scope",
        ),
        (
            row("vault", "read", "vault", "v 1"),
            "A resource is a vault or wallet id",
        ),
    ] {
        let mut form = base.clone();
        form.extend(bad);
        for hx in [false, true] {
            let response = if hx {
                owner.htmx_post(CREATE, &form).await
            } else {
                owner.post(CREATE, &form).await
            };
            response
                .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
                .assert_contains(message)
                .assert_contains("aria-describedby=\"perm-1-error\"")
                .assert_contains("id=\"perm-1-error\"");
        }
    }
    let mut none = base.clone();
    none.truncate(4);
    owner
        .post(CREATE, &none)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Add at least one permission.");

    let mut dup = base.clone();
    dup.extend(row("vault", "update", "vault", "v-123"));
    dup.extend(row("vault", "update", "vault", "v-123"));
    dup.extend(row("audit", "read", "org", ""));
    owner.post(CREATE, &dup).await.assert_status(StatusCode::OK);
    let (set, permissions, _) = stored(&app, "Row checks").await;
    assert_eq!(
        (set.as_str(), permissions.as_str()),
        ("monitoring", "audit:read:org vault:update:vault:v-123")
    );
    owner
        .get("/settings/credentials")
        .await
        .assert_contains("Monitoring: 2 permissions, org and vault scopes");
}

#[tokio::test]
async fn the_card_summarises_permissions_and_addresses() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    owner.create_credential("Summary test").await;
    owner
        .get("/settings/credentials")
        .await
        .assert_contains("Monitoring: 4 read permissions, org scope")
        .assert_contains("All IP addresses")
        .assert_contains("Transactions: 3 permissions, org scope")
        .assert_contains("2 IP addresses: 203.0.113.0/24, 198.51.100.7");
}

#[tokio::test]
async fn ip_entries_are_parsed_normalised_and_limited_with_a_clear_message_each() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    owner.get("/settings/credentials/new").await;
    fn limited(list: &str) -> Vec<(&'static str, &str)> {
        with(
            credential_fields("IP checks"),
            &[("ip_mode", "limited"), ("ip_list", list)],
        )
    }
    let huge = "9".repeat(10 * 1024);
    let seven = (1..=7)
        .map(|i| format!("10.0.0.{i}"))
        .collect::<Vec<_>>()
        .join("\n");
    for (list, message) in [
        (
            "999.1.1.1",
            "Line 1: “999.1.1.1” is not an IP address or CIDR range",
        ),
        (
            "10.0.0.1\n10.0.0.0/33",
            "Line 2: “10.0.0.0/33” is not an IP address or CIDR range",
        ),
        (
            "::ffff:",
            "Line 1: “::ffff:” is not an IP address or CIDR range",
        ),
        (huge.as_str(), "Enter at most 6 entries, one per line."),
        (
            seven.as_str(),
            "A credential can have at most 6 IP entries; remove 1.",
        ),
        (
            "10.0.0.1/24\n10.0.0.0/24",
            "Line 2: 10.0.0.0/24 is listed twice.",
        ),
        ("", "Enter at least one IP address or CIDR range"),
    ] {
        for hx in [false, true] {
            let form = limited(list);
            let response = if hx {
                owner.htmx_post(CREATE, &form).await
            } else {
                owner.post(CREATE, &form).await
            };
            response
                .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
                .assert_contains(message)
                .assert_contains("id=\"ip_list-error\"");
        }
    }
    assert_eq!(app.client_ids("Acme Payments").await.len(), 1);

    let six = "10.0.0.7/24\n203.0.113.4\n2001:db8::1/64\n::1\n198.51.100.0/25\n192.0.2.1";
    let reveal = owner.post(CREATE, &limited(six)).await;
    reveal
        .assert_status(StatusCode::OK)
        .assert_contains("10.0.0.7/24 is shown as 10.0.0.0/24: the network it belongs to.");
    let (_, _, ips) = stored(&app, "IP checks").await;
    assert_eq!(
        ips,
        "10.0.0.0/24 203.0.113.4 2001:db8::/64 ::1 198.51.100.0/25 192.0.2.1"
    );
    owner
        .get("/settings/credentials")
        .await
        .assert_contains("6 IP addresses: 10.0.0.0/24, 203.0.113.4, 2001:db8::/64");
}

#[tokio::test]
async fn production_warns_about_all_ip_addresses() {
    let app = TestApp::demo_with(|c| c.environment = Environment::Production).await;
    let mut owner = app.signed_in(Persona::Owner).await;
    owner
        .get("/settings/credentials/new")
        .await
        .assert_contains("This is the production environment: use Limited IP addresses");
    let (_, secret) = owner.create_credential("Live one here").await;
    assert!(secret.starts_with("kws_live_"));
    let sandbox = TestApp::demo().await;
    sandbox
        .signed_in(Persona::Owner)
        .await
        .get("/settings/credentials/new")
        .await
        .assert_lacks("production environment");
}

#[tokio::test]
async fn edit_changes_permissions_and_addresses_with_before_and_after_in_the_audit() {
    let app = TestApp::demo().await;
    let mut admin = app.signed_in(Persona::AdminEdit).await;
    let (client_id, _) = admin.create_credential("Editable one").await;
    let path = format!("/settings/credentials/{client_id}/edit");
    let form = admin.get(&path).await;
    assert_eq!(rows_in(&form.body), 4);
    let changed = with(
        credential_fields("Editable one"),
        &[
            ("permission_set", "transactions"),
            ("ip_mode", "limited"),
            ("ip_list", "203.0.113.9"),
        ],
    );
    admin
        .post(&path, &changed)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let (set, _, ips) = stored(&app, "Editable one").await;
    assert_eq!(
        (set.as_str(), ips.as_str()),
        ("transactions", "203.0.113.9")
    );
    let detail: String = keyward::on!(app.state.db, |e| sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE action = 'credential.updated'"
    )
    .fetch_one(e)
    .await)
    .unwrap();
    assert!(
        detail.contains("\"ip_allowlist\":\"0.0.0.0/0\"")
            && detail.contains("\"ip_allowlist\":\"203.0.113.9\""),
        "{detail}"
    );
}

#[tokio::test]
async fn disable_and_enable_follow_the_roles_and_say_what_happens_to_tokens() {
    let app = TestApp::demo().await;
    let client_id = app.client_ids("Acme Payments").await[0].clone();
    let disable = format!("/settings/credentials/{client_id}/disable");
    let enable = format!("/settings/credentials/{client_id}/enable");
    for persona in [Persona::AdminView, Persona::Support] {
        let mut browser = app.signed_in(persona).await;
        browser.get("/settings/credentials").await;
        browser
            .get(&disable)
            .await
            .assert_status(StatusCode::FORBIDDEN);
        browser
            .post(&disable, &[])
            .await
            .assert_status(StatusCode::FORBIDDEN);
        browser
            .post(&enable, &[])
            .await
            .assert_status(StatusCode::FORBIDDEN);
    }
    app.upgrade_globex().await;
    let mut other = app.signed_in(Persona::OtherOwner).await;
    other.get("/settings/credentials").await;
    other
        .post(&disable, &[])
        .await
        .assert_status(StatusCode::NOT_FOUND);

    let mut owner = app.signed_in(Persona::Owner).await;
    owner
        .get(&disable)
        .await
        .assert_contains("Existing tokens issued by this credential keep working until they expire (up to 1 hour).")
        .assert_contains(">Disable</button>");
    owner
        .htmx_post(&disable, &[])
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("gets no new tokens");
    owner
        .get("/settings/credentials")
        .await
        .assert_contains("<span class=\"badge danger\">Disabled</span>")
        .assert_contains("Disabled.</span> This credential gets no new tokens")
        .assert_contains(">Enable</button>");
    let mut admin = app.signed_in(Persona::AdminEdit).await;
    admin.get("/settings/credentials").await;
    admin
        .post(&enable, &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    admin
        .get("/settings/credentials")
        .await
        .assert_contains("<span class=\"badge success\">Enabled</span>")
        .assert_contains("can get new tokens again");
    let actions = app.audit_actions().await;
    assert!(
        actions.contains(&"credential.disabled".to_owned())
            && actions.contains(&"credential.enabled".to_owned())
    );
}

#[tokio::test]
async fn with_approval_required_an_admin_requests_an_owner_approves_and_the_requester_sees_the_secret()
 {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    owner.get("/settings/organization").await;
    owner
        .post(
            "/settings/organization",
            &[("org_name", "Acme Payments"), ("require_approval", "on")],
        )
        .await;

    let mut admin = app.signed_in(Persona::AdminEdit).await;
    admin
        .get("/settings/credentials/new")
        .await
        .assert_contains(">Justification</label>")
        .assert_contains(">Request approval</button>");
    admin
        .post(CREATE, &credential_fields("Requested one"))
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Explain in 10 to 500 characters");
    let sent = admin
        .post(
            CREATE,
            &with(
                credential_fields("Requested one"),
                &[("justification", "Nightly reconciliation job")],
            ),
        )
        .await;
    assert_eq!(sent.location(), "/settings/credentials");
    let page = admin.get("/settings/credentials").await;
    page.assert_contains("sent to the organization&#39;s owners for approval")
        .assert_contains("Pending approval")
        .assert_lacks("Generate key");
    let request_id: String = keyward::on!(app.state.db, |e| sqlx::query_scalar(
        "SELECT request_id FROM credential_requests"
    )
    .fetch_one(e)
    .await)
    .unwrap();
    assert!(secret_in(&page.body).is_none());

    // The pending request counts toward the limit: 1 credential + 1 request + 1 more = 3.
    owner.create_credential("Owner direct").await;
    owner
        .get("/settings/credentials")
        .await
        .assert_contains("Nightly reconciliation job")
        .assert_contains(">Approve<");
    owner
        .post(CREATE, &credential_fields("One too many"))
        .await
        .assert_status(StatusCode::CONFLICT);

    // Nobody but an owner other than the requester decides.
    let approve = format!("/settings/credentials/requests/{request_id}/approve");
    admin
        .post(&approve, &[])
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Only organization owners");
    app.upgrade_globex().await;
    let mut other = app.signed_in(Persona::OtherOwner).await;
    other.get("/settings/credentials").await;
    other
        .post(&approve, &[])
        .await
        .assert_status(StatusCode::NOT_FOUND);
    let generate = format!("/settings/credentials/requests/{request_id}/generate");
    admin
        .post(&generate, &[])
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("pending, not approved");

    owner
        .htmx_post(&approve, &[])
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Approved “Requested one”.");
    owner
        .post(&approve, &[])
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("approved already");
    owner
        .post(&generate, &[])
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Only the person who requested");

    admin
        .get("/settings/credentials")
        .await
        .assert_contains("Generate key");
    let reveal = admin.post(&generate, &[]).await;
    reveal
        .assert_status(StatusCode::OK)
        .assert_contains("Save your secret now");
    let secret = secret_in(&reveal.body).unwrap();
    let client_id = client_id_in(&reveal.body).unwrap();
    let digest = app.state.keys.secret_digest(&secret);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM credential_secrets WHERE digest = '{digest}'"
        ))
        .await,
        1
    );
    assert!(app.client_ids("Acme Payments").await.contains(&client_id));
    admin
        .post(&generate, &[])
        .await
        .assert_status(StatusCode::FORBIDDEN);
    admin
        .get("/settings/credentials")
        .await
        .assert_lacks(&secret)
        .assert_lacks("Pending approval");
    let actions = app.audit_actions().await;
    for action in [
        "credential.requested",
        "credential.request_approved",
        "credential.created",
    ] {
        assert!(actions.contains(&action.to_owned()), "{action}");
    }
}

#[tokio::test]
async fn an_owner_cannot_approve_their_own_request_and_rejected_requests_free_their_place() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    owner.get("/settings/organization").await;
    owner
        .post(
            "/settings/organization",
            &[("org_name", "Acme Payments"), ("require_approval", "on")],
        )
        .await;
    let mut admin = app.signed_in(Persona::AdminEdit).await;
    admin.get("/settings/credentials/new").await;
    admin
        .post(
            CREATE,
            &with(
                credential_fields("Mine to approve"),
                &[("justification", "Testing self-approval")],
            ),
        )
        .await;
    admin
        .post(
            CREATE,
            &with(
                credential_fields("Second request"),
                &[("justification", "Fills the last place")],
            ),
        )
        .await;
    admin
        .post(
            CREATE,
            &with(
                credential_fields("Third request"),
                &[("justification", "Over the limit now")],
            ),
        )
        .await
        .assert_status(StatusCode::CONFLICT);
    let ids: Vec<String> = keyward::on!(app.state.db, |e| sqlx::query_scalar(
        "SELECT request_id FROM credential_requests ORDER BY id"
    )
    .fetch_all(e)
    .await)
    .unwrap();

    // The requester becomes an owner: still not their own approver.
    let admin_id = app.user_id("admin@acme.test").await;
    owner.get("/settings/members").await;
    owner
        .post(
            &format!("/settings/members/{admin_id}"),
            &[("access", "owner")],
        )
        .await;
    admin
        .get("/settings/credentials")
        .await
        .assert_lacks(">Approve<");
    admin
        .post(
            &format!("/settings/credentials/requests/{}/approve", ids[0]),
            &[],
        )
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("You cannot approve or reject your own request");

    owner.get("/settings/credentials").await;
    owner
        .post(
            &format!("/settings/credentials/requests/{}/reject", ids[1]),
            &[],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get("/settings/credentials")
        .await
        .assert_contains("Rejected the request for “Second request”.")
        .assert_contains("Rejected by");
    // Owners create directly, and the rejected request no longer holds a place.
    owner.create_credential("Owner direct").await;
}

#[tokio::test]
async fn the_audit_log_filters_pages_and_exports_what_it_shows() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let (client_id, _) = owner.create_credential("=cmd|' /C calc'!A0").await;
    owner
        .post(&format!("/settings/credentials/{client_id}/rotate"), &[])
        .await;
    app.clock.advance(3 * 86_400);
    // Three days on, both sign in again.
    let mut owner = app.signed_in(Persona::Owner).await;
    let mut admin = app.signed_in(Persona::AdminEdit).await;
    admin.get("/settings/credentials").await;
    admin
        .post(&format!("/settings/credentials/{client_id}/rotate"), &[])
        .await;

    let rotated = owner.get("/audit-log?action=credential.rotated").await;
    rotated.assert_status(StatusCode::OK);
    assert_eq!(
        rotated
            .body
            .matches("<code>credential.rotated</code>")
            .count(),
        2
    );
    assert_eq!(rotated.body.matches("<code>").count(), 2);
    let by_admin = owner.get("/audit-log?actor=Admin%40acme.test").await;
    assert!(
        by_admin.body.contains("admin@acme.test")
            && !by_admin.body.contains("<td>owner@acme.test</td>")
    );
    let by_credential = owner
        .get(&format!("/audit-log?credential={client_id}"))
        .await;
    assert_eq!(
        by_credential
            .body
            .matches(&format!("<td>{client_id}</td>"))
            .count(),
        3
    );
    let today = time::OffsetDateTime::from_unix_timestamp(app.state.now())
        .unwrap()
        .date()
        .to_string();
    let recent = owner
        .get(&format!(
            "/audit-log?action=credential.rotated&from={today}&to={today}"
        ))
        .await;
    assert_eq!(
        recent
            .body
            .matches("<code>credential.rotated</code>")
            .count(),
        1
    );
    owner
        .get("/audit-log?from=yesterday")
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Enter a date as YYYY-MM-DD.");
    owner
        .get("/audit-log?from=2026-02-02&to=2026-01-01")
        .await
        .assert_contains("The end date is before the start date.");
    owner
        .get("/audit-log?action=drop%20table")
        .await
        .assert_contains("Choose an action from the list.");

    // CSV of the filtered view, with formula-looking cells defused.
    let csv = owner
        .get(&format!("/audit-log/export.csv?credential={client_id}"))
        .await;
    csv.assert_status(StatusCode::OK);
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    assert!(
        csv.header("content-disposition")
            .starts_with("attachment; filename=\"keyward-audit-log-")
    );
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "time",
            "actor",
            "action",
            "target",
            "ip",
            "user_agent",
            "detail"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| &r[3] == client_id.as_str()));
    assert!(csv.body.contains("=cmd|"), "the name is in the detail");
    for row in &rows {
        for cell in row.iter() {
            assert!(!cell.starts_with('='), "a cell starts with '=': {cell}");
        }
    }
    let actor_csv = owner.get("/audit-log/export.csv?actor==evil@x.test").await;
    assert_eq!(actor_csv.body.lines().count(), 1, "only the header");
}

#[tokio::test]
async fn audit_pages_are_keyset_paginated_and_readable_by_every_role_but_changeable_by_none() {
    let app = TestApp::demo().await;
    let acme = app.org_id("Acme Payments").await;
    for i in 0..120 {
        keyward::on!(app.state.db, |e| sqlx::query("INSERT INTO audit_events (organization_id, actor, action, target, detail, created_at) VALUES ($1, 'seed@acme.test', 'credential.rotated', $2, '{}', $3)")
            .bind(acme)
            .bind(format!("kwid_seed{i:03}"))
            .bind(app.state.now())
            .execute(e)
            .await.map(|r| r.rows_affected()))
            .unwrap();
    }
    let mut viewer = app.signed_in(Persona::AdminView).await;
    let first = viewer.get("/audit-log?action=credential.rotated").await;
    assert_eq!(
        first
            .body
            .matches("<code>credential.rotated</code>")
            .count(),
        50
    );
    assert!(first.body.contains("kwid_seed119") && !first.body.contains("kwid_seed069"));
    let marker = "before=";
    let start = first.body.find(marker).unwrap() + marker.len();
    let before: String = first.body[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let second = viewer
        .get(&format!(
            "/audit-log?action=credential.rotated&before={before}"
        ))
        .await;
    assert_eq!(
        second
            .body
            .matches("<code>credential.rotated</code>")
            .count(),
        50
    );
    assert!(second.body.contains("kwid_seed069") && !second.body.contains("kwid_seed070\""));
    assert!(!second.body.contains("<td>kwid_seed070</td>"));
    second.assert_contains("Newest events");

    let mut support = app.signed_in(Persona::Support).await;
    support
        .get("/audit-log")
        .await
        .assert_status(StatusCode::OK);
    for (method, path) in [
        ("POST", "/audit-log"),
        ("PUT", "/audit-log"),
        ("DELETE", "/audit-log"),
    ] {
        let request = viewer
            .request(method, path)
            .header("x-csrf-token", viewer.csrf.clone().unwrap())
            .body(axum::body::Body::empty())
            .unwrap();
        viewer
            .send(request)
            .await
            .assert_status(StatusCode::METHOD_NOT_ALLOWED);
    }
}
