//! Members and Organization pages: owners only, the last owner protected,
//! role changes effective at once.

use axum::http::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn only_owners_reach_members_and_organization_routes() {
    let app = TestApp::demo().await;
    let viewer_id = app.user_id("viewer@acme.test").await.to_string();
    let routes: Vec<Route> = vec![
        ("GET", "/settings/members".into(), vec![]),
        (
            "POST",
            "/settings/members".into(),
            vec![
                ("email", "new@acme.test"),
                ("display_name", "New"),
                ("access", "owner"),
            ],
        ),
        (
            "POST",
            format!("/settings/members/{viewer_id}"),
            vec![("access", "owner")],
        ),
        (
            "GET",
            format!("/settings/members/{viewer_id}/remove"),
            vec![],
        ),
        (
            "POST",
            format!("/settings/members/{viewer_id}/remove"),
            vec![],
        ),
        ("GET", "/settings/organization".into(), vec![]),
        (
            "POST",
            "/settings/organization".into(),
            vec![("org_name", "Hijacked"), ("require_approval", "on")],
        ),
    ];
    for persona in [Persona::AdminEdit, Persona::AdminView, Persona::Support] {
        let mut browser = app.signed_in(persona).await;
        browser.get("/settings/credentials").await;
        for route in &routes {
            let response = browser.call(route).await;
            response
                .assert_status(StatusCode::FORBIDDEN)
                .assert_contains("Only organization owners can do this.");
        }
    }
    // Another organization's owner: Acme's member ids do not exist for them.
    let mut globex = app.signed_in(Persona::OtherOwner).await;
    globex
        .get("/settings/members")
        .await
        .assert_status(StatusCode::OK)
        .assert_lacks("viewer@acme.test");
    for route in &routes[2..5] {
        let response = globex.call(route).await;
        response.assert_status(StatusCode::NOT_FOUND);
    }
    // Signed out: to the sign-in page.
    let mut stranger = app.client();
    stranger.get("/login").await;
    for route in &routes {
        let response = stranger.call(route).await;
        response.assert_status(StatusCode::SEE_OTHER);
        assert_eq!(response.location(), "/login", "{route:?}");
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
async fn an_owner_adds_an_existing_user_and_a_new_one_who_can_then_sign_in() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    owner.get("/settings/members").await;

    // An existing user of another organization.
    let added = owner
        .post(
            "/settings/members",
            &[("email", "Owner@Globex.test"), ("access", "admin-view")],
        )
        .await;
    added.assert_status(StatusCode::SEE_OTHER);
    owner
        .get("/settings/members")
        .await
        .assert_contains("Added owner@globex.test as Admin · API Credentials: Can View.")
        .assert_contains("Gus Globex");

    // A new user needs a name...
    owner
        .post(
            "/settings/members",
            &[("email", "new@acme.test"), ("access", "admin-edit")],
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("This email has no Keyward account yet");
    // ...and gets a temporary password shown once.
    let created = owner
        .post(
            "/settings/members",
            &[
                ("email", "new@acme.test"),
                ("display_name", "Nina New"),
                ("access", "admin-edit"),
            ],
        )
        .await;
    created
        .assert_status(StatusCode::OK)
        .assert_contains("Temporary password for new@acme.test");
    let marker = "<code id=\"temp-password\">";
    let start = created.body.find(marker).unwrap() + marker.len();
    let password = &created.body[start..start + 20];
    owner.get("/settings/members").await.assert_lacks(password);
    app.client()
        .sign_in("new@acme.test", password)
        .await
        .assert_status(StatusCode::SEE_OTHER);

    // Adding someone twice is refused at the field.
    owner
        .post(
            "/settings/members",
            &[("email", "new@acme.test"), ("access", "owner")],
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("new@acme.test is already a member of this organization.");
    owner
        .post(
            "/settings/members",
            &[("email", "support@keyward.test"), ("access", "owner")],
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    owner
        .post(
            "/settings/members",
            &[
                ("email", "x@acme.test"),
                ("display_name", "X"),
                ("access", "superuser"),
            ],
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Choose a role.");

    let actions = app.audit_actions().await;
    assert_eq!(actions.iter().filter(|a| *a == "member.added").count(), 2);
    // The temporary password is in no audit event.
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE detail LIKE '%{password}%'"
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed() {
    let app = TestApp::demo().await;
    let owner_id = app.user_id("owner@acme.test").await;
    let mut owner = app.signed_in(Persona::Owner).await;
    owner.get("/settings/members").await;
    owner
        .post(
            &format!("/settings/members/{owner_id}"),
            &[("access", "admin-edit")],
        )
        .await
        .assert_status(StatusCode::CONFLICT)
        .assert_contains("An organization must keep at least one owner.");
    owner
        .post(&format!("/settings/members/{owner_id}/remove"), &[])
        .await
        .assert_status(StatusCode::CONFLICT)
        .assert_contains("An organization must keep at least one owner.");

    // With a second owner, the first may step down.
    let admin_id = app.user_id("admin@acme.test").await;
    owner
        .post(
            &format!("/settings/members/{admin_id}"),
            &[("access", "owner")],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .post(
            &format!("/settings/members/{owner_id}"),
            &[("access", "admin-view")],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    // Now no longer an owner, the next request is refused.
    owner
        .get("/settings/members")
        .await
        .assert_status(StatusCode::FORBIDDEN);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM memberships m JOIN organizations o ON o.id = m.organization_id WHERE o.name = 'Acme Payments' AND role = 'owner'").await,
        1
    );
}

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let app = TestApp::demo().await;
    let owner_id = app.user_id("owner@acme.test").await;
    let admin_id = app.user_id("admin@acme.test").await;
    let mut first = app.signed_in(Persona::Owner).await;
    first.get("/settings/members").await;
    first
        .post(
            &format!("/settings/members/{admin_id}"),
            &[("access", "owner")],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let mut second = app.signed_in(Persona::AdminEdit).await;
    second
        .get("/settings/members")
        .await
        .assert_status(StatusCode::OK);

    let a = format!("/settings/members/{admin_id}");
    let b = format!("/settings/members/{owner_id}");
    let (ra, rb) = tokio::join!(
        first.post(&a, &[("access", "admin-view")]),
        second.post(&b, &[("access", "admin-view")]),
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
    assert_eq!(
        app.count("SELECT COUNT(*) FROM memberships m JOIN organizations o ON o.id = m.organization_id WHERE o.name = 'Acme Payments' AND role = 'owner'").await,
        1
    );
}

#[tokio::test]
async fn a_role_change_applies_on_the_next_request_with_a_new_session_id() {
    let app = TestApp::demo().await;
    let admin_id = app.user_id("admin@acme.test").await;
    let mut admin = app.signed_in(Persona::AdminEdit).await;
    admin
        .get("/settings/credentials")
        .await
        .assert_contains("Admin · API Credentials: Can Edit");
    let before = admin.cookie.clone();

    let mut owner = app.signed_in(Persona::Owner).await;
    owner.get("/settings/members").await;
    owner
        .post(
            &format!("/settings/members/{admin_id}"),
            &[("access", "admin-view")],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get("/settings/members")
        .await
        .assert_contains("admin@acme.test is now Admin · API Credentials: Can View.");

    let next = admin.get("/settings/credentials").await;
    next.assert_status(StatusCode::OK)
        .assert_contains("Admin · API Credentials: Can View");
    assert!(next.session_cookie().is_some());
    assert_ne!(
        admin.cookie, before,
        "the session id is cycled on a change of role"
    );
    let changed: String = keyward::on!(app.state.db, |e| sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE action = 'member.changed'"
    )
    .fetch_one(e)
    .await)
    .unwrap();
    assert_eq!(changed, r#"{"after":"admin-view","before":"admin-edit"}"#);
}

#[tokio::test]
async fn a_removed_member_is_signed_out_on_their_next_request() {
    let app = TestApp::demo().await;
    let viewer_id = app.user_id("viewer@acme.test").await;
    let mut viewer = app.signed_in(Persona::AdminView).await;
    viewer
        .get("/settings/credentials")
        .await
        .assert_status(StatusCode::OK);

    let mut owner = app.signed_in(Persona::Owner).await;
    owner
        .get(&format!("/settings/members/{viewer_id}/remove"))
        .await
        .assert_contains("Remove <span class=\"strong\">Vera Viewer</span>");
    owner
        .post(&format!("/settings/members/{viewer_id}/remove"), &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get("/settings/members")
        .await
        .assert_contains("Removed viewer@acme.test from Acme Payments.")
        .assert_lacks("Vera Viewer");

    assert_eq!(
        viewer.get("/settings/credentials").await.location(),
        "/login"
    );
    // Signing in again works, but they belong to no organization now.
    let mut again = app.signed_in(Persona::AdminView).await;
    again
        .get("/settings/credentials")
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("You are not a member of any organization.");
    assert!(
        app.audit_actions()
            .await
            .contains(&"member.removed".to_owned())
    );
}

#[tokio::test]
async fn owners_change_the_organization_name_and_approval_setting() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    owner
        .get("/settings/organization")
        .await
        .assert_contains("Standard")
        .assert_contains("Require approval for new credentials");
    owner
        .post(
            "/settings/organization",
            &[("org_name", "Acme Pay"), ("require_approval", "on")],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get("/settings/organization")
        .await
        .assert_contains("Organization settings saved.")
        .assert_contains("value=\"Acme Pay\"")
        .assert_contains("checked");
    owner
        .post("/settings/organization", &[("org_name", "A")])
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Enter a organization name of 2 to 80 characters.");
    let org = app.state.db.org_by_name("Acme Pay").await.unwrap().unwrap();
    assert!(org.require_approval);
    let detail: String = keyward::on!(app.state.db, |e| sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE action = 'organization.updated'"
    )
    .fetch_one(e)
    .await)
    .unwrap();
    assert!(
        detail.contains("\"before\":{\"name\":\"Acme Payments\",\"require_approval\":false}"),
        "{detail}"
    );
}

#[tokio::test]
async fn two_organizations_adding_the_same_new_email_at_once_make_one_account() {
    let app = TestApp::demo().await;
    let mut acme = app.signed_in(Persona::Owner).await;
    let mut globex = app.signed_in(Persona::OtherOwner).await;
    acme.get("/settings/members").await;
    globex.get("/settings/members").await;
    let fields = [
        ("email", "shared@new.test"),
        ("display_name", "Sam Shared"),
        ("access", "admin-view"),
    ];
    // Each organization's lock holds back only its own writers, so on
    // PostgreSQL the two inserts of the user can really meet.
    let (a, b) = futures::join!(
        acme.post("/settings/members", &fields),
        globex.post("/settings/members", &fields)
    );
    for response in [&a, &b] {
        assert!(
            [StatusCode::OK, StatusCode::CONFLICT].contains(&response.status),
            "got {}",
            response.status
        );
    }
    // Both checked the email before either created the account: one creates
    // it and shows its temporary password; the other is asked to submit again
    // (which then adds the existing account), never shown a password that
    // is not the account's.
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let refused = if a.status == StatusCode::CONFLICT {
        &a
    } else {
        &b
    };
    refused
        .assert_contains("This account changed meanwhile. Submit the form again.")
        .assert_lacks("Temporary password");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'shared@new.test'")
            .await,
        1
    );
}
