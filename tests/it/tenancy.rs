//! One organization cannot reach into another, nor into its people's
//! accounts: each of the defects an attacker with an organization of their
//! own found, reproduced the way they did it, and shown closed.

use axum::http::StatusCode;

use crate::members::{create_account, demo_with_mail, emailed_code};
use crate::support::pages::*;
use crate::support::*;

/// The Members page's answer to an invitation (its message and the link's
/// box), with what differs by design (the email and the link) masked.
fn masked(body: &str, email: &str) -> String {
    let link = invitation_path_in(body).unwrap();
    let start = body.find("<p class=\"alert success\"").unwrap();
    let end = body[start..].find("</section>").unwrap() + start;
    body[start..end]
        .replace(&link, "[link]")
        .replace(email, "[email]")
}

#[tokio::test]
async fn another_organizations_owner_cannot_pre_hijack_an_account_acme_later_invites() {
    let (smtp, app) = demo_with_mail().await;
    // Globex's owner (a trial organization) invites an Acme address and,
    // holding the link, tries to make the account with a password he knows.
    let mut gus = app.sign_in_as(Persona::GlobexOwner).await;
    let link = gus
        .invitation_link("newhire@acme.test", Role::CanEdit)
        .await;
    let mut attacker = app.client();
    attacker.get(&link).await.assert_status(StatusCode::OK);
    // Without a code, none was sent: refused at the field.
    create_account(
        &mut attacker,
        &link,
        "123456",
        "New Hire",
        "globex knows this one",
    )
    .await
    .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
    .assert_contains("This code has expired, or was never sent.");
    // The code goes to the address, not to whoever holds the link.
    attacker
        .post(&link, &[("step", "send_code")])
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("We emailed a code to newhire@acme.test.");
    let code = code_in(&smtp.next_to("newhire@acme.test", 1).await);
    // Guessing: five wrong codes, then even the right one is refused.
    for guess in 0..5 {
        let guess = format!(
            "{:06}",
            (code.parse::<u32>().unwrap() + 1 + guess) % 1_000_000
        );
        create_account(
            &mut attacker,
            &link,
            &guess,
            "New Hire",
            "globex knows this one",
        )
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("This is not the code we emailed.");
    }
    create_account(
        &mut attacker,
        &link,
        &code,
        "New Hire",
        "globex knows this one",
    )
    .await
    .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
    .assert_contains("Too many wrong codes were entered.");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'newhire@acme.test'")
            .await,
        0,
        "no account without the code"
    );
    app.client()
        .sign_in("newhire@acme.test", "globex knows this one")
        .await
        .assert_status(StatusCode::UNAUTHORIZED);

    // Acme's owner invites the same address; its holder reads the code and
    // makes the account, with a password only they know.
    let mut olivia = app.sign_in_as(Persona::Owner).await;
    let acme_link = olivia
        .invitation_link("newhire@acme.test", Role::CanEdit)
        .await;
    let mut holder = app.client();
    let code = emailed_code(&smtp, &mut holder, &acme_link, "newhire@acme.test").await;
    create_account(
        &mut holder,
        &acme_link,
        &code,
        "Nia Hire",
        "nia's own password",
    )
    .await
    .assert_status(StatusCode::SEE_OTHER);
    holder
        .get(CREDENTIALS)
        .await
        .assert_contains("Nia Hire")
        .assert_contains("Acme Payments")
        .assert_lacks("Globex");
    let globex = app.org_id("Globex").await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = 'newhire@acme.test' AND m.organization_id = {globex}"
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn another_organization_cannot_attach_an_account_nor_learn_whether_it_exists() {
    let app = TestApp::demo().await;
    let mut gus = app.sign_in_as(Persona::GlobexOwner).await;
    gus.get(MEMBERS).await;
    let existing = gus.invite("viewer@acme.test", Role::CanView).await;
    gus.get(MEMBERS).await;
    let unknown = gus.invite("nobody-yet@acme.test", Role::CanView).await;
    existing.assert_status(StatusCode::OK);
    unknown.assert_status(StatusCode::OK);
    // The same answer whether or not an account exists.
    assert_eq!(
        masked(&existing.body, "viewer@acme.test").replace("nobody-yet@acme.test", "[email]"),
        masked(&unknown.body, "nobody-yet@acme.test").replace("viewer@acme.test", "[email]"),
    );
    // No membership exists until the link is used.
    let globex = app.org_id("Globex").await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM memberships WHERE organization_id = {globex}"
        ))
        .await,
        1
    );
    // The victim's sign-ins, failed or not, reach no organization's log.
    let mut vera = app.client();
    vera.sign_in("viewer@acme.test", "a wrong password").await;
    vera.sign_in("viewer@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_events WHERE action IN ('sign_in', 'sign_in.failed') AND organization_id IS NOT NULL"
        )
        .await,
        0
    );
    // They are hers to see, on her Account page.
    vera.get(ACCOUNT)
        .await
        .assert_contains("Recent sign-ins")
        .assert_contains("Failed sign-in (wrong password)")
        .assert_contains("Signed in")
        .assert_contains("192.0.2.10");
}

