//! The management API: personal access tokens made on the Account page, and
//! `/api/v1` with the console's rules, as a script sees them.

use axum::http::StatusCode;
use futures::future::join_all;
use serde_json::{Value, json};

use crate::support::pages::*;
use crate::support::*;

const ACME: &str = "Acme Payments";

fn new_credential(name: &str) -> Value {
    json!({
        "name": name,
        "permission_set": "transactions",
        "permissions": ["transactions:read:org", "balances:read:org"],
        "ip_allowlist": ["0.0.0.0/0"],
    })
}

/// A 401 as RFC 6750 and RFC 9457 have it.
#[track_caller]
fn assert_invalid_token(response: &TestResponse) {
    response
        .assert_status(StatusCode::UNAUTHORIZED)
        .assert_contains("https://keyward.dev/problems/invalid-token");
    assert!(
        response.header("www-authenticate").starts_with("Bearer "),
        "{}",
        response.header("www-authenticate")
    );
    assert_eq!(response.header("content-type"), "application/problem+json");
}

#[tokio::test]
async fn a_token_is_shown_once_kept_as_a_digest_and_reads_the_credentials() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("ci read", acme, "read").await;
    assert!(token.starts_with("kwpat_") && token.len() == 55, "{token}");
    // Stored as a digest and its last four characters, never itself.
    let stored = app
        .sql
        .strings("SELECT digest || ' ' || hint FROM api_tokens", &[])
        .await;
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(&token[6..]));
    assert!(stored[0].ends_with(&token[token.len() - 4..]));
    // Listed on the Account page, without the token.
    owner
        .get("/account")
        .await
        .assert_contains("ci read")
        .assert_contains(&format!(
            "ending in </span>{}</code>",
            &token[token.len() - 4..]
        ))
        .assert_lacks(&token);

    let mut script = app.client();
    let list = script.api("GET", "/api/v1/credentials", &token, None).await;
    list.assert_status(StatusCode::OK);
    assert_eq!(list.header("cache-control"), "no-store");
    let body = list.json();
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["name"], "Payments backend");
    assert_eq!(data[0]["primary"], true);
    assert!(data[0].get("client_secret").is_none());
    // The same read with its ETag: not modified.
    let etag = list.header("etag").to_owned();
    let again = script
        .send(
            script
                .request("GET", "/api/v1/credentials")
                .header("authorization", format!("Bearer {token}"))
                .header("if-none-match", &etag),
        )
        .await;
    again.assert_status(StatusCode::NOT_MODIFIED);
    let id = data[0]["client_id"].as_str().unwrap();
    script
        .api("GET", &format!("/api/v1/credentials/{id}"), &token, None)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("\"permission_set\":\"transactions\"");
    script
        .api("GET", "/api/v1/organization", &token, None)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("\"name\":\"Acme Payments\"");
    // Its use is recorded, once a minute at most.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM api_tokens WHERE last_used_at IS NOT NULL")
            .await,
        1
    );
    assert!(
        app.audit_actions()
            .await
            .contains(&"api_token.created".to_owned())
    );
}

#[tokio::test]
async fn missing_malformed_unknown_expired_and_revoked_tokens_get_401() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("short lived", acme, "read").await;
    let mut script = app.client();
    let none = script
        .send(script.request("GET", "/api/v1/credentials"))
        .await;
    assert_invalid_token(&none);
    for bad in [
        "kwpat_short",
        "not-a-token",
        // Well-formed, with a valid checksum, but never issued.
        &keyword_token(),
    ] {
        assert_invalid_token(&script.api("GET", "/api/v1/credentials", bad, None).await);
    }
    script
        .api("GET", "/api/v1/credentials", &token, None)
        .await
        .assert_status(StatusCode::OK);
    app.clock.advance(31 * 86_400);
    assert_invalid_token(&script.api("GET", "/api/v1/credentials", &token, None).await);

    // A revoked one, at once.
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let revoked = owner.api_token("to revoke", acme, "read").await;
    script
        .api("GET", "/api/v1/credentials", &revoked, None)
        .await
        .assert_status(StatusCode::OK);
    let token_id = app
        .sql
        .strings(
            "SELECT token_id FROM api_tokens WHERE name = $1",
            &["to revoke".into()],
        )
        .await
        .remove(0);
    owner.get("/account").await;
    owner
        .post(&format!("/account/tokens/{token_id}/revoke"), &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get("/account")
        .await
        .assert_contains("Revoked the token “to revoke”: it no longer works.");
    assert_invalid_token(
        &script
            .api("GET", "/api/v1/credentials", &revoked, None)
            .await,
    );
    // Nobody else can revoke someone's token.
    let mut viewer = app.sign_in_as(Persona::Viewer).await;
    viewer.get("/account").await;
    viewer
        .post(&format!("/account/tokens/{token_id}/revoke"), &[])
        .await
        .assert_status(StatusCode::NOT_FOUND);
}

/// A token with a valid shape and checksum that was never issued.
fn keyword_token() -> String {
    keyward::domain::api_token::ApiToken::generate()
        .expose()
        .to_owned()
}

