//! Members and the organization: owners only, the last owner protected,
//! role changes effective at once, organization settings, and support
//! staff moving between organizations that members cannot reach.

use axum::http::StatusCode;

use crate::support::pages::*;
use crate::support::*;

/// How many owners Acme Payments has.
const ACME_OWNERS: &str = "SELECT COUNT(*) FROM memberships m JOIN organizations o ON o.id = m.organization_id WHERE o.name = 'Acme Payments' AND role = 'owner'";

#[tokio::test]
async fn only_owners_reach_members_and_organization_routes() {
    let app = TestApp::demo().await;
    let viewer_id = app.user_id("viewer@acme.test").await;
    let routes: Vec<Route> = vec![
        ("GET", MEMBERS.into(), vec![]),
        (
            "POST",
            MEMBERS.into(),
            vec![
                ("email", "new@acme.test"),
                ("display_name", "New"),
                ("access", "owner"),
            ],
        ),
        ("POST", member(viewer_id), vec![("access", "owner")]),
        ("GET", remove_member(viewer_id), vec![]),
        ("POST", remove_member(viewer_id), vec![]),
        ("GET", ORGANIZATION.into(), vec![]),
        (
            "POST",
            ORGANIZATION.into(),
            vec![("org_name", "Hijacked"), ("require_approval", "on")],
        ),
    ];
    for persona in [Persona::Admin, Persona::Viewer, Persona::Support] {
        let mut browser = app.sign_in_as(persona).await;
        browser.get(CREDENTIALS).await;
        for route in &routes {
            let response = browser.call(route).await;
            response
                .assert_status(StatusCode::FORBIDDEN)
                .assert_contains("Only organization owners can do this.");
        }
    }
    // Another organization's owner: Acme's member ids do not exist for them.
    let mut globex = app.sign_in_as(Persona::GlobexOwner).await;
    globex
        .get(MEMBERS)
        .await
        .assert_status(StatusCode::OK)
        .assert_lacks("viewer@acme.test");
    for route in &routes[2..5] {
        let response = globex.call(route).await;
        response.assert_status(StatusCode::NOT_FOUND);
    }
    // Signed out: to the sign-in page.
    let mut stranger = app.client();
    stranger.get(LOGIN).await;
    for route in &routes {
        let response = stranger.call(route).await;
        response.assert_status(StatusCode::SEE_OTHER);
        assert_eq!(response.location(), LOGIN, "{route:?}");
    }
    // Nothing changed.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'new@acme.test'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM memberships WHERE role = 'owner'")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM organizations WHERE name = 'Hijacked'")
            .await,
        0
    );
}

/// The demo, sending email through a real SMTP server, and that server.
pub(crate) async fn demo_with_mail() -> (Smtp, TestApp) {
    let smtp = Smtp::start().await;
    let url = smtp.url();
    let app = TestApp::demo_with(|config| {
        config.smtp_url = Some(url);
        config.smtp_from = "Keyward <keyward@acme.test>".to_owned();
        config.public_url = "http://127.0.0.1:8080".to_owned();
    })
    .await;
    (smtp, app)
}

/// Asks for the code on the link's page and reads it from the email to
/// `email`, as the holder of that address would.
pub(crate) async fn emailed_code(
    smtp: &Smtp,
    client: &mut Client,
    link: &str,
    email: &str,
) -> String {
    let seen = smtp.delivered_to(email).len();
    client.get(link).await.assert_status(StatusCode::OK);
    client
        .post(link, &[("step", "send_code")])
        .await
        .assert_status(StatusCode::OK)
        .assert_contains(&format!("We emailed a code to {email}."))
        .assert_lacks("Your code is");
    code_in(&smtp.next_to(email, seen).await)
}

/// Sends the code, a name and a password (typed twice) on the link's page.
pub(crate) async fn create_account(
    client: &mut Client,
    link: &str,
    code: &str,
    name: &str,
    password: &str,
) -> TestResponse {
    client
        .post(
            link,
            &[
                ("step", "create"),
                ("code", code),
                ("display_name", name),
                ("password", password),
                ("password_confirm", password),
            ],
        )
        .await
}

