//! Every route the router serves, read from its source, against every role,
//! another organization, a signed-out visitor and a forged form. A route
//! without a rule in [`rule`] fails the first test, so a new route cannot be
//! left out of the matrix.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::Value;

use crate::support::pages::*;
use crate::support::routes::{Served, served};
use crate::support::*;

/// Who may use a console route.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rule {
    /// Anyone, signed in or not (sign-in, setup, invitation links).
    Public,
    /// Any signed-in member of the organization, support staff included.
    Member,
    /// Owners and *API Credentials: Can Edit* administrators.
    CanEdit,
    /// Owners.
    Owner,
    /// Only the person who requested the credential.
    Requester,
    /// Owners and the person who requested the credential.
    OwnerOrRequester,
    /// Only the holder of the personal access token named in the path.
    TokenHolder,
    /// Not the console: machines with their own credentials, tested where
    /// named (the OAuth endpoints in `oauth.rs`, the API in `api.rs` and by
    /// schemathesis, the leak intake in `leaks.rs`) or public by nature.
    Machine,
}

/// The rule of each served route. `None` fails the test: a route nobody
/// has decided about.
fn rule(method: &str, path: &str) -> Option<Rule> {
    use Rule::*;
    let rule = match (method, path) {
        (_, "/login" | "/setup" | "/invitations/{token}" | "/logout") => Public,
        // Only a redirect to Settings > Credentials, which asks for sign-in.
        ("GET", "/settings") => Public,
        ("GET", "/healthz" | "/readyz" | "/static/{*path}")
        | ("GET", "/.well-known/oauth-authorization-server" | "/.well-known/jwks.json")
        | ("POST", "/oauth/token" | "/oauth/introspect" | "/oauth/revoke")
        | ("POST", "/leaks/github") => Machine,
        (_, p) if p.starts_with("/api/v1/") => Machine,
        ("GET", "/" | "/settings/credentials" | "/audit-log")
        | ("GET", "/audit-log/export.csv" | "/account")
        | ("POST", "/account" | "/account/tokens" | "/switch-org") => Member,
        ("POST", "/account/tokens/{token_id}/revoke") => TokenHolder,
        ("POST", "/settings/credentials/requests/{request_id}/generate") => Requester,
        ("POST", "/settings/credentials/requests/{request_id}/cancel") => OwnerOrRequester,
        (_, p) if p.starts_with("/settings/credentials/requests/") => Owner,
        (_, p) if p.starts_with("/settings/credentials") => CanEdit,
        (_, p)
            if p.starts_with("/settings/members")
                || p.starts_with("/settings/webhooks")
                || p == "/settings/organization" =>
        {
            Owner
        }
        _ => return None,
    };
    Some(rule)
}

/// What a refused person reads, by rule.
fn refusal(rule: Rule) -> &'static [&'static str] {
    match rule {
        Rule::CanEdit => &["API Credentials: Can Edit"],
        Rule::Owner => &["Only organization owners can"],
        Rule::Requester => &[
            "API Credentials: Can Edit",
            "Only the person who requested this credential can generate its key.",
        ],
        Rule::OwnerOrRequester => &[
            "API Credentials: Can Edit",
            "Only an owner or the person who asked can cancel a request.",
        ],
        _ => &[],
    }
}

#[test]
fn every_served_route_has_a_rule() {
    let undecided: Vec<Served> = served()
        .into_iter()
        .filter(|(m, p)| rule(m, p).is_none())
        .collect();
    assert!(
        undecided.is_empty(),
        "routes with no rule in tests/it/routes.rs: {undecided:?}"
    );
}

#[tokio::test]
async fn every_api_route_is_an_operation_of_the_openapi_document() {
    let app = TestApp::demo().await;
    let doc: Value = app.client().get("/api/v1/openapi.json").await.json();
    let documented: Vec<Served> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    // Each operation is run as every role and with bad tokens by api.rs, and
    // with every check by schemathesis: so every API route must be one.
    for route in served() {
        if route.1.starts_with("/api/v1/") && route.1 != "/api/v1/openapi.json" {
            assert!(documented.contains(&route), "{route:?} is not documented");
        }
    }
}

/// Acme's objects that the routes' placeholders name, and the fields a
/// form would send.
struct Fixture {
    values: BTreeMap<&'static str, String>,
    /// Viewer's own personal access token's id (the Account page's revoke).
    viewer_token: String,
}

