//! Leaked secrets reported by GitHub's secret scanning partner program,
//! signed with a P-256 key made for the test, as GitHub signs them.

use axum::http::StatusCode;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::pages::*;
use crate::support::*;

struct Scanner {
    key: SigningKey,
    _dir: tempfile::TempDir,
    keys_file: std::path::PathBuf,
}

const KEY_ID: &str = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c";

impl Scanner {
    /// A key pair, and the public keys document an operator saves from GitHub.
    fn new() -> Scanner {
        let key = SigningKey::random(&mut rand::rngs::OsRng);
        let pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let keys_file = dir.path().join("github-secret-scanning-keys.json");
        let document = json!({ "public_keys": [
            { "key_identifier": "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a", "key": other_key_pem(), "is_current": false },
            { "key_identifier": KEY_ID, "key": pem, "is_current": true },
        ]});
        std::fs::write(&keys_file, document.to_string()).unwrap();
        Scanner {
            key,
            _dir: dir,
            keys_file,
        }
    }

    fn sign(&self, body: &str) -> String {
        let signature: Signature = self.key.sign(body.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }
}

fn other_key_pem() -> String {
    SigningKey::random(&mut rand::rngs::OsRng)
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

fn report(token: &str) -> String {
    json!([{
        "token": token,
        "type": "keyward_client_secret",
        "url": "https://github.com/octo-org/payments/blob/abc123/config.env",
        "source": "content",
    }])
    .to_string()
}

async fn send(app: &TestApp, body: &str, key_id: &str, signature: &str) -> TestResponse {
    let mut client = app.client();
    let request = client
        .request("POST", "/leaks/github")
        .header("content-type", "application/json")
        .header("github-public-key-identifier", key_id)
        .header("github-public-key-signature", signature)
        .body(body.to_owned());
    client.send(request).await
}

#[tokio::test]
async fn a_signed_report_of_a_live_secret_disables_its_credential_once() {
    let scanner = Scanner::new();
    let keys = scanner.keys_file.clone();
    let smtp = Smtp::start().await;
    let url = smtp.url();
    let app = TestApp::demo_with(move |config| {
        config.leak_public_keys = Some(keys);
        config.smtp_url = Some(url);
        config.smtp_from = "Keyward <keyward@acme.test>".to_owned();
    })
    .await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    crate::webhooks::add_webhook(
        &mut owner,
        "https://hooks.example.com/leaks",
        &["credential.secret_leaked"],
    )
    .await;
    let (client_id, secret) = owner.create_credential("Leaky service").await;
    owner.get(CREDENTIALS).await;
    let (resource_id, resource_secret) = owner.create_credential("Resource server").await;
    let mut machine = app.client();
    let leaky_token = machine.get_token(&client_id, &secret).await;
    let other_token = machine.get_token(&resource_id, &resource_secret).await;
    let resource = Auth::Basic(&resource_id, &resource_secret);
    assert_eq!(
        machine.introspect(resource, &leaky_token).await["active"],
        true
    );
    app.clock.advance(1);
    let body = report(&secret);

    let answer = send(&app, &body, KEY_ID, &scanner.sign(&body)).await;
    answer.assert_status(StatusCode::OK);
    let expected_hash: String = Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        answer.json(),
        json!([{ "token_hash": expected_hash, "token_type": "keyward_client_secret", "label": "true_positive" }])
    );
    // Disabled at once (not deleted): no new token.
    app.client()
        .client_credentials(&client_id, &secret)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    // And what the leaked secret already obtained stops too, unlike a
    // plain disable; another credential's token is untouched.
    assert_eq!(
        machine.introspect(resource, &leaky_token).await["active"],
        false
    );
    assert_eq!(
        machine.introspect(resource, &other_token).await["active"],
        true
    );
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains("<span class=\"badge danger\">Leaked</span>")
        .assert_contains("GitHub secret scanning found it at <a href=\"https://github.com/octo-org/payments/blob/abc123/config.env\" rel=\"noopener noreferrer\">");
    owner
        .get(AUDIT_LOG)
        .await
        .assert_contains("GitHub secret scanning")
        .assert_contains("reported leaked the secret of");
    // The owners are told by email, without the secret.
    let mails = smtp.messages_to("owner@acme.test").await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].contains("Subject: The secret of "), "{}", mails[0]);
    assert!(mails[0].contains("found the secret of the API credential “Leaky service”"));
    assert!(mails[0].contains("Keyward disabled the credential at once"));
    assert!(mails[0].contains("inactive at introspection"));
    assert!(mails[0].contains(&client_id));
    assert!(mails[0].contains("https://github.com/octo-org/payments/blob/abc123/config.env"));
    assert!(
        !mails[0].contains(&secret[9..]),
        "the email never carries the secret"
    );

    // The same report again is harmless: one leak, one event.
    send(&app, &body, KEY_ID, &scanner.sign(&body))
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("true_positive");
    assert_eq!(app.count("SELECT COUNT(*) FROM credential_leaks").await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'credential.secret_leaked'")
            .await,
        1
    );
    // Webhooks get credential.secret_leaked, once, without the secret.
    let sent: Vec<(String, String)> = app
        .sql
        .all("SELECT event_type, payload FROM webhook_deliveries", &[])
        .await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "credential.secret_leaked");
    assert!(sent[0].1.contains(&client_id) && !sent[0].1.contains(&secret[9..]));
}

#[tokio::test]
async fn unsigned_badly_signed_unknown_and_malformed_reports_change_nothing() {
    let scanner = Scanner::new();
    let keys = scanner.keys_file.clone();
    let app = TestApp::demo_with(move |config| config.leak_public_keys = Some(keys)).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (client_id, secret) = owner.create_credential("Careful service").await;
    let body = report(&secret);
    let other = report("kws_test_somethingelse");
    for (key_id, signature) in [
        ("", String::new()),
        (KEY_ID, scanner.sign(&other)),
        ("0000", scanner.sign(&body)),
        (KEY_ID, "bm90IGEgc2lnbmF0dXJl".to_owned()),
    ] {
        let answer = send(&app, &body, key_id, &signature).await;
        answer.assert_status(StatusCode::UNAUTHORIZED);
        assert!(answer.json()["message"].is_string());
    }
    // A signed report of something that is not a live Keyward secret.
    let unknown = keyward::domain::credential::Secret::generate(
        keyward::domain::credential::Environment::Sandbox,
    );
    let body2 = report(unknown.expose());
    send(&app, &body2, KEY_ID, &scanner.sign(&body2))
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("\"label\":\"false_positive\"");
    let garbage = "{not json";
    send(&app, garbage, KEY_ID, &scanner.sign(garbage))
        .await
        .assert_status(StatusCode::BAD_REQUEST);
    // Nothing changed: the credential still gets tokens, no leak recorded.
    app.client().get_token(&client_id, &secret).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM credential_leaks").await, 0);
}

#[tokio::test]
async fn without_configured_keys_the_intake_is_off() {
    let app = TestApp::demo().await;
    let body = report("kws_test_x");
    send(&app, &body, KEY_ID, "c2ln")
        .await
        .assert_status(StatusCode::NOT_FOUND)
        .assert_contains("not configured");
}
