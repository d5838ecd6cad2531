//! Sign-in throttling that nobody can turn into a lockout of the real owner:
//! device cookies (OWASP), the account's bucket of unknown devices, the
//! address's limit, and the Account page's password guesses, which count
//! against the guessing browser or session only.

use axum::http::StatusCode;

use crate::support::pages::*;
use crate::support::process::start;
use crate::support::testdb::TestDb;
use crate::support::*;

const DEVICE: &str = "keyward_device";
const SIGNED_OUT: &str = "/login?signed_out=wrong-passwords";
const UNKNOWN_DEVICES_PAUSED: &str =
    "Sign-in from unknown devices paused for 15 minutes after 5 failed attempts";
const ONE_DEVICE_PAUSED: &str =
    "Sign-in from one of your devices paused for 15 minutes after 5 failed attempts";

/// A browser that signed in as `email` once and signed out: it holds only
/// its device cookie (and the sign-in page's CSRF cookie).
async fn known_browser(app: &TestApp, email: &str, ip: [u8; 4]) -> Client {
    let mut browser = app.client();
    browser.set_ip(ip);
    let signed_in = browser.sign_in(email, PASSWORD).await;
    signed_in.assert_status(StatusCode::SEE_OTHER);
    assert!(browser.other_cookie(DEVICE).is_some(), "no device cookie");
    browser.get(ACCOUNT).await.assert_status(StatusCode::OK);
    browser
        .sign_out()
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert!(
        browser.other_cookie(DEVICE).is_some(),
        "signing out keeps the device cookie"
    );
    browser
}

async fn count_of(app: &TestApp, action: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM audit_events WHERE action = '{action}'"
    ))
    .await
}

#[tokio::test]
async fn a_successful_sign_in_gives_a_long_lived_http_only_device_cookie() {
    let app = TestApp::demo().await;
    let signed_in = app.client().sign_in(Persona::Owner.email(), PASSWORD).await;
    signed_in.assert_status(StatusCode::SEE_OTHER);
    let cookie = signed_in.set_cookie(DEVICE);
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=31536000"] {
        assert!(cookie.contains(part), "{part} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    // A failed sign-in gives none.
    let failed = app
        .client()
        .sign_in(Persona::Owner.email(), "not the password!")
        .await;
    failed.assert_status(StatusCode::UNAUTHORIZED);
    assert!(failed.cookie_set(DEVICE).is_none());

    let app = TestApp::demo_with(|c| c.public_url = "https://keyward.example".to_owned()).await;
    let signed_in = app.client().sign_in(Persona::Owner.email(), PASSWORD).await;
    let cookie = signed_in.set_cookie("__Host-keyward_device");
    for part in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(part), "{part} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain="), "{cookie}");
}

