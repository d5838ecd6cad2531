//! The token endpoint, its metadata and the signing key, as an OAuth client sees them.

use axum::body::Body;
use axum::http::{StatusCode, header};
use base64::Engine;
use keyward::http::oauth::Claims;
use serde_json::Value;

use crate::helpers::*;

async fn token_request(
    client: &mut Client<'_>,
    fields: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (TestResponse, Value) {
    let mut request = client
        .request("POST", "/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let encode = |s: &str| serde_urlencoded::to_string([("v", s)]).unwrap()[2..].to_owned();
        let pair = format!("{}:{}", encode(id), encode(secret));
        request = request.header(
            header::AUTHORIZATION,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ),
        );
    }
    let response = client
        .send(request.body(Body::from(form_body(fields))).unwrap())
        .await;
    let json = serde_json::from_str(&response.body).unwrap_or(Value::Null);
    (response, json)
}

#[track_caller]
fn assert_error(response: &TestResponse, json: &Value, status: StatusCode, error: &str) {
    assert_eq!(response.status, status, "{}", response.body);
    assert_eq!(json["error"], error, "{}", response.body);
    assert_eq!(response.header("cache-control"), "no-store");
}

async fn verify(app: &TestApp, token: &str) -> (jsonwebtoken::Header, Claims) {
    let mut client = app.client();
    let jwks: Value =
        serde_json::from_str(&client.get("/.well-known/jwks.json").await.body).unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let decoding =
        jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&[app.state.config.public_url.as_str()]);
    validation.set_audience(&[app.state.config.audience.as_str()]);
    let data = jsonwebtoken::decode::<Claims>(token, &decoding, &validation)
        .expect("the token verifies against the JWKS");
    assert_eq!(data.header.kid.as_deref(), key["kid"].as_str());
    (data.header, data.claims)
}

#[tokio::test]
async fn metadata_and_jwks_describe_the_server() {
    let app = TestApp::demo().await;
    let mut client = app.client();
    let metadata = client.get("/.well-known/oauth-authorization-server").await;
    metadata.assert_status(StatusCode::OK);
    let json: Value = serde_json::from_str(&metadata.body).unwrap();
    assert_eq!(json["issuer"], "http://127.0.0.1:8080");
    assert_eq!(json["token_endpoint"], "http://127.0.0.1:8080/oauth/token");
    assert_eq!(
        json["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(
        json["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    let jwks: Value =
        serde_json::from_str(&client.get("/.well-known/jwks.json").await.body).unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert_eq!(jwks["keys"][0]["kid"], app.state.keys.key_id());
}

#[tokio::test]
async fn a_credential_gets_a_one_hour_jwt_with_either_authentication_method() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let (client_id, secret) = owner.create_credential("Token client").await;
    let mut machine = app.client();

    let fields = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let (post, json) = token_request(&mut machine, &fields, None).await;
    post.assert_status(StatusCode::OK);
    assert_eq!(post.header("cache-control"), "no-store");
    assert_eq!(post.header("pragma"), "no-cache");
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 3600);
    assert_eq!(
        json["scope"],
        "audit:read:org balances:read:org transactions:read:org webhooks:read:org"
    );
    let (header, claims) = verify(&app, json["access_token"].as_str().unwrap()).await;
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(
        (claims.sub.as_str(), claims.client_id.as_str()),
        (client_id.as_str(), client_id.as_str())
    );
    assert_eq!(claims.exp - claims.iat, 3600);
    assert_eq!(claims.org, app.org_id("Acme Payments").await.to_string());

    let (basic, json) = token_request(
        &mut machine,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "audit:read:org"),
        ],
        Some((&client_id, &secret)),
    )
    .await;
    basic.assert_status(StatusCode::OK);
    assert_eq!(json["scope"], "audit:read:org");
    let (_, second) = verify(&app, json["access_token"].as_str().unwrap()).await;
    assert_ne!(second.jti, claims.jti);
}