#[tokio::test]
async fn a_write_token_creates_rotates_and_deletes_under_the_consoles_rules() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    let token = admin.api_token("ci deploy", acme, "write").await;
    let mut script = app.client();

    let created = script
        .api(
            "POST",
            "/api/v1/credentials",
            &token,
            Some(new_credential("Fraud scoring")),
        )
        .await;
    created.assert_status(StatusCode::CREATED);
    assert_eq!(created.header("cache-control"), "no-store");
    let body = created.json();
    let client_id = body["client_id"].as_str().unwrap().to_owned();
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        created.header("location"),
        format!("/api/v1/credentials/{client_id}")
    );
    assert_eq!(body["secret_hint"], secret[secret.len() - 4..]);
    // The secret is real, and shown in that response only.
    app.client().get_token(&client_id, &secret).await;
    script
        .api(
            "GET",
            &format!("/api/v1/credentials/{client_id}"),
            &token,
            None,
        )
        .await
        .assert_lacks(&secret);

    let rotated = script
        .api(
            "POST",
            &format!("/api/v1/credentials/{client_id}/rotate"),
            &token,
            Some(json!({ "grace_seconds": 86400 })),
        )
        .await;
    rotated.assert_status(StatusCode::OK);
    let new_secret = rotated.json()["client_secret"].as_str().unwrap().to_owned();
    assert!(rotated.json()["previous_secret_valid_until"].is_string());
    app.client().get_token(&client_id, &secret).await;
    app.client().get_token(&client_id, &new_secret).await;
    // The audit log names the token beside the person.
    assert!(
        app.audit_detail("credential.rotated")
            .await
            .contains("\"via_token\":\"ci deploy\"")
    );
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get(AUDIT_LOG)
        .await
        .assert_contains("Adam Admin, via token “ci deploy”,");

    // The console's rules: field messages, the limit, the primary.
    let bad = script
        .api(
            "POST",
            "/api/v1/credentials",
            &token,
            Some(json!({
                "name": "abc",
                "permission_set": "galaxy",
                "permissions": ["vault:steal:org"],
                "ip_allowlist": ["300.1.2.3"],
            })),
        )
        .await;
    bad.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = bad.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        fields,
        ["name", "permission_set", "permissions", "ip_allowlist[0]"]
    );
    script
        .api(
            "POST",
            "/api/v1/credentials",
            &token,
            Some(json!({ "name": "Extra field", "permission_set": "monitoring", "permissions": ["audit:read:org"], "ip_allowlist": ["0.0.0.0/0"], "admin": true })),
        )
        .await
        .assert_status(StatusCode::BAD_REQUEST)
        .assert_contains("unknown field `admin`");
    script
        .api(
            "POST",
            "/api/v1/credentials",
            &token,
            Some(new_credential("Third one")),
        )
        .await
        .assert_status(StatusCode::CREATED);
    script
        .api(
            "POST",
            "/api/v1/credentials",
            &token,
            Some(new_credential("Fourth one")),
        )
        .await
        .assert_status(StatusCode::CONFLICT)
        .assert_contains("https://keyward.dev/problems/limit-reached");
    let primary = &app.client_ids(ACME).await[0];
    script
        .api(
            "DELETE",
            &format!("/api/v1/credentials/{primary}"),
            &token,
            None,
        )
        .await
        .assert_status(StatusCode::CONFLICT)
        .assert_contains("primary-cannot-be-deleted");
    script
        .api(
            "DELETE",
            &format!("/api/v1/credentials/{client_id}"),
            &token,
            None,
        )
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.client()
        .client_credentials(&client_id, &new_secret)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn read_tokens_and_view_only_members_cannot_change_anything() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let read = owner.api_token("owner read", acme, "read").await;
    let mut script = app.client();
    script
        .api(
            "POST",
            "/api/v1/credentials",
            &read,
            Some(new_credential("Not allowed")),
        )
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("This is a read token: it cannot change anything.");
    let primary = &app.client_ids(ACME).await[0];
    script
        .api(
            "DELETE",
            &format!("/api/v1/credentials/{primary}"),
            &read,
            None,
        )
        .await
        .assert_status(StatusCode::FORBIDDEN);

    // A Can View administrator may hold a read token only.
    let mut viewer = app.sign_in_as(Persona::Viewer).await;
    viewer.get("/account").await;
    viewer
        .make_token("viewer write", acme, "write", "30", "")
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("id=\"token_access-error\"")
        .assert_contains("needs the API Credentials: Can Edit permission");
    let view = viewer.api_token("viewer read", acme, "read").await;
    script
        .api("GET", "/api/v1/credentials", &view, None)
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(app.client_ids(ACME).await.len(), 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM api_tokens").await, 2);
}

#[tokio::test]
async fn another_organizations_token_finds_nothing_here() {
    let app = TestApp::demo().await;
    let globex = app.org_id("Globex").await;
    let mut gus = app.sign_in_as(Persona::GlobexOwner).await;
    let token = gus.api_token("globex", globex, "read").await;
    let acme_credential = &app.client_ids(ACME).await[0];
    let mut script = app.client();
    script
        .api(
            "GET",
            &format!("/api/v1/credentials/{acme_credential}"),
            &token,
            None,
        )
        .await
        .assert_status(StatusCode::NOT_FOUND)
        .assert_contains("https://keyward.dev/problems/not-found");
    let list = script.api("GET", "/api/v1/credentials", &token, None).await;
    assert_eq!(list.json()["data"], json!([]));
    // Nor can a token be made for an organization one is not in.
    let acme = app.org_id(ACME).await;
    gus.get("/account").await;
    gus.make_token("sneaky", acme, "read", "30", "")
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Choose one of your organizations.");
    assert_eq!(app.count("SELECT COUNT(*) FROM api_tokens").await, 1);
}

#[tokio::test]
async fn tokens_end_when_their_user_is_demoted_removed_or_changes_password() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let admin_id = app.user_id("admin@acme.test").await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    let write = admin.api_token("deploy", acme, "write").await;
    let read = admin.api_token("reader", acme, "read").await;
    let mut script = app.client();
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(MEMBERS).await;
    owner
        .change_role(admin_id, Role::CanView)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_invalid_token(&script.api("GET", "/api/v1/credentials", &write, None).await);
    script
        .api("GET", "/api/v1/credentials", &read, None)
        .await
        .assert_status(StatusCode::OK);
    owner
        .remove_member(admin_id)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_invalid_token(&script.api("GET", "/api/v1/credentials", &read, None).await);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL")
            .await,
        0
    );

    let mut owner = app.sign_in_as(Persona::Owner).await;
    let mine = owner.api_token("owner", acme, "write").await;
    owner
        .change_password(PASSWORD, "a much longer new password")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_invalid_token(&script.api("GET", "/api/v1/credentials", &mine, None).await);
}

