//! Webhooks: endpoints managed on Settings > Webhooks, deliveries signed as
//! Standard Webhooks defines and verified by a real receiver (the
//! `standardwebhooks` Python library), retried through failures, refused
//! where they could reach the server's own network.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use keyward::settings::Settings;
use serde_json::json;

use crate::support::pages::*;
use crate::support::*;

const ALL_CREDENTIAL_AND_MEMBER_EVENTS: &[&str] = &[
    "credential.created",
    "credential.updated",
    "credential.rotated",
    "credential.previous_secret_expired",
    "credential.disabled",
    "credential.enabled",
    "credential.deleted",
    "credential.made_primary",
    "member.invited",
];

/// Deliveries may reach loopback (the receiver) and use http there.
fn local_receivers(config: &mut Settings) {
    config.webhook.allow_http = true;
    config.webhook.allowed_networks = keyward::settings::Networks::parse("127.0.0.0/8").unwrap();
}

/// Http to loopback is accepted as a URL, but no network is allowed.
fn no_private_networks(config: &mut Settings) {
    config.webhook.allow_http = true;
}

/// Adds a webhook on the page; returns its id and the secret shown once.
pub(crate) async fn add_webhook(
    owner: &mut Client,
    url: &str,
    events: &[&str],
) -> (String, String) {
    owner
        .get("/settings/webhooks")
        .await
        .assert_status(StatusCode::OK);
    let mut fields = vec![
        ("url", url),
        ("description", "test receiver"),
        ("enabled", "on"),
    ];
    fields.extend(events.iter().map(|e| ("events", *e)));
    let page = owner.post("/settings/webhooks", &fields).await;
    page.assert_status(StatusCode::OK)
        .assert_contains("Webhook added. Copy its signing secret now")
        .assert_contains(r#"action="/settings/webhooks/"#);
    assert_eq!(page.header("cache-control"), "no-store");
    let secret = signing_secret_in(&page.body).expect("the signing secret is shown");
    let marker = r#"action="/settings/webhooks/"#;
    let start = page.body.find(marker).unwrap() + marker.len();
    let id: String = page.body[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (id, secret)
}

fn signing_secret_in(body: &str) -> Option<String> {
    let start = body.find("whsec_")?;
    Some(
        body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "_+/=".contains(*c))
            .collect(),
    )
}

/// Runs the app's delivery worker until nothing is waiting, moving the
/// clock past each retry's wait. Returns the rounds it took.
async fn deliver_everything(app: &TestApp) -> usize {
    for round in 1..=60 {
        keyward::jobs::webhooks::Deliveries::from(&app.state)
            .run_once()
            .await
            .unwrap();
        let waiting = app
            .count("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
            .await;
        if waiting == 0 {
            return round;
        }
        app.clock.advance(60);
    }
    panic!("deliveries still waiting after 60 rounds");
}

#[tokio::test]
async fn every_event_arrives_signed_and_exactly_once_through_a_receiver_that_fails_at_first() {
    let app = TestApp::demo_with(local_receivers).await;
    // The receiver answers 500 to the first three deliveries it verifies.
    let mut receiver = Receiver::new(3);
    receiver.start().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (_, secret) = add_webhook(
        &mut owner,
        &receiver.url(),
        ALL_CREDENTIAL_AND_MEMBER_EVENTS,
    )
    .await;
    receiver.set_secret(&secret);

    // Changes, each an event.
    let old = app.client_ids("Acme Payments").await;
    let (client_id, client_secret) = owner.create_credential("Webhook probe").await;
    owner.get(CREDENTIALS).await;
    owner
        .rotate(&client_id, Grace::Hours(24))
        .await
        .assert_status(StatusCode::OK);
    owner.get(CREDENTIALS).await;
    owner.disable(&client_id).await;
    owner.enable(&client_id).await;
    owner.make_primary(&client_id).await;
    owner.delete(&old[0]).await;
    owner.get("/settings/members").await;
    owner.invite("new.hire@acme.test", Role::CanView).await;
    let expected = [
        "credential.created",
        "credential.rotated",
        "credential.disabled",
        "credential.enabled",
        "credential.made_primary",
        "credential.deleted",
        "member.invited",
    ];
    let queued = app.count("SELECT COUNT(*) FROM webhook_deliveries").await;
    assert_eq!(queued, expected.len() as i64, "one delivery per event");

    let rounds = deliver_everything(&app).await;
    assert!(rounds > 1, "the failures were retried in later rounds");

    // The receiver verified every request, refused none, and accepted each
    // event exactly once; the three it answered 500 came again.
    let log = receiver.log();
    assert!(log.iter().all(|l| l["verified"] == true), "{log:?}");
    assert_eq!(log.iter().filter(|l| l["answer"] == 500).count(), 3);
    let accepted = receiver.accepted();
    let unique: BTreeSet<&String> = accepted.iter().collect();
    assert_eq!(unique.len(), accepted.len(), "no event accepted twice");
    let stored: BTreeSet<String> = app
        .sql
        .strings("SELECT message_id FROM webhook_deliveries", &[])
        .await
        .into_iter()
        .collect();
    assert_eq!(unique.into_iter().cloned().collect::<BTreeSet<_>>(), stored);
    let mut types: Vec<&str> = log
        .iter()
        .filter(|l| l["answer"] == 200)
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    types.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(types, want);
    let retried = app
        .count(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE attempts > 1 AND status = 'delivered'",
        )
        .await;
    assert!(retried >= 1, "some deliveries needed more than one attempt");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'delivered'")
            .await,
        0
    );

    // No payload holds a secret: not the client secret, not the signing secret.
    for line in &log {
        let body = line["body"].as_str().unwrap_or_default();
        assert!(
            !body.contains(&client_secret) && !body.contains("kws_test_"),
            "{body}"
        );
        assert!(
            !body.contains(&secret) && !body.contains("whsec_"),
            "{body}"
        );
    }
    // The rotation's payload names the credential it is about.
    let rotated = log
        .iter()
        .find(|l| l["type"] == "credential.rotated" && l["answer"] == 200)
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(rotated["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["data"]["subject"], client_id.as_str());
    assert_eq!(body["data"]["actor"], "owner@acme.test");
}

#[tokio::test]
async fn the_page_lists_deliveries_resends_one_and_sends_a_test_event() {
    let app = TestApp::demo_with(local_receivers).await;
    let mut receiver = Receiver::new(0);
    receiver.start().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, secret) = add_webhook(&mut owner, &receiver.url(), &["credential.created"]).await;
    receiver.set_secret(&secret);
    let page = format!("/settings/webhooks/{id}");

    owner.get(&page).await;
    owner
        .post(&format!("{page}/test"), &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    deliver_everything(&app).await;
    let shown = owner.get(&page).await;
    shown
        .assert_contains("Test event queued")
        .assert_contains("webhook.test")
        .assert_contains("Delivered")
        .assert_contains(">200<");
    assert_eq!(receiver.accepted().len(), 1);

    // Resend: the same event, with the same webhook-id, arrives again.
    let delivery = app
        .sql
        .string("SELECT CAST(id AS TEXT) FROM webhook_deliveries", &[])
        .await;
    owner
        .post(&format!("{page}/deliveries/{delivery}/resend"), &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    deliver_everything(&app).await;
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 2);
    assert_eq!(accepted[0], accepted[1], "a resend keeps its webhook-id");

    // Another organization's delivery id is not found through this endpoint.
    owner.get(&page).await;
    owner
        .post(&format!("{page}/deliveries/999999/resend"), &[])
        .await
        .assert_status(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_rotated_signing_secret_overlaps_the_old_one_for_a_day() {
    let app = TestApp::demo_with(local_receivers).await;
    let mut receiver = Receiver::new(0);
    receiver.start().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, old_secret) = add_webhook(&mut owner, &receiver.url(), &["credential.created"]).await;
    receiver.set_secret(&old_secret);
    let page = format!("/settings/webhooks/{id}");

    owner.get(&page).await;
    let rotated = owner.post(&format!("{page}/rotate-secret"), &[]).await;
    rotated
        .assert_status(StatusCode::OK)
        .assert_contains("Signing secret rotated");
    let new_secret = signing_secret_in(&rotated.body).unwrap();
    assert_ne!(new_secret, old_secret);
    assert_eq!(
        app.sql
            .strings("SELECT secret FROM webhook_endpoints", &[])
            .await
            .iter()
            .filter(|s| s.contains("whsec_"))
            .count(),
        0,
        "signing secrets are stored sealed"
    );

    // During the overlap both secrets sign: a receiver still on the old one verifies.
    owner.create_credential("During overlap").await;
    deliver_everything(&app).await;
    let log = receiver.log();
    assert_eq!(log.last().unwrap()["verified"], true);
    assert_eq!(log.last().unwrap()["signatures"], 2);

    // Still both 23 hours on; a day later only the new one signs. The
    // receiver's clock agrees with Keyward's, which signs with its own.
    app.clock.advance(23 * 3600);
    receiver.set_clock(app.clock.now());
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(&page).await;
    owner
        .post(&format!("{page}/test"), &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    deliver_everything(&app).await;
    let last = receiver.log().last().unwrap().clone();
    assert_eq!(
        (last["signatures"].clone(), last["verified"].clone()),
        (json!(2), json!(true))
    );
    // Signed at the time of Keyward's clock.
    assert_eq!(last["timestamp"], app.clock.now().to_string());
    app.clock.advance(2 * 3600);
    receiver.set_clock(app.clock.now());
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.create_credential("After overlap").await;
    keyward::jobs::webhooks::Deliveries::from(&app.state)
        .run_once()
        .await
        .unwrap();
    let log = receiver.log();
    assert_eq!(log.last().unwrap()["signatures"], 1);
    assert_eq!(
        log.last().unwrap()["verified"],
        false,
        "the old secret no longer verifies"
    );
    // The receiver refused it (401); once it has the new secret, the retry is accepted.
    receiver.set_secret(&new_secret);
    deliver_everything(&app).await;
    assert_eq!(receiver.log().last().unwrap()["verified"], true);
    owner.get(&page).await.assert_lacks("also signs until");
}

#[tokio::test]
async fn deliveries_never_reach_loopback_or_private_addresses_unless_the_operator_allows_them() {
    let app = TestApp::demo_with(no_private_networks).await;
    // A healthy receiver on loopback, which must get nothing.
    let mut receiver = Receiver::new(0);
    receiver.start().await;
    receiver.set_secret("whsec_AAAA");
    let port = receiver.port;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let targets = [
        format!("http://127.0.0.1:{port}/hook"),
        "https://10.0.0.1/hook".to_owned(),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        "https://[::ffff:127.0.0.1]/hook".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
    ];
    for url in &targets {
        add_webhook(&mut owner, url, &["credential.created"]).await;
    }
    owner.create_credential("Probe").await;
    keyward::jobs::webhooks::Deliveries::from(&app.state)
        .run_once()
        .await
        .unwrap();

    type Row = (String, String, i64, Option<String>, Option<i64>);
    let rows: Vec<Row> = app
        .sql
        .all(
            "SELECT e.url, d.status, d.attempts, d.last_error, d.response_status FROM webhook_deliveries d
             JOIN webhook_endpoints e ON e.id = d.endpoint_id ORDER BY e.id",
            &[],
        )
        .await;
    assert_eq!(rows.len(), targets.len());
    for (url, status, attempts, error, response) in &rows {
        // Failed after one attempt: a refused address is not retried.
        assert_eq!(
            (status.as_str(), *attempts, error.as_deref()),
            ("failed", 1, Some("address_not_allowed")),
            "{url}"
        );
        assert_eq!(*response, None, "{url} was never connected to");
    }
    // Later rounds, days later, attempt none of them again.
    app.clock.advance(86_400);
    assert_eq!(
        keyward::jobs::webhooks::Deliveries::from(&app.state)
            .run_once()
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        app.count("SELECT CAST(SUM(attempts) AS BIGINT) FROM webhook_deliveries")
            .await,
        targets.len() as i64
    );
    assert!(receiver.log().is_empty(), "nothing reached the receiver");
    // The owner reads why on the endpoint's page.
    let id = app
        .sql
        .string("SELECT CAST(MIN(id) AS TEXT) FROM webhook_endpoints", &[])
        .await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get(&format!("/settings/webhooks/{id}"))
        .await
        .assert_contains("Address not allowed: the host is a loopback, private or reserved address (not retried)")
        .assert_contains(">Failed<");
}

#[tokio::test]
async fn a_name_that_resolves_to_a_refused_address_fails_at_once_and_its_log_names_no_address() {
    let app = TestApp::demo_with(no_private_networks).await;
    let acme = app.org_id("Acme Payments").await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("hooks", acme, "write").await;
    // `localhost` resolves to 127.0.0.1 and ::1, which nobody allowed.
    let (id, _) = add_webhook(
        &mut owner,
        &format!("http://localhost:{}/hook", free_port()),
        &["credential.created"],
    )
    .await;
    owner.create_credential("Probe").await;
    keyward::jobs::webhooks::Deliveries::from(&app.state)
        .run_once()
        .await
        .unwrap();
    let (status, attempts, error): (String, i64, Option<String>) = app
        .sql
        .one(
            "SELECT status, attempts, last_error FROM webhook_deliveries",
            &[],
        )
        .await;
    assert_eq!(
        (status.as_str(), attempts, error.as_deref()),
        ("failed", 1, Some("address_not_allowed"))
    );

    // The page and the API say the category, never what the name resolves to.
    let page = owner.get(&format!("/settings/webhooks/{id}")).await;
    let listed = app
        .client()
        .api(
            "GET",
            &format!("/api/v1/webhooks/{id}/deliveries"),
            &token,
            None,
        )
        .await;
    listed.assert_status(StatusCode::OK);
    assert_eq!(
        listed.json()["data"][0]["error_code"],
        "address_not_allowed"
    );
    assert_eq!(listed.json()["data"][0]["status"], "failed");
    for shown in [&page.body, &listed.body] {
        assert!(shown.contains("Address not allowed"), "{shown}");
        for leak in ["127.0.0.1", "::1", "resolves to", "KEYWARD_WEBHOOK"] {
            assert!(!shown.contains(leak), "{leak} in {shown}");
        }
    }
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_retried_as_could_not_resolve_host_without_the_resolvers_text()
 {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, _) = add_webhook(
        &mut owner,
        "https://hooks.nowhere.invalid/hook",
        &["credential.created"],
    )
    .await;
    owner.create_credential("Probe").await;
    keyward::jobs::webhooks::Deliveries::from(&app.state)
        .run_once()
        .await
        .unwrap();
    let (status, error): (String, Option<String>) = app
        .sql
        .one("SELECT status, last_error FROM webhook_deliveries", &[])
        .await;
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("pending", Some("could_not_resolve"))
    );
    let page = owner.get(&format!("/settings/webhooks/{id}")).await;
    page.assert_contains("Could not resolve host")
        .assert_contains("Retrying")
        .assert_lacks("lookup")
        .assert_lacks("does not resolve")
        .assert_lacks("error sending request");
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    // The operator allows 127.0.0.1 (where the redirecting receiver is); the
    // redirect points at another loopback receiver, which must get nothing.
    let app = TestApp::demo_with(local_receivers).await;
    let mut target = Receiver::new(0);
    target.start().await;
    let mut redirector = Receiver::redirecting(&target.url());
    redirector.start().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    add_webhook(&mut owner, &redirector.url(), &["credential.created"]).await;
    owner.create_credential("Probe").await;
    keyward::jobs::webhooks::Deliveries::from(&app.state)
        .run_once()
        .await
        .unwrap();

    let (status, error): (Option<i64>, Option<String>) = app
        .sql
        .one(
            "SELECT response_status, last_error FROM webhook_deliveries",
            &[],
        )
        .await;
    assert_eq!(status, Some(302));
    assert_eq!(error.as_deref(), Some("redirect"));
    assert_eq!(redirector.log().len(), 1);
    assert!(target.log().is_empty(), "the redirect was not followed");
}

#[tokio::test]
async fn only_owners_manage_webhooks_and_only_their_own() {
    let app = TestApp::demo_with(local_receivers).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, _) = add_webhook(
        &mut owner,
        "https://hooks.example.test/k",
        &["credential.created"],
    )
    .await;
    let page = format!("/settings/webhooks/{id}");
    let actions = [
        page.clone(),
        format!("{page}/rotate-secret"),
        format!("{page}/test"),
        format!("{page}/delete"),
    ];

    for persona in [Persona::Admin, Persona::Viewer, Persona::Support] {
        let mut browser = app.sign_in_as(persona).await;
        browser
            .get("/settings/webhooks")
            .await
            .assert_status(StatusCode::FORBIDDEN)
            .assert_contains("Only organization owners can do this.")
            .assert_lacks("hooks.example.test");
        browser
            .get(CREDENTIALS)
            .await
            .assert_lacks(r#"href="/settings/webhooks""#);
        browser
            .post(
                "/settings/webhooks",
                &[
                    ("url", "https://evil.test/"),
                    ("events", "credential.created"),
                ],
            )
            .await
            .assert_status(StatusCode::FORBIDDEN);
        for action in &actions {
            let response = browser
                .post(
                    action,
                    &[
                        ("url", "https://evil.test/"),
                        ("events", "credential.created"),
                    ],
                )
                .await;
            assert!(
                matches!(
                    response.status,
                    StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
                ),
                "{persona:?} {action}: {}",
                response.status
            );
        }
    }

    // The owner of another organization finds nothing.
    let mut stranger = app.sign_in_as(Persona::GlobexOwner).await;
    stranger
        .get("/settings/webhooks")
        .await
        .assert_status(StatusCode::OK)
        .assert_lacks("hooks.example.test");
    stranger
        .get(&page)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    for action in &actions {
        stranger
            .post(
                action,
                &[
                    ("url", "https://evil.test/"),
                    ("events", "credential.created"),
                ],
            )
            .await
            .assert_status(StatusCode::NOT_FOUND);
    }
    let (url, count): (String, i64) = app
        .sql
        .one("SELECT MIN(url), COUNT(*) FROM webhook_endpoints", &[])
        .await;
    assert_eq!((url.as_str(), count), ("https://hooks.example.test/k", 1));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_deliveries").await,
        0
    );
}

#[tokio::test]
async fn bad_settings_are_refused_at_their_field_and_nothing_is_stored() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get("/settings/webhooks").await;
    let cases: BTreeMap<&str, (&str, Vec<&str>)> = BTreeMap::from([
        (
            "Use an https:// URL",
            ("http://hooks.example.test/k", vec!["credential.created"]),
        ),
        (
            "Enter a full URL",
            ("hooks.example.test/k", vec!["credential.created"]),
        ),
        ("Enter the URL", ("", vec!["credential.created"])),
        (
            "Leave the user name and password out",
            (
                "https://a:b@hooks.example.test/",
                vec!["credential.created"],
            ),
        ),
        (
            "Choose at least one event",
            ("https://hooks.example.test/k", vec![]),
        ),
        (
            "is not an event Keyward sends",
            ("https://hooks.example.test/k", vec!["credential.exploded"]),
        ),
        // Without the development flag, http is refused even for loopback.
        (
            "Use an https:// URL ",
            ("http://127.0.0.1:9/k", vec!["credential.created"]),
        ),
    ]);
    for (message, (url, events)) in cases {
        let mut fields = vec![("url", url)];
        fields.extend(events.iter().map(|e| ("events", *e)));
        let page = owner.post("/settings/webhooks", &fields).await;
        page.assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains(message.trim())
            .assert_contains(r#"class="field-error""#)
            .assert_contains(&format!(r#"value="{}""#, url.replace('&', "&amp;")));
        owner.get("/settings/webhooks").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_endpoints").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action LIKE 'webhook.%'")
            .await,
        0
    );
}

#[tokio::test]
async fn failures_and_refused_addresses_reach_a_webhook_at_most_once_an_hour_per_credential() {
    let app = TestApp::demo_with(local_receivers).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    add_webhook(
        &mut owner,
        "https://hooks.example.test/k",
        &[
            "credential.authentication_failures",
            "credential.address_refused",
        ],
    )
    .await;
    let (client_id, secret) = owner.create_credential("Noisy").await;
    owner.get(CREDENTIALS).await;
    let fenced = with(
        credential_fields("Fenced"),
        &[("ip_mode", "limited"), ("ip_list", "203.0.113.0/24")],
    );
    let created = owner.submit_credential(&fenced).await;
    created.assert_status(StatusCode::OK);
    let (fenced_id, fenced_secret) = (
        client_id_in(&created.body).unwrap(),
        secret_in(&created.body).unwrap(),
    );
    let count = |kind: &'static str| {
        let sql = &app.sql;
        async move {
            sql.scalar_i64(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE event_type = $1",
                &[kind.into()],
            )
            .await
        }
    };
    let mut machine = app.client();
    // Well formed (it passes the checksum), but another credential's.
    let wrong = fenced_secret.clone();
    assert_ne!(wrong, secret);

    // A wrong secret: one event. Again in a new failure window, within the hour: none.
    machine
        .client_credentials(&client_id, &wrong)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(count("credential.authentication_failures").await, 1);
    app.clock.advance(6 * 60);
    machine.client_credentials(&client_id, &wrong).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'token.auth_failed'")
            .await,
        2,
        "the audit log has both windows"
    );
    assert_eq!(count("credential.authentication_failures").await, 1);

    // The right secret from an address outside the allowlist: one event for
    // many refusals, each refused.
    for _ in 0..5 {
        machine
            .client_credentials(&fenced_id, &fenced_secret)
            .await
            .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    }
    assert_eq!(count("credential.address_refused").await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'token.address_refused'")
            .await,
        1
    );

    // An hour later, each may be sent again.
    app.clock.advance(3600);
    machine.client_credentials(&client_id, &wrong).await;
    machine.client_credentials(&fenced_id, &fenced_secret).await;
    assert_eq!(count("credential.authentication_failures").await, 2);
    assert_eq!(count("credential.address_refused").await, 2);
    let payload = app
        .sql
        .string(
            "SELECT payload FROM webhook_deliveries WHERE event_type = 'credential.address_refused'",
            &[],
        )
        .await;
    assert!(
        payload.contains(&fenced_id) && payload.contains("\"address\""),
        "{payload}"
    );
}

#[tokio::test]
async fn the_api_manages_webhooks_for_owners_tokens_only() {
    let app = TestApp::demo_with(local_receivers).await;
    let acme = app.org_id("Acme Payments").await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let write = owner.api_token("hooks", acme, "write").await;
    let read = owner.api_token("hooks read", acme, "read").await;
    let mut receiver = Receiver::new(0);
    receiver.start().await;
    let mut script = app.client();

    let created = script
        .api(
            "POST",
            "/api/v1/webhooks",
            &write,
            Some(serde_json::json!({ "url": receiver.url(), "events": ["credential.created", "webhook.test"] })),
        )
        .await;
    // `webhook.test` is not an event one subscribes to.
    created.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(created.json()["errors"][0]["field"], "events");
    let created = script
        .api(
            "POST",
            "/api/v1/webhooks",
            &write,
            Some(serde_json::json!({ "url": receiver.url(), "events": ["credential.created"], "description": "CI" })),
        )
        .await;
    created.assert_status(StatusCode::CREATED);
    let body = created.json();
    let id = body["id"].as_i64().unwrap();
    let secret = body["signing_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(body["events"], serde_json::json!(["credential.created"]));
    receiver.set_secret(&secret);

    // A read token stands at Can View, below an owner, as for members.
    script
        .api("GET", "/api/v1/webhooks", &read, None)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    // Reads never show the secret again.
    let listed = script.api("GET", "/api/v1/webhooks", &write, None).await;
    listed.assert_status(StatusCode::OK).assert_lacks("whsec_");
    assert_eq!(listed.json()["data"][0]["id"], id);

    // A read token changes nothing.
    script
        .api("POST", &format!("/api/v1/webhooks/{id}/test"), &read, None)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    let queued = script
        .api("POST", &format!("/api/v1/webhooks/{id}/test"), &write, None)
        .await;
    queued.assert_status(StatusCode::ACCEPTED);
    deliver_everything(&app).await;
    let deliveries = script
        .api(
            "GET",
            &format!("/api/v1/webhooks/{id}/deliveries"),
            &write,
            None,
        )
        .await;
    deliveries.assert_status(StatusCode::OK);
    let delivery = &deliveries.json()["data"][0];
    assert_eq!(delivery["event_type"], "webhook.test");
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["response_status"], 200);
    assert_eq!(
        receiver.accepted(),
        [delivery["message_id"].as_str().unwrap()]
    );

    // PATCH keeps what it does not name; a bad field names itself.
    let changed = script
        .api(
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            &write,
            Some(serde_json::json!({ "enabled": false })),
        )
        .await;
    changed.assert_status(StatusCode::OK);
    assert_eq!(changed.json()["enabled"], false);
    assert_eq!(changed.json()["description"], "CI");
    let refused = script
        .api(
            "PATCH",
            &format!("/api/v1/webhooks/{id}"),
            &write,
            Some(serde_json::json!({ "url": "ftp://example.test" })),
        )
        .await;
    refused.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.json()["errors"][0]["field"], "url");
    script
        .api("POST", &format!("/api/v1/webhooks/{id}/test"), &write, None)
        .await
        .assert_status(StatusCode::CONFLICT);
    let rotated = script
        .api(
            "POST",
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            &write,
            None,
        )
        .await;
    rotated.assert_status(StatusCode::OK);
    assert_ne!(rotated.json()["signing_secret"], secret.as_str());
    assert!(rotated.json()["previous_secret_until"].is_string());

    // An administrator's token, and another organization's owner's, reach nothing.
    let mut admin = app.sign_in_as(Persona::Admin).await;
    let admin_token = admin.api_token("admin", acme, "write").await;
    script
        .api("GET", "/api/v1/webhooks", &admin_token, None)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    script
        .api(
            "DELETE",
            &format!("/api/v1/webhooks/{id}"),
            &admin_token,
            None,
        )
        .await
        .assert_status(StatusCode::FORBIDDEN);
    let globex = app.org_id("Globex").await;
    let mut stranger = app.sign_in_as(Persona::GlobexOwner).await;
    let stranger_token = stranger.api_token("x", globex, "write").await;
    for (method, path) in [
        ("GET", format!("/api/v1/webhooks/{id}")),
        ("DELETE", format!("/api/v1/webhooks/{id}")),
        ("POST", format!("/api/v1/webhooks/{id}/rotate-secret")),
        ("GET", format!("/api/v1/webhooks/{id}/deliveries")),
    ] {
        script
            .api(method, &path, &stranger_token, None)
            .await
            .assert_status(StatusCode::NOT_FOUND);
    }
    script
        .api("DELETE", &format!("/api/v1/webhooks/{id}"), &write, None)
        .await
        .assert_status(StatusCode::NO_CONTENT);
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_endpoints").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_deliveries").await,
        0
    );
}