#[tokio::test]
async fn an_invited_person_creates_their_own_account_or_signs_in_and_joins() {
    let (smtp, app) = demo_with_mail().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;

    // Someone without an account: the link is emailed, and shown once.
    owner.get(MEMBERS).await;
    let invited = owner.invite("New@Acme.test", Role::CanEdit).await;
    invited
        .assert_status(StatusCode::OK)
        .assert_contains("Invited new@acme.test as Admin · API Credentials: Can Edit.")
        .assert_contains("We emailed it to new@acme.test.");
    let link = invitation_path_in(&invited.body).unwrap();
    owner
        .get(MEMBERS)
        .await
        .assert_contains("Pending invitations")
        .assert_contains("new@acme.test")
        .assert_lacks(&link);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'new@acme.test'")
            .await,
        0,
        "no account before the link is used"
    );
    let mut invitee = app.client();
    let page = invitee.get(&link).await;
    page.assert_status(StatusCode::OK)
        .assert_contains("Olivia Owner invited <strong>new@acme.test</strong> to join <strong>Acme Payments</strong> as Admin · API Credentials: Can Edit.")
        .assert_contains("Email me a code");
    let code = emailed_code(&smtp, &mut invitee, &link, "new@acme.test").await;
    invitee
        .post(
            &link,
            &[
                ("step", "create"),
                ("code", &code),
                ("display_name", "Nina New"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("at least 12 characters");
    let joined = create_account(
        &mut invitee,
        &link,
        &code,
        "Nina New",
        "nina's own password",
    )
    .await;
    joined.assert_status(StatusCode::SEE_OTHER);
    // The browser that made the account is one of its known devices.
    assert!(joined.cookie_set("keyward_device").is_some());
    invitee
        .get(CREDENTIALS)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Nina New")
        .assert_contains("Admin · API Credentials: Can Edit");
    // The link worked once.
    app.client()
        .get(&link)
        .await
        .assert_status(StatusCode::GONE)
        .assert_contains("This invitation has been used already.");
    app.client()
        .sign_in("new@acme.test", "nina's own password")
        .await
        .assert_status(StatusCode::SEE_OTHER);

    // Someone with an account: they sign in on the link's page and join.
    let link = owner
        .invitation_link("owner@globex.test", Role::CanView)
        .await;
    let mut gus = app.client();
    gus.get(&link)
        .await
        .assert_contains("Have a Keyward account for owner@globex.test?");
    gus.post(&link, &[("password", "not the password")])
        .await
        .assert_status(StatusCode::UNAUTHORIZED)
        .assert_contains("Incorrect email or password.");
    let signed_in = gus.post(&link, &[("password", PASSWORD)]).await;
    signed_in.assert_status(StatusCode::SEE_OTHER);
    assert!(signed_in.cookie_set("keyward_device").is_some());
    gus.get(CREDENTIALS)
        .await
        .assert_contains("Acme Payments")
        .assert_contains("Admin · API Credentials: Can View");

    // Inviting a member again is refused at the field; a made-up role too.
    owner.get(MEMBERS).await;
    owner
        .invite("new@acme.test", Role::Owner)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("new@acme.test is already a member of this organization.");
    owner
        .invite("x@acme.test", Role::Unknown("superuser"))
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Choose a role.");
    // Support staff can be invited (the form says nothing about accounts),
    // but can never join.
    let link = owner
        .invitation_link("support@keyward.test", Role::Owner)
        .await;
    let mut support = app.sign_in_as(Persona::Support).await;
    support
        .accept_invitation(&link, &[])
        .await
        .assert_status(StatusCode::CONFLICT)
        .assert_contains("Support staff see every organization already; they cannot be members.");

    let actions = app.audit_actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "member.invited").count(), 3);
    assert_eq!(actions.iter().filter(|a| *a == "member.joined").count(), 2);
    // No link is in any audit event, nor in the database.
    let token = link.trim_start_matches("/invitations/");
    for (column, value) in app.sql.every_stored_value().await {
        assert!(
            !String::from_utf8_lossy(&value).contains(token),
            "the link's token is stored in {column}"
        );
    }
}

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed() {
    let app = TestApp::demo().await;
    let owner_id = app.user_id("owner@acme.test").await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(MEMBERS).await;
    owner
        .change_role(owner_id, Role::CanEdit)
        .await
        .assert_status(StatusCode::CONFLICT)
        .assert_contains("An organization must keep at least one owner.");
    owner
        .remove_member(owner_id)
        .await
        .assert_status(StatusCode::CONFLICT)
        .assert_contains("An organization must keep at least one owner.");

    // With a second owner, the first may step down.
    let admin_id = app.user_id("admin@acme.test").await;
    owner
        .change_role(admin_id, Role::Owner)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .change_role(owner_id, Role::CanView)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    // Now no longer an owner, the next request is refused.
    owner
        .get(MEMBERS)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(app.count(ACME_OWNERS).await, 1);
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let app = TestApp::demo().await;
    let owner_id = app.user_id("owner@acme.test").await;
    let admin_id = app.user_id("admin@acme.test").await;
    let mut first = app.sign_in_as(Persona::Owner).await;
    first.get(MEMBERS).await;
    first
        .change_role(admin_id, Role::Owner)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let mut second = app.sign_in_as(Persona::Admin).await;
    second.get(MEMBERS).await.assert_status(StatusCode::OK);

    let (ra, rb) = tokio::join!(
        first.change_role(admin_id, Role::CanView),
        second.change_role(owner_id, Role::CanView),
    );
    // One wins. The other is refused: as the last owner (409), or, when the
    // winner demoted them first, as no longer an owner (403).
    let statuses = [ra.status, rb.status];
    let refused = |s: &StatusCode| *s == StatusCode::CONFLICT || *s == StatusCode::FORBIDDEN;
    assert!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::SEE_OTHER)
            .count()
            == 1
            && statuses.iter().any(refused),
        "{statuses:?}"
    );
    assert_eq!(app.count(ACME_OWNERS).await, 1);
}