#[tokio::test]
async fn forty_concurrent_api_creates_never_pass_the_limit() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("bulk", acme, "write").await;
    let creates = (0..40).map(|i| {
        let mut script = app.client();
        let token = token.clone();
        async move {
            script
                .api(
                    "POST",
                    "/api/v1/credentials",
                    &token,
                    Some(new_credential(&format!("Bulk {i:02}"))),
                )
                .await
                .status
        }
    });
    let statuses = join_all(creates).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, refused), (2, 38), "{statuses:?}");
    assert_eq!(app.client_ids(ACME).await.len(), 3);
}

#[tokio::test]
async fn token_expiry_is_required_and_at_most_a_year() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get("/account").await;
    for (expires, on, message) in [
        ("", "", "Choose when the token expires."),
        ("365", "", "Choose when the token expires."),
        ("date", "", "Choose a date, e.g. 2027-03-31."),
        (
            "date",
            "2000-01-01",
            "Choose a date after today and at most one year ahead.",
        ),
        (
            "date",
            "2999-01-01",
            "Choose a date after today and at most one year ahead.",
        ),
    ] {
        owner
            .make_token("expiry", acme, "read", expires, on)
            .await
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains(message);
    }
    owner
        .make_token("", acme, "read", "7", "")
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("id=\"token_name-error\"");
    assert_eq!(app.count("SELECT COUNT(*) FROM api_tokens").await, 0);
    // A year to the day is the last date allowed; tomorrow the first.
    let today = time::OffsetDateTime::from_unix_timestamp(app.clock.now())
        .unwrap()
        .date();
    let day = |n: i64| (today + time::Duration::days(n)).to_string();
    for (on, allowed) in [
        (day(366), false),
        (day(0), false),
        (day(365), true),
        (day(1), true),
    ] {
        let made = owner.make_token("dated", acme, "read", "date", &on).await;
        if allowed {
            made.assert_status(StatusCode::OK).assert_contains("kwpat_");
        } else {
            made.assert_status(StatusCode::UNPROCESSABLE_ENTITY)
                .assert_contains("Choose a date after today and at most one year ahead.");
        }
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM api_tokens").await, 2);
}

#[tokio::test]
async fn owners_see_and_revoke_their_members_tokens_on_the_members_page() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    let token = admin.api_token("nightly export", acme, "read").await;
    let token_id = app
        .sql
        .strings("SELECT token_id FROM api_tokens", &[])
        .await
        .remove(0);
    let revoke = format!("/settings/members/tokens/{token_id}/revoke");
    // Not an owner: refused, and the token still works.
    admin.get("/account").await;
    admin
        .post(&revoke, &[])
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Only organization owners can do this.");
    let mut script = app.client();
    script
        .api("GET", "/api/v1/credentials", &token, None)
        .await
        .assert_status(StatusCode::OK);

    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get(MEMBERS)
        .await
        .assert_contains("<td class=\"strong\">nightly export</td>")
        .assert_contains("<td>admin@acme.test</td>")
        .assert_lacks(&token);
    owner
        .post(&revoke, &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get(MEMBERS)
        .await
        .assert_contains("Revoked the token “nightly export”: it no longer works.")
        .assert_lacks("<td class=\"strong\">nightly export</td>");
    assert_invalid_token(&script.api("GET", "/api/v1/credentials", &token, None).await);
    assert!(
        app.audit_detail("api_token.revoked")
            .await
            .contains("\"user\":\"admin@acme.test\"")
    );
}

#[tokio::test]
async fn updates_with_if_match_never_overwrite_a_change_made_since_the_read() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("ci", acme, "write").await;
    let mut first = app.client();
    let mut second = app.client();
    let id = app.client_ids(ACME).await.remove(0);
    let path = format!("/api/v1/credentials/{id}");
    let read = first.api("GET", &path, &token, None).await;
    let etag = read.header("etag").to_owned();
    // Another read sees the same version.
    assert_eq!(
        second.api("GET", &path, &token, None).await.header("etag"),
        etag
    );

    let patch = |description: &str| json!({ "description": description });
    let ok = first
        .send(
            first
                .request("PATCH", &path)
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .header("if-match", &etag)
                .body(patch("Changed by the first").to_string()),
        )
        .await;
    ok.assert_status(StatusCode::OK)
        .assert_contains("\"description\":\"Changed by the first\"");
    assert_ne!(ok.header("etag"), etag);
    let stale = second
        .send(
            second
                .request("PATCH", &path)
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .header("if-match", &etag)
                .body(patch("Changed by the second").to_string()),
        )
        .await;
    stale
        .assert_status(StatusCode::PRECONDITION_FAILED)
        .assert_contains("https://keyward.dev/problems/stale");
    second
        .api("GET", &path, &token, None)
        .await
        .assert_contains("\"description\":\"Changed by the first\"");
    // Without If-Match the change applies; fields left out stay.
    second
        .api(
            "PATCH",
            &path,
            &token,
            Some(json!({ "name": "Payments core" })),
        )
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("\"name\":\"Payments core\"")
        .assert_contains("\"description\":\"Changed by the first\"");

    // The one-step actions answer the credential as it is afterwards.
    second
        .api("POST", &format!("{path}/disable"), &token, None)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("\"status\":\"disabled\"");
    second
        .api("POST", &format!("{path}/enable"), &token, None)
        .await
        .assert_contains("\"status\":\"enabled\"");
    second
        .api("POST", &format!("{path}/explode"), &token, None)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    let actions = app.audit_actions().await;
    for action in [
        "credential.updated",
        "credential.disabled",
        "credential.enabled",
    ] {
        assert!(actions.contains(&action.to_owned()), "{action}");
    }
}