#[tokio::test]
async fn an_endpoint_that_keeps_failing_is_shown_failing_until_a_delivery_succeeds() {
    let app = TestApp::demo_with(local_receivers).await;
    // Answers 500 to everything it verifies, for the first 100.
    let mut broken = Receiver::new(100);
    broken.start().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, secret) = add_webhook(&mut owner, &broken.url(), &["credential.created"]).await;
    broken.set_secret(&secret);
    owner.create_credential("Probe").await;
    let page = format!("/settings/webhooks/{id}");
    for attempt in 1..=5 {
        keyward::jobs::webhooks::Deliveries::from(&app.state)
            .run_once()
            .await
            .unwrap();
        // An hour apart: the owner signs in again each time.
        owner = app.sign_in_as(Persona::Owner).await;
        let shown = owner.get(&page).await;
        if attempt < 5 {
            shown.assert_lacks("Failing since");
        } else {
            shown
                .assert_contains("Failing since")
                .assert_contains("the last 5 delivery attempts failed");
        }
        app.clock.advance(3600);
        broken.set_clock(app.clock.now());
    }
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get("/settings/webhooks")
        .await
        .assert_contains(r#"<span class="badge danger">Failing</span>"#);
    let (status, attempts): (String, i64) = app
        .sql
        .one("SELECT status, attempts FROM webhook_deliveries", &[])
        .await;
    assert_eq!((status.as_str(), attempts), ("pending", 5), "still retried");

    // The owner points it at a working receiver: the retry succeeds, and
    // the endpoint is no longer failing.
    let mut fixed = Receiver::new(0);
    fixed.start().await;
    fixed.set_secret(&secret);
    fixed.set_clock(app.clock.now());
    owner.get(&page).await;
    owner
        .post(
            &page,
            &[
                ("url", &fixed.url()),
                ("events", "credential.created"),
                ("enabled", "on"),
            ],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    deliver_everything(&app).await;
    assert_eq!(fixed.accepted().len(), 1);
    owner
        .get(&page)
        .await
        .assert_lacks("Failing since")
        .assert_contains("Webhook saved.");
}

#[tokio::test]
async fn a_delivery_is_given_up_three_days_after_its_event() {
    let app = TestApp::demo_with(local_receivers).await;
    let mut broken = Receiver::new(10_000);
    broken.start().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (_, secret) = add_webhook(&mut owner, &broken.url(), &["credential.created"]).await;
    broken.set_secret(&secret);
    owner.create_credential("Probe").await;
    let mut rounds = 0;
    loop {
        keyward::jobs::webhooks::Deliveries::from(&app.state)
            .run_once()
            .await
            .unwrap();
        let status = app
            .sql
            .string("SELECT status FROM webhook_deliveries", &[])
            .await;
        if status == "failed" {
            break;
        }
        rounds += 1;
        assert!(rounds < 200, "never given up");
        app.clock.advance(3600);
    }
    let elapsed = rounds * 3600;
    assert!(
        (3 * 86_400 - 13 * 3600..=3 * 86_400 + 3600).contains(&elapsed),
        "given up after {elapsed} s"
    );
    let attempts = app.count("SELECT attempts FROM webhook_deliveries").await;
    // Exponential waits: far fewer attempts than hourly retries would make.
    assert!((10..=30).contains(&attempts), "{attempts} attempts");
    assert_eq!(broken.log().len() as i64, attempts);
}

#[tokio::test]
async fn an_endpoints_page_lists_its_latest_fifty_deliveries() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, _) = add_webhook(
        &mut owner,
        "https://hooks.example.com/k",
        &["credential.created"],
    )
    .await;
    let endpoint: i64 = id.parse().unwrap();
    for n in 0..60 {
        app.sql
            .execute(
                "INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, subject, payload, status, attempts, next_attempt_at, give_up_at, response_status, created_at)
                 VALUES ($1, $2, 'credential.created', $3, '{}', 'delivered', 1, $4, $4, 200, $5)",
                &[
                    endpoint.into(),
                    (&format!("msg_seed_{n:02}")).into(),
                    (&format!("kwid_seed{n:02}")).into(),
                    app.clock.now().into(),
                    (app.clock.now() + n).into(),
                ],
            )
            .await;
    }
    let page = owner.get(&format!("/settings/webhooks/{id}")).await;
    page.assert_status(StatusCode::OK);
    assert_eq!(page.body.matches("data-label=\"Attempts\"").count(), 50);
    // The newest first: 59 down to 10.
    let first = page.body.find("kwid_seed59").expect("the newest is listed");
    assert!(first < page.body.find("kwid_seed10").expect("the 50th is listed"));
    page.assert_lacks("kwid_seed09");
}

