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

#[tokio::test]
async fn an_invited_person_creates_their_own_account_or_signs_in_and_joins() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;

    // Someone without an account: the link is shown once, to copy.
    owner.get(MEMBERS).await;
    let invited = owner.invite("New@Acme.test", Role::CanEdit).await;
    invited
        .assert_status(StatusCode::OK)
        .assert_contains("Invited new@acme.test as Admin · API Credentials: Can Edit.")
        .assert_contains("Email is not set up on this server: copy the link and send it to new@acme.test yourself.");
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
        .assert_contains("Create account and join");
    invitee
        .post(
            &link,
            &[
                ("display_name", "Nina New"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("at least 12 characters");
    let joined = invitee
        .post(
            &link,
            &[
                ("display_name", "Nina New"),
                ("password", "nina's own password"),
                ("password_confirm", "nina's own password"),
            ],
        )
        .await;
    joined.assert_status(StatusCode::SEE_OTHER);
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
        .assert_contains("You have a Keyward account for owner@globex.test: sign in to accept.");
    gus.post(&link, &[("password", "not the password")])
        .await
        .assert_status(StatusCode::UNAUTHORIZED)
        .assert_contains("Incorrect email or password.");
    gus.post(&link, &[("password", PASSWORD)])
        .await
        .assert_status(StatusCode::SEE_OTHER);
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
    let app = TestApp::demo().await;
    app.upgrade_globex().await;
    let mut acme = app.sign_in_as(Persona::Owner).await;
    let mut globex = app.sign_in_as(Persona::GlobexOwner).await;
    let to_acme = acme.invitation_link("shared@new.test", Role::CanView).await;
    let to_globex = globex
        .invitation_link("shared@new.test", Role::CanView)
        .await;
    let mut first = app.client();
    let mut second = app.client();
    first.get(&to_acme).await;
    second.get(&to_globex).await;
    let fields = [
        ("display_name", "Sam Shared"),
        ("password", "sam's own password"),
        ("password_confirm", "sam's own password"),
    ];
    // Each organization's lock holds back only its own writers, so on
    // PostgreSQL the two inserts of the user can really meet.
    let (a, b) = futures::join!(
        first.post(&to_acme, &fields),
        second.post(&to_globex, &fields)
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