#[tokio::test]
async fn requests_go_from_ask_to_generate_through_the_api_with_the_consoles_rules() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.require_approval().await;
    let owner_token = owner.api_token("approvals", acme, "write").await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    let admin_token = admin.api_token("provisioning", acme, "write").await;
    let mut script = app.client();

    // Approval required: a create without a justification says why at its field.
    script
        .api(
            "POST",
            "/api/v1/credentials",
            &admin_token,
            Some(new_credential("Ledger sync")),
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("justification-required");
    let mut asked = new_credential("Ledger sync");
    asked["justification"] = json!("The ledger job needs its own credential.");
    let requested = script
        .api("POST", "/api/v1/credentials", &admin_token, Some(asked))
        .await;
    requested.assert_status(StatusCode::ACCEPTED);
    let id = requested.json()["request_id"].as_str().unwrap().to_owned();
    let list = script
        .api("GET", "/api/v1/requests", &owner_token, None)
        .await;
    assert_eq!(list.json()["data"][0]["status"], "pending");
    // Never one's own request.
    script
        .api(
            "POST",
            &format!("/api/v1/requests/{id}/approve"),
            &admin_token,
            None,
        )
        .await
        .assert_status(StatusCode::FORBIDDEN);
    script
        .api(
            "POST",
            &format!("/api/v1/requests/{id}/approve"),
            &owner_token,
            None,
        )
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("\"status\":\"approved\"");
    // Only the requester generates; the secret is in that response alone.
    script
        .api(
            "POST",
            &format!("/api/v1/requests/{id}/generate"),
            &owner_token,
            None,
        )
        .await
        .assert_status(StatusCode::FORBIDDEN);
    let generated = script
        .api(
            "POST",
            &format!("/api/v1/requests/{id}/generate"),
            &admin_token,
            None,
        )
        .await;
    generated.assert_status(StatusCode::CREATED);
    let body = generated.json();
    app.client()
        .get_token(
            body["client_id"].as_str().unwrap(),
            body["client_secret"].as_str().unwrap(),
        )
        .await;

    // A second request, rejected with a reason the requester reads.
    let mut second = new_credential("Payout batcher");
    second["justification"] = json!("Nightly payouts need their own credential.");
    let second_id = script
        .api("POST", "/api/v1/credentials", &admin_token, Some(second))
        .await
        .json()["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    script
        .api(
            "POST",
            &format!("/api/v1/requests/{second_id}/reject"),
            &owner_token,
            Some(json!({ "reason": "Use Ledger sync." })),
        )
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("\"status\":\"rejected\"");
    let list = script
        .api("GET", "/api/v1/requests", &admin_token, None)
        .await;
    let rejected = list.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["request_id"] == second_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(rejected["reason"], "Use Ledger sync.");
    script
        .api(
            "POST",
            &format!("/api/v1/requests/{second_id}/withdraw"),
            &admin_token,
            None,
        )
        .await
        .assert_status(StatusCode::CONFLICT);
}

#[tokio::test]
async fn audit_events_page_with_a_cursor_newest_first_and_members_are_for_owners() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("audit reader", acme, "write").await;
    let mut script = app.client();
    for i in 0..5 {
        script
            .api(
                "POST",
                "/api/v1/credentials",
                &token,
                Some(new_credential(&format!("Event source {i}"))),
            )
            .await;
        let id = app.client_ids(ACME).await.pop().unwrap();
        if i < 4 {
            script
                .api("DELETE", &format!("/api/v1/credentials/{id}"), &token, None)
                .await
                .assert_status(StatusCode::NO_CONTENT);
        }
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = script
            .api(
                "GET",
                &format!("/api/v1/audit-events?action=credential.created&limit=2{cursor}"),
                &token,
                None,
            )
            .await;
        page.assert_status(StatusCode::OK);
        let body = page.json();
        for event in body["data"].as_array().unwrap() {
            assert_eq!(event["action"], "credential.created");
            seen.push(event["detail"]["name"].as_str().unwrap().to_owned());
        }
        match body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "Event source 4",
            "Event source 3",
            "Event source 2",
            "Event source 1",
            "Event source 0"
        ]
    );
    // The events name the token.
    assert!(
        app.audit_detail("credential.deleted")
            .await
            .contains("\"via_token\":\"audit reader\"")
    );
    script
        .api(
            "GET",
            "/api/v1/audit-events?limit=500&from=yesterday",
            &token,
            None,
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("\"field\":\"from\"")
        .assert_contains("\"field\":\"limit\"");
    let unknown = script
        .api("GET", "/api/v1/audit-events?colour=blue", &token, None)
        .await;
    unknown.assert_status(StatusCode::BAD_REQUEST);
    assert_eq!(unknown.header("content-type"), "application/problem+json");

    let members = script.api("GET", "/api/v1/members", &token, None).await;
    members.assert_status(StatusCode::OK);
    assert!(
        members.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["email"] == "viewer@acme.test" && m["role"] == "admin-view")
    );
    // Open invitations, never their link.
    owner.get(MEMBERS).await;
    owner.invite("nina@acme.test", Role::CanView).await;
    let invitations = script.api("GET", "/api/v1/invitations", &token, None).await;
    invitations
        .assert_status(StatusCode::OK)
        .assert_contains("\"email\":\"nina@acme.test\"")
        .assert_contains("\"role\":\"admin-view\"")
        .assert_lacks("kwinv_");
    let mut viewer = app.sign_in_as(Persona::Viewer).await;
    let view = viewer.api_token("viewer", acme, "read").await;
    script
        .api("GET", "/api/v1/members", &view, None)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    script
        .api("GET", "/api/v1/nothing-here", &view, None)
        .await
        .assert_status(StatusCode::NOT_FOUND)
        .assert_contains("https://keyward.dev/problems/not-found");
}