impl Fixture {
    async fn make(app: &TestApp) -> Fixture {
        let mut owner = app.sign_in_as(Persona::Owner).await;
        // A webhook first, so the credential below makes a delivery.
        owner.get("/settings/webhooks").await;
        owner
            .post(
                "/settings/webhooks",
                &[
                    ("url", "https://hooks.example.com/keyward"),
                    ("events", "credential.created"),
                    ("enabled", "on"),
                ],
            )
            .await
            .assert_status(StatusCode::OK);
        let (client_id, _) = owner.create_credential("Matrix target").await;
        owner.get(CREDENTIALS).await;
        owner
            .rotate(&client_id, Grace::Hours(24))
            .await
            .assert_status(StatusCode::OK);
        owner.require_approval().await;
        let mut admin = app.sign_in_as(Persona::Admin).await;
        admin.get(NEW_CREDENTIAL).await;
        admin
            .request_credential("Matrix request", "For the route matrix test")
            .await
            .assert_status(StatusCode::SEE_OTHER);
        owner.get(MEMBERS).await;
        owner
            .invite("matrix@acme.test", Role::CanView)
            .await
            .assert_status(StatusCode::OK);
        let acme = app.org_id("Acme Payments").await;
        let mut viewer = app.sign_in_as(Persona::Viewer).await;
        viewer.api_token("matrix", acme, "read").await;

        let one = |sql: &'static str| async move { app.sql.string(sql, &[]).await };
        let viewer_token = app
            .sql
            .scalar_i64("SELECT MAX(id) FROM api_tokens", &[])
            .await
            .to_string();
        let ids = [
            ("{client_id}", client_id),
            (
                "{request_id}",
                one("SELECT request_id FROM credential_requests").await,
            ),
            (
                "{user_id}",
                app.user_id("viewer@acme.test").await.to_string(),
            ),
            (
                "{id}",
                app.sql
                    .scalar_i64("SELECT MAX(id) FROM invitations", &[])
                    .await
                    .to_string(),
            ),
            ("{token_id}", viewer_token.clone()),
            ("{token}", format!("kwinv_{}", "A".repeat(43))),
            (
                "{delivery}",
                app.sql
                    .scalar_i64("SELECT MAX(id) FROM webhook_deliveries", &[])
                    .await
                    .to_string(),
            ),
        ];
        Fixture {
            values: ids.into_iter().collect(),
            viewer_token,
        }
    }

    /// The route's path with Acme's objects in it. A webhook's `{id}` is the
    /// endpoint's, an invitation's the invitation's.
    async fn path(&self, app: &TestApp, template: &str) -> String {
        let mut path = template.to_owned();
        if template.starts_with("/settings/webhooks/") {
            let webhook = app
                .sql
                .scalar_i64("SELECT MAX(id) FROM webhook_endpoints", &[])
                .await;
            path = path.replacen("{id}", &webhook.to_string(), 1);
        }
        for (placeholder, value) in &self.values {
            path = path.replace(placeholder, value);
        }
        assert!(!path.contains('{'), "no value for {template}");
        path
    }

    /// The route as a browser sends it: its path here, and its form.
    async fn route(&self, app: &TestApp, method: &str, template: &str) -> Route {
        let method = if method == "GET" { "GET" } else { "POST" };
        (
            method,
            self.path(app, template).await,
            fields(method, template),
        )
    }
}

/// What the route's form sends, so that a refusal is the rule's and not a
/// missing field's.
fn fields(method: &str, template: &str) -> Vec<(&'static str, &'static str)> {
    if method != "POST" {
        return vec![];
    }
    match template {
        "/settings/credentials" | "/settings/credentials/{client_id}/edit" => {
            credential_fields("Sneaky one")
        }
        "/settings/members/{user_id}" => vec![("access", "owner")],
        "/settings/members" => vec![("email", "sneaky@acme.test"), ("access", "owner")],
        "/settings/organization" => vec![("org_name", "Hijacked"), ("require_approval", "on")],
        "/settings/webhooks" | "/settings/webhooks/{id}" => vec![
            ("url", "https://evil.example/hook"),
            ("events", "credential.created"),
            ("enabled", "on"),
        ],
        "/settings/credentials/requests/{request_id}/reject" => vec![("reason", "Sneaky")],
        "/settings/credentials/{client_id}/rotate" => vec![("grace", "0")],
        _ => vec![],
    }
}