#[tokio::test]
async fn a_role_change_applies_on_the_next_request_with_a_new_session_id() {
    let app = TestApp::demo().await;
    let admin_id = app.user_id("admin@acme.test").await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin
        .get(CREDENTIALS)
        .await
        .assert_contains("Admin · API Credentials: Can Edit");
    let before = admin.cookie.clone();

    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(MEMBERS).await;
    owner
        .change_role(admin_id, Role::CanView)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get(MEMBERS)
        .await
        .assert_contains("admin@acme.test is now Admin · API Credentials: Can View.");

    let next = admin.get(CREDENTIALS).await;
    next.assert_status(StatusCode::OK)
        .assert_contains("Admin · API Credentials: Can View");
    assert!(next.session_cookie().is_some());
    assert_ne!(
        admin.cookie, before,
        "the session id is cycled on a change of role"
    );
    assert_eq!(
        app.audit_detail("member.changed").await,
        r#"{"after":"admin-view","before":"admin-edit","cancelled_requests":[]}"#
    );
}

#[tokio::test]
async fn a_removed_member_loses_the_organization_on_their_next_request_and_nothing_else() {
    let app = TestApp::demo().await;
    app.upgrade_globex().await;
    let viewer_id = app.user_id("viewer@acme.test").await;
    // Vera also belongs to Globex.
    let mut globex = app.sign_in_as(Persona::GlobexOwner).await;
    let link = globex
        .invitation_link("viewer@acme.test", Role::CanView)
        .await;
    let mut viewer = app.client();
    viewer
        .accept_invitation(&link, &[("password", PASSWORD)])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    viewer.get(CREDENTIALS).await.assert_status(StatusCode::OK);

    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get(&remove_member(viewer_id))
        .await
        .assert_contains("Remove <span class=\"strong\">Vera Viewer</span>");
    owner
        .remove_member(viewer_id)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get(MEMBERS)
        .await
        .assert_contains("Removed viewer@acme.test from Acme Payments.")
        .assert_lacks("Vera Viewer");

    // Her session goes on, in the organization she still belongs to.
    let page = viewer.get(CREDENTIALS).await;
    page.assert_status(StatusCode::OK).assert_contains("Globex");
    let acme = app.org_id("Acme Payments").await;
    viewer
        .switch_org(&acme.to_string(), None)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    assert!(
        app.audit_actions()
            .await
            .contains(&"member.removed".to_owned())
    );
}

#[tokio::test]
async fn owners_change_the_organization_name_and_approval_setting() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get(ORGANIZATION)
        .await
        .assert_contains("Standard")
        .assert_contains("Require approval for new credentials");
    owner
        .save_organization("Acme Pay", true)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get(ORGANIZATION)
        .await
        .assert_contains("Organization settings saved.")
        .assert_contains("value=\"Acme Pay\"")
        .assert_contains("checked");
    owner
        .save_organization("A", false)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Enter an organization name of 2 to 80 characters.");
    let require_approval = app
        .sql
        .scalar_bool(
            "SELECT require_approval FROM organizations WHERE name = $1",
            &["Acme Pay".into()],
        )
        .await;
    assert!(require_approval);
    let detail = app.audit_detail("organization.updated").await;
    assert!(
        detail.contains("\"before\":{\"max_credential_days\":null,\"name\":\"Acme Payments\",\"require_approval\":false}"),
        "{detail}"
    );
}