#[tokio::test]
async fn the_openapi_document_describes_every_operation_and_the_token() {
    let app = TestApp::demo().await;
    let doc = app.client().get("/api/v1/openapi.json").await;
    doc.assert_status(StatusCode::OK);
    let doc = doc.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["personal_access_token"]["scheme"],
        "bearer"
    );
    let mut operations: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations.push(format!("{} {path}", method.to_uppercase()));
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.contains_key("401"),
                "{method} {path} documents the 401 of a bad token"
            );
            assert!(operation["summary"].is_string(), "{method} {path}");
        }
    }
    operations.sort();
    assert_eq!(
        operations,
        [
            "DELETE /api/v1/credentials/{client_id}",
            "DELETE /api/v1/webhooks/{webhook_id}",
            "GET /api/v1/audit-events",
            "GET /api/v1/credentials",
            "GET /api/v1/credentials/{client_id}",
            "GET /api/v1/invitations",
            "GET /api/v1/members",
            "GET /api/v1/organization",
            "GET /api/v1/requests",
            "GET /api/v1/webhooks",
            "GET /api/v1/webhooks/{webhook_id}",
            "GET /api/v1/webhooks/{webhook_id}/deliveries",
            "PATCH /api/v1/credentials/{client_id}",
            "PATCH /api/v1/webhooks/{webhook_id}",
            "POST /api/v1/credentials",
            "POST /api/v1/credentials/{client_id}/rotate",
            "POST /api/v1/credentials/{client_id}/{action}",
            "POST /api/v1/requests/{request_id}/reject",
            "POST /api/v1/requests/{request_id}/{action}",
            "POST /api/v1/webhooks",
            "POST /api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/resend",
            "POST /api/v1/webhooks/{webhook_id}/rotate-secret",
            "POST /api/v1/webhooks/{webhook_id}/test",
        ]
    );
    let problem = &doc["components"]["schemas"]["Problem"];
    assert!(problem["properties"]["type"].is_object(), "{problem}");
}

