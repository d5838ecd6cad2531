//! What every page shares: the security headers, the navigation each role
//! sees, clear errors for bad requests, static assets and the health check.

use axum::http::StatusCode;

use crate::support::pages::*;
use crate::support::*;

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::demo().await;
    let mut responses = vec![(LOGIN, app.client().get(LOGIN).await)];
    let mut browser = app.sign_in_as(Persona::Owner).await;
    for path in [
        CREDENTIALS,
        MEMBERS,
        AUDIT_LOG,
        "/healthz",
        "/static/app.css",
        "/no/such/page",
    ] {
        responses.push((path, browser.get(path).await));
    }
    responses.push(("POST /login cross-site", {
        let request = browser
            .request("POST", LOGIN)
            .header("sec-fetch-site", "cross-site");
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
        // Pages can hold secrets: nothing keeps them. Static files cache.
        let cache = response.header("cache-control");
        if path.starts_with("/static/") {
            assert!(cache.contains("max-age="), "{path}: {cache:?}");
        } else {
            assert_eq!(cache, "no-store", "{path}");
        }
        // Plain http: no HSTS that a later https deployment would inherit.
        assert_eq!(
            response.header("strict-transport-security"),
            "max-age=0",
            "{path}"
        );
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
async fn the_session_cookie_is_http_only_and_lax_and_over_https_secure_and_host_only() {
    let app = TestApp::demo().await;
    let signed_in = app.client().sign_in("owner@acme.test", PASSWORD).await;
    signed_in.assert_status(StatusCode::SEE_OTHER);
    let cookie = signed_in.set_cookie("keyward_session");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http cannot keep a Secure cookie: {cookie}"
    );

    let app = TestApp::demo_with(|c| c.public_url = "https://keyward.example".to_owned()).await;
    let login = app.client().get(LOGIN).await;
    assert_eq!(
        login.header("strict-transport-security"),
        "max-age=63072000; includeSubDomains"
    );
    let mut browser = app.client();
    let signed_in = browser.sign_in("owner@acme.test", PASSWORD).await;
    signed_in.assert_status(StatusCode::SEE_OTHER);
    let cookie = signed_in.set_cookie("__Host-keyward_session");
    for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(part), "{part} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Domain="),
        "a __Host- cookie names no domain: {cookie}"
    );
    // The visitor's CSRF cookie is as careful.
    let visitor = login.set_cookie("__Host-keyward_csrf");
    for part in ["HttpOnly", "Secure", "Path=/"] {
        assert!(visitor.contains(part), "{part} missing: {visitor}");
    }
    // And the session works under that name.
    browser
        .get(CREDENTIALS)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Acme Payments");
}