#[tokio::test]
async fn two_invitations_accepted_at_once_for_one_new_email_make_one_account() {
    let (smtp, app) = demo_with_mail().await;
    app.upgrade_globex().await;
    let mut acme = app.sign_in_as(Persona::Owner).await;
    let mut globex = app.sign_in_as(Persona::GlobexOwner).await;
    let to_acme = acme.invitation_link("shared@new.test", Role::CanView).await;
    let to_globex = globex
        .invitation_link("shared@new.test", Role::CanView)
        .await;
    let mut first = app.client();
    let mut second = app.client();
    let first_code = emailed_code(&smtp, &mut first, &to_acme, "shared@new.test").await;
    let second_code = emailed_code(&smtp, &mut second, &to_globex, "shared@new.test").await;
    let fields = |code| {
        [
            ("step", "create"),
            ("code", code),
            ("display_name", "Sam Shared"),
            ("password", "sam's own password"),
            ("password_confirm", "sam's own password"),
        ]
    };
    let (first_fields, second_fields) = (fields(&first_code), fields(&second_code));
    // Each organization's lock holds back only its own writers, so on
    // PostgreSQL the two inserts of the user can really meet.
    let (a, b) = futures::join!(
        first.post(&to_acme, &first_fields),
        second.post(&to_globex, &second_fields)
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::CONFLICT]);
    let refused = if a.status == StatusCode::CONFLICT {
        &a
    } else {
        &b
    };
    refused.assert_contains(
        "An account with this email exists already: sign in to accept the invitation.",
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'shared@new.test'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = 'shared@new.test'")
            .await,
        1
    );
}

#[tokio::test]
async fn support_staff_switch_between_every_organization_and_members_cannot_reach_others() {
    let app = TestApp::demo().await;
    let mut support = app.sign_in_as(Persona::Support).await;
    let page = support.get(CREDENTIALS).await;
    page.assert_contains("Acme Payments")
        .assert_contains("Globex")
        .assert_contains("Support (read-only)");
    let globex = app.org_id("Globex").await;
    let switched = support
        .switch_org(&globex.to_string(), Some(AUDIT_LOG))
        .await;
    assert_eq!(switched.location(), AUDIT_LOG);
    support
        .get(AUDIT_LOG)
        .await
        .assert_contains("selected>Globex</option>")
        .assert_lacks("selected>Acme Payments");
    // Support visits are recorded in the organization they looked at.
    let visits = app
        .sql
        .scalar_i64(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'support.viewed' AND organization_id = $1",
            &[globex.into()],
        )
        .await;
    assert_eq!(visits, 1);

    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(CREDENTIALS).await;
    owner
        .switch_org(&globex.to_string(), None)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    owner
        .switch_org("bogus", None)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    owner
        .get(MEMBERS)
        .await
        .assert_contains("Acme Payments")
        .assert_lacks("owner@globex.test");
}

#[tokio::test]
async fn removing_a_member_asks_in_a_dialog_with_and_without_javascript() {
    let app = TestApp::demo().await;
    let viewer_id = app.user_id("viewer@acme.test").await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(MEMBERS).await.assert_contains(&format!(
        "data-hx-get=\"{}\" data-hx-target=\"#dialog-root\"",
        remove_member(viewer_id)
    ));
    owner
        .htmx()
        .get(&remove_member(viewer_id))
        .await
        .assert_status(StatusCode::OK)
        .assert_lacks("<html")
        .assert_contains("<dialog class=\"dialog\" aria-labelledby=\"dialog-title\"")
        .assert_contains("viewer@acme.test")
        .assert_contains("data-close-dialog aria-label=\"Dismiss\">×</button>");
    owner
        .get(&remove_member(viewer_id))
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("<html")
        .assert_contains("aria-describedby=\"dialog-description\" open>");
    owner
        .remove_member(viewer_id)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get(MEMBERS)
        .await
        .assert_contains("Removed viewer@acme.test from Acme Payments.");
}