#[tokio::test]
async fn a_create_or_rotation_retried_with_its_idempotency_key_happens_once() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("retries", acme, "write").await;
    let post = |key: &'static str, body: Value| {
        let mut script = app.client();
        let token = token.clone();
        async move {
            script
                .send(
                    script
                        .request("POST", "/api/v1/credentials")
                        .header("authorization", format!("Bearer {token}"))
                        .header("content-type", "application/json")
                        .header("idempotency-key", key)
                        .body(body.to_string()),
                )
                .await
        }
    };
    // Ten retries at once: one credential, nine answers that say so.
    let attempts =
        join_all((0..10).map(|_| post("4f1c2a9e-create", new_credential("Retried create")))).await;
    let created: Vec<&TestResponse> = attempts
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    assert_eq!(
        created.len(),
        1,
        "{:?}",
        attempts.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let client_id = created[0].json()["client_id"].as_str().unwrap().to_owned();
    for replay in attempts.iter().filter(|r| r.status != StatusCode::CREATED) {
        replay
            .assert_status(StatusCode::CONFLICT)
            .assert_contains("https://keyward.dev/problems/idempotent-replay")
            .assert_contains("rotate the credential");
        assert_eq!(replay.json()["replay"]["result"], client_id.as_str());
        assert!(replay.json()["replay"]["created_at"].is_string());
        assert!(!replay.body.contains("kws_"), "no secret in a replay");
    }
    assert_eq!(app.client_ids(ACME).await.len(), 2);
    // The same key with another body is a mistake.
    post("4f1c2a9e-create", new_credential("Something else"))
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("idempotency-key-reused");
    // Still remembered a minute before the day is out; a day later the key
    // is forgotten and makes a credential of its own.
    app.clock.advance(86_400 - 60);
    post("4f1c2a9e-create", new_credential("Something else"))
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    app.clock.advance(61);
    post("4f1c2a9e-create", new_credential("Something else"))
        .await
        .assert_status(StatusCode::CREATED);
    assert_eq!(app.client_ids(ACME).await.len(), 3);
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("retries 2", acme, "write").await;
    let mut script = app.client();
    let rotate = |script: &mut Client| {
        script
            .request("POST", &format!("/api/v1/credentials/{client_id}/rotate"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("idempotency-key", "rotate-once")
            .body(json!({ "grace_seconds": 3600 }).to_string())
    };
    let request = rotate(&mut script);
    script.send(request).await.assert_status(StatusCode::OK);
    let request = rotate(&mut script);
    script
        .send(request)
        .await
        .assert_status(StatusCode::CONFLICT)
        .assert_contains(&client_id);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'credential.rotated'")
            .await,
        1
    );
    // A malformed key is refused before anything happens.
    let bad = script
        .send(
            script
                .request("POST", "/api/v1/credentials")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .header("idempotency-key", "has spaces in it")
                .body(new_credential("Bad key").to_string()),
        )
        .await;
    bad.assert_status(StatusCode::BAD_REQUEST)
        .assert_contains("invalid-idempotency-key");
}

#[tokio::test]
async fn each_person_has_a_rate_told_in_ratelimit_fields_and_429_past_it() {
    // Two a minute: one refills every 30 seconds on the app's clock, which
    // moves only when the test moves it.
    let app = TestApp::demo_with(|config| config.api_rate_per_minute = 2).await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let first = owner.api_token("busy", acme, "read").await;
    let second = owner
        .api_token("second of the same person", acme, "read")
        .await;
    let other = app
        .sign_in_as(Persona::Viewer)
        .await
        .api_token("someone else", acme, "read")
        .await;
    let mut script = app.client();
    for remaining in [1, 0] {
        let ok = script.api("GET", "/api/v1/credentials", &first, None).await;
        ok.assert_status(StatusCode::OK);
        assert_eq!(ok.header("ratelimit-policy"), "\"per-token\";q=2;w=60");
        assert!(
            ok.header("ratelimit")
                .starts_with(&format!("\"per-token\";r={remaining};t=")),
            "{}",
            ok.header("ratelimit")
        );
    }
    let refused = script.api("GET", "/api/v1/credentials", &first, None).await;
    refused
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains("https://keyward.dev/problems/rate-limited");
    // The app's clock stands still: one request comes back in exactly 30 s.
    assert_eq!(refused.header("retry-after"), "30");
    assert_eq!(refused.header("ratelimit"), "\"per-token\";r=0;t=30");
    // A second token of the same person shares the rate; another person's does not.
    script
        .api("GET", "/api/v1/credentials", &second, None)
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    script
        .api("GET", "/api/v1/credentials", &other, None)
        .await
        .assert_status(StatusCode::OK);
    // An unknown token gets 401, not a quota.
    let unknown = script
        .api("GET", "/api/v1/credentials", "kwpat_nope", None)
        .await;
    assert_invalid_token(&unknown);
    assert_eq!(unknown.header("ratelimit"), "");
    // Thirty seconds on, exactly one more request.
    app.clock.advance(30);
    script
        .api("GET", "/api/v1/credentials", &first, None)
        .await
        .assert_status(StatusCode::OK);
    script
        .api("GET", "/api/v1/credentials", &second, None)
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_read_token_changes_nothing_even_its_users_own_request() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.require_approval().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    let write = admin.api_token("provisioning", acme, "write").await;
    let read = admin.api_token("monitoring", acme, "read").await;
    let mut script = app.client();
    let mut asked = new_credential("Ledger sync");
    asked["justification"] = json!("The ledger job needs its own credential.");
    let requested = script
        .api("POST", "/api/v1/credentials", &write, Some(asked))
        .await;
    let id = requested.json()["request_id"].as_str().unwrap().to_owned();
    script
        .api(
            "POST",
            &format!("/api/v1/requests/{id}/withdraw"),
            &read,
            None,
        )
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("https://keyward.dev/problems/read-token");
    let list = script.api("GET", "/api/v1/requests", &read, None).await;
    assert_eq!(list.json()["data"][0]["status"], "pending");
    assert_eq!(list.json()["data"][0]["kind"], "new");

    // A change request says which credential it changes.
    let primary = app.client_ids(ACME).await.remove(0);
    let widened = script
        .api(
            "PATCH",
            &format!("/api/v1/credentials/{primary}"),
            &write,
            Some(json!({
                "ip_allowlist": ["0.0.0.0/0"],
                "justification": "Opened up for the migration week.",
            })),
        )
        .await;
    widened.assert_status(StatusCode::ACCEPTED);
    let change_id = widened.json()["request_id"].as_str().unwrap().to_owned();
    let list = script.api("GET", "/api/v1/requests", &read, None).await;
    let change = list.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["request_id"] == change_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(change["kind"], "change");
    assert_eq!(change["client_id"], primary.as_str());
}

#[tokio::test]
async fn a_token_revoked_while_its_change_waits_for_the_lock_changes_nothing() {
    use keyward::domain::api_token::TokenAccess;
    use keyward::domain::{Access, CredentialsPermission, Grace, OrgId, UserId};
    use keyward::service::{Actor, Error, Origin, TokenUse, credentials};
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.api_token("ci", acme, "write").await;
    let token_id = app
        .sql
        .strings("SELECT token_id FROM api_tokens", &[])
        .await
        .remove(0);
    // The request authenticated; then, before it took the lock, the token
    // was revoked (here: directly in the database).
    let actor = Actor {
        user: UserId(app.user_id("owner@acme.test").await),
        email: "owner@acme.test".to_owned(),
        org: OrgId(acme),
        access: Access::Owner,
        origin: Origin {
            ip: std::net::IpAddr::from([192, 0, 2, 9]),
            user_agent: None,
        },
        token: Some(TokenUse {
            id: token_id.clone(),
            name: "ci".to_owned(),
            access: TokenAccess::Write,
        }),
    };
    let client_id = keyward::domain::ClientId::parse(&app.client_ids(ACME).await[0]).unwrap();
    let rotated = credentials::rotate(&app.state, &actor, &client_id, Grace::None).await;
    assert!(rotated.is_ok(), "{rotated:?}");
    app.sql
        .execute(
            "UPDATE api_tokens SET revoked_at = 1 WHERE token_id = $1",
            &[token_id.as_str().into()],
        )
        .await;
    let refused = credentials::rotate(&app.state, &actor, &client_id, Grace::None).await;
    assert!(matches!(refused, Err(Error::TokenInvalid)), "{refused:?}");
    let read_only = Actor {
        token: Some(TokenUse {
            id: token_id,
            name: "ci".to_owned(),
            access: TokenAccess::Read,
        }),
        access: Access::Admin(CredentialsPermission::View),
        ..actor
    };
    let refused = credentials::rotate(&app.state, &read_only, &client_id, Grace::None).await;
    assert!(matches!(refused, Err(Error::ReadToken)), "{refused:?}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'credential.rotated'")
            .await,
        1
    );
}

