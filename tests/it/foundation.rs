//! Setup, sign-in and sessions, CSRF, security headers, error handling.

use axum::body::Body;
use axum::http::{StatusCode, header};

use crate::helpers::*;

#[tokio::test]
async fn an_empty_database_leads_every_page_to_setup_which_runs_once() {
    let app = TestApp::empty().await;
    let mut browser = app.client();
    for path in [
        "/",
        "/login",
        "/settings/credentials",
        "/settings/members",
        "/audit-log",
    ] {
        let response = browser.get(path).await;
        response.assert_status(StatusCode::SEE_OTHER);
        assert_eq!(response.location(), "/setup", "{path}");
    }
    browser
        .get("/setup")
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Set up Keyward");

    let form = [
        ("org_name", "Initech"),
        ("display_name", "Peter Gibbons"),
        ("email", "Peter@Initech.test"),
        ("password", "a long enough password"),
        ("password_confirm", "a long enough password"),
    ];
    let created = browser.post("/setup", &form).await;
    created.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(created.location(), "/settings/credentials");
    // The new owner is signed in.
    browser
        .get("/settings/members")
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("peter@initech.test")
        .assert_contains("Initech");

    // Closed for good, for everyone.
    browser
        .get("/setup")
        .await
        .assert_status(StatusCode::NOT_FOUND);
    let mut stranger = app.client();
    stranger
        .get("/setup")
        .await
        .assert_status(StatusCode::NOT_FOUND);
    stranger.get("/login").await.assert_status(StatusCode::OK);
    assert_eq!(app.count("SELECT COUNT(*) FROM organizations").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(app.audit_actions().await, vec!["organization.created"]);
}

#[tokio::test]
async fn setup_shows_each_mistake_at_its_field_and_creates_nothing() {
    let app = TestApp::empty().await;
    let mut browser = app.client();
    browser.get("/setup").await;
    let form = [
        ("org_name", " "),
        ("display_name", "Peter"),
        ("email", "not-an-email"),
        ("password", "short"),
        ("password_confirm", "short"),
    ];
    browser
        .post("/setup", &form)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Enter a organization name of 2 to 80 characters.")
        .assert_contains("Enter an email address like name@example.com.")
        .assert_contains("Use a password of at least 12 characters.")
        .assert_contains(r#"value="Peter""#)
        .assert_lacks("value=\"short\"");
    let mismatch = [
        ("org_name", "Initech"),
        ("display_name", "Peter"),
        ("email", "peter@initech.test"),
        ("password", "a long enough password"),
        ("password_confirm", "another long password"),
    ];
    browser
        .post("/setup", &mismatch)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("The two passwords do not match.");
    assert_eq!(app.count("SELECT COUNT(*) FROM organizations").await, 0);
}

#[tokio::test]
async fn signing_in_changes_the_session_id_and_signing_out_ends_the_session() {
    let app = TestApp::demo().await;
    let mut browser = app.client();
    browser
        .get("/login")
        .await
        .assert_contains("<label for=\"email\">Email</label>")
        .assert_contains("Sign in");
    let before = browser
        .cookie
        .clone()
        .expect("the login page starts a session for its CSRF token");

    let signed_in = browser
        .post(
            "/login",
            &[("email", "OWNER@acme.test"), ("password", PASSWORD)],
        )
        .await;
    signed_in.assert_status(StatusCode::SEE_OTHER);
    let after = browser.cookie.clone().unwrap();
    assert_ne!(before, after, "the session id must be cycled at sign-in");
    browser
        .get("/settings/credentials")
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Olivia Owner");

    // The old id is worth nothing.
    let mut attacker = app.client();
    attacker.cookie = Some(before);
    assert_eq!(
        attacker.get("/settings/credentials").await.location(),
        "/login"
    );

    let sessions_before = app.count("SELECT COUNT(*) FROM sessions").await;
    let out = browser.post("/logout", &[]).await;
    out.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/login");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions").await,
        sessions_before - 1
    );
    // Replaying the old cookie after sign-out gets nothing either.
    let mut replay = app.client();
    replay.cookie = Some(after);
    assert_eq!(
        replay.get("/settings/credentials").await.location(),
        "/login"
    );
    assert!(app.audit_actions().await.contains(&"sign_in".to_owned()));
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_look_the_same() {
    let app = TestApp::demo().await;
    let mut browser = app.client();
    let wrong = browser.sign_in("owner@acme.test", "not the password").await;
    let unknown = browser
        .sign_in("nobody@acme.test", "not the password")
        .await;
    for response in [&wrong, &unknown] {
        response
            .assert_status(StatusCode::UNAUTHORIZED)
            .assert_contains("Incorrect email or password.");
    }
    let normalise = |r: &TestResponse| {
        r.body
            .replace("owner@acme.test", "EMAIL")
            .replace("nobody@acme.test", "EMAIL")
            .replace(&csrf_in(&r.body).unwrap(), "TOKEN")
    };
    assert_eq!(normalise(&wrong), normalise(&unknown));
    let failures = app
        .count("SELECT COUNT(*) FROM audit_events WHERE action = 'sign_in.failed'")
        .await;
    assert_eq!(failures, 2);
}

#[tokio::test]
async fn repeated_failures_for_an_account_are_throttled_even_with_the_right_password() {
    let app = TestApp::demo().await;
    let mut browser = app.client();
    for _ in 0..5 {
        browser
            .sign_in("admin@acme.test", "wrong password!")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    let throttled = browser.sign_in("admin@acme.test", PASSWORD).await;
    throttled
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains("Too many failed sign-in attempts. Wait 15 minutes and try again.");
    let retry: i64 = throttled.header("retry-after").parse().unwrap();
    assert!((1..=900).contains(&retry), "Retry-After {retry}");

    // Another address does not help for this account...
    let mut elsewhere = app.client();
    elsewhere.ip = [198, 51, 100, 7];
    elsewhere
        .sign_in("Admin@Acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    // ...other accounts are not affected...
    elsewhere
        .sign_in("viewer@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    // ...and after the window the account signs in again.
    app.clock.advance(15 * 60 + 1);
    app.client()
        .sign_in("admin@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn many_failures_from_one_address_are_throttled_for_every_account() {
    let app = TestApp::demo().await;
    let mut browser = app.client();
    for i in 0..20 {
        let email = format!("guess{i}@acme.test");
        browser
            .sign_in(&email, "wrong password!")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    // A script without a browser gets the same 429.
    let request = browser
        .request("POST", "/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form_body(&[
            ("csrf_token", browser.csrf.clone().unwrap().as_str()),
            ("email", "owner@acme.test"),
            ("password", PASSWORD),
        ])))
        .unwrap();
    browser
        .send(request)
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn posts_without_the_csrf_token_or_from_another_site_are_refused() {
    let app = TestApp::demo().await;
    let mut browser = app.signed_in(Persona::Owner).await;
    browser.get("/settings/organization").await;
    let token = browser.csrf.clone().unwrap();

    let cookie = browser.cookie.clone().unwrap();
    let post = |body: String, site: &'static str, header_token: Option<&str>| {
        let mut request = axum::http::Request::builder()
            .method("POST")
            .uri("/settings/organization")
            .header("host", "127.0.0.1:8080")
            .header(header::COOKIE, cookie.as_str())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", site);
        if let Some(t) = header_token {
            request = request.header("x-csrf-token", t);
        }
        request.body(Body::from(body)).unwrap()
    };
    let rename = |t: &str| form_body(&[("csrf_token", t), ("org_name", "Hijacked")]);

    let cross_site = post(rename(&token), "cross-site", None);
    browser
        .send(cross_site)
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Request refused");
    let no_token = post(form_body(&[("org_name", "Hijacked")]), "same-origin", None);
    browser
        .send(no_token)
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Reload the page");
    let wrong_token = post(rename("x".repeat(32).as_str()), "same-origin", None);
    browser
        .send(wrong_token)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    let wrong_header = post(
        form_body(&[("org_name", "Hijacked")]),
        "same-origin",
        Some("nope"),
    );
    browser
        .send(wrong_header)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    // An Origin from elsewhere, without Sec-Fetch-Site (older browsers).
    let request = browser
        .request("POST", "/settings/organization")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(Body::from(rename(&token)))
        .unwrap();
    browser
        .send(request)
        .await
        .assert_status(StatusCode::FORBIDDEN);

    assert_eq!(
        app.count("SELECT COUNT(*) FROM organizations WHERE name = 'Hijacked'")
            .await,
        0
    );
    // The same request from our own page goes through, by form field and by header.
    browser
        .post("/settings/organization", &[("org_name", "Acme Renamed")])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    browser
        .htmx_post("/settings/organization", &[("org_name", "Acme Again")])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM organizations WHERE name = 'Acme Again'")
            .await,
        1
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::demo().await;
    let mut responses = vec![("/login", app.client().get("/login").await)];
    let mut browser = app.signed_in(Persona::Owner).await;
    for path in [
        "/settings/credentials",
        "/settings/members",
        "/audit-log",
        "/healthz",
        "/static/app.css",
        "/no/such/page",
    ] {
        responses.push((path, browser.get(path).await));
    }
    responses.push(("POST /login cross-site", {
        let request = browser
            .request("POST", "/login")
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .unwrap();
        browser.send(request).await
    }));
    for (path, response) in responses {
        let csp = response.header("content-security-policy");
        for directive in [
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "script-src 'self'",
        ] {
            assert!(
                csp.contains(directive),
                "{path}: CSP {csp:?} lacks {directive}"
            );
        }
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(
            response.header("x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(response.header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(response.header("x-frame-options"), "DENY", "{path}");
        let content_type = response.header("content-type");
        if response.body.is_empty() {
            continue;
        }
        assert!(
            content_type.contains("charset=utf-8"),
            "{path}: content-type {content_type:?}"
        );
    }
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_a_clear_4xx() {
    let app = TestApp::demo().await;
    let mut browser = app.signed_in(Persona::Owner).await;
    browser.get("/settings/organization").await;
    let token = browser.csrf.clone().unwrap();

    let huge = "a".repeat(200 * 1024);
    let too_large = browser
        .request("POST", "/settings/organization")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-csrf-token", token.as_str())
        .body(Body::from(format!("org_name={huge}")))
        .unwrap();
    browser
        .send(too_large)
        .await
        .assert_status(StatusCode::PAYLOAD_TOO_LARGE)
        .assert_contains("larger than Keyward accepts");

    let json = browser
        .request("POST", "/settings/organization")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-csrf-token", token.as_str())
        .body(Body::from("{\"org_name\": 1}"))
        .unwrap();
    browser
        .send(json)
        .await
        .assert_status(StatusCode::BAD_REQUEST)
        .assert_contains("application/x-www-form-urlencoded");

    let garbage = browser
        .request("POST", "/settings/members/1")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-csrf-token", token.as_str())
        .body(Body::from(vec![0xff, 0xfe, b'=', b'%', b'z']))
        .unwrap();
    let response = browser.send(garbage).await;
    assert!(response.status.is_client_error(), "{:?}", response.status);

    let too_long = "x".repeat(5000);
    browser
        .post("/settings/organization", &[("org_name", too_long.as_str())])
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Enter a organization name of 2 to 80 characters.");
    browser
        .get("/settings/members/not-a-number/remove")
        .await
        .assert_status(StatusCode::NOT_FOUND);
    browser
        .get("/no/such/page")
        .await
        .assert_status(StatusCode::NOT_FOUND)
        .assert_contains("Page not found");
}

#[tokio::test]
async fn htmx_requests_that_need_sign_in_get_hx_redirect() {
    let app = TestApp::demo().await;
    let mut browser = app.client();
    let response = browser.htmx_get("/settings/credentials").await;
    assert_eq!(response.header("hx-redirect"), "/login");
    assert!(response.body.is_empty());
    let page = browser.get("/settings/credentials").await;
    assert_eq!(page.location(), "/login");
}

#[tokio::test]
async fn sessions_end_after_the_absolute_timeout() {
    let app = TestApp::demo().await;
    let mut browser = app.signed_in(Persona::AdminView).await;
    app.clock.advance(11 * 3600);
    browser
        .get("/settings/credentials")
        .await
        .assert_status(StatusCode::OK);
    app.clock.advance(3600);
    assert_eq!(
        browser.get("/settings/credentials").await.location(),
        "/login"
    );
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session() {
    let app = TestApp::demo().await;
    let mut laptop = app.signed_in(Persona::AdminEdit).await;
    let mut phone = app.signed_in(Persona::AdminEdit).await;
    laptop.get("/account").await;
    laptop
        .post(
            "/account",
            &[
                ("current_password", "wrong"),
                ("password", "a brand new password"),
                ("password_confirm", "a brand new password"),
            ],
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("This is not your current password.");
    laptop
        .post(
            "/account",
            &[
                ("current_password", PASSWORD),
                ("password", "a brand new password"),
                ("password_confirm", "a brand new password"),
            ],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    laptop
        .get("/account")
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Password changed.");
    assert_eq!(
        phone.get("/settings/credentials").await.location(),
        "/login"
    );
    app.client()
        .sign_in("admin@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    app.client()
        .sign_in("admin@acme.test", "a brand new password")
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn each_persona_sees_the_navigation_that_fits_their_role() {
    let app = TestApp::demo().await;
    for (persona, owner_links) in [
        (Persona::Owner, true),
        (Persona::AdminEdit, false),
        (Persona::AdminView, false),
        (Persona::Support, false),
        (Persona::OtherOwner, true),
    ] {
        let mut browser = app.signed_in(persona).await;
        let page = browser.get("/audit-log").await;
        page.assert_status(StatusCode::OK)
            .assert_contains(">Settings</a>")
            .assert_contains(">Credentials</a>")
            .assert_contains(">Audit log</a>");
        assert_eq!(
            page.body.contains(">Members</a>"),
            owner_links,
            "{persona:?}"
        );
        assert_eq!(
            page.body.contains(">Organization</a>"),
            owner_links,
            "{persona:?}"
        );
    }
}

#[tokio::test]
async fn support_staff_switch_between_every_organization_and_members_cannot_reach_others() {
    let app = TestApp::demo().await;
    let mut support = app.signed_in(Persona::Support).await;
    let page = support.get("/settings/credentials").await;
    page.assert_contains("Acme Payments")
        .assert_contains("Globex")
        .assert_contains("Support (read-only)");
    let globex = app.state.db.org_by_name("Globex").await.unwrap().unwrap();
    let switched = support
        .post(
            "/switch-org",
            &[("org_id", &globex.id.to_string()), ("back", "/audit-log")],
        )
        .await;
    assert_eq!(switched.location(), "/audit-log");
    support
        .get("/audit-log")
        .await
        .assert_contains("selected>Globex</option>")
        .assert_lacks("selected>Acme Payments");
    // Support visits are recorded in the organization they looked at.
    let visits = app
        .count(&format!("SELECT COUNT(*) FROM audit_events WHERE action = 'support.viewed' AND organization_id = {}", globex.id))
        .await;
    assert_eq!(visits, 1);

    let mut owner = app.signed_in(Persona::Owner).await;
    owner.get("/settings/credentials").await;
    owner
        .post("/switch-org", &[("org_id", &globex.id.to_string())])
        .await
        .assert_status(StatusCode::NOT_FOUND);
    owner
        .post("/switch-org", &[("org_id", "bogus")])
        .await
        .assert_status(StatusCode::NOT_FOUND);
    owner
        .get("/settings/members")
        .await
        .assert_contains("Acme Payments")
        .assert_lacks("owner@globex.test");
}

#[tokio::test]
async fn the_audit_log_refuses_updates_and_deletes() {
    let app = TestApp::demo().await;
    app.signed_in(Persona::Owner).await;
    let update = keyward::on!(app.state.db, |e| sqlx::query(
        "UPDATE audit_events SET action = 'nothing'"
    )
    .execute(e)
    .await
    .map(|r| r.rows_affected()));
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = keyward::on!(app.state.db, |e| sqlx::query("DELETE FROM audit_events")
        .execute(e)
        .await
        .map(|r| r.rows_affected()));
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert!(app.count("SELECT COUNT(*) FROM audit_events").await > 0);
}

#[tokio::test]
async fn the_vendored_htmx_matches_its_subresource_integrity() {
    use base64::Engine;
    use sha2::{Digest, Sha384};
    let file = std::fs::read("static/vendor/htmx-2.0.11.min.js").unwrap();
    let digest = base64::engine::general_purpose::STANDARD.encode(Sha384::digest(&file));
    let template = std::fs::read_to_string("templates/base.html").unwrap();
    assert!(
        template.contains(&format!("integrity=\"sha384-{digest}\"")),
        "base.html's integrity does not match the file"
    );

    let app = TestApp::demo().await;
    let mut browser = app.client();
    let served = browser.get("/static/vendor/htmx-2.0.11.min.js").await;
    served.assert_status(StatusCode::OK);
    assert_eq!(
        served.header("content-type"),
        "text/javascript; charset=utf-8"
    );
    assert!(served.header("cache-control").contains("immutable"));
    assert_eq!(served.body.len(), file.len());
}

#[tokio::test]
async fn healthz_answers_without_a_session() {
    let app = TestApp::demo().await;
    let response = app.client().get("/healthz").await;
    response.assert_status(StatusCode::OK).assert_contains("ok");
    assert!(response.session_cookie().is_none());
}

#[tokio::test]
async fn viewing_pages_does_not_rewrite_the_session() {
    let app = TestApp::demo().await;
    let mut browser = app.signed_in(Persona::Owner).await;
    // The first page after sign-in records the chosen organization.
    browser.get("/settings/credentials").await;
    for path in [
        "/settings/credentials",
        "/account",
        "/settings/members",
        "/settings/organization",
        "/audit-log",
    ] {
        let response = browser.get(path).await;
        response.assert_status(StatusCode::OK);
        assert!(
            response.session_cookie().is_none(),
            "{path} wrote the session again"
        );
    }
    // A minute later the idle clock is pushed back, once.
    app.clock.advance(61);
    assert!(browser.get("/account").await.session_cookie().is_some());
    assert!(browser.get("/account").await.session_cookie().is_none());
}