/// The invitation sent to `email` and the status it got.
async fn invite_status(owner: &mut Client, email: &str) -> StatusCode {
    owner.invite(email, Role::CanView).await.status
}

#[tokio::test]
async fn the_31st_invitation_in_a_day_is_refused_at_the_field_and_a_trial_organization_may_send_5()
{
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get(MEMBERS)
        .await
        .assert_contains("Acme Payments may send 30 invitations in any 24 hours");
    for i in 0..29 {
        let status = invite_status(&mut owner, &format!("daily{i}@acme.test")).await;
        assert_eq!(status, StatusCode::OK, "invitation {}", i + 1);
    }
    // Sending one again counts too: the 30th.
    let id = app
        .sql
        .scalar_i64("SELECT MAX(id) FROM invitations", &[])
        .await;
    let resend = format!("/settings/members/invitations/{id}/resend");
    owner.post(&resend, &[]).await.assert_status(StatusCode::OK);
    let refused = owner.invite("one-too-many@acme.test", Role::CanView).await;
    refused
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains("<p class=\"field-error\" id=\"email-error\">Your organization sent 30 invitations in the last 24 hours, the most it may send in a day. Try again later.</p>")
        .assert_contains("value=\"one-too-many@acme.test\"")
        .assert_lacks("invite-link");
    let retry_after: i64 = refused.header("retry-after").parse().unwrap();
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    owner
        .post(&resend, &[])
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains("Your organization sent 30 invitations in the last 24 hours");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM invitations WHERE email = 'one-too-many@acme.test'")
            .await,
        0
    );
    let actions = app.audit_actions().await;
    assert_eq!(
        actions.iter().filter(|a| *a == "member.invited").count(),
        29
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "member.invitation_resent")
            .count(),
        1
    );

    // A day after the first, there is room again.
    app.clock.advance(24 * 3600 + 1);
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(MEMBERS).await;
    let status = invite_status(&mut owner, "one-too-many@acme.test").await;
    assert_eq!(status, StatusCode::OK);

    // Globex, a trial organization, may send 5.
    let mut gus = app.sign_in_as(Persona::GlobexOwner).await;
    gus.get(MEMBERS)
        .await
        .assert_contains("Globex may send 5 invitations in any 24 hours");
    for i in 0..5 {
        let status = invite_status(&mut gus, &format!("trial{i}@globex.test")).await;
        assert_eq!(status, StatusCode::OK, "invitation {}", i + 1);
    }
    gus.invite("trial5@globex.test", Role::CanView)
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains("Your organization sent 5 invitations in the last 24 hours");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_daily_invitation_limit_holds_when_invitations_are_sent_at_once() {
    let app = TestApp::demo().await;
    let mut tasks = Vec::new();
    // Five owners' browsers send seven invitations each, all at once.
    for browser in 0..5 {
        let mut owner = app.sign_in_as(Persona::Owner).await;
        owner.get(MEMBERS).await;
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..7 {
                let email = format!("burst{browser}-{i}@acme.test");
                statuses.push(invite_status(&mut owner, &email).await);
            }
            statuses
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.extend(task.await.unwrap());
    }
    let sent = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((sent, refused), (30, 5), "{statuses:?}");
    assert_eq!(app.count("SELECT COUNT(*) FROM invitations").await, 30);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'member.invited'")
            .await,
        30
    );
}

/// An invitation page with what differs by design masked: the address,
/// the link and the form token.
fn masked_page(body: &str, link: &str, email: &str) -> String {
    let csrf = csrf_in(body).unwrap();
    body.replace(link, "[link]")
        .replace(email, "[email]")
        .replace(&csrf, "[csrf]")
}