#[tokio::test]
async fn token_ids_bodies_and_token_counts_are_bounded() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("bounded", acme, "write").await;
    // A NUL or any other odd id is simply not found, on both backends.
    owner.get("/account").await;
    for id in [
        "%00",
        "kwtok_%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00",
        "nope",
    ] {
        for path in ["/account/tokens", "/settings/members/tokens"] {
            owner
                .post(&format!("{path}/{id}/revoke"), &[])
                .await
                .assert_status(StatusCode::NOT_FOUND);
        }
    }
    // Bodies past 16 KiB are refused before they are read; 16 KiB is read
    // (and this one then refused for what it says).
    let body_of = |len: usize| {
        let mut body = new_credential("Big body");
        body["description"] = json!("");
        let padding = len - body.to_string().len();
        body["description"] = json!("x".repeat(padding));
        assert_eq!(body.to_string().len(), len);
        body
    };
    app.client()
        .api(
            "POST",
            "/api/v1/credentials",
            &token,
            Some(body_of(16 * 1024 + 1)),
        )
        .await
        .assert_status(StatusCode::PAYLOAD_TOO_LARGE)
        .assert_contains("https://keyward.dev/problems/");
    app.client()
        .api(
            "POST",
            "/api/v1/credentials",
            &token,
            Some(body_of(16 * 1024)),
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("description");
    // At most 20 live tokens a person.
    for i in 1..20 {
        owner.api_token(&format!("token {i}"), acme, "read").await;
    }
    owner
        .make_token("one too many", acme, "read", "7", "")
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("You have 20 live tokens, the most one person may hold.");
}

/// Every operation, with the token of each role and of another organization.
#[tokio::test]
async fn every_operation_answers_each_role_and_another_organization_as_the_console_does() {
    let app = TestApp::demo().await;
    app.upgrade_globex().await;
    let acme = app.org_id(ACME).await;
    let globex = app.org_id("Globex").await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.require_approval().await;
    let owner_token = owner.api_token("owner", acme, "write").await;
    let admin_token = app
        .sign_in_as(Persona::Admin)
        .await
        .api_token("admin", acme, "write")
        .await;
    let viewer_token = app
        .sign_in_as(Persona::Viewer)
        .await
        .api_token("viewer", acme, "read")
        .await;
    let other_token = app
        .sign_in_as(Persona::GlobexOwner)
        .await
        .api_token("globex", globex, "write")
        .await;
    let mut script = app.client();
    let primary = app.client_ids(ACME).await.remove(0);
    // A second credential to rotate, disable and delete; a pending request.
    let spare = script
        .api(
            "POST",
            "/api/v1/credentials",
            &owner_token,
            Some(new_credential("Spare one")),
        )
        .await
        .json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut asked = new_credential("Asked for");
    asked["justification"] = json!("A reason of enough length.");
    let request = script
        .api("POST", "/api/v1/credentials", &admin_token, Some(asked))
        .await
        .json()["request_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let tokens = [
        ("owner", &owner_token),
        ("can edit", &admin_token),
        ("can view", &viewer_token),
        ("other organization", &other_token),
    ];
    let s = |code: u16| StatusCode::from_u16(code).unwrap();
    // method, path, body, expected status for owner, can edit, can view, other org.
    let patch = json!({ "description": "Checked by role" });
    let rotate = json!({ "grace_seconds": 0 });
    let cases: Vec<(&str, String, Option<Value>, [u16; 4])> = vec![
        (
            "GET",
            "/api/v1/credentials".into(),
            None,
            [200, 200, 200, 200],
        ),
        (
            "GET",
            format!("/api/v1/credentials/{primary}"),
            None,
            [200, 200, 200, 404],
        ),
        (
            "PATCH",
            format!("/api/v1/credentials/{primary}"),
            Some(patch),
            [200, 200, 403, 404],
        ),
        (
            "POST",
            format!("/api/v1/credentials/{spare}/rotate"),
            Some(rotate),
            [200, 200, 403, 404],
        ),
        (
            "POST",
            format!("/api/v1/credentials/{spare}/disable"),
            None,
            [200, 200, 403, 404],
        ),
        (
            "POST",
            format!("/api/v1/credentials/{spare}/enable"),
            None,
            [200, 200, 403, 404],
        ),
        (
            "POST",
            format!("/api/v1/credentials/{spare}/make-primary"),
            None,
            [200, 200, 403, 404],
        ),
        (
            "POST",
            format!("/api/v1/credentials/{primary}/make-primary"),
            None,
            [200, 200, 403, 404],
        ),
        (
            "POST",
            format!("/api/v1/credentials/{spare}/expire-previous"),
            None,
            [200, 200, 403, 404],
        ),
        ("GET", "/api/v1/requests".into(), None, [200, 200, 200, 200]),
        (
            "POST",
            format!("/api/v1/requests/{request}/generate"),
            None,
            [403, 409, 403, 404],
        ),
        (
            "GET",
            "/api/v1/audit-events".into(),
            None,
            [200, 200, 200, 200],
        ),
        ("GET", "/api/v1/members".into(), None, [200, 403, 403, 200]),
        (
            "GET",
            "/api/v1/invitations".into(),
            None,
            [200, 403, 403, 200],
        ),
        (
            "GET",
            "/api/v1/organization".into(),
            None,
            [200, 200, 200, 200],
        ),
    ];
    for (method, path, body, expected) in &cases {
        for ((who, token), status) in tokens.iter().zip(expected) {
            let response = script.api(method, path, token, body.clone()).await;
            assert_eq!(
                response.status,
                s(*status),
                "{method} {path} as {who}: {}",
                response.body
            );
        }
    }
    // Deciding: never the requester, never a viewer, never another organization.
    for (who, token, status) in [
        ("can edit", &admin_token, 403),
        ("can view", &viewer_token, 403),
        ("other organization", &other_token, 404),
    ] {
        let response = script
            .api(
                "POST",
                &format!("/api/v1/requests/{request}/approve"),
                token,
                None,
            )
            .await;
        assert_eq!(response.status, s(status), "approve as {who}");
    }
    for (who, token, status) in [
        ("can view", &viewer_token, 403),
        ("other organization", &other_token, 404),
        ("can edit", &admin_token, 204),
    ] {
        let response = script
            .api(
                "DELETE",
                &format!("/api/v1/credentials/{spare}"),
                token,
                None,
            )
            .await;
        assert_eq!(response.status, s(status), "delete as {who}");
    }
    // Nothing of Acme's shows in Globex's reads.
    let theirs = script
        .api("GET", "/api/v1/audit-events", &other_token, None)
        .await;
    assert!(!theirs.body.contains("acme.test"), "{}", theirs.body);
}