/// A receiver that misbehaves on loopback: it reads the delivery, then
/// either answers 200 with a body that never ends (counting the bytes the
/// sender let it write, at most 1 GiB) or never answers at all (for 30 s).
async fn hostile_receiver(
    endless: bool,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let written = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = vec![0u8; 64 * 1024];
        let _ = socket.read(&mut request).await;
        if !endless {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            return;
        }
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
        while counter.load(Ordering::SeqCst) < 1 << 30 {
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
            counter.fetch_add(0x10000, Ordering::SeqCst);
        }
    });
    (url, written)
}

/// One attempt to deliver one event to `url`, on an app of its own: the
/// delivery's status, response code and error.
async fn one_attempt_at(url: &str) -> (String, Option<i64>, Option<String>) {
    let app = TestApp::demo_with(local_receivers).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    add_webhook(&mut owner, url, &["credential.created"]).await;
    owner.create_credential("Sent once").await;
    keyward::jobs::webhooks::Deliveries::from(&app.state)
        .run_once()
        .await
        .unwrap();
    app.sql
        .one(
            "SELECT status, response_status, last_error FROM webhook_deliveries",
            &[],
        )
        .await
}

#[tokio::test]
async fn a_receiver_that_answers_without_end_is_read_64_kib_and_one_that_never_answers_times_out() {
    use std::sync::atomic::Ordering;
    let (endless, written) = hostile_receiver(true).await;
    let (status, code, _) = one_attempt_at(&endless).await;
    assert_eq!((status.as_str(), code), ("delivered", Some(200)));
    // The sender stopped reading after 64 KiB: what the receiver got to write
    // is that and the sockets' buffers, not the gigabyte it offered.
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < 16 << 20, "the receiver wrote {sent} bytes");

    // A receiver that never answers: after 10 seconds the attempt fails
    // and waits for a retry.
    let (silent, _) = hostile_receiver(false).await;
    let (status, _, error) = one_attempt_at(&silent).await;
    assert_eq!(status, "pending");
    assert_eq!(error.as_deref(), Some("timeout"));
}