#[tokio::test]
async fn the_link_page_reads_the_same_whether_or_not_an_account_exists() {
    let (smtp, app) = demo_with_mail().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let existing = owner
        .invitation_link("owner@globex.test", Role::CanView)
        .await;
    let unknown = owner
        .invitation_link("nobody@globex.test", Role::CanView)
        .await;
    let mut first = app.client();
    let mut second = app.client();
    let a = first.get(&existing).await;
    let b = second.get(&unknown).await;
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        masked_page(&a.body, &existing, "owner@globex.test"),
        masked_page(&b.body, &unknown, "nobody@globex.test")
    );
    a.assert_contains("Sign in and join")
        .assert_contains("Email me a code");
    // Asking for a code reads the same too.
    let a = first.post(&existing, &[("step", "send_code")]).await;
    let b = second.post(&unknown, &[("step", "send_code")]).await;
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(
        masked_page(&a.body, &existing, "owner@globex.test"),
        masked_page(&b.body, &unknown, "nobody@globex.test")
    );
    // Only the mailbox learns the difference: a code for a new account, or
    // a word that an account exists and signing in accepts.
    let to_gus = smtp.next_to("owner@globex.test", 1).await;
    assert!(
        to_gus.contains("You have a Keyward account for this address already")
            && !to_gus.contains("Your code is"),
        "{to_gus}"
    );
    let code = code_in(&smtp.next_to("nobody@globex.test", 1).await);
    // A made-up code is refused the same way for both.
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let a = create_account(&mut first, &existing, &wrong, "Gus", "a password of gus's").await;
    let b = create_account(&mut second, &unknown, &wrong, "Gus", "a password of gus's").await;
    assert_eq!(
        (a.status, b.status),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY
        )
    );
    a.assert_contains("This is not the code we emailed.");
    assert_eq!(
        masked_page(&a.body, &existing, "owner@globex.test"),
        masked_page(&b.body, &unknown, "nobody@globex.test")
    );
}

#[tokio::test]
async fn an_account_made_from_a_link_before_codes_is_taken_over_by_whoever_proves_the_address() {
    let (smtp, app) = demo_with_mail().await;
    // Before codes, whoever held a link made the account of its address; the
    // migration marks such accounts unproven.
    keyward::service::setup::add_user(
        &app.state,
        &keyward::domain::Email::parse("victim@acme.test").unwrap(),
        &keyward::domain::DisplayName::parse("Victim").unwrap(),
        &keyward::domain::Password::parse("the squatter's password").unwrap(),
        false,
        None,
    )
    .await
    .unwrap();
    app.sql
        .execute(
            "UPDATE users SET email_confirmed = FALSE WHERE email = 'victim@acme.test'",
            &[],
        )
        .await;
    let mut squatter = app.client();
    squatter
        .sign_in("victim@acme.test", "the squatter's password")
        .await
        .assert_status(StatusCode::SEE_OTHER);

    // Acme invites the address; its holder proves it and takes the account.
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let link = owner
        .invitation_link("victim@acme.test", Role::CanEdit)
        .await;
    let mut holder = app.client();
    let code = emailed_code(&smtp, &mut holder, &link, "victim@acme.test").await;
    create_account(
        &mut holder,
        &link,
        &code,
        "Vic Tim",
        "the holder's own password",
    )
    .await
    .assert_status(StatusCode::SEE_OTHER);
    holder
        .get(CREDENTIALS)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Vic Tim")
        .assert_contains("Acme Payments");
    // The squatter is out: session ended, password gone.
    let ended = squatter.get(CREDENTIALS).await;
    ended.assert_status(StatusCode::SEE_OTHER);
    assert_eq!(ended.location(), LOGIN);
    squatter
        .sign_in("victim@acme.test", "the squatter's password")
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'victim@acme.test'")
            .await,
        1
    );
    assert!(
        app.audit_detail("member.joined")
            .await
            .contains("\"account_taken_over\":true")
    );
}

#[tokio::test]
async fn names_that_read_as_other_text_are_refused_at_the_field_and_the_mail_subject_is_keywards() {
    let (smtp, app) = demo_with_mail().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(ORGANIZATION).await;
    owner
        .save_organization("=?utf-8?q?Keyward_Security?=", false)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("<p class=\"field-error\" id=\"org_name-error\">The organization name cannot contain “=?” followed by “?=”");
    owner
        .save_organization("Acme \u{202E}syaP", false)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("<p class=\"field-error\" id=\"org_name-error\">The organization name cannot contain invisible formatting characters");
    // A name that reads as an instruction may be chosen; email quotes it and
    // makes no link of it, and the subject is Keyward's.
    owner
        .save_organization("URGENT: verify at https://evil.example/login", false)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let link = owner.invitation_link("mia@acme.test", Role::CanView).await;
    let mail = smtp.next_to("mia@acme.test", 0).await;
    assert_eq!(
        header(&mail, "Subject").as_deref(),
        Some(
            "You are invited to join \"URGENT: verify at https[:]//evil[.]example/login\" on Keyward"
        ),
        "{mail}"
    );
    assert!(
        mail.contains("\"Olivia Owner\" invited you to join the organization \"URGENT: verify at https[:]//evil[.]example/login\" on Keyward"),
        "{mail}"
    );
    assert!(!mail.contains("https://evil.example"), "{mail}");

    // The invitee's name is refused at its field the same way.
    let mut mia = app.client();
    let code = emailed_code(&smtp, &mut mia, &link, "mia@acme.test").await;
    for name in ["Mia \u{202E}aiM", "=?utf-8?q?Olivia_Owner?="] {
        create_account(&mut mia, &link, &code, name, "mia's own password")
            .await
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains(
                "<p class=\"field-error\" id=\"display_name-error\">The name cannot contain",
            );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'mia@acme.test'")
            .await,
        0
    );
}

