//! First-run setup, signing in and out, sessions and their expiry, sign-in
//! throttling, CSRF, and the account's password.

use axum::http::StatusCode;

use crate::support::pages::*;
use crate::support::*;

#[tokio::test]
async fn an_empty_database_leads_every_page_to_setup_which_runs_once() {
    let app = TestApp::empty().await;
    let mut browser = app.client();
    for path in ["/", LOGIN, CREDENTIALS, MEMBERS, AUDIT_LOG] {
        let response = browser.get(path).await;
        response.assert_status(StatusCode::SEE_OTHER);
        assert_eq!(response.location(), SETUP, "{path}");
    }
    browser
        .get(SETUP)
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
    let created = browser.post(SETUP, &form).await;
    created.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(created.location(), CREDENTIALS);
    // The browser that set Keyward up is a known device of its owner.
    assert!(created.cookie_set("keyward_device").is_some());
    // The new owner is signed in.
    browser
        .get(MEMBERS)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("peter@initech.test")
        .assert_contains("Initech");

    // Closed for good, for everyone.
    browser
        .get(SETUP)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    let mut stranger = app.client();
    stranger
        .get(SETUP)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    stranger.get(LOGIN).await.assert_status(StatusCode::OK);
    assert_eq!(app.count("SELECT COUNT(*) FROM organizations").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(app.audit_actions().await, vec!["organization.created"]);
}

#[tokio::test]
async fn setup_shows_each_mistake_at_its_field_and_creates_nothing() {
    let app = TestApp::empty().await;
    let mut browser = app.client();
    browser.get(SETUP).await;
    let form = [
        ("org_name", " "),
        ("display_name", "  "),
        ("email", "not-an-email"),
        ("password", "short"),
        ("password_confirm", "short"),
    ];
    browser
        .post(SETUP, &form)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Enter an organization name.")
        .assert_contains("Enter a name.")
        .assert_contains("Enter an email address like name@example.com.")
        .assert_contains("Use a password of at least 12 characters.")
        .assert_contains(r#"value="not-an-email""#)
        .assert_lacks("value=\"short\"");
    let mismatch = [
        ("org_name", "Initech"),
        ("display_name", "Peter"),
        ("email", "peter@initech.test"),
        ("password", "a long enough password"),
        ("password_confirm", "another long password"),
    ];
    browser
        .post(SETUP, &mismatch)
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
        .get(LOGIN)
        .await
        .assert_contains("<label for=\"email\">Email</label>")
        .assert_contains("Sign in");
    assert_eq!(browser.cookie, None, "the sign-in page starts no session");
    // An attacker plants a session id of their choosing before sign-in.
    let planted = "keyward_session=attacker-chosen-id".to_owned();
    browser.cookie = Some(planted.clone());

    let signed_in = browser
        .post(
            LOGIN,
            &[("email", "OWNER@acme.test"), ("password", PASSWORD)],
        )
        .await;
    signed_in.assert_status(StatusCode::SEE_OTHER);
    let after = browser.cookie.clone().unwrap();
    assert_ne!(planted, after, "sign-in must issue a fresh session id");
    browser
        .get(CREDENTIALS)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Olivia Owner");

    // The planted id is worth nothing.
    let mut attacker = app.client();
    attacker.cookie = Some(planted);
    assert_eq!(attacker.get(CREDENTIALS).await.location(), LOGIN);

    let sessions_before = app.count("SELECT COUNT(*) FROM sessions").await;
    let out = browser.sign_out().await;
    out.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(out.location(), LOGIN);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions").await,
        sessions_before - 1
    );
    // Replaying the old cookie after sign-out gets nothing either.
    let mut replay = app.client();
    replay.cookie = Some(after);
    assert_eq!(replay.get(CREDENTIALS).await.location(), LOGIN);
    assert!(app.audit_actions().await.contains(&"sign_in".to_owned()));
}

#[tokio::test]
async fn anonymous_visits_to_the_sign_in_page_store_no_session() {
    let app = TestApp::demo().await;
    // Nothing a visit could write: sessions, events, throttle counts.
    let written = "SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM audit_events) + (SELECT COUNT(*) FROM sign_in_failures)";
    let before = app.count(written).await;
    for _ in 0..300 {
        let mut visitor = app.client();
        let page = visitor.get(LOGIN).await;
        page.assert_status(StatusCode::OK);
        assert_eq!(page.session_cookie(), None);
    }
    assert_eq!(app.count(written).await, before);

    // The form still cannot be posted from elsewhere: its token is a signed
    // cookie that the form repeats.
    let mut visitor = app.client();
    visitor.get(LOGIN).await;
    let token = visitor.csrf.clone().unwrap();
    let mut forger = app.client();
    forger
        .send(forger.request("POST", LOGIN).form(&[
            ("csrf_token", token.as_str()),
            ("email", "owner@acme.test"),
            ("password", PASSWORD),
        ]))
        .await
        .assert_csrf_refused();
    let forged = format!("{}.{}", "a".repeat(43), "0".repeat(64));
    forger
        .send(
            forger
                .request("POST", LOGIN)
                .header("cookie", format!("keyward_csrf={forged}"))
                .form(&[
                    ("csrf_token", forged.as_str()),
                    ("email", "owner@acme.test"),
                    ("password", PASSWORD),
                ]),
        )
        .await
        .assert_csrf_refused();
    visitor
        .post(
            LOGIN,
            &[("email", "owner@acme.test"), ("password", PASSWORD)],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, before + 1);
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
    // The clock stands still: the whole window is left.
    assert_eq!(throttled.header("retry-after"), "900");
    // The right password was refused: no session, no sign-in recorded.
    assert!(throttled.session_cookie().is_none());
    assert_eq!(app.count(SIGN_INS_OF_ADMIN).await, 0);

    // Another address does not help for this account...
    let mut elsewhere = app.client();
    elsewhere.set_ip([198, 51, 100, 7]);
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
    assert_eq!(app.count(SIGN_INS_OF_ADMIN).await, 1);
}

const SIGN_INS_OF_ADMIN: &str =
    "SELECT COUNT(*) FROM audit_events WHERE action = 'sign_in' AND actor = 'admin@acme.test'";

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
    let token = browser.csrf.clone().unwrap();
    let request = browser.request("POST", LOGIN).form(&[
        ("csrf_token", token.as_str()),
        ("email", "owner@acme.test"),
        ("password", PASSWORD),
    ]);
    let refused = browser.send(request).await;
    refused
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains("Too many failed sign-in attempts. Wait 15 minutes and try again.");
    // A window of 15 minutes: all of it left on a standing clock, and past it
    // the address signs in again.
    assert_eq!(refused.header("retry-after"), "900");
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
    app.clock.advance(14 * 60);
    browser
        .sign_in("owner@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(60);
    browser
        .sign_in("owner@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
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
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, _) = owner.create_credential("Pruning client").await;
    let (_, wrong) = owner.create_credential("Pruning other").await;
    app.client()
        .client_credentials(&id, &wrong)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
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

#[tokio::test]
async fn posts_without_the_csrf_token_or_from_another_site_are_refused() {
    let app = TestApp::demo().await;
    let mut browser = app.sign_in_as(Persona::Owner).await;
    browser.get(ORGANIZATION).await;
    let token = browser.csrf.clone().unwrap();

    // A form post to Settings > Organization with exactly these parts.
    let post = |browser: &Client, body: String, site: &str, header_token: Option<&str>| {
        let mut request = browser
            .request("POST", ORGANIZATION)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("sec-fetch-site", site);
        if let Some(t) = header_token {
            request = request.header("x-csrf-token", t);
        }
        request.body(body)
    };
    let rename = |t: &str| form_body(&[("csrf_token", t), ("org_name", "Hijacked")]);

    let cross_site = post(&browser, rename(&token), "cross-site", None);
    browser
        .send(cross_site)
        .await
        .assert_csrf_refused()
        .assert_contains("Request refused");
    let no_token = post(
        &browser,
        form_body(&[("org_name", "Hijacked")]),
        "same-origin",
        None,
    );
    browser
        .send(no_token)
        .await
        .assert_csrf_refused()
        .assert_contains("Reload the page");
    let wrong_token = post(&browser, rename(&"x".repeat(32)), "same-origin", None);
    browser.send(wrong_token).await.assert_csrf_refused();
    let wrong_header = post(
        &browser,
        form_body(&[("org_name", "Hijacked")]),
        "same-origin",
        Some("nope"),
    );
    browser.send(wrong_header).await.assert_csrf_refused();
    // An Origin from elsewhere, without Sec-Fetch-Site (older browsers).
    let request = browser
        .request("POST", ORGANIZATION)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(rename(&token));
    browser.send(request).await.assert_csrf_refused();

    assert_eq!(
        app.count("SELECT COUNT(*) FROM organizations WHERE name = 'Hijacked'")
            .await,
        0
    );
    // The same request from our own page goes through, by form field and by header.
    browser
        .save_organization("Acme Renamed", false)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    browser
        .htmx()
        .save_organization("Acme Again", false)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM organizations WHERE name = 'Acme Again'")
            .await,
        1
    );
}

#[tokio::test]
async fn htmx_requests_that_need_sign_in_get_hx_redirect() {
    let app = TestApp::demo().await;
    let mut browser = app.client();
    let response = browser.htmx_get(CREDENTIALS).await;
    assert_eq!(response.header("hx-redirect"), LOGIN);
    assert!(response.body.is_empty());
    let page = browser.get(CREDENTIALS).await;
    assert_eq!(page.location(), LOGIN);
}

#[tokio::test]
async fn sessions_end_after_the_absolute_timeout() {
    let app = TestApp::demo().await;
    let mut browser = app.sign_in_as(Persona::Viewer).await;
    // Busy all day: a page every 20 minutes for 11 h 40 min.
    for _ in 0..35 {
        app.clock.advance(20 * 60);
        browser.get(CREDENTIALS).await.assert_status(StatusCode::OK);
    }
    app.clock.advance(20 * 60);
    assert_eq!(browser.get(CREDENTIALS).await.location(), LOGIN);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
}

#[tokio::test]
async fn sessions_end_after_thirty_minutes_idle() {
    let app = TestApp::demo().await;
    let mut browser = app.sign_in_as(Persona::Viewer).await;
    app.clock.advance(29 * 60);
    browser.get(CREDENTIALS).await.assert_status(StatusCode::OK);
    // That request counted: another 29 minutes are fine too.
    app.clock.advance(29 * 60);
    browser.get(CREDENTIALS).await.assert_status(StatusCode::OK);
    // Thirty minutes without a request end it, in the store too.
    app.clock.advance(30 * 60);
    assert_eq!(browser.get(CREDENTIALS).await.location(), LOGIN);
    assert_eq!(app.count("SELECT COUNT(*) FROM sessions").await, 0);
}

#[tokio::test]
async fn switching_organization_gives_a_new_session_id() {
    let app = TestApp::demo().await;
    let mut support = app.sign_in_as(Persona::Support).await;
    support.get(CREDENTIALS).await.assert_status(StatusCode::OK);
    let before = support.cookie.clone().expect("a session cookie");
    let globex = app.org_id("Globex").await;
    let switched = support.switch_org(&globex.to_string(), None).await;
    switched.assert_status(StatusCode::SEE_OTHER);
    let after = switched.session_cookie().expect("a new session cookie");
    assert_ne!(after, before);
    // The old id is worthless; the new one looks at Globex (the visit is
    // recorded in Globex's log).
    let mut old = app.client();
    old.cookie = Some(before);
    assert_eq!(old.get(CREDENTIALS).await.location(), LOGIN);
    let visits = format!(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'support.viewed' AND organization_id = {globex}"
    );
    assert_eq!(app.count(&visits).await, 0);
    support.get(CREDENTIALS).await.assert_status(StatusCode::OK);
    assert_eq!(app.count(&visits).await, 1);
}

#[tokio::test]
async fn viewing_pages_does_not_rewrite_the_session() {
    let app = TestApp::demo().await;
    let mut browser = app.sign_in_as(Persona::Owner).await;
    // The first page after sign-in records the chosen organization.
    browser.get(CREDENTIALS).await;
    for path in [CREDENTIALS, ACCOUNT, MEMBERS, ORGANIZATION, AUDIT_LOG] {
        let response = browser.get(path).await;
        response.assert_status(StatusCode::OK);
        assert!(
            response.session_cookie().is_none(),
            "{path} wrote the session again"
        );
    }
    // A minute later the idle clock is pushed back, once.
    app.clock.advance(61);
    assert!(browser.get(ACCOUNT).await.session_cookie().is_some());
    assert!(browser.get(ACCOUNT).await.session_cookie().is_none());
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session() {
    let app = TestApp::demo().await;
    let mut laptop = app.sign_in_as(Persona::Admin).await;
    let mut phone = app.sign_in_as(Persona::Admin).await;
    laptop.get(ACCOUNT).await;
    laptop
        .change_password("wrong", "a brand new password")
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("This is not your current password.");
    laptop
        .change_password(PASSWORD, "a brand new password")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    laptop
        .get(ACCOUNT)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Password changed.");
    assert_eq!(phone.get(CREDENTIALS).await.location(), LOGIN);
    app.client()
        .sign_in("admin@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    app.client()
        .sign_in("admin@acme.test", "a brand new password")
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_run_setup_raced_by_many_makes_one_organization() {
    let app = TestApp::empty().await;
    // Twelve people open the setup page and submit it at once.
    let mut browsers = Vec::new();
    for _ in 0..12 {
        let mut browser = app.client();
        browser.get(SETUP).await.assert_status(StatusCode::OK);
        browsers.push(browser);
    }
    let mut tasks = Vec::new();
    for (i, mut browser) in browsers.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let email = format!("first{i}@initech.test");
            let form = [
                ("org_name", "Initech"),
                ("display_name", "Peter Gibbons"),
                ("email", email.as_str()),
                ("password", "a long enough password"),
                ("password_confirm", "a long enough password"),
            ];
            browser.post(SETUP, &form).await
        }));
    }
    let mut made = 0;
    for task in tasks {
        let response = task.await.unwrap();
        match response.status {
            StatusCode::SEE_OTHER => {
                assert_eq!(response.location(), CREDENTIALS);
                made += 1;
            }
            // Those who came second find setup closed.
            StatusCode::NOT_FOUND | StatusCode::CONFLICT => {}
            other => panic!("a racing setup answered {other}:\n{}", response.body),
        }
    }
    assert_eq!(made, 1, "exactly one setup succeeds");
    assert_eq!(app.count("SELECT COUNT(*) FROM organizations").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM memberships").await, 1);
    assert_eq!(app.audit_actions().await, vec!["organization.created"]);
}

#[tokio::test]
async fn a_password_hashed_before_the_pepper_signs_in_and_is_keyed_at_once() {
    use argon2::password_hash::{PasswordHasher as _, SaltString, rand_core::OsRng};
    let app = TestApp::demo().await;
    let email = Persona::Viewer.email();
    let unkeyed = argon2::Argon2::default()
        .hash_password(b"an older password here", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
    app.sql
        .execute(
            "UPDATE users SET password_hash = $1 WHERE email = $2",
            &[unkeyed.as_str().into(), email.into()],
        )
        .await;
    let stored = || async {
        app.sql
            .string(
                "SELECT password_hash FROM users WHERE email = $1",
                &[email.into()],
            )
            .await
    };
    let mut browser = app.client();
    browser
        .sign_in(email, "an older password here")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let keyed = stored().await;
    assert!(keyed.contains(",keyid=a3cx$"), "{keyed}");
    // The session goes on, and the same password works with the new hash.
    browser.get(ACCOUNT).await.assert_status(StatusCode::OK);
    app.client()
        .sign_in(email, "an older password here")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(stored().await, keyed);
}