#[tokio::test]
async fn only_static_files_are_compressed() {
    let app = TestApp::demo().await;
    let mut browser = app.sign_in_as(Persona::Owner).await;
    for (path, compressed) in [
        ("/static/app.css", true),
        (MEMBERS, false),
        (CREDENTIALS, false),
        (AUDIT_LOG, false),
        ("/api/v1/openapi.json", false),
        ("/.well-known/jwks.json", false),
    ] {
        let request = browser
            .request("GET", path)
            .header("accept-encoding", "gzip, br");
        let response = browser.send(request).await;
        response.assert_status(StatusCode::OK);
        assert!(
            response.body.len() > 1000 || !compressed,
            "{path} is too small to tell"
        );
        let encoding = response.header("content-encoding");
        assert_eq!(
            !encoding.is_empty(),
            compressed,
            "{path}: content-encoding {encoding:?}"
        );
    }
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_a_clear_4xx() {
    let app = TestApp::demo().await;
    let mut browser = app.sign_in_as(Persona::Owner).await;
    browser.get(ORGANIZATION).await;
    let token = browser.csrf.clone().unwrap();

    let huge = "a".repeat(200 * 1024);
    let too_large = browser
        .request("POST", ORGANIZATION)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-csrf-token", &token)
        .body(format!("org_name={huge}"));
    browser
        .send(too_large)
        .await
        .assert_status(StatusCode::PAYLOAD_TOO_LARGE)
        .assert_contains("larger than Keyward accepts");

    let json = browser
        .request("POST", ORGANIZATION)
        .header("content-type", "application/json")
        .header("x-csrf-token", &token)
        .body("{\"org_name\": 1}");
    browser
        .send(json)
        .await
        .assert_status(StatusCode::BAD_REQUEST)
        .assert_contains("application/x-www-form-urlencoded");

    let garbage = browser
        .request("POST", &member(1))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-csrf-token", &token)
        .body(vec![0xff, 0xfe, b'=', b'%', b'z']);
    let response = browser.send(garbage).await;
    assert!(response.status.is_client_error(), "{:?}", response.status);

    let too_long = "x".repeat(5000);
    browser
        .save_organization(&too_long, false)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Enter an organization name of 2 to 80 characters.");
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
async fn each_persona_sees_the_navigation_that_fits_their_role() {
    let app = TestApp::demo().await;
    for (persona, owner_links) in [
        (Persona::Owner, true),
        (Persona::Admin, false),
        (Persona::Viewer, false),
        (Persona::Support, false),
        (Persona::GlobexOwner, true),
    ] {
        let mut browser = app.sign_in_as(persona).await;
        let page = browser.get(AUDIT_LOG).await;
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
async fn the_health_check_answers_without_a_session() {
    let app = TestApp::demo().await;
    let response = app.client().get("/healthz").await;
    response.assert_status(StatusCode::OK).assert_contains("ok");
    assert!(response.session_cookie().is_none());
}

#[tokio::test]
async fn nul_and_control_characters_are_refused_at_their_field_never_with_a_500() {
    let app = TestApp::demo().await;
    // Sign-in: an email with NUL is an unknown account like any other.
    app.client()
        .sign_in("owner\0@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::UNAUTHORIZED)
        .assert_contains("Incorrect email or password.");

    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get("/audit-log?actor=owner%00%40acme.test&credential=%01")
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("The actor cannot contain control characters.")
        .assert_contains("The credential cannot contain control characters.");
    owner.get(MEMBERS).await;
    owner
        .invite("new\0hire@acme.test", Role::CanView)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Enter an email address like name@example.com.");
    owner.get(CREDENTIALS).await;
    owner
        .post("/settings/credentials/requests/kwreq_%00/approve", &[])
        .await
        .assert_status(StatusCode::NOT_FOUND);

    owner.require_approval().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(NEW_CREDENTIAL).await;
    admin
        .request_credential("Payout batcher", "Because\u{0}the nightly job needs it.")
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("The justification cannot contain control characters.");
    // Line breaks in an explanation are fine.
    admin
        .request_credential("Payout batcher", "Line one of why.\r\nLine two of why.")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credential_requests").await,
        1
    );
}

#[tokio::test]
async fn those_who_can_change_nothing_are_told_so_by_a_banner() {
    let app = TestApp::demo().await;
    let mut viewer = app.sign_in_as(Persona::Viewer).await;
    viewer
        .get(CREDENTIALS)
        .await
        .assert_contains("You have view-only access (API Credentials: Can View)");
    let mut support = app.sign_in_as(Persona::Support).await;
    support
        .get(AUDIT_LOG)
        .await
        .assert_contains("You are looking at this organization as support staff");
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get(CREDENTIALS)
        .await
        .assert_lacks("class=\"alert info banner\"");
    // On the Account page too, focus goes to the first field with a message.
    owner.get(ACCOUNT).await;
    let page = owner.change_password("not my password", "short").await;
    page.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    let current = page.body.find("id=\"current_password\"").unwrap();
    let tag_end = current + page.body[current..].find('>').unwrap();
    assert!(page.body[current..tag_end].contains("autofocus"));
    assert_eq!(page.body.matches(" autofocus").count(), 1);
}

#[tokio::test]
async fn a_trial_organization_is_told_whom_to_ask_and_not_shown_settings_that_do_nothing() {
    let app =
        TestApp::demo_with(|config| config.upgrade_contact = "sales@keyward.example".to_owned())
            .await;
    let mut gus = app.sign_in_as(Persona::GlobexOwner).await;
    gus.get(CREDENTIALS)
        .await
        .assert_contains("To upgrade to the Standard plan, contact sales@keyward.example.");
    let page = gus.get(ORGANIZATION).await;
    page.assert_contains("contact sales@keyward.example")
        .assert_lacks("Require approval for new credentials");
    gus.save_organization("Globex Corp", false)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM organizations WHERE name = 'Globex Corp' AND plan = 'trial'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn readiness_needs_the_database_and_its_migrations() {
    let app = TestApp::demo().await;
    let mut probe = app.client();
    probe.get("/readyz").await.assert_status(StatusCode::OK);
    assert_eq!(
        probe.get("/readyz").await.header("cache-control"),
        "no-store"
    );
    // A database a newer Keyward has not migrated yet (its last migration missing).
    app.sql
        .execute(
            "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
            &[],
        )
        .await;
    probe
        .get("/readyz")
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE)
        .assert_contains("database migrations pending");
    // The database gone: not ready, and not healthy.
    app.state.db.close().await;
    probe
        .get("/readyz")
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE)
        .assert_contains("database unavailable");
    probe
        .get("/healthz")
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn scheduled_backups_keep_the_newest_few() {
    let app = TestApp::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let url = &app.config.database_url;
    if keyward::backup::sqlite_file(url).is_none() {
        // PostgreSQL is backed up with pg_dump, and the command says so.
        let refused = keyward::backup::into_folder(&app.state.db, url, dir.path(), 2).await;
        assert!(format!("{:#}", refused.unwrap_err()).contains("pg_dump"));
        return;
    }
    let mut made = Vec::new();
    for _ in 0..3 {
        made.push(
            keyward::backup::into_folder(&app.state.db, url, dir.path(), 2)
                .await
                .unwrap(),
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    left.sort();
    assert_eq!(left, made[1..], "the oldest went first");
    for file in &left {
        assert_eq!(
            keyward::storage::Db::integrity_of(file).await.unwrap(),
            "ok"
        );
    }
}