#[tokio::test]
async fn an_existing_member_accepting_an_open_invitation_is_told_so_not_given_an_error() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let link = owner
        .invitation_link("owner@globex.test", Role::CanEdit)
        .await;
    // Meanwhile the operator adds Gus to Acme, as an admin who can view.
    let acme = app.org_id("Acme Payments").await;
    let gus_id = app.user_id("owner@globex.test").await;
    app.sql
        .execute(
            "INSERT INTO memberships (organization_id, user_id, role, credentials_permission, created_at) VALUES ($1, $2, 'admin', 'view', 0)",
            &[acme.into(), gus_id.into()],
        )
        .await;
    let mut gus = app.client();
    gus.accept_invitation(&link, &[("step", "sign_in"), ("password", PASSWORD)])
        .await
        .assert_status(StatusCode::CONFLICT)
        .assert_contains("You are a member of Acme Payments already")
        .assert_contains("Continue to Acme Payments");
    // His access stays as it was; the link is used.
    let permission = app
        .sql
        .string(
            "SELECT credentials_permission FROM memberships WHERE organization_id = $1 AND user_id = $2",
            &[acme.into(), gus_id.into()],
        )
        .await;
    assert_eq!(permission, "view");
    app.client()
        .get(&link)
        .await
        .assert_status(StatusCode::GONE)
        .assert_contains("This invitation has been used already.");
}

#[tokio::test]
async fn without_email_the_link_page_says_no_account_can_be_made_and_an_existing_one_still_joins() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(MEMBERS).await;
    let invited = owner.invite("newbie@acme.test", Role::CanView).await;
    invited.assert_contains(
        "Email is not set up on this server: copy the link and send it to newbie@acme.test yourself.",
    );
    let link = invitation_path_in(&invited.body).unwrap();
    let mut newbie = app.client();
    newbie
        .get(&link)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("This Keyward server cannot send email, so it cannot prove that newbie@acme.test is yours")
        .assert_contains("Sign in and join")
        .assert_lacks("Email me a code");
    newbie
        .post(&link, &[("step", "send_code")])
        .await
        .assert_status(StatusCode::SERVICE_UNAVAILABLE)
        .assert_contains("This Keyward server cannot send email");
    create_account(
        &mut newbie,
        &link,
        "000000",
        "New Bie",
        "newbie's own password",
    )
    .await
    .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
    .assert_contains("This code has expired, or was never sent.");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'newbie@acme.test'")
            .await,
        0
    );
    // Someone with an account signs in on the link's page and joins.
    let link = owner
        .invitation_link("owner@globex.test", Role::CanView)
        .await;
    let mut gus = app.client();
    gus.accept_invitation(&link, &[("step", "sign_in"), ("password", PASSWORD)])
        .await
        .assert_status(StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_code_works_for_15_minutes_and_an_invitation_gets_3_codes() {
    let (smtp, app) = demo_with_mail().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let link = owner.invitation_link("slow@acme.test", Role::CanView).await;
    let mut slow = app.client();
    let first = emailed_code(&smtp, &mut slow, &link, "slow@acme.test").await;
    app.clock.advance(15 * 60);
    create_account(&mut slow, &link, &first, "Sol Slow", "sol's own password")
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("<p class=\"field-error\" id=\"code-error\">This code has expired, or was never sent. Ask for a new code.</p>");
    // A new code replaces it; the old one no longer works.
    let second = emailed_code(&smtp, &mut slow, &link, "slow@acme.test").await;
    if first != second {
        create_account(&mut slow, &link, &first, "Sol Slow", "sol's own password")
            .await
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains("This is not the code we emailed.");
    }
    emailed_code(&smtp, &mut slow, &link, "slow@acme.test").await;
    // A fourth is refused: whoever holds the link cannot flood the address.
    let seen = smtp.delivered_to("slow@acme.test").len();
    slow.post(&link, &[("step", "send_code")])
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains("We sent 3 codes for this invitation, the most we send.");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.delivered_to("slow@acme.test").len(), seen);
    // Each code sent is in the organization's audit log, the refused one not.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_events WHERE action = 'member.invitation_code_sent' AND target = 'slow@acme.test'")
            .await,
        3
    );
    owner
        .get(AUDIT_LOG)
        .await
        .assert_contains("was emailed a code to create an account from the invitation of");
    // What is stored is a digest, not the code.
    let stored = app
        .sql
        .string(
            "SELECT code_digest FROM invitations WHERE email = 'slow@acme.test'",
            &[],
        )
        .await;
    assert!(
        stored.len() == 64 && stored.bytes().all(|b| b.is_ascii_hexdigit()),
        "{stored}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'slow@acme.test'")
            .await,
        0
    );
}