#[tokio::test]
async fn expired_revoked_and_reused_links_get_a_clear_page() {
    let (smtp, app) = demo_with_mail().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let fields = [
        ("display_name", "Late Comer"),
        ("password", "a password of mine"),
        ("password_confirm", "a password of mine"),
    ];

    let expired = owner.invitation_link("late@acme.test", Role::CanView).await;
    // Opened in time, sent too late.
    let mut late = app.client();
    late.get(&expired).await.assert_status(StatusCode::OK);
    // Good for 7 days: a minute before, the page still asks.
    app.clock.advance(7 * 24 * 3600 - 60);
    late.get(&expired).await.assert_status(StatusCode::OK);
    app.clock.advance(61);
    late.post(&expired, &fields)
        .await
        .assert_status(StatusCode::GONE)
        .assert_contains("This invitation has expired.");
    late.get(&expired)
        .await
        .assert_status(StatusCode::GONE)
        .assert_contains("This invitation has expired.")
        .assert_lacks("Create account");

    // Sent again: a new link; the old one stays dead.
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(MEMBERS).await.assert_contains("Expired");
    let id = app
        .sql
        .scalar_i64(
            "SELECT id FROM invitations WHERE email = 'late@acme.test'",
            &[],
        )
        .await;
    let again = owner
        .post(&format!("/settings/members/invitations/{id}/resend"), &[])
        .await;
    again.assert_status(StatusCode::OK);
    let fresh = invitation_path_in(&again.body).unwrap();
    assert_ne!(fresh, expired);
    // The replaced link names nothing any more.
    app.client()
        .get(&expired)
        .await
        .assert_status(StatusCode::NOT_FOUND)
        .assert_contains("This invitation link is not valid.");

    // Revoked.
    owner.get(MEMBERS).await;
    owner
        .post(&format!("/settings/members/invitations/{id}/revoke"), &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    app.client()
        .get(&fresh)
        .await
        .assert_status(StatusCode::GONE)
        .assert_contains("This invitation was withdrawn.");

    // Used, then reused.
    let used = owner.invitation_link("once@acme.test", Role::CanView).await;
    let mut first = app.client();
    let code = emailed_code(&smtp, &mut first, &used, "once@acme.test").await;
    create_account(&mut first, &used, &code, "Una Once", "a password of mine")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let mut second = app.client();
    second
        .get(&used)
        .await
        .assert_status(StatusCode::GONE)
        .assert_contains("This invitation has been used already.");

    // Made up.
    app.client()
        .get("/invitations/kwinv_0000000000000000000000000000000000000000000")
        .await
        .assert_status(StatusCode::NOT_FOUND)
        .assert_contains("This invitation link is not valid.");
    let actions = app.audit_actions().await;
    for action in [
        "member.invited",
        "member.invitation_resent",
        "member.invitation_revoked",
        "member.joined",
    ] {
        assert!(actions.contains(&action.to_owned()), "{action}");
    }
}

#[tokio::test]
async fn a_removed_or_demoted_requester_frees_the_place_their_approved_request_held() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.require_approval().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(NEW_CREDENTIAL).await;
    for name in ["Payout batcher", "Refund worker"] {
        admin
            .request_credential(name, "The nightly jobs need their own credentials.")
            .await
            .assert_status(StatusCode::SEE_OTHER);
    }
    let ids = app
        .sql
        .strings(
            "SELECT request_id FROM credential_requests ORDER BY id",
            &[],
        )
        .await;
    owner.get(CREDENTIALS).await;
    owner
        .approve(&ids[0])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    // 1 credential + 2 requests: the organization is full, and the count adds up.
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains("maximum of 3 API credentials")
        .assert_contains("1 credential + 2 requests = 3 of 3");

    // The requester loses Can Edit: both requests are cancelled.
    let admin_id = app.user_id("admin@acme.test").await;
    owner.get(MEMBERS).await;
    owner
        .change_role(admin_id, Role::CanView)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credential_requests WHERE status = 'cancelled'")
            .await,
        2
    );
    let page = owner.get(CREDENTIALS).await;
    page.assert_lacks("maximum of 3 API credentials");
    page.assert_contains("Cancelled");
    owner.create_credential("Owner's own").await;

    // An owner cancels an approved request; an approval unused for a week expires.
    owner.get(MEMBERS).await;
    owner
        .change_role(admin_id, Role::CanEdit)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(NEW_CREDENTIAL).await;
    admin
        .request_credential("Ledger sync", "Ledger reconciliation runs hourly.")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let ledger = app
        .sql
        .string(
            "SELECT request_id FROM credential_requests WHERE name = 'Ledger sync'",
            &[],
        )
        .await;
    owner.get(CREDENTIALS).await;
    owner
        .approve(&ledger)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    app.clock.advance(7 * 24 * 3600 + 1);
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin
        .get(CREDENTIALS)
        .await
        .assert_contains("Approval expired")
        .assert_lacks("Generate key");
    admin
        .generate(&ledger)
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("This request is expired, not approved.");
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(CREDENTIALS).await;
    owner
        .post(
            &format!("/settings/credentials/requests/{ledger}/cancel"),
            &[],
        )
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains(
            "Only a pending or approved request can be cancelled; this one is expired.",
        );
    admin.get(NEW_CREDENTIAL).await;
    admin
        .request_credential("Ledger sync", "Ledger reconciliation runs hourly.")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let again = app
        .sql
        .string(
            "SELECT request_id FROM credential_requests WHERE name = 'Ledger sync' AND status = 'pending'",
            &[],
        )
        .await;
    owner.get(CREDENTIALS).await;
    owner
        .approve(&again)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .post(
            &format!("/settings/credentials/requests/{again}/cancel"),
            &[],
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert!(
        app.audit_actions()
            .await
            .contains(&"credential.request_cancelled".to_owned())
    );

    // The requester is removed: their pending request is cancelled with them.
    admin.get(NEW_CREDENTIAL).await;
    admin
        .request_credential("Chargeback feed", "The chargeback feed needs its own.")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner.get(MEMBERS).await;
    owner
        .remove_member(admin_id)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let status = app
        .sql
        .string(
            "SELECT status FROM credential_requests WHERE name = 'Chargeback feed'",
            &[],
        )
        .await;
    assert_eq!(status, "cancelled");
}