#[tokio::test]
async fn a_trial_organization_cannot_create_through_the_api_either() {
    let app = TestApp::demo().await;
    let globex = app.org_id("Globex").await;
    let mut owner = app.sign_in_as(Persona::GlobexOwner).await;
    let token = owner.api_token("trial script", globex, "write").await;
    let refused = app
        .client()
        .api(
            "POST",
            "/api/v1/credentials",
            &token,
            Some(new_credential("Trial attempt")),
        )
        .await;
    refused
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Trial organizations cannot hold API credentials.");
    assert_eq!(refused.header("content-type"), "application/problem+json");
    assert!(app.client_ids("Globex").await.is_empty());
}

#[tokio::test]
async fn an_expiry_set_since_a_read_moves_the_etag_and_a_stale_if_match_cannot_remove_it() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("ci", acme, "write").await;
    let mut script = app.client();
    let id = app.client_ids(ACME).await.remove(0);
    let path = format!("/api/v1/credentials/{id}");
    let read = script.api("GET", &path, &token, None).await;
    read.assert_status(StatusCode::OK)
        .assert_contains("\"expires_at\":null");
    let etag = read.header("etag").to_owned();

    // Someone else gives it an expiry.
    let expires_on = time::OffsetDateTime::from_unix_timestamp(app.clock.now() + 20 * 86_400)
        .unwrap()
        .date()
        .to_string();
    let mut other = app.client();
    other
        .api(
            "PATCH",
            &path,
            &token,
            Some(json!({ "expires_on": expires_on })),
        )
        .await
        .assert_status(StatusCode::OK);

    // The old ETag no longer matches a read...
    let again = script
        .send(
            script
                .request("GET", &path)
                .header("authorization", format!("Bearer {token}"))
                .header("if-none-match", &etag),
        )
        .await;
    again.assert_status(StatusCode::OK);
    assert_ne!(again.header("etag"), etag);
    // ...and a change made on the old read is refused, the expiry kept.
    script
        .send(
            script
                .request("PATCH", &path)
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .header("if-match", &etag)
                .body(json!({ "expires_on": null }).to_string()),
        )
        .await
        .assert_status(StatusCode::PRECONDITION_FAILED)
        .assert_contains("https://keyward.dev/problems/stale");
    script
        .api("GET", &path, &token, None)
        .await
        .assert_lacks("\"expires_at\":null");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_concurrent_token_creations_for_the_last_place_in_two_organizations_leave_twenty() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let globex = app.org_id("Globex").await;
    // Acme's owner can view Globex's credentials too.
    app.sql
        .execute(
            "INSERT INTO memberships (organization_id, user_id, role, credentials_permission, created_at)
             SELECT $1, id, 'admin', 'view', 0 FROM users WHERE email = 'owner@acme.test'",
            &[globex.into()],
        )
        .await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get("/account").await;
    // Up to the last place, then 40 at once, half in each organization.
    for i in 0..19 {
        owner
            .make_token(&format!("earlier {i}"), acme, "read", "7", "")
            .await
            .assert_status(StatusCode::OK);
    }
    let responses = join_all((0..40).map(|i| {
        let mut client = owner.clone();
        let org = if i % 2 == 0 { acme } else { globex };
        async move {
            client
                .make_token(&format!("racer {i}"), org, "read", "7", "")
                .await
        }
    }))
    .await;
    let made = responses
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    for refused in responses.iter().filter(|r| r.status != StatusCode::OK) {
        refused
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains("You have 20 live tokens, the most one person may hold.");
    }
    assert_eq!(made, 1);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE u.email = 'owner@acme.test' AND t.revoked_at IS NULL"
        )
        .await,
        20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patches_of_different_fields_made_together_keep_both_changes() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("ci", acme, "write").await;
    let id = app.client_ids(ACME).await.remove(0);
    let path = format!("/api/v1/credentials/{id}");
    for round in 0..12 {
        let name = format!("Payments round {round}");
        let description = format!("Described in round {round}");
        let (mut first, mut second) = (app.client(), app.client());
        let (renamed, described) = tokio::join!(
            first.api("PATCH", &path, &token, Some(json!({ "name": name }))),
            second.api(
                "PATCH",
                &path,
                &token,
                Some(json!({ "description": description }))
            ),
        );
        renamed.assert_status(StatusCode::OK);
        described.assert_status(StatusCode::OK);
        let stored = app.client().api("GET", &path, &token, None).await.json();
        assert_eq!(
            (stored["name"].as_str(), stored["description"].as_str()),
            (Some(name.as_str()), Some(description.as_str())),
            "round {round} lost a change"
        );
    }
}
