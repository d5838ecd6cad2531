//! The OAuth 2.0 endpoints as clients see them: token, introspection,
//! revocation, the metadata and the JWKS, the rules that refuse a token,
//! rate limits, and an independent client library (the `oauth2` crate) over
//! real HTTP with the token verified by a JWT library against the JWKS.

use axum::http::StatusCode;
use keyward::http::oauth::Claims;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, IntrospectionUrl, RevocationUrl, Scope,
    StandardRevocableToken, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use serde_json::{Value, json};

use crate::support::pages::*;
use crate::support::*;

/// Verifies `token` against the published JWKS, for this app's issuer and audience.
async fn verify(app: &TestApp, token: &str) -> (jsonwebtoken::Header, Claims) {
    let jwks = app.client().get("/.well-known/jwks.json").await.json();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let decoding =
        jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&[app.config.public_url.as_str()]);
    validation.set_audience(&[app.config.audience.as_str()]);
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
    let json = metadata.json();
    assert_eq!(json["issuer"], "http://127.0.0.1:8080");
    assert_eq!(json["token_endpoint"], "http://127.0.0.1:8080/oauth/token");
    assert_eq!(json["grant_types_supported"], json!(["client_credentials"]));
    assert_eq!(
        json["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    let jwks = client.get("/.well-known/jwks.json").await.json();
    let key = &jwks["keys"][0];
    assert_eq!(key["alg"], "EdDSA");
    // The kid is the key's RFC 7638 thumbprint: SHA-256 of the required
    // members in lexicographic order, without spaces, base64url.
    use base64::Engine;
    use sha2::Digest;
    let members = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        key["x"].as_str().unwrap()
    );
    let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(members.as_bytes()));
    assert_eq!(key["kid"], thumbprint);
}

#[tokio::test]
async fn a_credential_gets_a_one_hour_jwt_with_either_authentication_method() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (client_id, secret) = owner.create_credential("Token client").await;
    let mut machine = app.client();

    let post = machine.client_credentials(&client_id, &secret).await;
    post.assert_status(StatusCode::OK);
    assert_eq!(post.header("cache-control"), "no-store");
    assert_eq!(post.header("pragma"), "no-cache");
    let json = post.json();
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

    let basic = machine
        .token_request(
            &[
                ("grant_type", "client_credentials"),
                ("scope", "audit:read:org"),
            ],
            Some((&client_id, &secret)),
        )
        .await;
    basic.assert_status(StatusCode::OK);
    let json = basic.json();
    assert_eq!(json["scope"], "audit:read:org");
    let (_, second) = verify(&app, json["access_token"].as_str().unwrap()).await;
    assert_ne!(second.jti, claims.jti);

    // RFC 6749 §2.3.1: each part of Basic is form-urlencoded first, so a
    // client that encodes more than it must (here every character of the
    // ID, and `_` of the secret) is decoded before the check.
    use base64::Engine;
    let encoded_id: String = client_id.bytes().map(|b| format!("%{b:02X}")).collect();
    let encoded_secret = secret.replacen('_', "%5F", 2);
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{encoded_id}:{encoded_secret}"));
    let request = machine
        .request("POST", "/oauth/token")
        .form(&[("grant_type", "client_credentials")])
        .header("authorization", format!("Basic {basic}"));
    machine.send(request).await.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn every_malformed_or_unauthorised_request_gets_its_rfc_error() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (client_id, secret) = owner.create_credential("Error client").await;
    let id = client_id.as_str();
    let s = secret.as_str();
    let mut m = app.client();
    let grant = ("grant_type", "client_credentials");

    // Mistyped: one character off, so never the secret itself.
    let mistyped = mistyped(s);
    assert_ne!(mistyped, s);
    m.token_request(
        &[grant, ("client_id", id), ("client_secret", &mistyped)],
        None,
    )
    .await
    .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // Well-formed, so past the shape check to the digest comparison.
    let stranger = well_formed_wrong_secret();
    m.token_request(
        &[grant, ("client_id", id), ("client_secret", &stranger)],
        None,
    )
    .await
    .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    let (_, wrong) = owner.create_credential("Other client").await;
    let r = m.token_request(&[grant], Some((id, &wrong))).await;
    r.assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(r.header("www-authenticate").starts_with("Basic"));
    m.token_request(
        &[grant, ("client_id", id), ("client_secret", s)],
        Some((id, s)),
    )
    .await
    .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    m.token_request(&[("client_id", id), ("client_secret", s)], None)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    m.token_request(
        &[
            ("grant_type", "password"),
            ("client_id", id),
            ("client_secret", s),
        ],
        None,
    )
    .await
    .assert_oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    m.token_request(
        &[grant, grant, ("client_id", id), ("client_secret", s)],
        None,
    )
    .await
    .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    m.token_request(
        &[
            grant,
            ("client_id", id),
            ("client_secret", s),
            ("scope", "vault:delete:org"),
        ],
        None,
    )
    .await
    .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    let huge = format!("kws_test_{}", "a".repeat(10 * 1024));
    m.token_request(&[grant, ("client_id", id), ("client_secret", &huge)], None)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    m.token_request(&[grant], None)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    // Unknown parameters are ignored.
    m.token_request(
        &[
            grant,
            ("client_id", id),
            ("client_secret", s),
            ("colour", "blue"),
        ],
        None,
    )
    .await
    .assert_status(StatusCode::OK);

    let in_url = m
        .request(
            "POST",
            &format!("/oauth/token?client_id={id}&client_secret={s}"),
        )
        .form(&[grant]);
    m.send(in_url)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    let json_body = m
        .request("POST", "/oauth/token")
        .header("content-type", "application/json")
        .body("{}");
    m.send(json_body)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn disabled_deleted_rotated_foreign_address_and_trial_credentials_get_no_token() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, old) = owner.create_credential("Rule client").await;
    let mut m = app.client();

    // Rotation: the old secret fails at once, the new one works.
    let reveal = owner.rotate(&id, Grace::Unchosen).await;
    let new = secret_in(&reveal.body).unwrap();
    m.client_credentials(&id, &old)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    m.client_credentials(&id, &new)
        .await
        .assert_status(StatusCode::OK);

    // Disabled.
    owner.disable(&id).await;
    m.client_credentials(&id, &new)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    owner.enable(&id).await;

    // Outside the allowlist (the test client is 192.0.2.10).
    owner.get(&credential(&id, "edit")).await;
    let limited = with(
        credential_fields("Rule client"),
        &[("ip_mode", "limited"), ("ip_list", "203.0.113.0/24")],
    );
    owner
        .edit_credential(&id, &limited)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    m.client_credentials(&id, &new)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    m.set_ip([203, 0, 113, 77]);
    m.client_credentials(&id, &new)
        .await
        .assert_status(StatusCode::OK);

    // Trial organization.
    app.set_plan("Acme Payments", "trial").await;
    m.client_credentials(&id, &new)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    app.set_plan("Acme Payments", "standard").await;

    // Deleted.
    owner.delete(&id).await.assert_status(StatusCode::SEE_OTHER);
    m.client_credentials(&id, &new)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
}