#[tokio::test]
async fn with_approval_required_an_edit_that_widens_a_credential_is_a_request() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (client_id, _) = owner.create_credential("Monitoring agent").await;
    owner.require_approval().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;

    let wider = with_grant(
        credential_fields("Monitoring agent"),
        "webhooks:read,delete",
    );
    admin.get(&credential(&client_id, "edit")).await;
    admin
        .edit_credential(&client_id, &wider)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("This change widens the credential")
        .assert_contains("so an owner must approve it");
    let mut explained = wider.clone();
    explained.push(("justification", "Webhook cleanup needs delete."));
    admin
        .edit_credential(&client_id, &explained)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let scopes = "SELECT permissions FROM credentials WHERE client_id = $1";
    let stored = app.sql.string(scopes, &[(&client_id).into()]).await;
    assert!(!stored.contains("webhooks:delete:org"), "{stored}");
    // An owner approves: the change applies then.
    let request = app
        .sql
        .string(
            "SELECT request_id FROM credential_requests WHERE credential_id IS NOT NULL",
            &[],
        )
        .await;
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains("Change to Monitoring agent");
    owner
        .approve(&request)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let stored = app.sql.string(scopes, &[(&client_id).into()]).await;
    assert!(stored.contains("webhooks:delete:org"), "{stored}");

    // Narrowing (and renaming) applies at once.
    let narrower = credential_fields("Monitoring agent v2");
    admin.get(&credential(&client_id, "edit")).await;
    admin
        .edit_credential(&client_id, &narrower)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let name = app
        .sql
        .string(
            "SELECT name FROM credentials WHERE client_id = $1",
            &[(&client_id).into()],
        )
        .await;
    assert_eq!(name, "Monitoring agent v2");
}