#[tokio::test]
async fn every_malformed_or_unauthorised_request_gets_its_rfc_error() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let (client_id, secret) = owner.create_credential("Error client").await;
    let id = client_id.as_str();
    let s = secret.as_str();
    let mut m = app.client();
    let grant = ("grant_type", "client_credentials");

    let (r, j) = token_request(
        &mut m,
        &[
            grant,
            ("client_id", id),
            ("client_secret", &format!("{}x", &s[..s.len() - 1])),
        ],
        None,
    )
    .await;
    assert_error(&r, &j, StatusCode::UNAUTHORIZED, "invalid_client");
    let wrong = owner.create_credential("Other client").await.1;
    let (r, j) = token_request(&mut m, &[grant], Some((id, &wrong))).await;
    assert_error(&r, &j, StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(r.header("www-authenticate").starts_with("Basic"));
    let (r, j) = token_request(
        &mut m,
        &[grant, ("client_id", id), ("client_secret", s)],
        Some((id, s)),
    )
    .await;
    assert_error(&r, &j, StatusCode::BAD_REQUEST, "invalid_request");
    let (r, j) = token_request(&mut m, &[("client_id", id), ("client_secret", s)], None).await;
    assert_error(&r, &j, StatusCode::BAD_REQUEST, "invalid_request");
    let (r, j) = token_request(
        &mut m,
        &[
            ("grant_type", "password"),
            ("client_id", id),
            ("client_secret", s),
        ],
        None,
    )
    .await;
    assert_error(&r, &j, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    let (r, j) = token_request(
        &mut m,
        &[grant, grant, ("client_id", id), ("client_secret", s)],
        None,
    )
    .await;
    assert_error(&r, &j, StatusCode::BAD_REQUEST, "invalid_request");
    let (r, j) = token_request(
        &mut m,
        &[
            grant,
            ("client_id", id),
            ("client_secret", s),
            ("scope", "vault:delete:org"),
        ],
        None,
    )
    .await;
    assert_error(&r, &j, StatusCode::BAD_REQUEST, "invalid_scope");
    let huge = format!("kws_test_{}", "a".repeat(10 * 1024));
    let (r, j) = token_request(
        &mut m,
        &[grant, ("client_id", id), ("client_secret", &huge)],
        None,
    )
    .await;
    assert_error(&r, &j, StatusCode::UNAUTHORIZED, "invalid_client");
    let (r, j) = token_request(&mut m, &[grant], None).await;
    assert_error(&r, &j, StatusCode::UNAUTHORIZED, "invalid_client");
    // Unknown parameters are ignored.
    let (r, _) = token_request(
        &mut m,
        &[
            grant,
            ("client_id", id),
            ("client_secret", s),
            ("colour", "blue"),
        ],
        None,
    )
    .await;
    r.assert_status(StatusCode::OK);

    let in_url = m
        .request(
            "POST",
            &format!("/oauth/token?client_id={id}&client_secret={s}"),
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("grant_type=client_credentials"))
        .unwrap();
    let r = m.send(in_url).await;
    assert_error(
        &r,
        &serde_json::from_str(&r.body).unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    let json_body = m
        .request("POST", "/oauth/token")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let r = m.send(json_body).await;
    assert_error(
        &r,
        &serde_json::from_str(&r.body).unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
}

#[tokio::test]
async fn disabled_deleted_rotated_foreign_address_and_trial_credentials_get_no_token() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let (id, old) = owner.create_credential("Rule client").await;
    let mut m = app.client();
    let ask = |secret: String| {
        vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("client_id".to_owned(), id.clone()),
            ("client_secret".to_owned(), secret),
        ]
    };
    fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
        v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
    }

    // Rotation: the old secret fails at once, the new one works.
    let reveal = owner
        .post(&format!("/settings/credentials/{id}/rotate"), &[])
        .await;
    let new = secret_in(&reveal.body).unwrap();
    let (r, j) = token_request(&mut m, &pairs(&ask(old)), None).await;
    assert_error(&r, &j, StatusCode::UNAUTHORIZED, "invalid_client");
    token_request(&mut m, &pairs(&ask(new.clone())), None)
        .await
        .0
        .assert_status(StatusCode::OK);

    // Disabled.
    owner
        .post(&format!("/settings/credentials/{id}/disable"), &[])
        .await;
    let (r, j) = token_request(&mut m, &pairs(&ask(new.clone())), None).await;
    assert_error(&r, &j, StatusCode::BAD_REQUEST, "unauthorized_client");
    owner
        .post(&format!("/settings/credentials/{id}/enable"), &[])
        .await;

    // Outside the allowlist (the test client is 192.0.2.10).
    let path = format!("/settings/credentials/{id}/edit");
    owner.get(&path).await;
    let limited = with(
        credential_fields("Rule client"),
        &[("ip_mode", "limited"), ("ip_list", "203.0.113.0/24")],
    );
    owner
        .post(&path, &limited)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let (r, j) = token_request(&mut m, &pairs(&ask(new.clone())), None).await;
    assert_error(&r, &j, StatusCode::BAD_REQUEST, "unauthorized_client");
    m.ip = [203, 0, 113, 77];
    token_request(&mut m, &pairs(&ask(new.clone())), None)
        .await
        .0
        .assert_status(StatusCode::OK);

    // Trial organization.
    keyward::on!(app.state.db, |e| sqlx::query(
        "UPDATE organizations SET plan = 'trial' WHERE name = 'Acme Payments'"
    )
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();
    let (r, j) = token_request(&mut m, &pairs(&ask(new.clone())), None).await;
    assert_error(&r, &j, StatusCode::BAD_REQUEST, "unauthorized_client");
    keyward::on!(app.state.db, |e| sqlx::query(
        "UPDATE organizations SET plan = 'standard' WHERE name = 'Acme Payments'"
    )
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();

    // Deleted.
    owner
        .post(&format!("/settings/credentials/{id}/delete"), &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let (r, j) = token_request(&mut m, &pairs(&ask(new)), None).await;
    assert_error(&r, &j, StatusCode::UNAUTHORIZED, "invalid_client");
}

async fn get_token(m: &mut Client<'_>, id: &str, secret: &str) -> String {
    let (r, j) = token_request(
        m,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
        None,
    )
    .await;
    r.assert_status(StatusCode::OK);
    j["access_token"].as_str().unwrap().to_owned()
}

async fn introspect(m: &mut Client<'_>, caller: (&str, &str), token: &str) -> Value {
    let request = m
        .request("POST", "/oauth/introspect")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form_body(&[
            ("token", token),
            ("client_id", caller.0),
            ("client_secret", caller.1),
        ])))
        .unwrap();
    let response = m.send(request).await;
    response.assert_status(StatusCode::OK);
    assert_eq!(response.header("cache-control"), "no-store");
    serde_json::from_str(&response.body).unwrap()
}

async fn revoke(m: &mut Client<'_>, caller: (&str, &str), token: &str) -> TestResponse {
    let request = m
        .request("POST", "/oauth/revoke")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form_body(&[("token", token)])))
        .unwrap();
    let mut request = request;
    let pair = format!("{}:{}", caller.0, caller.1);
    request.headers_mut().insert(
        header::AUTHORIZATION,
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
        .parse()
        .unwrap(),
    );
    m.send(request).await
}