#[tokio::test]
async fn a_failed_connection_and_a_failed_tls_handshake_are_told_apart_and_retried() {
    use tokio::io::AsyncWriteExt;
    // Nothing listens on this port.
    let closed = format!("https://127.0.0.1:{}/hook", free_port());
    let (status, code, error) = one_attempt_at(&closed).await;
    assert_eq!(
        (status.as_str(), code, error.as_deref()),
        ("pending", None, Some("could_not_connect"))
    );
    // A server that answers plain HTTP where TLS was expected.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain = format!("https://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let (status, code, error) = one_attempt_at(&plain).await;
    assert_eq!(
        (status.as_str(), code, error.as_deref()),
        ("pending", None, Some("tls"))
    );
}

/// A receiver on loopback that accepts every connection and never answers
/// (it holds each for 30 s); counts the connections.
async fn silent_receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                drop(socket);
            });
        }
    });
    (url, connections)
}

/// Queues `count` test events for the endpoint `id` straight in the outbox,
/// due now: a backlog as a burst of real events leaves it (the console and
/// API refuse test events past their rate).
async fn backlog(app: &TestApp, id: &str, count: usize) {
    let endpoint: i64 = id.parse().unwrap();
    for n in 0..count {
        app.sql
            .execute(
                "INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, payload, status, next_attempt_at, give_up_at, created_at)
                 VALUES ($1, $2, 'webhook.test', '{}', 'pending', $3, $4, $3)",
                &[
                    endpoint.into(),
                    (&format!("msg_backlog_{endpoint}_{n:03}")).into(),
                    app.clock.now().into(),
                    (app.clock.now() + 3 * 86_400).into(),
                ],
            )
            .await;
    }
}

