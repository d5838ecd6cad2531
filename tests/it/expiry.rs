//! Credential expiry: a date set on the form or through the API, an
//! organization policy that requires one, no tokens after it, and
//! reminders at 30, 7 and 1 days that go out once each, by email and
//! webhook, also across a restart. The clock is the app's, moved by the test.

use std::sync::Arc;

use axum::http::StatusCode;
use keyward::AppState;
use keyward::storage::Db;

use crate::support::pages::*;
use crate::support::*;

const DAY: i64 = 86_400;

/// The date `days` after the app's today, as the form takes it.
fn date_in(app: &TestApp, days: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(app.clock.now() + days * DAY)
        .unwrap()
        .date()
        .to_string()
}

/// The app again, as a restarted process would build it: a new state on
/// the same database, key and clock.
async fn restarted(app: &TestApp) -> AppState {
    let db = Db::connect(&app.config.database_url).await.unwrap();
    AppState::with_clock(
        db,
        app.config.clone(),
        app.keys.clone(),
        Arc::new(app.clock.manual()),
    )
    .unwrap()
}

#[tokio::test]
async fn reminders_go_out_once_per_threshold_and_an_expired_credential_gets_no_token() {
    let smtp = Smtp::start().await;
    let url = smtp.url();
    let app = TestApp::demo_with(move |config| {
        config.smtp_url = Some(url);
        config.smtp_from = "Keyward <keyward@acme.test>".to_owned();
    })
    .await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    // A webhook for the expiry events (queued; not delivered in this test).
    owner.get("/settings/webhooks").await;
    owner
        .post(
            "/settings/webhooks",
            &[
                ("url", "https://hooks.example.test/expiry"),
                ("events", "credential.expiring"),
                ("events", "credential.expired"),
                ("enabled", "on"),
            ],
        )
        .await
        .assert_status(StatusCode::OK);
    // Adam (Can Edit) creates a credential that expires in 40 days.
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(CREDENTIALS).await;
    let expires_on = date_in(&app, 40);
    let created = admin
        .submit_credential(&with(
            credential_fields("Short lived"),
            &[("expires_on", &expires_on)],
        ))
        .await;
    created.assert_status(StatusCode::OK);
    let (client_id, secret) = (
        client_id_in(&created.body).unwrap(),
        secret_in(&created.body).unwrap(),
    );
    // 40 days out the card states the date, and raises no flag yet.
    admin
        .get(CREDENTIALS)
        .await
        .assert_contains("<dt>Expires</dt>")
        .assert_contains(&expires_on)
        .assert_lacks("<span class=\"badge warning\">Expires");
    let reminders = || async {
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'credential.expiring'")
            .await
    };

    // Nothing is due 40 days ahead.
    assert_eq!(
        keyward::jobs::reminders::run_once(&app.state)
            .await
            .unwrap(),
        0
    );
    // 30 days ahead: one reminder, however often the worker runs, and after a restart.
    app.clock.advance(11 * DAY);
    // Within 30 days the card says so.
    app.sign_in_as(Persona::Admin)
        .await
        .get(CREDENTIALS)
        .await
        .assert_contains("<span class=\"badge warning\">Expires in 29 days</span>");
    assert_eq!(
        keyward::jobs::reminders::run_once(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        keyward::jobs::reminders::run_once(&app.state)
            .await
            .unwrap(),
        0
    );
    let again = restarted(&app).await;
    assert_eq!(keyward::jobs::reminders::run_once(&again).await.unwrap(), 0);
    assert_eq!(reminders().await, 1);
    // The owners and the creator are emailed.
    for person in ["owner@acme.test", "admin@acme.test"] {
        let mails = smtp.messages_to(person).await;
        assert_eq!(mails.len(), 1, "{person}: {mails:?}");
        assert!(mails[0].contains("expires in 30 days"), "{}", mails[0]);
        assert!(mails[0].contains(&client_id));
        assert!(!mails[0].contains(&secret[9..]));
    }
    assert!(smtp.messages_to("viewer@acme.test").await.is_empty());

    // 7 days, then 1 day ahead: one each.
    app.clock.advance(23 * DAY);
    assert_eq!(keyward::jobs::reminders::run_once(&again).await.unwrap(), 1);
    app.clock.advance(6 * DAY);
    assert_eq!(
        keyward::jobs::reminders::run_once(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(keyward::jobs::reminders::run_once(&again).await.unwrap(), 0);
    assert_eq!(reminders().await, 3);
    // Still its last day: tokens are issued.
    let mut machine = app.client();
    machine
        .client_credentials(&client_id, &secret)
        .await
        .assert_status(StatusCode::OK);

    // Past the end of the date: no token, and the card says so.
    app.clock.advance(DAY);
    machine
        .client_credentials(&client_id, &secret)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client")
        .assert_contains("This credential has expired");
    assert_eq!(
        keyward::jobs::reminders::run_once(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(keyward::jobs::reminders::run_once(&again).await.unwrap(), 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'credential.expired'")
            .await,
        1
    );
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains("<span class=\"badge danger\">Expired</span>")
        .assert_contains(&format!("Expired on {expires_on}."));
    let mails = smtp.messages_to("owner@acme.test").await;
    assert_eq!(mails.len(), 4, "30, 7, 1 days and expired: {mails:?}");
    // The webhook got one event per reminder, and one for the expiry.
    let kinds = app
        .sql
        .strings("SELECT event_type FROM webhook_deliveries ORDER BY id", &[])
        .await;
    assert_eq!(
        kinds,
        [
            "credential.expiring",
            "credential.expiring",
            "credential.expiring",
            "credential.expired"
        ]
    );
    let payload = app
        .sql
        .string(
            "SELECT payload FROM webhook_deliveries ORDER BY id LIMIT 1",
            &[],
        )
        .await;
    assert!(payload.contains("\"days_left\":30"), "{payload}");

    // A later date brings it back, and its reminders start over.
    owner.get(&credential(&client_id, "edit")).await;
    let later = date_in(&app, 60);
    owner
        .edit_credential(
            &client_id,
            &with(credential_fields("Short lived"), &[("expires_on", &later)]),
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    machine
        .client_credentials(&client_id, &secret)
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credential_reminders").await,
        0
    );
}

#[tokio::test]
async fn an_organization_policy_requires_an_expiry_within_its_limit() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(ORGANIZATION).await;
    owner
        .post(
            ORGANIZATION,
            &[("org_name", "Acme Payments"), ("max_credential_days", "30")],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get(ORGANIZATION)
        .await
        .assert_contains(r#"<option value="30" selected>Required, at most 30 days</option>"#);
    // A value the select does not offer is refused at its field.
    owner
        .post(
            ORGANIZATION,
            &[
                ("org_name", "Acme Payments"),
                ("max_credential_days", "9999"),
            ],
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("max_credential_days-error");

    // The New Credential form starts at the longest date allowed.
    owner
        .get("/settings/credentials/new")
        .await
        .assert_contains(&format!(r#"value="{}""#, date_in(&app, 30)))
        .assert_contains("requires a date at most 30 days ahead");
    for (date, message) in [
        ("", "requires credentials to expire within 30 days"),
        (
            &*date_in(&app, 31),
            "allows credentials to live at most 30 days",
        ),
        (&*date_in(&app, 0), "Choose a date after today."),
        ("31/12/2030", "Enter a date as YYYY-MM-DD"),
    ] {
        owner.get(CREDENTIALS).await;
        owner
            .submit_credential(&with(
                credential_fields("Policy probe"),
                &[("expires_on", date)],
            ))
            .await
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains(message)
            .assert_contains(r#"id="expires_on-error""#)
            .assert_contains(r#"aria-invalid="true""#);
    }
    assert_eq!(
        app.client_ids("Acme Payments").await.len(),
        1,
        "nothing was created"
    );
    owner.get(CREDENTIALS).await;
    owner
        .submit_credential(&with(
            credential_fields("Policy probe"),
            &[("expires_on", &date_in(&app, 30))],
        ))
        .await
        .assert_status(StatusCode::OK);

    // The API holds the same rule, at the same field.
    let acme = app.org_id("Acme Payments").await;
    let token = owner.api_token("policy", acme, "write").await;
    let body = serde_json::json!({
        "name": "Api probe",
        "permission_set": "monitoring",
        "permissions": ["balances:read:org"],
        "ip_allowlist": ["0.0.0.0/0"],
    });
    let refused = app
        .client()
        .api("POST", "/api/v1/credentials", &token, Some(body.clone()))
        .await;
    refused.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.json()["errors"][0]["field"], "expires_on");
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("within 30 days")
    );
    let mut with_date = body;
    with_date["expires_on"] = serde_json::json!(date_in(&app, 10));
    let created = app
        .client()
        .api("POST", "/api/v1/credentials", &token, Some(with_date))
        .await;
    created.assert_status(StatusCode::CREATED);
    let client_id = created.json()["client_id"].as_str().unwrap().to_owned();
    let read = app
        .client()
        .api(
            "GET",
            &format!("/api/v1/credentials/{client_id}"),
            &token,
            None,
        )
        .await;
    assert!(
        read.json()["expires_at"]
            .as_str()
            .unwrap()
            .starts_with(&date_in(&app, 11))
    );
}

#[tokio::test]
async fn with_approval_required_the_requested_expiry_is_kept_and_a_longer_life_needs_an_owner() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.require_approval().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(CREDENTIALS).await;
    let five_days = date_in(&app, 5);
    admin
        .submit_credential(&with(
            credential_fields("Requested short"),
            &[
                ("expires_on", five_days.as_str()),
                ("justification", "Nightly reconciliation job for the ledger"),
            ],
        ))
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let request_id = app
        .sql
        .string("SELECT request_id FROM credential_requests", &[])
        .await;
    owner.get(CREDENTIALS).await;
    owner
        .approve(&request_id)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    admin.get(CREDENTIALS).await;
    let generated = admin.generate(&request_id).await;
    generated.assert_status(StatusCode::OK);
    let client_id = client_id_in(&generated.body).unwrap();
    admin
        .get(CREDENTIALS)
        .await
        .assert_contains("<dt>Expires</dt>")
        .assert_contains(&five_days);

    // Extending it is a widening change: a request, the date unchanged until approved.
    let later = date_in(&app, 60);
    admin.get(&credential(&client_id, "edit")).await;
    admin
        .edit_credential(
            &client_id,
            &with(
                credential_fields("Requested short"),
                &[
                    ("expires_on", later.as_str()),
                    ("justification", "It runs for two more months"),
                ],
            ),
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let stored = || async {
        app.sql
            .string(
                "SELECT CAST(expires_at AS TEXT) FROM credentials WHERE client_id = $1",
                &[client_id.as_str().into()],
            )
            .await
    };
    let before = stored().await;
    assert_eq!(
        keyward::domain::credential::expiry::date(before.parse().unwrap()),
        five_days
    );
    let change = app
        .sql
        .string(
            "SELECT request_id FROM credential_requests WHERE credential_id IS NOT NULL",
            &[],
        )
        .await;
    owner.get(CREDENTIALS).await;
    owner
        .approve(&change)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let after = stored().await;
    assert_eq!(
        keyward::domain::credential::expiry::date(after.parse().unwrap()),
        later
    );
}

#[tokio::test]
async fn a_credential_on_its_last_day_can_still_be_renamed() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(CREDENTIALS).await;
    let tomorrow = date_in(&app, 1);
    let created = owner
        .submit_credential(&with(
            credential_fields("Last day"),
            &[("expires_on", tomorrow.as_str())],
        ))
        .await;
    let client_id = client_id_in(&created.body).unwrap();
    // A day later, its last day is today: a date no longer accepted as new.
    app.clock.advance(DAY);
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(&credential(&client_id, "edit")).await;
    owner
        .edit_credential(
            &client_id,
            &with(
                credential_fields("Last day, renamed"),
                &[("expires_on", tomorrow.as_str())],
            ),
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let acme = app.org_id("Acme Payments").await;
    let token = owner.api_token("rename", acme, "write").await;
    app.client()
        .api(
            "PATCH",
            &format!("/api/v1/credentials/{client_id}"),
            &token,
            Some(serde_json::json!({ "name": "Last day, again" })),
        )
        .await
        .assert_status(StatusCode::OK);
}

#[tokio::test]
async fn reminders_are_not_starved_by_credentials_reminded_already() {
    let app = TestApp::demo().await;
    let globex = app.org_id("Globex").await;
    let now = app.clock.now();
    // 150 credentials of another organization, in 10 days, reminded at 30 days already.
    for i in 0..150 {
        let client_id = format!("kwid_starve{i:017}");
        app.sql
            .execute(
                "INSERT INTO credentials (organization_id, client_id, name, name_key, created_at, created_by,
                     updated_at, permission_set, permissions, ip_allowlist, expires_at)
                 VALUES ($1, $2, $3, $3, $4, 'x@globex.test', $4, 'monitoring', 'balances:read:org', '0.0.0.0/0', $5)",
                &[globex.into(), client_id.as_str().into(), format!("starve {i}").as_str().into(), now.into(), (now + 10 * DAY).into()],
            )
            .await;
        app.sql
            .execute(
                "INSERT INTO credential_reminders (credential_id, days, sent_at)
                 SELECT id, 30, $2 FROM credentials WHERE client_id = $1",
                &[client_id.as_str().into(), now.into()],
            )
            .await;
    }
    // Acme's, in 20 days, not reminded yet.
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(CREDENTIALS).await;
    owner
        .submit_credential(&with(
            credential_fields("Not starved"),
            &[("expires_on", &date_in(&app, 20))],
        ))
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(
        keyward::jobs::reminders::run_once(&app.state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_events e JOIN organizations o ON o.id = e.organization_id
             WHERE e.action = 'credential.expiring' AND o.name = 'Acme Payments'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn approving_a_change_requested_before_a_policy_keeps_the_expiry_set_since() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.require_approval().await;
    let narrow: Vec<_> = credential_fields("Ledger sync")
        .into_iter()
        .filter(|&(_, value)| value != "webhooks:read")
        .collect();
    owner.get(CREDENTIALS).await;
    let created = owner.submit_credential(&narrow).await;
    created.assert_status(StatusCode::OK);
    let client_id = client_id_in(&created.body).unwrap();

    // An admin asks for a wider set; the request holds no expiry, as the
    // credential has none yet.
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(&credential(&client_id, "edit")).await;
    admin
        .edit_credential(
            &client_id,
            &with(
                credential_fields("Ledger sync"),
                &[("justification", "It posts webhook deliveries too")],
            ),
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);

    // Then a policy takes effect, and the owner gives the credential an expiry.
    owner.get(ORGANIZATION).await;
    owner
        .post(
            ORGANIZATION,
            &[("org_name", "Acme Payments"), ("max_credential_days", "30")],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let twenty_days = date_in(&app, 20);
    owner.get(&credential(&client_id, "edit")).await;
    owner
        .edit_credential(
            &client_id,
            &with(narrow.clone(), &[("expires_on", &twenty_days)]),
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);

    let change = app
        .sql
        .string("SELECT request_id FROM credential_requests", &[])
        .await;
    owner.get(CREDENTIALS).await;
    owner
        .approve(&change)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let stored = app
        .sql
        .string(
            "SELECT CAST(expires_at AS TEXT) FROM credentials WHERE client_id = $1",
            &[client_id.as_str().into()],
        )
        .await;
    assert!(!stored.is_empty(), "the approval took the expiry away");
    assert_eq!(
        keyward::domain::credential::expiry::date(stored.parse().unwrap()),
        twenty_days
    );
    // The change itself applied.
    assert!(
        app.sql
            .string(
                "SELECT permissions FROM credentials WHERE client_id = $1",
                &[client_id.as_str().into()],
            )
            .await
            .contains("webhooks:read")
    );
}