#[tokio::test]
async fn introspection_and_revocation_follow_rfc_7662_and_7009() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let (rs_id, rs_secret) = owner.create_credential("Resource server").await;
    let (id, secret) = owner.create_credential("API client").await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let mut m = app.client();
    let token = get_token(&mut m, &id, &secret).await;

    // Unauthenticated introspection is refused.
    let anonymous = m
        .request("POST", "/oauth/introspect")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form_body(&[("token", token.as_str())])))
        .unwrap();
    m.send(anonymous)
        .await
        .assert_status(StatusCode::UNAUTHORIZED);

    let active = introspect(&mut m, rs, &token).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], id.as_str());
    assert_eq!(
        active["scope"],
        "audit:read:org balances:read:org transactions:read:org webhooks:read:org"
    );
    assert_eq!(
        introspect(&mut m, rs, "not.a.token").await,
        serde_json::json!({ "active": false })
    );

    // Disabling keeps issued tokens active until they expire.
    owner
        .post(&format!("/settings/credentials/{id}/disable"), &[])
        .await;
    assert_eq!(introspect(&mut m, rs, &token).await["active"], true);
    owner
        .post(&format!("/settings/credentials/{id}/enable"), &[])
        .await;

    // Another client cannot revoke it; its own client can; unknown tokens are fine.
    revoke(&mut m, rs, &token)
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(introspect(&mut m, rs, &token).await["active"], true);
    revoke(&mut m, (&id, &secret), "garbage")
        .await
        .assert_status(StatusCode::OK);
    revoke(&mut m, (&id, &secret), &token)
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(
        introspect(&mut m, rs, &token).await,
        serde_json::json!({ "active": false })
    );

    // Expired after an hour.
    let fresh = get_token(&mut m, &id, &secret).await;
    app.clock.advance(3601);
    assert_eq!(
        introspect(&mut m, rs, &fresh).await,
        serde_json::json!({ "active": false })
    );

    // Deleting the credential makes its tokens inactive at once.
    let owner_again = &mut app.signed_in(Persona::Owner).await;
    let live = get_token(&mut m, &id, &secret).await;
    owner_again.get("/settings/credentials").await;
    owner_again
        .post(&format!("/settings/credentials/{id}/delete"), &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        introspect(&mut m, rs, &live).await,
        serde_json::json!({ "active": false })
    );

    // A resource server of another organization learns nothing.
    app.upgrade_globex().await;
    let mut globex = app.signed_in(Persona::OtherOwner).await;
    let (g_id, g_secret) = globex.create_credential("Globex resource").await;
    let rs_token = get_token(&mut m, &rs_id, &rs_secret).await;
    assert_eq!(
        introspect(&mut m, (&g_id, &g_secret), &rs_token).await,
        serde_json::json!({ "active": false })
    );
}