/// Waits (at most `seconds`, in real time) until `done` holds.
async fn within<F: std::future::Future<Output = bool>>(
    seconds: u64,
    mut done: impl FnMut() -> F,
) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < until {
        if done().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organizations_delivery_arrives_while_one_endpoint_floods_a_silent_receiver() {
    use std::sync::atomic::Ordering;
    let app = TestApp::demo_with(local_receivers).await;
    // Acme's endpoint: a receiver that never answers, with 40 deliveries waiting.
    let (silent, connections) = silent_receiver().await;
    let mut acme_owner = app.sign_in_as(Persona::Owner).await;
    let (flooded, _) = add_webhook(&mut acme_owner, &silent, &["credential.created"]).await;
    backlog(&app, &flooded, 40).await;
    // Globex's endpoint: a healthy receiver.
    let mut receiver = Receiver::new(0);
    receiver.start().await;
    let mut globex_owner = app.sign_in_as(Persona::GlobexOwner).await;
    let (_, secret) = add_webhook(&mut globex_owner, &receiver.url(), &["member.invited"]).await;
    receiver.set_secret(&secret);

    // The worker, as `keyward serve` runs it, starts on the flood.
    let worker = keyward::jobs::webhooks::start(
        keyward::jobs::webhooks::Deliveries::from(&app.state),
        Default::default(),
    );
    assert!(
        within(5, || async { connections.load(Ordering::SeqCst) > 0 }).await,
        "the flood's first sends began"
    );
    // Then Globex's event: it arrives while the flood's sends still hang.
    globex_owner.get("/settings/members").await;
    globex_owner
        .invite("new.hire@globex.test", Role::CanView)
        .await
        .assert_status(StatusCode::OK);
    let arrived = within(5, || async { receiver.accepted().len() == 1 }).await;
    let flood = format!(
        "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = {flooded} AND status = 'pending' AND last_error IS NULL"
    );
    let untouched = app.count(&flood).await;
    let in_flight = app
        .count(&format!(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = {flooded} AND attempts > 0"
        ))
        .await;
    worker.abort();
    assert!(
        arrived,
        "Globex's delivery waited for Acme's silent receiver"
    );
    assert_eq!(
        untouched, 40,
        "no send to the silent receiver has ended yet"
    );
    // The flooded endpoint holds at most its share of sends.
    assert!((1..=4).contains(&in_flight), "{in_flight} in flight");
    assert!(connections.load(Ordering::SeqCst) <= 4);
}

#[tokio::test]
async fn a_round_claims_other_endpoints_before_one_endpoints_backlog() {
    let app = TestApp::demo().await;
    let mut acme_owner = app.sign_in_as(Persona::Owner).await;
    // Hosts that never resolve, so each attempt ends at once.
    let (flooded, _) = add_webhook(
        &mut acme_owner,
        "https://flood.nowhere.invalid/k",
        &["credential.created"],
    )
    .await;
    backlog(&app, &flooded, 40).await;
    let (quiet, _) = add_webhook(
        &mut acme_owner,
        "https://quiet.nowhere.invalid/k",
        &["credential.created"],
    )
    .await;
    let mut globex_owner = app.sign_in_as(Persona::GlobexOwner).await;
    let (other, _) = add_webhook(
        &mut globex_owner,
        "https://other.nowhere.invalid/k",
        &["credential.created"],
    )
    .await;
    // Queued after the flood.
    backlog(&app, &quiet, 1).await;
    backlog(&app, &other, 1).await;

    keyward::jobs::webhooks::Deliveries::from(&app.state)
        .run_once()
        .await
        .unwrap();
    let app = &app;
    let attempted = |id: &str| {
        let sql = format!(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = {id} AND attempts > 0"
        );
        async move { app.count(&sql).await }
    };
    assert_eq!(
        attempted(&quiet).await,
        1,
        "Acme's other endpoint had its turn"
    );
    assert_eq!(attempted(&other).await, 1, "Globex had its turn");
    assert_eq!(attempted(&flooded).await, 4, "the backlog sent its share");
}

#[tokio::test]
async fn a_round_claims_an_endpoints_deliveries_in_the_order_they_fell_due_after_those_in_flight() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, _) = add_webhook(
        &mut owner,
        "https://retries.nowhere.invalid/k",
        &["credential.created"],
    )
    .await;
    backlog(&app, &id, 6).await;
    // Retries fall due at other times than they were queued; two at the
    // same second go in the order they were queued. One is being sent by
    // another instance (its lease runs), one is not due yet.
    let now = app.clock.now();
    for (n, due, leased_until) in [
        (0, now - 10, 0),
        (1, now - 90, now + 60),
        (2, now - 30, 0),
        (3, now - 30, 0),
        (4, now + 60, 0),
        (5, now - 60, 0),
    ] {
        app.sql
            .execute(
                "UPDATE webhook_deliveries SET next_attempt_at = $1, locked_until = $2 WHERE message_id = $3",
                &[
                    due.into(),
                    leased_until.into(),
                    (&format!("msg_backlog_{id}_{n:03}")).into(),
                ],
            )
            .await;
    }

    keyward::jobs::webhooks::Deliveries::from(&app.state)
        .run_once()
        .await
        .unwrap();
    let attempted: Vec<(String,)> = app
        .sql
        .all(
            &format!(
                "SELECT message_id FROM webhook_deliveries WHERE endpoint_id = {id} AND attempts > 0 ORDER BY message_id"
            ),
            &[],
        )
        .await;
    // Four in flight at most: the one leased elsewhere, then the three
    // that fell due first.
    let expected: Vec<(String,)> = [5, 2, 3]
        .iter()
        .map(|n| (format!("msg_backlog_{id}_{n:03}"),))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(attempted, expected);
}