#[tokio::test]
async fn the_invitation_is_emailed_through_a_real_smtp_server_and_its_link_joins() {
    let (smtp, app) = demo_with_mail().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(MEMBERS).await;
    let invited = owner.invite("mia@acme.test", Role::CanEdit).await;
    invited
        .assert_status(StatusCode::OK)
        .assert_contains("We emailed it to mia@acme.test.");
    let shown = invitation_path_in(&invited.body).unwrap();

    let messages = smtp.messages_to("mia@acme.test").await;
    assert_eq!(messages.len(), 1, "one email");
    let email = &messages[0];
    assert!(
        email.contains("Subject: You are invited to join \"Acme Payments\" on Keyward"),
        "{email}"
    );
    assert!(
        email.contains("From: Keyward <keyward@acme.test>"),
        "{email}"
    );
    let start = email
        .find("http://127.0.0.1:8080/invitations/")
        .expect("the link is in the email");
    let link = email[start..].split_whitespace().next().unwrap();
    let path = link.trim_start_matches("http://127.0.0.1:8080");
    assert_eq!(path, shown, "the email carries the link the owner saw");

    // Sent again: a second email with a new link; the first one is dead.
    let id = app
        .sql
        .scalar_i64(
            "SELECT id FROM invitations WHERE email = 'mia@acme.test'",
            &[],
        )
        .await;
    owner.get(MEMBERS).await;
    owner
        .post(&format!("/settings/members/invitations/{id}/resend"), &[])
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("We emailed it to mia@acme.test.");
    let mut messages = smtp.messages_to("mia@acme.test").await;
    for _ in 0..100 {
        if messages.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        messages = smtp.messages_to("mia@acme.test").await;
    }
    assert_eq!(messages.len(), 2, "a second email");
    let start = messages[1].find("/invitations/").unwrap();
    let second = messages[1][start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(second, path);
    app.client()
        .get(path)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    let path = second.as_str();

    let mut mia = app.client();
    let code = emailed_code(&smtp, &mut mia, path, "mia@acme.test").await;
    create_account(&mut mia, path, &code, "Mia Mail", "mia's very own password")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    mia.get(CREDENTIALS)
        .await
        .assert_contains("Mia Mail")
        .assert_contains("Admin · API Credentials: Can Edit");

    // Sending again emails a new link.
    let id = app
        .sql
        .scalar_i64(
            "SELECT id FROM invitations WHERE email = 'mia@acme.test'",
            &[],
        )
        .await;
    owner.get(MEMBERS).await;
    owner
        .post(&format!("/settings/members/invitations/{id}/resend"), &[])
        .await
        .assert_status(StatusCode::NOT_FOUND);
}