#[tokio::test]
async fn last_used_is_shown_and_written_at_most_once_a_minute() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let (id, secret) = owner.create_credential("Used client").await;
    let mut m = app.client();
    get_token(&mut m, &id, &secret).await;
    let first: i64 = keyward::on!(app.state.db, |e| sqlx::query_scalar("SELECT s.last_used_at FROM credential_secrets s JOIN credentials c ON c.id = s.credential_id WHERE c.client_id = $1")
        .bind(&id)
        .fetch_one(e)
        .await)
        .unwrap();
    app.clock.advance(30);
    m.ip = [198, 51, 100, 23];
    get_token(&mut m, &id, &secret).await;
    let (at, ip): (i64, String) = keyward::on!(app.state.db, |e| sqlx::query_as("SELECT s.last_used_at, s.last_used_ip FROM credential_secrets s JOIN credentials c ON c.id = s.credential_id WHERE c.client_id = $1")
        .bind(&id)
        .fetch_one(e)
        .await)
        .unwrap();
    assert_eq!(
        (at, ip.as_str()),
        (first, "192.0.2.10"),
        "no second write within the minute"
    );
    app.clock.advance(31);
    get_token(&mut m, &id, &secret).await;
    let page = owner.get("/settings/credentials").await;
    let card = &page.body[page.body.find("Used client").unwrap()..];
    let used = &card[card.find("Last used").unwrap()..];
    let used = &used[..used.find("</dd>").unwrap()];
    assert!(
        used.contains("just now</time> from 198.51.100.23"),
        "{used}"
    );
}

#[tokio::test]
async fn a_rotation_grace_window_keeps_the_old_secret_until_it_ends_or_is_expired() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let (id, old) = owner.create_credential("Graceful client").await;
    let mut m = app.client();
    let rotate = format!("/settings/credentials/{id}/rotate");
    owner
        .get(&rotate)
        .await
        .assert_contains(">24 hours</option>")
        .assert_contains(">7 days</option>");
    owner
        .post(&rotate, &[("grace", "42")])
        .await
        .assert_status(StatusCode::BAD_REQUEST);

    let reveal = owner.post(&rotate, &[("grace", "3600")]).await;
    reveal
        .assert_status(StatusCode::OK)
        .assert_contains("The previous secret keeps working until")
        .assert_contains("(in 1 hour)");
    let new = secret_in(&reveal.body).unwrap();
    get_token(&mut m, &id, &old).await;
    get_token(&mut m, &id, &new).await;
    let page = owner.get("/settings/credentials").await;
    page.assert_contains("Previous secret</dt>")
        .assert_contains("in 1 hour</time>")
        .assert_contains("New secret last used")
        .assert_contains(">Expire now");

    // After the window the old secret fails.
    app.clock.advance(3601);
    let ask = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", old.as_str()),
    ];
    let (r, j) = token_request(&mut m, &ask, None).await;
    assert_error(&r, &j, StatusCode::UNAUTHORIZED, "invalid_client");

    // Expire now ends a window at once.
    let mut owner = app.signed_in(Persona::Owner).await;
    owner.get("/settings/credentials").await;
    let reveal = owner.post(&rotate, &[("grace", "604800")]).await;
    let newest = secret_in(&reveal.body).unwrap();
    get_token(&mut m, &id, &new).await;
    owner
        .post(&format!("/settings/credentials/{id}/expire-previous"), &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get("/settings/credentials")
        .await
        .assert_lacks("Previous secret</dt>")
        .assert_contains("no longer works");
    let ask = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", new.as_str()),
    ];
    let (r, j) = token_request(&mut m, &ask, None).await;
    assert_error(&r, &j, StatusCode::UNAUTHORIZED, "invalid_client");
    get_token(&mut m, &id, &newest).await;
    assert!(
        app.audit_actions()
            .await
            .contains(&"credential.previous_secret_expired".to_owned())
    );
}