#[tokio::test]
async fn test_events_and_resends_past_five_a_minute_are_refused_with_the_reason_and_nothing_is_queued()
 {
    let app = TestApp::demo().await;
    let acme = app.org_id("Acme Payments").await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("hooks", acme, "write").await;
    let (id, _) = add_webhook(
        &mut owner,
        "https://hooks.example.test/k",
        &["credential.created"],
    )
    .await;
    let page = format!("/settings/webhooks/{id}");
    let queued = "SELECT COUNT(*) FROM webhook_deliveries";
    for _ in 0..5 {
        owner.get(&page).await;
        owner
            .post(&format!("{page}/test"), &[])
            .await
            .assert_status(StatusCode::SEE_OTHER);
    }
    assert_eq!(app.count(queued).await, 5);

    // The sixth, in the console: 429, the reason on the page, nothing queued.
    app.clock.advance(20);
    owner.get(&page).await;
    let refused = owner.post(&format!("{page}/test"), &[]).await;
    refused
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains("This webhook took 5 test events and resends in the last minute, the most it takes. Try again in 40 seconds.")
        .assert_contains("Recent deliveries");
    assert_eq!(refused.header("retry-after"), "40");
    // A resend counts too.
    let delivery = app
        .sql
        .string("SELECT CAST(MIN(id) AS TEXT) FROM webhook_deliveries", &[])
        .await;
    owner.get(&page).await;
    owner
        .post(&format!("{page}/deliveries/{delivery}/resend"), &[])
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains("the most it takes");
    // And the API.
    let mut script = app.client();
    let refused = script
        .api("POST", &format!("/api/v1/webhooks/{id}/test"), &token, None)
        .await;
    refused.assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.header("retry-after"), "40");
    assert_eq!(
        refused.json()["type"]
            .as_str()
            .map(|t| t.ends_with("webhook-sends-limited")),
        Some(true)
    );
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("Try again in 40 seconds")
    );
    script
        .api(
            "POST",
            &format!("/api/v1/webhooks/{id}/deliveries/{delivery}/resend"),
            &token,
            None,
        )
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.count(queued).await, 5, "nothing was queued");
    // A second before the minute is out, the wait is 1 second.
    app.clock.advance(39);
    owner.get(&page).await;
    owner
        .post(&format!("{page}/test"), &[])
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains("Try again in 1 second.");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_deliveries WHERE next_attempt_at > created_at")
            .await,
        0,
        "no delivery was queued again"
    );

    // A minute after the first, ten at once through the API: five pass.
    app.clock.advance(1);
    let sends = (0..10).map(|_| {
        let mut script = app.client();
        let (path, token) = (format!("/api/v1/webhooks/{id}/test"), token.clone());
        async move { script.api("POST", &path, &token, None).await.status }
    });
    let statuses = futures_util::future::join_all(sends).await;
    let accepted = statuses
        .iter()
        .filter(|s| **s == StatusCode::ACCEPTED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((accepted, limited), (5, 5), "{statuses:?}");
    assert_eq!(app.count(queued).await, 10);
}