#[tokio::test]
async fn introspection_and_revocation_follow_rfc_7662_and_7009() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (rs_id, rs_secret) = owner.create_credential("Resource server").await;
    let (id, secret) = owner.create_credential("API client").await;
    let rs = Auth::Post(&rs_id, &rs_secret);
    let mut m = app.client();
    let token = m.get_token(&id, &secret).await;

    // Unauthenticated introspection is refused.
    m.introspection(Auth::Anonymous, &token)
        .await
        .assert_status(StatusCode::UNAUTHORIZED);

    let active = m.introspect(rs, &token).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], id.as_str());
    assert_eq!(
        active["scope"],
        "audit:read:org balances:read:org transactions:read:org webhooks:read:org"
    );
    assert_eq!(
        m.introspect(rs, "not.a.token").await,
        json!({ "active": false })
    );

    // Disabling keeps issued tokens active until they expire, while the
    // credential itself gets no new ones.
    owner.get(CREDENTIALS).await;
    owner
        .disable(&id)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    m.client_credentials(&id, &secret)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client")
        .assert_contains("This credential is disabled.");
    assert_eq!(m.introspect(rs, &token).await["active"], true);
    owner.enable(&id).await.assert_status(StatusCode::SEE_OTHER);

    // A wrong secret cannot revoke it: the client is not authenticated.
    m.revoke(Auth::Basic(&id, &well_formed_wrong_secret()), &token)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(m.introspect(rs, &token).await["active"], true);
    // Another organization's client is answered as for any token (RFC 7009
    // §2.2), and the token stays active.
    app.upgrade_globex().await;
    let mut globex = app.sign_in_as(Persona::GlobexOwner).await;
    let (g_id, g_secret) = globex.create_credential("Globex revoker").await;
    m.revoke(Auth::Basic(&g_id, &g_secret), &token)
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(m.introspect(rs, &token).await["active"], true);

    // Another client cannot revoke it; its own client can; unknown tokens are fine.
    m.revoke(Auth::Basic(&rs_id, &rs_secret), &token)
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(m.introspect(rs, &token).await["active"], true);
    m.revoke(Auth::Basic(&id, &secret), "garbage")
        .await
        .assert_status(StatusCode::OK);
    m.revoke(Auth::Basic(&id, &secret), &token)
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(m.introspect(rs, &token).await, json!({ "active": false }));

    // Expired after an hour.
    let fresh = m.get_token(&id, &secret).await;
    app.clock.advance(3601);
    assert_eq!(m.introspect(rs, &fresh).await, json!({ "active": false }));

    // Deleting the credential makes its tokens inactive at once.
    let mut owner_again = app.sign_in_as(Persona::Owner).await;
    let live = m.get_token(&id, &secret).await;
    owner_again.get(CREDENTIALS).await;
    owner_again
        .delete(&id)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(m.introspect(rs, &live).await, json!({ "active": false }));

    // A resource server of another organization learns nothing.
    let rs_token = m.get_token(&rs_id, &rs_secret).await;
    assert_eq!(
        m.introspect(Auth::Post(&g_id, &g_secret), &rs_token).await,
        json!({ "active": false })
    );
}