#[tokio::test]
async fn failed_authentications_are_throttled_with_retry_after_and_audited_once() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let (id, secret) = owner.create_credential("Hammered client").await;
    let wrong = owner.create_credential("Another client").await.1;
    let mut m = app.client();
    let bad = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", wrong.as_str()),
    ];
    for _ in 0..19 {
        let (r, j) = token_request(&mut m, &bad, None).await;
        assert_error(&r, &j, StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let (r, j) = token_request(&mut m, &bad, None).await;
    assert_error(&r, &j, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    let retry: u64 = r.header("retry-after").parse().unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    // The real client is not locked out by someone else's failures.
    get_token(&mut m, &id, &secret).await;
    let events: Vec<String> = keyward::on!(app.state.db, |e| sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE action LIKE 'token.%' ORDER BY id",
    )
    .fetch_all(e)
    .await)
    .unwrap();
    assert_eq!(events, ["token.auth_failed", "token.throttled"]);
}

#[tokio::test]
async fn the_request_rate_per_client_is_limited() {
    let app = TestApp::demo_with(|c| {
        c.token_rate_per_client = 1;
        c.token_rate_per_ip = 1000;
    })
    .await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let (id, secret) = owner.create_credential("Busy client").await;
    let mut m = app.client();
    let ask = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(token_request(&mut m, &ask, None).await.0.status);
    }
    // A burst of twice the rate passes; then requests are refused until the
    // bucket refills (one a second, far slower than these requests).
    assert_eq!(
        &statuses[..2],
        &[StatusCode::OK, StatusCode::OK],
        "{statuses:?}"
    );
    assert!(
        statuses[2..].contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let (r, j) = token_request(&mut m, &ask, None).await;
    assert_error(&r, &j, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
}

#[tokio::test]
async fn the_request_rate_per_address_counts_each_request_once() {
    let app = TestApp::demo_with(|c| {
        c.token_rate_per_client = 1000;
        c.token_rate_per_ip = 1;
    })
    .await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let (id, secret) = owner.create_credential("Address client").await;
    let mut m = app.client();
    let ask = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    // A burst of two (twice the rate of one a second), then refusals.
    assert_eq!(
        token_request(&mut m, &ask, None).await.0.status,
        StatusCode::OK
    );
    assert_eq!(
        token_request(&mut m, &ask, None).await.0.status,
        StatusCode::OK
    );
    let (r, j) = token_request(&mut m, &ask, None).await;
    assert_error(&r, &j, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    // Another address is not affected.
    m.ip = [198, 51, 100, 99];
    assert_eq!(
        token_request(&mut m, &ask, None).await.0.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn failed_token_requests_do_not_erase_the_sign_in_throttles_memory() {
    let app = TestApp::demo().await;
    let mut browser = app.client();
    for _ in 0..4 {
        browser
            .sign_in("admin@acme.test", "wrong password!")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    // Six minutes on (inside the 15-minute sign-in window, past the token window)...
    app.clock.advance(6 * 60);
    let mut owner = app.signed_in(Persona::Owner).await;
    let (id, _) = owner.create_credential("Pruning client").await;
    let wrong = owner.create_credential("Pruning other").await.1;
    let mut m = app.client();
    let bad = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", wrong.as_str()),
    ];
    let (r, j) = token_request(&mut m, &bad, None).await;
    assert_error(&r, &j, StatusCode::UNAUTHORIZED, "invalid_client");
    // ...a fifth failure still makes five in the window.
    browser
        .sign_in("admin@acme.test", "wrong password!")
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    browser
        .sign_in("admin@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
}