#[tokio::test]
async fn a_test_event_or_resend_is_refused_while_twenty_deliveries_wait() {
    let app = TestApp::demo().await;
    let acme = app.org_id("Acme Payments").await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("hooks", acme, "write").await;
    let (id, _) = add_webhook(
        &mut owner,
        "https://hooks.example.test/k",
        &["credential.created"],
    )
    .await;
    let page = format!("/settings/webhooks/{id}");
    backlog(&app, &id, 19).await;
    // One delivered earlier, which a resend would queue again.
    app.sql
        .execute(
            "UPDATE webhook_deliveries SET status = 'delivered' WHERE id = (SELECT MIN(id) FROM webhook_deliveries)",
            &[],
        )
        .await;
    let delivered = app
        .sql
        .string("SELECT CAST(MIN(id) AS TEXT) FROM webhook_deliveries", &[])
        .await;
    let waiting = "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'";
    assert_eq!(app.count(waiting).await, 18);
    // The 19th and 20th waiting are accepted.
    owner.get(&page).await;
    owner
        .post(&format!("{page}/test"), &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner.get(&page).await;
    owner
        .post(&format!("{page}/test"), &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(app.count(waiting).await, 20);

    let message = "20 deliveries to this webhook are waiting to be sent or retried";
    owner.get(&page).await;
    let refused = owner.post(&format!("{page}/test"), &[]).await;
    refused
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains(message);
    assert_eq!(refused.header("retry-after"), "60");
    owner.get(&page).await;
    owner
        .post(&format!("{page}/deliveries/{delivered}/resend"), &[])
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains(message);
    let refused = app
        .client()
        .api("POST", &format!("/api/v1/webhooks/{id}/test"), &token, None)
        .await;
    refused.assert_status(StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.json()["detail"].as_str().unwrap().contains(message));
    assert_eq!(app.count(waiting).await, 20, "nothing was queued");
    assert_eq!(
        app.sql
            .string(
                &format!("SELECT status FROM webhook_deliveries WHERE id = {delivered}"),
                &[]
            )
            .await,
        "delivered"
    );
    // Events of real changes are still queued past it: they are never dropped.
    owner.create_credential("Still sent").await;
    assert_eq!(app.count(waiting).await, 21);
}

/// Two API changes of different settings, made at once without `If-Match`,
/// both stay: each applies to the endpoint as stored under the lock.
#[tokio::test]
async fn patches_of_different_webhook_settings_made_together_keep_both_changes() {
    let app = TestApp::demo_with(local_receivers).await;
    let acme = app.org_id("Acme Payments").await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("hooks", acme, "write").await;
    let created = app
        .client()
        .api(
            "POST",
            "/api/v1/webhooks",
            &token,
            Some(json!({ "url": "http://127.0.0.1:9/hook", "events": ["credential.created"] })),
        )
        .await;
    created.assert_status(StatusCode::CREATED);
    let path = format!("/api/v1/webhooks/{}", created.json()["id"]);
    let kinds = [
        "credential.deleted",
        "credential.rotated",
        "credential.created",
    ];
    for round in 0..12 {
        let description = format!("Described in round {round}");
        let events = [kinds[round % kinds.len()]];
        let (mut first, mut second) = (app.client(), app.client());
        let (described, subscribed) = tokio::join!(
            first.api(
                "PATCH",
                &path,
                &token,
                Some(json!({ "description": description }))
            ),
            second.api("PATCH", &path, &token, Some(json!({ "events": events }))),
        );
        described.assert_status(StatusCode::OK);
        subscribed.assert_status(StatusCode::OK);
        let stored = app.client().api("GET", &path, &token, None).await.json();
        assert_eq!(
            (stored["description"].as_str(), &stored["events"]),
            (Some(description.as_str()), &json!(events)),
            "round {round} lost a change"
        );
    }
}