#[tokio::test]
async fn last_used_is_shown_and_written_at_most_once_a_minute() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, secret) = owner.create_credential("Used client").await;
    let mut m = app.client();
    let last_used = "SELECT s.last_used_at, s.last_used_ip FROM credential_secrets s JOIN credentials c ON c.id = s.credential_id WHERE c.client_id = $1";
    m.get_token(&id, &secret).await;
    let (first, _): (i64, String) = app.sql.one(last_used, &[(&id).into()]).await;
    app.clock.advance(30);
    m.set_ip([198, 51, 100, 23]);
    m.get_token(&id, &secret).await;
    let (at, ip): (i64, String) = app.sql.one(last_used, &[(&id).into()]).await;
    assert_eq!(
        (at, ip.as_str()),
        (first, "192.0.2.10"),
        "no second write within the minute"
    );
    app.clock.advance(31);
    m.get_token(&id, &secret).await;
    let page = owner.get(CREDENTIALS).await;
    let card = &page.body[page.body.find("Used client").unwrap()..];
    let used = &card[card.find("Last used").unwrap()..];
    let used = &used[..used.find("</dd>").unwrap()];
    assert!(
        used.contains("just now</time> from 198.51.100.23"),
        "{used}"
    );
}

#[tokio::test]
async fn failed_authentications_are_throttled_with_retry_after_and_audited_once() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, secret) = owner.create_credential("Hammered client").await;
    let (_, wrong) = owner.create_credential("Another client").await;
    let mut m = app.client();
    for _ in 0..19 {
        m.client_credentials(&id, &wrong)
            .await
            .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let r = m.client_credentials(&id, &wrong).await;
    r.assert_oauth_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    // A window of 5 minutes, all of it left on a standing clock.
    assert_eq!(r.header("retry-after"), "300");
    // The real client is not locked out by someone else's failures.
    m.get_token(&id, &secret).await;
    let events = app
        .sql
        .strings(
            "SELECT action FROM audit_events WHERE action LIKE 'token.%' ORDER BY id",
            &[],
        )
        .await;
    assert_eq!(events, ["token.auth_failed", "token.throttled"]);
}

#[tokio::test]
async fn the_request_rate_per_client_is_limited() {
    let app = TestApp::demo_with(|c| {
        c.token_rate_per_client = 1;
        c.token_rate_per_ip = 1000;
    })
    .await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, secret) = owner.create_credential("Busy client").await;
    let mut m = app.client();
    // A burst of twice the rate passes; the third is refused. The app's clock
    // stands still, so however slow the machine no token refills meanwhile.
    m.get_token(&id, &secret).await;
    m.get_token(&id, &secret).await;
    let r = m.client_credentials(&id, &secret).await;
    r.assert_oauth_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    assert_eq!(r.header("retry-after"), "1");
    // Another client from the same address is not affected.
    let (other, other_secret) = owner.create_credential("Quiet client").await;
    m.get_token(&other, &other_secret).await;
    // One a second: a second later, one more; not two.
    app.clock.advance(1);
    m.get_token(&id, &secret).await;
    m.client_credentials(&id, &secret)
        .await
        .assert_oauth_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
}