/// Every row a refused call could have touched, as text: a rename, a
/// permission, a role, a resent invitation or a rotated webhook secret all
/// show.
async fn fingerprint(app: &TestApp) -> Vec<String> {
    let t = |column: &str| format!("COALESCE(CAST({column} AS TEXT), '-')");
    let tables = [
        (
            "credentials",
            vec![
                "client_id",
                "name",
                "description",
                "status",
                "is_primary",
                "permissions",
                "ip_allowlist",
                "expires_at",
                "tokens_before",
            ],
        ),
        (
            "credential_secrets",
            vec!["credential_id", "digest", "expires_at"],
        ),
        (
            "credential_requests",
            vec!["request_id", "name", "status", "credential_id"],
        ),
        (
            "memberships",
            vec![
                "organization_id",
                "user_id",
                "role",
                "credentials_permission",
            ],
        ),
        (
            "invitations",
            vec![
                "email",
                "role",
                "token_digest",
                "expires_at",
                "accepted_at",
                "revoked_at",
            ],
        ),
        (
            "api_tokens",
            vec!["token_id", "name", "access", "revoked_at"],
        ),
        (
            "webhook_endpoints",
            vec![
                "url",
                "description",
                "events",
                "enabled",
                "secret",
                "previous_secret",
            ],
        ),
        (
            "webhook_deliveries",
            vec!["endpoint_id", "status", "attempts", "next_attempt_at"],
        ),
        (
            "organizations",
            vec!["name", "plan", "require_approval", "max_credential_days"],
        ),
        (
            "users",
            vec!["email", "display_name", "password_hash", "session_epoch"],
        ),
    ];
    let mut rows = Vec::new();
    for (table, columns) in tables {
        let row: Vec<String> = columns.iter().map(|c| t(c)).collect();
        let sql = format!("SELECT {} FROM {table} ORDER BY 1", row.join(" || '|' || "));
        rows.extend(
            app.sql
                .strings(&sql, &[])
                .await
                .into_iter()
                .map(|r| format!("{table}: {r}")),
        );
    }
    // Every event but the reads and sign-ins a visit records.
    rows.extend(
        app.sql
            .strings(
                "SELECT action FROM audit_events WHERE action NOT IN ('support.viewed', 'sign_in') ORDER BY id",
                &[],
            )
            .await,
    );
    rows
}

/// The console's routes, with the rule of each.
fn console() -> Vec<(String, String, Rule)> {
    served()
        .into_iter()
        .filter_map(|(m, p)| {
            let rule = rule(&m, &p)?;
            (rule != Rule::Machine).then_some((m, p, rule))
        })
        .collect()
}

#[tokio::test]
async fn every_console_route_refuses_whom_its_rule_refuses_and_changes_nothing() {
    let app = TestApp::demo().await;
    let fixture = Fixture::make(&app).await;
    app.upgrade_globex().await;
    let before = fingerprint(&app).await;
    let routes = console();

    let mut checked = 0;
    for persona in [
        Persona::Owner,
        Persona::Admin,
        Persona::Viewer,
        Persona::Support,
    ] {
        let mut browser = app.sign_in_as(persona).await;
        browser.get(CREDENTIALS).await.assert_status(StatusCode::OK);
        for (method, template, rule) in &routes {
            let route = fixture.route(&app, method, template).await;
            let path = &route.1;
            let refused = match (rule, persona) {
                (Rule::CanEdit, Persona::Viewer | Persona::Support) => true,
                (Rule::Owner, Persona::Admin | Persona::Viewer | Persona::Support) => true,
                // The request is the admin's.
                (Rule::Requester, p) => !matches!(p, Persona::Admin),
                (Rule::OwnerOrRequester, p) => matches!(p, Persona::Viewer | Persona::Support),
                _ => false,
            };
            if *rule == Rule::TokenHolder {
                // Someone else's token does not exist for them.
                if !matches!(persona, Persona::Viewer) {
                    assert!(path.ends_with(&format!("/{}/revoke", fixture.viewer_token)));
                    browser
                        .call(&route)
                        .await
                        .assert_status(StatusCode::NOT_FOUND);
                    checked += 1;
                }
                continue;
            }
            if refused {
                let response = browser.call(&route).await;
                response.assert_status(StatusCode::FORBIDDEN);
                assert!(
                    refusal(*rule).iter().any(|m| response.body.contains(m)),
                    "{persona:?} {method} {path}: refused without saying why:\n{}",
                    response.body
                );
                checked += 1;
            } else if method == "GET" && *rule != Rule::Public {
                // Allowed reads answer; changes are each feature's own tests.
                let response = browser.call(&route).await;
                assert!(
                    response.status == StatusCode::OK
                        || (response.status == StatusCode::SEE_OTHER
                            && response.location() != LOGIN),
                    "{persona:?} GET {path}: {}\n{}",
                    response.status,
                    response.body
                );
                checked += 1;
            }
        }
    }

    // Another organization's owner: none of Acme's objects exists for them.
    let mut globex = app.sign_in_as(Persona::GlobexOwner).await;
    globex.get(CREDENTIALS).await.assert_status(StatusCode::OK);
    for (method, template, rule) in &routes {
        if !template.contains('{') || *rule == Rule::Public {
            continue;
        }
        let route = fixture.route(&app, method, template).await;
        globex
            .call(&route)
            .await
            .assert_status(StatusCode::NOT_FOUND);
        checked += 1;
    }

    // Signed out: every route but the public ones leads to the sign-in page.
    let mut stranger = app.client();
    stranger.get(LOGIN).await;
    for (method, template, rule) in &routes {
        if *rule == Rule::Public {
            continue;
        }
        let route = fixture.route(&app, method, template).await;
        let path = &route.1;
        let response = stranger.call(&route).await;
        assert_eq!(
            (response.status, response.location()),
            (StatusCode::SEE_OTHER, LOGIN),
            "signed out, {method} {path}"
        );
        checked += 1;
    }

    assert!(checked > 150, "only {checked} calls were checked");
    assert_eq!(
        fingerprint(&app).await,
        before,
        "a refused call changed something"
    );
}