#[tokio::test]
async fn wrong_passwords_on_the_account_page_end_that_session_and_never_lock_the_account() {
    let app = TestApp::demo().await;
    let email = Persona::Viewer.email();
    // A stolen session, with the browser's device cookie too.
    let mut stolen = app.sign_in_as(Persona::Viewer).await;
    stolen.get(ACCOUNT).await.assert_status(StatusCode::OK);
    for n in 0..4 {
        stolen
            .change_password(&format!("guess number {n}"), "a brand new password")
            .await
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains("This is not your current password.");
    }
    // The fifth wrong one ends the session, and the sign-in page says why.
    let ended = stolen
        .change_password("guess number 4", "a brand new password")
        .await;
    ended.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(ended.location(), SIGNED_OUT);
    assert_eq!(stolen.get(ACCOUNT).await.location(), LOGIN);
    stolen
        .get(SIGNED_OUT)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("You were signed out after 5 wrong passwords on the Account page.");
    app.client()
        .get(LOGIN)
        .await
        .assert_lacks("You were signed out");

    // A session stolen without the device cookie: its own five, then it ends.
    let mut copied = app.sign_in_as(Persona::Viewer).await;
    copied.put_cookie(DEVICE, None);
    copied.get(ACCOUNT).await.assert_status(StatusCode::OK);
    for n in 5..9 {
        copied
            .change_password(&format!("guess number {n}"), "a brand new password")
            .await
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains("This is not your current password.");
    }
    let ended = copied
        .change_password("guess number 9", "a brand new password")
        .await;
    assert_eq!(ended.location(), SIGNED_OUT);
    assert_eq!(copied.get(ACCOUNT).await.location(), LOGIN);
    assert_eq!(count_of(&app, "password.check_failed").await, 10);
    assert_eq!(count_of(&app, "password.guesses_signed_out").await, 2);
    // Those five count toward the address (and nothing toward the account).
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sign_in_failures WHERE key = 'ip:192.0.2.10'")
            .await,
        5
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sign_in_failures WHERE key LIKE 'email:%'")
            .await,
        0
    );

    // Ten wrong passwords later, the account signs in: from another browser
    // without a device cookie, at another address and at the same one.
    let mut elsewhere = app.client();
    elsewhere.set_ip([198, 51, 100, 7]);
    elsewhere
        .sign_in(email, PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    app.client()
        .sign_in(email, PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    // The owner changes the password, and says so on the Account page.
    let mut owner = app.sign_in_as(Persona::Viewer).await;
    owner
        .get(ACCOUNT)
        .await
        .assert_contains("Signed out after 5 wrong current passwords on this page");
    owner
        .change_password(PASSWORD, "a brand new password")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(count_of(&app, "sign_in.paused").await, 0);
}

#[tokio::test]
async fn an_anonymous_guesser_pauses_unknown_devices_but_not_the_owners_browser() {
    let app = TestApp::demo().await;
    let email = Persona::Owner.email();
    let mut owners = known_browser(&app, email, [192, 0, 2, 10]).await;
    let mut others = known_browser(&app, Persona::Admin.email(), [192, 0, 2, 11]).await;

    let mut guesser = app.client();
    guesser.set_ip([198, 51, 100, 7]);
    for n in 0..5 {
        guesser
            .sign_in(email, &format!("guess number {n}"))
            .await
            .assert_status(StatusCode::UNAUTHORIZED)
            .assert_contains("Incorrect email or password.");
    }
    // Even the right password is refused from unknown devices, saying why.
    let refused = guesser.sign_in(email, PASSWORD).await;
    refused
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains(
            "id=\"login-error\">Too many failed sign-in attempts. Wait 15 minutes and try again.</p>",
        )
        .assert_contains("a browser that signed in to the account before can still sign in");
    assert_eq!(refused.header("retry-after"), "900");
    assert!(refused.session_cookie().is_none());
    let mut stranger = app.client();
    stranger.set_ip([203, 0, 113, 9]);
    stranger
        .sign_in(email, PASSWORD)
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);

    // A device cookie altered, forged, or issued for another account counts
    // as none.
    let real = owners.other_cookie(DEVICE).unwrap().to_owned();
    let (content, signature) = real.rsplit_once('.').unwrap();
    let flipped = if signature.ends_with('0') { '1' } else { '0' };
    let altered = format!("{content}.{}{flipped}", &signature[..signature.len() - 1]);
    let (user, rest) = content.split_once('.').unwrap();
    let other_user = format!("{}.{rest}.{signature}", user.parse::<i64>().unwrap() + 1);
    let forged = format!("{user}.{}.{}", "A".repeat(22), "0".repeat(64));
    let admins = others.other_cookie(DEVICE).unwrap().to_owned();
    for cookie in [altered, other_user, forged, admins] {
        let mut copy = app.client();
        copy.set_ip([203, 0, 113, 10]);
        copy.put_cookie(DEVICE, Some(&cookie));
        copy.sign_in(email, PASSWORD)
            .await
            .assert_status(StatusCode::TOO_MANY_REQUESTS);
    }
    // The admin's browser still signs in as the admin.
    others
        .sign_in(Persona::Admin.email(), PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);

    // The owner's own browser signs in, and reads what happened.
    owners
        .sign_in(email, PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owners
        .get(ACCOUNT)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains(UNKNOWN_DEVICES_PAUSED);
    assert_eq!(count_of(&app, "sign_in.paused").await, 1);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'sign_in.paused' AND actor = 'owner@acme.test' AND organization_id IS NULL"
        )
        .await,
        1
    );
    // Unknown devices stay paused for the rest of the window, then sign in.
    guesser
        .sign_in(email, PASSWORD)
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS);
    app.clock.advance(15 * 60 + 1);
    guesser
        .sign_in(email, PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_device_over_its_own_limit_is_refused_and_the_audit_log_says_so() {
    let app = TestApp::demo().await;
    let email = Persona::Admin.email();
    let mut laptop = known_browser(&app, email, [192, 0, 2, 10]).await;
    for n in 0..5 {
        laptop
            .sign_in(email, &format!("guess number {n}"))
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    let refused = laptop.sign_in(email, PASSWORD).await;
    refused
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains(
            "Too many failed sign-in attempts from this browser. Wait 15 minutes and try again.",
        )
        .assert_contains(
            "Sign-in from this browser is paused for 15 minutes after 5 failed attempts.",
        );
    assert_eq!(refused.header("retry-after"), "900");
    assert!(refused.session_cookie().is_none());
    assert_eq!(count_of(&app, "sign_in.device_paused").await, 1);
    assert_eq!(count_of(&app, "sign_in.paused").await, 0);

    // The device's failures are its own: unknown devices still sign in.
    let mut phone = app.client();
    phone.set_ip([198, 51, 100, 7]);
    phone
        .sign_in(email, PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    phone
        .get(ACCOUNT)
        .await
        .assert_contains(ONE_DEVICE_PAUSED)
        .assert_lacks(UNKNOWN_DEVICES_PAUSED);
    // Past the window the laptop signs in again.
    app.clock.advance(15 * 60 + 1);
    laptop
        .sign_in(email, PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guesses_made_together_cannot_pass_the_limit() {
    let app = TestApp::demo().await;
    let email = Persona::Owner.email();
    let mut guessers = Vec::new();
    for n in 0..12u8 {
        let mut guesser = app.client();
        guesser.set_ip([198, 51, 100, n + 1]);
        guesser.get(LOGIN).await;
        guessers.push(guesser);
    }
    let attempts = guessers.into_iter().enumerate().map(|(n, mut guesser)| {
        tokio::spawn(async move {
            let password = format!("guess number {n}");
            guesser
                .post(LOGIN, &[("email", email), ("password", &password)])
                .await
                .status
        })
    });
    let mut checked = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        match attempt.await.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(checked <= 5, "{checked} guesses were checked");
    assert_eq!(count_of(&app, "sign_in.failed").await, checked);
    assert!(
        app.count("SELECT COUNT(*) FROM sign_in_failures WHERE key = 'email:owner@acme.test'")
            .await
            <= 5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_cookies_and_pauses_hold_across_instances() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    let a = start(&db, &key_file, true).await;
    let b = start(&db, &key_file, false).await;
    let signed_in_once = |base: &str, email: &'static str| {
        let mut browser = Client::http(base);
        async move {
            browser
                .sign_in(email, PASSWORD)
                .await
                .assert_status(StatusCode::SEE_OTHER);
            browser.get(ACCOUNT).await.assert_status(StatusCode::OK);
            browser
                .sign_out()
                .await
                .assert_status(StatusCode::SEE_OTHER);
            browser
        }
    };
    let owners = signed_in_once(&a.base, Persona::Owner.email()).await;
    let laptop = signed_in_once(&a.base, Persona::Admin.email()).await;

    // Unknown devices guess through both instances: paused at both...
    for n in 0..5 {
        let base = if n % 2 == 0 { &a.base } else { &b.base };
        Client::http(base)
            .sign_in(Persona::Owner.email(), "not the password!")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    for base in [&a.base, &b.base] {
        Client::http(base)
            .sign_in(Persona::Owner.email(), PASSWORD)
            .await
            .assert_status(StatusCode::TOO_MANY_REQUESTS);
    }
    // ...while the owner's browser, known at A, signs in at B.
    owners
        .at(&b.base)
        .sign_in(Persona::Owner.email(), PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);

    // One device's failures, some at each instance, pause it at both.
    for n in 0..5 {
        let base = if n % 2 == 0 { &a.base } else { &b.base };
        laptop
            .at(base)
            .sign_in(Persona::Admin.email(), "not the password!")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    for base in [&a.base, &b.base] {
        laptop
            .at(base)
            .sign_in(Persona::Admin.email(), PASSWORD)
            .await
            .assert_status(StatusCode::TOO_MANY_REQUESTS)
            .assert_contains("Too many failed sign-in attempts from this browser.");
    }
    Client::http(&b.base)
        .sign_in(Persona::Admin.email(), PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn account_page_guesses_sent_together_get_five_checks_and_end_every_session_for_good() {
    let app = TestApp::demo().await;
    // The owner's own browser, signed in.
    let mut owner = app.sign_in_as(Persona::Viewer).await;
    owner.get(ACCOUNT).await.assert_status(StatusCode::OK);
    // A thief's copy of another session, without the device cookie.
    let mut thief = app.sign_in_as(Persona::Viewer).await;
    thief.put_cookie(DEVICE, None);
    thief.get(ACCOUNT).await.assert_status(StatusCode::OK);
    let answers = futures::future::join_all((0..12).map(|n| {
        let mut copy = thief.clone();
        async move {
            copy.change_password(&format!("together {n}"), "a brand new password")
                .await
        }
    }))
    .await;
    for answer in &answers {
        assert!(
            [
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::SEE_OTHER,
                StatusCode::TOO_MANY_REQUESTS
            ]
            .contains(&answer.status),
            "{}",
            answer.status
        );
    }
    // At most five were checked, however many were sent at once (those
    // that arrive after the fifth find the session ended).
    let checked = count_of(&app, "password.check_failed").await;
    assert!((1..=5).contains(&checked), "{checked} guesses were checked");
    assert!(count_of(&app, "password.guesses_signed_out").await >= 1);
    // Every session of the account ended in the database, so no request
    // still in flight can save the thief's back to life; the owner's
    // browser signs in again.
    assert_eq!(thief.get(ACCOUNT).await.location(), LOGIN);
    assert_eq!(owner.get(ACCOUNT).await.location(), LOGIN);
    owner
        .sign_in(Persona::Viewer.email(), PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner.get(ACCOUNT).await.assert_status(StatusCode::OK);
}