#[tokio::test]
async fn the_request_rate_per_address_counts_each_request_once() {
    let app = TestApp::demo_with(|c| {
        c.token_rate_per_client = 1000;
        c.token_rate_per_ip = 1;
    })
    .await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, secret) = owner.create_credential("Address client").await;
    let (other, other_secret) = owner.create_credential("Second client").await;
    let mut m = app.client();
    // A burst of two (twice the rate of one a second), then refusals, for
    // any client from that address; the clock stands still meanwhile.
    m.get_token(&id, &secret).await;
    m.get_token(&other, &other_secret).await;
    let r = m.client_credentials(&id, &secret).await;
    r.assert_oauth_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    assert_eq!(r.header("retry-after"), "1");
    // A refused request is not counted again: a second on, one passes.
    app.clock.advance(1);
    m.get_token(&other, &other_secret).await;
    m.client_credentials(&id, &secret)
        .await
        .assert_oauth_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    // Another address is not affected.
    m.set_ip([198, 51, 100, 99]);
    m.get_token(&id, &secret).await;
}

#[tokio::test]
async fn an_independent_oauth_client_gets_introspects_and_revokes_tokens() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, secret) = owner.create_credential("Library client").await;
    let (rs_id, rs_secret) = owner.create_credential("Library resource").await;
    let base = app.serve().await;
    let url = |path: &str| format!("{base}{path}");
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The same server over HTTP, for what the library does not do.
    let mut by_hand = Client::http(&base);

    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret.clone()))
            .set_auth_type(auth)
            .set_token_uri(TokenUrl::new(url("/oauth/token")).unwrap());
        let token = client
            .exchange_client_credentials()
            .add_scope(Scope::new("audit:read:org".to_owned()))
            .request_async(&http)
            .await
            .expect("a token");
        assert_eq!(
            token.expires_in(),
            Some(std::time::Duration::from_secs(3600))
        );
        assert_eq!(
            token
                .scopes()
                .map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            Some(vec!["audit:read:org".to_owned()])
        );

        // Verified offline against the JWKS, as a resource server would.
        let jwks: Value = by_hand.get("/.well-known/jwks.json").await.json();
        let key =
            jsonwebtoken::DecodingKey::from_ed_components(jwks["keys"][0]["x"].as_str().unwrap())
                .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.set_issuer(&["http://127.0.0.1:8080"]);
        validation.set_audience(&["https://api.keyward.test"]);
        let header = jsonwebtoken::decode_header(token.access_token().secret()).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let claims =
            jsonwebtoken::decode::<Value>(token.access_token().secret(), &key, &validation)
                .unwrap()
                .claims;
        assert_eq!(claims["client_id"], id.as_str());

        // A resource server introspects; the client revokes.
        let resource = BasicClient::new(ClientId::new(rs_id.clone()))
            .set_client_secret(ClientSecret::new(rs_secret.clone()))
            .set_introspection_url(IntrospectionUrl::new(url("/oauth/introspect")).unwrap());
        let active = resource
            .introspect(token.access_token())
            .request_async(&http)
            .await
            .unwrap();
        assert!(active.active());
        assert_eq!(active.client_id().map(|c| c.to_string()), Some(id.clone()));
        // The library sends revocations to https URLs only (RFC 7009 §2), and
        // this test serves plain HTTP on loopback: the same request by hand.
        let revoker = client.set_revocation_url(RevocationUrl::new(url("/oauth/revoke")).unwrap());
        let refused = revoker.revoke_token(StandardRevocableToken::AccessToken(
            token.access_token().clone(),
        ));
        assert!(matches!(
            refused,
            Err(oauth2::ConfigurationError::InsecureUrl(_))
        ));
        by_hand
            .revoke(Auth::Basic(&id, &secret), token.access_token().secret())
            .await
            .assert_status(StatusCode::OK);
        let inactive = resource
            .introspect(token.access_token())
            .request_async(&http)
            .await
            .unwrap();
        assert!(!inactive.active());
    }

    // A wrong secret is refused the way the library expects.
    let wrong = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(rs_secret.clone()))
        .set_token_uri(TokenUrl::new(url("/oauth/token")).unwrap());
    let error = wrong
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .unwrap_err();
    assert!(
        format!("{error:?}").contains("error: invalid_client"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_credential_that_gets_no_token_cannot_introspect_or_revoke_either() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (rs_id, rs_secret) = owner.create_credential("Resource server").await;
    let (id, secret) = owner.create_credential("API client").await;
    let mut m = app.client();
    let token = m.get_token(&id, &secret).await;
    let rs = Auth::Post(&rs_id, &rs_secret);
    let own = Auth::Basic(&id, &secret);
    assert_eq!(m.introspect(rs, &token).await["active"], true);

    // Disabled: no token, and no introspection or revocation.
    owner.disable(&rs_id).await;
    m.introspection(rs, &token)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client")
        .assert_contains("This credential is disabled.");
    owner.disable(&id).await;
    m.revoke(own, &token)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    owner.enable(&id).await;
    owner.enable(&rs_id).await;

    // Outside the allowlist.
    let mut fields = credential_fields("Resource server");
    fields.retain(|(k, _)| *k != "ip_mode");
    fields.push(("ip_mode", "limited"));
    fields.push(("ip_list", "10.0.0.0/24"));
    owner
        .edit_credential(&rs_id, &fields)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    m.introspection(rs, &token)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client")
        .assert_contains("Requests from 192.0.2.10 are not allowed");
    m.set_ip([10, 0, 0, 7]);
    assert_eq!(m.introspect(rs, &token).await["active"], true);

    // A trial organization's.
    app.set_plan("Acme Payments", "trial").await;
    m.introspection(rs, &token)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    m.revoke(own, &token)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    app.set_plan("Acme Payments", "standard").await;
    // Nothing was revoked by the refused calls.
    assert_eq!(m.introspect(rs, &token).await["active"], true);
}

/// A client ID of the right shape that no credential has.
fn unknown_client_id(n: usize) -> String {
    format!("kwid_{n:0>22}")
}

#[tokio::test]
async fn unknown_client_ids_each_have_their_own_failure_count() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (_, secret) = owner.create_credential("Any client").await;
    let (id, real) = owner.create_credential("Real client").await;
    let mut scanner = app.client();
    // A scanner tries 40 made-up client IDs: each is one failure of its own,
    // so none of them, and no client anyone uses, is throttled.
    for n in 0..40 {
        scanner
            .client_credentials(&unknown_client_id(n), &secret)
            .await
            .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    // Malformed IDs count against the address only (100 in the window).
    for _ in 0..40 {
        scanner
            .client_credentials("kwid_!!", &secret)
            .await
            .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let mut elsewhere = app.client();
    elsewhere.set_ip([198, 51, 100, 60]);
    elsewhere
        .client_credentials(&unknown_client_id(99), &secret)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    elsewhere.get_token(&id, &real).await;
    let counted = app
        .count("SELECT COUNT(DISTINCT key) FROM sign_in_failures WHERE key LIKE 'client:%'")
        .await;
    assert_eq!(
        counted, 41,
        "one count per presented, well-formed client ID"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sign_in_failures WHERE key = 'client:'")
            .await,
        0
    );
}

#[tokio::test]
async fn a_client_whose_id_is_under_attack_keeps_getting_tokens_with_its_secret() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, secret) = owner.create_credential("Targeted client").await;
    let wrong = mistyped(&secret);
    // Strangers from many addresses hammer the public client ID.
    for n in 0..30u8 {
        let mut stranger = app.client();
        stranger.set_ip([203, 0, 113, n]);
        let r = stranger.client_credentials(&id, &wrong).await;
        let expected = if n < 19 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(r.status, expected, "attempt {n}");
    }
    // The owner's systems, with the right secret, are not locked out.
    let mut system = app.client();
    system.set_ip([192, 0, 2, 200]);
    for _ in 0..3 {
        system.get_token(&id, &secret).await;
    }
}

#[tokio::test]
async fn a_malformed_secret_is_refused_without_looking_the_client_up_and_still_counts() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, secret) = owner.create_credential("Shape checked").await;
    let mut m = app.client();
    let failed = "SELECT COUNT(*) FROM audit_events WHERE action = 'token.auth_failed'";
    let counted = format!("SELECT COUNT(*) FROM sign_in_failures WHERE key = 'client:{id}'");
    // Wrong checksum: refused on its shape; the credential was never read,
    // so its log has no failure, but the attempt counts toward the limits.
    m.client_credentials(&id, &mistyped(&secret))
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(app.count(failed).await, 0);
    assert_eq!(app.count(&counted).await, 1);
    // Well-formed and wrong: looked up, compared, and recorded.
    m.client_credentials(&id, &well_formed_wrong_secret())
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(app.count(failed).await, 1);
    assert_eq!(app.count(&counted).await, 2);
}