#[tokio::test]
async fn every_post_route_refuses_a_form_without_its_token_or_from_another_site() {
    let app = TestApp::demo().await;
    let fixture = Fixture::make(&app).await;
    let before = fingerprint(&app).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(CREDENTIALS).await;
    let token = owner.csrf.clone().unwrap();
    let mut visitor = app.client();
    visitor.get(LOGIN).await;
    let visitor_token = visitor.csrf.clone().unwrap();

    let mut swept = 0;
    for (method, template, rule) in console() {
        if method != "POST" {
            continue;
        }
        let path = fixture.path(&app, &template).await;
        // Public forms are a visitor's; the others the owner's, who may do anything.
        let (browser, token) = if rule == Rule::Public {
            (&mut visitor, visitor_token.as_str())
        } else {
            (&mut owner, token.as_str())
        };
        let with_token = form_body(&[("csrf_token", token), ("org_name", "Hijacked")]);
        let wrong = "0".repeat(43);
        // (Sec-Fetch-Site, Origin, X-CSRF-Token, body): no token at all from
        // our own page; a wrong token; the right token from another site, as
        // a browser says it and as an older one that sends only Origin does.
        let forgeries = [
            (
                Some("same-origin"),
                None,
                None,
                "org_name=Hijacked".to_owned(),
            ),
            (
                Some("same-origin"),
                None,
                Some(wrong.as_str()),
                "org_name=Hijacked".to_owned(),
            ),
            (
                Some("cross-site"),
                Some("https://evil.example"),
                None,
                with_token.clone(),
            ),
            (None, Some("https://evil.example"), None, with_token),
        ];
        for (site, origin, header, body) in forgeries {
            let mut request = browser
                .request("POST", &path)
                .header("content-type", "application/x-www-form-urlencoded");
            for (name, value) in [
                ("sec-fetch-site", site),
                ("origin", origin),
                ("x-csrf-token", header),
            ] {
                if let Some(value) = value {
                    request = request.header(name, value);
                }
            }
            browser.send(request.body(body)).await.assert_csrf_refused();
        }
        swept += 1;
    }
    assert!(swept >= 30, "only {swept} POST routes were swept");
    // The owner is still signed in (no forged logout), and nothing changed.
    owner.get(CREDENTIALS).await.assert_status(StatusCode::OK);
    assert_eq!(
        fingerprint(&app).await,
        before,
        "a forged form changed something"
    );
}

#[tokio::test]
async fn support_staffs_export_of_the_audit_log_is_recorded_in_that_log() {
    let app = TestApp::demo().await;
    let mut support = app.sign_in_as(Persona::Support).await;
    let csv = support.get("/audit-log/export.csv").await;
    csv.assert_status(StatusCode::OK);
    let acme = app.org_id("Acme Payments").await;
    let visits = app
        .sql
        .strings(
            "SELECT target FROM audit_events WHERE action = 'support.viewed' AND organization_id = $1",
            &[acme.into()],
        )
        .await;
    assert_eq!(visits, ["Audit log export"]);
}