#[tokio::test]
async fn the_migration_marks_unproven_only_the_accounts_made_from_a_link() {
    let (smtp, app) = demo_with_mail().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    // An account made from a link: made and joined at once.
    let link = owner.invitation_link("made@acme.test", Role::CanView).await;
    let mut made = app.client();
    let code = emailed_code(&smtp, &mut made, &link, "made@acme.test").await;
    create_account(&mut made, &link, &code, "Made Here", "made's own password")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    // An account the operator made, which joined later by a link.
    app.clock.advance(60);
    let link = owner
        .invitation_link("owner@globex.test", Role::CanView)
        .await;
    app.client()
        .accept_invitation(&link, &[("step", "sign_in"), ("password", PASSWORD)])
        .await
        .assert_status(StatusCode::SEE_OTHER);

    // As before the migration: every account counted as proven.
    app.sql
        .execute("UPDATE users SET email_confirmed = TRUE", &[])
        .await;
    let migration = match testdb::backend() {
        testdb::Backend::Sqlite => {
            include_str!("../../migrations/sqlite/0014_invitation_codes.sql")
        }
        testdb::Backend::Postgres => {
            include_str!("../../migrations/postgres/0014_invitation_codes.sql")
        }
    };
    let update = &migration[migration.find("UPDATE users").unwrap()..];
    app.sql
        .execute(update.trim().trim_end_matches(';'), &[])
        .await;
    let unproven = app
        .sql
        .strings(
            "SELECT email FROM users WHERE NOT email_confirmed ORDER BY email",
            &[],
        )
        .await;
    assert_eq!(unproven, vec!["made@acme.test".to_owned()]);
}

#[tokio::test]
async fn an_address_gets_at_most_ten_codes_a_day_however_often_it_is_invited_again() {
    let (smtp, app) = demo_with_mail().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let email = "target@example.com";
    let mut link = owner.invitation_link(email, Role::CanView).await;
    let id = app
        .sql
        .scalar_i64("SELECT MAX(id) FROM invitations", &[])
        .await;
    let resend = format!("/settings/members/invitations/{id}/resend");
    let send_again = async |owner: &mut Client| {
        owner.get(MEMBERS).await;
        let again = owner.post(&resend, &[]).await;
        again.assert_status(StatusCode::OK);
        invitation_path_in(&again.body).expect("the new link is shown")
    };
    let mut holder = app.client();
    for n in 0..10 {
        // Three codes an invitation; sending it again starts those over.
        if n > 0 && n % 3 == 0 {
            link = send_again(&mut owner).await;
        }
        emailed_code(&smtp, &mut holder, &link, email).await;
    }
    // The invitation would allow another; the address has had its ten.
    link = send_again(&mut owner).await;
    let seen = smtp.delivered_to(email).len();
    holder.get(&link).await.assert_status(StatusCode::OK);
    holder
        .post(&link, &[("step", "send_code")])
        .await
        .assert_status(StatusCode::TOO_MANY_REQUESTS)
        .assert_contains("We emailed 10 codes to this address in the last 24 hours");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.delivered_to(email).len(), seen);
    // A day later, codes go out again.
    app.clock.advance(86_400);
    emailed_code(&smtp, &mut holder, &link, email).await;
}
