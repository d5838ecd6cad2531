//! The token endpoint served on 127.0.0.1 and used by an independent OAuth 2.0
//! client library (the `oauth2` crate), with the token verified by a JWT
//! library against the published JWKS.

use std::net::SocketAddr;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, IntrospectionUrl, RevocationUrl, Scope,
    StandardRevocableToken, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};

use crate::helpers::*;

async fn serve(app: &TestApp) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

#[tokio::test]
async fn an_independent_oauth_client_gets_introspects_and_revokes_tokens() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let (id, secret) = owner.create_credential("Library client").await;
    let (rs_id, rs_secret) = owner.create_credential("Library resource").await;
    let addr = serve(&app).await;
    let url = |path: &str| format!("http://{addr}{path}");
    let http = oauth2::reqwest::Client::builder()
        .redirect(oauth2::reqwest::redirect::Policy::none())
        .build()
        .unwrap();

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
        let jwks_text = http
            .get(url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let jwks: serde_json::Value = serde_json::from_str(&jwks_text).unwrap();
        let key =
            jsonwebtoken::DecodingKey::from_ed_components(jwks["keys"][0]["x"].as_str().unwrap())
                .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.set_issuer(&["http://127.0.0.1:8080"]);
        validation.set_audience(&["https://api.keyward.test"]);
        let header = jsonwebtoken::decode_header(token.access_token().secret()).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            token.access_token().secret(),
            &key,
            &validation,
        )
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
        let revoked = http
            .post(url("/oauth/revoke"))
            .basic_auth(&id, Some(&secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={}", token.access_token().secret()))
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status().as_u16(), 200);
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
